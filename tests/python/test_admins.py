"""The admin role from the operator's side: `grant-admin`, `revoke-admin`,
`list-admins` against the local runtime, and the typed replies they parse.

Before roles, any signed-in identity could remap a reason code to another
QuickBooks account and void other people's events (issue 10, item 8).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from support.local_convex import LocalConvex

from convex import ConvexError
from qbwc_bridge.admin_contract import AdminGrant, AdminList, AdminRevoke
from qbwc_bridge.contract import ContractError

CLI = str(Path(sys.executable).parent / "qbwc-bridge")
JANE = "ops-jane"


def run_cli(convex: LocalConvex, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CONVEX_URL": convex.url,
        "CONVEX_DEPLOY_KEY": convex.admin_key,
        "LOG_FORMAT": "json",
    }
    return subprocess.run(
        [CLI, "--env-file", "/nonexistent", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def refusal(call: Any) -> str:
    with pytest.raises(ConvexError) as refused:
        call()
    return str(refused.value.data["code"])


def test_grant_admin_lets_an_identity_configure_and_revoke_takes_it_back(
    convex: LocalConvex,
) -> None:
    jane = convex.client(JANE)

    def remap() -> Any:
        return jane.mutation(
            "inventory:upsertReasonAccount",
            {"reasonCode": "COUNT", "qbAccountFullName": "Owner's Equity"},
        )

    assert refusal(remap) == "FORBIDDEN"

    granted = run_cli(convex, "grant-admin", JANE, "--note", "Jane, operations")
    assert granted.returncode == 0, granted.stderr
    assert granted.stdout.strip() == f"{JANE} is now an admin."
    again = run_cli(convex, "grant-admin", JANE)
    assert again.returncode == 0 and "already an admin" in again.stdout
    assert remap()["result"] == "created"

    listed = run_cli(convex, "list-admins", "--json")
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["more"] is False
    assert [(a["subject"], a["granted_by"], a["note"]) for a in data["admins"]] == [
        (JANE, "deploy-key", "Jane, operations")
    ]
    text = run_cli(convex, "list-admins").stdout
    assert text.startswith(f"{JANE}  granted ") and "Jane, operations" in text

    revoked = run_cli(convex, "revoke-admin", JANE)
    assert revoked.returncode == 0 and "no longer an admin" in revoked.stdout
    assert refusal(remap) == "FORBIDDEN"
    assert "was not an admin" in run_cli(convex, "revoke-admin", JANE).stdout
    assert "No admins yet" in run_cli(convex, "list-admins").stdout


def test_a_bad_subject_is_one_line_and_exit_1(convex: LocalConvex) -> None:
    result = run_cli(convex, "grant-admin", "   ")
    assert result.returncode == 1
    assert result.stderr.startswith("error: Convex refused: subject must not be empty")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_an_employee_voids_only_their_own_events(convex: LocalConvex) -> None:
    run_cli(convex, "grant-admin", JANE)
    jane = convex.client(JANE)
    jane.mutation("inventory:upsertLocation", {"code": "WH"})
    jane.mutation(
        "inventory:upsertReasonAccount", {"reasonCode": "COUNT", "qbAccountFullName": "A"}
    )
    convex.admin_client().mutation("parts:upsertBatch", {"parts": [{"sku": "P-1"}]})
    ana, bob = convex.client("emp-ana"), convex.client("emp-bob")
    made = ana.mutation(
        "inventory:createAdjustmentEvent",
        {"sku": "P-1", "location": "WH", "mode": "delta", "quantity": 3, "reasonCode": "COUNT"},
    )
    void = {"eventId": made["eventId"], "reason": "not yours"}
    assert refusal(lambda: bob.mutation("inventory:voidEvent", void)) == "FORBIDDEN"
    assert jane.mutation("inventory:voidEvent", void)["status"] == "voided"


# -- the typed replies ------------------------------------------------------------------


def test_replies_parse() -> None:
    assert AdminGrant.parse({"subject": "a", "result": "granted"}) == AdminGrant("a", "granted")
    assert AdminRevoke.parse({"subject": "a", "result": "absent"}) == AdminRevoke("a", "absent")
    listing = AdminList.parse(
        {
            "admins": [{"subject": "a", "grantedAt": 1.0, "grantedBy": "deploy-key", "note": None}],
            "more": True,
        }
    )
    assert listing.more is True
    assert listing.admins[0].subject == "a" and listing.admins[0].note is None


@pytest.mark.parametrize(
    ("parse", "value"),
    [
        (AdminGrant.parse, {"subject": "a", "result": "revoked"}),
        (AdminRevoke.parse, {"subject": "a"}),
        (AdminList.parse, {"admins": [{"subject": "a"}], "more": False}),
        (AdminList.parse, {"admins": [], "more": "no"}),
        (AdminGrant.parse, ["a", "granted"]),
    ],
)
def test_drifted_replies_are_contract_errors(parse: Any, value: Any) -> None:
    with pytest.raises(ContractError):
        parse(value)
