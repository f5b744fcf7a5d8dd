"""A bounded schemathesis run over the whole REST API, in process, as a Super Admin: valid and
invalid requests (positive and negative data), every check schemathesis has (no 5xx, answers
match the schema in status, content type, headers and body, invalid data is refused, valid data
is accepted, unsupported methods answer 405, auth is not ignored), then a stateful run that
follows the schema's links (create a directory, read it, list its runs, delete it, ...)."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.throttling import AnonRateThrottle
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from apitokens.services import issue_token
from console.wsgi import application

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

load_all_checks()
ALL_CHECKS = CHECKS.get_all()
# Bounded so the whole run stays under a minute on two shared cores.
EXAMPLES_PER_MODE = 15
STATEFUL_SCENARIOS = 40
# positive_data_acceptance expects a schema-valid request to succeed. A write's body holds
# values whose rules JSON Schema cannot state (a DN's syntax, the id of a row that must exist,
# a unique name, a password or activation code that must be right), so a schema-valid write
# may still be refused with 400, and with 412 when its If-Match is not the list's current
# ETag (no schema can know it); a read must not be.
WRITES_MAY_BE_REFUSED = {
    "include-method": ["POST", "PUT", "PATCH"],
    "checks": {
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "400", "401", "403", "404", "409", "412", "429"]
        }
    },
}


@pytest.fixture
def api_schema(super_admin, directory):
    # As Django's test client does: requests must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    _, key = issue_token(super_admin, name="fuzz")
    # The token as the schema's own scheme, so checks that try bad credentials know the good.
    config = SchemathesisConfig.from_dict(
        {
            "auth": {"openapi": {"tokenAuth": {"api_key": f"Token {key}"}}},
            "operations": [WRITES_MAY_BE_REFUSED],
        }
    )
    headers = {"Authorization": f"Token {key}"}
    yield schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", application, headers=headers, config=config
    )
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    # The throttles' counts live in the shared cache: leave none for the next tests.
    for scope in ("api_token", "connector_activation"):
        for ident in ("127.0.0.1", "localhost"):
            cache.delete(AnonRateThrottle.cache_format % {"scope": scope, "ident": ident})


def test_no_request_gets_a_server_error_or_an_answer_off_the_schema(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 30  # the whole API, not an empty schema
    assert {"/api/v1/tokens/", "/api/v1/users/", "/api/v1/groups/"} <= {
        op.path for op in operations
    }
    failures = []
    for operation in operations:
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=strategy)
        @settings(
            max_examples=2 * EXAMPLES_PER_MODE,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(checks=ALL_CHECKS)

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # collect every failure, report all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:3000])
    assert not failures, "\n\n".join(failures)


def test_sequences_that_follow_the_links_keep_to_the_schema(api_schema):
    """Stateful: schemathesis infers links between operations (a created directory's id
    feeds its reads, edits, runs and delete) and runs short sequences along them."""
    links = [name for name in dir(api_schema.as_state_machine()) if "_201_" in name]
    assert any(name.startswith("POST_api_v1_directories___201_") for name in links), links

    class FromTheSameStart(api_schema.as_state_machine()):  # type: ignore[misc]
        # Every scenario starts from the fixtures' rows: what one deletes, the next still has,
        # so a scenario replays the same way (hypothesis needs that to shrink a failure).
        def setup(self):
            self.savepoint = transaction.savepoint()

        def teardown(self):
            transaction.savepoint_rollback(self.savepoint)

    FromTheSameStart.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
