"""Connector version numbers compared part by part, never as strings."""

from __future__ import annotations

import re

_VERSION = re.compile(r"^\d+(\.\d+)*$")


def parse_version(value: str) -> tuple[int, ...]:
    """`"19.03.0.0"` -> `(19, 3, 0, 0)`; raises ValueError on anything else."""
    value = (value or "").strip()
    if not _VERSION.match(value):
        raise ValueError(f"'{value}' is not a version number like 19.03.0.0")
    parts = [int(p) for p in value.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def is_at_least(value: str, minimum: str) -> bool:
    try:
        return parse_version(value) >= parse_version(minimum)
    except ValueError:
        return False
