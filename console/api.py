"""What every REST endpoint shares: pagination bounds and the shape of an id in a path."""

from __future__ import annotations

import csv
import io

from rest_framework.exceptions import ParseError
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


class CSVRenderer(BaseRenderer):
    """Lets an export answer `Accept: text/csv`. The export itself streams its own response;
    what reaches this renderer is an error, written as a code,detail CSV."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["code", "detail"])
        if isinstance(data, dict):
            writer.writerow([data.get("code", ""), data.get("detail", "")])
        return out.getvalue().encode()
