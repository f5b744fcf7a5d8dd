"""What every REST endpoint shares: pagination bounds and the shape of an id in a path."""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser as DRFJSONParser
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle

from console.clients import client_address

# Ids are positive 64-bit integers; a longer number (or a digit from another script,
# which int() would accept: "１" is 1) is no id at all, so the route answers 404.
ID_PATTERN = "[0-9]{1,18}"
MAX_ID = 2**63 - 1


def as_id(value: object) -> int | None:
    """`value` (a number or its ASCII digits) as a row id, or None when it cannot be one."""
    text = str(value).strip()
    if text.isascii() and text.isdigit() and 0 < int(text) <= MAX_ID:
        return int(text)
    return None


class Pagination(LimitOffsetPagination):
    """limit/offset paging with bounds a database can hold."""

    max_limit = 1000
    max_offset = 10**12

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), self.max_offset)


class ClientThrottle(AnonRateThrottle):
    """A rate per real client address (a forged X-Forwarded-For makes no new client)."""

    def get_ident(self, request) -> str:
        return client_address(request)


class JSONParser(DRFJSONParser):
    """JSON bodies; one nested deeper than the parser can follow is a 400, not a crash."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None


def locked_out(request, username: object) -> Response | None:
    """The 429 every password login of the API answers while django-axes holds the account
    or the address locked, instead of hearing "wrong password" for the right one; None when
    the login may go ahead."""
    credentials = {"username": username if isinstance(username, str) else ""}
    if not AxesProxyHandler.is_locked(getattr(request, "_request", request), credentials):
        return None
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return Response(
        {
            "detail": "Too many wrong passwords for this account or from this address; "
            f"try again in {minutes} minutes or ask a Super Admin to lift the lock."
        },
        status=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(minutes * 60)},
    )
