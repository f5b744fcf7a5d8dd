"""A read stages the users it may write in a temporary table of the run's own database
session; a run leaves none behind, whether it completes, reviews or fails."""

from __future__ import annotations

import pytest
from django.db import connection

from directories.models import DirectoryUser
from directories.sync import runner
from synclog.choices import RunStatus, Trigger
from synclog.models import SyncRun

from .conftest import assert_db_equals_ldap, store_state

pytestmark = [pytest.mark.ldap]


def own_temporary_tables() -> int:
    """Temporary tables this session holds, asked of the database's own catalog."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT count(*) FROM pg_class "
                "WHERE relnamespace = pg_my_temp_schema() AND relkind = 'r'"
            )
        else:
            cursor.execute("SELECT count(*) FROM sqlite_temp_master WHERE type = 'table'")
        return cursor.fetchone()[0]


def run_here(directory, trigger: str = Trigger.MANUAL) -> SyncRun:
    """A sync run in this process, on this test's database session."""
    run = SyncRun.objects.create(directory=directory, trigger=trigger)
    runner.run_sync(run.pk)
    run.refresh_from_db()
    return run


def test_completed_syncs_and_a_review_leave_no_staging_table(directory_with_list, ldap_server):
    first = run_here(directory_with_list)

    assert first.status == RunStatus.COMPLETED, first.message
    assert first.users_added == 120
    assert own_temporary_tables() == 0
    assert_db_equals_ldap(directory_with_list, ldap_server)

    ldap_server.modify_user("user3", mail="user3@staged.example.com")
    ldap_server.delete_user("user4")
    ldap_server.add_user("newcomer", mail="newcomer@example.com")
    before = store_state(directory_with_list)
    review = run_here(directory_with_list, Trigger.REVIEW)

    assert review.status == RunStatus.COMPLETED, review.message
    assert (review.users_added, review.users_updated, review.users_deleted) == (1, 1, 1)
    assert store_state(directory_with_list) == before
    assert own_temporary_tables() == 0

    resync = run_here(directory_with_list)

    assert resync.status == RunStatus.COMPLETED, resync.message
    assert (resync.users_added, resync.users_updated, resync.users_deleted) == (1, 1, 1)
    assert own_temporary_tables() == 0
    assert_db_equals_ldap(directory_with_list, ldap_server)


def test_a_run_failing_after_its_read_leaves_no_staging_table_and_writes_nothing(
    directory_with_list, monkeypatch
):
    def broken_plan(*args, **kwargs):
        raise RuntimeError("the plan broke")

    # The read has staged every user by then: the plan is made once the stream has ended.
    monkeypatch.setattr(runner, "make_plan", broken_plan)
    run = run_here(directory_with_list)

    assert run.status == RunStatus.FAILED
    assert "the plan broke" in run.message
    assert own_temporary_tables() == 0
    assert not DirectoryUser.objects.filter(directory=directory_with_list).exists()
