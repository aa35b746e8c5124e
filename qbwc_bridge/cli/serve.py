"""`qbwc-bridge serve`: SOAP for QBWC at /qbwc, GET /healthz, /metrics and /ops when
turned on, with waitress."""

from __future__ import annotations

import argparse
from pathlib import Path

from qbwc_bridge import __version__
from qbwc_bridge.auth import check_password_hash
from qbwc_bridge.cli.common import EXIT_OK, Commands
from qbwc_bridge.config import ConfigError, Settings
from qbwc_bridge.logging import get_logger, register_secret

log = get_logger("qbwc_bridge.cli")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from qbwc_bridge.local_runtime import LocalRuntimeError, start_local_runtime
    from qbwc_bridge.server import build_bridge, server_url

    settings.require_credentials()
    if settings.qbwc_password_hash:
        try:
            check_password_hash(settings.qbwc_password_hash)
        except ValueError as error:
            raise ConfigError(str(error)) from None
    runtime = None
    if settings.convex_url is None:
        try:
            runtime = start_local_runtime(data_file=args.data)
        except LocalRuntimeError as error:
            raise ConfigError(str(error)) from None
        url, key = runtime.url, runtime.admin_key
        register_secret(key)
        log.warning(
            "LOCAL_CONVEX_RUNTIME",
            message="No CONVEX_URL: using the local Convex runtime. State is LOCAL to this machine "
            "(not your real Convex deployment).",
            url=url,
            data_file=str(args.data) if args.data else "in memory",
        )
        if args.sample_data:
            from qbwc_bridge.sample_data import seed

            log.info("sample_data_loaded", **seed(url, key))
    else:
        url, key = settings.require_convex()
    try:
        bridge = build_bridge(settings, url, key, args.host or settings.host, _port(args, settings))
        server = bridge.server
        log.info(
            "serving",
            url=f"{server_url(server)}/qbwc",
            wsdl=f"{server_url(server)}/qbwc?wsdl",
            metrics="on" if settings.metrics_token else "off",
            ops=f"{server_url(server)}/ops" if settings.ops_enabled else "off",
            version=__version__,
        )
        if settings.ops_password and not settings.ops_password_hash:
            log.warning(
                "ops_plain_password",
                message="OPS_PASSWORD is for development; set OPS_PASSWORD_HASH "
                "(qbwc-bridge hash-password) in production.",
            )
        try:
            server.run()
        except KeyboardInterrupt:
            log.info("stopping")
        finally:
            server.close()
    finally:
        if runtime is not None:
            runtime.stop()
    return EXIT_OK


def _port(args: argparse.Namespace, settings: Settings) -> int:
    return int(args.port) if args.port is not None else settings.port


def register(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="serve SOAP for QBWC at /qbwc and GET /healthz")
    serve.add_argument("--host", help="interface to listen on (default $HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default $PORT or 8080; 0 = any free port)")
    serve.add_argument("--data", type=Path, help="local runtime only: keep its state in this file")
    serve.add_argument(
        "--sample-data", action="store_true", help="local runtime only: load sample data"
    )
    serve.set_defaults(handler=cmd_serve)
