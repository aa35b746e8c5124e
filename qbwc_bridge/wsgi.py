"""The few WSGI pieces the HTTP surface shares: one way to answer a request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

StartResponse = Callable[..., Any]


def respond(
    start_response: StartResponse,
    status: str,
    body: bytes,
    content_type: str = "text/plain",
    *headers: tuple[str, str],
) -> list[bytes]:
    """A whole answer: status, Content-Type and Content-Length, any more headers, the body."""
    start_response(
        status,
        [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers],
    )
    return [body]
