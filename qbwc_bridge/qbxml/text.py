# ruff: noqa: RUF002, RUF003  (this module is about exactly those characters)
"""Character policy: what text QuickBooks Desktop is sent.

QuickBooks Desktop stores text in ISO-8859-1 (Latin-1) and rejects qbXML
that carries other characters (the whole message fails with 0x80040400, so
one emoji in one memo would block every event in the batch). Employees type
names and memos on phones, so curly quotes, dashes and emoji are normal
input. The policy, applied to every free text and FullName we send (never to
ListIDs, which are opaque identifiers and are checked, not rewritten):

1. Unicode NFC first, so "e" + combining acute becomes the Latin-1 "é".
2. Latin-1 printable characters stay as they are (é, ü, ñ, ß, ©, £ ...),
   and so do tab, line feed and carriage return.
3. Control characters (C0 except tab/LF/CR, DEL, C1) are removed: they are
   invisible, and most of them are not even legal in XML 1.0.
4. Typographic characters get their plain equivalents from a small table:
   “ ” „ → ", ‘ ’ ‚ ′ → ', – — ― − → -, … → ..., • → *, € → EUR, Ł → L,
   Œ → OE, and a few letters NFKD cannot decompose.
5. Anything else is decomposed (NFKD) and its combining marks are dropped,
   when that leaves only Latin-1: ő → o, ş → s, ﬁ → fi, full-width Ａ → A,
   ™ → TM.
6. Invisible helpers (zero-width joiners, variation selectors, emoji skin
   tones, stray combining marks) are removed, so one emoji is one "?".
7. What is still outside Latin-1 (emoji, CJK, Cyrillic ...) becomes "?".

XML escaping of &, <, >, quotes is lxml's job, not this module's.
"""

from __future__ import annotations

import unicodedata

REPLACEMENT = "?"

# Characters NFKD leaves alone (or maps badly) but a reader expects to survive.
_TABLE: dict[str, str] = {
    "\u2018": "'",  # ‘
    "\u2019": "'",  # ’
    "\u201a": "'",  # ‚
    "\u201b": "'",  # ‛
    "\u2032": "'",  # ′ prime
    "\u02bc": "'",  # ʼ modifier apostrophe
    "\u201c": '"',  # “
    "\u201d": '"',  # ”
    "\u201e": '"',  # „
    "\u201f": '"',  # ‟
    "\u2033": '"',  # ″ double prime
    "\u2039": "<",  # ‹
    "\u203a": ">",  # ›
    "\u2010": "-",  # hyphen
    "\u2011": "-",  # non-breaking hyphen
    "\u2012": "-",  # figure dash
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2015": "-",  # horizontal bar
    "\u2212": "-",  # minus sign
    "\u2026": "...",  # …
    "\u2022": "*",  # •
    "\u20ac": "EUR",  # €
    "\u0141": "L",  # Ł
    "\u0142": "l",  # ł
    "\u0110": "D",  # Đ
    "\u0111": "d",  # đ
    "\u0126": "H",  # Ħ
    "\u0127": "h",  # ħ
    "\u0131": "i",  # dotless ı
    "\u0152": "OE",  # Œ
    "\u0153": "oe",  # œ
    "\u0166": "T",  # Ŧ
    "\u0167": "t",  # ŧ
    "\u2116": "No",  # №
    "\u2028": "\n",  # line separator
    "\u2029": "\n",  # paragraph separator
}

_KEEP_CONTROLS = frozenset("\t\n\r")
_SKIN_TONES = range(0x1F3FB, 0x1F400)


def _is_latin1_printable(char: str) -> bool:
    code = ord(char)
    return 0x20 <= code < 0x7F or 0xA0 <= code <= 0xFF or char in _KEEP_CONTROLS


def _is_control(char: str) -> bool:
    code = ord(char)
    return (code < 0x20 and char not in _KEEP_CONTROLS) or 0x7F <= code <= 0x9F


def _is_invisible(char: str) -> bool:
    """Joiners, variation selectors, skin tones, stray marks: drop, don't replace."""
    if ord(char) in _SKIN_TONES:
        return True
    return unicodedata.category(char) in ("Mn", "Mc", "Me", "Cf")


def _decomposed(char: str) -> str | None:
    """NFKD without combining marks, if that is plain Latin-1; else None."""
    stripped = "".join(
        part for part in unicodedata.normalize("NFKD", char) if not unicodedata.combining(part)
    )
    if stripped and all(
        _is_latin1_printable(part) and part not in _KEEP_CONTROLS for part in stripped
    ):
        return stripped
    return None


def _map_char(char: str) -> str:
    if _is_latin1_printable(char):
        return char
    if _is_control(char):
        return ""
    mapped = _TABLE.get(char)
    if mapped is not None:
        return mapped
    if _is_invisible(char):
        return ""
    decomposed = _decomposed(char)
    return decomposed if decomposed is not None else REPLACEMENT


def to_qb_text(value: str) -> str:
    """Maps any text to what QuickBooks accepts (see the module docstring)."""
    return "".join(_map_char(char) for char in unicodedata.normalize("NFC", value))


def truncate(value: str, limit: int, marker: str = "...") -> str:
    """Cuts `value` to `limit` characters, ending with `marker` so a reader sees the cut."""
    if len(value) <= limit:
        return value
    return value[: limit - len(marker)] + marker
