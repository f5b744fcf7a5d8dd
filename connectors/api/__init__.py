"""REST API of connectors: listing, adding, activation codes and agent activation."""
