"""The item importer: CSV -> `inventory_parts` through `parts:upsertBatch`.

The first half checks the parts that need no server (decoding, header mapping,
row rules, batching). The second half imports into the local Convex runtime
(the real `convex/` functions) and reads every claim back through Convex:
SKU fidelity, idempotency, determinism, dry runs, bad rows, both entry points.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from convex.http_client import ConvexHttpClient

from convex import ConvexError
from qbwc_bridge import importer
from qbwc_bridge.convex_gateway import ConvexCallError
from qbwc_bridge.importer.columns import ColumnError, map_columns
from qbwc_bridge.importer.rows import build_plan
from qbwc_bridge.importer.source import SourceError, decode, records
from qbwc_bridge.importer.upload import Progress, make_batches

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures" / "import"
EXPORT = FIXTURES / "items_export.csv"
CP1252 = FIXTURES / "items_cp1252.csv"
BAD = FIXTURES / "items_bad.csv"
EXPORT_PARTS = 309

# The special rows of items_export.csv, as Convex must store them.
EXPORT_SPECIAL: dict[str, dict[str, Any]] = {
    "00123": {
        "name": 'Hex bolt, M8 "zinc"',
        "description": "Zinc plated, 50 per box",
        "cost": 1234.5,
        "price": 1500.0,
        "active": True,
        "qbItemFullName": "Hardware:Hex bolt M8",
        "qbItemListId": "80000001-1700000001",
    },
    "1E5": {
        "name": "Fuse 5A",
        "cost": 0.1,
        "price": 0.25,
        "active": True,
        "qbItemFullName": "Electrical:Fuse 5A",
        "qbItemListId": "80000002-1700000002",
    },
    "12.50": {
        "name": "Washer 12.50 mm",
        "description": "Flat washer\nstainless",
        "cost": 0.5,
        "price": 1.0,
        "active": True,
    },
    "-0001": {"name": "Sample item", "active": False},
    "AB  12 X": {"name": "Double-spaced SKU", "cost": 3.0, "price": 4.5, "active": True},
    "0000": {"name": "All zeros", "cost": 0.0, "price": 0.0, "active": False},
    "NB-1": {"name": "No-break space around SKU"},
    "Müller-7": {
        "name": "Gasket Müller & Söhne",
        "description": "Dichtung — “premium”",
        "cost": 7.0,
        "price": 12.0,
        "active": True,
        "qbItemFullName": "Gaskets:Müller 7",
    },
    "007": {"name": "Padded name"},
}
# What a number-guessing reader (or a careless trim) would have stored instead.
EXPORT_LOOKALIKES = ["123", "100000", "1E+05", "12.5", "-1", "AB 12 X", "0", " 00123 ", "7"]
CATEGORIES = [
    ("HW", "Hardware", "Hex bolt"),
    ("EL", "Electrical", "Fuse"),
    ("FL", "Filters", "Oil filter"),
    ("PL", "Plumbing", "Elbow"),
]


def export_bulk_row(i: int) -> tuple[str, dict[str, Any]]:
    """Rows 1..300 of items_export.csv follow this formula (the fixture was generated from it)."""
    code, category, noun = CATEGORIES[i % 4]
    name = f"{noun} {i}"
    if i % 7 == 0:
        description = f"{noun}, size {i}"
    elif i % 11 == 0:
        description = f"{noun}\nrow {i}"
    else:
        description = name
    return f"{code}-{i:05d}", {
        "name": name,
        "description": description,
        "cost": float(f"{i * 1.37:.2f}"),
        "price": float(f"{i * 2.11:.2f}"),
        "active": i % 13 != 0,
        "qbItemFullName": f"{category}:{name}",
        "qbItemListId": f"{0x80000100 + i:X}-1700000{i:03d}",
    }


def plan_of(text: str, *mappings: str) -> Any:
    rows = records(text)
    header = next(rows)
    return build_plan(rows, map_columns(header.cells, mappings))


# -- decoding ----------------------------------------------------------------------


def test_utf8_bom_is_detected_and_not_part_of_the_first_header() -> None:
    decoded = decode(b"\xef\xbb\xbfSKU,Name\r\n")
    assert decoded.encoding == "utf-8 (BOM)"
    assert decoded.text == "SKU,Name\r\n"


def test_plain_utf8_is_utf8() -> None:
    assert decode("SKU\nMüller\n".encode()).encoding == "utf-8"


def test_windows_1252_is_the_fallback() -> None:
    decoded = decode(CP1252.read_bytes())
    assert decoded.encoding == "windows-1252"
    assert "Café crème" in decoded.text
    assert "10\u201312 ™" in decoded.text
    assert "€ priced" in decoded.text


def test_byte_undefined_in_windows_1252_is_refused_with_its_line() -> None:
    with pytest.raises(SourceError, match=r"line 3: byte 0x81 is neither UTF-8 nor Windows-1252"):
        decode(b"SKU\nA\n\x81B\n")


def test_file_mixing_utf8_and_windows_1252_is_refused() -> None:
    data = "SKU,Name\nA,Müller\n".encode() + "B,Café\n".encode("cp1252")
    with pytest.raises(SourceError, match=r"line 3: byte 0xE9 is not UTF-8, but line 2 is UTF-8"):
        decode(data)


def test_utf8_bom_with_invalid_utf8_is_not_guessed_around() -> None:
    with pytest.raises(SourceError, match="line 2: byte 0xE9 is not valid UTF-8 although"):
        decode(b"\xef\xbb\xbfSKU\nCaf\xe9\n")


def test_forced_encoding_wins_and_unknown_encoding_is_an_error() -> None:
    assert decode(b"SKU\n\x81\n", "latin-1").text == "SKU\n\x81\n"
    assert decode(b"\xef\xbb\xbfSKU\n", "UTF8").text == "SKU\n"
    with pytest.raises(SourceError, match="unknown encoding 'klingon'"):
        decode(b"SKU\n", "klingon")


# -- CSV records ------------------------------------------------------------------


def test_records_carry_their_first_physical_line() -> None:
    text = 'SKU,Desc\r\nA,"two\r\nlines"\r\n\r\nB,"x, y"\rC,z\n'
    assert [(r.line, r.cells) for r in records(text)] == [
        (1, ["SKU", "Desc"]),
        (2, ["A", "two\r\nlines"]),
        (4, []),
        (5, ["B", "x, y"]),
        (6, ["C", "z"]),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('SKU\nA\n"B\nC\n', r"line 3: CSV syntax error: unexpected end of data"),
        ('SKU,N\nA,"x"y\n', r"line 2: CSV syntax error: ',' expected after '\"'"),
    ],
)
def test_broken_quoting_is_an_error_not_a_swallowed_file(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        list(records(text))


# -- header mapping ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["SKU", "Name"], {"sku": "SKU", "name": "Name"}),
        (["item_number", "PRODUCT NAME"], {"sku": "item_number", "name": "PRODUCT NAME"}),
        (["Item #", "Item Name"], {"sku": "Item #", "name": "Item Name"}),
        (["Item Name", "Description"], {"sku": "Item Name", "description": "Description"}),
        (["Item", "Name"], {"sku": "Item", "name": "Name"}),
        (
            ["Part No.", "Desc", "Unit Cost", "Rate"],
            {
                "sku": "Part No.",
                "description": "Desc",
                "cost": "Unit Cost",
                "price": "Rate",
            },
        ),
        (
            ["Part Number", "Sales Description", "Purchase Cost", "Sales Price", "Is Active"],
            {
                "sku": "Part Number",
                "description": "Sales Description",
                "cost": "Purchase Cost",
                "price": "Sales Price",
                "active": "Is Active",
            },
        ),
        (
            ["SKU", "QuickBooks item full name", "QB ListID", "Status"],
            {
                "sku": "SKU",
                "qbItemFullName": "QuickBooks item full name",
                "qbItemListId": "QB ListID",
                "active": "Status",
            },
        ),
        (
            ["sku", "Full Name", "ListID"],
            {
                "sku": "sku",
                "qbItemFullName": "Full Name",
                "qbItemListId": "ListID",
            },
        ),
    ],
)
def test_header_aliases(headers: list[str], expected: dict[str, str]) -> None:
    assert map_columns(headers).describe() == expected


def test_unknown_and_unnamed_columns_are_ignored_and_listed() -> None:
    mapped = map_columns(["SKU", "Qty On Hand", "", "Vendor", ""])
    assert mapped.describe() == {"sku": "SKU"}
    assert [mapped.headers[i] for i in mapped.ignored] == ["Qty On Hand", "Vendor"]
    assert mapped.unnamed == [2, 4]


def test_report_lists_ignored_columns_and_unnamed_ones_that_hold_data(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, unreachable_convex: None
) -> None:
    path = tmp_path / "items.csv"
    path.write_text("SKU,Qty,,Vendor,,\nA,1,,x,,\n,,,,note,\n", encoding="utf-8")
    code, out, _ = _main(capsys, tmp_path, path, "--dry-run")
    assert code == 1  # the second row has data but no SKU
    assert 'Ignored columns: "Qty", "Vendor", column 5 (no header)\n' in out


def test_map_overrides_aliases_and_can_leave_a_field_out() -> None:
    mapped = map_columns(["SKU", "Code", "Name", "Price"], ["sku=code", "name=SKU", "PRICE="])
    assert mapped.describe() == {"sku": "Code", "name": "SKU"}
    assert [mapped.headers[i] for i in mapped.ignored] == ["Name", "Price"]


@pytest.mark.parametrize(
    ("headers", "mappings", "message"),
    [
        (["Name", "Qty"], [], r'no SKU column among "Name", "Qty"; name it with --map sku=COLUMN'),
        (["SKU", "sku"], [], r"2 columns could be the sku"),
        (["SKU"], ["colour=SKU"], r"unknown field; fields are sku, name"),
        (["SKU"], ["price=Cost"], r'--map price=Cost: no such column \(columns: "SKU"\)'),
        (["SKU"], ["price"], r"expected FIELD=COLUMN"),
        (["SKU", "X"], ["cost=X", "price=X"], r'column "X" is mapped to both cost and price'),
    ],
)
def test_header_problems_are_usage_errors(
    headers: list[str], mappings: list[str], message: str
) -> None:
    with pytest.raises(ColumnError, match=message):
        map_columns(headers, mappings)


# -- row rules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "sku"),
    [
        ("00123", "00123"),
        ("1E5", "1E5"),
        ("12.50", "12.50"),
        ("-0001", "-0001"),
        ("AB  12 X", "AB  12 X"),
        ("  00123\t", "00123"),
        ("\u00a0\ufeffX-1\u00a0", "X-1"),
        ("1,000", "1,000"),
    ],
)
def test_sku_is_kept_as_text_with_only_surrounding_whitespace_trimmed(cell: str, sku: str) -> None:
    plan = plan_of(f'SKU\n"{cell}"\n')
    assert plan.parts == [{"sku": sku}]


@pytest.mark.parametrize(
    ("cell", "amount"),
    [
        ("12.5", 12.5),
        ("$1,234.50", 1234.5),
        ("$ 7", 7.0),
        (".75", 0.75),
        ("0", 0.0),
        ("1234567.891", 1234567.891),
    ],
)
def test_amounts(cell: str, amount: float) -> None:
    assert plan_of(f'SKU,Cost\nA,"{cell}"\n').parts[0]["cost"] == amount


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("abc", 'cost "abc" is not an amount'),
        ("1e5", 'cost "1e5" is not an amount'),
        ("12,50", 'cost "12,50" is not an amount'),
        ("1,23.4", 'cost "1,23.4" is not an amount'),
        ("-3", 'cost "-3" is negative'),
        ("NaN", 'cost "NaN" is not an amount'),
    ],
)
def test_bad_amounts_make_the_row_bad(cell: str, message: str) -> None:
    plan = plan_of(f'SKU,Cost\nA,"{cell}"\n')
    assert plan.parts == []
    assert plan.bad[0].line == 2
    assert plan.bad[0].message.startswith(message)


@pytest.mark.parametrize(
    ("cell", "active"),
    [
        *[("Yes", True), ("y", True), ("TRUE", True), ("1", True), ("Active", True)],
        *[("no", False), ("N", False), ("false", False), ("0", False), ("Inactive", False)],
    ],
)
def test_active_words(cell: str, active: bool) -> None:
    assert plan_of(f"SKU,Active\nA,{cell}\n").parts[0]["active"] is active


def test_blank_cells_leave_fields_out_and_blank_rows_are_skipped() -> None:
    plan = plan_of("SKU,Name,Price,Active\n\nA, ,,\n,,,\n ,\t, ,\n")
    assert plan.parts == [{"sku": "A"}]
    assert plan.rows == 1
    assert plan.bad == []


def test_lengths_are_counted_in_utf16_units_like_convex() -> None:
    # 100 emoji are 200 UTF-16 units: the limit exactly; one more is over it.
    ok = plan_of(f"SKU,Name\nA,{'😀' * 100}\n")
    assert ok.bad == []
    over = plan_of(f"SKU,Name\nA,{'😀' * 100}x\n")
    assert over.bad[0].message == "name is 201 characters long (max 200)"
    long_sku = plan_of(f"SKU\n{'9' * 101}\n")
    assert long_sku.bad[0].message == "SKU is 101 characters long (max 100)"


def test_single_line_fields_refuse_line_breaks_but_descriptions_keep_them() -> None:
    plan = plan_of('SKU,Name,Description\nA,Bolt,"one\r\ntwo"\nB,"Bo\nlt",x\n"C\nD",x,x\n')
    assert plan.parts == [{"sku": "A", "name": "Bolt", "description": "one\ntwo"}]
    assert [(p.line, p.message) for p in plan.bad] == [
        (4, 'name "Bo\\nlt" contains a line break or control character'),
        (6, 'SKU "C\\nD" contains a line break or control character'),
    ]


def test_cells_beyond_the_header_make_the_row_bad_unless_empty() -> None:
    plan = plan_of("SKU,Name\nA,x,,\nB,x,y\n")
    assert [part["sku"] for part in plan.parts] == ["A"]
    assert plan.bad[0].line == 3
    assert "3 cells but the header has 2 columns" in plan.bad[0].message


def test_duplicate_skus() -> None:
    plan = build_plan_from_file(BAD)
    assert [part["sku"] for part in plan.parts] == ["A-1", "B-1", "F-1"]
    assert [(w.line, w.message) for w in plan.warnings] == [
        (2, 'SKU "A-1" is repeated with the same data on lines 2, 4: imported once')
    ]
    assert [(p.line, p.message) for p in plan.bad] == [
        (5, 'SKU "C-1" is also on line 6 with different price'),
        (6, 'SKU "C-1" is also on line 5 with different price'),
        (7, "missing SKU"),
        (8, 'price "abc" is not an amount (write e.g. 12.50 or $1,234.50)'),
        (9, "name is 201 characters long (max 200)"),
    ]


def test_a_duplicate_of_a_bad_row_is_bad_too() -> None:
    plan = plan_of("SKU,Price\nA,1\nA,x\n")
    assert plan.parts == []
    assert [(p.line, p.message) for p in plan.bad] == [
        (2, 'SKU "A" is also on bad line 3'),
        (3, 'price "x" is not an amount (write e.g. 12.50 or $1,234.50)'),
    ]


def build_plan_from_file(path: Path) -> Any:
    return plan_of(decode(path.read_bytes()).text)


# -- batching and progress --------------------------------------------------------


def test_batches_respect_the_count_and_the_byte_budget() -> None:
    small = [{"sku": f"S{i}"} for i in range(1201)]
    assert [len(b) for b in make_batches(small)] == [500, 500, 201]
    big = [{"sku": f"B{i}", "description": "é" * 2000} for i in range(10)]
    batches = make_batches(big, max_bytes=30_000)
    assert [len(b) for b in batches] == [2, 2, 2, 2, 2]
    assert all(len(json.dumps(b).encode()) < 30_000 for b in batches)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal() -> None:
    pipe = io.StringIO()
    quiet = Progress(10, "Importing", stream=pipe)
    quiet.advance(5)
    quiet.close()
    assert pipe.getvalue() == ""
    terminal = _Terminal()
    bar = Progress(10, "Importing", stream=terminal)
    bar.advance(5)
    bar.advance(5)
    bar.close()
    assert terminal.getvalue().endswith("] 10/10 (100%)\n")
    assert "5/10 (50%)" in terminal.getvalue()


# -- runs that never reach Convex ---------------------------------------------------


def _main(capsys: pytest.CaptureFixture[str], tmp_path: Path, *argv: str) -> tuple[int, str, str]:
    code = importer.main(["--env-file", str(tmp_path / "none.env"), *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def unreachable_convex(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings that pass validation; these tests must stop before any call."""
    monkeypatch.setenv("CONVEX_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CONVEX_DEPLOY_KEY", "unused")


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (None, [], "cannot read"),
        (b"", [], "the file has no header row"),
        (b"Name,Qty\nx,1\n", [], "no SKU column"),
        (b'SKU\n"A\n', [], "line 2: CSV syntax error"),
        (b"SKU\nA\x81\n", [], "line 2: byte 0x81 is neither UTF-8 nor Windows-1252"),
        (b"SKU\nA\n", ["--map", "price=Cost"], "--map price=Cost: no such column"),
    ],
)
def test_unusable_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    unreachable_convex: None,
    content: bytes | None,
    extra: list[str],
    message: str,
) -> None:
    path = tmp_path / "items.csv"
    if content is not None:
        path.write_bytes(content)
    code, out, err = _main(capsys, tmp_path, path, *extra)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("error: ")
    assert message in err


def test_bad_rows_exit_1_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, unreachable_convex: None
) -> None:
    code, out, err = _main(capsys, tmp_path, BAD)
    assert code == 1
    assert err == ""
    assert out.endswith(
        "Nothing written: 5 bad rows. Fix them, or use --skip-bad to import the other 3 part(s).\n"
    )


class _RefusesSecondBatch:
    """Stands in for Convex refusing one batch; the server's own rules are tested for real below."""

    def __init__(self) -> None:
        self.calls = 0

    def mutation(self, path: str, args: dict[str, Any]) -> Any:
        self.calls += 1
        if self.calls == 2:
            raise ConvexCallError(path, "name too long", code="INVALID_ARGUMENT")
        return {"created": len(args["parts"]), "updated": 0, "unchanged": 0, "changes": []}


def test_a_refused_batch_stops_the_import_and_says_what_was_written(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser()
    importer.add_arguments(parser)
    gateway = _RefusesSecondBatch()
    code = importer.run(parser.parse_args([str(EXPORT), "--batch-size", "100"]), lambda: gateway)
    out, err = capsys.readouterr()
    assert code == 1
    assert gateway.calls == 2
    assert out.endswith(
        "Stopped: batch 2 of 4 failed: name too long. Before it (written): 100 created, "
        "0 updated, 0 unchanged. Importing again is safe.\n"
    )
    assert err == "error: batch 2 of 4 failed: name too long\n"


def _no_convex_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("CONVEX_URL", "CONVEX_DEPLOY_KEY")}


def _entry_points(tmp_path: Path) -> list[list[str]]:
    env_file = str(tmp_path / "none.env")
    return [
        [sys.executable, "execution/inventory_import_items.py", "--env-file", env_file],
        [str(Path(sys.executable).parent / "qbwc-bridge"), "--env-file", env_file, "import-items"],
    ]


@pytest.mark.parametrize("entry", [0, 1], ids=["script", "qbwc-bridge"])
def test_missing_convex_settings_is_one_line_and_exit_2(tmp_path: Path, entry: int) -> None:
    command = [*_entry_points(tmp_path)[entry], str(EXPORT)]
    result = subprocess.run(
        command, cwd=REPO, env=_no_convex_env(), capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == "error: CONVEX_URL is not set (the Convex deployment URL).\n"


# -- against the local Convex runtime ------------------------------------------------


@pytest.fixture
def runtime(convex: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CONVEX_URL", convex.url)
    monkeypatch.setenv("CONVEX_DEPLOY_KEY", convex.admin_key)
    return convex


def read_part(runtime: Any, sku: str) -> dict[str, Any] | None:
    """The part as an employee's app sees it (public query, signed-in user)."""
    client = ConvexHttpClient(runtime.url)
    client.set_auth("importer-test-user")
    try:
        return dict(client.query("inventory:getItemDetail", {"sku": sku})["part"])
    except ConvexError as error:
        if isinstance(error.data, dict) and error.data.get("code") == "PART_NOT_FOUND":
            return None
        raise


def stored_fields(part: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in part.items() if k not in ("_id", "_creationTime", "sku")}


def test_realistic_export_round_trips_every_sku(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, runtime: Any
) -> None:
    code, out, err = _main(capsys, tmp_path, EXPORT, "--quiet")
    assert (code, err) == (0, "")
    assert out == f"Result: {EXPORT_PARTS} created, 0 updated, 0 unchanged\n"
    for sku, fields in EXPORT_SPECIAL.items():
        part = read_part(runtime, sku)
        assert part is not None, sku
        assert part["sku"] == sku
        assert stored_fields(part) == fields, sku
    for i in (1, 7, 11, 13, 150, 151, 300):
        sku, fields = export_bulk_row(i)
        part = read_part(runtime, sku)
        assert part is not None, sku
        assert stored_fields(part) == fields, sku
    for lookalike in EXPORT_LOOKALIKES:
        assert read_part(runtime, lookalike) is None, lookalike


def test_second_run_changes_nothing_and_reports_the_same_bytes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, runtime: Any
) -> None:
    assert _main(capsys, tmp_path, EXPORT)[0] == 0
    before = {sku: read_part(runtime, sku) for sku in EXPORT_SPECIAL}
    second = _main(capsys, tmp_path, EXPORT)
    third = _main(capsys, tmp_path, EXPORT)
    assert second[0] == 0
    assert second[1].endswith(f"\nResult: 0 created, 0 updated, {EXPORT_PARTS} unchanged\n")
    assert "Changes" not in second[1]
    assert second == third
    assert {sku: read_part(runtime, sku) for sku in EXPORT_SPECIAL} == before


def _changes_and_result(report: str) -> str:
    return report[report.index("Changes") :]


def test_report_does_not_depend_on_row_order_or_line_endings(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, runtime: Any
) -> None:
    lines = EXPORT.read_text(encoding="utf-8-sig").replace("\r\n", "\n")
    header, body = lines.split("\n", 1)
    # Reverse whole records (the csv module knows where quoted line breaks are).
    reader = list(records(body))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(record.cells for record in reversed(reader) if record.cells)
    shuffled = tmp_path / "shuffled.csv"
    shuffled.write_text(header + "\n" + buffer.getvalue(), encoding="utf-8")

    original = _main(capsys, tmp_path, EXPORT, "--dry-run")
    reordered = _main(capsys, tmp_path, shuffled, "--dry-run")
    assert original[0] == reordered[0] == 0
    assert _changes_and_result(original[1]) == _changes_and_result(reordered[1])
    assert original[1].endswith(
        f"Dry run, nothing written: {EXPORT_PARTS} created, 0 updated, 0 unchanged\n"
    )


def test_dry_run_lists_creates_and_updates_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, runtime: Any
) -> None:
    first = tmp_path / "first.csv"
    first.write_text("SKU,Name,Price\n00123,Bolt,1.00\n1E5,Fuse,2.00\n", encoding="utf-8")
    code, out, _ = _main(capsys, tmp_path, first, "--dry-run")
    assert code == 0
    assert 'Changes (dry run):\n  create "00123": name, price\n  create "1E5": name, price\n' in out
    assert read_part(runtime, "00123") is None

    assert _main(capsys, tmp_path, first)[0] == 0
    second = tmp_path / "second.csv"
    second.write_text("SKU,Name,Price\n00123,Bolt,1.50\n1E5,Fuse,2.00\nNEW,New,3\n", "utf-8")
    code, out, _ = _main(capsys, tmp_path, second, "--dry-run")
    assert code == 0
    assert out.endswith(
        'Changes (dry run):\n  update "00123": price\n  create "NEW": name, price\n'
        "Dry run, nothing written: 1 created, 1 updated, 1 unchanged\n"
    )
    assert (read_part(runtime, "00123") or {})["price"] == 1.0
    assert read_part(runtime, "NEW") is None

    code, out, _ = _main(capsys, tmp_path, second)
    assert code == 0
    assert out.endswith(
        'Changes:\n  update "00123": price\n  create "NEW": name, price\n'
        "Result: 1 created, 1 updated, 1 unchanged\n"
    )
    assert (read_part(runtime, "00123") or {})["price"] == 1.5


def test_windows_1252_file_is_stored_as_the_right_characters(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, runtime: Any
) -> None:
    code, out, _ = _main(capsys, tmp_path, CP1252)
    assert code == 0
    assert "(encoding windows-1252, 2 rows)" in out
    assert stored_fields(read_part(runtime, "CF-1") or {}) == {
        "name": "Café crème",
        "description": "Size 10\u201312 ™",
        "price": 4.5,
    }
    assert (read_part(runtime, "CF-2") or {})["name"] == "Crème brûlée “deluxe”"


def test_bad_rows_block_the_whole_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, runtime: Any
) -> None:
    code, out, _ = _main(capsys, tmp_path, BAD)
    assert code == 1
    assert "line 7: missing SKU" in out
    for sku in ("A-1", "B-1", "C-1", "F-1"):
        assert read_part(runtime, sku) is None


def test_skip_bad_loads_the_good_rows_and_still_exits_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, runtime: Any
) -> None:
    code, out, _ = _main(capsys, tmp_path, BAD, "--skip-bad", "--json")
    assert code == 1
    report = json.loads(out)
    assert [row["line"] for row in report["badRows"]] == [5, 6, 7, 8, 9]
    assert [row["sku"] for row in report["badRows"]] == ["C-1", "C-1", None, "D-1", "E-1"]
    assert (report["created"], report["updated"], report["unchanged"]) == (3, 0, 0)
    assert report["written"] is True
    assert [change["sku"] for change in report["changes"]] == ["A-1", "B-1", "F-1"]
    assert stored_fields(read_part(runtime, "A-1") or {}) == {"name": "Alpha", "price": 1.0}
    for sku in ("C-1", "D-1", "E-1"):
        assert read_part(runtime, sku) is None


def test_large_file_goes_in_several_batches_and_reimports_as_unchanged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, runtime: Any
) -> None:
    rows = 2_345
    path = tmp_path / "big.csv"
    lines = ["Part Number,Item Name,Sales Price,Description"]
    lines += [f'{i:07d},Part {i},"{i:,}.25","Bulk item {i}, boxed"' for i in range(rows)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8-sig"))
    code, out, _ = _main(capsys, tmp_path, path, "--quiet")
    assert (code, out) == (0, f"Result: {rows} created, 0 updated, 0 unchanged\n")
    for i in (0, 499, 500, 1234, rows - 1):
        part = read_part(runtime, f"{i:07d}")
        assert part is not None
        assert stored_fields(part) == {
            "name": f"Part {i}",
            "price": i + 0.25,
            "description": f"Bulk item {i}, boxed",
        }
    code, out, _ = _main(capsys, tmp_path, path, "--quiet")
    assert (code, out) == (0, f"Result: 0 created, 0 updated, {rows} unchanged\n")


@pytest.mark.parametrize("entry", [0, 1], ids=["script", "qbwc-bridge"])
def test_entry_points_run_as_commands(tmp_path: Path, runtime: Any, entry: int) -> None:
    env = {**_no_convex_env(), "CONVEX_URL": runtime.url, "CONVEX_DEPLOY_KEY": runtime.admin_key}
    command = [*_entry_points(tmp_path)[entry], str(CP1252)]
    first = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert (first.returncode, first.stderr) == (0, "")
    assert first.stdout.endswith("Result: 2 created, 0 updated, 0 unchanged\n")
    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert again.stdout.endswith("Result: 0 created, 0 updated, 2 unchanged\n")
    assert (read_part(runtime, "CF-1") or {})["name"] == "Café crème"
