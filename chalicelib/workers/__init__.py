"""Queue entry points: parse each message, call a service, report what failed."""
