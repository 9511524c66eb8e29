"""One ingestion, file to facts: stage, describe, detect PII, propose a grade, profile.

Pure of the metadata store: it writes one Parquet file at ``dest`` and returns
what the catalog service stores beside it. A failure removes the file, so a
version is visible only once the service has committed its rows.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from datacompact.catalog import grading, lineage
from datacompact.config import private_dir
from datacompact.ingest import (
    ColumnFinding,
    ConsistencyRule,
    DataDictionary,
    IngestLimits,
    PinnedFile,
    QualityReport,
    QualityRules,
    Staged,
    connect,
    detect_pii,
    infer_dictionary,
    open_source,
    profile_quality,
    spilling_into,
    sql_string,
    stage_to_parquet,
)
from datacompact.ingest.quality import Checksum, Frequency

Progress = Callable[[int, int | None], None]

_CHECKSUMS = {"resident_id": "resident_id", "uscc": "uscc", "bank_card": "bank_card"}
_BIRTH_COLUMNS = ("birth_date", "出生日期", "date_of_birth")
# Identifiers that count people, strongest first, for the volume rule.
_PERSON_KEYS = ("resident_id", "passport", "mobile", "email", "person_name")


@dataclass(frozen=True)
class Analysis:
    staged: Staged
    dictionary: DataDictionary
    findings: tuple[ColumnFinding, ...]
    proposal: grading.GradeProposal
    quality: QualityReport
    lineage: tuple[dict[str, Any], ...]
    subjects: int | None


def holder_category(kind: str) -> grading.Category:
    """Government units hold public data (公共数据); everyone else organizational data."""
    if kind in ("government_department", "regulator", "auditor"):
        return grading.Category("government")
    return grading.Category("enterprise")


def _subjects(path: Path, findings: Sequence[ColumnFinding]) -> int | None:
    """Distinct people described, estimated from the strongest personal identifier column."""
    for kind in _PERSON_KEYS:
        column = next((f.column for f in findings if f.type == kind and not f.in_text), None)
        if column is None:
            continue
        quoted = '"' + column.replace('"', '""') + '"'
        with connect() as con:
            row = con.execute(
                f"SELECT approx_count_distinct({quoted}) FROM read_parquet({sql_string(str(path))})"  # noqa: S608 - identifier quoted, path literal-escaped
            ).fetchone()
        return int(row[0]) if row else None
    return None


def _quality_rules(
    dictionary: DataDictionary,
    findings: Sequence[ColumnFinding],
    frequency: str,
    now: dt.datetime,
) -> QualityRules:
    checksums = {
        f.column: _CHECKSUMS[f.type]
        for f in findings
        if f.type in _CHECKSUMS and not f.in_text and f.share >= 0.5
    }
    names = {c.name for c in dictionary.columns}
    consistency = tuple(
        ConsistencyRule.id_birth_date(column, birth)
        for column, kind in checksums.items()
        if kind == "resident_id"
        for birth in _BIRTH_COLUMNS
        if birth in names
    )
    return QualityRules(
        checksums=cast(dict[str, Checksum], checksums),
        consistency=consistency,
        frequency=cast(Frequency, frequency),
        last_updated=now,
    )


def analyze_file(
    *,
    file: Path | PinnedFile,
    dest: Path,
    holder_kind: str,
    tags: Sequence[str],
    frequency: str,
    job_name: str,
    job_kind: lineage.JobKind = lineage.JobKind.INGESTION,
    encoding: str | None = None,
    sheet: str | int | None = None,
    progress: Progress | None = None,
    limits: IngestLimits | None = None,
) -> Analysis:
    """Stage ``file`` to ``dest`` and measure it; on any failure ``dest`` is gone."""
    run = lineage.new_run_id()
    job = lineage.Job(namespace="datacompact", name=job_name, kind=job_kind)
    source_ds = lineage.LineageDataset(namespace="file", name=file.name)
    started = lineage.run_event(
        event_type=lineage.EventType.START, run_id=run, job=job, inputs=[source_ds]
    )
    try:
        # The readers' scratch files (a decoded CSV sample) and DuckDB's spill
        # stay in the private staging folder too: a killed process leaves nothing
        # outside it.
        with spilling_into(private_dir(dest.parent) / ".spill"):
            with open_source(
                file,
                encoding=encoding,
                sheet=sheet,
                limits=limits,
                workdir=private_dir(dest.parent),
            ) as source:
                staged = stage_to_parquet(source, dest, progress=progress)
            dictionary = infer_dictionary(staged.path)
            findings = tuple(detect_pii(staged.path, mode="sample"))
            # An inferred code list of a personal column would list people's
            # values (a small roster's names, say) in the catalog: drop it.
            for column in sorted({f.column for f in findings}):
                if dictionary.column(column).code_list is not None:
                    dictionary = dictionary.edit(column, type="text", code_list=None)
            subjects = _subjects(staged.path, findings)
            signals = [
                grading.ColumnSignal(
                    name=c.name,
                    pii_types={f.type: f.share for f in findings if f.column == c.name},
                    in_text={f.type for f in findings if f.column == c.name and f.in_text},
                )
                for c in dictionary.columns
            ]
            proposal = grading.propose(
                columns=signals,
                holder_category=holder_category(holder_kind),
                subjects=subjects,
                tags=tags,
            )
            now = dt.datetime.now(dt.UTC)
            quality = profile_quality(
                staged.path,
                dictionary=dictionary,
                rules=_quality_rules(dictionary, findings, frequency, now),
                now=now,
            )
    except BaseException:
        # Nothing half-made stays behind: not the file, not its folder.
        shutil.rmtree(dest.parent, ignore_errors=True)
        raise
    output = lineage.LineageDataset(
        namespace="datacompact",
        name=str(dest.name),
        fields=tuple(lineage.Field(c.name, c.type) for c in dictionary.columns),
        rows=staged.rows,
        size=staged.size_bytes,
    )
    completed = lineage.run_event(
        event_type=lineage.EventType.COMPLETE,
        run_id=run,
        job=job,
        inputs=[source_ds],
        outputs=[output],
    )
    return Analysis(
        staged=staged,
        dictionary=dictionary,
        findings=findings,
        proposal=proposal,
        quality=quality,
        lineage=(started, completed),
        subjects=subjects,
    )
