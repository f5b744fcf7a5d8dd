"""Incremental reads: the ``changes_since`` a /sync request may carry and the watermark an
``end`` record hands back for it, shared by the agent and the service.

Django-free. A watermark is what the service sends back unchanged as the next request's
``changes_since``:

- ``ldap``: ``{"kind": "modify_timestamp", "value": "YYYYMMDDHHMMSSZ"}``, a UTC
  GeneralizedTime in whole seconds; the next read lists entries whose modifyTimestamp
  is at or after it.
- ``ldap`` on a server offering content synchronization (RFC 4533, OpenLDAP's
  ``syncprov``): ``{"kind": "sync_cookie", "cookies": {"<base DN>": "<cookie>"}}``, the
  cookie each user and group base's server gave before the read; the next read asks the
  server, per base, for the entries changed and the ids deleted since it.
- ``ad``: ``{"kind": "usn", "usn": N, "invocation_id": "<uuid>"}``: the domain
  controller's highestCommittedUSN and the invocationId of its database; the next read
  lists entries whose uSNChanged is above N, on that same database only.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

MODIFY_TIMESTAMP = "modify_timestamp"
SYNC_COOKIE = "sync_cookie"
# The code of the error record with which an incremental read that can no longer go on
# asks the service to read the directory in full instead.
REFRESH_REQUIRED = "refresh_required"
USN = "usn"
# The kinds of changes_since each directory type reads by.
KINDS = {"ldap": (MODIFY_TIMESTAMP, SYNC_COOKIE), "ad": (USN,)}
FIELDS = {
    MODIFY_TIMESTAMP: ("kind", "value"),
    SYNC_COOKIE: ("kind", "cookies"),
    USN: ("kind", "usn", "invocation_id"),
}
# A sync cookie is opaque printable ASCII (OpenLDAP: ``rid=000,csn=...``); one per
# base DN (user and group DNs together), at most MAX_COOKIES of them.
MAX_COOKIE = 1024
MAX_COOKIES = 400
# USNs are 64-bit signed integers in Active Directory.
MAX_USN = 2**63 - 1

_GENERALIZED_TIME = re.compile(r"[0-9]{14}Z")
# What a server may send: fractions of a second are allowed (and dropped).
_SERVER_TIME = re.compile(r"([0-9]{14})(?:[.,][0-9]+)?Z")
_UUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_FORMAT = "%Y%m%d%H%M%S"


def parse_generalized_time(text: Any) -> datetime:
    """``YYYYMMDDHHMMSSZ`` -> an aware UTC datetime; ValueError for anything else."""
    if not isinstance(text, str) or not _GENERALIZED_TIME.fullmatch(text):
        raise ValueError(f"{text!r} is not a GeneralizedTime of the form YYYYMMDDHHMMSSZ")
    # strptime also checks the ranges (month 13, day 32, hour 24 and second 60 fail).
    return datetime.strptime(text[:14], _FORMAT).replace(tzinfo=UTC)


def parse_server_time(raw: bytes) -> datetime | None:
    """A modifyTimestamp as a server returns it, down to the second; None when it is
    not a UTC GeneralizedTime (an offset, a missing seconds field)."""
    match = _SERVER_TIME.fullmatch(raw.decode("ascii", "replace"))
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), _FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def format_generalized_time(moment: datetime) -> str:
    """An aware datetime as ``YYYYMMDDHHMMSSZ`` (UTC, fractions of a second dropped)."""
    return moment.astimezone(UTC).strftime(_FORMAT) + "Z"


def check_changes_since(value: Any, directory_type: str) -> dict[str, Any] | None:
    """The ``changes_since`` of a /sync request, cleaned; None when there is none.

    Raises ValueError with a message naming the field when it is malformed or of
    another kind than the directory type reads by.
    """
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("changes_since must be a JSON object")
    kind = value.get("kind")
    expected = KINDS.get(directory_type, ())
    if kind not in expected:
        raise ValueError(
            f"changes_since.kind must be {' or '.join(map(repr, expected))} for a directory "
            f"of type {directory_type!r}, not {kind!r}"
        )
    known = FIELDS[kind]
    for key in value:
        if key not in known:
            raise ValueError(
                f"changes_since.{key} is not a field of a {kind} watermark "
                f"(fields: {', '.join(known)})"
            )
    if kind == MODIFY_TIMESTAMP:
        stamp = value.get("value")
        try:
            parse_generalized_time(stamp)
        except ValueError:
            raise ValueError(
                "changes_since.value must be a UTC GeneralizedTime in whole seconds, "
                "YYYYMMDDHHMMSSZ (e.g. 20240131235959Z)"
            ) from None
        return {"kind": kind, "value": stamp}
    if kind == SYNC_COOKIE:
        return {"kind": kind, "cookies": check_cookies(value.get("cookies"))}
    usn = value.get("usn")
    if isinstance(usn, bool) or not isinstance(usn, int) or not 0 <= usn <= MAX_USN:
        raise ValueError(f"changes_since.usn must be an integer between 0 and {MAX_USN}")
    invocation_id = value.get("invocation_id")
    if not isinstance(invocation_id, str) or not _UUID.fullmatch(invocation_id):
        raise ValueError(
            "changes_since.invocation_id must be a UUID string "
            "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
        )
    return {"kind": kind, "usn": usn, "invocation_id": str(uuid.UUID(invocation_id))}


def check_cookies(cookies: Any) -> dict[str, str]:
    """The ``cookies`` of a sync_cookie watermark: base DN -> cookie; ValueError if not."""
    if not isinstance(cookies, dict) or not 0 < len(cookies) <= MAX_COOKIES:
        raise ValueError(
            f"changes_since.cookies must be an object of 1 to {MAX_COOKIES} base DNs, "
            "each with the sync cookie its server gave"
        )
    for base, cookie in cookies.items():
        if not (
            isinstance(cookie, str)
            and 0 < len(cookie) <= MAX_COOKIE
            and cookie.isascii()
            and cookie.isprintable()
            and len(base) <= MAX_COOKIE
        ):
            raise ValueError(
                f"changes_since.cookies[{base[:100]!r}] must be a sync cookie: printable "
                f"ASCII, 1 to {MAX_COOKIE} characters"
            )
    return dict(cookies)
