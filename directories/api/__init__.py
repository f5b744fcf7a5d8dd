"""REST API of directories, identity providers, Sync Connectors lists and synced entries."""
