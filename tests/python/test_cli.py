"""The operator CLI as a new user meets it: `serve` with no CONVEX_URL (what
`make run` does), a scripted QBWC session against it, and `status` / `retry`
against a runtime.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from support.local_convex import LocalConvex
from support.qb_simulator import QuickBooksSimulator
from support.qbwc_simulator import QbwcSimulator
from test_docs import config_env_vars

from qbwc_bridge import sample_data
from qbwc_bridge.auth import verify_password
from qbwc_bridge.cli import main

CLI = str(Path(sys.executable).parent / "qbwc-bridge")


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "--env-file", "/nonexistent", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_serve_without_convex_url_uses_the_local_runtime_and_syncs_the_sample(
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        "QBWC_USERNAME": "demo",
        "QBWC_PASSWORD": "demo-password",
        "LOG_FORMAT": "json",
    }
    env.pop("CONVEX_URL", None)
    server = subprocess.Popen(
        [CLI, "--env-file", str(tmp_path / "none.env"), "serve", "--sample-data", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    lines: list[dict[str, Any]] = []
    ready = threading.Event()

    def read() -> None:
        assert server.stderr is not None
        for line in server.stderr:
            if line.startswith("{"):
                lines.append(json.loads(line))
                if lines[-1]["event"] == "serving":
                    ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(90), lines
        events = [line["event"] for line in lines]
        assert "LOCAL_CONVEX_RUNTIME" in events  # said loudly
        assert "sample_data_loaded" in events
        url = next(line["url"] for line in lines if line["event"] == "serving")
        quickbooks = QuickBooksSimulator(
            items=[p["qbItemFullName"] for p in sample_data.PARTS],
            sites={loc["qbSiteFullName"] for loc in sample_data.LOCATIONS},
            accounts=[r["qbAccountFullName"] for r in sample_data.REASONS],
        )
        report = QbwcSimulator(url, "demo", "demo-password", quickbooks).run_session()
        assert report.percents[-1] == 100
        # 6 opening counts + 4 movements that reach QuickBooks (one transfer stays within a site).
        assert report.close_message is not None and report.close_message.startswith(
            "OK: 10 applied"
        )
        assert (
            len({t.ref_number for t in quickbooks.transactions})
            == len(quickbooks.transactions)
            == 10
        )
        assert quickbooks.qoh("Hardware:Hex bolt M8", "Truck 1") == 47
    finally:
        os.killpg(server.pid, signal.SIGINT)
        assert server.wait(timeout=20) == 0


def test_serve_with_missing_credentials_exits_2_with_one_line(tmp_path: Path) -> None:
    result = run_cli(
        "serve", env={"QBWC_USERNAME": "", "QBWC_PASSWORD": "", "QBWC_PASSWORD_HASH": ""}
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "QBWC_USERNAME" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_setting_exits_2_without_traceback() -> None:
    result = run_cli("status", env={"QBWC_BATCH_SIZE": "lots"})
    assert (
        result.returncode == 2
        and "QBWC_BATCH_SIZE" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_status_and_retry_against_a_runtime(convex: LocalConvex) -> None:
    env = {"CONVEX_URL": convex.url, "CONVEX_DEPLOY_KEY": convex.admin_key, "LOG_FORMAT": "json"}
    convex.admin_client().mutation("admins:grant", {"subject": "emp-1"})
    employee = convex.client("emp-1")
    employee.mutation("inventory:upsertLocation", {"code": "WH", "qbSiteFullName": "Main"})
    employee.mutation(
        "inventory:upsertReasonAccount", {"reasonCode": "COUNT", "qbAccountFullName": "Adj"}
    )
    convex.admin_client().mutation("parts:upsertBatch", {"parts": [{"sku": "P-1"}]})
    made = employee.mutation(
        "inventory:createAdjustmentEvent",
        {"sku": "P-1", "location": "WH", "mode": "delta", "quantity": 3, "reasonCode": "COUNT"},
    )

    status = run_cli("status", "--json", env=env)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["counts"]["pending"] == 1
    assert "pending" in run_cli("status", env=env).stdout

    refused = run_cli("retry", made["refNumber"], env=env)
    assert refused.returncode == 1 and "only failed or dead" in refused.stderr
    assert run_cli("retry", env=env).returncode == 2  # neither ids nor --all-dead
    assert (
        run_cli("retry", "--all-dead", env=env)
        .stdout.strip()
        .endswith("0 dead event(s) queued again.")
    )


def test_status_when_convex_is_down_is_one_line() -> None:
    result = run_cli(
        "status",
        env={"CONVEX_URL": "http://127.0.0.1:9", "CONVEX_DEPLOY_KEY": "k", "LOG_FORMAT": "json"},
    )
    assert result.returncode == 1
    assert "unreachable" in result.stderr and "Traceback" not in result.stderr


GOOD_SERVE_ENV = {"QBWC_USERNAME": "qbwc", "QBWC_PASSWORD": "a-password", "LOG_FORMAT": "json"}
BAD_SETTINGS = [
    ("QB_TIMEZONE", "America/Chicgo"),
    ("QBWC_MIN_CLIENT_VERSION", "garbage"),
    ("QBXML_VERSION", "99.0"),
    ("QBWC_BATCH_SIZE", "0"),
    ("QBWC_SESSION_TTL_SECONDS", "10"),
    ("QBWC_POSTPONE_SECONDS", "-1"),
    ("LOG_FORMAT", "xml"),
    ("LOG_LEVEL", "loud"),
    ("PORT", "70000"),
    ("CONVEX_URL", "ftp://convex"),
    ("CONVEX_CONNECT_TIMEOUT_SECONDS", "0"),
    ("CONVEX_READ_TIMEOUT_SECONDS", "soon"),
    ("CONVEX_RETRY_BUDGET_SECONDS", "600"),
    ("SOAP_MAX_RESPONSE_BYTES", "1"),
    ("SOAP_MAX_BODY_BYTES", "99999999999"),
    ("TRUSTED_PROXIES", "10.0.0.0/8, caddy"),
    ("METRICS_TOKEN", "short"),
    ("QBWC_PASSWORD_HASH", "md5$1$a$b"),
    ("CONVEX_DEPLOY_KEY", ""),  # CONVEX_URL without its key
]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS, ids=[name for name, _ in BAD_SETTINGS])
def test_serve_with_a_bad_setting_exits_2_with_one_line_naming_it(
    name: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    # Why item 7: typos in settings were accepted and silently killed the queue.
    for variable in config_env_vars():
        monkeypatch.delenv(variable, raising=False)
    env = {**GOOD_SERVE_ENV, name: value}
    if name == "CONVEX_DEPLOY_KEY":
        env["CONVEX_URL"] = "https://x.convex.cloud"
    for key, item in env.items():
        monkeypatch.setenv(key, item)
    assert main(["--env-file", "/nonexistent", "serve", "--port", "0"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and name in lines[0], lines


def test_serve_with_a_bad_setting_is_one_line_from_the_real_command() -> None:
    result = run_cli("serve", env={**GOOD_SERVE_ENV, "QB_TIMEZONE": "America/Chicgo"})
    assert result.returncode == 2
    assert result.stderr.startswith("error: QB_TIMEZONE") and result.stderr.count("\n") == 1


@pytest.mark.parametrize(("password", "code"), [("seven77", 2), ("eight888", 0)])
def test_hash_password_wants_at_least_8_characters(
    password: str, code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))
    assert main(["--env-file", "/nonexistent", "hash-password", "--password-stdin"]) == code
    out, err = capsys.readouterr()
    if code:
        assert err == "error: use a password of at least 8 characters\n" and out == ""
    else:
        assert verify_password(password, out.strip())
