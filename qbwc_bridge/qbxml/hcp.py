"""Reads QBWC's `strHCPResponse`: what QuickBooks said about itself before the first message.

On the first sendRequestXML of a session QBWC passes the answers to the
HostQuery, CompanyQuery and PreferencesQuery it ran itself (a qbXML
response document). That text is a bonus, not a contract: it can be empty,
cut short, carry a BOM or no XML declaration, or be garbage. `read_hcp`
takes what it can and never raises; whatever is missing the bridge asks
QuickBooks for with its own queries.

The text comes from the network: entities are never resolved, no DTD or
network resource is ever loaded, and lxml's limits on huge documents stay on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias

from lxml import etree

from qbwc_bridge import contract
from qbwc_bridge.qbxml.parse import company_info, host_info, preferences_info

HcpInfo: TypeAlias = contract.HostInfo | contract.CompanyInfo | contract.PreferencesInfo

_BOM = "\ufeff"
_READERS: dict[str, Callable[[etree._Element], HcpInfo]] = {
    "HostQueryRs": lambda rs: host_info(_ret(rs, "HostRet")),
    "CompanyQueryRs": lambda rs: company_info(_ret(rs, "CompanyRet")),
    "PreferencesQueryRs": lambda rs: preferences_info(_ret(rs, "PreferencesRet")),
}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        recover=False,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
    )


def _parse(text: str) -> etree._Element | None:
    try:
        return etree.fromstring(text.encode("utf-8", "replace"), _parser())
    except (etree.LxmlError, ValueError):
        return None


def _ret(rs: etree._Element, tag: str) -> etree._Element:
    ret = rs.find(tag)
    if ret is None:
        raise LookupError(tag)
    return ret


def _answers(text: str) -> list[etree._Element]:
    """The Host/Company/PreferencesQueryRs elements the text holds whole.

    A well-formed document gives them all. A broken one (cut short, garbage
    around it) gives each answer that is well-formed on its own, and never
    a half-read one: a value cut mid-way ("3" of "33") must not pass for
    what QuickBooks said.
    """
    root = _parse(text)
    if root is not None:
        return list(root.iter(*_READERS))
    return [answer for _, answer in sorted(_whole_answers(text), key=lambda found: found[0])]


def _whole_answers(text: str) -> list[tuple[int, etree._Element]]:
    """Each answer found start tag to end tag and well-formed on its own, with its offset.

    Plain searches, not a regex: linear in the text whatever garbage it holds.
    """
    found = []
    for tag in _READERS:
        position = 0
        while True:
            start = text.find(f"<{tag}", position)
            if start < 0:
                break
            after = text[start + len(tag) + 1 : start + len(tag) + 2]
            if after not in (">", "/", " ", "\t", "\r", "\n"):
                position = start + 1  # a longer tag name that starts the same way
                continue
            closing = text.find(f"</{tag}", start)
            end = text.find(">", closing) if closing >= 0 else -1
            if end < 0:
                break  # cut short: no later answer of this kind is whole either
            answer = _parse(text[start : end + 1])
            if answer is not None:
                found.append((start, answer))
            position = end + 1
    return found


def read_hcp(text: str | None) -> tuple[HcpInfo, ...]:
    """Host, company and preferences as far as the HCP text tells them; () when it tells nothing.

    One entry per answer with its Ret (the first of each kind), in document
    order. A Ret without the fields we read still counts (those fields are
    None: the query ran, QuickBooks just did not say). An answer with an
    error status has no Ret and adds nothing.
    """
    if not text:
        return ()
    cleaned = text.lstrip().lstrip(_BOM).lstrip()
    # The text is already decoded: lxml refuses str input that still declares an encoding.
    if cleaned.startswith("<?xml"):
        end = cleaned.find("?>")
        cleaned = cleaned[end + 2 :] if end >= 0 else ""
    found: list[HcpInfo] = []
    seen: set[str] = set()
    for answer in _answers(cleaned):
        tag = str(answer.tag)
        if tag in seen:
            continue
        try:
            info = _READERS[tag](answer)
        except LookupError:
            continue  # an error status: no Ret
        seen.add(tag)
        found.append(info)
    return tuple(found)
