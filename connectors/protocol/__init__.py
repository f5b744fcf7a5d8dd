"""What the connector agent and the service share: DN matching and the record rules.

Nothing here imports Django; the agent ships with this package and nothing else of
the service.
"""

from __future__ import annotations
