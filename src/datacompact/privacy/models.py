"""Privacy models, checked per equivalence class and vectorized over all classes.

A model looks at a generalized table through its equivalence classes: the
class sizes, and for the sensitive attribute a histogram per class. It returns
a boolean per class; the records of failing classes are suppressed, and the
transformation is accepted when their number stays within the suppression
limit (ARX's "record suppression limit", GB/T 37964-2019 §A.3.1 and §A.4).

>>> import numpy as np
>>> sizes = np.array([5, 2]); hist = np.array([[3, 2, 0], [2, 0, 0]])
>>> KAnonymity(3).satisfied(sizes, hist, None).tolist()
[True, False]
>>> DistinctLDiversity(2).satisfied(sizes, hist, None).tolist()
[True, False]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

import numpy as np
import numpy.typing as npt

from datacompact.errors import InvalidInput

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

# Relative slack for float comparisons of entropies and distances, so that a
# class exactly at the threshold is not rejected by rounding.
_EPS = 1e-9


class SensitiveContext(Protocol):
    """What a model needs to know about the sensitive attribute of the whole input."""

    @property
    def overall(self) -> FloatArray:
        """The distribution of the sensitive values over the whole input."""
        ...

    @property
    def ground(self) -> IntArray | None:
        """For hierarchical EMD: ``ground[level][v]``, the level group of sensitive value ``v``."""
        ...


class PrivacyModel(Protocol):
    """One privacy model. ``monotonic_with_suppression`` allows Flash-style pruning."""

    needs_sensitive: ClassVar[bool]
    monotonic_with_suppression: ClassVar[bool]

    def satisfied(
        self, sizes: IntArray, hist: IntArray | None, context: SensitiveContext | None
    ) -> BoolArray:
        """One boolean per equivalence class."""
        ...

    def describe(self) -> dict[str, object]:
        """A JSON-able description for reports."""
        ...


@dataclass(frozen=True)
class KAnonymity:
    """Every class holds at least ``k`` records (Sweeney 2002)."""

    k: int
    needs_sensitive: ClassVar[bool] = False
    # Merging classes never shrinks one, so the suppressed count can only fall.
    monotonic_with_suppression: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.k < 1:
            raise InvalidInput("expected k of at least 1", details={"k": self.k})

    def satisfied(
        self, sizes: IntArray, hist: IntArray | None, context: SensitiveContext | None
    ) -> BoolArray:
        return sizes >= self.k

    def describe(self) -> dict[str, object]:
        return {"model": "k-anonymity", "k": self.k}


def _require_hist(hist: IntArray | None) -> IntArray:
    if hist is None:
        raise InvalidInput("this privacy model needs a sensitive attribute")
    return hist


@dataclass(frozen=True)
class DistinctLDiversity:
    """At least ``l`` distinct sensitive values per class (Machanavajjhala et al. 2007)."""

    l: int  # noqa: E741 - the letter of the literature
    needs_sensitive: ClassVar[bool] = True
    # The distinct values of a union are a superset of each part's.
    monotonic_with_suppression: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.l < 1:
            raise InvalidInput("expected l of at least 1", details={"l": self.l})

    def satisfied(
        self, sizes: IntArray, hist: IntArray | None, context: SensitiveContext | None
    ) -> BoolArray:
        result: BoolArray = (_require_hist(hist) > 0).sum(axis=1) >= self.l
        return result

    def describe(self) -> dict[str, object]:
        return {"model": "distinct-l-diversity", "l": self.l}


def _entropy(hist: IntArray) -> FloatArray:
    total = hist.sum(axis=1, keepdims=True).astype(np.float64)
    p = np.divide(hist, total, out=np.zeros(hist.shape, dtype=np.float64), where=total > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    result: FloatArray = terms.sum(axis=1)
    return result


@dataclass(frozen=True)
class EntropyLDiversity:
    """The entropy of the sensitive values in each class is at least ``log(l)``."""

    l: float  # noqa: E741
    needs_sensitive: ClassVar[bool] = True
    # Entropy is concave, so two diverse classes merge into a diverse one, but a
    # diverse class can absorb a non-diverse one and fail (ARX: not monotonic
    # with suppression).
    monotonic_with_suppression: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.l < 1:
            raise InvalidInput("expected l of at least 1", details={"l": self.l})

    def satisfied(
        self, sizes: IntArray, hist: IntArray | None, context: SensitiveContext | None
    ) -> BoolArray:
        result: BoolArray = _entropy(_require_hist(hist)) >= math.log(self.l) - _EPS
        return result

    def describe(self) -> dict[str, object]:
        return {"model": "entropy-l-diversity", "l": self.l}


@dataclass(frozen=True)
class RecursiveCLDiversity:
    """``r1 < c * (r_l + ... + r_m)`` with ``r`` the sensitive counts sorted descending."""

    c: float
    l: int  # noqa: E741
    needs_sensitive: ClassVar[bool] = True
    monotonic_with_suppression: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.l < 2 or self.c <= 0:
            raise InvalidInput(
                "expected l of at least 2 and a positive c", details={"c": self.c, "l": self.l}
            )

    def satisfied(
        self, sizes: IntArray, hist: IntArray | None, context: SensitiveContext | None
    ) -> BoolArray:
        h = _require_hist(hist)
        if h.shape[1] < self.l:
            return np.zeros(h.shape[0], dtype=np.bool_)
        ranked = -np.sort(-h, axis=1)
        tail = ranked[:, self.l - 1 :].sum(axis=1)
        result: BoolArray = (ranked[:, 0] < self.c * tail) & ((h > 0).sum(axis=1) >= self.l)
        return result

    def describe(self) -> dict[str, object]:
        return {"model": "recursive-(c,l)-diversity", "c": self.c, "l": self.l}


@dataclass(frozen=True)
class TCloseness:
    """The EMD between a class's and the whole input's sensitive distribution is at most ``t``.

    ``distance="equal"``: every two values are at distance 1, so the EMD is half
    the L1 distance. ``distance="hierarchical"``: the ground distance is the
    height of the lowest common ancestor in the sensitive attribute's hierarchy
    divided by its height (Li, Li & Venkatasubramanian 2007, §4.2; ARX's
    ``HierarchicalDistanceTCloseness``).
    """

    t: float
    distance: Literal["equal", "hierarchical"] = "equal"
    needs_sensitive: ClassVar[bool] = True
    # The EMD is convex, yet a close class may absorb a distant one and fail.
    monotonic_with_suppression: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if not 0 <= self.t <= 1:
            raise InvalidInput("expected t between 0 and 1", details={"t": self.t})
        if self.distance not in ("equal", "hierarchical"):
            raise InvalidInput("expected distance 'equal' or 'hierarchical'")

    def satisfied(
        self, sizes: IntArray, hist: IntArray | None, context: SensitiveContext | None
    ) -> BoolArray:
        if context is None:
            raise InvalidInput("t-closeness needs the distribution of the whole input")
        result: BoolArray = emd(_require_hist(hist), context, self.distance) <= self.t + _EPS
        return result

    def describe(self) -> dict[str, object]:
        return {"model": "t-closeness", "t": self.t, "distance": self.distance}


def emd(hist: IntArray, context: SensitiveContext, distance: str) -> FloatArray:
    """EMD of each class's distribution (rows of ``hist``) to ``context.overall``.

    >>> import numpy as np
    >>> class C:
    ...     overall = np.array([0.5, 0.5]); ground = None
    >>> emd(np.array([[1, 0], [1, 1]]), C(), "equal").tolist()
    [0.5, 0.0]
    """
    total = hist.sum(axis=1, keepdims=True).astype(np.float64)
    p = np.divide(hist, total, out=np.zeros(hist.shape, dtype=np.float64), where=total > 0)
    extra = p - context.overall[None, :]
    if distance == "equal":
        result: FloatArray = 0.5 * np.abs(extra).sum(axis=1)
        return result
    ground = context.ground
    if ground is None:
        raise InvalidInput("hierarchical t-closeness needs a hierarchy for the sensitive attribute")
    # ground[level][v] is the level-`level` group of value v; level 0 is the value.
    height = ground.shape[0] - 1
    cost = np.zeros(hist.shape[0], dtype=np.float64)
    child = extra
    child_group = ground[0]
    for level in range(1, height + 1):
        parent_group = ground[level]
        n_parents = int(parent_group.max()) + 1
        # Each child node sits under one parent; its group at `level` is the
        # group of any value it contains.
        child_parent = np.zeros(child.shape[1], dtype=np.int64)
        child_parent[child_group] = parent_group
        pos = np.zeros((hist.shape[0], n_parents))
        neg = np.zeros((hist.shape[0], n_parents))
        np.add.at(pos.T, child_parent, np.maximum(child, 0.0).T)
        np.add.at(neg.T, child_parent, np.maximum(-child, 0.0).T)
        cost += (level / height) * np.minimum(pos, neg).sum(axis=1)
        child = pos - neg
        child_group = parent_group
    return cost
