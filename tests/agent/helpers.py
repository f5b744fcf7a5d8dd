"""What agent tests compare streams with."""

from __future__ import annotations

import re


class GeneralizedTimeText:
    """Equal to any ``YYYYMMDDHHMMSSZ`` string: a watermark's value, whose exact second
    depends on when the test ran."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and re.fullmatch(r"[0-9]{14}Z", other) is not None

    def __repr__(self) -> str:
        return "<YYYYMMDDHHMMSSZ>"


# The watermark of a read of a slapd directory (every entry has a modifyTimestamp).
WATERMARK = {"kind": "modify_timestamp", "value": GeneralizedTimeText()}
