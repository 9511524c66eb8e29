"""ARX hierarchy import/export and the hierarchy builders."""

from __future__ import annotations

import datetime as dt

import pytest

from datacompact.errors import InvalidIdentifier, InvalidInput, MalformedInput
from datacompact.privacy import (
    Hierarchy,
    date_hierarchy,
    interval_hierarchy,
    masking_hierarchy,
    region_code_hierarchy,
)
from tests.privacy._data import ADULT_QIS, adult_hierarchy_path


@pytest.mark.parametrize("column", ADULT_QIS)
def test_arx_adult_hierarchy_round_trip(column: str, tmp_path) -> None:
    path = adult_hierarchy_path(column)
    text = path.read_text(encoding="utf-8")
    h = Hierarchy.read(path)
    assert h.to_csv() == text.rstrip("\n") + "\n"
    assert h.rows[-1][-1] == "*"
    out = tmp_path / "h.csv"
    h.write(out)
    assert Hierarchy.read(out) == h


def test_adult_age_levels() -> None:
    h = Hierarchy.read(adult_hierarchy_path("age"))
    assert h.height == 4
    assert [h.generalize("39", lv) for lv in range(5)] == ["39", "35-39", "30-39", "20-39", "*"]


def test_quoted_cells_round_trip() -> None:
    h = Hierarchy.from_rows([["a;b", "x", "*"], ['say "hi"', "x", "*"]])
    assert Hierarchy.from_csv(h.to_csv()) == h


def test_rows_of_different_depths_name_the_row() -> None:
    with pytest.raises(MalformedInput, match="row 2") as info:
        Hierarchy.from_csv("a;x;*\nb;*\n")
    assert info.value.details == {"row": 2, "expected": 3, "found": 2}


def test_repeated_value_names_the_row() -> None:
    with pytest.raises(MalformedInput, match="row 3"):
        Hierarchy.from_csv("a;x;*\nb;x;*\na;y;*\n")


def test_non_monotonic_hierarchy_is_rejected() -> None:
    with pytest.raises(MalformedInput, match="monotonic") as info:
        Hierarchy.from_csv("a;x;p;*\nb;x;q;*\n")
    assert info.value.details == {"row": 2, "level": 1}


def test_empty_hierarchy_and_bad_level() -> None:
    with pytest.raises(MalformedInput):
        Hierarchy.from_csv("\n\n")
    h = Hierarchy.from_csv("a;*\n")
    with pytest.raises(InvalidInput):
        h.generalize("a", 2)
    with pytest.raises(InvalidInput):
        h.generalize("zzz", 1)


def test_missing_hierarchy_file() -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        Hierarchy.read("/nonexistent/h.csv")


def test_interval_hierarchy() -> None:
    h = interval_hierarchy([3, 17, 25, 17], width=10, fanouts=(2,))
    assert h.rows == (
        ("3", "[0, 10)", "[0, 20)", "*"),
        ("17", "[10, 20)", "[0, 20)", "*"),
        ("25", "[20, 30)", "[20, 40)", "*"),
    )
    assert interval_hierarchy(["1.5"], width=0.5, fanouts=()).rows == (("1.5", "[1.5, 2)", "*"),)


@pytest.mark.parametrize(
    ("values", "kwargs"),
    [
        ([1], {"width": 0}),
        ([1], {"width": 1, "fanouts": (1,)}),
        (["x"], {"width": 1}),
        ([], {"width": 1}),
    ],
)
def test_interval_hierarchy_rejects(values, kwargs) -> None:
    with pytest.raises(InvalidInput):
        interval_hierarchy(values, **kwargs)


def test_date_hierarchy() -> None:
    h = date_hierarchy(["2024-03-15", dt.date(2019, 12, 31)])
    assert h.rows[1] == ("2019-12-31", "2019-12", "2019", "2010s", "*")
    assert date_hierarchy(["2024-03-15"], levels=("year",)).rows == (("2024-03-15", "2024", "*"),)
    with pytest.raises(InvalidInput):
        date_hierarchy(["15/03/2024"])
    with pytest.raises(InvalidInput):
        date_hierarchy(["2024-03-15"], levels=("year", "month"))


def test_region_code_hierarchy_gbt2260() -> None:
    h = region_code_hierarchy(["110105", "320102", "320100", "320000"])
    assert h.rows == (
        ("110105", "110100", "110000", "*"),
        ("320102", "320100", "320000", "*"),
        ("320100", "320100", "320000", "*"),
        ("320000", "320000", "320000", "*"),
    )
    with pytest.raises(InvalidIdentifier, match="position 1"):
        region_code_hierarchy(["110105", "11010"])


def test_masking_hierarchy_right_to_left() -> None:
    h = masking_hierarchy(["1234", "12"])
    assert h.rows[0] == ("1234", "123*", "12**", "1***", "****", "*")
    assert h.rows[1] == ("12", "1*", "**", "**", "**", "*")
    with pytest.raises(InvalidInput):
        masking_hierarchy([])
