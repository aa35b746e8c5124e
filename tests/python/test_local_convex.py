"""The local Convex runtime speaks Convex's HTTP API well enough that the stock
`ConvexHttpClient` (what the bridge uses) cannot tell it from a deployment.

These tests use the real `convex/` functions through their public contracts
(`functions:ping`, `inventory:upsertLocation`, `parts:upsertBatch`, ...), so
they also fail if the runtime stops running the real code.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from convex.http_client import ConvexExecutionError, ConvexHttpClient
from support.local_convex import LocalConvex, LocalConvexError

from convex import ConvexError

MISSING = "Could not find public function for '{}'. Did you forget to run `npx convex dev` or `npx convex deploy`?"
ANA = "emp-ana"


def post(
    runtime: LocalConvex,
    route: str,
    body: Any,
    auth: str | None = None,
    content_type: str = "application/json",
) -> requests.Response:
    """A raw POST, for what the stock client cannot send or does not show."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type}
    if auth is not None:
        headers["Authorization"] = auth
    return requests.post(f"{runtime.url}{route}", data=data, headers=headers, timeout=60)


def as_admin(runtime: LocalConvex, subject: str = ANA) -> ConvexHttpClient:
    """`subject`'s client, made admin first (locations and reasons are admin-only)."""
    runtime.admin_client().mutation("admins:grant", {"subject": subject})
    return runtime.client(subject)


def seed_part(runtime: LocalConvex, sku: str = "SKU-1") -> None:
    """A location, a reason account and a part: enough for an adjustment event."""
    ana = as_admin(runtime)
    ana.mutation("inventory:upsertLocation", {"code": "WH", "name": "Warehouse"})
    ana.mutation(
        "inventory:upsertReasonAccount", {"reasonCode": "COUNT", "qbAccountFullName": "Adj"}
    )
    runtime.admin_client().mutation(
        "parts:upsertBatch", {"parts": [{"sku": sku, "name": "Bolt", "qbItemFullName": "Bolt"}]}
    )


def recent_events(runtime: LocalConvex) -> list[dict[str, Any]]:
    page = runtime.client(ANA).query(
        "inventory:listRecentEvents", {"paginationOpts": {"numItems": 10, "cursor": None}}
    )
    return list(page["page"])


def assert_clean_error_body(response: requests.Response, status: int, code: str) -> None:
    """Request-level failures: the status, Convex's {code, message}, nothing internal."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message"}
    assert body["code"] == code
    for leak in ("    at ", "node_modules", ".ts:", "local_convex"):
        assert leak not in response.text


# -- calls through the stock client ---------------------------------------------------


def test_query_answers_through_the_stock_client(convex: LocalConvex) -> None:
    before = convex.clock()
    result = convex.client().query("functions:ping")
    assert set(result) == {"serverTime"}
    assert isinstance(result["serverTime"], float)
    assert result["serverTime"] >= before


def test_mutation_writes_and_a_repeat_changes_nothing(convex: LocalConvex) -> None:
    ana = as_admin(convex)
    first = ana.mutation("inventory:upsertLocation", {"code": "WH", "name": "Warehouse"})
    again = ana.mutation("inventory:upsertLocation", {"code": "WH", "name": "Warehouse"})
    assert first["result"] == "created"
    assert again == {"locationId": first["locationId"], "result": "unchanged"}


def test_both_formats_carry_the_same_value_with_floats_as_convex_writes_them(
    convex: LocalConvex,
) -> None:
    convex.set_clock(1_700_000_000_000)
    answers = {
        # Signed in: without an identity health carries no counts to compare.
        fmt: post(
            convex,
            "/api/query",
            {"path": "functions:health", "args": {}, "format": fmt},
            auth=f"Bearer {ANA}",
        )
        for fmt in ("json", "convex_encoded_json")
    }
    for response in answers.values():
        assert response.status_code == 200
        # Convex numbers are float64 and the backend writes them as "5.0": the
        # Python client's json_to_convex rejects a bare integer.
        assert '"serverTime":1700000000000.0' in response.text
        assert '"eventsCreated":0.0' in response.text
    assert answers["json"].json() == answers["convex_encoded_json"].json()
    assert answers["json"].json()["value"]["serverTime"] == 1_700_000_000_000


def test_encoded_args_are_decoded_before_validation(convex: LocalConvex) -> None:
    """An int64 (`{"$integer": ...}`) where a string is expected must fail the
    validator as an int64, not pass as an object or crash the decoder."""
    args = {"code": {"$integer": "BQAAAAAAAAA="}, "name": "x"}
    response = post(
        convex,
        "/api/mutation",
        {"path": "inventory:upsertLocation", "args": args, "format": "convex_encoded_json"},
        auth=f"Bearer {ANA}",
    )
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "error"
    assert "errorData" not in body
    assert "string" in body["errorMessage"].lower()


def test_convex_error_data_reaches_the_client(convex: LocalConvex) -> None:
    with pytest.raises(ConvexError) as anonymous:
        convex.client().mutation("inventory:upsertLocation", {"code": "WH", "name": "x"})
    assert anonymous.value.data["code"] == "UNAUTHENTICATED"
    assert isinstance(anonymous.value.data["message"], str)

    with pytest.raises(ConvexError) as empty:
        as_admin(convex).mutation("inventory:upsertLocation", {"code": "", "name": "x"})
    assert empty.value.data["code"] == "INVALID_ARGUMENT"


def test_error_message_reads_like_a_deployment_and_has_no_stack(convex: LocalConvex) -> None:
    response = post(
        convex, "/api/mutation", {"path": "inventory:upsertLocation", "args": {"code": "WH"}}
    )
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "error"
    first, second = body["errorMessage"].split("\n")
    assert first.startswith("[Request ID: ") and first.endswith("] Server Error")
    assert second.startswith('Uncaught ConvexError: {"code":"UNAUTHENTICATED"')
    assert body["errorData"]["code"] == "UNAUTHENTICATED"


def test_plain_errors_have_a_message_only(convex: LocalConvex) -> None:
    # An argument that fails the validator is a plain error, not a ConvexError.
    with pytest.raises(ConvexExecutionError) as failed:
        convex.client().query("functions:ping", {"unexpected": 1})
    text = str(failed.value)
    assert "unexpected" in text
    assert "    at " not in text and "node_modules" not in text


def test_function_of_another_kind_is_refused(convex: LocalConvex) -> None:
    with pytest.raises(ConvexExecutionError, match="as Query, but it is defined as Mutation"):
        convex.client(ANA).query("inventory:upsertLocation", {"code": "WH"})


@pytest.mark.parametrize(
    ("path", "canonical"),
    [
        ("nope:missing", "nope:missing"),
        ("functions", "functions:default"),
        ("lib/errors:fail", "lib/errors:fail"),  # an exported helper, not a registered function
        ("_generated/server:query", "_generated/server:query"),
    ],
)
def test_unknown_functions_answer_could_not_find(
    convex: LocalConvex, path: str, canonical: str
) -> None:
    with pytest.raises(ConvexExecutionError) as missing:
        convex.admin_client().query(path)
    assert str(missing.value).endswith(MISSING.format(canonical))


def test_path_forms_with_js_suffix_and_directories_resolve(convex: LocalConvex) -> None:
    assert "serverTime" in convex.client().query("functions.js:ping")


# -- auth --------------------------------------------------------------------------------


def test_internal_function_is_invisible_without_the_admin_key(convex: LocalConvex) -> None:
    for client in (convex.client(), convex.client(ANA)):
        with pytest.raises(ConvexExecutionError) as hidden:
            client.query("qbQueue:getNextPendingQbEvent", {})
        # Same words as for a function that does not exist: no probing for names.
        assert str(hidden.value).endswith(MISSING.format("qbQueue:getNextPendingQbEvent"))


def test_wrong_admin_key_is_refused(convex: LocalConvex) -> None:
    client = ConvexHttpClient(convex.url)
    client.set_admin_auth("not-the-key")
    with pytest.raises(Exception, match=r"^401 BadAdminKey: "):
        client.query("qbQueue:getNextPendingQbEvent", {})
    response = post(
        convex,
        "/api/query",
        {"path": "functions:ping", "args": {}},
        auth="Convex not-the-key",
    )
    assert_clean_error_body(response, 401, "BadAdminKey")


def test_admin_key_calls_internal_functions(convex: LocalConvex) -> None:
    admin = convex.admin_client()
    assert admin.query("qbQueue:getNextPendingQbEvent", {}) is None
    report = admin.mutation("parts:upsertBatch", {"parts": [{"sku": "A-1", "name": "Bolt"}]})
    assert report["created"] == 1
    # The admin is not a user: an employee-only function sees no identity.
    with pytest.raises(ConvexError) as refused:
        admin.mutation("inventory:upsertLocation", {"code": "WH", "name": "x"})
    assert refused.value.data["code"] == "UNAUTHENTICATED"


def test_bearer_token_is_the_signed_in_user(convex: LocalConvex) -> None:
    seed_part(convex)
    convex.client(ANA).mutation(
        "inventory:createAdjustmentEvent",
        {"sku": "SKU-1", "location": "WH", "mode": "set", "quantity": 5, "reasonCode": "COUNT"},
    )
    events = recent_events(convex)
    assert [e["createdBy"] for e in events] == [ANA]


# -- request-level failures ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"{not json", "application/json", "BadJsonBody"),
        ({"path": "functions:ping", "args": {}}, "text/plain", "BadJsonBody"),
        ({"args": {}}, "application/json", "BadJsonBody"),
        ({"path": 5, "args": {}}, "application/json", "BadJsonBody"),
        ({"path": "functions:ping"}, "application/json", "BadJsonBody"),
        ([1, 2], "application/json", "BadJsonBody"),
        ({"path": "../etc:passwd", "args": {}}, "application/json", "BadConvexFunctionIdentifier"),
        ({"path": "functions:ping", "args": {}, "format": "xml"}, "application/json", "BadFormat"),
        ({"path": "functions:ping", "args": "x"}, "application/json", "InvalidArgs"),
        ({"path": "functions:ping", "args": {"$bad": 1}}, "application/json", "InvalidArgs"),
    ],
)
def test_bad_requests_get_clean_400s(
    local_convex: LocalConvex, body: Any, content_type: str, code: str
) -> None:
    response = post(local_convex, "/api/query", body, content_type=content_type)
    assert_clean_error_body(response, 400, code)


def test_malformed_authorization_is_a_400(local_convex: LocalConvex) -> None:
    body = {"path": "functions:ping", "args": {}}
    assert_clean_error_body(
        post(local_convex, "/api/query", body, auth="Basic abc"), 400, "InvalidAdminKey"
    )
    assert_clean_error_body(
        post(local_convex, "/api/query", body, auth="x"), 400, "InvalidHeaderFailure"
    )


def test_oversized_body_is_refused_and_the_server_keeps_serving(local_convex: LocalConvex) -> None:
    blob = "x" * (16 * 1024 * 1024 + 1)
    response = post(local_convex, "/api/mutation", {"path": "functions:ping", "args": {"b": blob}})
    assert_clean_error_body(response, 413, "PayloadTooLarge")
    assert "serverTime" in local_convex.client().query("functions:ping")


def test_unknown_route_and_wrong_method(local_convex: LocalConvex) -> None:
    assert_clean_error_body(
        requests.get(f"{local_convex.url}/api/nothing", timeout=10), 404, "NotFound"
    )
    assert_clean_error_body(
        requests.get(f"{local_convex.url}/api/query", timeout=10), 405, "MethodNotAllowed"
    )


# -- concurrency -------------------------------------------------------------------------


def test_concurrent_mutations_run_one_at_a_time(convex: LocalConvex) -> None:
    """Twelve clients create the same location at once: exactly one creates it."""
    results: list[str] = []
    errors: list[BaseException] = []
    as_admin(convex)

    def create() -> None:
        try:
            answer = convex.client(ANA).mutation("inventory:upsertLocation", {"code": "WH"})
            results.append(answer["result"])
        except BaseException as error:  # collected and re-raised by the test below
            errors.append(error)

    threads = [threading.Thread(target=create) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert sorted(results) == ["created"] + ["unchanged"] * 11


# -- clock ---------------------------------------------------------------------------------


def test_clock_set_and_advance_are_what_functions_see(convex: LocalConvex) -> None:
    t0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z
    assert convex.set_clock(t0) == t0
    ping = convex.client()
    assert ping.query("functions:ping")["serverTime"] == t0
    assert ping.query("functions:ping")["serverTime"] == t0  # frozen: exact, repeatable
    assert convex.advance_clock(90_000) == t0 + 90_000
    assert ping.query("functions:ping")["serverTime"] == t0 + 90_000
    assert convex.clock() == t0 + 90_000


def test_clock_stamps_documents(convex: LocalConvex) -> None:
    t0 = 1_767_225_600_000
    convex.set_clock(t0)
    seed_part(convex)
    convex.client(ANA).mutation(
        "inventory:createAdjustmentEvent",
        {"sku": "SKU-1", "location": "WH", "mode": "set", "quantity": 1, "reasonCode": "COUNT"},
    )
    (event,) = recent_events(convex)
    # convex-test keeps _creationTime unique by adding 0.001 ms per insert under a frozen clock.
    assert t0 <= event["createdAt"] < t0 + 1


def test_resume_ticks_again_and_reset_returns_real_time(convex: LocalConvex) -> None:
    convex.set_clock(1_000_000)
    resumed = convex.resume_clock()
    assert 1_000_000 <= resumed < 1_000_000 + 5_000
    convex.reset()
    server_now = convex.clock()
    assert abs(server_now - convex.client().query("functions:ping")["serverTime"]) < 5_000
    assert server_now > 1_700_000_000_000


def test_reset_empties_the_database(convex: LocalConvex) -> None:
    as_admin(convex).mutation("inventory:upsertLocation", {"code": "WH"})
    convex.reset()
    # The admin role went with everything else.
    with pytest.raises(ConvexError) as forbidden:
        convex.client(ANA).mutation("inventory:upsertLocation", {"code": "WH"})
    assert forbidden.value.data["code"] == "FORBIDDEN"
    assert as_admin(convex).mutation("inventory:upsertLocation", {"code": "WH"})["result"] == (
        "created"
    )


def test_test_routes_do_not_exist_without_test_clock() -> None:
    env = {**os.environ, "CONVEX_DEPLOY_KEY": "key-from-env"}
    runtime = LocalConvex.start(admin_key=None, env=env)
    try:
        assert runtime.admin_key == "key-from-env"
        assert runtime.admin_client().query("qbQueue:getNextPendingQbEvent", {}) is None
        for method, route in (
            ("GET", "/_test/clock"),
            ("POST", "/_test/clock"),
            ("POST", "/_test/reset"),
        ):
            response = requests.request(
                method, f"{runtime.url}{route}", json={"advanceMs": 1}, timeout=10
            )
            assert_clean_error_body(response, 404, "NotFound")
        with pytest.raises(LocalConvexError, match="--test-clock"):
            runtime.advance_clock(1)
    finally:
        assert runtime.stop() == 0


def test_without_a_key_the_server_makes_one_up() -> None:
    env = {k: v for k, v in os.environ.items() if k != "CONVEX_DEPLOY_KEY"}
    runtime = LocalConvex.start(admin_key=None, env=env)
    try:
        assert len(runtime.admin_key) >= 24
        assert runtime.admin_client().query("qbQueue:getNextPendingQbEvent", {}) is None
    finally:
        runtime.stop()


# -- persistence ---------------------------------------------------------------------------


def location_ids(runtime: LocalConvex, codes: list[str]) -> dict[str, str]:
    ana = as_admin(runtime)
    return {c: ana.mutation("inventory:upsertLocation", {"code": c})["locationId"] for c in codes}


def test_data_survives_a_clean_restart_with_the_same_ids(tmp_path: Path) -> None:
    data = tmp_path / "state" / "convex.json"
    data.parent.mkdir()
    first = LocalConvex.start("--data", str(data), "--test-clock")
    try:
        first.set_clock(1_767_225_600_000)
        seed_part(first)
        first.client(ANA).mutation(
            "inventory:createAdjustmentEvent",
            {"sku": "SKU-1", "location": "WH", "mode": "set", "quantity": 7, "reasonCode": "COUNT"},
        )
        ids = location_ids(first, ["WH", "TRUCK"])
        events = recent_events(first)
    finally:
        assert first.stop() == 0
    snapshot = json.loads(data.read_text())
    assert snapshot["format"] == "local-convex-snapshot"

    second = LocalConvex.start("--data", str(data))
    try:
        assert recent_events(second) == events  # ids, _creationTime, fields: all the same
        assert location_ids(second, ["WH", "TRUCK"]) == ids  # found again, "unchanged"
        new_id = location_ids(second, ["STORE"])["STORE"]
        assert new_id not in ids.values()
        detail = second.client(ANA).query("inventory:getItemDetail", {"sku": "SKU-1"})
        assert detail["total"] == 7
    finally:
        second.stop()


def test_an_acknowledged_mutation_survives_a_kill(tmp_path: Path) -> None:
    """The snapshot is on disk before the answer: SIGKILL right after loses nothing."""
    data = tmp_path / "convex.json"
    first = LocalConvex.start("--data", str(data))
    ids = location_ids(first, ["WH"])
    os.killpg(first.process.pid, 9)
    first.process.wait()
    first.stop()
    second = LocalConvex.start("--data", str(data))
    try:
        assert location_ids(second, ["WH"]) == ids
        assert not list(tmp_path.glob(".*.tmp")), "a temp snapshot was left behind"
    finally:
        second.stop()


def test_a_corrupt_data_file_stops_start_up_with_a_reason(tmp_path: Path) -> None:
    data = tmp_path / "convex.json"
    data.write_text("{ not json")
    with pytest.raises(LocalConvexError, match="not valid JSON"):
        LocalConvex.start("--data", str(data), timeout=30)
    assert data.read_text() == "{ not json"  # left for the operator to inspect
