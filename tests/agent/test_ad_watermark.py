"""How the AD reader decides between a full and an incremental read, with a scripted
connection standing in for the domain controller (the Samba tests read a real one)."""

from __future__ import annotations

import uuid

import ldap
import pytest

from connectors.agent.ldapsource import DirectoryError
from connectors.agent.request import SyncSettings
from connectors.agent.vendors.active_directory import ActiveDirectorySource

NTDS = "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Site,CN=Sites,CN=Configuration,DC=example,DC=test"
INVOCATION = uuid.UUID("6a1bcd2e-3f40-4152-8637-48596a7b8c9d")


class ScriptedDC:
    """Answers base-scope reads from a table of DN -> entry, or raises what it is given."""

    def __init__(self, entries):
        self.entries = entries
        self.asked: list[str] = []

    def search_ext_s(self, dn, scope, filterstr, attrs, timeout):
        self.asked.append(dn)
        answer = self.entries[dn]
        if isinstance(answer, Exception):
            raise answer
        return [(dn or "", answer)]

    def unbind_ext_s(self):
        pass


def source(changes_since=None, entries=None):
    body = {
        "directory": {"type": "ad"},
        "connection": {"host": "dc1.example.test", "base_dn": "DC=example,DC=test"},
    }
    if changes_since is not None:
        body["changes_since"] = changes_since
    reader = ActiveDirectorySource(SyncSettings.from_request(body))
    reader.conn = ScriptedDC(
        entries
        if entries is not None
        else {
            "": {"highestCommittedUSN": [b"4711"], "dsServiceName": [NTDS.encode()]},
            NTDS: {"invocationId": [INVOCATION.bytes_le]},
        }
    )
    return reader


def test_the_watermark_is_read_from_the_root_dse_and_the_ntds_settings_first():
    reader = source()

    reader.prepare()

    assert reader.conn.asked == ["", NTDS]
    assert (reader.read, reader.reason) == ("full", None)
    assert reader.watermark() == {"kind": "usn", "usn": 4711, "invocation_id": str(INVOCATION)}


def test_a_watermark_from_this_database_gives_an_incremental_read_above_its_usn():
    reader = source({"kind": "usn", "usn": 99, "invocation_id": str(INVOCATION).upper()})

    reader.prepare()

    assert (reader.read, reader.reason) == ("incremental", None)
    assert reader.read_filter("objectClass=group") == "(&(objectClass=group)(uSNChanged>=100))"


def test_another_databases_watermark_gives_a_full_read_naming_both_ids():
    other = str(uuid.uuid4())
    reader = source({"kind": "usn", "usn": 99, "invocation_id": other})

    reader.prepare()

    assert reader.read == "full"
    assert "invocationId changed" in reader.reason
    assert other in reader.reason and str(INVOCATION) in reader.reason and NTDS in reader.reason
    assert reader.read_filter("(objectClass=group)") == "(objectClass=group)"


@pytest.mark.parametrize(
    "entries",
    [
        {"": ldap.INSUFFICIENT_ACCESS({"desc": "Insufficient access"})},
        {"": {"highestCommittedUSN": [b"5"], "dsServiceName": [NTDS.encode()]}, NTDS: {}},
        {
            "": {"highestCommittedUSN": [b"5"], "dsServiceName": [NTDS.encode()]},
            NTDS: ldap.INSUFFICIENT_ACCESS({"desc": "Insufficient access"}),
        },
        {"": {}},
    ],
    ids=["root-dse-refused", "no-invocation-id", "ntds-refused", "not-a-dc"],
)
def test_without_usn_and_invocation_id_there_is_no_watermark_and_no_incremental_read(entries):
    full = source(entries=entries)
    asked = source({"kind": "usn", "usn": 1, "invocation_id": str(INVOCATION)}, entries)

    full.prepare()
    asked.prepare()

    assert full.watermark() is None and (full.read, full.reason) == ("full", None)
    assert asked.watermark() is None and asked.read == "full"
    assert "dc1.example.test:389" in asked.reason


def test_a_dc_that_stops_answering_is_an_error_not_a_missing_watermark():
    reader = source(entries={"": ldap.SERVER_DOWN({"desc": "Can't contact LDAP server"})})

    with pytest.raises(DirectoryError) as caught:
        reader.prepare()

    assert caught.value.code == "unreachable"
