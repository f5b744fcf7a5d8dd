"""REST API of sync runs, their attempts and their changes."""
