"""Shared loading of the public Adult data and ARX's hierarchies (vendored in tests/fixtures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from datacompact.privacy import Hierarchy

ROOT = Path(__file__).resolve().parents[2]
ADULT = ROOT / "tests" / "fixtures" / "datasets" / "adult"
QIS = (
    "sex",
    "age",
    "race",
    "marital-status",
    "education",
    "native-country",
    "workclass",
    "occupation",
    "salary-class",
)
CONFIGS = ((5, 0.04), (5, 0.0), (100, 0.04), (100, 0.0))


def load_adult() -> pa.Table:
    return pacsv.read_csv(
        ADULT / "adult.csv",
        parse_options=pacsv.ParseOptions(delimiter=";"),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.string() for c in QIS}, strings_can_be_null=False
        ),
    )


def hierarchy_path(column: str) -> Path:
    return ADULT / f"adult_hierarchy_{column}.csv"


def load_hierarchies() -> dict[str, Hierarchy]:
    return {c: Hierarchy.read(hierarchy_path(c)) for c in QIS}


REDRAWN = ("workclass", "occupation", "native-country")


def synthetic(rows: int, seed: int = 20240601) -> pa.Table:
    """Adult's shape at any size: rows drawn from Adult, some attributes redrawn.

    Deterministic for a seed. Resampling alone repeats Adult's records, so
    k=5 would hold with no generalization at all; here ages are jittered by up
    to two years (inside ARX's 1-100 age hierarchy) and the attributes in
    :data:`REDRAWN` are drawn independently from their own marginals, which
    breaks most repeated combinations and makes the search work.
    """
    adult = load_adult()
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, adult.num_rows, size=rows)
    columns = {c: adult.column(c).take(pa.array(pick)) for c in QIS}
    for name in REDRAWN:
        columns[name] = adult.column(name).take(
            pa.array(rng.integers(0, adult.num_rows, size=rows))
        )
    ages = np.asarray(columns["age"].to_numpy(), dtype=np.int64)
    ages = np.clip(ages + rng.integers(-2, 3, size=rows), 1, 100)
    columns["age"] = pa.chunked_array([pa.array(ages.astype(str))])
    return pa.table(columns)
