"""Information-loss metrics, as ARX defines them.

Every metric gives three numbers for the search:

* ``lower_bounds(nodes)``: a bound from the levels alone, valid whatever is
  suppressed. For non-uniform entropy it *is* the loss, which lets the search
  stop at the first accepted transformation in ascending order.
* ``loss(...)``: the value of an evaluated transformation.
* ``successor_bound(...)``: a bound valid for the transformation and every
  generalization of it (their classes are unions of its classes), used to
  prune the lattice.

Non-uniform entropy (ARX ``MetricMDNUEntropy``; Gionis & Tassa 2009): the sum
over records and quasi-identifiers of ``-log2(freq(original) / freq(generalized))``,
with both frequencies counted over the whole input. Suppressed records count as
if they were only generalized, so the loss does not depend on suppression.

>>> import numpy as np
>>> # One QI, values a,a,b (level 1 joins them): -2*log2(2/3) - log2(1/3) = 2.75
>>> round(float(nue_per_level(np.array([2, 1]), [np.array([0, 1]), np.array([0, 0])])[1]), 2)
2.75
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from datacompact.errors import InvalidInput
from datacompact.privacy._engine import Encoded, Groups

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


def nue_per_level(value_counts: IntArray, gen: Sequence[IntArray]) -> FloatArray:
    """Non-uniform entropy of one QI at each level, summed over records."""
    out = np.zeros(len(gen), dtype=np.float64)
    present = value_counts > 0
    counts = value_counts[present].astype(np.float64)
    for level, lookup in enumerate(gen):
        generalized = np.bincount(lookup, weights=value_counts, minlength=int(lookup.max()) + 1)
        freq_gen = generalized[lookup[present]]
        out[level] = float(np.sum(counts * (np.log2(freq_gen) - np.log2(counts))))
    return out


class LossMetric(Protocol):
    """An information-loss metric for the search."""

    name: ClassVar[str]
    #: ``lower_bounds`` equals ``loss`` (independent of suppression).
    exact_bound: ClassVar[bool]

    def lower_bounds(self, nodes: IntArray) -> FloatArray: ...

    def loss(self, groups: Groups, ok: BoolArray) -> float: ...

    def successor_bound(self, groups: Groups) -> float: ...


class NonUniformEntropy:
    """ARX's non-uniform entropy; separable, so it is exact from the levels alone."""

    name: ClassVar[str] = "entropy"
    exact_bound: ClassVar[bool] = True

    def __init__(self, enc: Encoded) -> None:
        self.tables = [nue_per_level(c, g) for c, g in zip(enc.value_counts, enc.gen, strict=True)]

    def lower_bounds(self, nodes: IntArray) -> FloatArray:
        total = np.zeros(nodes.shape[0], dtype=np.float64)
        for j, table in enumerate(self.tables):
            total += table[nodes[:, j]]
        return total

    def loss(self, groups: Groups, ok: BoolArray) -> float:
        return float(self.lower_bounds(np.array([groups.node]))[0])

    def successor_bound(self, groups: Groups) -> float:
        return self.loss(groups, np.ones(0, dtype=np.bool_))


class Precision:
    """Sweeney's precision loss: mean of level/height over records and QIs.

    Suppressed records count as fully generalized (ARX ``MetricMDPrecision``).
    """

    name: ClassVar[str] = "precision"
    exact_bound: ClassVar[bool] = False

    def __init__(self, enc: Encoded) -> None:
        self.n = enc.n
        self.scale = np.array([1.0 / h if h else 0.0 for h in enc.heights]) / len(enc.heights)

    def lower_bounds(self, nodes: IntArray) -> FloatArray:
        result: FloatArray = nodes @ self.scale
        return result

    def loss(self, groups: Groups, ok: BoolArray) -> float:
        generalized = float(self.lower_bounds(np.array([groups.node]))[0])
        suppressed = int(groups.sizes[~ok].sum())
        return ((self.n - suppressed) * generalized + suppressed) / self.n

    def successor_bound(self, groups: Groups) -> float:
        return float(self.lower_bounds(np.array([groups.node]))[0])


class Discernibility:
    """Bayardo & Agrawal's discernibility: sum of squared class sizes, ``n`` per suppressed record."""

    name: ClassVar[str] = "discernibility"
    exact_bound: ClassVar[bool] = False

    def __init__(self, enc: Encoded) -> None:
        self.n = enc.n

    def lower_bounds(self, nodes: IntArray) -> FloatArray:
        return np.full(nodes.shape[0], float(self.n))

    def loss(self, groups: Groups, ok: BoolArray) -> float:
        sizes = groups.sizes.astype(np.float64)
        return float(np.sum(sizes[ok] ** 2) + self.n * np.sum(sizes[~ok]))

    def successor_bound(self, groups: Groups) -> float:
        # A generalization's classes are unions of these: squares only grow, and
        # n * |E| >= |E|^2 for a suppressed class.
        return float(np.sum(groups.sizes.astype(np.float64) ** 2))


class AverageClassSize:
    """Average equivalence-class size ``n / classes``; the suppressed records form one class."""

    name: ClassVar[str] = "aecs"
    exact_bound: ClassVar[bool] = False

    def __init__(self, enc: Encoded) -> None:
        self.n = enc.n

    def lower_bounds(self, nodes: IntArray) -> FloatArray:
        return np.ones(nodes.shape[0], dtype=np.float64)

    def loss(self, groups: Groups, ok: BoolArray) -> float:
        classes = int(ok.sum()) + (1 if not ok.all() else 0)
        return self.n / max(classes, 1)

    def successor_bound(self, groups: Groups) -> float:
        return float(self.n / groups.sizes.shape[0])


METRICS: dict[str, type[NonUniformEntropy | Precision | Discernibility | AverageClassSize]] = {
    "entropy": NonUniformEntropy,
    "precision": Precision,
    "discernibility": Discernibility,
    "aecs": AverageClassSize,
}


def make_metric(name: str, enc: Encoded) -> LossMetric:
    """The metric called ``name`` (``entropy``, ``precision``, ``discernibility``, ``aecs``)."""
    try:
        return METRICS[name](enc)
    except KeyError:
        raise InvalidInput(
            f"expected a metric among {', '.join(METRICS)}", details={"metric": name}
        ) from None


@dataclass(frozen=True)
class AttributeUtility:
    """Utility of one QI under the chosen transformation."""

    column: str
    level: int
    height: int
    distinct_before: int
    distinct_after: int
    non_uniform_entropy: float
    precision_loss: float

    def to_dict(self) -> dict[str, object]:
        return {
            "level": self.level,
            "height": self.height,
            "distinct_before": self.distinct_before,
            "distinct_after": self.distinct_after,
            "non_uniform_entropy": self.non_uniform_entropy,
            "precision_loss": self.precision_loss,
        }


def attribute_utility(enc: Encoded, node: Sequence[int]) -> list[AttributeUtility]:
    """Per-QI utility: level, distinct values before/after, entropy and precision loss."""
    out = []
    for j, level in enumerate(node):
        height = enc.heights[j]
        present = enc.value_counts[j] > 0
        out.append(
            AttributeUtility(
                column=enc.names[j],
                level=int(level),
                height=height,
                distinct_before=int(present.sum()),
                distinct_after=int(np.unique(enc.gen[j][level][present]).shape[0]),
                non_uniform_entropy=float(nue_per_level(enc.value_counts[j], enc.gen[j])[level]),
                precision_loss=(level / height) if height else 0.0,
            )
        )
    return out
