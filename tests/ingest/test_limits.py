"""XLSX limits: bombs are refused with 413 before anything expands, built here from raw XML."""

from __future__ import annotations

import tracemalloc
import zipfile
from pathlib import Path

import pytest

from datacompact.config import Settings
from datacompact.errors import MalformedInput, PayloadTooLarge
from datacompact.ingest import IngestLimits, open_source, stage_to_parquet

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
CT_SHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CT_BOOK = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
CT_SST = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
MiB = 1 << 20


def _content_types(shared: bool) -> str:
    sst = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{CT_SST}"/>' if shared else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/xl/workbook.xml" ContentType="{CT_BOOK}"/>'
        f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{CT_SHEET}"/>'
        f"{sst}</Types>"
    )


def _book_rels(shared: bool) -> str:
    sst = (
        f'<Relationship Id="rId2" Type="{DOC}/sharedStrings" Target="sharedStrings.xml"/>'
        if shared
        else ""
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL}">'
        f'<Relationship Id="rId1" Type="{DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
        f"{sst}</Relationships>"
    )


def _sheet(rows: str, merges: str = "") -> str:
    merged = f"<mergeCells>{merges}</mergeCells>" if merges else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}">'
        f"<sheetData>{rows}</sheetData>{merged}</worksheet>"
    )


def _row(index: int, *values: str | int) -> str:
    cells = []
    for col, value in enumerate(values):
        ref = f"{chr(ord('A') + col)}{index}"
        if isinstance(value, int):
            cells.append(f'<c r="{ref}"><v>{value}</v></c>')
        else:
            cells.append(f'<c r="{ref}" t="inlineStr"><is><t>{value}</t></is></c>')
    return f'<row r="{index}">{"".join(cells)}</row>'


def _base_parts(archive: zipfile.ZipFile, sheet: str, *, shared: bool) -> None:
    archive.writestr("[Content_Types].xml", _content_types(shared))
    archive.writestr(
        "_rels/.rels",
        f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG_REL}">'
        f'<Relationship Id="rId1" Type="{DOC}/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>",
    )
    archive.writestr(
        "xl/workbook.xml",
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{REL}">'
        '<sheets><sheet name="数据" sheetId="1" r:id="rId1"/></sheets></workbook>',
    )
    archive.writestr("xl/_rels/workbook.xml.rels", _book_rels(shared))
    archive.writestr("xl/worksheets/sheet1.xml", sheet)


def write_xlsx(path: Path, sheet: str, shared: bytes | None = None) -> Path:
    """A minimal workbook from raw parts; ``shared`` is the sharedStrings part, if any."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        _base_parts(archive, sheet, shared=shared is not None)
        if shared is not None:
            archive.writestr("xl/sharedStrings.xml", shared)
    return path


def _shared_bomb(path: Path, text_bytes: int) -> Path:
    """One shared string of ``text_bytes`` letters: a few hundred KB that expand to it all.

    The part is streamed into the archive, never held whole by the test either.
    """
    rows = _row(1, "名称") + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        _base_parts(archive, _sheet(rows), shared=True)
        with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
            part.write(f'<sst xmlns="{MAIN}" count="1" uniqueCount="1"><si><t>'.encode())
            block = b"A" * MiB
            for _ in range(text_bytes // MiB):
                part.write(block)
            part.write(b"</t></si></sst>")
    return path


def _refused(path: Path, limits: IngestLimits | None = None) -> PayloadTooLarge:
    with pytest.raises(PayloadTooLarge) as refused, open_source(path, limits=limits):
        pass
    assert refused.value.status == 413
    assert refused.value.code == "payload_too_large"
    return refused.value


def test_raw_workbook_reads(tmp_path: Path) -> None:
    """The hand-built workbook is a valid one: the bombs below differ from it in one thing."""
    rows = _row(1, "编号", "名称") + _row(2, 1, "甲") + _row(3, 2, "乙")
    path = write_xlsx(tmp_path / "ok.xlsx", _sheet(rows))
    with open_source(path) as source:
        assert source.columns == ("编号", "名称")
        staged = stage_to_parquet(source, tmp_path / "ok.parquet")
    assert staged.rows == 2


def test_two_thousand_merged_ranges_are_refused(tmp_path: Path) -> None:
    """The 1.6 KB file that cost 29 s: 2,000 merged ranges each as wide as a sheet."""
    merges = '<mergeCell ref="A1:XFD1"/>' * 2000
    path = write_xlsx(tmp_path / "merged.xlsx", _sheet(_row(1, "名称"), merges))
    assert path.stat().st_size < 4096
    error = _refused(path)
    assert error.details["setting"] == "ingest_max_columns"


def test_overlapping_merged_header_ranges_are_refused(tmp_path: Path) -> None:
    merges = '<mergeCell ref="A1:AZ1"/>' * 2000
    path = write_xlsx(tmp_path / "overlap.xlsx", _sheet(_row(1, "名称"), merges))
    with pytest.raises(MalformedInput) as refused, open_source(path):
        pass
    assert refused.value.details == {"merged_ranges": 2000}


def test_merged_range_count_is_limited(tmp_path: Path) -> None:
    merges = "".join(f'<mergeCell ref="A{r}:B{r}"/>' for r in range(10, 2010))
    path = write_xlsx(tmp_path / "many.xlsx", _sheet(_row(1, "名称", "值"), merges))
    error = _refused(path, IngestLimits(xlsx_max_merged_ranges=1000))
    assert error.details["setting"] == "ingest_xlsx_max_merged_ranges"
    assert error.details["limit"] == 1000
    with open_source(path) as source:  # under the default limit it reads
        assert source.columns == ("名称", "值")


def test_shared_strings_bomb_is_refused_by_its_ratio(tmp_path: Path) -> None:
    """About 200 KB that expand to 200 MB: refused from the archive's directory alone."""
    path = _shared_bomb(tmp_path / "bomb.xlsx", 200 * MiB)
    assert path.stat().st_size < 400_000
    tracemalloc.start()
    try:
        error = _refused(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.details["setting"] == "ingest_xlsx_max_compression_ratio"
    assert peak < 16 * MiB


def test_shared_strings_are_measured_as_a_stream(tmp_path: Path) -> None:
    """With the ratio allowed, the shared strings' own limit stops the scan in bounded memory."""
    path = _shared_bomb(tmp_path / "bomb.xlsx", 96 * MiB)
    limits = IngestLimits(xlsx_max_compression_ratio=100_000)
    tracemalloc.start()
    try:
        error = _refused(path, limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.details["setting"] == "ingest_xlsx_max_shared_strings_bytes"
    assert error.details["limit"] == 64 * MiB
    assert peak < 16 * MiB  # one 64 KiB piece at a time, not the 64 MiB read so far


def test_part_sizes_are_checked_before_expansion(tmp_path: Path) -> None:
    rows = _row(1, "名称") + "".join(_row(r, f"值{r}") for r in range(2, 2000))
    path = write_xlsx(tmp_path / "big.xlsx", _sheet(rows))
    error = _refused(path, IngestLimits(xlsx_max_part_bytes=10_000))
    assert error.details["setting"] == "ingest_xlsx_max_part_bytes"
    error = _refused(path, IngestLimits(xlsx_max_total_bytes=10_000))
    assert error.details["setting"] == "ingest_xlsx_max_total_bytes"


def test_rows_and_columns_are_counted_before_reading(tmp_path: Path) -> None:
    rows = _row(1, "名称") + "".join(_row(r, f"值{r}") for r in range(2, 30))
    path = write_xlsx(tmp_path / "rows.xlsx", _sheet(rows))
    assert (
        _refused(path, IngestLimits(xlsx_max_rows=10)).details["setting"] == "ingest_xlsx_max_rows"
    )
    # A row numbered past the limit counts, even if the rows before it are absent.
    far = _row(1, "名称") + '<row r="2000000"><c r="A2000000"><v>1</v></c></row>'
    path = write_xlsx(tmp_path / "far.xlsx", _sheet(far))
    assert _refused(path).details["setting"] == "ingest_xlsx_max_rows"
    wide = _row(1, "名称") + '<row r="2"><c r="ZZZ2"><v>1</v></c></row>'
    path = write_xlsx(tmp_path / "wide.xlsx", _sheet(wide))
    assert _refused(path).details["setting"] == "ingest_max_columns"


def test_a_doctype_in_the_shared_strings_is_refused(tmp_path: Path) -> None:
    shared = (
        f'<?xml version="1.0"?><!DOCTYPE sst [<!ENTITY a "aaaaaaaaaa">]>'
        f'<sst xmlns="{MAIN}"><si><t>&a;</t></si></sst>'
    ).encode()
    rows = _row(1, "名称") + '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'
    path = write_xlsx(tmp_path / "dtd.xlsx", _sheet(rows), shared=shared)
    with pytest.raises(MalformedInput), open_source(path):
        pass


def test_settings_carry_the_limits() -> None:
    settings = Settings(ingest_xlsx_max_merged_ranges=5, ingest_max_columns=64)
    limits = settings.ingest_limits
    assert limits.xlsx_max_merged_ranges == 5
    assert limits.max_columns == 64
    assert Settings().ingest_limits == IngestLimits()


def test_missing_rows_are_skipped_not_padded(tmp_path: Path) -> None:
    """A wide header and one row a million rows down: one record, not a million blank ones."""
    header = (
        '<row r="1"><c r="A1" t="inlineStr"><is><t>a</t></is></c>'
        '<c r="BZA1" t="inlineStr"><is><t>b</t></is></c></row>'
    )
    far = '<row r="1048576"><c r="A1048576"><v>7</v></c></row>'
    path = write_xlsx(tmp_path / "gap.xlsx", _sheet(header + far))
    with open_source(path) as source:
        assert len(source.columns) == 2029
        staged = stage_to_parquet(source, tmp_path / "gap.parquet")
    assert staged.rows == 1


def test_the_padded_grid_is_limited(tmp_path: Path) -> None:
    rows = _row(1, "名称", "值", "备注") + "".join(_row(r, r) for r in range(2, 40))
    path = write_xlsx(tmp_path / "grid.xlsx", _sheet(rows))
    error = _refused(path, IngestLimits(xlsx_max_cells=100))
    assert error.details["setting"] == "ingest_xlsx_max_cells"
    assert error.details["value"] > 100
    with open_source(path, limits=IngestLimits(xlsx_max_cells=117)) as source:
        assert source.columns == ("名称", "值", "备注")  # 39 rows x 3 columns fit


def test_every_sheet_is_checked_before_openpyxl_parses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """openpyxl reads a sheet without <dimension> in full at load: the limits come first."""
    import openpyxl

    rows = _row(1, "名称") + "".join(_row(r, r) for r in range(2, 200))
    path = write_xlsx(tmp_path / "rows.xlsx", _sheet(rows))

    def never(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("openpyxl was reached before the limits")

    monkeypatch.setattr(openpyxl, "load_workbook", never)
    assert _refused(path, IngestLimits(xlsx_max_rows=50)).details["setting"] == (
        "ingest_xlsx_max_rows"
    )


def test_a_part_that_understates_its_size_is_refused(tmp_path: Path) -> None:
    """The declared size binds: reading past it fails the CRC check, it never expands further."""
    import struct

    rows = _row(1, "名称") + "".join(_row(r, f"值{r}") for r in range(2, 5000))
    path = write_xlsx(tmp_path / "liar.xlsx", _sheet(rows))
    data = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    entry = data.rfind(b"PK\x01\x02", 0, data.rfind(name))  # its central directory entry
    struct.pack_into("<I", data, entry + 24, 2000)  # uncompressed size: 2,000 bytes
    path.write_bytes(bytes(data))
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo(name.decode()).file_size == 2000
    with pytest.raises(MalformedInput) as refused, open_source(path):
        pass
    assert refused.value.details == {"expected": "xlsx"}
