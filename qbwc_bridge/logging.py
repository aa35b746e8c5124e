"""Logging: JSON lines for machines, a console renderer for people, one writer.

Everything that logs, structlog and the stdlib loggers of spyne, waitress and
urllib3 alike, ends in ONE handler on the root logger. The handler's lock
makes each line one write, so lines never interleave, and structlog's
ProcessorFormatter renders every record the same way: under
LOG_FORMAT=json each line is one JSON object, whoever logged it. The handler
looks up `sys.stderr` when it writes, not when it is configured, so a
replaced (or closed and restored) stderr, as in tests, is followed.

Secrets never reach a log line: `redact_secrets` drops the values of keys
that name a ticket, password, key or token, and masks passwords, tickets,
deploy keys and bearer tokens wherever they appear inside any value (a
library's message, an exception, a body excerpt). Messages of other
libraries are cut to a short excerpt (spyne quotes whole request bodies),
and waitress' "Task queue depth" warning becomes one structured,
rate-limited `waitress_queue_depth` line.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, MutableMapping
from typing import TYPE_CHECKING, Any, TextIO

import structlog

if TYPE_CHECKING:
    from qbwc_bridge.config import Settings

_SECRET_MARKERS = ("ticket", "password", "deploy_key", "admin_key", "token", "secret")
REDACTED = "[redacted]"

# (pattern, replacement) applied to every string in a log line, in order.
_SECRET_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # SOAP elements that carry a password or a ticket; the closing tag may be cut off.
    (
        re.compile(r"(<(?:[\w.-]+:)?(?:strPassword|ticket)\b[^>]*>)[^<]*", re.IGNORECASE),
        r"\1[redacted]",
    ),
    # The same, escaped inside another document.
    (
        re.compile(
            r"(&lt;(?:[\w.-]+:)?(?:strPassword|ticket)\b(?:(?!&gt;).)*&gt;)(?:(?!&lt;).)*",
            re.IGNORECASE,
        ),
        r"\1[redacted]",
    ),
    # Convex deploy keys: "prod:name-123|<secret>", "dev:...", "preview:team:project|...".
    (
        re.compile(r"\b(?:prod|dev|preview|project)(?::[\w.-]+)+\|[A-Za-z0-9+/=_-]{8,}"),
        "[deploy-key]",
    ),
    (
        re.compile(r"(authorization[\"']?\s*[:=]\s*[\"']?)[^\"'\r\n,}]+", re.IGNORECASE),
        r"\1[redacted]",
    ),
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1 [redacted]"),
    (
        re.compile(
            r"((?:password|passwd|secret|token|deploy_key|admin_key)[\"']?\s*[:=]\s*[\"']?)[^\"'\s,&<}]+",
            re.IGNORECASE,
        ),
        r"\1[redacted]",
    ),
    # Tickets: 32 random bytes, urlsafe base64 = exactly 43 characters.
    (re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])"), "[ticket]"),
)
# Known secret values (the deploy key, a development password, the metrics token).
_known_secrets: frozenset[str] = frozenset()
_secrets_lock = threading.Lock()
# Shortest value worth masking literally: shorter ones would mask ordinary words.
MIN_SECRET_CHARS = 6
# Other libraries' messages are cut to this many characters (after masking).
EXCERPT_CHARS = 300
# Longest argument of another library's message formatted at all; far above EXCERPT_CHARS,
# so a secret cut at this boundary lies beyond the excerpt.
_ARG_CHARS = 2000
QUEUE_DEPTH_INTERVAL_SECONDS = 30.0


def known_secrets(settings: Settings) -> tuple[str | None, ...]:
    """The secret values among the settings, to mask literally wherever they turn up."""
    return (
        settings.convex_deploy_key,
        settings.qbwc_password,
        settings.metrics_token,
        settings.ops_password,
    )


def register_secret(value: str | None) -> None:
    """Masks this exact value in every later log line (known keys and passwords)."""
    global _known_secrets
    if value and len(value) >= MIN_SECRET_CHARS:
        with _secrets_lock:
            _known_secrets = _known_secrets | {value}


def redact_text(text: str) -> str:
    for secret in _known_secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth >= 4:
        return value
    if isinstance(value, dict):
        return {key: _redact_value(item, depth + 1) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item, depth + 1) for item in value]
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Replaces secret-looking values so a careless `log.info(ticket=...)` is harmless,
    and masks secrets inside any other value."""
    for key in list(event_dict):
        lowered = key.lower()
        if any(marker in lowered for marker in _SECRET_MARKERS) and event_dict[key]:
            event_dict[key] = REDACTED
        elif not key.startswith("_"):
            event_dict[key] = _redact_value(event_dict[key])
    return event_dict


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A short, masked piece of `text` (mask first, so no secret is cut in half)."""
    text = redact_text(text[: _ARG_CHARS * 4])
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} chars)"


def _foreign_record(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A stdlib record (spyne, waitress, urllib3): named like ours, message cut short."""
    record = event_dict.get("_record")
    if record is not None:
        event_dict.setdefault("module", record.name)
    event_dict["event"] = excerpt(str(event_dict.get("event", "")))
    return event_dict


def _clip(value: Any) -> Any:
    if isinstance(value, str | bytes) and len(value) > _ARG_CHARS:
        return value[:_ARG_CHARS]
    return value


class _ClipForeignArguments(logging.Filter):
    """Cuts other libraries' message arguments before they are formatted: spyne quotes
    whole request bodies (up to megabytes) in its error messages."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, dict) and record.args:
            if isinstance(record.args, tuple):
                record.args = tuple(_clip(arg) for arg in record.args)
            elif isinstance(record.args, dict):
                record.args = {key: _clip(arg) for key, arg in record.args.items()}
        return True


class _QueueDepthFolder(logging.Filter):
    """waitress warns "Task queue depth is N" for each request that waits for a thread:
    thousands of plain lines under load. This lets one structured warning through per
    interval, with the deepest queue seen and how many warnings it stands for."""

    def __init__(
        self,
        interval: float = QUEUE_DEPTH_INTERVAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._last: float | None = None
        self._deepest = 0
        self._folded = 0

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        depth = args[0] if args and isinstance(args[0], int) else 0
        with self._lock:
            now = self.clock()
            self._deepest = max(self._deepest, depth)
            self._folded += 1
            if self._last is not None and now - self._last < self.interval:
                return False
            record.msg, record.args = "waitress_queue_depth", ()
            record.queue_depth, record.warnings = self._deepest, self._folded
            self._last, self._deepest, self._folded = now, 0, 0
        return True


class _StderrHandler(logging.StreamHandler[TextIO]):
    """The one writer: `logging.Handler` holds its lock around each emit, and the
    stream is whatever `sys.stderr` is at that moment."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        """Ignored: the stream is looked up at each write."""


# Loggers of other libraries and the least level they log at, whatever LOG_LEVEL says:
# spyne's debug output holds whole documents; urllib3's is one line per request.
_QUIET = {"spyne": logging.WARNING, "urllib3": logging.WARNING}


def configure_logging(
    log_format: str = "json", level: str = "info", secrets: Iterable[str | None] = ()
) -> None:
    """Idempotent; call once at start-up (CLI) or in tests. `secrets` are values to mask."""
    for secret in secrets:
        register_secret(secret)
    numeric = logging.getLevelNamesMapping()[level.upper()]
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            timestamper,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.processors.add_log_level,
            timestamper,
            structlog.stdlib.ExtraAdder(allow=["queue_depth", "warnings"]),
            _foreign_record,
        ],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become text before the masking, so a secret in one is masked too.
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
    )
    handler = _StderrHandler()
    handler.setFormatter(formatter)
    handler.addFilter(_ClipForeignArguments())
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name, least in _QUIET.items():
        logging.getLogger(name).setLevel(max(least, numeric))
    queue = logging.getLogger("waitress.queue")
    for old_filter in [f for f in queue.filters if isinstance(f, _QueueDepthFolder)]:
        queue.removeFilter(old_filter)
    queue.addFilter(_QueueDepthFolder())
    logging.captureWarnings(True)


def get_logger(name: str) -> Any:
    """A lazy logger; `module` on every line says where it came from."""
    return structlog.get_logger(module=name)
