"""The sync engine: failover over a directory's connectors, diff, and one-transaction apply."""
