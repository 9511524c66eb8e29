"""Fixtures for the ingestion tests: small files written into ``tmp_path``."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

ROWS = [("1", "张三", "杭州市西湖区"), ("2", "李四", "宁波市鄞州区"), ("3", "王五", "温州市鹿城区")]


def write_csv(path: Path, encoding: str, *, delimiter: str = ",", rows: int = 3) -> Path:
    lines = [delimiter.join(("编号", "姓名", "地址"))]
    lines += [delimiter.join(ROWS[i % 3]) for i in range(rows)]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    """Two sheets; the first has a merged two-row header and a formula column."""
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "人员"
    ws.append(["序号", "基本信息", None, "联系方式", None, "金额"])
    ws.append([None, "姓名", "年龄", "手机", "邮箱", None])
    ws.merge_cells("A1:A2")
    ws.merge_cells("B1:C1")
    ws.merge_cells("D1:E1")
    ws.merge_cells("F1:F2")
    for i in range(1, 6):
        ws.append([i, f"人员{i}", 20 + i, f"1381234567{i}", f"u{i}@example.org", f"=C{i + 2}*10"])
    other = wb.create_sheet("单位")
    other.append(["单位名称", "人数"])
    other.append(["财政局", 12])
    path = tmp_path / "book.xlsx"
    wb.save(path)
    return path
