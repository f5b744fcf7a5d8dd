"""Time zones of console admins: which IANA names are valid, and how the select lists them."""

from __future__ import annotations

import zoneinfo
from collections import defaultdict
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError

# The IANA areas a person picks from; the rest of the database (e.g. "US/Eastern",
# "EST5EDT") are older aliases, still valid when already stored or set as the server's zone.
_AREAS = (
    "Africa",
    "America",
    "Antarctica",
    "Arctic",
    "Asia",
    "Atlantic",
    "Australia",
    "Europe",
    "Indian",
    "Pacific",
)


@cache
def available_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def server_time_zone() -> str:
    """The server's zone (settings.TIME_ZONE): an admin's default, and the schedules' zone."""
    return settings.TIME_ZONE


def validate_time_zone(value: str) -> None:
    if value not in available_zones():
        raise ValidationError(
            "%(value)s is not a time zone name (e.g. Europe/Paris or America/New_York).",
            code="invalid_time_zone",
            params={"value": value},
        )


def zone_choices(*keep: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """Zones grouped by area and sorted, for a <select> with <optgroup>s.

    Any name in `keep` (the stored value, the server's zone) is offered too, under "Other".
    """
    groups: dict[str, list[str]] = defaultdict(list)
    for name in available_zones():
        area, _, _ = name.partition("/")
        if area in _AREAS and "/" in name:
            groups[area].append(name)
    listed = {name for names in groups.values() for name in names} | {"UTC"}
    others = sorted({name for name in keep if name and name not in listed})
    choices: list[tuple[str, list[tuple[str, str]]]] = [("UTC", [("UTC", "UTC")])]
    choices += [(area, [(n, n) for n in sorted(groups[area])]) for area in _AREAS if groups[area]]
    if others:
        choices.append(("Other", [(n, n) for n in others]))
    return choices
