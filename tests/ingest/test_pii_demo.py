"""PII detection on the demo city's datasets: each finding matches the dataset's labels.

``DatasetSpec.pii`` lists the true PII types per column (leaf names under a
two-row header). Two gaps found there are pinned here: a contact column of
mobiles *and* landlines reports both, and a mostly-empty remark column is
still searched as free text.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datacompact.demo._city import build_cast
from datacompact.demo._datasets import write_datasets
from datacompact.demo._specs import DatasetSpec
from datacompact.ingest import detect_pii, open_source, stage_to_parquet


@pytest.fixture(scope="module")
def staged(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[DatasetSpec, Path]]:
    folder = tmp_path_factory.mktemp("demo")
    specs = write_datasets(folder / "in", cast=build_cast(), rows_scale=0.05)
    out = []
    for spec in specs:
        hints = spec.hints
        with open_source(
            spec.path,
            format=hints.format,
            encoding=hints.encoding,
            delimiter=hints.delimiter,
            sheet=hints.sheet,
            header_rows=hints.header_rows,
        ) as source:
            out.append(
                (spec, stage_to_parquet(source, folder / "out" / f"{spec.key}.parquet").path)
            )
    return out


def _leaf(column: str, leaves: tuple[str, ...]) -> str:
    """The spec's name of a staged column ("申请人信息_姓名" is "姓名" under a two-row header)."""
    for leaf in leaves:
        if column == leaf or column.endswith(f"_{leaf}"):
            return leaf
    return column


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["sample", "full"])
def test_findings_match_the_labels(staged: list[tuple[DatasetSpec, Path]], mode: str) -> None:
    wrong = []
    for spec, path in staged:
        found: dict[str, set[str]] = {}
        for f in detect_pii(path, mode=mode, sample_rows=2_000):  # type: ignore[arg-type]
            found.setdefault(_leaf(f.column, spec.columns), set()).add(f.type)
        wanted = {column: set(types) for column, types in spec.pii.items() if types}
        for column in sorted(set(found) | set(wanted)):
            if found.get(column, set()) != wanted.get(column, set()):
                wrong.append(
                    (
                        spec.key,
                        column,
                        sorted(found.get(column, ())),
                        sorted(wanted.get(column, ())),
                    )
                )
    assert wrong == []


def test_mixed_phone_column_reports_each_type(tmp_path: Path) -> None:
    mobiles = [f"139{i:08d}" for i in range(700)]
    landlines = [f"0571-8{i:07d}" for i in range(250)]
    junk = ["无"] * 50
    pq.write_table(pa.table({"联系电话": mobiles + landlines + junk}), tmp_path / "p.parquet")
    got = {f.type: f for f in detect_pii(tmp_path / "p.parquet")}
    assert set(got) == {"mobile", "landline"}
    assert got["landline"].share == pytest.approx(0.25)
    assert got["mobile"].share == pytest.approx(0.7)


def test_a_stray_landline_is_not_a_finding(tmp_path: Path) -> None:
    values = [f"139{i:08d}" for i in range(960)] + [f"0571-8{i:07d}" for i in range(40)]
    pq.write_table(pa.table({"手机": values}), tmp_path / "p.parquet")
    assert {f.type for f in detect_pii(tmp_path / "p.parquet")} == {"mobile"}


def test_mostly_empty_remarks_are_searched_as_free_text(tmp_path: Path) -> None:
    remarks: list[str | None] = [None] * 900 + [""] * 50
    remarks += [f"本人已于窗口办理，联系电话139{i:08d}，请回访" for i in range(50)]
    pq.write_table(pa.table({"备注": remarks}), tmp_path / "r.parquet")
    (finding,) = detect_pii(tmp_path / "r.parquet")
    assert finding.type == "mobile"
    assert finding.in_text
    assert finding.share == 1.0
