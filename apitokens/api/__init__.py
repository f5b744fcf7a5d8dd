"""REST API of API tokens."""
