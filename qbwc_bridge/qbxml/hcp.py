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

from lxml import etree

from qbwc_bridge.qbxml.parse import ONE_SHOT_READS, OneShotInfo, safe_parser, strip_prolog

# The answers the HCP text holds: HostQueryRs, CompanyQueryRs, PreferencesQueryRs.
_ANSWERS = tuple(f"{kind}Rs" for kind in ONE_SHOT_READS)


def _parse(text: str) -> etree._Element | None:
    try:
        return etree.fromstring(text.encode("utf-8", "replace"), safe_parser())
    except (etree.LxmlError, ValueError):
        return None


def _answers(text: str) -> list[etree._Element]:
    """The Host/Company/PreferencesQueryRs elements the text holds whole.

    A well-formed document gives them all. A broken one (cut short, garbage
    around it) gives each answer that is well-formed on its own, and never
    a half-read one: a value cut mid-way ("3" of "33") must not pass for
    what QuickBooks said.
    """
    root = _parse(text)
    if root is not None:
        return list(root.iter(*_ANSWERS))
    return [answer for _, answer in sorted(_whole_answers(text), key=lambda found: found[0])]


def _whole_answers(text: str) -> list[tuple[int, etree._Element]]:
    """Each answer found start tag to end tag and well-formed on its own, with its offset.

    Plain searches, not a regex: linear in the text whatever garbage it holds.
    """
    found = []
    for tag in _ANSWERS:
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


def read_hcp(text: str | None) -> tuple[OneShotInfo, ...]:
    """Host, company and preferences as far as the HCP text tells them; () when it tells nothing.

    One entry per answer with its Ret (the first of each kind), in document
    order. A Ret without the fields we read still counts (those fields are
    None: the query ran, QuickBooks just did not say). An answer with an
    error status has no Ret and adds nothing.
    """
    if not text:
        return ()
    found: list[OneShotInfo] = []
    seen: set[str] = set()
    for answer in _answers(strip_prolog(text) or ""):
        tag = str(answer.tag)
        if tag in seen:
            continue
        ret_tag, read = ONE_SHOT_READS[tag.removesuffix("Rs")]
        ret = answer.find(ret_tag)
        if ret is None:
            continue  # an error status: no Ret
        seen.add(tag)
        found.append(read(ret))
    return tuple(found)
