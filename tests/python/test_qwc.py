"""The .qwc file: required elements, stable GUIDs, URL rules QBWC enforces."""

import pytest
from lxml import etree
from support.qwc_checks import assert_qwc_shape

from qbwc_bridge.qwc import QwcError, render_qwc


def test_qwc_has_every_required_element() -> None:
    root = etree.fromstring(render_qwc("https://qb.example.com/qbwc", "qbuser"))
    assert_qwc_shape(root)
    assert root.findtext("AppSupport") == "https://qb.example.com/"
    assert root.findtext("Scheduler/RunEveryNMinutes") == "5"
    assert root.findtext("OwnerID") != root.findtext("FileID")


def test_guids_are_stable_across_runs() -> None:
    assert render_qwc("https://a.example.com/qbwc", "u") == render_qwc(
        "https://a.example.com/qbwc", "u"
    )
    other = etree.fromstring(render_qwc("https://a.example.com/qbwc", "u", app_name="Other app"))
    assert other.findtext("OwnerID") != etree.fromstring(
        render_qwc("https://a.example.com/qbwc", "u")
    ).findtext("OwnerID")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://qb.example.com/qbwc", "only accepts https"),
        ("https://10.0.0.5/qbwc", "IP address"),
        ("http://127.0.0.1:8080/qbwc", "IP address"),
        ("qb.example.com/qbwc", "full http"),
    ],
)
def test_url_rules(url: str, message: str) -> None:
    with pytest.raises(QwcError, match=message):
        render_qwc(url, "u")


def test_localhost_may_use_http() -> None:
    root = etree.fromstring(render_qwc("http://localhost:8080/qbwc", "u"))
    assert root.findtext("AppURL") == "http://localhost:8080/qbwc"


def test_support_url_must_share_the_host() -> None:
    with pytest.raises(QwcError, match="same host"):
        render_qwc(
            "https://qb.example.com/qbwc", "u", support_url="https://elsewhere.example.com/help"
        )
