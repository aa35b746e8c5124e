"""Password hashing, tickets and the login throttle (time frozen with freezegun)."""

import tracemalloc
from ipaddress import ip_network

import pytest
from freezegun import freeze_time

from qbwc_bridge import client_address
from qbwc_bridge.auth import (
    ENTRY_BYTES,
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


OWNER = "198.51.100.7"  # the Web Connector's address
ATTACKER = "203.0.113.66"


def test_throttle_slows_repeated_failures_and_resets_on_success() -> None:
    with freeze_time("2026-11-25 10:00:00") as frozen:
        throttle = LoginThrottle(free_attempts=3, base_delay=2, max_delay=60)
        for _ in range(3):
            throttle.failed("Alice", ATTACKER)
        assert throttle.retry_after("alice", ATTACKER) == 0
        throttle.failed("alice", ATTACKER)
        assert throttle.retry_after("ALICE", ATTACKER) == pytest.approx(2)  # case-folded
        throttle.failed("alice", ATTACKER)
        assert throttle.retry_after("alice", ATTACKER) == pytest.approx(4)
        frozen.tick(4)
        assert throttle.retry_after("alice", ATTACKER) == 0
        for _ in range(4):
            throttle.failed("alice", ATTACKER)
        assert throttle.retry_after("alice", ATTACKER) == pytest.approx(60)  # capped
        assert throttle.retry_after("bob", ATTACKER) == 0  # per user
        throttle.succeeded("alice", ATTACKER)
        assert throttle.retry_after("alice", ATTACKER) == 0


def test_the_right_password_from_another_address_gets_in_while_one_address_guesses() -> None:
    # Why item 3: 4 wrong tries a second for the real user name kept the owner out for 70 s.
    with freeze_time("2026-11-25 10:00:00") as frozen:
        throttle = LoginThrottle()
        for _ in range(70):
            for _ in range(4):
                if throttle.retry_after("qbwc", ATTACKER) == 0:
                    throttle.failed("qbwc", ATTACKER)
            assert throttle.retry_after("qbwc", OWNER) == 0
            frozen.tick(1)
        assert throttle.retry_after("qbwc", ATTACKER) > 0
        throttle.succeeded("qbwc", OWNER)  # the owner's success does not free the attacker
        assert throttle.retry_after("qbwc", ATTACKER) > 0


def test_flooding_other_names_never_clears_a_lock() -> None:
    # Why item 3: 10,000 made-up user names evicted the lock.
    with freeze_time("2026-11-25 10:00:00"):
        throttle = LoginThrottle(max_bytes=100 * ENTRY_BYTES, address_free_attempts=10**6)
        for _ in range(5):
            throttle.failed("qbwc", ATTACKER)
        locked = throttle.retry_after("qbwc", ATTACKER)
        assert locked > 0
        for i in range(10_000):
            throttle.failed(f"guess-{i}", f"192.0.2.{i % 250}")
        assert throttle.retry_after("qbwc", ATTACKER) >= locked
        assert throttle.tracked_bytes <= 100 * ENTRY_BYTES


def test_one_address_guessing_many_names_is_slowed_too() -> None:
    with freeze_time("2026-11-25 10:00:00"):
        throttle = LoginThrottle(free_attempts=3, address_free_attempts=10)
        for i in range(11):
            throttle.failed(f"name-{i}", ATTACKER)  # never 3 for one name
        assert throttle.retry_after("qbwc", ATTACKER) > 0
        assert throttle.retry_after("qbwc", OWNER) == 0


def test_a_global_ceiling_stops_failing_addresses_but_not_a_new_one() -> None:
    # Many addresses, each below its own limit: together they are an attack.
    with freeze_time("2026-11-25 10:00:00") as frozen:
        throttle = LoginThrottle(free_attempts=3, global_ceiling=20, window=60)
        for i in range(21):
            throttle.failed("qbwc", f"192.0.2.{i}")  # one failure each
        wait = throttle.retry_after("qbwc", "192.0.2.1")
        assert 0 < wait <= 60  # failing addresses wait until the rate drops
        assert throttle.retry_after("qbwc", OWNER) == 0  # not failing: its password is checked
        frozen.tick(61)
        assert throttle.retry_after("qbwc", "192.0.2.1") == 0


def test_quiet_failures_are_forgiven() -> None:
    with freeze_time("2026-11-25 10:00:00") as frozen:
        throttle = LoginThrottle(free_attempts=3, forget_after=900)
        for _ in range(3):
            throttle.failed("qbwc", OWNER)  # typos, spread over the day
        frozen.tick(901)
        throttle.failed("qbwc", OWNER)
        assert throttle.retry_after("qbwc", OWNER) == 0  # counted afresh: one failure


def test_memory_is_bounded_in_bytes_whatever_the_names() -> None:
    # Why item 2: the throttle stored user names of any size (1.9 MB each).
    throttle = LoginThrottle(max_bytes=256 * 1024)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(5000):
            throttle.failed("x" * 100_000 + str(i), f"10.0.{i // 250}.{i % 250}")
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert throttle.tracked_bytes <= 256 * 1024
    assert grown < 2 * 256 * 1024, grown


def test_the_address_comes_from_the_request_being_served() -> None:
    with freeze_time("2026-11-25 10:00:00"):
        throttle = LoginThrottle(free_attempts=1)
        with client_address.bound(ATTACKER):
            throttle.failed("qbwc")
            throttle.failed("qbwc")
            assert throttle.retry_after("qbwc") > 0
        with client_address.bound(OWNER):
            assert throttle.retry_after("qbwc") == 0
        assert throttle.retry_after("qbwc", ATTACKER) > 0


def test_an_ipv6_client_is_counted_by_its_64_network() -> None:
    with freeze_time("2026-11-25 10:00:00"):
        throttle = LoginThrottle(free_attempts=1)
        throttle.failed("qbwc", "2001:db8:1:2::1")
        throttle.failed("qbwc", "2001:db8:1:2::ffff")
        assert throttle.retry_after("qbwc", "2001:db8:1:2:abcd::9") > 0
        assert throttle.retry_after("qbwc", "2001:db8:1:3::1") == 0


@pytest.mark.parametrize(
    ("environ", "trusted", "expected"),
    [
        ({"REMOTE_ADDR": "203.0.113.9"}, [], "203.0.113.9"),
        # Not from a trusted proxy: X-Forwarded-For is the client's own claim.
        ({"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "1.2.3.4"}, [], "203.0.113.9"),
        (
            {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 198.51.100.7"},
            ["127.0.0.1"],
            "198.51.100.7",  # the right-most hop the proxy saw; the rest is forgeable
        ),
        (
            {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "198.51.100.7, 10.0.0.3"},
            ["10.0.0.0/8"],
            "198.51.100.7",  # two trusted proxies in a row
        ),
        (
            {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "garbage"},
            ["127.0.0.1"],
            "127.0.0.1",
        ),
        ({}, [], "unknown"),
    ],
)
def test_client_address(environ: dict[str, str], trusted: list[str], expected: str) -> None:
    networks = [ip_network(item) for item in trusted]
    assert client_address.from_environ(environ, networks) == expected
