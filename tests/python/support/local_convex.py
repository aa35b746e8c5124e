"""Starts, drives and stops the local Convex runtime (`local_convex/server.ts`) for tests.

The runtime runs the real `convex/` functions behind Convex's HTTP API, so
tests use the stock `ConvexHttpClient` against it. One process per test
session is enough (start-up imports every module, ~1 s); `reset()` gives
each test an empty database cheaply.

    runtime = LocalConvex.start("--test-clock")
    try:
        runtime.admin_client().query("functions:health")
        runtime.advance_clock(60_000)
    finally:
        runtime.stop()
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convex.http_client import ConvexHttpClient

REPO_ROOT = Path(__file__).resolve().parents[3]
SERVER = REPO_ROOT / "local_convex" / "server.ts"
DEFAULT_ADMIN_KEY = "test-admin-key"


class LocalConvexError(RuntimeError):
    """The runtime did not start or a test route refused; the message carries its log tail."""


def _command(args: list[str]) -> list[str]:
    """`node --import tsx server.ts ...`: one process (the `tsx` CLI would add a
    wrapper process), TypeScript compiled on import by tsx."""
    node = shutil.which("node")
    if node is None or not (REPO_ROOT / "node_modules" / "tsx").is_dir():
        raise LocalConvexError("node or node_modules/tsx is missing: run `make setup` first")
    return [node, "--import", "tsx", str(SERVER), *args]


@dataclass
class LocalConvex:
    """A running local runtime: where it listens, its admin key, and its process.

    `url` and `admin_key` are what a bridge or a `ConvexHttpClient` needs.
    The clock and reset helpers need the server to run with `--test-clock`.
    """

    url: str
    admin_key: str
    process: subprocess.Popen[str]
    test_clock: bool
    data: Path | None
    _log: deque[str] = field(default_factory=lambda: deque(maxlen=400), repr=False)
    _readers: list[threading.Thread] = field(default_factory=list, repr=False)

    @classmethod
    def start(
        cls,
        *extra: str,
        admin_key: str | None = DEFAULT_ADMIN_KEY,
        env: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> LocalConvex:
        """Starts a runtime on a free 127.0.0.1 port and returns once it answers.

        `extra` are more server flags, e.g. "--test-clock", "--data", "FILE".
        `admin_key=None` leaves the key to the server (CONVEX_DEPLOY_KEY in `env`,
        else a random one); `url`/`admin_key` come from its ready line either way.
        The process gets its own process group so `stop()` reaches all of it.
        """
        log: deque[str] = deque(maxlen=400)
        key_args = [] if admin_key is None else ["--admin-key", admin_key]
        process = subprocess.Popen(
            _command(["--port", "0", "--host", "127.0.0.1", *key_args, *extra]),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        ready: dict[str, Any] = {}

        def read_ready_line() -> None:
            # Lines before the JSON one would be noise from a wrapper (npm); skip them.
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("{"):
                    ready.update(json.loads(line))
                    return

        def drain_stderr() -> None:
            # Always drained, so a chatty server never blocks on a full pipe.
            assert process.stderr is not None
            for line in process.stderr:
                log.append(line)

        reader = threading.Thread(target=read_ready_line, daemon=True)
        drainer = threading.Thread(target=drain_stderr, daemon=True)
        reader.start()
        drainer.start()
        reader.join(timeout)
        runtime = None
        if "url" in ready:
            runtime = cls(
                url=str(ready["url"]),
                admin_key=str(ready["adminKey"]),
                process=process,
                test_clock=bool(ready.get("testClock")),
                data=Path(ready["data"]) if ready.get("data") else None,
                _log=log,
                _readers=[reader, drainer],
            )
        if runtime is None or not runtime._answers():
            _stop_group(process, [reader, drainer])
            tail = "".join(log)[-3000:]
            raise LocalConvexError(f"local Convex runtime did not start:\n{tail}")
        return runtime

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/version", timeout=10) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> int:
        """SIGTERM to the process group (the server finishes the call in flight and
        its snapshot), SIGKILL after 10 s; reaps the process. Returns the exit code."""
        return _stop_group(self.process, self._readers)

    def log_tail(self, chars: int = 3000) -> str:
        """The end of the server's stderr, for assertion messages."""
        return "".join(self._log)[-chars:]

    # -- clients -------------------------------------------------------------------

    def client(self, user: str | None = None) -> ConvexHttpClient:
        """A stock client; with `user`, signed in as that subject (`Bearer <user>`)."""
        client = ConvexHttpClient(self.url)
        if user is not None:
            client.set_auth(user)
        return client

    def admin_client(self) -> ConvexHttpClient:
        """A stock client with the admin key: may call internal functions."""
        client = ConvexHttpClient(self.url)
        client.set_admin_auth(self.admin_key)
        return client

    # -- test routes (need --test-clock) ---------------------------------------------

    def _test_route(self, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data=data, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as error:
            raise LocalConvexError(
                f"{path}: HTTP {error.code} {error.read()[:500]!r} (was the server started with --test-clock?)"
            ) from None

    def reset(self) -> None:
        """Empty database and real time again; waits for the call in flight."""
        self._test_route("/_test/reset", {})

    def clock(self) -> int:
        """The server's `Date.now()` in ms."""
        return int(self._test_route("/_test/clock", None)["now"])

    def set_clock(self, now_ms: int) -> int:
        """Freezes the server clock at `now_ms` (exact `Date.now()` in functions). Returns it."""
        return int(self._test_route("/_test/clock", {"now": now_ms})["now"])

    def advance_clock(self, ms: int) -> int:
        """Moves the server clock forward by `ms` (a frozen clock stays frozen). Returns the new time."""
        return int(self._test_route("/_test/clock", {"advanceMs": ms})["now"])

    def calls(self, reset: bool = False) -> dict[str, int]:
        """/api calls the runtime ran, by "kind path" (e.g. "mutation qbSessions:nextMessage")."""
        reply = self._test_route("/_test/calls", {} if reset else None)
        return {str(k): int(v) for k, v in reply["calls"].items()}

    def set_delay(self, ms: int) -> None:
        """From now on every /api call waits `ms` first (a deployment that far away)."""
        self._test_route("/_test/delay", {"ms": ms})

    def insert(self, table: str, docs: list[dict[str, Any]]) -> list[str]:
        """Inserts documents as given (schema-checked, one transaction); returns their ids.
        For fixtures too large to build through the functions in reasonable time."""
        return [
            str(i) for i in self._test_route("/_test/insert", {"table": table, "docs": docs})["ids"]
        ]

    def resume_clock(self) -> int:
        """Lets a frozen clock tick with real time again, from where it stands."""
        return int(self._test_route("/_test/clock", {"resume": True})["now"])


def _stop_group(process: subprocess.Popen[str], readers: list[threading.Thread]) -> int:
    if process.poll() is None:
        # It may exit between poll() and killpg(); wait() below reaps it either way.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # The pipes reach EOF once the process is gone; let the readers finish first.
    for reader in readers:
        reader.join(timeout=5)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    return process.returncode
