"""strHCPResponse: read what is there, never raise, never trust a half-read value."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from support.qb_simulator import QuickBooksSimulator
from support.qbwc_simulator import HCP_RESPONSE
from support.qbxml_schema import assert_valid

from qbwc_bridge.contract import CompanyInfo, HostInfo, PreferencesInfo
from qbwc_bridge.qbxml.hcp import read_hcp

FIXTURES = Path(__file__).parent / "fixtures" / "hcp"
QB2014_VERSIONS = ("1.0", "1.1", "2.0", "2.1", "3.0", "4.0", "4.1", "5.0", "6.0", "7.0")
QB2014_VERSIONS += ("8.0", "9.0", "10.0", "11.0", "12.0", "13.0")


def fixture(name: str) -> str:
    # newline="": the text exactly as QBWC passes it, CRLFs included.
    with open(FIXTURES / name, encoding="utf-8", newline="") as handle:
        return handle.read()


PRO_2014 = fixture("quickbooks_pro_2014.xml")
ENTERPRISE = fixture("enterprise_2014_advanced_inventory.xml")


def test_fixtures_are_what_quickbooks_can_send() -> None:
    assert_valid(PRO_2014)
    assert_valid(ENTERPRISE)
    assert "\r\n" in PRO_2014


def test_quickbooks_pro_2014_has_no_multi_location_inventory() -> None:
    assert read_hcp(PRO_2014) == (
        HostInfo("QuickBooks Pro 2014", 24, 0, "US", QB2014_VERSIONS, "SingleUser"),
        CompanyInfo("Harbor Marine Supply"),
        PreferencesInfo(multi_location_available=False, multi_location_enabled=False),
    )


def test_enterprise_with_advanced_inventory_has_it_on() -> None:
    host, company, preferences = read_hcp(ENTERPRISE)
    assert isinstance(host, HostInfo) and host.file_mode == "MultiUser"
    assert company == CompanyInfo("Acme Parts & Supply")
    assert preferences == PreferencesInfo(True, True)


@pytest.mark.parametrize(
    "dressing",
    [
        lambda text: "\ufeff" + text,
        lambda text: text.split("?>", 1)[1],  # no XML declaration
        lambda text: "\r\n  \t" + text,
        lambda text: text.replace(
            '<?xml version="1.0" ?>', '<?xml version="1.0" encoding="utf-8"?>'
        ),
    ],
    ids=["bom", "no-declaration", "leading-whitespace", "encoding-declared"],
)
def test_dressing_around_the_document_changes_nothing(dressing: object) -> None:
    assert read_hcp(dressing(PRO_2014)) == read_hcp(PRO_2014)  # type: ignore[operator]


@pytest.mark.parametrize("text", [None, "", "   ", "\ufeff", "not xml at all", "<QBXML>", "<<<>>>"])
def test_nothing_readable_is_an_empty_answer(text: str | None) -> None:
    assert read_hcp(text) == ()


def test_a_document_cut_short_keeps_only_whole_answers() -> None:
    cut = ENTERPRISE[: ENTERPRISE.index("<IsMultiLocationInventoryEnabled>") + 40]
    host, company = read_hcp(cut)
    assert isinstance(host, HostInfo) and host.major_version == 24
    assert company == CompanyInfo("Acme Parts & Supply")


def test_a_value_cut_mid_way_is_never_taken_for_what_quickbooks_said() -> None:
    """ "3" of "33" is not a version: the answer it is in is dropped whole."""
    cut = HCP_RESPONSE[: HCP_RESPONSE.index("<MajorVersion>") + len("<MajorVersion>3")]
    assert read_hcp(cut) == ()


def test_garbage_around_whole_answers() -> None:
    start = PRO_2014.index("<PreferencesQueryRs")
    end = PRO_2014.index("</PreferencesQueryRs>") + len("</PreferencesQueryRs>")
    text = "Error: <b>oops</b> & more " + PRO_2014[start:end] + " trailing <junk"
    assert read_hcp(text) == (PreferencesInfo(False, False),)


def test_partial_answers_say_what_they_say() -> None:
    """Missing parts are None (unknown); an error status adds nothing."""
    text = (
        "<QBXML><QBXMLMsgsRs>"
        '<HostQueryRs requestID="0" statusCode="0" statusSeverity="Info">'
        "<HostRet><ProductName>QuickBooks Premier 2014</ProductName>"
        "<MajorVersion>twenty-four</MajorVersion></HostRet></HostQueryRs>"
        '<CompanyQueryRs requestID="1" statusCode="1000" statusSeverity="Error" '
        'statusMessage="Internal error"/>'
        '<PreferencesQueryRs requestID="2" statusCode="0" statusSeverity="Info">'
        "<PreferencesRet><MultiLocationInventoryPreferences>"
        "<IsMultiLocationInventoryEnabled>maybe</IsMultiLocationInventoryEnabled>"
        "</MultiLocationInventoryPreferences></PreferencesRet></PreferencesQueryRs>"
        "</QBXMLMsgsRs></QBXML>"
    )
    assert read_hcp(text) == (
        HostInfo("QuickBooks Premier 2014", None, None, None, (), None),
        PreferencesInfo(None, None),
    )


def test_only_answers_in_their_own_rs_count_and_only_the_first_of_each() -> None:
    text = (
        "<QBXML><QBXMLMsgsRs>"
        "<CompanyQueryRs><HostRet><ProductName>misplaced</ProductName></HostRet>"
        "<CompanyRet><CompanyName>First</CompanyName></CompanyRet></CompanyQueryRs>"
        "<CompanyQueryRs><CompanyRet><CompanyName>Second</CompanyName></CompanyRet>"
        "</CompanyQueryRs></QBXMLMsgsRs></QBXML>"
    )
    assert read_hcp(text) == (CompanyInfo("First"),)


def test_entities_are_never_expanded_or_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE QBXML [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
        f'<!ENTITY xxe SYSTEM "file://{secret}">]>'
        "<QBXML><QBXMLMsgsRs><CompanyQueryRs><CompanyRet><CompanyName>&c;&xxe;</CompanyName>"
        "</CompanyRet></CompanyQueryRs></QBXMLMsgsRs></QBXML>"
    )
    (company,) = read_hcp(laughs)
    assert isinstance(company, CompanyInfo)
    assert "TOP SECRET" not in str(company.company_name)
    assert "aaaa" not in str(company.company_name)


def test_random_damage_never_raises() -> None:
    rng = random.Random(11)
    for _ in range(300):
        text = list(ENTERPRISE)
        for _ in range(rng.randint(1, 20)):
            position = rng.randrange(len(text) + 1)
            action = rng.random()
            if action < 0.4:
                del text[position : position + rng.randint(1, 50)]
            elif action < 0.8:
                text.insert(position, rng.choice("<>&/\"'=!?;:\x00\ufffd \n"))
            else:
                text[position:] = []
        for info in read_hcp("".join(text)):
            assert isinstance(info, HostInfo | CompanyInfo | PreferencesInfo)


@pytest.mark.parametrize(("on", "available"), [(True, True), (False, True), (False, False)])
def test_the_simulated_quickbooks_describes_itself(on: bool, available: bool) -> None:
    qb = QuickBooksSimulator(
        advanced_inventory=on,
        advanced_inventory_available=available,
        product_name="QuickBooks Pro 2014" if not available else "QuickBooks Enterprise 14.0",
        company_name="Dockside & Co",
        file_mode="SingleUser",
    )
    text = qb.hcp_response()
    assert_valid(text)
    host, company, preferences = read_hcp(text)
    assert isinstance(host, HostInfo)
    assert (host.major_version, host.supported_versions[-1], host.file_mode) == (
        24,
        "13.0",
        "SingleUser",
    )
    assert company == CompanyInfo("Dockside & Co")
    assert preferences == PreferencesInfo(available, on)


def test_the_fallback_hcp_constant_is_valid_and_readable() -> None:
    assert_valid(HCP_RESPONSE)
    assert read_hcp(HCP_RESPONSE)[-1] == PreferencesInfo(True, True)
