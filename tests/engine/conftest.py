"""In-process tests of the sync engine's parts: fast enough to run per mutant.

The engine's input is the agent protocol's record stream; these tests feed it records
(as an agent would send them) and look at what the plan, the writer, the failover loop
and the leases do with them.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from directories.models import Directory
from directories.sync.fetch import Received, _consume, settle
from directories.sync.plan import Stored
from directories.sync.stage import UserStage

PEOPLE = "ou=people,dc=example,dc=com"
GROUPS = "ou=groups,dc=example,dc=com"


class FakeStream:
    def __init__(self, records: Iterable[dict]) -> None:
        self._records = list(records)

    def records(self):
        yield from self._records


class FakeBeat:
    def __init__(self) -> None:
        self.entries_received = 0
        self.lost = False


class FakeConnector:
    name = "connector-1"


def user(ext: str | None, name: str, dn: str | None = None, **fields) -> dict:
    """A user record; the DN defaults to uid=<name> under ou=people."""
    return {
        "type": "user",
        "id": ext,
        "dn": dn or f"uid={name},{PEOPLE}",
        "username": name,
        **fields,
    }


def group(ext: str | None, name: str, members: list[str], dn: str | None = None) -> dict:
    return {
        "type": "group",
        "id": ext,
        "dn": dn or f"cn={name},{GROUPS}",
        "name": name,
        "members": members,
    }


def stream(records: list[dict], users: int | None = None, groups: int | None = None) -> FakeStream:
    """begin, the records, and an end record with the true counts unless told otherwise."""
    n_users = sum(r.get("type") == "user" for r in records) if users is None else users
    n_groups = sum(r.get("type") == "group" for r in records) if groups is None else groups
    return FakeStream(
        [{"type": "begin"}, *records, {"type": "end", "users": n_users, "groups": n_groups}]
    )


def consume(records: list[dict], username_attribute: str = "uid") -> Received:
    return _consume(stream(records), FakeConnector(), FakeBeat(), username_attribute)


def read(directory: Directory, records: list[dict]) -> Received:
    """A complete read of `directory`: consumed and settled as fetch() leaves it, the users
    it may write staged (the stored ones are known from the start; the stage lives until
    the test's transaction ends)."""
    stored = Stored.load(directory.pk).users
    received = _consume(
        stream(records),
        FakeConnector(),
        FakeBeat(),
        "uid",
        stored_users=lambda: stored,
        stage=UserStage(),
    )
    settle(received, directory)
    return received


@pytest.fixture
def ldap_directory(directory) -> Directory:
    """corp.example.com with users under ou=people and groups under ou=groups."""
    directory.user_dns = [PEOPLE]
    directory.group_dns = [GROUPS]
    directory.save()
    return directory


@pytest.fixture
def stored_given(monkeypatch) -> list[bool]:
    """For each user record a read takes, in order, whether the read had been given the
    stored users by then (it then keeps less of an unchanged one)."""
    from directories.sync import fetch

    given: list[bool] = []
    take = fetch._take_user

    def watching(received, record, attribute, stored=None):
        given.append(stored is not None)
        take(received, record, attribute, stored)

    monkeypatch.setattr(fetch, "_take_user", watching)
    return given
