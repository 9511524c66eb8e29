"""Staging: atomic Parquet output, the source's SHA-256, nothing left behind on failure."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from datacompact.errors import Conflict, MalformedInput
from datacompact.ingest import open_source, stage_to_parquet

LINE = "{i},张三{i},浙江省杭州市西湖区文三路{i}号,{i}.5\n"


def _big_csv(path: Path, encoding: str, rows: int = 200_000, tail: str = "") -> Path:
    text = "编号,姓名,地址,金额\n" + "".join(LINE.format(i=i) for i in range(rows)) + tail
    path.write_bytes(text.encode(encoding))
    return path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_stage_round_trip(tmp_path: Path, encoding: str) -> None:
    path = _big_csv(tmp_path / "a.csv", encoding)
    seen: list[tuple[int, int | None]] = []
    with open_source(path) as source:
        staged = stage_to_parquet(
            source, tmp_path / "out" / "v1.parquet", progress=lambda n, t: seen.append((n, t))
        )
    assert staged.rows == 200_000
    assert staged.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert staged.source_bytes == path.stat().st_size
    assert staged.columns == ("编号", "姓名", "地址", "金额")
    assert staged.detected["encoding"] == encoding
    assert seen
    assert seen[-1][0] == 200_000
    assert len(seen) > 1
    table = pq.read_table(staged.path)
    assert table.num_rows == 200_000
    assert table.column("姓名")[123].as_py() == "张三123"
    assert _leftovers(tmp_path / "out") == ["v1.parquet"]


def test_existing_destination_is_never_overwritten(tmp_path: Path) -> None:
    path = _big_csv(tmp_path / "a.csv", "utf-8", rows=10)
    dest = tmp_path / "v1.parquet"
    dest.write_bytes(b"earlier version")
    with open_source(path) as source, pytest.raises(Conflict):
        stage_to_parquet(source, dest)
    assert dest.read_bytes() == b"earlier version"


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_interrupt_mid_stream_leaves_nothing(tmp_path: Path, encoding: str) -> None:
    path = _big_csv(tmp_path / "a.csv", encoding)
    out = tmp_path / "out"

    def interrupt(done: int, total: int | None) -> None:
        raise KeyboardInterrupt

    with open_source(path) as source, pytest.raises(KeyboardInterrupt):
        stage_to_parquet(source, out / "v1.parquet", progress=interrupt)
    assert _leftovers(out) == []
    # The transcoding thread is gone too: only the main thread (and none of ours) remains.
    assert not [t for t in threading.enumerate() if t.name.startswith("datacompact-")]


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_failure_after_some_batches_leaves_nothing(tmp_path: Path, encoding: str) -> None:
    path = _big_csv(tmp_path / "a.csv", encoding, tail="1,2\n")
    out = tmp_path / "out"
    with open_source(path) as source, pytest.raises(MalformedInput) as caught:
        stage_to_parquet(source, out / "v1.parquet")
    assert caught.value.details["line"] == 200_002
    assert _leftovers(out) == []


def test_mixed_types_late_in_file_are_read_as_text(tmp_path: Path) -> None:
    path = _big_csv(tmp_path / "a.csv", "gbk", rows=100_000, tail="x,李四,地址,未知\n")
    with open_source(path) as source:
        staged = stage_to_parquet(source, tmp_path / "v1.parquet")
    assert staged.rows == 100_001
    codes = {(w.code, w.column) for w in staged.warnings}
    assert ("column_read_as_text", "编号") in codes
    assert ("column_read_as_text", "金额") in codes
    assert str(staged.schema.field("编号").type) == "string"
    assert staged.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_xlsx_and_header_only_files_stage(tmp_path: Path, workbook: Path) -> None:
    with open_source(workbook) as source:
        staged = stage_to_parquet(source, tmp_path / "x.parquet")
    assert staged.rows == 5
    (tmp_path / "h.csv").write_text("a,b\n")
    with open_source(tmp_path / "h.csv") as source:
        staged = stage_to_parquet(source, tmp_path / "h.parquet")
    assert staged.rows == 0
    assert [w.code for w in staged.warnings] == ["no_rows"]
    assert pq.read_table(staged.path).column_names == ["a", "b"]
