"""Use cases: one function each, orchestrating the domain and storage through ports."""
