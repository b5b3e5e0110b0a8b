"""Pure domain rules: standard library only, no AWS, no Chalice."""
