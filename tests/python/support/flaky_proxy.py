"""An HTTP proxy in front of the local Convex runtime that loses replies on purpose.

The fault a transport retry exists for: Convex ran (and committed) the call,
but its answer never reached the bridge (a cut connection, a proxy timeout).
`lose_reply_once("qbSessions:authenticate")` forwards the next call to that
function, lets Convex commit it, then closes the connection without a byte
of answer; the bridge's gateway sees a dropped connection and retries. Every
other request passes through unchanged.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FlakyProxy:
    url: str
    target: str
    lost: list[str] = field(default_factory=list)  # function paths whose reply was dropped
    _to_lose: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def lose_reply_once(self, function_path: str) -> None:
        with self._lock:
            self._to_lose.append(function_path)

    def _should_lose(self, function_path: str) -> bool:
        with self._lock:
            if function_path in self._to_lose:
                self._to_lose.remove(function_path)
                self.lost.append(function_path)
                return True
            return False


@contextmanager
def flaky_proxy(target: str) -> Iterator[FlakyProxy]:
    proxy: FlakyProxy

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                function_path = str(json.loads(body).get("path", ""))
            except ValueError:
                function_path = ""
            request = urllib.request.Request(
                target + self.path,
                data=body,
                headers={k: v for k, v in self.headers.items() if k.lower() != "host"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, payload = response.status, response.read()
                    content_type = response.headers.get("Content-Type", "application/json")
            except urllib.error.HTTPError as error:
                status, payload = error.code, error.read()
                content_type = error.headers.get("Content-Type", "application/json")
            if proxy._should_lose(function_path):
                # Convex has committed; the answer dies on the way back.
                self.close_connection = True
                return
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host, port = server.server_address[:2]
    proxy = FlakyProxy(url=f"http://{host!s}:{port}", target=target)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
