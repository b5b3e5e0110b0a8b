"""Operator tooling (not deployed): the `sscard` CLI, the local stack, seed data, dev tokens."""
