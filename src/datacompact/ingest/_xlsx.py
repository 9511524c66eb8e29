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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from xml.etree import ElementTree
from xml.parsers import expat

import openpyxl  # type: ignore[import-untyped, unused-ignore]
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
from openpyxl.utils.cell import (  # type: ignore[import-untyped, unused-ignore]
    column_index_from_string,
    range_boundaries,
)
from openpyxl.utils.exceptions import (  # type: ignore[import-untyped, unused-ignore]
    InvalidFileException,
)

from datacompact.config import IngestLimits
from datacompact.errors import InvalidInput, MalformedInput
from datacompact.ingest._common import (
    BATCH_ROWS,
    RATIO_FLOOR_BYTES,
    IngestWarning,
    TypeMismatch,
    flatten_header,
    normalize_names,
    too_large,
)

_MERGE = re.compile(rb'<mergeCell ref="([A-Z]+\d+):([A-Z]+\d+)"')
_FORMULA = re.compile(rb'<c r="([A-Z]+)(\d+)"[^>]*>\s*<f[ >/]')
_ROW = re.compile(rb'<row[ >/](?:[^>]*?\br="(\d+)")?')
_CELL = re.compile(rb'<c r="([A-Z]+)\d+"')
_MAX_HEADER_ROWS = 5
_XLSX_BATCH = min(BATCH_ROWS, 8192)
_CONTENT_TYPES = "[Content_Types].xml"
_CT_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_TEXT = "http://schemas.openxmlformats.org/spreadsheetml/2006/main t"


def _malformed() -> MalformedInput:
    return MalformedInput(
        "不是有效的 XLSX 工作簿 / expected an XLSX workbook, got a file that does not open as one",
        details={"expected": "xlsx"},
    )


def _check_parts(archive: zipfile.ZipFile, limits: IngestLimits) -> None:
    """Refuse a part whose declared expansion is over the limits, before any is expanded.

    The declared sizes bind: Python's ``zipfile`` (which openpyxl reads
    through) stops at a part's declared size and fails its CRC check, so a part
    that lies about its size cannot expand further than declared.
    """
    total = 0
    for info in archive.infolist():
        size = info.file_size
        if size > limits.xlsx_max_part_bytes:
            raise too_large(
                ("单个部件解压后字节数", "the uncompressed bytes of one part"),
                size,
                limits.xlsx_max_part_bytes,
                "ingest_xlsx_max_part_bytes",
            )
        ratio = size // max(info.compress_size, 1)
        if size > RATIO_FLOOR_BYTES and ratio > limits.xlsx_max_compression_ratio:
            raise too_large(
                ("部件压缩比", "the compression ratio of one part"),
                ratio,
                limits.xlsx_max_compression_ratio,
                "ingest_xlsx_max_compression_ratio",
            )
        total += size
        if total > limits.xlsx_max_total_bytes:
            raise too_large(
                ("全部部件解压后字节数", "the uncompressed bytes of all parts"),
                total,
                limits.xlsx_max_total_bytes,
                "ingest_xlsx_max_total_bytes",
            )


def _shared_strings_part(archive: zipfile.ZipFile) -> str | None:
    """The shared strings part named by the package's content types (as openpyxl finds it)."""
    try:
        with archive.open(_CONTENT_TYPES) as xml:
            # The part is size-capped by _check_parts; expat bounds entity expansion and
            # ElementTree resolves no external entity.
            for _event, element in ElementTree.iterparse(xml):  # noqa: S314
                if element.tag == f"{_CT_NS}Override" and element.get("ContentType") == _SST_TYPE:
                    return (element.get("PartName") or "").lstrip("/") or None
    except KeyError:
        return None
    return None


def _check_shared_strings(archive: zipfile.ZipFile, member: str, limit: int) -> None:
    """Measure the shared strings as a stream, refusing them past ``limit`` UTF-8 bytes.

    openpyxl keeps every shared string in memory for as long as the workbook
    is open, so their total is bounded before it loads them. The part is fed
    to expat in 64 KiB pieces and only the running count is kept: even one
    ``<t>`` element of 200 MB is never held whole (an ``iterparse`` would
    build it before its end event). A DTD is refused: a workbook has none,
    and entities are how XML expands.
    """
    total = 0
    depth_in_text = 0

    def start(name: str, _attrs: dict[str, str]) -> None:
        nonlocal depth_in_text
        if name == _TEXT:
            depth_in_text += 1

    def end(name: str) -> None:
        nonlocal depth_in_text
        if name == _TEXT:
            depth_in_text -= 1

    def text(data: str) -> None:
        nonlocal total
        if depth_in_text:
            total += len(data.encode("utf-8"))
            if total > limit:
                raise too_large(
                    ("共享字符串字节数", "the bytes of the shared strings"),
                    total,
                    limit,
                    "ingest_xlsx_max_shared_strings_bytes",
                )

    def doctype(*_args: object) -> None:
        raise _malformed()

    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = text
    parser.StartDoctypeDeclHandler = doctype
    try:
        with archive.open(member) as xml:
            while chunk := xml.read(1 << 16):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
    except expat.ExpatError as exc:
        raise _malformed() from exc


def check_workbook(file: BinaryIO, limits: IngestLimits) -> dict[str, _Scan]:
    """Every limit that can be checked before openpyxl opens the workbook; the parts' scans.

    openpyxl's loader reads every sheet whose ``<dimension>`` is missing in
    full (it looks for the dimension until the end of ``<sheetData>``), so
    every part is scanned first, by the cheaper regular expressions, and a
    sheet over a limit is refused before openpyxl parses anything. Parts are
    not told apart by name or content type (a sheet may be stored under any
    name its relationship gives): only the shared strings, measured on their
    own, are skipped.
    """
    try:
        with zipfile.ZipFile(file) as archive:
            _check_parts(archive, limits)
            member = _shared_strings_part(archive)
            if member is not None and member in archive.NameToInfo:
                _check_shared_strings(archive, member, limits.xlsx_max_shared_strings_bytes)
            return {
                name: _scan_xml(archive, name, limits)
                for name in archive.namelist()
                if name != member and not name.endswith("/")
            }
    except (zipfile.BadZipFile, ElementTree.ParseError, EOFError, ValueError) as exc:
        raise _malformed() from exc
    finally:
        file.seek(0)


def _too_many_cells(cells: int, limits: IngestLimits) -> Exception:
    return too_large(
        ("工作表单元格数（行数×列数）", "the cells of the sheet (rows × columns)"),
        cells,
        limits.xlsx_max_cells,
        "ingest_xlsx_max_cells",
    )


@dataclass
class _Scan:
    """What one streaming pass over a sheet's XML found."""

    merges: list[tuple[int, int, int, int]] = field(default_factory=list)
    formulas: dict[int, list[int]] = field(default_factory=dict)
    rows: int = 0
    max_row: int = 0
    max_col: int = 0

    def feed(self, data: bytes, end: int, limits: IngestLimits) -> None:
        """Count the tags of ``data`` that start before ``end`` (the rest come next time)."""

        def matches(pattern: re.Pattern[bytes]) -> Iterator[re.Match[bytes]]:
            for m in pattern.finditer(data):
                if m.start() >= end:
                    return
                yield m

        for m in matches(_FORMULA):
            entry = self.formulas.setdefault(column_index_from_string(m.group(1).decode()), [0, 0])
            entry[0] += 1
            entry[1] = entry[1] or int(m.group(2))
        for m in matches(_ROW):
            self.rows += 1
            if m.group(1):
                self.max_row = max(self.max_row, int(m.group(1)))
        if max(self.rows, self.max_row) > limits.xlsx_max_rows:
            raise too_large(
                ("工作表行数", "the rows of the sheet"),
                max(self.rows, self.max_row),
                limits.xlsx_max_rows,
                "ingest_xlsx_max_rows",
            )
        widest = b""
        for m in matches(_CELL):
            letters = m.group(1)
            # Column letters order like numbers once ordered by length first.
            if (len(letters), letters) > (len(widest), widest):
                widest = letters
        if widest:
            if len(widest) > 3:  # past XFD, the last column Excel has
                raise _malformed()
            self.max_col = max(self.max_col, column_index_from_string(widest.decode()))
        if self.max_col > limits.max_columns:
            raise too_large(
                ("工作表列数", "the columns of the sheet"),
                self.max_col,
                limits.max_columns,
                "ingest_max_columns",
            )
        # The header is read as wide as the widest row, so this grid is a
        # lower bound of the one checked again once the header is known.
        if self.rows * self.max_col > limits.xlsx_max_cells:
            raise _too_many_cells(self.rows * self.max_col, limits)
        for m in matches(_MERGE):
            if len(self.merges) >= limits.xlsx_max_merged_ranges:
                raise too_large(
                    ("合并单元格区域数", "the merged cell ranges of the sheet"),
                    len(self.merges) + 1,
                    limits.xlsx_max_merged_ranges,
                    "ingest_xlsx_max_merged_ranges",
                )
            a, b = m.group(1), m.group(2)
            if len(a) > 10 or len(b) > 10:
                raise _malformed()
            self.merges.append(range_boundaries(f"{a.decode()}:{b.decode()}"))


def _scan_xml(archive: zipfile.ZipFile, member: str, limits: IngestLimits) -> _Scan:
    """Merged ranges, formula cells per column (``{column: [count, first_row]}``), extent.

    One streaming pass, refusing as soon as a count goes over its limit.
    """
    scan = _Scan()
    tail = b""
    with archive.open(member) as xml:
        while chunk := xml.read(1 << 20):
            data = tail + chunk
            # Tags starting before the cut are counted now, whole (none is
            # longer than the 256 bytes kept); the rest are seen next time.
            cut = max(0, len(data) - 256)
            scan.feed(data, cut, limits)
            tail = data[cut:]
    scan.feed(tail, len(tail), limits)
    return scan


def list_sheets(path: Path, limits: IngestLimits | None = None) -> tuple[str, ...]:
    """Names of the sheets of a workbook, in order."""
    with path.open("rb") as file:
        workbook, _scans = _open(file, limits or IngestLimits())
        try:
            return tuple(workbook.sheetnames)
        finally:
            workbook.close()


def _open(file: BinaryIO, limits: IngestLimits) -> tuple[Any, dict[str, _Scan]]:
    scans = check_workbook(file, limits)
    try:
        # A file object, not a path: the pinned path (/proc/self/fd/N) has no
        # suffix, and openpyxl refuses a path without an Excel one.
        return openpyxl.load_workbook(file, read_only=True, data_only=True), scans
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, OSError) as exc:
        raise _malformed() from exc


class XlsxReader:
    """One sheet of an XLSX workbook read in record batches."""

    def __init__(
        self,
        path: Path,
        *,
        sheet: str | int | None,
        header_rows: int | None,
        limits: IngestLimits | None = None,
    ) -> None:
        limits = limits or IngestLimits()
        self.path = path
        self.warnings: list[IngestWarning] = []
        self.digest: str | None = None
        self._file = path.open("rb")
        try:
            self._workbook, scans = _open(self._file, limits)
            self._setup(sheet, header_rows, limits, scans)
        except BaseException:
            self.close()
            raise

    def _setup(
        self,
        sheet: str | int | None,
        header_rows: int | None,
        limits: IngestLimits,
        scans: dict[str, _Scan],
    ) -> None:
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
            scan = scans.get(self._ws._worksheet_path) or _scan_xml(
                self._workbook._archive, self._ws._worksheet_path, limits
            )
        except (KeyError, zipfile.BadZipFile, OSError, EOFError) as exc:
            raise MalformedInput(
                "工作表内容损坏 / expected a readable worksheet, got a damaged one",
                details={"sheet": sheet},
            ) from exc
        merges, formulas = scan.merges, scan.formulas
        self.header_rows = header_rows if header_rows is not None else _guess_header_rows(merges)
        rows = max(scan.rows, scan.max_row)
        self.total_rows = max(0, rows - self.header_rows) or None
        # The header's width is that of the cells present, not the sheet's
        # declared dimension (which a file may set to XFD, 16,384 columns).
        width = scan.max_col or min(self._ws.max_column or 1, limits.max_columns + 1)
        header = [
            list(r)
            for r in self._ws.iter_rows(max_row=self.header_rows, max_col=width, values_only=True)
        ]
        _fill_merged_header(header, merges, self.header_rows, limits)
        raw = flatten_header(header, fill=not merges) if header else []
        self.columns, name_warnings = normalize_names(raw, max_columns=limits.max_columns)
        self.warnings += name_warnings
        # The reader pads every present row to the header's width (openpyxl,
        # then one Arrow column each): that grid, not the file's size, is the cost.
        if scan.rows * len(self.columns) > limits.xlsx_max_cells:
            raise _too_many_cells(scan.rows * len(self.columns), limits)
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
        workbook = getattr(self, "_workbook", None)
        if workbook is not None:
            workbook.close()
        self._file.close()

    def batches(self) -> Iterator[Any]:
        width = len(self.columns)
        buffer: list[tuple[Any, ...]] = []
        first_row = self.header_rows + 1
        rows = self._ws.iter_rows(min_row=first_row, max_col=width, values_only=True)
        blank: tuple[Any, ...] | None = None
        for row in rows:
            # openpyxl yields one shared tuple for every row missing from the
            # file: recognised by identity, a gap of a million rows costs
            # nothing instead of a million scans of the header's width.
            if row is blank:
                continue
            if all(v is None for v in row):
                blank = row
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


def _fill_merged_header(
    header: list[list[Any]],
    merges: list[tuple[int, int, int, int]],
    header_rows: int,
    limits: IngestLimits,
) -> None:
    """Copy each merged header cell's value over its range (read-only mode leaves them empty).

    Ranges are checked before any cell is written: one wider than the column
    limit is refused, and ranges that together cover more cells than the
    header has overlap, which Excel never writes, so the work stays within
    ``header_rows * max_columns`` cells whatever the file holds.
    """
    in_header = [m for m in merges if m[1] <= header_rows and m[1] <= len(header)]
    area = 0
    for min_col, min_row, max_col, max_row in in_header:
        if max_col > limits.max_columns:
            raise too_large(
                ("表头列数", "the columns of the header"),
                max_col,
                limits.max_columns,
                "ingest_max_columns",
            )
        area += (max_col - min_col + 1) * (min(max_row, header_rows) - min_row + 1)
    if area > header_rows * limits.max_columns:
        raise MalformedInput(
            "表头的合并单元格相互重叠 / expected disjoint merged header cells, got overlapping ones",
            details={"merged_ranges": len(in_header)},
        )
    for min_col, min_row, max_col, max_row in in_header:
        value = header[min_row - 1][min_col - 1] if min_col <= len(header[min_row - 1]) else None
        for r in range(min_row, min(max_row, header_rows, len(header)) + 1):
            row = header[r - 1]
            row.extend([None] * (max_col - len(row)))
            for c in range(min_col, max_col + 1):
                row[c - 1] = value


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
