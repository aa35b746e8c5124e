"""Starts and drives the local Convex runtime (`local_convex/server.ts`) for tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
TSX = REPO_ROOT / "node_modules" / ".bin" / "tsx"
SERVER = REPO_ROOT / "local_convex" / "server.ts"


@dataclass
class LocalConvex:
    """A running runtime: its URL, admin key and (with --test-clock) its clock."""

    url: str
    admin_key: str
    process: subprocess.Popen[str]
    stderr_lines: list[str] = field(default_factory=list)

    @classmethod
    def start(
        cls, *extra: str, admin_key: str = "test-admin-key", timeout: float = 60.0
    ) -> LocalConvex:
        process = subprocess.Popen(
            [str(TSX), str(SERVER), "--port", "0", "--admin-key", admin_key, *extra],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: stop() reaches tsx's child too
        )
        ready: dict[str, Any] = {}
        lines: list[str] = []

        def read_ready() -> None:
            assert process.stdout is not None
            line = process.stdout.readline()
            if line:
                ready.update(json.loads(line))

        def drain_stderr() -> None:
            assert process.stderr is not None
            lines.extend(process.stderr)

        reader = threading.Thread(target=read_ready, daemon=True)
        reader.start()
        threading.Thread(target=drain_stderr, daemon=True).start()
        reader.join(timeout)
        if "url" not in ready:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RuntimeError("local Convex runtime did not start: " + "".join(lines)[-2000:])
        return cls(
            url=ready["url"], admin_key=ready["adminKey"], process=process, stderr_lines=lines
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return dict(json.loads(response.read()))

    def reset(self) -> None:
        """Empty database and real time again (needs --test-clock)."""
        self._post("/_test/reset", {})

    def advance_clock(self, ms: int) -> int:
        return int(self._post("/_test/clock", {"advanceMs": ms})["now"])

    def set_clock(self, now_ms: int) -> int:
        return int(self._post("/_test/clock", {"now": now_ms})["now"])
