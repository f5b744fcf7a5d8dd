"""Shared fixtures: admins of each role, connectors, and a directory with its WorkspaceIDP."""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import Phase
from hypothesis import settings as hypothesis_settings

from connectors.choices import ActivationState, HealthState
from connectors.models import Connector
from console.models import Role, User
from directories.choices import DirectoryType
from directories.services import create_directory

PASSWORD = "correct-horse-battery"

# `make mutation` runs the fast tests once per mutant: the same examples every time, and
# no shrinking of a failing example (a mutant is caught by the first failure; shrinking
# one found by a property test that syncs twice per step took minutes per mutant).
hypothesis_settings.register_profile(
    "mutation",
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
MUTATION = os.environ.get("HYPOTHESIS_PROFILE") == "mutation"

pytest_plugins = ["tests.support.fixtures_ldap", "tests.support.fixtures_ad"]
if MUTATION:
    # The order of a mutant's tests, and a stop for a hung one.
    pytest_plugins.append("tests.support.mutation_order")


def pytest_configure(config: pytest.Config) -> None:
    if MUTATION:
        # Each mutant's tests run in a process forked with everything imported: the
        # collector need not walk those objects again on every collection.
        gc.freeze()


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix) -> None:
    """Each test process its own SQLite test database, even a process forked from another
    after settings were read (`make mutation` runs mutants in forked processes)."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3") and database.get("TEST", {}).get("NAME"):
        folder, _, _ = database["TEST"]["NAME"].rpartition("/")
        database["TEST"]["NAME"] = f"{folder}/test-console-{os.getpid()}.sqlite3"


if MUTATION:

    @pytest.fixture(scope="session")
    def django_db_setup(
        django_test_environment,
        django_db_blocker,
        django_db_use_migrations,
        django_db_modify_db_settings,
    ):
        """Under `make mutation`, each mutant's tests start from a copy of an SQLite test
        database built once, not from a new one: building one (Django's migrate, even
        without migrations) took about 0.4 s of each mutant's run. Other databases, and
        the first run, build it as pytest-django does."""
        from django.conf import settings
        from django.db import connection
        from django.test.utils import setup_databases, teardown_databases
        from pytest_django.fixtures import _disable_migrations

        if not django_db_use_migrations:
            _disable_migrations()
        database = settings.DATABASES["default"]
        if not database["ENGINE"].endswith("sqlite3") or not database.get("TEST", {}).get("NAME"):
            with django_db_blocker.unblock():
                created = setup_databases(verbosity=0, interactive=False, aliases={"default"})
            yield
            with django_db_blocker.unblock():
                teardown_databases(created, verbosity=0)
            return
        name = database["TEST"]["NAME"]
        template = Path(name).with_name(f"test-console-template-{_schema_key()}.sqlite3")
        with django_db_blocker.unblock():
            if template.exists():
                original = database["NAME"]
                connection.close()
                shutil.copyfile(template, name)
                database["NAME"] = connection.settings_dict["NAME"] = name
                created = [(connection, original, True)]
            else:
                created = setup_databases(verbosity=0, interactive=False, aliases={"default"})
                connection.close()
                partial = template.with_suffix(f".{os.getpid()}.partial")
                with closing(sqlite3.connect(name)) as source:
                    with closing(sqlite3.connect(partial)) as copy:
                        source.backup(copy)
                os.replace(partial, template)
        yield
        with django_db_blocker.unblock():
            teardown_databases(created, verbosity=0)


def _schema_key() -> str:
    """Names the template after every installed app's models, so a changed model is
    never tested against an old template."""
    from django.apps import apps

    digest = hashlib.sha256()
    for config in apps.get_app_configs():
        if config.models_module is not None and config.models_module.__file__:
            digest.update(Path(config.models_module.__file__).read_bytes())
    return digest.hexdigest()[:16]


def make_user(username: str, role: str) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, role=role)


@pytest.fixture
def super_admin(db) -> User:
    return make_user("super", Role.SUPER_ADMIN)


@pytest.fixture
def directory_admin(db) -> User:
    return make_user("diradmin", Role.DIRECTORY_ADMIN)


@pytest.fixture
def readonly_admin(db) -> User:
    return make_user("reader", Role.READ_ONLY_ADMIN)


@pytest.fixture
def admin_client(client, super_admin):
    client.force_login(super_admin)
    return client


@pytest.fixture
def readonly_client(client, readonly_admin):
    client.force_login(readonly_admin)
    return client


def make_connector(name: str, version: str = "19.03.0.0", url: str = "") -> Connector:
    return Connector.objects.create(
        name=name,
        host=f"{name}.example.com",
        url=url or f"http://127.0.0.1:9/{name}",
        version=version,
        activation_state=ActivationState.ACTIVE,
        health=HealthState.OK,
        secret=f"secret-of-{name}",
    )


@pytest.fixture
def connectors(db) -> list[Connector]:
    return [make_connector(f"connector-{n}") for n in (1, 2, 3)]


def make_directory(name: str, connector: Connector):
    """An LDAP directory through the service, with `connector` as its sync connector."""
    return create_directory(
        name=name,
        type=DirectoryType.LDAP,
        sync_connector=connector,
        host="127.0.0.1",
        port=389,
        base_dn="dc=example,dc=com",
        bind_dn="cn=admin,dc=example,dc=com",
        bind_password="s3cret-bind",
        user_dns=["ou=people,dc=example,dc=com"],
        group_dns=["ou=groups,dc=example,dc=com"],
    )


@pytest.fixture
def directory(db, connectors):
    return make_directory("corp.example.com", connectors[0])
