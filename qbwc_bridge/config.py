"""Settings from environment variables (and a `.env` file), validated once.

Everything the daemon and the CLI need is read here, so a bad value is
reported as one clear line before anything starts, never as a traceback from
deep inside a SOAP call.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dotenv import dotenv_values

from qbwc_bridge.auth import check_password_hash
from qbwc_bridge.versions import QbxmlVersion, parse_dotted

DEFAULT_QBXML_VERSION = QbxmlVersion(13, 0)
# qbXML versions QuickBooks Desktop has shipped; anything else is a typo.
QBXML_VERSIONS = (QbxmlVersion(1, 0), QbxmlVersion(16, 0))
LOG_FORMATS = ("json", "console")
LOG_LEVELS = ("debug", "info", "warning", "error")
KIB, MIB = 1024, 1024 * 1024
# QBWC gives up on one SOAP reply after 100 s (.NET's SoapHttpClientProtocol default timeout),
# so all Convex work of one SOAP call, retries included, must end well before that: the
# budget is capped at 80 s, leaving room for rendering, the password hash and the proxy.
# The default, 30 s, is two read timeouts: a Convex function answers in milliseconds, so
# one that has not answered twice in a row will not answer the third time either; QBWC's
# next run (minutes later) is the better retry, and the thread is free for others sooner.
MAX_CONVEX_BUDGET_SECONDS = 80
# A METRICS_TOKEN shorter than this is too easy to guess from outside.
MIN_METRICS_TOKEN_CHARS = 16
# What `hash-password` demands of a password, asked of a plain OPS_PASSWORD too.
MIN_PASSWORD_CHARS = 8


class ConfigError(ValueError):
    """A missing or invalid setting; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    convex_url: str | None
    convex_deploy_key: str | None
    qbwc_username: str | None
    qbwc_password_hash: str | None
    qbwc_password: str | None
    qbxml_version: QbxmlVersion
    batch_size: int
    session_ttl_seconds: int
    min_client_version: tuple[int, ...]
    company_file: str
    postpone_seconds: int
    # Pull QuickBooks' lists again when older than this (0: only on `refresh-lists`).
    list_max_age_hours: int
    # Take a reconciliation snapshot by itself this often (0: only on `reconcile`).
    reconcile_every_hours: int
    log_format: str
    log_level: str
    host: str
    port: int
    # None: the bridge machine's local zone.
    qb_timezone: tzinfo | None
    convex_connect_timeout_seconds: int = 5
    convex_read_timeout_seconds: int = 15
    convex_retry_budget_seconds: int = 30
    max_response_body_bytes: int = 10 * MIB
    max_soap_body_bytes: int = 128 * KIB
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    metrics_token: str | None = None
    # The operator page (/ops): off unless one of them is set; the plain one is for development.
    ops_password_hash: str | None = None
    ops_password: str | None = None

    @property
    def ops_enabled(self) -> bool:
        return bool(self.ops_password_hash or self.ops_password)

    @property
    def has_credentials(self) -> bool:
        return bool(self.qbwc_username) and bool(self.qbwc_password_hash or self.qbwc_password)

    def require_convex(self) -> tuple[str, str]:
        """URL and deploy key, or a ConfigError saying which is missing."""
        if not self.convex_url:
            raise ConfigError("CONVEX_URL is not set (the Convex deployment URL).")
        if not self.convex_deploy_key:
            raise ConfigError("CONVEX_DEPLOY_KEY is not set (needed to call the sync queue).")
        return self.convex_url, self.convex_deploy_key

    def require_credentials(self) -> None:
        if not self.qbwc_username:
            raise ConfigError("QBWC_USERNAME is not set (the user name in the .qwc file).")
        if not (self.qbwc_password_hash or self.qbwc_password):
            raise ConfigError(
                "Set QBWC_PASSWORD_HASH (from `qbwc-bridge hash-password`) or, in development, "
                "QBWC_PASSWORD."
            )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}.") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}.")
    return value


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or default
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}.")
    return value


def _qbxml_version(env: Mapping[str, str]) -> QbxmlVersion:
    raw = env.get("QBXML_VERSION", "").strip()
    if raw == "":
        return DEFAULT_QBXML_VERSION
    try:
        version = QbxmlVersion.parse(raw)
    except ValueError:
        raise ConfigError(f"QBXML_VERSION must look like 13.0, got {raw!r}.") from None
    low, high = QBXML_VERSIONS
    if not low <= version <= high:
        raise ConfigError(f"QBXML_VERSION must be between {low} and {high}, got {raw!r}.")
    return version


def _client_version(env: Mapping[str, str]) -> tuple[int, ...]:
    raw = env.get("QBWC_MIN_CLIENT_VERSION", "").strip() or "2.0.0.0"
    try:
        return parse_dotted(raw)
    except ValueError:
        raise ConfigError(
            f"QBWC_MIN_CLIENT_VERSION must be a version like 2.3.0.215, got {raw[:40]!r}."
        ) from None


def _timezone(env: Mapping[str, str]) -> tzinfo | None:
    raw = env.get("QB_TIMEZONE", "").strip()
    if raw == "":
        return None
    try:
        return ZoneInfo(raw)
    # OSError: a folder of the zone database ("America"), a name too long for a file.
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ConfigError(
            f"QB_TIMEZONE must be an IANA time zone such as America/Chicago, got {raw[:60]!r}."
        ) from None


def _url(env: Mapping[str, str]) -> str | None:
    raw = env.get("CONVEX_URL", "").strip()
    if raw == "":
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"CONVEX_URL must be an http(s) URL, got {raw!r}.")
    return raw.rstrip("/")


def _trusted_proxies(env: Mapping[str, str]) -> tuple[IPv4Network | IPv6Network, ...]:
    raw = env.get("TRUSTED_PROXIES", "").strip()
    networks = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                "TRUSTED_PROXIES must be IP addresses or networks separated by commas "
                f"(e.g. 127.0.0.1, 10.0.0.0/8), got {item[:60]!r}."
            ) from None
    return tuple(networks)


def _metrics_token(env: Mapping[str, str]) -> str | None:
    raw = env.get("METRICS_TOKEN", "").strip()
    if raw == "":
        return None
    if len(raw) < MIN_METRICS_TOKEN_CHARS or not raw.isprintable() or " " in raw:
        raise ConfigError(
            f"METRICS_TOKEN must be at least {MIN_METRICS_TOKEN_CHARS} printable characters "
            "without spaces (e.g. from `openssl rand -hex 32`)."
        )
    return raw


def _ops_password(env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(OPS_PASSWORD_HASH, OPS_PASSWORD): the hash checked now, so a typo stops start-up."""
    encoded = env.get("OPS_PASSWORD_HASH", "").strip() or None
    if encoded is not None:
        try:
            check_password_hash(encoded, "OPS_PASSWORD_HASH")
        except ValueError as error:
            raise ConfigError(str(error)) from None
    plain = env.get("OPS_PASSWORD") or None
    if plain is not None and (len(plain) < MIN_PASSWORD_CHARS or not plain.isprintable()):
        # The page is reachable wherever /qbwc is: even a development password must not be trivial.
        raise ConfigError(
            f"OPS_PASSWORD must be at least {MIN_PASSWORD_CHARS} printable characters "
            "(production: set OPS_PASSWORD_HASH from `qbwc-bridge hash-password` instead)."
        )
    return encoded, plain


def _body_limits(env: Mapping[str, str]) -> tuple[int, int]:
    """(receiveResponseXML, every other SOAP call) body limits in bytes.

    receiveResponseXML carries QuickBooks' whole answer, escaped inside the
    SOAP body (list queries can be megabytes). Every other call is small: the
    largest is the first sendRequestXML with QuickBooks' host, company and
    preferences answers, a few KiB; 128 KiB is ten times that, and keeps what
    anyone can make the bridge parse without a password small.
    """
    response = _int(env, "SOAP_MAX_RESPONSE_BYTES", 10 * MIB, 1 * MIB, 100 * MIB)
    other = _int(env, "SOAP_MAX_BODY_BYTES", 128 * KIB, 16 * KIB, 4 * MIB)
    if other > response:
        raise ConfigError(
            f"SOAP_MAX_BODY_BYTES ({other}) must not exceed SOAP_MAX_RESPONSE_BYTES ({response})."
        )
    return response, other


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> Settings:
    """Reads settings; real environment variables win over the `.env` file."""
    env: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        env.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    env.update(os.environ if environ is None else environ)
    default_format = "console" if sys.stderr.isatty() else "json"
    response_limit, body_limit = _body_limits(env)
    ops_password_hash, ops_password = _ops_password(env)
    return Settings(
        convex_url=_url(env),
        convex_deploy_key=env.get("CONVEX_DEPLOY_KEY", "").strip() or None,
        qbwc_username=env.get("QBWC_USERNAME", "").strip() or None,
        qbwc_password_hash=env.get("QBWC_PASSWORD_HASH", "").strip() or None,
        qbwc_password=env.get("QBWC_PASSWORD") or None,
        qbxml_version=_qbxml_version(env),
        batch_size=_int(env, "QBWC_BATCH_SIZE", 25, 1, 100),
        session_ttl_seconds=_int(env, "QBWC_SESSION_TTL_SECONDS", 3600, 60, 86400),
        min_client_version=_client_version(env),
        company_file=env.get("QBWC_COMPANY_FILE", "").strip(),
        postpone_seconds=_int(env, "QBWC_POSTPONE_SECONDS", 0, 0, 86400),
        list_max_age_hours=_int(env, "QB_LIST_MAX_AGE_HOURS", 24, 0, 24 * 365),
        reconcile_every_hours=_int(env, "RECONCILE_EVERY_HOURS", 0, 0, 24 * 365),
        log_format=_choice(env, "LOG_FORMAT", default_format, LOG_FORMATS),
        log_level=_choice(env, "LOG_LEVEL", "info", LOG_LEVELS),
        host=env.get("HOST", "").strip() or "127.0.0.1",
        port=_int(env, "PORT", 8080, 0, 65535),
        qb_timezone=_timezone(env),
        # Whole seconds: a Convex call takes milliseconds, so finer settings buy nothing.
        convex_connect_timeout_seconds=_int(env, "CONVEX_CONNECT_TIMEOUT_SECONDS", 5, 1, 60),
        convex_read_timeout_seconds=_int(env, "CONVEX_READ_TIMEOUT_SECONDS", 15, 1, 60),
        convex_retry_budget_seconds=_int(
            env, "CONVEX_RETRY_BUDGET_SECONDS", 30, 1, MAX_CONVEX_BUDGET_SECONDS
        ),
        max_response_body_bytes=response_limit,
        max_soap_body_bytes=body_limit,
        trusted_proxies=_trusted_proxies(env),
        metrics_token=_metrics_token(env),
        ops_password_hash=ops_password_hash,
        ops_password=ops_password,
    )
