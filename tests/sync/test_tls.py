"""Directories reached over LDAPS and StartTLS with their own CA certificate."""

from __future__ import annotations

import pytest

from directories.services import save_sync_connectors
from synclog.choices import RunStatus

from .conftest import assert_db_equals_ldap, make_directory, sync

pytestmark = [pytest.mark.ldap, pytest.mark.slow]


@pytest.mark.parametrize("security", ["ssl", "starttls"])
def test_sync_over_tls_trusts_the_directory_ca(worker, slapd_factory, agents, security):
    server = slapd_factory(users=40, groups=3, members_per_group=8, tls=True)
    port = server.tls_port if security == "ssl" else server.port
    directory = make_directory(
        f"{security}.example.com",
        server,
        agents[0].connector,
        security=security,
        port_override=port,
        ca_cert=server.ca_cert_pem,
    )
    save_sync_connectors(directory, [agents[0].connector.pk])

    run = sync(directory)

    assert run.status == RunStatus.COMPLETED, run.message
    assert_db_equals_ldap(directory, server)


def test_untrusted_certificate_is_a_directory_error(worker, slapd_factory, agents):
    server = slapd_factory(users=5, groups=1, members_per_group=2, tls=True)
    directory = make_directory(
        "untrusted.example.com",
        server,
        agents[0].connector,
        security="ssl",
        port_override=server.tls_port,
    )
    save_sync_connectors(directory, [agents[0].connector.pk])

    run = sync(directory)

    assert run.status == RunStatus.FAILED
    attempt = run.attempts.get()
    assert attempt.outcome == "directory_error", attempt.message
    assert "certificate" in attempt.message.lower() or "tls" in attempt.message.lower()
