"""Periodic health probes of every activated connector."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from celery import shared_task
from django.db import connection

from connectors.choices import ActivationState
from connectors.client import AgentError
from connectors.models import Connector
from connectors.services import probe

log = logging.getLogger(__name__)


def _probe_one(connector: Connector) -> str:
    try:
        probe(connector)
    except AgentError:
        pass
    finally:
        connection.close()
    return connector.health


@shared_task(ignore_result=True, soft_time_limit=25)
def probe_connectors() -> dict[str, str]:
    """Set health (ok/unreachable/unauthorized/outdated) and last seen of activated connectors."""
    connectors = list(Connector.objects.filter(activation_state=ActivationState.ACTIVE))
    if not connectors:
        return {}
    # Probes run side by side so one frozen agent does not delay the others' health.
    with ThreadPoolExecutor(max_workers=min(8, len(connectors))) as pool:
        results = list(pool.map(_probe_one, connectors))
    return {c.name: h for c, h in zip(connectors, results, strict=True)}
