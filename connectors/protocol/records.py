"""Rules for the values a user or group record carries, shared by the agent and the service."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.protocol import dn as dnlib


def pick_value(entry_dn: str, attribute: str, values: Sequence[str]) -> str:
    """The one value a record keeps of an attribute the entry holds several values of.

    The rule: when the attribute is part of the entry's RDN (``uid=jdoe`` for an
    entry with ``uid: jdoe`` and ``uid: john.doe``), the value the RDN names;
    otherwise the first value in the order the directory returns them (OpenLDAP
    keeps the order values were written in). The value is returned as the
    directory spells it.
    """
    if len(values) == 1:
        return values[0]
    attr = dnlib.attribute_key(attribute)
    try:
        rdns = dnlib.parse(entry_dn)
    except dnlib.InvalidDN:
        return values[0]
    if rdns:
        for kind, named in rdns[0]:
            if kind != attr:
                continue
            wanted = dnlib.value_key(kind, named)
            for value in values:
                if dnlib.value_key(kind, value) == wanted:
                    return value
    return values[0]
