"""The standard AD data set the tests sync: staff, contractors, nested and large groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.support.samba_ad.dc import SambaDC
from tests.support.samba_ad.entries import (
    ADMIN_PASSWORD,
    BASE_DN,
    BUILTIN_USER_SAMS,
    DOMAIN,
    HOST,
    LDAPS_PORT,
    PORT,
    REALM,
    Entry,
    connect,
    group_entry,
    ou_entry,
    user_entry,
)


@dataclass(frozen=True)
class ADUser:
    dn: str
    sam: str
    given_name: str | None
    sn: str | None
    display_name: str | None
    mail: str | None
    upn: str | None
    disabled: bool = False

    def entry(self) -> Entry:
        return user_entry(
            self.dn,
            sam=self.sam,
            given_name=self.given_name,
            sn=self.sn,
            display_name=self.display_name,
            mail=self.mail,
            upn=self.upn,
            disabled=self.disabled,
        )


@dataclass(frozen=True)
class ADGroup:
    dn: str
    name: str
    member_dns: tuple[str, ...]

    def entry(self) -> Entry:
        return group_entry(self.dn, sam=self.name, members=self.member_dns)


@dataclass(frozen=True)
class ADDataSet:
    """What the standard data set holds, for tests to compare against."""

    host: str
    port: int
    uri: str
    ldaps_uri: str
    realm: str
    domain: str
    base_dn: str
    bind_dn: str
    password: str
    users_ou_dn: str
    groups_ou_dn: str
    users: tuple[ADUser, ...]
    groups: tuple[ADGroup, ...]
    engineering: ADGroup
    backend: ADGroup
    all_staff: ADGroup
    empty: ADGroup
    non_ascii_users: tuple[ADUser, ...]
    builtin_user_sams: tuple[str, ...] = BUILTIN_USER_SAMS
    # The serving DC, once started (stop()/start() it to simulate an outage).
    dc: SambaDC | None = field(default=None, compare=False, repr=False)

    @property
    def user_count(self) -> int:
        """Users under users_ou_dn."""
        return len(self.users)

    @property
    def group_count(self) -> int:
        """Groups under groups_ou_dn."""
        return len(self.groups)

    @property
    def disabled_users(self) -> tuple[ADUser, ...]:
        return tuple(u for u in self.users if u.disabled)

    @property
    def users_by_sam(self) -> dict[str, ADUser]:
        return {u.sam: u for u in self.users}

    @property
    def users_by_dn(self) -> dict[str, ADUser]:
        return {u.dn: u for u in self.users}

    def entries(self) -> list[Entry]:
        """Entries in creation order (containers, users, then groups inner-first)."""
        out = [ou_entry(self.users_ou_dn), ou_entry(self.groups_ou_dn)]
        out += [u.entry() for u in self.users]
        out += [g.entry() for g in self.groups]
        return out

    def connect(self) -> Any:
        return connect(self.uri, self.bind_dn, self.password)


BULK_USER_COUNT = 3000


def standard_dataset(
    base_dn: str = BASE_DN,
    *,
    realm: str = REALM,
    domain: str = DOMAIN,
    password: str = ADMIN_PASSWORD,
    host: str = HOST,
    port: int = PORT,
    bulk_users: int = BULK_USER_COUNT,
) -> ADDataSet:
    """3,000 bulk users in AllStaff plus ten named ones in a small nested-group tree."""
    users_ou = f"OU=Staff,{base_dn}"
    groups_ou = f"OU=Groups,{base_dn}"
    email_domain = realm.lower()

    def named(
        cn: str,
        sam: str,
        given: str | None,
        sn: str | None,
        *,
        disabled: bool = False,
        mail: bool = True,
    ) -> ADUser:
        address = f"{sam}@{email_domain}" if mail else None
        return ADUser(
            dn=f"CN={cn},{users_ou}",
            sam=sam,
            given_name=given,
            sn=sn,
            display_name=cn,
            mail=address,
            upn=address,
            disabled=disabled,
        )

    zoe = named("Zoë Ångström", "zoe.angstrom", "Zoë", "Ångström")
    jurgen = named("Jürgen Müller", "jurgen.muller", "Jürgen", "Müller")
    lilei = named("李雷", "li.lei", "雷", "李")
    alice = named("Alice Archer", "alice.archer", "Alice", "Archer")
    bob = named("Bob Baker", "bob.baker", "Bob", "Baker")
    carol = named("Carol Cooper", "carol.cooper", "Carol", "Cooper")
    dave = named("Dave Dunn", "dave.dunn", "Dave", "Dunn")
    erin = named("Erin Ellis", "erin.ellis", "Erin", "Ellis", disabled=True)
    frank = named("Frank Foster", "frank.foster", "Frank", "Foster", disabled=True)
    # No mail/UPN and no given name: optional attributes really are optional.
    grace = named("Grace", "grace", None, "Grace", mail=False)
    named_users = [zoe, jurgen, lilei, alice, bob, carol, dave, erin, frank, grace]

    bulk = []
    for i in range(1, bulk_users + 1):
        sam = f"user{i:04d}"
        bulk.append(
            ADUser(
                dn=f"CN=Test User {i:04d},{users_ou}",
                sam=sam,
                given_name="Test",
                sn=f"User {i:04d}",
                display_name=f"Test User {i:04d}",
                mail=f"{sam}@{email_domain}",
                upn=f"{sam}@{email_domain}",
                # A few disabled accounts inside the big group as well.
                disabled=i % 1000 == 500,
            )
        )

    backend = ADGroup(f"CN=Backend,{groups_ou}", "Backend", (alice.dn, bob.dn))
    engineering = ADGroup(
        f"CN=Engineering,{groups_ou}", "Engineering", (carol.dn, dave.dn, zoe.dn, backend.dn)
    )
    all_staff = ADGroup(f"CN=AllStaff,{groups_ou}", "AllStaff", tuple(u.dn for u in bulk))
    empty = ADGroup(f"CN=Empty,{groups_ou}", "Empty", ())

    return ADDataSet(
        host=host,
        port=port,
        uri=f"ldap://{host}:{port}",
        ldaps_uri=f"ldaps://{host}:{LDAPS_PORT}",
        realm=realm,
        domain=domain,
        base_dn=base_dn,
        bind_dn=f"CN=Administrator,CN=Users,{base_dn}",
        password=password,
        users_ou_dn=users_ou,
        groups_ou_dn=groups_ou,
        users=tuple(named_users + bulk),
        groups=(backend, engineering, all_staff, empty),
        engineering=engineering,
        backend=backend,
        all_staff=all_staff,
        empty=empty,
        non_ascii_users=(zoe, jurgen, lilei),
    )
