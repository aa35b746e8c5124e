"""HTTP surface, served by waitress: SOAP at /qbwc (WSDL at /qbwc?wsdl),
GET /healthz, GET /metrics when METRICS_TOKEN is set, and the operator page
under /ops when OPS_PASSWORD_HASH is set (qbwc_bridge/ops).

Threads: waitress serves each request on one of SERVER_THREADS threads.
Convex calls may hold at most CONVEX_SLOTS of them at once (the gateway
refuses more, and the SOAP call answers "try later"), so serverVersion,
clientVersion, the WSDL, /healthz and /metrics, which never wait on Convex,
always find a free thread, even while Convex does not answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from qbwc_bridge import metrics as metrics_module
from qbwc_bridge.auth import LoginThrottle
from qbwc_bridge.cached import CachedProbe
from qbwc_bridge.config import Settings
from qbwc_bridge.convex_gateway import ConvexCallError, ConvexGateway, ConvexUnavailable
from qbwc_bridge.logging import get_logger
from qbwc_bridge.metrics import BridgeMetrics
from qbwc_bridge.ops import build_ops_app
from qbwc_bridge.soap import build_soap_app
from qbwc_bridge.sync import SyncService
from qbwc_bridge.wsgi import StartResponse, respond

log = get_logger(__name__)

SOAP_PATH = "/qbwc"
OPS_PATH = "/ops"
SERVER_THREADS = 12
CONVEX_SLOTS = 8
# /healthz asks Convex at most once per this many seconds, and waits at most HEALTH_TIMEOUT.
HEALTH_TTL_SECONDS = 5.0
HEALTH_TIMEOUT_SECONDS = 2.0


def _json(start_response: StartResponse, status: str, body: dict[str, Any]) -> Iterable[bytes]:
    payload = json.dumps(body).encode("utf-8")
    return respond(
        start_response, status, payload, "application/json", ("Cache-Control", "no-store")
    )


def convex_health_probe(gateway: ConvexGateway) -> CachedProbe[bool]:
    """Whether Convex answers `functions:ping`, asked by one thread at a time, cached."""

    def probe() -> bool:
        try:
            gateway.ping(timeout=HEALTH_TIMEOUT_SECONDS)
        except (ConvexUnavailable, ConvexCallError) as error:
            log.warning("healthz_convex_down", error=str(error))
            return False
        return True

    return CachedProbe(probe, HEALTH_TTL_SECONDS)


def build_wsgi_app(
    sync: SyncService, gateway: ConvexGateway, metrics: BridgeMetrics | None = None
) -> Callable[..., Iterable[bytes]]:
    soap = build_soap_app(sync, metrics)
    health = convex_health_probe(gateway)
    token = sync.settings.metrics_token
    # None unless OPS_PASSWORD_HASH is set: then /ops answers 404 like any unknown path.
    ops = build_ops_app(sync.settings, gateway)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD")
        if path == "/healthz" and method == "GET":
            return healthz(start_response)
        if path == "/metrics" and method == "GET" and token and metrics is not None:
            return scrape(environ, start_response, token, metrics)
        if path == "/" and method in ("GET", "HEAD"):
            # The .qwc's default AppSupport URL is the host's root: give it a page.
            body = f"qbwc-bridge: QuickBooks Web Connector endpoint at {SOAP_PATH}\n".encode()
            return respond(start_response, "200 OK", body)
        if path in (SOAP_PATH, SOAP_PATH + "/"):
            answer: Iterable[bytes] = soap(environ, start_response)
            return answer
        if ops is not None and (path == OPS_PATH or path.startswith(OPS_PATH + "/")):
            return ops(environ, start_response)
        return _json(
            start_response,
            "404 Not Found",
            {"error": f"no route {path[:100]}; QBWC talks to {SOAP_PATH}"},
        )

    def healthz(start_response: StartResponse) -> Iterable[bytes]:
        # Up or not, nothing more: queue figures are for /metrics, behind its token.
        probed = health.get()
        if probed is None:
            # The first probe is still running in another thread: not known yet.
            return _json(
                start_response, "503 Service Unavailable", {"ok": False, "convex": "unknown"}
            )
        if not probed.value:
            return _json(
                start_response, "503 Service Unavailable", {"ok": False, "convex": "unreachable"}
            )
        return _json(start_response, "200 OK", {"ok": True, "convex": "ok"})

    return app


def scrape(
    environ: dict[str, Any], start_response: StartResponse, token: str, metrics: BridgeMetrics
) -> list[bytes]:
    if not metrics_module.authorized(environ.get("HTTP_AUTHORIZATION"), token):
        body = b"Authorization: Bearer <METRICS_TOKEN> required\n"
        header = ("WWW-Authenticate", 'Bearer realm="metrics"')
        return respond(start_response, "401 Unauthorized", body, "text/plain", header)
    return respond(start_response, "200 OK", metrics.render(), metrics_module.CONTENT_TYPE)


def create_server(
    app: Callable[..., Iterable[bytes]], host: str, port: int, max_body_bytes: int | None = None
) -> Any:
    """A waitress server bound now (port 0 = a free one); call `.run()` to serve, `.close()` to stop.

    `max_body_bytes` makes waitress refuse (413) a larger body from its
    Content-Length, before reading it; the SOAP gate applies the per-method limits.
    """
    from waitress.server import create_server as waitress_server

    options: dict[str, Any] = {}
    if max_body_bytes is not None:
        options["max_request_body_size"] = max_body_bytes
    return waitress_server(
        app,
        host=host,
        port=port,
        threads=SERVER_THREADS,
        ident="qbwc-bridge",
        # Idle connections are dropped sooner than waitress' 120 s: QBWC's calls are quick.
        channel_timeout=30,
        # X-Forwarded-For reaches the app, which believes it only from TRUSTED_PROXIES
        # (client_address); waitress would drop it, as it trusts no proxy itself.
        clear_untrusted_proxy_headers=False,
        **options,
    )


@dataclass
class Bridge:
    """A bridge wired as `serve` runs it; `server.run()` serves."""

    server: Any
    sync: SyncService
    gateway: ConvexGateway
    metrics: BridgeMetrics


def build_bridge(
    settings: Settings,
    url: str,
    deploy_key: str,
    host: str,
    port: int,
    *,
    throttle: LoginThrottle | None = None,
) -> Bridge:
    """Gateway (bounded, observed), sync step, WSGI app and a bound waitress server."""
    metrics = BridgeMetrics()
    gateway = ConvexGateway.from_settings(
        settings, url, deploy_key, max_in_flight=CONVEX_SLOTS, observer=metrics.observe_convex
    )
    if settings.metrics_token:
        # Only the figures the scrape shows: one held/dead event is enough to ask for.
        metrics.watch_queue(lambda: gateway.queue_status(dead_limit=1))
    sync = SyncService(settings, gateway, throttle or LoginThrottle())
    app = build_wsgi_app(sync, gateway, metrics)
    server = create_server(app, host, port, max_body_bytes=settings.max_response_body_bytes)
    return Bridge(server=server, sync=sync, gateway=gateway, metrics=metrics)


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
