"""Who may read /metrics: a bearer token (METRICS_TOKEN), client networks
(METRICS_ALLOWED_NETWORKS), or, with neither set, only this machine (loopback)."""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest

from console.clients import client_address

LOOPBACK = ("127.0.0.0/8", "::1/128")


@dataclass(frozen=True)
class Refusal:
    status: int  # 401: no or wrong credentials; 403: not from an allowed network
    detail: str


@lru_cache(maxsize=8)
def _networks(cidrs: tuple[str, ...]) -> tuple[ipaddress._BaseNetwork, ...]:
    return tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)


def _from(address: str, cidrs: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:10.0.0.5 on a dual-stack socket is 10.0.0.5
    return any(ip in network for network in _networks(cidrs))


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, credentials = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return None
    return credentials.strip()


def refusal(request: HttpRequest) -> Refusal | None:
    """Why this request may not read the metrics, or None when it may.

    Each safeguard that is configured must pass: with both a token and networks set, a
    scrape needs the token and must come from one of the networks.
    """
    token: str = settings.METRICS_TOKEN
    networks = tuple(settings.METRICS_ALLOWED_NETWORKS)
    if token:
        sent = _bearer(request)
        if sent is None:
            return Refusal(401, "Metrics need an 'Authorization: Bearer <token>' header.")
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return Refusal(401, "The metrics token is not valid.")
    if networks or not token:
        allowed = networks or LOOPBACK
        address = client_address(request)
        if not _from(address, allowed):
            where = "the allowed networks" if networks else "this machine (loopback)"
            return Refusal(403, f"Metrics are served only to {where}; {address} is not.")
    return None
