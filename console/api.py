"""What every REST endpoint shares: pagination bounds and the shape of an id in a path."""

from __future__ import annotations

from django.http import Http404
from rest_framework.exceptions import NotAcceptable, ParseError, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.parsers import JSONParser as DRFJSONParser
from rest_framework.renderers import BaseRenderer
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

    def get_limit(self, request) -> int | None:
        if self.limit_query_param in request.query_params:
            limit = _whole_number(request, self.limit_query_param, minimum=1)
            return min(limit, self.max_limit)
        return self.default_limit

    def get_offset(self, request) -> int:
        if self.offset_query_param in request.query_params:
            return min(_whole_number(request, self.offset_query_param), self.max_offset)
        return 0

    def get_schema_operation_parameters(self, view) -> list[dict]:
        # The lower bounds get_limit and get_offset enforce; a larger limit (above max_limit)
        # or offset is cut down, not refused.
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            minimum = 1 if parameter["name"] == self.limit_query_param else 0
            parameter["schema"]["minimum"] = minimum
        return parameters


def _whole_number(request, name: str, minimum: int = 0) -> int:
    """A paging parameter: one whole number from `minimum` on (any size: the caller cuts it
    down to its bound); anything else is a 400."""
    values = request.query_params.getlist(name)
    text = values[0].strip() if len(values) == 1 else ""
    if not (text.isascii() and text.isdigit()):
        raise ValidationError({name: [f"Give {name} once, as a whole number from {minimum}."]})
    # More digits than any bound: no need to read them all (int() refuses very long text).
    value = int(text) if len(text) <= 30 else 10**30
    if value < minimum:
        raise ValidationError({name: [f"Give {name} once, as a whole number from {minimum}."]})
    return value


class ContentNegotiation(DefaultContentNegotiation):
    """An unknown ?format= is a 406 like an unknown Accept, not DRF's 404."""

    def filter_renderers(self, renderers, format):
        try:
            return super().filter_renderers(renderers, format)
        except Http404:
            raise NotAcceptable(f"No format {format!r}; use one of the Accept types.") from None


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


class CSVRenderer(BaseRenderer):
    """Lets an export answer `Accept: text/csv` (or ?format=csv). The export streams its own
    response and errors are JSON (console.api_errors), so nothing is rendered here."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        return b"" if data is None else str(data).encode()
