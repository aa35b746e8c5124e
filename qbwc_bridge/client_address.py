"""Who is calling: the client address of the SOAP request being served.

The login throttle counts failures per (user name, client address), so the
address must be the real client's and must not be forgeable. It comes from
the WSGI environ: REMOTE_ADDR, the peer of the TCP connection. Behind a
reverse proxy (deploy/Caddyfile) every request comes from the proxy, so the
proxy's X-Forwarded-For is believed, but only when REMOTE_ADDR is one of
TRUSTED_PROXIES, and only its right-most entries: everything left of the
last untrusted hop was written by the client and proves nothing.

The address travels to the throttle in a context variable set for the
length of one request (`bound`), so the SOAP layer in between (spyne, the
sync step) need not carry it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Any

UNKNOWN = "unknown"
Networks = Sequence[IPv4Network | IPv6Network]

_current: ContextVar[str | None] = ContextVar("qbwc_client_address", default=None)


def _trusted(address: str, proxies: Networks) -> bool:
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in proxies)


def from_environ(environ: Mapping[str, Any], trusted_proxies: Networks = ()) -> str:
    """The client's IP address as text (UNKNOWN when the server gives none)."""
    address = str(environ.get("REMOTE_ADDR") or "").strip() or UNKNOWN
    if not trusted_proxies or not _trusted(address, trusted_proxies):
        return address
    hops = [hop.strip() for hop in str(environ.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    for hop in reversed([hop for hop in hops if hop]):
        if not _trusted(hop, trusted_proxies):
            try:
                return str(ip_address(hop))
            except ValueError:
                # A hop a trusted proxy wrote that is no address: believe nothing left of it.
                return address
        address = hop
    return address


def throttle_key(address: str) -> str:
    """The unit the throttle counts: one IPv4 address, or one IPv6 /64 (what one
    customer line gets, so a client cannot dodge the count by changing its suffix)."""
    try:
        parsed = ip_address(address)
    except ValueError:
        return UNKNOWN if not address else address[:64]
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is None:
        return str(IPv6Network(f"{parsed}/64", strict=False))
    if isinstance(parsed, IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)


def current() -> str | None:
    """The address of the request this thread is serving, if any."""
    return _current.get()


@contextmanager
def bound(address: str) -> Iterator[None]:
    token = _current.set(address)
    try:
        yield
    finally:
        _current.reset(token)
