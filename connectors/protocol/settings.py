"""A directory's sync settings as the agent and the service both read them.

Django-free: the agent checks a /sync request with these rules, and the service's model
validators call the same functions, so a value the console or the API stores is one the
agent accepts. Each check returns the cleaned value or raises ValueError with a message
an admin can act on.
"""

from __future__ import annotations

import re

from connectors.protocol import dn as dnlib

TYPES = ("ldap", "ad")
SECURITY = ("none", "ssl", "starttls")
MAPPED_FIELDS = ("username", "first_name", "last_name", "email", "display_name")

DEFAULT_FILTERS = {
    "ldap": {
        "users": "(objectClass=inetOrgPerson)",
        "groups": "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))",
    },
    "ad": {
        "users": "(&(objectCategory=person)(objectClass=user))",
        "groups": "(objectClass=group)",
    },
}
DEFAULT_MAPPINGS = {
    "ldap": {
        "username": "uid",
        "first_name": "givenName",
        "last_name": "sn",
        "email": "mail",
        "display_name": "displayName",
    },
    "ad": {
        "username": "sAMAccountName",
        "first_name": "givenName",
        "last_name": "sn",
        "email": "mail",
        "display_name": "displayName",
    },
}

# An attribute description: a name or a numeric OID, no options (";binary", ";range=")
# so a mapping cannot change what the reader itself asks for.
ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)$")

MAX_DN_LENGTH = 500
# Most user or group DNs one directory may name, and the longest bind password.
MAX_SCOPE_DNS = 100
MAX_PASSWORD_LENGTH = 1024
MAX_CA_CERT_LENGTH = 64 * 1024
MAX_FILTER_LENGTH = 1000
# Characters that would forge a log line or cut a request: never part of a setting.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_dn(value: str, *, allow_empty: bool = False) -> str:
    """A DN per RFC 4514 (escapes, quotes, hex values and multi-valued RDNs allowed)."""
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str):
        raise ValueError("A DN is text.")
    if not text:
        if allow_empty:
            return text
        raise ValueError("Enter a DN, e.g. ou=people,dc=example,dc=com.")
    if len(text) > MAX_DN_LENGTH:
        raise ValueError(f"A DN has at most {MAX_DN_LENGTH} characters.")
    if _CONTROL.search(text):
        raise ValueError("A DN cannot hold control characters such as a line break or NUL.")
    try:
        rdns = dnlib.parse(text)
    except dnlib.InvalidDN:
        rdns = []
    if not rdns:
        raise ValueError(
            f"'{text}' is not a valid DN (it is not a distinguished name such as "
            "ou=people,dc=example,dc=com)."
        )
    return text


def check_filter(value: str) -> str:
    """An LDAP search filter in balanced parentheses (RFC 4515); empty means the default."""
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str):
        raise ValueError("A filter is text.")
    if not text:
        return text
    if len(text) > MAX_FILTER_LENGTH:
        raise ValueError(f"A filter has at most {MAX_FILTER_LENGTH} characters.")
    if _CONTROL.search(text):
        raise ValueError("A filter cannot hold control characters such as a line break or NUL.")
    depth = 0
    for position, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        # Closing the outermost parenthesis before the end leaves a second filter outside it.
        if depth < 0 or (depth == 0 and position < len(text) - 1):
            depth = -1
            break
    if not (text.startswith("(") and text.endswith(")")) or depth != 0:
        raise ValueError(
            "Write one LDAP filter in balanced parentheses, e.g. (objectClass=inetOrgPerson)."
        )
    return text


def check_attribute(value: str) -> str:
    """An LDAP attribute name or numeric OID, without options."""
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not ATTRIBUTE.match(text):
        raise ValueError(
            f"'{value}' is not an LDAP attribute name. Enter an LDAP attribute name, "
            "e.g. givenName, without options such as ;binary."
        )
    return text


def check_mapped_attributes(mapping: dict) -> dict[str, str]:
    """Field -> attribute; empty values are left out (the type's default applies)."""
    if not isinstance(mapping, dict):
        raise ValueError("Mapped attributes are an object of field: attribute.")
    unknown = sorted(set(mapping) - set(MAPPED_FIELDS))
    if unknown:
        raise ValueError(
            f"Unknown field(s): {', '.join(map(str, unknown))}. "
            f"Attributes can be mapped for: {', '.join(MAPPED_FIELDS)}."
        )
    cleaned = {}
    for field, attribute in mapping.items():
        if attribute in (None, ""):
            continue
        try:
            cleaned[field] = check_attribute(attribute)
        except ValueError as exc:
            raise ValueError(f"{field}: {exc}") from exc
    return cleaned
