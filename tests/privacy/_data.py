"""Shared test data of the privacy tests: the ARX adult files and small random tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from datacompact.privacy import Hierarchy

ADULT = Path(__file__).resolve().parents[1] / "fixtures" / "datasets" / "adult"
ADULT_QIS = (
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


def adult_hierarchy_path(column: str) -> Path:
    return ADULT / f"adult_hierarchy_{column}.csv"


ZIP = Hierarchy.from_rows(
    [
        ["13053", "1305*", "130**", "*"],
        ["13058", "1305*", "130**", "*"],
        ["13067", "1306*", "130**", "*"],
        ["13068", "1306*", "130**", "*"],
        ["14850", "1485*", "148**", "*"],
    ]
)
AGE = Hierarchy.from_rows(
    [
        [str(a), f"{a // 10 * 10}-{a // 10 * 10 + 9}", "<50" if a < 50 else ">=50", "*"]
        for a in range(20, 70)
    ]
)
SEX = Hierarchy.from_rows([["M", "*"], ["F", "*"]])
DISEASES = ["flu", "cancer", "hiv", "gastritis", "heart"]
DISEASE = Hierarchy.from_rows(
    [
        ["flu", "respiratory", "*"],
        ["cancer", "chronic", "*"],
        ["hiv", "infectious", "*"],
        ["gastritis", "digestive", "*"],
        ["heart", "chronic", "*"],
    ]
)
SMALL_HIERARCHIES = {"zip": ZIP, "age": AGE, "sex": SEX}


def small_table(seed: int, rows: int = 60) -> pa.Table:
    """A small table with correlated QIs, so that different nodes win for different seeds."""
    rng = np.random.default_rng(seed)
    zips = rng.choice(ZIP.values, size=rows, p=[0.3, 0.2, 0.2, 0.2, 0.1])
    ages = rng.integers(20, 70, size=rows)
    sexes = rng.choice(["M", "F"], size=rows)
    disease = rng.choice(DISEASES, size=rows, p=[0.35, 0.2, 0.15, 0.15, 0.15])
    return pa.table(
        {
            "zip": [str(z) for z in zips],
            "age": [str(a) for a in ages],
            "sex": [str(s) for s in sexes],
            "disease": [str(d) for d in disease],
        }
    )
