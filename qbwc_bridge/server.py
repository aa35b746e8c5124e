"""HTTP surface: SOAP at /qbwc (WSDL at /qbwc?wsdl) and GET /healthz, served by waitress."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from qbwc_bridge.convex_gateway import ConvexCallError, ConvexGateway, ConvexUnavailable
from qbwc_bridge.logging import get_logger
from qbwc_bridge.soap import build_soap_app
from qbwc_bridge.sync import SyncService

log = get_logger(__name__)

SOAP_PATH = "/qbwc"
StartResponse = Callable[..., Any]


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> Iterable[bytes]:
    payload = json.dumps(body).encode("utf-8")
    start_response(
        status,
        [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
    )
    return [payload]


def build_wsgi_app(sync: SyncService, gateway: ConvexGateway) -> Callable[..., Iterable[bytes]]:
    soap = build_soap_app(sync)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz" and environ.get("REQUEST_METHOD") == "GET":
            return healthz(start_response)
        if path == "/" and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            # The .qwc's default AppSupport URL is the host's root: give it a page.
            body = f"qbwc-bridge: QuickBooks Web Connector endpoint at {SOAP_PATH}\n".encode()
            start_response(
                "200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
            )
            return [body]
        if path in (SOAP_PATH, SOAP_PATH + "/"):
            answer: Iterable[bytes] = soap(environ, start_response)
            return answer
        return _json(
            start_response,
            "404 Not Found",
            {"error": f"no route {path}; QBWC talks to {SOAP_PATH}"},
        )

    def healthz(start_response: StartResponse) -> Iterable[bytes]:
        # A bridge that cannot reach Convex cannot sync: report it as unhealthy.
        try:
            health = gateway.health()
        except (ConvexUnavailable, ConvexCallError) as error:
            log.warning("healthz_convex_down", error=str(error))
            return _json(
                start_response, "503 Service Unavailable", {"ok": False, "convex": "unreachable"}
            )
        return _json(
            start_response,
            "200 OK",
            {
                "ok": True,
                "convex": "ok",
                "serverTime": health.server_time,
                "queue": health.counts,
            },
        )

    return app


def create_server(app: Callable[..., Iterable[bytes]], host: str, port: int) -> Any:
    """A waitress server bound now (port 0 = a free one); call `.run()` to serve, `.close()` to stop."""
    from waitress.server import create_server as waitress_server

    return waitress_server(app, host=host, port=port, threads=8, ident="qbwc-bridge")


def stop_server(server: Any) -> None:
    """Stops a server whose `run()` loop is in another thread, without racing it.

    In-flight requests finish first; then the loop thread itself closes every
    socket (a thunk through waitress's trigger), so no task thread writes to a
    trigger that is already closed.
    """
    from waitress import wasyncore

    server.task_dispatcher.shutdown()
    server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))


def server_url(server: Any) -> str:
    host, port = server.socket.getsockname()[:2]
    return f"http://{host}:{port}"
