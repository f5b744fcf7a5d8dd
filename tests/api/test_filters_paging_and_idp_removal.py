"""Gaps of issue 9 the other API tests left open, each checked as a client sees it:

- taking a connector away from an identity provider, through /api/v1/ and through the
  vIDM-compatible /SAAS/ path, and rule S7 refusing to take away a directory's sync
  connector (a clear 400 with a stable code, and nothing changed);
- the Sync Log's `connector`, `created_after` and `created_before` filters;
- walking a run's changes page by page with `limit` / `offset`, and bad paging values;
- `search` of users and groups across directories: case and accents ignored, combined
  with the directory filter, and the same answer as the console's page;
- every path docs/api.md and docs/vidm-compatibility.md name is a route that exists.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone

from apitokens.services import issue_token
from directories.models import DirectoryGroup, DirectoryUser, IdentityProvider
from directories.services import set_identity_provider_connectors
from synclog.models import SyncChange, SyncRun
from tests.conftest import make_directory
from tests.vidm.conftest import JSON, send

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SAAS_IDP = "/SAAS/jersey/manager/api/identityProviders"


def associated(idp: IdentityProvider) -> list[str]:
    return sorted(idp.connectors.values_list("name", flat=True))


def names(connectors: list[dict]) -> list[str]:
    return sorted(c["name"] for c in connectors)


# ---- removing a connector from an identity provider ----------------------------------


@pytest.fixture
def idp(directory, connectors) -> IdentityProvider:
    """corp.example.com's WorkspaceIDP with all three connectors; connector-1 is the
    directory's sync connector, connector-2 is in its Sync Connectors list too."""
    identity_provider = directory.identity_provider
    set_identity_provider_connectors(identity_provider, [c.pk for c in connectors])
    return identity_provider


def test_a_shorter_connectors_list_removes_the_connector_from_the_identity_provider(
    directory_api, directory, connectors, idp
):
    c1, c2, c3 = connectors
    listed = directory_api.put(
        f"/api/v1/directories/{directory.pk}/sync-connectors/",
        {"connectors": [c1.pk, c2.pk]},
        format="json",
    )
    assert listed.status_code == 200, listed.content
    assert listed.json()["not_associated"] == []

    answer = directory_api.put(
        f"/api/v1/identity-providers/{idp.pk}/connectors/",
        {"connectors": [c1.pk, c3.pk]},
        format="json",
    )

    assert answer.status_code == 200, answer.content
    assert names(answer.json()["connectors"]) == ["connector-1", "connector-3"]
    read = directory_api.get(f"/api/v1/identity-providers/{idp.pk}/").json()
    assert names(read["connectors"]) == ["connector-1", "connector-3"]
    assert associated(idp) == ["connector-1", "connector-3"]
    assert not c2.identity_providers.exists()
    assert directory_api.get(f"/api/v1/connectors/{c2.pk}/").json()["identity_providers"] == []
    # Rule S7: connector-2 stays in the Sync Connectors list (it still syncs the directory)
    # and the list now says it no longer authenticates the directory's users.
    sync_list = directory_api.get(f"/api/v1/directories/{directory.pk}/sync-connectors/").json()
    assert [c["name"] for c in sync_list["connectors"]] == ["connector-1", "connector-2"]
    assert sync_list["not_associated"] == ["connector-2"]
    assert sync_list["warning"].startswith(
        "connector-2 is in the Sync Connectors list of corp.example.com but not associated "
        "with WorkspaceIDP__corp.example.com"
    )


@pytest.mark.parametrize("kept", [["connector-3"], []], ids=["another", "none"])
def test_leaving_out_a_directorys_sync_connector_is_a_400_that_changes_nothing(
    directory_api, connectors, idp, kept
):
    by_name = {c.name: c.pk for c in connectors}
    answer = directory_api.put(
        f"/api/v1/identity-providers/{idp.pk}/connectors/",
        {"connectors": [by_name[n] for n in kept]},
        format="json",
    )

    assert answer.status_code == 400, answer.content
    message = (
        "connector-1 syncs a directory of WorkspaceIDP__corp.example.com and cannot be "
        "removed from it."
    )
    assert answer.json() == {
        "code": "invalid",
        "detail": f"connectors: {message}",
        "errors": {"connectors": [message]},
    }
    assert associated(idp) == ["connector-1", "connector-2", "connector-3"]
    read = directory_api.get(f"/api/v1/identity-providers/{idp.pk}/").json()
    assert names(read["connectors"]) == ["connector-1", "connector-2", "connector-3"]


def hzn(user) -> dict:
    _, key = issue_token(user, name="vidm script")
    return {"Authorization": f"HZN {key}"}


def test_saas_identity_provider_put_back_without_a_connector_removes_it(
    client, directory_admin, connectors, idp
):
    """Get-WSAIdentityProvider's object, one connector taken out, PUT back as a script does."""
    auth = hzn(directory_admin)
    item = send(client, "GET", f"{SAAS_IDP}/{idp.pk}", auth).json()
    assert sorted(c["name"] for c in item["connectors"]) == [
        "connector-1",
        "connector-2",
        "connector-3",
    ]
    item["connectors"] = [c for c in item["connectors"] if c["name"] != "connector-2"]

    put = send(
        client, "PUT", f"{SAAS_IDP}/{idp.pk}", {**auth, "Content-Type": JSON}, json.dumps(item)
    )

    assert put.status_code == 200, put.content
    assert [c["instanceId"] for c in put.json()["connectors"]] == [
        str(connectors[0].pk),
        str(connectors[2].pk),
    ]
    again = send(client, "GET", SAAS_IDP, auth).json()["items"]
    assert [sorted(c["name"] for c in i["connectors"]) for i in again] == [
        ["connector-1", "connector-3"]
    ]
    assert associated(idp) == ["connector-1", "connector-3"]


def test_saas_identity_provider_put_without_the_sync_connector_is_refused_and_changes_nothing(
    client, directory_admin, connectors, idp
):
    auth = hzn(directory_admin)
    body = json.dumps({"connectors": [{"instanceId": str(connectors[2].pk)}]})

    refused = send(client, "PUT", f"{SAAS_IDP}/{idp.pk}", {**auth, "Content-Type": JSON}, body)

    assert refused.status_code == 400, refused.content
    assert refused.json() == {
        "errors": [
            {
                "code": "invalid",
                "message": "connectors: connector-1 syncs a directory of "
                "WorkspaceIDP__corp.example.com and cannot be removed from it.",
            }
        ]
    }
    assert associated(idp) == ["connector-1", "connector-2", "connector-3"]
    item = send(client, "GET", f"{SAAS_IDP}/{idp.pk}", auth).json()
    assert sorted(c["name"] for c in item["connectors"]) == [
        "connector-1",
        "connector-2",
        "connector-3",
    ]


# ---- the Sync Log's connector and date filters ------------------------------------


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def runs(directory, connectors) -> dict[str, SyncRun]:
    """Four runs of corp.example.com: by connector-1, connector-2, connector-1 again, and a
    failed one no connector did."""

    def run(created: str, connector=None, status: str = "completed") -> SyncRun:
        return SyncRun.objects.create(
            directory=directory,
            status=status,
            created=at(created),
            connector_used=connector,
            connector_used_name=connector.name if connector else "",
        )

    c1, c2, _ = connectors
    return {
        "c1_early": run("2024-05-01T08:00:00", c1),
        "c2": run("2024-05-01T10:00:00", c2),
        "c1_late": run("2024-05-02T10:00:00", c1),
        "none": run("2024-05-03T00:00:00", status="failed"),
    }


def run_ids(api, **params) -> list[int]:
    answer = api.get("/api/v1/sync-runs/", params)
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["count"] == len(body["results"])
    return [r["id"] for r in body["results"]]


def test_sync_log_connector_filter_returns_exactly_that_connectors_runs(readonly_api, runs):
    assert run_ids(readonly_api, connector="connector-1") == [
        runs["c1_late"].pk,
        runs["c1_early"].pk,
    ]
    assert run_ids(readonly_api, connector="connector-2") == [runs["c2"].pk]
    assert run_ids(readonly_api, connector="connector-3") == []
    assert len(run_ids(readonly_api)) == 4


def test_sync_log_date_filters_from_inclusive_to_exclusive_in_any_offset(readonly_api, runs):
    # created_after: from this moment on; created_before: strictly before it.
    assert run_ids(readonly_api, created_after="2024-05-01T10:00:00Z") == [
        runs["none"].pk,
        runs["c1_late"].pk,
        runs["c2"].pk,
    ]
    assert run_ids(readonly_api, created_before="2024-05-01T10:00:00Z") == [runs["c1_early"].pk]
    assert run_ids(
        readonly_api, created_after="2024-05-01T09:00:00Z", created_before="2024-05-02T10:00:00Z"
    ) == [runs["c2"].pk]
    # 11:30 at +02:00 is 09:30 UTC; a time without an offset is UTC.
    assert run_ids(readonly_api, created_after="2024-05-01T11:30:00+02:00") == [
        runs["none"].pk,
        runs["c1_late"].pk,
        runs["c2"].pk,
    ]
    assert run_ids(readonly_api, created_before="2024-05-01T08:00:01") == [runs["c1_early"].pk]
    # The filters combine with each other.
    assert run_ids(readonly_api, connector="connector-1", created_after="2024-05-01T09:00:00Z") == [
        runs["c1_late"].pk
    ]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"created_after": "yesterday"}, "created_after"),
        ({"created_before": "2024-13-45T00:00:00Z"}, "created_before"),
        ({"created_after": "2024-05-01T25:00:00Z"}, "created_after"),
        ({"created_before": "0001-01-01T00:00:00+05:00"}, "created_before"),
        ({"created_after": ""}, "created_after"),
        ({"directory": "corp"}, "directory"),
        ({"directory": "1.5"}, "directory"),
    ],
)
def test_a_malformed_sync_log_filter_is_a_400_naming_it(readonly_api, runs, params, field):
    answer = readonly_api.get("/api/v1/sync-runs/", params)
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == [field]
    assert body["detail"].startswith(f"{field}: ")


# ---- paging a run's changes ---------------------------------------------------------


@pytest.fixture
def run_with_changes(directory) -> SyncRun:
    run = SyncRun.objects.create(directory=directory, status="completed")
    SyncChange.objects.bulk_create(
        SyncChange(
            run=run,
            kind="group" if n % 3 == 0 else "user",
            action="added",
            external_id=f"e{n}",
            name=f"entry-{n}",
        )
        for n in range(7)
    )
    return run


def query_of(link: str | None) -> dict[str, list[str]] | None:
    return None if link is None else parse_qs(urlsplit(link).query)


def walk(api, url: str) -> list[dict]:
    """Every page from `url` on, following `next` as a client does."""
    pages = []
    while url:
        assert len(pages) < 20, "the next links go round in circles"
        answer = api.get(url)
        assert answer.status_code == 200, answer.content
        pages.append(answer.json())
        url = answer.json()["next"]
    return pages


def test_walking_a_runs_changes_page_by_page_shows_each_change_once(readonly_api, run_with_changes):
    url = f"/api/v1/sync-runs/{run_with_changes.pk}/changes/"
    pages = walk(readonly_api, f"{url}?limit=3")

    assert [len(p["results"]) for p in pages] == [3, 3, 1]
    assert {p["count"] for p in pages} == {7}
    seen = [c["external_id"] for p in pages for c in p["results"]]
    assert seen == [f"e{n}" for n in range(7)]
    assert [query_of(p["next"]) for p in pages] == [
        {"limit": ["3"], "offset": ["3"]},
        {"limit": ["3"], "offset": ["6"]},
        None,
    ]
    assert [query_of(p["previous"]) for p in pages] == [
        None,
        {"limit": ["3"]},
        {"limit": ["3"], "offset": ["3"]},
    ]
    back = readonly_api.get(pages[2]["previous"]).json()
    assert back["results"] == pages[1]["results"]

    # A filter stays on every link, and the pages hold only what it keeps.
    users = walk(readonly_api, f"{url}?kind=user&limit=2")
    assert [len(p["results"]) for p in users] == [2, 2]
    assert [c["external_id"] for p in users for c in p["results"]] == ["e1", "e2", "e4", "e5"]
    assert query_of(users[0]["next"]) == {"kind": ["user"], "limit": ["2"], "offset": ["2"]}

    past_the_end = readonly_api.get(url, {"limit": 3, "offset": 50}).json()
    assert (past_the_end["count"], past_the_end["results"], past_the_end["next"]) == (7, [], None)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=2.5", "limit"),
        ("limit=", "limit"),
        ("limit=2&limit=3", "limit"),
        ("offset=-1", "offset"),
        ("offset=x", "offset"),
    ],
)
def test_a_bad_limit_or_offset_of_a_runs_changes_is_a_400(
    readonly_api, run_with_changes, query, field
):
    answer = readonly_api.get(f"/api/v1/sync-runs/{run_with_changes.pk}/changes/?{query}")
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == [field]
    minimum = 1 if field == "limit" else 0
    assert body["errors"][field] == [f"Give {field} once, as a whole number from {minimum}."]


def test_a_limit_above_1000_is_cut_to_1000_and_a_huge_offset_is_an_empty_page(
    readonly_api, directory
):
    run = SyncRun.objects.create(directory=directory, status="completed")
    SyncChange.objects.bulk_create(
        SyncChange(run=run, kind="user", action="added", external_id=f"u{n}", name=f"u{n}")
        for n in range(1001)
    )
    url = f"/api/v1/sync-runs/{run.pk}/changes/"

    first = readonly_api.get(url, {"limit": 5000}).json()
    assert (first["count"], len(first["results"])) == (1001, 1000)
    assert query_of(first["next"]) == {"limit": ["1000"], "offset": ["1000"]}
    rest = readonly_api.get(first["next"]).json()
    assert [c["external_id"] for c in rest["results"]] == ["u1000"]

    # More digits than Python turns into an int by default (4300): still a page, not a 500.
    far = readonly_api.get(url, {"offset": "9" * 5000})
    assert far.status_code == 200, far.content
    assert (far.json()["count"], far.json()["results"], far.json()["next"]) == (1001, [], None)


# ---- searching users and groups across directories --------------------------------


@pytest.fixture
def people(directory, connectors) -> dict:
    hr = make_directory("hr.example.com", connectors[1])
    now = timezone.now()

    def user(d, username, first, last, email):
        return DirectoryUser.objects.create(
            directory=d,
            external_id=username,
            dn=f"uid={username},ou=people,dc=example,dc=com",
            username=username,
            first_name=first,
            last_name=last,
            email=email,
            display_name=f"{first} {last}",
            fingerprint="x",
            synced_at=now,
        )

    def group(d, name):
        return DirectoryGroup.objects.create(
            directory=d,
            external_id=name,
            dn=f"cn={name},ou=groups,dc=example,dc=com",
            name=name,
            fingerprint="x",
            synced_at=now,
        )

    user(directory, "jgarcia", "José", "García", "jose.garcia@corp.example.com")
    user(directory, "kmuller", "Klaus", "Müller", "klaus@corp.example.com")
    user(directory, "zbright", "Zoë", "Bright", "zb@corp.example.com")
    user(hr, "jsmith", "Joseph", "Smith", "joseph.smith@hr.example.com")
    user(hr, "anna", "Anna", "MÜLLER", "anna@hr.example.com")
    group(directory, "Équipe Sécurité")
    group(directory, "Staff")
    group(hr, "Sécurité RH")
    return {"corp": directory, "hr": hr}


def found(api, kind: str, **params) -> list[str]:
    answer = api.get(f"/api/v1/{kind}/", params)
    assert answer.status_code == 200, answer.content
    key = "username" if kind == "users" else "name"
    return sorted(row[key] for row in answer.json()["results"])


@pytest.mark.parametrize(
    ("search", "usernames"),
    [
        ("jose", ["jgarcia", "jsmith"]),  # "José" and "Joseph"
        ("JOSÉ", ["jgarcia", "jsmith"]),
        ("garcia", ["jgarcia"]),
        ("muller", ["anna", "kmuller"]),  # "Müller" and "MÜLLER"
        ("MÜLLER", ["anna", "kmuller"]),
        ("zoe", ["zbright"]),
        ("klaus muller", ["kmuller"]),  # first and last name together
        ("kmul", ["kmuller"]),  # the username
        ("jose.garcia@corp", ["jgarcia"]),  # the email
        ("@hr.example", ["anna", "jsmith"]),
        ("ou=people", []),  # the DN is not searched
        ("nobody", []),
    ],
)
def test_user_search_across_directories_ignores_case_and_accents(
    readonly_api, people, search, usernames
):
    assert found(readonly_api, "users", search=search) == usernames


def test_user_search_combines_with_the_directory_filter(readonly_api, people):
    corp, hr = people["corp"].pk, people["hr"].pk
    assert found(readonly_api, "users", search="jose", directory=corp) == ["jgarcia"]
    assert found(readonly_api, "users", search="jose", directory=hr) == ["jsmith"]
    assert found(readonly_api, "users", search="Muller", directory=hr) == ["anna"]
    assert found(readonly_api, "users", search="zoe", directory=hr) == []
    rows = readonly_api.get("/api/v1/users/", {"search": "muller"}).json()["results"]
    assert sorted((u["username"], u["directory_name"]) for u in rows) == [
        ("anna", "hr.example.com"),
        ("kmuller", "corp.example.com"),
    ]


def test_group_search_by_name_ignores_case_and_accents_and_combines_with_the_directory(
    readonly_api, people
):
    assert found(readonly_api, "groups", search="securite") == ["Sécurité RH", "Équipe Sécurité"]
    assert found(readonly_api, "groups", search="EQUIPE") == ["Équipe Sécurité"]
    assert found(readonly_api, "groups", search="sécurité", directory=people["hr"].pk) == [
        "Sécurité RH"
    ]
    assert found(readonly_api, "groups", search="staff", directory=people["hr"].pk) == []
    assert found(readonly_api, "groups", search="ou=groups") == []


@pytest.mark.parametrize("search", ["jose", "MÜLLER", "zoe", "@hr.example", "securite", "x"])
def test_api_search_finds_what_the_consoles_users_and_groups_pages_find(
    readonly_api, admin_client, people, search
):
    for kind, key in (("users", "username"), ("groups", "name")):
        page = admin_client.get(reverse(f"directories:all_{kind}"), {"search": search})
        assert page.status_code == 200
        console = sorted(getattr(row, key) for row in page.context["page_obj"].object_list)
        assert found(readonly_api, kind, search=search) == console, kind


# ---- the paths the docs name ----------------------------------------------------------

# `METHOD /path` or a bare `/path` in backticks; `CM/` is vidm-compatibility.md's shorthand.
DOC_PATH = re.compile(r"`(?:(GET|POST|PUT|PATCH|DELETE) )?((?:/api/|/SAAS/|CM/)[^`\s]*)`")
DOC_RELATIVE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]*)`")
CM = "/SAAS/jersey/manager/api/connectormanagement/"
# Named in the docs but no endpoint: prefixes, and the tokens' issuer (their `iss` claim).
NOT_ENDPOINTS = {"/api/", "/api/v1/", "/api/v2/", "/SAAS/", CM.rstrip("/"), "/SAAS/auth"}


def documented_paths(name: str) -> list[tuple[str | None, str]]:
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    paths = DOC_PATH.findall(text)
    if name == "api.md":
        # The endpoint tables name paths under /api/v1/ without the prefix.
        endpoints = text[text.index("## Endpoints") :]
        paths += [
            (method, "/api/v1" + path)
            for method, path in DOC_RELATIVE.findall(endpoints)
            if not path.startswith(("/api/", "/SAAS/"))
        ]
    found_paths = []
    for method, path in paths:
        if path.startswith("CM/"):
            path = CM + path[len("CM/") :]
        path = re.split(r"[?\[]", path)[0]
        if "…" in path or path in NOT_ENDPOINTS:
            continue
        found_paths.append((method or None, re.sub(r"\{\w+\}", "1", path)))
    return found_paths


@pytest.mark.parametrize("doc", ["api.md", "vidm-compatibility.md"])
def test_every_path_the_docs_name_is_a_current_route_taking_that_method(doc):
    from vidm.api import NotServedView

    paths = documented_paths(doc)
    assert len(paths) > 15, paths
    wrong = []
    for method, path in paths:
        try:
            match = resolve(path)
        except Resolver404:
            wrong.append((method, path, "no route"))
            continue
        # An unversioned /api/ path has no route: it answers only through the deprecated
        # alias, so the docs must name the /api/v1/ one.
        view = getattr(match.func, "view_class", None)
        if view is NotServedView:
            wrong.append((method, path, "not served"))
        elif method:
            actions = getattr(match.func, "actions", None)
            takes = method.lower() in actions if actions else hasattr(view, method.lower())
            if not takes:
                wrong.append((method, path, "method not taken"))
    assert wrong == []
