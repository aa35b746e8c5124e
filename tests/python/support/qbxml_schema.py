"""Intuit's qbXML 13.0 schema, loaded once per test session.

The xsd lives next to the repository (`../shared/qbxml/`, see its README),
never inside it. Missing schema is a setup error: fail loudly rather than
skip, or "every message validates" would silently stop being checked.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from lxml import etree

REPO_ROOT = Path(__file__).resolve().parents[3]
SCHEMA_DIR = REPO_ROOT.parent / "shared" / "qbxml"
ROOT_XSD = SCHEMA_DIR / "qbxmlops130.xsd"


@lru_cache(maxsize=1)
def load_schema() -> etree.XMLSchema:
    """The qbXML 13.0 schema (~0.1 s to load; cached for the session)."""
    if not ROOT_XSD.is_file():
        raise FileNotFoundError(
            f"qbXML schema not found at {ROOT_XSD}: the tests expect Intuit's qbXML 13.0 xsd "
            "in ../shared/qbxml/ next to the repository (see its README)"
        )
    return etree.XMLSchema(etree.parse(str(ROOT_XSD)))


def assert_valid(xml: str | bytes) -> etree._Element:
    """Validates a whole qbXML document; returns its root for further checks."""
    data = xml.encode("utf-8") if isinstance(xml, str) else xml
    root = etree.fromstring(data)
    load_schema().assertValid(root)
    return root
