"""Privacy models, information loss and risk, each checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from datacompact.errors import InvalidInput
from datacompact.privacy import (
    DistinctLDiversity,
    EntropyLDiversity,
    Hierarchy,
    KAnonymity,
    RecursiveCLDiversity,
    TCloseness,
    reidentification_risk,
)
from datacompact.privacy._engine import Evaluator, encode
from datacompact.privacy.metrics import make_metric, nue_per_level
from datacompact.privacy.models import emd
from tests.privacy._data import DISEASE, SMALL_HIERARCHIES, small_table


class Ctx:
    def __init__(self, overall, ground=None):
        self.overall = np.asarray(overall, dtype=float)
        self.ground = ground


HIST = np.array([[3, 2, 0], [2, 0, 0], [1, 1, 1]])
SIZES = HIST.sum(axis=1)


def test_k_and_distinct_l() -> None:
    assert KAnonymity(3).satisfied(SIZES, None, None).tolist() == [True, False, True]
    assert DistinctLDiversity(3).satisfied(SIZES, HIST, None).tolist() == [False, False, True]


def test_entropy_l_diversity() -> None:
    # Class 0: H = -(0.6 ln 0.6 + 0.4 ln 0.4) = 0.673 < ln 2 = 0.693.
    assert EntropyLDiversity(2).satisfied(SIZES, HIST, None).tolist() == [False, False, True]
    assert EntropyLDiversity(1.9).satisfied(SIZES, HIST, None).tolist() == [True, False, True]
    assert EntropyLDiversity(3).satisfied(SIZES, HIST, None).tolist() == [False, False, True]


def test_recursive_c_l_diversity() -> None:
    hist = np.array([[5, 3, 2], [4, 1, 1], [2, 2, 2]])
    # l=2: r1 < c * (r2 + r3): 5 < 1*5 no, 4 < 1*2 no, 2 < 1*4 yes.
    assert RecursiveCLDiversity(1, 2).satisfied(hist.sum(1), hist, None).tolist() == [
        False,
        False,
        True,
    ]
    assert RecursiveCLDiversity(2, 2).satisfied(hist.sum(1), hist, None).tolist() == [
        True,
        False,
        True,
    ]
    assert RecursiveCLDiversity(9, 4).satisfied(hist.sum(1), hist, None).tolist() == [False] * 3


def test_t_closeness_equal_distance() -> None:
    ctx = Ctx([0.5, 0.25, 0.25])
    # Class 0: p = (0.6, 0.4, 0): EMD = (0.1 + 0.15 + 0.25) / 2 = 0.25.
    assert emd(HIST, ctx, "equal") == pytest.approx([0.25, 0.5, 1 / 6])
    assert TCloseness(0.25).satisfied(SIZES, HIST, ctx).tolist() == [True, False, True]


def test_t_closeness_hierarchical_distance_by_hand() -> None:
    # Li et al. 2007 example shape: values a,b under X; c under Y; height 2.
    ground = np.array([[0, 1, 2], [0, 0, 1], [0, 0, 0]])
    ctx = Ctx([1 / 3, 1 / 3, 1 / 3], ground)
    hist = np.array([[1, 1, 0], [2, 0, 0], [0, 0, 3]])
    # Class 0: extras (1/6, 1/6, -1/3): inside X nothing to move (cost 0); at the
    # root X has +1/3 and Y -1/3 -> 1/3 * 2/2.
    # Class 1: extras (2/3, -1/3, -1/3): 1/3 moves inside X at cost 1/2 -> 1/6;
    # at the root X +1/3, Y -1/3 -> 1/3. Total 1/2.
    # Class 2: extras (-1/3, -1/3, 2/3): root moves 2/3 -> 2/3.
    assert emd(hist, ctx, "hierarchical") == pytest.approx([1 / 3, 1 / 2, 2 / 3])


@pytest.mark.parametrize(
    "build",
    [
        lambda: KAnonymity(0),
        lambda: DistinctLDiversity(0),
        lambda: EntropyLDiversity(0.5),
        lambda: RecursiveCLDiversity(1, 1),
        lambda: TCloseness(1.5),
        lambda: TCloseness(0.1, "x"),  # type: ignore[arg-type]
    ],
)
def test_model_parameters_are_checked(build) -> None:
    with pytest.raises(InvalidInput):
        build()


def test_sensitive_models_need_histograms() -> None:
    with pytest.raises(InvalidInput):
        DistinctLDiversity(2).satisfied(SIZES, None, None)


def test_non_uniform_entropy_by_hand() -> None:
    # One QI with values a, a, b, c (a,b under x; c under y).
    h = Hierarchy.from_rows([["a", "x", "*"], ["b", "x", "*"], ["c", "y", "*"]])
    table = pa.table({"q": ["a", "a", "b", "c"]})
    enc = encode(table, {"q": h})
    per_level = nue_per_level(enc.value_counts[0], enc.gen[0])
    # Level 1: a -> x (3 of 4): 2 * -log2(2/3); b -> x: -log2(1/3); c -> y: 0.
    level1 = 2 * -math.log2(2 / 3) + -math.log2(1 / 3)
    # Level 2: everything -> * (4): 2 * -log2(2/4) + 2 * -log2(1/4).
    level2 = 2 * 1 + 2 * 2
    assert per_level.tolist() == pytest.approx([0.0, level1, level2])
    metric = make_metric("entropy", enc)
    assert metric.lower_bounds(np.array([[1]])) == pytest.approx([level1])


def test_non_uniform_entropy_counts_suppressed_records_as_generalized() -> None:
    h = Hierarchy.from_rows([["a", "x", "*"], ["b", "x", "*"], ["c", "y", "*"]])
    table = pa.table({"q": ["a", "a", "b", "c"]})
    enc = encode(table, {"q": h})
    groups = Evaluator(enc).groups((1,))
    metric = make_metric("entropy", enc)
    everything = metric.loss(groups, np.ones(groups.sizes.shape[0], dtype=bool))
    # Suppress class y (record c): its loss is still that of its generalization.
    suppressed = metric.loss(groups, np.array([True, False]))
    assert suppressed == everything == pytest.approx(2 * -math.log2(2 / 3) - math.log2(1 / 3))


def test_other_metrics_by_hand() -> None:
    h = Hierarchy.from_rows([["a", "x", "*"], ["b", "x", "*"], ["c", "y", "*"]])
    enc = encode(pa.table({"q": ["a", "a", "b", "c"]}), {"q": h})
    groups = Evaluator(enc).groups((1,))  # classes x (3 records) and y (1 record)
    ok = np.array([True, False])  # y suppressed
    assert make_metric("discernibility", enc).loss(groups, ok) == 3**2 + 4 * 1
    assert make_metric("aecs", enc).loss(groups, ok) == 4 / 2
    assert make_metric("precision", enc).loss(groups, ok) == pytest.approx((3 * 0.5 + 1) / 4)
    with pytest.raises(InvalidInput):
        make_metric("utility", enc)


def test_reidentification_risk() -> None:
    risk = reidentification_risk(np.array([1, 4, 5]), threshold=0.2)
    assert risk.prosecutor.highest == 1.0
    assert risk.prosecutor.average == pytest.approx(3 / 10)
    assert risk.prosecutor.above_threshold == pytest.approx(5 / 10)  # 1 + 4 records above 0.2
    assert risk.journalist == risk.prosecutor
    population = reidentification_risk(np.array([1, 4, 5]), np.array([2, 8, 5]), threshold=0.2)
    assert population.journalist.highest == 0.5
    assert population.marketer.average == pytest.approx((1 / 2 + 4 / 8 + 5 / 5) / 10)
    assert population.prosecutor.highest == 1.0
    with pytest.raises(InvalidInput):
        reidentification_risk(np.array([2]), np.array([1]))
    with pytest.raises(InvalidInput):
        reidentification_risk(np.array([2]), threshold=0)
    empty = reidentification_risk(np.array([], dtype=np.int64))
    assert empty.records == 0
    assert empty.prosecutor.highest == 0.0


def test_encode_uses_sensitive_hierarchy() -> None:
    table = small_table(1)
    enc = encode(table, SMALL_HIERARCHIES, sensitive="disease", sensitive_hierarchy=DISEASE)
    assert enc.sensitive_ground is not None
    assert enc.sensitive_ground.shape == (3, len(enc.sensitive_labels))
