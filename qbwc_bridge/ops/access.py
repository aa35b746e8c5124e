"""Who may use the operator page, and proof of it between requests.

One password (OPS_PASSWORD_HASH, the same PBKDF2 format as the QBWC
password, a separate secret) opens the page; the name typed next to it says
who is acting and goes into every `ops_action` log line. A good login gets a
session cookie: `<payload>.<signature>`, the payload (name, a random nonce,
the expiry) signed with HMAC-SHA256. Nothing is kept on the server, so a
restart keeps people signed in and two bridges behind one URL accept each
other's cookies. The signing key is derived from the password setting, so
changing the password signs everyone out.

Every state-changing request carries a CSRF token: an HMAC of the session's
nonce, so it is bound to that session and useless with any other; the
cookie is SameSite=Strict on top.

Password guessing is slowed by a `LoginThrottle` per (name, client address),
the same mechanism as QBWC's authenticate (but its own instance: the office
manager mistyping on the QuickBooks machine must not slow down that
machine's Web Connector). A PBKDF2 check costs a fraction of a second of
CPU, so at most PASSWORD_CHECKS run at once; a login beyond that is told to
try again at once, and an unauthenticated flood holds at most that many
server threads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from qbwc_bridge.auth import LoginThrottle, verify_password
from qbwc_bridge.config import Settings

SESSION_SECONDS = 12 * 3600
# Password checks that may run at once (each is ~0.3 s of CPU with 600,000 PBKDF2 rounds).
PASSWORD_CHECKS = 2
MAX_NAME_CHARS = 64
MAX_PASSWORD_CHARS = 256
_KEY_LABEL = b"qbwc-bridge ops session v1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _same(given: str, expected: str) -> bool:
    """Constant-time equality for any text: compare_digest refuses non-ASCII str, and a
    cookie or form field can carry anything a browser sends."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def clean_name(raw: str) -> str | None:
    """The name as logged: trimmed, 1-64 printable characters; None when unusable."""
    name = " ".join(raw.split())
    if not name or len(name) > MAX_NAME_CHARS or not name.isprintable():
        return None
    return name


@dataclass(frozen=True)
class Session:
    user: str
    nonce: str
    expires: int
    csrf: str


class Login(Enum):
    OK = "ok"
    WRONG = "wrong"
    THROTTLED = "throttled"
    BUSY = "busy"


@dataclass
class OpsAccess:
    """Checks the password, issues and reads session cookies, makes and checks CSRF tokens."""

    password_hash: str | None
    password: str | None
    throttle: LoginThrottle = field(default_factory=LoginThrottle)
    clock: Callable[[], float] = time.time
    _checks: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(PASSWORD_CHECKS)
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> OpsAccess:
        if not settings.ops_enabled:
            raise ValueError("the operator page is off: OPS_PASSWORD_HASH is not set")
        return cls(password_hash=settings.ops_password_hash, password=settings.ops_password)

    @property
    def _key(self) -> bytes:
        material = (self.password_hash or self.password or "").encode("utf-8")
        return hmac.new(material, _KEY_LABEL, hashlib.sha256).digest()

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    # -- logging in -----------------------------------------------------------------

    def retry_after(self, name: str, address: str) -> float:
        return self.throttle.retry_after(name, address)

    def login(self, name: str, password: str, address: str) -> Login:
        """Checks the password for `name` from `address`; counts failures for the throttle."""
        if self.throttle.retry_after(name, address) > 0:
            return Login.THROTTLED
        if not self._checks.acquire(blocking=False):
            return Login.BUSY
        try:
            ok = len(password) <= MAX_PASSWORD_CHARS and self._password_ok(password)
        finally:
            self._checks.release()
        if not ok:
            self.throttle.failed(name, address)
            return Login.WRONG
        self.throttle.succeeded(name, address)
        return Login.OK

    def _password_ok(self, password: str) -> bool:
        if self.password_hash:
            return verify_password(password, self.password_hash)
        return _same(password, self.password or "")

    # -- the session cookie ---------------------------------------------------------------

    def issue(self, user: str) -> tuple[Session, str]:
        """A new session for `user` and its cookie value."""
        nonce = secrets.token_urlsafe(16)
        expires = int(self.clock()) + SESSION_SECONDS
        payload = json.dumps({"u": user, "n": nonce, "e": expires}, separators=(",", ":")).encode()
        value = f"{_b64(payload)}.{self._sign(payload)}"
        return self._session(user, nonce, expires), value

    def session(self, cookie: str | None) -> Session | None:
        """The session a cookie value proves, or None (absent, forged, expired, malformed)."""
        if not cookie or len(cookie) > 1024 or cookie.count(".") != 1:
            return None
        encoded, signature = cookie.split(".")
        try:
            payload = _unb64(encoded)
        except ValueError:
            return None
        if not _same(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(payload)
            user, nonce, expires = str(data["u"]), str(data["n"]), int(data["e"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires <= self.clock():
            return None
        return self._session(user, nonce, expires)

    def _session(self, user: str, nonce: str, expires: int) -> Session:
        csrf = self._sign(b"csrf:" + nonce.encode("ascii"))
        return Session(user=user, nonce=nonce, expires=expires, csrf=csrf)

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return token is not None and _same(token, session.csrf)

    # -- one-shot messages after an action (post, redirect, get) ------------------------------

    def seal(self, session: Session, message: dict[str, str]) -> str:
        """A message for the next page load of this session only."""
        payload = json.dumps({**message, "n": session.nonce}, separators=(",", ":")).encode()
        return f"{_b64(payload)}.{self._sign(b'flash:' + payload)}"

    def unseal(self, session: Session, value: str | None) -> dict[str, str] | None:
        if not value or len(value) > 4096 or value.count(".") != 1:
            return None
        encoded, signature = value.split(".")
        try:
            payload = _unb64(encoded)
            if not _same(signature, self._sign(b"flash:" + payload)):
                return None
            data = json.loads(payload)
        except ValueError:
            return None
        if not isinstance(data, dict) or data.pop("n", None) != session.nonce:
            return None
        return {str(k): str(v) for k, v in data.items()}
