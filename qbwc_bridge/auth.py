"""QBWC credentials and tickets.

Passwords are checked against a PBKDF2-SHA256 hash (stdlib only, so it runs
the same on the Windows box next to QuickBooks) in constant time. Tickets are
random and only their SHA-256 travels to Convex: whoever reads the sessions
table cannot replay one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

ALGORITHM = "pbkdf2_sha256"
DEFAULT_ITERATIONS = 600_000


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, iterations: int = DEFAULT_ITERATIONS) -> str:
    """`pbkdf2_sha256$<iterations>$<salt>$<hash>`, the format QBWC_PASSWORD_HASH takes."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{ALGORITHM}${iterations}${_b64(salt)}${_b64(digest)}"


def check_password_hash(encoded: str) -> None:
    """Raises ValueError when a configured hash is malformed (checked at start-up)."""
    parts = encoded.split("$")
    if len(parts) != 4 or parts[0] != ALGORITHM or not parts[1].isdigit():
        raise ValueError(
            "QBWC_PASSWORD_HASH must look like pbkdf2_sha256$600000$<salt>$<hash> "
            "(make one with `qbwc-bridge hash-password`)."
        )
    _unb64(parts[2])
    _unb64(parts[3])


def verify_password(password: str, encoded: str) -> bool:
    _, iterations, salt, expected = encoded.split("$")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), _unb64(salt), int(iterations))
    return hmac.compare_digest(digest, _unb64(expected))


def new_ticket() -> str:
    """256 random bits: unguessable, so sessions of different users never mix."""
    return secrets.token_urlsafe(32)


def ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


@dataclass
class _Failures:
    count: int = 0
    blocked_until: float = 0.0


@dataclass
class LoginThrottle:
    """Slows down guessing: after `free_attempts` failures for one user name,
    each attempt must wait an exponentially growing pause (capped), during
    which attempts are refused without even checking the password. A success
    resets the count. Held in memory: a restart forgets, which only costs an
    attacker a restart they cannot trigger.
    """

    free_attempts: int = 3
    base_delay: float = 2.0
    max_delay: float = 300.0
    max_users: int = 10_000
    clock: Callable[[], float] = time.time
    _failures: dict[str, _Failures] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, user: str) -> float:
        """Seconds until `user` may try again (0 = now)."""
        with self._lock:
            state = self._failures.get(user.lower())
            return 0.0 if state is None else max(0.0, state.blocked_until - self.clock())

    def failed(self, user: str) -> None:
        with self._lock:
            if len(self._failures) >= self.max_users:
                # Bounded memory under a flood of made-up user names: forget the oldest.
                self._failures.pop(next(iter(self._failures)))
            state = self._failures.setdefault(user.lower(), _Failures())
            state.count += 1
            excess = state.count - self.free_attempts
            if excess > 0:
                delay = min(self.base_delay * 2 ** (excess - 1), self.max_delay)
                state.blocked_until = self.clock() + delay

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(user.lower(), None)
