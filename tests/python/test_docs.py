"""Keeps the docs honest: what README, the SOP and deploy/ claim must match the code.

- every `qbwc-bridge <subcommand>` the docs mention runs with `--help`, and
  every flag README's CLI reference lists is in that subcommand's help;
- every environment variable config.py reads is in README's table and in
  deploy/env.example (and nothing else is in the table);
- deploy/bridge.qwc.example is what `qbwc-bridge qwc` prints today;
- the Procfile `web:` command and the systemd ExecStart resolve and parse;
- every `make` target README names exists; the quick start is two commands;
- the SOP names every qbStatus and the retry policy from convex/lib/constants.ts,
  the QBWC errors, and only log events the bridge really emits.
"""

from __future__ import annotations

import ast
import os
import re
import shlex
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
from lxml import etree
from support.qwc_checks import assert_qwc_shape

from qbwc_bridge.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SOP = ROOT / "directives" / "inventory_qb_sync.md"
DEPLOY = ROOT / "deploy"
DOCS = [README, SOP, DEPLOY / "README.md", DEPLOY / "windows-service.md"]
QWC_ARGS = ["qwc", "--url", "https://qb.example.com/qbwc", "--user", "qbwc"]
GLOBAL_FLAGS = {"--env-file", "--version", "--help"}


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def console_script() -> Path:
    """The `qbwc-bridge` entry point installed next to this interpreter."""
    found = shutil.which("qbwc-bridge", path=str(Path(sys.executable).parent))
    assert found is not None, f"qbwc-bridge is not installed next to {sys.executable}"
    return Path(found)


@cache
def config_env_vars() -> frozenset[str]:
    """Names config.py reads: `env.get("X", ...)`, `_int(env, "X", ...)`, `_choice(env, "X", ...)`."""
    tree = ast.parse(read(ROOT / "qbwc_bridge" / "config.py"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if (
            isinstance(func, ast.Attribute)
            and func.attr == "get"
            and isinstance(func.value, ast.Name)
            and func.value.id == "env"
        ):
            candidates = node.args[:1]
        elif isinstance(func, ast.Name) and func.id in ("_int", "_choice"):
            candidates = node.args[1:2]
        else:
            continue
        for arg in candidates:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
    return frozenset(names)


def clean_env() -> dict[str, str]:
    """This process's environment without any bridge setting, so output is reproducible."""
    return {k: v for k, v in os.environ.items() if k not in config_env_vars()}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(console_script()), *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )


def subcommands() -> set[str]:
    parser = build_parser()
    for action in parser._actions:
        choices = getattr(action, "choices", None)
        if isinstance(choices, dict):
            return set(choices)
    raise AssertionError("qbwc-bridge has no subcommands")


def mentioned_subcommands() -> set[str]:
    found: set[str] = set()
    for path in DOCS:
        found.update(re.findall(r"qbwc-bridge(?:\.exe)? ([a-z][a-z-]*)", read(path)))
    return found


def cli_reference_sections() -> dict[str, str]:
    """README's `### `qbwc-bridge X`` sections: subcommand -> section text."""
    text = read(README)
    start = text.index("## CLI reference")
    end = text.index("\n## ", start + 1)
    parts = re.split(r"^### `qbwc-bridge ([a-z-]+)`\s*$", text[start:end], flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


# -- CLI --------------------------------------------------------------------------


def test_docs_mention_every_subcommand_and_nothing_else() -> None:
    assert mentioned_subcommands() == subcommands()
    assert set(cli_reference_sections()) == subcommands()


@pytest.mark.parametrize("subcommand", sorted(mentioned_subcommands()))
def test_documented_subcommand_runs_with_help(subcommand: str, tmp_path: Path) -> None:
    result = run_cli(subcommand, "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert f"usage: qbwc-bridge {subcommand}" in result.stdout.decode()


@pytest.mark.parametrize("subcommand", sorted(cli_reference_sections()))
def test_cli_reference_flags_exist(subcommand: str, tmp_path: Path) -> None:
    documented = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", cli_reference_sections()[subcommand]))
    help_text = run_cli(subcommand, "--help", cwd=tmp_path).stdout.decode()
    real = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text))
    # --env-file etc. are global, and `--` text in prose about other tools is not ours.
    missing = {flag for flag in documented - GLOBAL_FLAGS if flag not in real}
    assert not missing, f"README documents flags `{subcommand}` does not have: {sorted(missing)}"
    undocumented = real - documented - GLOBAL_FLAGS
    assert not undocumented, f"`{subcommand}` flags missing from README: {sorted(undocumented)}"


def test_global_flags_exist(tmp_path: Path) -> None:
    help_text = run_cli("--help", cwd=tmp_path).stdout.decode()
    for flag in ("--env-file", "--version"):
        assert flag in help_text
        assert flag in read(README)


# -- configuration ------------------------------------------------------------------


def readme_config_table() -> set[str]:
    text = read(README)
    start = text.index("## Configuration")
    end = text.index("\n## ", start + 1)
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", text[start:end], flags=re.MULTILINE))


def test_config_reader_found_the_variables() -> None:
    # Guards the AST walk above: if config.py changes shape, fail loudly, not vacuously.
    assert {"CONVEX_URL", "CONVEX_DEPLOY_KEY", "QBWC_USERNAME", "PORT"} <= config_env_vars()


def test_readme_table_lists_exactly_the_config_variables() -> None:
    assert readme_config_table() == config_env_vars()


def test_env_example_has_every_variable() -> None:
    text = read(DEPLOY / "env.example")
    missing = [
        name
        for name in sorted(config_env_vars())
        if not re.search(rf"^(?:# )?{name}=", text, flags=re.MULTILINE)
    ]
    assert not missing, f"deploy/env.example lacks {missing}"


def test_env_example_holds_no_secret() -> None:
    text = read(DEPLOY / "env.example")
    assert re.search(r"^CONVEX_DEPLOY_KEY=$", text, flags=re.MULTILINE)
    assert re.search(r"^QBWC_PASSWORD_HASH=$", text, flags=re.MULTILINE)
    assert not re.search(r"^QBWC_PASSWORD=", text, flags=re.MULTILINE)
    assert re.search(r"^OPS_PASSWORD_HASH=$", text, flags=re.MULTILINE)
    assert not re.search(r"^OPS_PASSWORD=", text, flags=re.MULTILINE)


# -- .qwc --------------------------------------------------------------------------


def test_qwc_example_is_valid() -> None:
    root = etree.fromstring((DEPLOY / "bridge.qwc.example").read_bytes())
    assert_qwc_shape(root)
    assert root.findtext("AppURL") == "https://qb.example.com/qbwc"
    assert root.findtext("UserName") == "qbwc"


def test_qwc_example_is_current(tmp_path: Path) -> None:
    result = run_cli(*QWC_ARGS, cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == (DEPLOY / "bridge.qwc.example").read_bytes(), (
        "deploy/bridge.qwc.example is stale: regenerate it with "
        "`.venv/bin/qbwc-bridge qwc --url https://qb.example.com/qbwc --user qbwc "
        "> deploy/bridge.qwc.example`"
    )


# -- Procfile and service units ------------------------------------------------------


def test_procfile_web_command_resolves(tmp_path: Path) -> None:
    lines = [line for line in read(ROOT / "Procfile").splitlines() if line.startswith("web:")]
    assert len(lines) == 1
    command = lines[0].removeprefix("web:").strip()
    assert "$PORT" in command
    argv = shlex.split(command.replace("${PORT}", "5000").replace("$PORT", "5000"))
    assert argv[0] == "qbwc-bridge"
    assert console_script().is_file()
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.host, args.port) == ("serve", "0.0.0.0", 5000)
    result = run_cli(*argv[1:], "--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in read(DEPLOY / "qbwc-bridge.service").splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_unit() -> None:
    unit = unit_settings()
    assert unit["User"] == ["qbwc"]
    assert unit["EnvironmentFile"] == ["/etc/qbwc-bridge/env"]
    assert unit["Restart"] == ["on-failure"]
    assert "RestartSec" in unit
    for hardening in ("NoNewPrivileges", "PrivateTmp"):
        assert unit[hardening] == ["yes"]
    assert unit["ProtectSystem"] == ["strict"]
    (exec_start,) = unit["ExecStart"]
    argv = shlex.split(exec_start)
    assert argv[0] == "/opt/qbwc-bridge/.venv/bin/qbwc-bridge"
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.host, args.port) == ("serve", "127.0.0.1", 8080)


def test_caddy_proxies_the_bridge_paths() -> None:
    text = read(DEPLOY / "Caddyfile")
    assert "reverse_proxy 127.0.0.1:8080" in text
    matcher = re.search(r"@bridge path (.+)", text)
    assert matcher is not None
    assert {"/qbwc", "/healthz", "/ops", "/ops/*"} <= set(matcher.group(1).split())


# -- make targets ---------------------------------------------------------------------


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_-]+):", read(ROOT / "Makefile"), flags=re.MULTILINE))


def test_readme_make_targets_exist() -> None:
    named = set(re.findall(r"(?:^|`)make ([a-z][a-z0-9-]*)", read(README), flags=re.MULTILINE))
    assert {"run", "test"} <= named
    assert named <= makefile_targets(), f"not in Makefile: {sorted(named - makefile_targets())}"


def test_quick_start_is_make_run_and_make_test() -> None:
    text = read(README)
    start = text.index("## Quick start")
    end = text.index("\n## ", start + 1)
    blocks = re.findall(r"^```sh\n(.*?)^```", text[start:end], flags=re.MULTILINE | re.DOTALL)
    commands = [line.strip() for block in blocks for line in block.splitlines() if line.strip()]
    assert commands == ["make run", "make test"]


# -- SOP ------------------------------------------------------------------------------


def ts_constant(name: str) -> str:
    text = read(ROOT / "convex" / "lib" / "constants.ts")
    match = re.search(rf"export const {name}\b[^=]*=\s*(.+?);", text, flags=re.DOTALL)
    assert match is not None, f"{name} not found in constants.ts"
    return match.group(1)


def test_sop_names_every_qb_status() -> None:
    statuses = re.findall(r'"([a-z_]+)"', ts_constant("QB_STATUSES"))
    assert len(statuses) >= 7
    sop = read(SOP)
    missing = [status for status in statuses if f"`{status}`" not in sop]
    assert not missing, f"SOP does not explain qbStatus {missing}"


def test_sop_states_the_retry_policy() -> None:
    delays = re.findall(r"\d+", ts_constant("RETRY_DELAYS_SECONDS"))
    max_retries = int(ts_constant("MAX_RETRIES"))
    sop = read(SOP)
    assert "/".join(delays) in sop
    for delay in delays:
        assert f"{delay} s" in sop
    assert f"At most {max_retries} retries" in sop
    assert f"{max_retries + 1}th failure" in sop


@pytest.mark.parametrize(
    "error", ["QBWC1012", "QBWC1039", "QBWC1048", "0x80040400", "0x80040408", "nvu"]
)
def test_sop_covers_qbwc_error(error: str) -> None:
    assert error in read(SOP)


def test_sop_log_events_exist_in_the_bridge() -> None:
    sop = read(SOP)
    named = set(re.findall(r'"event": "([a-z_]+)"', sop))
    listed = sop[sop.index("Other `event` values") :]
    listed = listed[: listed.index("\n\n")]
    named.update(re.findall(r"`([a-z]+(?:_[a-z]+)+)`", listed))
    named.add("auth_ok_nothing_due")
    source = "\n".join(read(path) for path in (ROOT / "qbwc_bridge").rglob("*.py"))
    missing = sorted(name for name in named if f'"{name}"' not in source)
    assert len(named) >= 10
    assert not missing, f"SOP names log events the bridge never emits: {missing}"


def test_sop_is_linked_from_readme() -> None:
    assert "directives/inventory_qb_sync.md" in read(README)
