"""The demo city's datasets, written as files the way its departments hand them over.

:func:`write_datasets` draws one synthetic population and eight tables from a
fixed seed and writes them to a folder in the formats that government data
arrives in, so that every reader of the ingestion layer is exercised:

=========================  =========  ==========================================================
file                       holder     format
=========================  =========  ==========================================================
amr_enterprise_registry    amr        CSV, UTF-8; the cast's enterprises, then synthetic ones
hrss_social_insurance      hrss       CSV, UTF-8 with BOM; ``birth_date`` against the resident ID
tax_summary                tax        CSV, GBK, CRLF line ends
transport_traffic_counts   transport  Parquet (zstd); no personal information
health_clinic_visits       health     JSON Lines; ICD-10 diagnoses (sensitive)
civil_subsidies            civil      XLSX: a notes sheet first, then a merged two-row header
nrp_public_facilities      nrp        CSV, UTF-8; open data with WGS 84 coordinates
eco_complaints             eco        TSV, GB 18030 (some names only GB 18030 can encode)
=========================  =========  ==========================================================

What each dataset is and what the catalog should conclude about it (PII per
column, proposed and confirmed grade) lives in ``_specs``; the tables are drawn in ``_tables_org``
and ``_tables_person`` from the population of ``_people``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import numpy as np

from datacompact.config import private_dir
from datacompact.errors import InvalidInput

from . import _files as files
from ._city import SEED, Org
from ._people import Built, build_population
from ._specs import (
    ENTRIES,
    PII_TYPES,
    DatasetSpec,
    ExpectedGrade,
    FormatHints,
)
from ._tables_org import enterprise_registry, public_facilities, tax_summary, traffic_counts
from ._tables_person import (
    civil_subsidies,
    clinic_visits,
    environment_complaints,
    social_insurance,
)

__all__ = ["PII_TYPES", "DatasetSpec", "ExpectedGrade", "FormatHints", "write_datasets"]


def write_datasets(folder: Path, *, cast: list[Org], rows_scale: float = 1.0) -> list[DatasetSpec]:
    """Write the eight demo datasets into ``folder`` and describe each one.

    The same ``cast`` and ``rows_scale`` give the same bytes on every run.
    ``rows_scale`` multiplies the row counts (1.0: about 1.2 million rows in
    all, each person dataset above 100,000 rows except the hand-kept
    spreadsheet); 0.01 keeps a few thousand rows for fast tests.
    """
    if not (math.isfinite(rows_scale) and 0 < rows_scale <= 100):
        raise InvalidInput(
            "rows_scale must be a number in (0, 100]", details={"field": "rows_scale"}
        )
    missing = sorted({e.holder for e in ENTRIES} - {o.slug for o in cast})
    if missing:
        raise InvalidInput(
            "the cast lacks a holder of the demo datasets", details={"holders": missing}
        )
    # The tables describe (synthetic) people: the platform's user alone reads them.
    private_dir(folder)

    def scaled(base: int, minimum: int) -> int:
        return max(minimum, round(base * rows_scale))

    def rng(stream: int) -> np.random.Generator:
        # One stream per table, so that changing one table leaves the others' bytes alone.
        return np.random.default_rng([SEED, stream])

    own = sum(o.kind in ("enterprise", "jv_platform") for o in cast)
    people = build_population(rng(0), scaled(300_000, 3_000))
    registry = enterprise_registry(rng(1), cast, people, scaled(200_000, own + 1_000))
    built: dict[str, Built] = {
        "enterprise_registry": registry,
        "social_insurance": social_insurance(rng(2), registry.table, people, scaled(25_000, 100)),
        "tax_summary": tax_summary(rng(3), registry.table, people, scaled(200_000, 400)),
        "traffic_counts": traffic_counts(rng(4), scaled(200, 2)),
        "clinic_visits": clinic_visits(rng(5), people, scaled(150_000, 500)),
        "civil_subsidies": civil_subsidies(rng(6), people, scaled(12_000, 100)),
        "public_facilities": public_facilities(rng(7), scaled(12_000, 100)),
        "environment_complaints": environment_complaints(rng(8), people, scaled(100_000, 500)),
    }
    specs = []
    for entry in ENTRIES:
        result = built[entry.key]
        path = folder / entry.file
        _WRITERS[entry.key](result, path)
        os.chmod(path, 0o600)  # the writers (pyarrow, openpyxl) follow the umask
        known = {f.name: getattr(entry, f.name) for f in fields(entry)}
        known["proposed"] = entry.proposed.by_volume(result.persons)
        if entry.confirmed is not None:
            known["confirmed"] = entry.confirmed.by_volume(result.persons)
        specs.append(
            DatasetSpec(
                **known,
                path=path,
                columns=tuple(result.table.column_names),
                rows=result.table.num_rows,
                persons=result.persons,
                defects=dict(result.defects),
            )
        )
    return specs


_SUBSIDY_GROUPS = (("序号", 1), ("申请人信息", 4), ("救助信息", 3), ("发放信息", 3), ("备注", 1))
_SUBSIDY_NOTES = (
    "示范市社会救助资金发放花名册（2024年第四季度）",
    "填表说明：1. 身份证号码、银行卡号按文本格式填写；2. 金额单位为元；3. 本表涉及个人信息，严禁外传。",
    "填报单位：示范市民政局社会救助处",
)
_WRITERS: dict[str, Callable[[Built, Path], None]] = {
    "enterprise_registry": lambda b, p: files.write_csv(b.table, p),
    "social_insurance": lambda b, p: files.write_csv(b.table, p, bom=True),
    "tax_summary": lambda b, p: files.write_csv(b.table, p, encoding="gbk", eol="\r\n"),
    "traffic_counts": lambda b, p: files.write_parquet(b.table, p),
    "clinic_visits": lambda b, p: files.write_jsonl(b.table, p),
    "civil_subsidies": lambda b, p: files.write_xlsx(
        b.table,
        p,
        sheet="发放明细",
        groups=_SUBSIDY_GROUPS,
        notes=_SUBSIDY_NOTES,
        creator="示范市民政局",
    ),
    "public_facilities": lambda b, p: files.write_csv(b.table, p),
    "environment_complaints": lambda b, p: files.write_csv(
        b.table, p, encoding="gb18030", delimiter="\t", eol="\r\n"
    ),
}
