"""HTTP entry points: parse and validate, call a service, shape the answer."""
