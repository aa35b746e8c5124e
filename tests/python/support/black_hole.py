"""A Convex that accepts connections and never answers.

A real listening TCP socket: connects succeed, requests are sent, and no
byte ever comes back, which is what a hung deployment or a proxy with a dead
upstream looks like to the bridge. `connections` counts who knocked.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class BlackHole:
    url: str
    held: list[socket.socket] = field(default_factory=list)

    @property
    def connections(self) -> int:
        return len(self.held)


@contextmanager
def black_hole() -> Iterator[BlackHole]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    listener.settimeout(0.1)
    hole = BlackHole(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            hole.held.append(connection)  # kept open, never read, never answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield hole
    finally:
        stop.set()
        thread.join(5)
        listener.close()
        for connection in hole.held:
            connection.close()
