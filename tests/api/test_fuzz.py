"""A bounded schemathesis run over the whole REST API, in process: no request it
generates (valid or not, as a Super Admin) gets a 5xx, and every answer matches the
schema the API publishes."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from rest_framework.throttling import AnonRateThrottle
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from apitokens.services import issue_token
from console.wsgi import application

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def api_schema(super_admin, directory):
    # As Django's test client does: requests must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    _, key = issue_token(super_admin, name="fuzz")
    headers = {"Authorization": f"Token {key}"}
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json", application, headers=headers
    )
    schema.token_headers = headers
    yield schema
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    # The throttles' counts live in the shared cache: leave none for the next tests.
    for scope in ("api_token", "connector_activation"):
        for ident in ("127.0.0.1", "localhost"):
            cache.delete(AnonRateThrottle.cache_format % {"scope": scope, "ident": ident})


def test_no_request_gets_a_server_error_or_an_answer_off_the_schema(api_schema):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 20  # the whole API, not an empty schema
    failures = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=10,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate(
                headers=api_schema.token_headers,
                checks=[not_a_server_error, response_schema_conformance],
            )

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}"[:2000])
    assert not failures, "\n\n".join(failures)
