"""XLSX workbooks: one sheet at a time, streamed with openpyxl's read-only mode.

Read-only mode does not expose merged cells or formulas, so the sheet's XML
is scanned once, as a stream, for ``<mergeCell>`` ranges (to flatten merged
multi-row headers into "上级_下级" names) and for ``<f>`` formula cells. A
formula is never evaluated: the value Excel cached when it last saved the file
is used, and each column holding formulas gets a warning.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from openpyxl.utils.cell import (  # type: ignore[import-untyped, unused-ignore]
    column_index_from_string,
    range_boundaries,
)
from openpyxl.utils.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    InvalidFileException,
)

from datacompact.errors import InvalidInput, MalformedInput
from datacompact.ingest._common import (
    BATCH_ROWS,
    MAX_COLUMNS,
    IngestWarning,
    TypeMismatch,
    flatten_header,
    normalize_names,
)

_MERGE = re.compile(rb'<mergeCell ref="([A-Z]+\d+):([A-Z]+\d+)"')
_FORMULA = re.compile(rb'<c r="([A-Z]+)(\d+)"[^>]*>\s*<f[ >/]')
_MAX_HEADER_ROWS = 5
_XLSX_BATCH = min(BATCH_ROWS, 8192)


def _scan_xml(
    path: Path, member: str
) -> tuple[list[tuple[int, int, int, int]], dict[int, list[int]]]:
    """Merged ranges (min_col, min_row, max_col, max_row) and formula cells per column.

    Formula cells are kept as ``{column: [count, first_row]}``.
    """
    merges: list[tuple[int, int, int, int]] = []
    formulas: dict[int, list[int]] = {}
    tail = b""
    with zipfile.ZipFile(path) as archive, archive.open(member) as xml:
        while chunk := xml.read(1 << 20):
            data = tail + chunk
            # Keep an overlap so that a tag cut between two chunks is seen whole.
            cut = max(0, len(data) - 256)
            for m in _FORMULA.finditer(data, 0, cut):
                entry = formulas.setdefault(column_index_from_string(m.group(1).decode()), [0, 0])
                entry[0] += 1
                entry[1] = entry[1] or int(m.group(2))
            merges += [
                range_boundaries(f"{a.decode()}:{b.decode()}")
                for a, b in _MERGE.findall(data, 0, cut)
            ]
            tail = data[cut:]
    for m in _FORMULA.finditer(tail):
        entry = formulas.setdefault(column_index_from_string(m.group(1).decode()), [0, 0])
        entry[0] += 1
        entry[1] = entry[1] or int(m.group(2))
    merges += [range_boundaries(f"{a.decode()}:{b.decode()}") for a, b in _MERGE.findall(tail)]
    return merges, formulas


def list_sheets(path: Path) -> tuple[str, ...]:
    """Names of the sheets of a workbook, in order."""
    workbook = _open(path)
    try:
        return tuple(workbook.sheetnames)
    finally:
        workbook.close()


def _open(path: Path) -> Any:
    try:
        return openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise MalformedInput(
            "不是有效的 XLSX 工作簿 / expected an XLSX workbook, got a file that does not open as one",
            details={"expected": "xlsx"},
        ) from exc


class XlsxReader:
    """One sheet of an XLSX workbook read in record batches."""

    def __init__(
        self,
        path: Path,
        *,
        sheet: str | int | None,
        header_rows: int | None,
        max_columns: int = MAX_COLUMNS,
    ) -> None:
        self.path = path
        self.warnings: list[IngestWarning] = []
        self.digest: str | None = None
        self._workbook = _open(path)
        self.sheets: tuple[str, ...] = tuple(self._workbook.sheetnames)
        if sheet is None:
            sheet = 0
        if isinstance(sheet, int):
            if not 0 <= sheet < len(self.sheets):
                raise InvalidInput(
                    f"工作簿只有 {len(self.sheets)} 个工作表 / the workbook has "
                    f"{len(self.sheets)} sheets; sheet index {sheet} is out of range",
                    details={"sheets": len(self.sheets)},
                )
            sheet = self.sheets[sheet]
        if sheet not in self.sheets:
            raise InvalidInput(
                "工作簿中没有该工作表 / the workbook has no sheet of that name",
                details={"sheets": list(self.sheets)},
            )
        self.sheet = sheet
        self._ws = self._workbook[sheet]
        try:
            merges, formulas = _scan_xml(path, self._ws._worksheet_path)
        except (KeyError, zipfile.BadZipFile, OSError) as exc:
            raise MalformedInput(
                "工作表内容损坏 / expected a readable worksheet, got a damaged one",
                details={"sheet": sheet},
            ) from exc
        self.header_rows = header_rows if header_rows is not None else _guess_header_rows(merges)
        self.total_rows = max(0, (self._ws.max_row or 0) - self.header_rows) or None
        header = [list(r) for r in self._ws.iter_rows(max_row=self.header_rows, values_only=True)]
        for min_col, min_row, max_col, max_row in merges:
            if min_row > self.header_rows:
                continue
            value = (
                header[min_row - 1][min_col - 1] if min_col <= len(header[min_row - 1]) else None
            )
            for r in range(min_row, min(max_row, self.header_rows) + 1):
                row = header[r - 1]
                row.extend([None] * (max_col - len(row)))
                for c in range(min_col, max_col + 1):
                    row[c - 1] = value
        raw = flatten_header(header, fill=not merges) if header else []
        self.columns, name_warnings = normalize_names(raw, max_columns=max_columns)
        self.warnings += name_warnings
        for col, (count, first) in sorted(formulas.items()):
            if first > self.header_rows and col <= len(self.columns):
                name = self.columns[col - 1]
                self.warnings.append(
                    IngestWarning(
                        "formula_cells",
                        f"列 {name} 有 {count} 个公式单元格（首个在第 {first} 行），使用了 Excel "
                        f"保存的计算结果，未重新计算 / column {name}: {count} formula cells (first "
                        f"at row {first}); the values Excel cached were used, not re-evaluated",
                        column=name,
                        row=first,
                    )
                )
        self._text: set[str] = set()
        self._types: dict[str, Any] | None = None

    def relax(self, column: str) -> None:
        self._text.add(column)
        self._types = None

    def close(self) -> None:
        self._workbook.close()

    def batches(self) -> Iterator[Any]:
        width = len(self.columns)
        buffer: list[tuple[Any, ...]] = []
        first_row = self.header_rows + 1
        rows = self._ws.iter_rows(min_row=first_row, max_col=width, values_only=True)
        for row in rows:
            if all(v is None for v in row):
                continue
            buffer.append(row)
            if len(buffer) >= _XLSX_BATCH:
                yield self._batch(buffer, first_row)
                first_row += len(buffer)
                buffer = []
        if buffer or self._types is None:
            yield self._batch(buffer, first_row)

    def _batch(self, rows: list[tuple[Any, ...]], first_row: int) -> Any:
        width = len(self.columns)
        columns = [[row[i] if i < len(row) else None for row in rows] for i in range(width)]
        if self._types is None:
            self._types = {
                name: pa.string() if name in self._text else _infer(values)
                for name, values in zip(self.columns, columns, strict=True)
            }
        arrays = []
        for name, values in zip(self.columns, columns, strict=True):
            kind = self._types[name]
            try:
                arrays.append(
                    pa.array(_as_text(values) if kind == pa.string() else values, type=kind)
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError) as exc:
                raise TypeMismatch(name, first_row) from exc
        return pa.RecordBatch.from_arrays(arrays, names=list(self.columns))


def _guess_header_rows(merges: list[tuple[int, int, int, int]]) -> int:
    """Rows of header: 1, or below the horizontal merges that start in the top rows."""
    rows = 1
    for min_col, min_row, max_col, max_row in merges:
        if min_row <= rows and max_col > min_col:
            rows = max(rows, min_row + 1, max_row + 1)
    return min(rows, _MAX_HEADER_ROWS)


def _infer(values: list[Any]) -> Any:
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return pa.string()
    if kinds == {bool}:
        return pa.bool_()
    if kinds == {int}:
        # Long integers are identifiers typed as numbers (phones, IDs): keep them as text.
        return pa.string() if any(abs(v) >= 10**10 for v in values if v is not None) else pa.int64()
    if kinds <= {int, float}:
        return pa.float64()
    if kinds == {dt.datetime}:
        return pa.timestamp("us")
    if kinds == {dt.date}:
        return pa.date32()
    return pa.string()


def _as_text(values: list[Any]) -> list[str | None]:
    out: list[str | None] = []
    for v in values:
        if v is None or isinstance(v, str):
            out.append(v)
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))
        elif isinstance(v, dt.date | dt.time):
            out.append(v.isoformat())
        else:
            out.append(str(v))
    return out
