"""The anonymization search: optimal against brute force, bad input, output shape."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest

from datacompact.errors import InvalidInput, MalformedInput, UnknownField
from datacompact.privacy import (
    DistinctLDiversity,
    EntropyLDiversity,
    Hierarchy,
    KAnonymity,
    PrivacyModel,
    TCloseness,
    anonymize,
    build_models,
)
from tests.privacy._brute import brute_force
from tests.privacy._data import SMALL_HIERARCHIES, small_table

CASES = [
    # (seed, rows, models kwargs, suppression, metric)
    (1, 60, {"k": 3}, 0.0, "entropy"),
    (2, 60, {"k": 4}, 0.05, "entropy"),
    (3, 80, {"k": 5}, 0.10, "entropy"),
    (4, 60, {"k": 2}, 0.0, "discernibility"),
    (5, 60, {"k": 3}, 0.10, "discernibility"),
    (6, 60, {"k": 3}, 0.05, "precision"),
    (7, 60, {"k": 3}, 0.10, "aecs"),
    (8, 60, {"k": 2, "l_distinct": 2}, 0.05, "entropy"),
    (9, 60, {"l_entropy": 2.0}, 0.10, "entropy"),
    (10, 60, {"k": 2, "t_equal": 0.3}, 0.0, "entropy"),
    (11, 70, {"t_equal": 0.25}, 0.1, "entropy"),
]


def _models(kwargs):
    models: list[PrivacyModel] = []
    if "k" in kwargs:
        models.append(KAnonymity(kwargs["k"]))
    if "l_distinct" in kwargs:
        models.append(DistinctLDiversity(kwargs["l_distinct"]))
    if "l_entropy" in kwargs:
        models.append(EntropyLDiversity(kwargs["l_entropy"]))
    if "t_equal" in kwargs:
        models.append(TCloseness(kwargs["t_equal"]))
    return models


@pytest.mark.parametrize(("seed", "rows", "kwargs", "suppression", "metric"), CASES)
def test_optimal_matches_brute_force(seed, rows, kwargs, suppression, metric) -> None:
    table = small_table(seed, rows)
    sensitive = "disease" if set(kwargs) - {"k"} else None
    result = anonymize(
        table,
        hierarchies=SMALL_HIERARCHIES,
        models=_models(kwargs),
        sensitive=sensitive,
        suppression_limit=suppression,
        metric=metric,
    )
    best, winners = brute_force(
        table,
        SMALL_HIERARCHIES,
        suppression=suppression,
        metric=metric,
        sensitive=sensitive,
        **kwargs,
    )
    assert result.optimal
    assert result.information_loss == pytest.approx(best)
    assert tuple(result.transformation.values()) in winners
    assert result.suppressed <= int(suppression * rows + 1e-9)


def test_output_is_k_anonymous_and_generalized() -> None:
    table = small_table(3, 80)
    result = anonymize(
        table, hierarchies=SMALL_HIERARCHIES, models=[KAnonymity(5)], suppression_limit=0.1
    )
    out = result.table
    assert out.num_rows + result.suppressed == 80
    assert out.column_names == table.column_names
    classes = Counter(zip(*(out.column(c).to_pylist() for c in SMALL_HIERARCHIES), strict=True))
    assert min(classes.values()) >= 5
    assert len(classes) == result.classes
    for name, level in result.transformation.items():
        labels = {row[level] for row in SMALL_HIERARCHIES[name].rows}
        assert set(out.column(name).to_pylist()) <= labels
    kept = np.setdiff1d(np.arange(80), result.suppressed_rows)
    assert out.column("disease").to_pylist() == [
        table.column("disease")[int(i)].as_py() for i in kept
    ]
    report = result.report()
    assert set(report) >= {"transformation", "suppressed", "information_loss", "risk", "seconds"}
    assert report["risk"]["prosecutor"]["highest"] <= 1 / 5


def test_hierarchical_t_closeness_output_meets_t() -> None:
    from tests.privacy._data import DISEASE

    table = small_table(12, 80)
    result = anonymize(
        table,
        hierarchies=SMALL_HIERARCHIES,
        models=[TCloseness(0.2, "hierarchical")],
        sensitive="disease",
        sensitive_hierarchy=DISEASE,
    )
    assert result.suppressed == 0
    assert result.models == [{"model": "t-closeness", "t": 0.2, "distance": "hierarchical"}]


def test_heuristic_search_returns_an_accepted_transformation() -> None:
    table = small_table(13, 80)
    result = anonymize(
        table,
        hierarchies=SMALL_HIERARCHIES,
        models=[KAnonymity(4)],
        suppression_limit=0.05,
        search="heuristic",
        time_limit=2.0,
    )
    best, _ = brute_force(table, SMALL_HIERARCHIES, suppression=0.05, k=4)
    assert not result.optimal
    assert result.information_loss >= best - 1e-9
    classes = Counter(
        zip(*(result.table.column(c).to_pylist() for c in SMALL_HIERARCHIES), strict=True)
    )
    assert min(classes.values()) >= 4
    assert result.suppressed <= 4


def test_progress_reaches_the_end() -> None:
    seen: list[tuple[int, int]] = []
    anonymize(
        small_table(1),
        hierarchies=SMALL_HIERARCHIES,
        models=[KAnonymity(2)],
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1][0] == seen[-1][1] == 4 * 4 * 2


def test_uncovered_value_names_column_and_row() -> None:
    table = small_table(1, 10)
    rows = table.column("zip").to_pylist()
    rows[6] = "99999"
    table = table.set_column(0, "zip", pa.array(rows))
    with pytest.raises(InvalidInput, match="row 7") as info:
        anonymize(table, hierarchies=SMALL_HIERARCHIES, models=[KAnonymity(2)])
    assert info.value.details == {"column": "zip", "row": 7, "file": None, "records": 1}
    # Held by one record, fewer than k: the value itself is not echoed.
    assert "99999" not in info.value.message
    assert "not shown" in info.value.message


def test_an_uncovered_value_held_by_k_records_is_named() -> None:
    table = small_table(1, 10)
    rows = table.column("zip").to_pylist()
    rows[2] = rows[6] = "99999"
    table = table.set_column(0, "zip", pa.array(rows))
    with pytest.raises(InvalidInput, match="row 3") as info:
        anonymize(table, hierarchies=SMALL_HIERARCHIES, models=[KAnonymity(2)])
    assert "'99999' (held by 2 records)" in info.value.message
    assert "99999" not in str(info.value.details)
    with pytest.raises(InvalidInput) as stricter:
        anonymize(table, hierarchies=SMALL_HIERARCHIES, models=[KAnonymity(3)])
    assert "99999" not in stricter.value.message


def test_empty_value_names_column_and_row() -> None:
    table = pa.table({"sex": ["M", None, "F"]})
    with pytest.raises(InvalidInput, match="row 2"):
        anonymize(table, hierarchies={"sex": SMALL_HIERARCHIES["sex"]}, models=[KAnonymity(1)])


def test_k_larger_than_the_data() -> None:
    with pytest.raises(InvalidInput, match="k=61") as info:
        anonymize(small_table(1), hierarchies=SMALL_HIERARCHIES, models=[KAnonymity(61)])
    assert info.value.details == {"k": 61, "records": 60}


def test_missing_quasi_identifier() -> None:
    hierarchies = {**SMALL_HIERARCHIES, "postcode": SMALL_HIERARCHIES["zip"]}
    with pytest.raises(UnknownField, match="postcode"):
        anonymize(small_table(1), hierarchies=hierarchies, models=[KAnonymity(2)])


def test_infeasible_constraints() -> None:
    # Only five diseases exist, so 6 distinct values per class cannot be had.
    with pytest.raises(InvalidInput, match="cannot be met together") as info:
        anonymize(
            small_table(1),
            hierarchies=SMALL_HIERARCHIES,
            models=[KAnonymity(2), DistinctLDiversity(6)],
            sensitive="disease",
        )
    assert info.value.details == {"suppressed": 60, "limit": 0}


def test_bad_hierarchy_rows_are_malformed() -> None:
    with pytest.raises(MalformedInput, match="row 2"):
        Hierarchy.from_csv("M;*\nF;x;*\n")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"models": []}, "at least one privacy model"),
        ({"models": [KAnonymity(2)], "suppression_limit": 1.5}, "suppression limit"),
        ({"models": [DistinctLDiversity(2)]}, "sensitive attribute"),
        ({"models": [KAnonymity(2)], "metric": "loss"}, "metric"),
        ({"models": [KAnonymity(2)], "search": "heuristic"}, "time limit"),
        ({"models": [KAnonymity(2)], "sensitive": "zip"}, "both a quasi-identifier"),
        (
            {"models": [TCloseness(0.2, "hierarchical")], "sensitive": "disease"},
            "hierarchy of the sensitive",
        ),
    ],
)
def test_bad_options(kwargs, match) -> None:
    with pytest.raises(InvalidInput, match=match):
        anonymize(small_table(1), hierarchies=SMALL_HIERARCHIES, **kwargs)


def test_build_models() -> None:
    models = build_models(k=5, l=3, l_variant="recursive", c=3, t=0.2)
    assert [m.describe()["model"] for m in models] == [
        "k-anonymity",
        "recursive-(c,l)-diversity",
        "t-closeness",
    ]
    with pytest.raises(InvalidInput):
        build_models(l=2.5)
    with pytest.raises(InvalidInput):
        build_models(l=2, l_variant="other")  # type: ignore[arg-type]
