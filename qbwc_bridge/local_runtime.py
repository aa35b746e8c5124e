"""Starts the local Convex runtime as a child process for `serve` without CONVEX_URL.

The runtime is the Node server in `local_convex/` running the real `convex/`
functions; it is for trying the bridge out, not for production: its state
lives in a file on this machine.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


class LocalRuntimeError(RuntimeError):
    """The local runtime could not be started; the message says why."""


@dataclass
class LocalRuntime:
    url: str
    admin_key: str
    process: subprocess.Popen[str]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_local_runtime(
    data_file: Path | None = None, startup_timeout: float = 60.0, test_clock: bool = False
) -> LocalRuntime:
    tsx = REPO_ROOT / "node_modules" / ".bin" / ("tsx.cmd" if os.name == "nt" else "tsx")
    if shutil.which("node") is None or not tsx.exists():
        raise LocalRuntimeError(
            "No CONVEX_URL is set and the local Convex runtime is not installed "
            "(run `make setup`, or set CONVEX_URL and CONVEX_DEPLOY_KEY)."
        )
    admin_key = secrets.token_urlsafe(24)
    command = [str(tsx), str(REPO_ROOT / "local_convex" / "server.ts"), "--port", "0"]
    if data_file is not None:
        data_file.parent.mkdir(parents=True, exist_ok=True)
        command += ["--data", str(data_file)]
    if test_clock:
        command.append("--test-clock")
    env = {**os.environ, "CONVEX_DEPLOY_KEY": admin_key}
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=sys.stderr, text=True
    )
    ready: dict[str, str] = {}

    def read_ready_line() -> None:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line:
            ready.update(json.loads(line))

    reader = threading.Thread(target=read_ready_line, daemon=True)
    reader.start()
    reader.join(startup_timeout)
    if "url" not in ready:
        process.kill()
        process.wait()
        raise LocalRuntimeError("The local Convex runtime did not start; see its output above.")
    return LocalRuntime(url=ready["url"], admin_key=admin_key, process=process)
