"""Rendering one query alone, for the tests of the reads (item sites and the rest)."""

from __future__ import annotations

from lxml import etree

from qbwc_bridge.contract import QueryRequest
from qbwc_bridge.qbxml import render
from qbwc_bridge.versions import QbxmlVersion

from .qbxml_schema import assert_valid

V13 = QbxmlVersion(13, 0)


def rendered(query: QueryRequest, version: QbxmlVersion = V13) -> etree._Element:
    """The query alone in a message, schema-validated; returns its *Rq element."""
    batch = render.render_batch([], version, queries=[query])
    assert batch.query_refusals == (), batch.query_refusals
    assert batch.xml is not None
    root = assert_valid(batch.xml)
    (request,) = root.find("QBXMLMsgsRq")
    return request


def children(element: etree._Element) -> list[tuple[str, str | None]]:
    return [(str(child.tag), child.text) for child in element]


def refusal(query: QueryRequest, version: QbxmlVersion = V13) -> str:
    """The reason the bridge refuses to render the query (and it renders nothing else)."""
    batch = render.render_batch([], version, queries=[query])
    assert batch.xml is None and batch.queries == ()
    (refused,) = batch.query_refusals
    assert (refused.request_id, refused.kind) == (query.request_id, query.kind)
    return refused.reason
