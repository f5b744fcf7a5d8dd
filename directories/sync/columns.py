"""The order of the values a read holds per user; the plan, the stage and the writer rely
on it (the store's columns of the same names)."""

from __future__ import annotations

USER_COLUMNS = (
    "dn",
    "username",
    "first_name",
    "last_name",
    "email",
    "display_name",
    "upn",
    "disabled",
)
