"""Password hashing, tickets and the login throttle (time frozen with freezegun)."""

import time

import pytest
from freezegun import freeze_time

from qbwc_bridge.auth import (
    LoginThrottle,
    check_password_hash,
    hash_password,
    new_ticket,
    ticket_hash,
    verify_password,
)


def test_hash_round_trip_and_wrong_password() -> None:
    encoded = hash_password("correct horse", iterations=1000)
    check_password_hash(encoded)
    assert encoded.startswith("pbkdf2_sha256$1000$")
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct hors", encoded)
    assert hash_password("correct horse", iterations=1000) != encoded  # salted


@pytest.mark.parametrize("bad", ["", "plain", "md5$1$a$b", "pbkdf2_sha256$x$a$b"])
def test_malformed_hash_is_reported(bad: str) -> None:
    with pytest.raises(ValueError, match="hash-password"):
        check_password_hash(bad)


def test_tickets_are_random_and_hashed() -> None:
    tickets = {new_ticket() for _ in range(1000)}
    assert len(tickets) == 1000
    ticket = new_ticket()
    assert len(ticket) >= 43
    assert ticket_hash(ticket) != ticket and len(ticket_hash(ticket)) == 64


def test_throttle_slows_repeated_failures_and_resets_on_success() -> None:
    with freeze_time("2026-11-25 10:00:00") as frozen:
        throttle = LoginThrottle(free_attempts=3, base_delay=2, max_delay=60, clock=time.time)
        for _ in range(3):
            throttle.failed("Alice")
        assert throttle.retry_after("alice") == 0
        throttle.failed("alice")
        assert throttle.retry_after("ALICE") == pytest.approx(2)
        throttle.failed("alice")
        assert throttle.retry_after("alice") == pytest.approx(4)
        frozen.tick(4)
        assert throttle.retry_after("alice") == 0
        for _ in range(10):
            throttle.failed("alice")
        assert throttle.retry_after("alice") == pytest.approx(60)  # capped
        assert throttle.retry_after("bob") == 0  # per user
        throttle.succeeded("alice")
        assert throttle.retry_after("alice") == 0


def test_throttle_memory_is_bounded() -> None:
    throttle = LoginThrottle(max_users=100)
    for i in range(1000):
        throttle.failed(f"guess-{i}")
    assert len(throttle._failures) == 100
