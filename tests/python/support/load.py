"""Load on a bridge: many clients, each from its own loopback address, and a
bridge process whose every log line is kept.

Linux routes all of 127.0.0.0/8 to the loopback interface, so a client that
binds its socket to 127.0.3.7 reaches the bridge with REMOTE_ADDR 127.0.3.7:
the login throttle sees many clients, as it would on the internet. Used by
the log and throttle tests and by `make soak` (tests/soak/soak.py).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .qbwc_simulator import SoapClient, SoapFault

CLI = str(Path(sys.executable).parent / "qbwc-bridge")
# 127.0.0.1 is left to the real Web Connector; the attacker and the crowd use others.
ATTACKER_ADDRESS = "127.0.0.2"


def crowd_address(n: int) -> str:
    return f"127.0.{1 + n // 250}.{1 + n % 250}"


def http_request(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    source: str | None = None,
    timeout: float = 30.0,
) -> tuple[int, bytes]:
    """One request on a new connection (from `source`); the status and the body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1",
        parts.port,
        timeout=timeout,
        source_address=(source, 0) if source else None,
    )
    try:
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class BoundSoapClient(SoapClient):
    """QBWC's envelopes from a chosen source address; `status` is the last HTTP status."""

    def __init__(self, url: str, source: str | None, timeout: float = 30.0) -> None:
        super().__init__(url, timeout)
        self.source = source
        self.status = 0

    def post(self, url: str, payload: bytes, headers: dict[str, str]) -> bytes:
        self.status, body = http_request("POST", url, payload, headers, self.source, self.timeout)
        if self.status != 200:
            raise SoapFault(body.decode("utf-8", "replace"))
        return body


@dataclass
class Tally:
    """What the crowd saw: requests by action and HTTP status, and every latency."""

    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, action: str, status: int, seconds: float) -> None:
        with self._lock:
            self.statuses[(action, status)] += 1
            self.latencies.append(seconds)

    def failed(self, action: str, error: Exception) -> None:
        with self._lock:
            self.errors[f"{action}: {type(error).__name__}"] += 1

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def count(self, predicate: Callable[[int], bool]) -> int:
        return sum(n for (_, status), n in self.statuses.items() if predicate(status))

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0.0


def random_ticket() -> str:
    return secrets.token_urlsafe(32)


# -- what one client of the crowd does ----------------------------------------------------


def _healthz(url: str, source: str, _user: str, _password: str) -> int:
    status, _ = http_request("GET", f"{url}/healthz", source=source, timeout=30)
    return status


def _soap(source: str, url: str, method: str, **params: Any) -> tuple[int, Any]:
    client = BoundSoapClient(f"{url}/qbwc", source)
    try:
        return 200, client.call(method, **params)
    except SoapFault:
        return client.status, None


def _wrong_password(url: str, source: str, user: str, _password: str) -> int:
    return _soap(source, url, "authenticate", strUserName=user, strPassword=random_ticket())[0]


def _right_password(url: str, source: str, user: str, password: str) -> int:
    status, answer = _soap(source, url, "authenticate", strUserName=user, strPassword=password)
    if status == 200 and answer and answer[0]:
        # A session this client opened must not keep the real Web Connector waiting.
        status = _soap(source, url, "closeConnection", ticket=answer[0])[0]
    return status


def _bad_ticket(url: str, source: str, _user: str, _password: str) -> int:
    method, params = random.choice(
        [
            (
                "sendRequestXML",
                {
                    "strHCPResponse": "",
                    "strCompanyFileName": "",
                    "qbXMLCountry": "US",
                    "qbXMLMajorVers": 13,
                    "qbXMLMinorVers": 0,
                },
            ),
            ("receiveResponseXML", {"response": "<QBXML/>", "hresult": "", "message": ""}),
            ("getLastError", {}),
        ]
    )
    return _soap(source, url, method, ticket=random_ticket(), **params)[0]


def _truncated_body(url: str, source: str, user: str, password: str) -> int:
    """A body cut off in the middle, with the password and a ticket in it."""
    body = (
        '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<soap:Body><authenticate xmlns="http://developer.intuit.com/"><strUserName>{user}</strUserName>'
        f"<strPassword>{password}</strPassword><ticket>{random_ticket()}</ticket><x a='"
    ).encode()
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    return http_request("POST", f"{url}/qbwc", body, headers, source)[0]


Action = Callable[[str, str, str, str], int]
ACTIONS: dict[str, Action] = {
    "healthz": _healthz,
    "wrong_password": _wrong_password,
    "right_password": _right_password,
    "bad_ticket": _bad_ticket,
    "truncated_body": _truncated_body,
}


def run_crowd(
    url: str,
    clients: int,
    seconds: float,
    user: str,
    password: str,
    weights: dict[str, int],
    tally: Tally,
) -> None:
    """`clients` threads, each from its own address, doing weighted random actions
    back to back for `seconds`. Returns when they are all done."""
    names = list(weights)
    chances = [weights[name] for name in names]
    ends = time.monotonic() + seconds

    def client(n: int) -> None:
        source = crowd_address(n)
        pick = random.Random(n)
        while time.monotonic() < ends:
            action = pick.choices(names, chances)[0]
            started = time.monotonic()
            try:
                status = ACTIONS[action](url, source, user, password)
            except OSError as error:
                tally.failed(action, error)
                continue
            tally.add(action, status, time.monotonic() - started)

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 120)


# -- the bridge as its own process ------------------------------------------------------------


@dataclass
class BridgeProcess:
    """`qbwc-bridge serve` with its stderr kept line by line."""

    process: subprocess.Popen[str]
    url: str
    lines: list[str]
    _reader: threading.Thread

    @classmethod
    def start(cls, env: dict[str, str], timeout: float = 60.0) -> BridgeProcess:
        process = subprocess.Popen(
            [CLI, "--env-file", "/nonexistent", "serve", "--host", "127.0.0.1", "--port", "0"],
            env={**os.environ, "LOG_FORMAT": "json", **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        lines: list[str] = []
        found: list[str] = []
        ready = threading.Event()

        def read() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                lines.append(line)
                if not ready.is_set() and '"serving"' in line:
                    found.append(json.loads(line)["url"].removesuffix("/qbwc"))
                    ready.set()
            ready.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        if not ready.wait(timeout) or not found:
            process.kill()
            raise RuntimeError("bridge did not start:\n" + "".join(lines[-20:]))
        return cls(process, found[0], lines, reader)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            code = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait()
        self._reader.join(10)
        return code

    def records(self) -> list[dict[str, Any]]:
        """Every line as JSON (raises on the first that is not)."""
        return [json.loads(line) for line in self.lines]

    def non_json_lines(self) -> list[str]:
        bad = []
        for line in self.lines:
            try:
                if not isinstance(json.loads(line), dict):
                    bad.append(line)
            except ValueError:
                bad.append(line)
        return bad


def grep(lines: Sequence[str], needles: Sequence[str]) -> list[str]:
    """The lines that contain any of `needles`."""
    return [line for line in lines if any(needle in line for needle in needles)]
