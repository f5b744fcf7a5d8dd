"""Each DN test starts with an empty table of attribute-type spellings, so a test sees the
first reading of every spelling, not one left by an earlier test."""

from __future__ import annotations

import pytest

from connectors.protocol import dn


@pytest.fixture(autouse=True)
def fresh_type_spellings():
    dn._TYPE_SPELLINGS.clear()
    yield
    dn._TYPE_SPELLINGS.clear()
