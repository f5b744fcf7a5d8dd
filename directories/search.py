"""Accent- and case-insensitive search of synced users and groups: the one fold.

Each user and group stores `search_text`, the fold of the fields a search looks at, written
with the row (the sync writer, the model's save and bulk_create); a search folds the typed
text the same way and looks for it inside `search_text` with a plain LIKE, which a trigram
index serves on PostgreSQL and which works unchanged on SQLite.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

# Letters NFKD leaves whole but an admin typing on a plain keyboard writes without their
# stroke. The Turkish dotless ı folds to i, so "kilic" finds "Kılıç" (and "İ" folds to "i"
# through NFKD): the console serves every language, so no Turkish-only casing rule applies.
_LETTERS = str.maketrans(
    {"ı": "i", "ø": "o", "đ": "d", "ð": "d", "ł": "l", "ħ": "h", "ŧ": "t", "æ": "ae", "œ": "oe"}
)

# Between the folded fields, so a search never matches across two of them. A control
# character: the search refuses typed text that holds one.
SEPARATOR = "\n"


def fold(text: str) -> str:
    """`text` without case, accents or compatibility forms: "Zoë" -> "zoe", "Straße" ->
    "strasse", "ﬁ" -> "fi", "JOSÉ" -> "jose".

    NFKD splits letters from their marks and compatibility characters into plain ones;
    casefolding follows it because a compatibility form can be upper case ("ℌ" -> "H")
    and casefolding can bring a mark back ("İ" -> "i" + dot above), hence the second NFKD
    before the marks are dropped. ASCII text, most of any directory, only loses its case.
    """
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text).casefold()
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch)).translate(_LETTERS)


def user_text(username: str, first_name: str, last_name: str, email: str, display_name: str) -> str:
    """The folded search text of a user; "first last" is one field, so both names match.

    The fields are folded together: the separator is a character the fold keeps and no mark
    combines across.
    """
    name = f"{first_name} {last_name}".strip()
    return fold(SEPARATOR.join(part for part in (username, display_name, name, email) if part))


def user_text_of_values(values: Sequence) -> str:
    """`user_text` of a user as the sync engine holds it (values in `fetch.USER_COLUMNS`
    order: dn, username, first_name, last_name, email, display_name, upn, disabled)."""
    _dn, username, first_name, last_name, email, display_name = values[:6]
    return user_text(username, first_name, last_name, email, display_name)


def group_text(name: str) -> str:
    return fold(name)


def query(text: str) -> str | None:
    """The folded form of what was typed; None when nothing can match (a control
    character, which no stored name holds and which would reach across fields)."""
    text = text.strip()
    if not text.isprintable():
        return None
    return fold(text)
