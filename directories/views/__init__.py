"""Directory pages, one module per family: directories, Sync Settings, identity providers,
users and groups."""
