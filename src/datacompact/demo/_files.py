"""Writers that hand the demo tables over the way departments do, byte for byte the same.

Reproducibility needs care in two places: openpyxl stamps the workbook with
the time of saving, and ``zipfile`` stamps every member, so the XLSX is
re-packed with fixed times. The CSV, Parquet and JSON Lines writers are
deterministic for a given library version.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import orjson
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.csv as pacsv  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]
from openpyxl import Workbook  # type: ignore[import-untyped, unused-ignore]
from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped, unused-ignore]

FIXED_TIME = datetime(2025, 1, 1, 8, 0, 0)
_ZIP_TIME = (2025, 1, 1, 8, 0, 0)
_W3CDTF = re.compile(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*(</dcterms:)")


def write_csv(
    table: pa.Table,
    path: Path,
    *,
    encoding: str = "utf-8",
    bom: bool = False,
    delimiter: str = ",",
    eol: str = "\n",
) -> None:
    """CSV or TSV in UTF-8 (optionally with a BOM), GBK or GB 18030; fails on an unencodable value."""
    sink = pa.BufferOutputStream()
    options = pacsv.WriteOptions(
        delimiter=delimiter, eol=eol, quoting_style="needed", quoting_header="none"
    )
    pacsv.write_csv(table, sink, write_options=options)
    data = sink.getvalue().to_pybytes()
    if encoding != "utf-8":
        data = data.decode("utf-8").encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)


def write_parquet(table: pa.Table, path: Path) -> None:
    pq.write_table(table, path, compression="zstd")


def write_jsonl(table: pa.Table, path: Path) -> None:
    """One JSON object per line, keys in column order, nulls as ``null``, UTF-8 unescaped."""
    columns = [column.to_pylist() for column in table.columns]
    keys = table.column_names
    with path.open("wb") as handle:
        for row in zip(*columns, strict=True):
            handle.write(orjson.dumps(dict(zip(keys, row, strict=True))))
            handle.write(b"\n")


def write_xlsx(
    table: pa.Table,
    path: Path,
    *,
    sheet: str,
    groups: Sequence[tuple[str, int]],
    notes: Sequence[str],
    creator: str,
) -> None:
    """A workbook with a notes sheet first and the data under a merged two-row header.

    ``groups`` gives each first-row label and how many columns it spans; a
    one-column group whose label equals its column name is merged downwards,
    the way such sheets are drawn by hand.
    """
    book = Workbook()
    cover = book.active
    assert cover is not None  # noqa: S101 - a new workbook has an active sheet
    cover.title = "填表说明"
    for line in notes:
        cover.append([line])
    data = book.create_sheet(sheet)
    leaves = table.column_names
    bold, centre = Font(bold=True), Alignment(horizontal="center", vertical="center")
    column = 1
    for label, span in groups:
        data.cell(row=1, column=column, value=label)
        if span == 1 and leaves[column - 1] == label:  # a lone column: merged downwards
            data.merge_cells(start_row=1, start_column=column, end_row=2, end_column=column)
        else:
            for offset in range(span):
                data.cell(row=2, column=column + offset, value=leaves[column + offset - 1])
            if span > 1:
                data.merge_cells(
                    start_row=1, start_column=column, end_row=1, end_column=column + span - 1
                )
        column += span
    if column - 1 != len(leaves):
        raise ValueError("header groups must span every column exactly once")
    for row in (1, 2):
        for cell in data[row]:
            cell.font, cell.alignment = bold, centre
    for values in zip(*(c.to_pylist() for c in table.columns), strict=True):
        data.append(list(values))
    for letter, width in zip("ABCDEFGHIJKLMNOP", _widths(table), strict=False):
        data.column_dimensions[letter].width = width
    data.freeze_panes = "A3"
    book.properties.creator = creator
    book.properties.created = FIXED_TIME
    buffer = io.BytesIO()
    book.save(buffer)
    path.write_bytes(_repack(buffer.getvalue()))


def _widths(table: pa.Table) -> list[float]:
    return [max(8.0, min(48.0, 2.2 * max(len(n), 4))) for n in table.column_names]


def _repack(xlsx: bytes) -> bytes:
    """Rewrite the ZIP container with fixed member times and fixed document dates."""
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(xlsx)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            payload = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                payload = _W3CDTF.sub(rb"\g<1>" + stamp + rb"\g<2>", payload)
            member = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            member.compress_type = zipfile.ZIP_DEFLATED
            member.external_attr = 0o644 << 16
            target.writestr(member, payload)
    return out.getvalue()
