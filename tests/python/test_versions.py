"""Version numbers: one parser for qbXML's "13.0" and the Web Connector's "2.3.0.215"."""

from __future__ import annotations

import pytest

from qbwc_bridge.versions import QbxmlVersion, negotiate, parse_dotted


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("2.3.0.215", (2, 3, 0, 215)),
        ("13.0", (13, 0)),
        ("7", (7,)),
        (" 2.1.0.30 ", (2, 1, 0, 30)),  # surrounding whitespace is not part of the number
        ("010.02", (10, 2)),
    ],
)
def test_parse_dotted_reads_numbers(text: str, numbers: tuple[int, ...]) -> None:
    assert parse_dotted(text) == numbers


@pytest.mark.parametrize(
    "text",
    ["", " ", "2.3.", ".2", "2..3", "v2.3", "2.3-beta", "2,3", "garbage", "1234567890.1", "-1.0"],
)
def test_parse_dotted_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError, match="not a dotted version number"):
        parse_dotted(text)


def test_parse_dotted_can_require_a_number_of_parts() -> None:
    assert parse_dotted("13.0", parts=2) == (13, 0)
    with pytest.raises(ValueError, match="must have 2 parts"):
        parse_dotted("13", parts=2)
    with pytest.raises(ValueError, match="must have 2 parts"):
        parse_dotted("13.0.1", parts=2)


def test_qbxml_version_parses_and_prints_as_qbxml_writes_it() -> None:
    version = QbxmlVersion.parse("13.0")
    assert version == QbxmlVersion(13, 0)
    assert (version.major, version.minor) == (13, 0)
    assert str(version) == "13.0"
    assert str(QbxmlVersion.parse(" 8.1 ")) == "8.1"


@pytest.mark.parametrize("bad", ["13", "v13.0", "", "13.0.1", "thirteen"])
def test_malformed_qbxml_version_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match=repr(bad)):
        QbxmlVersion.parse(bad)


def test_qbxml_versions_compare_as_numbers_not_text() -> None:
    assert QbxmlVersion(9, 0) < QbxmlVersion(10, 0)  # "9.0" > "10.0" as text
    assert QbxmlVersion(13, 0) < QbxmlVersion(13, 1)
    assert QbxmlVersion(2, 10) > QbxmlVersion(2, 9)
    assert min(QbxmlVersion(13, 0), QbxmlVersion(12, 5)) == QbxmlVersion(12, 5)


@pytest.mark.parametrize(
    ("major", "minor", "agreed"),
    [
        (16, 0, QbxmlVersion(13, 0)),  # QuickBooks speaks more: ask for what we are set to
        (13, 0, QbxmlVersion(13, 0)),
        (12, 0, QbxmlVersion(12, 0)),  # QuickBooks speaks less: never ask for more
        (8, None, QbxmlVersion(8, 0)),
        (13, 1, QbxmlVersion(13, 0)),
        (12, -3, QbxmlVersion(12, 0)),
        (None, None, QbxmlVersion(13, 0)),  # QBWC said nothing: the setting
        (0, 0, QbxmlVersion(13, 0)),
        (-1, 5, QbxmlVersion(13, 0)),
    ],
)
def test_negotiate_is_the_lower_of_the_setting_and_quickbooks(
    major: int | None, minor: int | None, agreed: QbxmlVersion
) -> None:
    assert negotiate(QbxmlVersion(13, 0), major, minor) == agreed
