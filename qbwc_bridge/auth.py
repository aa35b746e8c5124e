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
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from qbwc_bridge import client_address

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


def check_password_hash(encoded: str, setting: str = "QBWC_PASSWORD_HASH") -> None:
    """Raises ValueError, naming `setting`, when a configured hash is malformed
    (checked at start-up)."""
    parts = encoded.split("$")
    if len(parts) != 4 or parts[0] != ALGORITHM or not parts[1].isdigit():
        raise ValueError(
            f"{setting} must look like pbkdf2_sha256$600000$<salt>$<hash> "
            "(make one with `qbwc-bridge hash-password`)."
        )
    try:
        _unb64(parts[2])
        _unb64(parts[3])
    except ValueError:
        raise ValueError(f"{setting} has a salt or hash that is not base64.") from None


def verify_password(password: str, encoded: str) -> bool:
    _, iterations, salt, expected = encoded.split("$")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), _unb64(salt), int(iterations))
    return hmac.compare_digest(digest, _unb64(expected))


def new_ticket() -> str:
    """256 random bits: unguessable, so sessions of different users never mix."""
    return secrets.token_urlsafe(32)


def ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode("utf-8")).hexdigest()


# Credentials longer than this are refused before anything else looks at them: QBWC's
# are a user name from the .qwc and a password someone typed.
MAX_CREDENTIAL_CHARS = 256


@dataclass
class _Failures:
    count: int = 0
    blocked_until: float = 0.0
    last_failure: float = 0.0


# What one tracked key costs, measured with tracemalloc (see test_auth): the key tuple, its
# two short strings, the _Failures object and the dict slot. Keys are fixed size whatever
# the user name, so entries x this bounds the memory in bytes.
ENTRY_BYTES = 448


def _now() -> float:
    # Looked up at call time, so freezegun's clock is seen in tests.
    return time.time()


def _user_key(user: str) -> str:
    """Fixed size whatever the name's length; case-folded so "QBWC" counts with "qbwc"."""
    return hashlib.blake2b(user.casefold().encode("utf-8", "replace"), digest_size=12).hexdigest()


@dataclass
class LoginThrottle:
    """Slows down password guessing without letting a guesser lock out the owner.

    Failures are counted per (user name, client address): after
    `free_attempts` failures that pair must wait an exponentially growing
    pause (capped at `max_delay`), during which its attempts are refused
    without even checking the password. One address guessing many user names
    is slowed the same way after `address_free_attempts` failures in all.
    Across all addresses, more than `global_ceiling` failures within
    `window` seconds mean a spread-out attack: then an address with any
    recent failure is refused outright until the rate drops. The right
    password from an address that is not failing is always checked, so the
    Web Connector gets in while someone elsewhere guesses. A success clears
    that pair and that address.

    Memory is bounded in bytes (`max_bytes`); when it is full the oldest
    entries that do not block anyone are forgotten, never one that blocks:
    flooding other names cannot clear a lock. Held in memory: a restart
    forgets, which only costs an attacker a restart they cannot trigger.

    The address is `client_address.current()`, set by the WSGI layer for
    the request being served, unless the caller passes one.
    """

    free_attempts: int = 3
    base_delay: float = 2.0
    max_delay: float = 300.0
    address_free_attempts: int = 10
    global_ceiling: int = 60
    window: float = 60.0
    # Failures older than this (and no longer blocking) are forgiven: the count starts again.
    forget_after: float = 900.0
    max_bytes: int = 4 * 1024 * 1024
    clock: Callable[[], float] = _now
    _pairs: OrderedDict[tuple[str, str], _Failures] = field(default_factory=OrderedDict)
    _addresses: OrderedDict[str, _Failures] = field(default_factory=OrderedDict)
    _recent: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def tracked_bytes(self) -> int:
        return (len(self._pairs) + len(self._addresses)) * ENTRY_BYTES

    # -- the interface sync.authenticate uses ------------------------------------

    def retry_after(self, user: str, address: str | None = None) -> float:
        """Seconds until `user` may try again from `address` (0 = check the password now)."""
        where = _address(address)
        with self._lock:
            now = self.clock()
            pair = self._pairs.get((_user_key(user), where))
            source = self._addresses.get(where)
            wait = max(
                pair.blocked_until - now if pair else 0.0,
                source.blocked_until - now if source else 0.0,
            )
            if self._over_ceiling(now) and (self._failing(pair, now) or self._failing(source, now)):
                # A spread-out attack: whoever is failing waits for the rate to drop.
                wait = max(wait, self._recent[0] + self.window - now)
            return max(0.0, wait)

    def failed(self, user: str, address: str | None = None) -> None:
        where = _address(address)
        with self._lock:
            now = self.clock()
            self._recent.append(now)
            self._trim_recent(now)
            self._count(self._pairs, (_user_key(user), where), self.free_attempts, now)
            self._count(self._addresses, where, self.address_free_attempts, now)

    def succeeded(self, user: str, address: str | None = None) -> None:
        where = _address(address)
        with self._lock:
            self._pairs.pop((_user_key(user), where), None)
            self._addresses.pop(where, None)

    # -- bookkeeping ---------------------------------------------------------------

    def _failing(self, state: _Failures | None, now: float) -> bool:
        return state is not None and now - state.last_failure < self.window

    def _over_ceiling(self, now: float) -> bool:
        self._trim_recent(now)
        return len(self._recent) > self.global_ceiling

    def _trim_recent(self, now: float) -> None:
        # Only the last ceiling + 1 failures matter, so the window never grows past that.
        while self._recent and (
            self._recent[0] <= now - self.window or len(self._recent) > self.global_ceiling + 1
        ):
            self._recent.popleft()

    def _count(self, table: OrderedDict[Any, _Failures], key: Any, free: int, now: float) -> None:
        state = table.get(key)
        if (
            state is not None
            and max(state.blocked_until, state.last_failure) + self.forget_after < now
        ):
            state = table[key] = _Failures()  # quiet for long enough: a fresh start
        if state is None:
            if not self._make_room(now):
                return  # full of entries that block someone: those matter more
            state = table[key] = _Failures()
        table.move_to_end(key)
        state.count += 1
        state.last_failure = now
        excess = state.count - free
        if excess > 0:
            delay = min(self.base_delay * 2 ** min(excess - 1, 30), self.max_delay)
            state.blocked_until = now + delay

    def _make_room(self, now: float) -> bool:
        if self.tracked_bytes + ENTRY_BYTES <= self.max_bytes:
            return True
        return _evict_one(self._pairs, now) or _evict_one(self._addresses, now)


K = TypeVar("K")


def _evict_one(table: OrderedDict[K, _Failures], now: float) -> bool:
    """Forgets the oldest entry that blocks nobody; one that blocks goes to the back."""
    for _ in range(min(len(table), 64)):
        key, state = next(iter(table.items()))
        if state.blocked_until > now:
            table.move_to_end(key)
            continue
        del table[key]
        return True
    return False


def _address(address: str | None) -> str:
    return client_address.throttle_key(address or client_address.current() or "")
