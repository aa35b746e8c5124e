"""Turning the bytes of a spreadsheet export into records with line numbers.

Encoding, in this order (`--encoding` skips the guessing):

1. A UTF-8 byte order mark: UTF-8, and it must then decode cleanly (a file that
   announces UTF-8 and is not is broken, not Windows-1252).
2. Valid UTF-8 without a BOM: UTF-8.
3. Otherwise Windows-1252, the encoding Excel on a US/Western Windows machine
   writes "CSV" in, but only if no line of the file is valid multi-byte UTF-8:
   a file that mixes both would come out half mojibake, so it is refused.
   cp1252 leaves five bytes undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D); a file
   containing one is refused as well. Mapping them to C1 controls (as
   latin-1 does) would store invisible garbage next to a SKU.

Refusals name the line of the first offending byte and suggest `--encoding`.

Records come from the standard `csv` module in strict mode: every cell stays a
string (nothing is ever read as a number, so `00123`, `1E5` and `12.50` survive),
quoted commas and line breaks work, CRLF/LF/CR line ends are all accepted, and
broken quoting is an error instead of a silently swallowed rest of file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass

WINDOWS_1252 = "windows-1252"

_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class SourceError(Exception):
    """The file cannot be read as a CSV at all; the message says where and why."""


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    """What the report shows: "utf-8 (BOM)", "utf-8", "windows-1252" or the forced codec."""


@dataclass(frozen=True)
class Record:
    line: int
    """Physical line (1-based) the record starts on, as a spreadsheet user counts."""
    cells: list[str]


def _line_of(data: bytes, offset: int) -> int:
    return len(_LINE_BREAK.findall(data, 0, offset)) + 1


def _decode_error(data: bytes, offset: int, what: str) -> SourceError:
    return SourceError(
        f"line {_line_of(data, offset)}: byte 0x{data[offset]:02X} is {what}; "
        "re-save the file as UTF-8 or name its encoding with --encoding"
    )


def decode(data: bytes, forced: str | None = None) -> Decoded:
    """Decodes the whole file once, by the rules in the module docstring."""
    if forced is not None:
        try:
            codec = codecs.lookup(forced).name
        except LookupError:
            raise SourceError(f"unknown encoding {forced!r}") from None
        # A UTF-8 BOM is a marker, not data: never let it become part of the first header.
        codec = "utf-8-sig" if codec == "utf-8" else codec
        try:
            return Decoded(data.decode(codec), forced)
        except UnicodeDecodeError as error:
            raise _decode_error(data, error.start, f"not valid {forced}") from None
    if data.startswith(codecs.BOM_UTF8):
        try:
            return Decoded(data[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8 (BOM)")
        except UnicodeDecodeError as error:
            raise _decode_error(
                data,
                len(codecs.BOM_UTF8) + error.start,
                "not valid UTF-8 although the file starts with a UTF-8 BOM",
            ) from None
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError as utf8_error:
        first_bad = utf8_error.start
    mixed = _UTF8_MULTIBYTE.search(data)
    if mixed is not None:
        raise SourceError(
            f"line {_line_of(data, first_bad)}: byte 0x{data[first_bad]:02X} is not UTF-8, but line "
            f"{_line_of(data, mixed.start())} is UTF-8 text: the file mixes encodings; re-save it as "
            "UTF-8 or name its encoding with --encoding"
        )
    try:
        return Decoded(data.decode(WINDOWS_1252), WINDOWS_1252)
    except UnicodeDecodeError as error:
        raise _decode_error(data, error.start, "neither UTF-8 nor Windows-1252") from None


def records(text: str) -> Iterator[Record]:
    """Yields every record, blank ones included (as empty lists), with its first line."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise SourceError(f"line {previous + 1}: CSV syntax error: {error}") from None
        yield Record(previous + 1, cells)
        previous = reader.line_num
