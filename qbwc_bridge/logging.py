"""structlog setup: JSON lines for machines, a console renderer for people.

Secrets never reach a log line: a processor drops the values of any key that
names a ticket, password, key or token, wherever it comes from.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_MARKERS = ("ticket", "password", "deploy_key", "admin_key", "token", "secret")


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replaces secret-looking values so a careless `log.info(ticket=...)` is harmless."""
    for key in list(event_dict):
        lowered = key.lower()
        if any(marker in lowered for marker in _SECRET_MARKERS) and event_dict[key]:
            event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(log_format: str = "json", level: str = "info") -> None:
    """Idempotent; call once at start-up (CLI) or in tests."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> Any:
    """A lazy logger; `module` on every line says where it came from."""
    return structlog.get_logger(module=name)
