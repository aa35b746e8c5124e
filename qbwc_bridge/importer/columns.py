"""Which CSV column feeds which part field.

Headers are compared after normalising: case-folded, `#` read as "number", and
everything but letters and digits dropped, so "Item #", "ITEM_NUMBER" and
"item number" are the same header.

Each field has aliases in priority order, and fields claim columns in the order
of `ALIASES`, SKU first. That settles the ambiguous "Item Name" (QuickBooks'
"Item Name/Number" is the key businesses use as their SKU): it is the SKU when
no better SKU column exists (SKU, Item Number, Part Number, Item...), and the
name otherwise. With both "Item" and "Name", Item is the SKU and Name the name.
`--map field=Column` wins over every alias; `--map field=` leaves a field out.
Columns nobody claims are reported and ignored, never fatal.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

ALIASES: dict[str, tuple[str, ...]] = {
    "sku": (
        "sku",
        "itemnumber",
        "itemno",
        "partnumber",
        "partno",
        "itemnamenumber",
        "item",
        "itemcode",
        "productcode",
        "itemname",
    ),
    "name": ("name", "productname", "itemname", "title"),
    "description": ("description", "desc", "salesdescription", "itemdescription"),
    "qbItemFullName": (
        "quickbooksitemfullname",
        "qbitemfullname",
        "qbfullname",
        "quickbooksfullname",
        "fullname",
    ),
    "qbItemListId": ("listid", "qblistid", "qbitemlistid", "quickbookslistid"),
    "cost": ("cost", "purchasecost", "unitcost"),
    "price": ("price", "salesprice", "rate", "unitprice"),
    "active": ("active", "isactive", "activestatus", "status"),
}
FIELDS = tuple(ALIASES)


class ColumnError(Exception):
    """The header cannot be mapped (no SKU column, a bad --map); nothing is read."""


@dataclass(frozen=True)
class ColumnMap:
    fields: dict[str, int]
    """Field name -> 0-based column index, in `FIELDS` order."""
    headers: list[str]
    ignored: list[int]
    """Indexes of named columns no field uses (reported to the user)."""
    unnamed: list[int]
    """Indexes of columns with a blank header (reported only if they hold data)."""

    def describe(self) -> dict[str, str]:
        return {field: self.headers[index] for field, index in self.fields.items()}


def normalize(header: str) -> str:
    return re.sub(r"[\W_]+", "", header.casefold().replace("#", "number"))


def _field_name(raw: str) -> str:
    by_normal = {normalize(field): field for field in FIELDS}
    field = by_normal.get(normalize(raw))
    if field is None:
        raise ColumnError(f"--map {raw}=...: unknown field; fields are {', '.join(FIELDS)}")
    return field


def _overrides(mappings: Sequence[str]) -> dict[str, str]:
    """Parses `field=Column` pairs; an empty column means "do not import this field"."""
    result: dict[str, str] = {}
    for mapping in mappings:
        raw_field, separator, column = mapping.partition("=")
        if not separator:
            raise ColumnError(f"--map {mapping!r}: expected FIELD=COLUMN, e.g. sku='Item Number'")
        field = _field_name(raw_field)
        if field in result:
            raise ColumnError(f"--map: {field} is mapped twice")
        result[field] = column.strip()
    return result


def _quoted(headers: Sequence[str]) -> str:
    return ", ".join(f'"{header}"' for header in headers if header.strip())


def map_columns(headers: Sequence[str], mappings: Sequence[str] = ()) -> ColumnMap:
    """Assigns columns to fields: --map first, then aliases by priority."""
    normals = [normalize(header) for header in headers]
    taken: dict[int, str] = {}
    chosen: dict[str, int] = {}
    overrides = _overrides(mappings)
    for field, column in overrides.items():
        if column == "":
            continue
        matches = [index for index, normal in enumerate(normals) if normal == normalize(column)]
        if not matches:
            raise ColumnError(
                f"--map {field}={column}: no such column (columns: {_quoted(headers)})"
            )
        if len(matches) > 1:
            raise ColumnError(
                f'--map {field}={column}: {len(matches)} columns are named "{column}"'
            )
        if matches[0] in taken:
            raise ColumnError(
                f'--map: column "{column}" is mapped to both {taken[matches[0]]} and {field}'
            )
        taken[matches[0]] = field
        chosen[field] = matches[0]
    for field, aliases in ALIASES.items():
        if field in overrides:
            continue
        for alias in aliases:
            matches = [i for i, normal in enumerate(normals) if normal == alias and i not in taken]
            if len(matches) > 1:
                raise ColumnError(
                    f'{len(matches)} columns could be the {field} ("{headers[matches[0]]}"); '
                    f"rename one or choose with --map {field}=COLUMN"
                )
            if matches:
                taken[matches[0]] = field
                chosen[field] = matches[0]
                break
    if "sku" not in chosen:
        raise ColumnError(f"no SKU column among {_quoted(headers)}; name it with --map sku=COLUMN")
    ignored = [i for i, header in enumerate(headers) if header.strip() and i not in taken]
    unnamed = [i for i, header in enumerate(headers) if not header.strip() and i not in taken]
    fields = {field: chosen[field] for field in FIELDS if field in chosen}
    return ColumnMap(fields=fields, headers=list(headers), ignored=ignored, unnamed=unnamed)
