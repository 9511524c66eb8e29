"""Re-identification risk under the prosecutor, journalist and marketer models.

Following El Emam's definitions as implemented in ARX (``RiskEstimateBuilder``):

* prosecutor: the attacker knows the person is in the released data; the risk
  of a record is ``1 / |E|`` for its equivalence class ``E``;
* journalist: the attacker matches against a population (an identification
  table that contains the sample); the risk is ``1 / |F|`` with ``F`` the
  matching class in the population. Without a population the sample stands for
  it, and the figures equal the prosecutor's;
* marketer: the attacker re-identifies as many records as possible; the
  expected share is ``sum(|E| / |F|) / n``, and a record's risk is that of
  its class, ``1 / |F|``.

For each model: the highest record risk, the average record risk, and the
share of records whose risk exceeds ``threshold``.

>>> import numpy as np
>>> r = reidentification_risk(np.array([2, 5, 3]), threshold=0.4)
>>> r.prosecutor.highest, round(r.prosecutor.average, 2), r.prosecutor.above_threshold
(0.5, 0.3, 0.2)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import numpy.typing as npt

from datacompact.errors import InvalidInput

IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ModelRisk:
    """Risk figures of one attacker model."""

    highest: float
    average: float
    above_threshold: float


@dataclass(frozen=True)
class RiskReport:
    """Risk under the three attacker models, for released classes."""

    threshold: float
    records: int
    prosecutor: ModelRisk
    journalist: ModelRisk
    marketer: ModelRisk

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _figures(
    record_risk: npt.NDArray[np.float64], weights: IntArray, threshold: float
) -> ModelRisk:
    n = int(weights.sum())
    if n == 0:
        return ModelRisk(0.0, 0.0, 0.0)
    return ModelRisk(
        highest=float(record_risk.max()),
        average=float((record_risk * weights).sum() / n),
        above_threshold=float(weights[record_risk > threshold].sum() / n),
    )


def reidentification_risk(
    sample_sizes: IntArray,
    population_sizes: IntArray | None = None,
    *,
    threshold: float = 0.2,
) -> RiskReport:
    """Risk from the sizes of the released equivalence classes.

    ``population_sizes[i]`` is the size of the class matching class ``i`` in the
    population (at least ``sample_sizes[i]``).
    """
    if not 0 < threshold <= 1:
        raise InvalidInput("expected a risk threshold in (0, 1]", details={"threshold": threshold})
    sizes = np.asarray(sample_sizes, dtype=np.int64)
    if np.any(sizes <= 0):
        raise InvalidInput("expected positive class sizes")
    population = sizes if population_sizes is None else np.asarray(population_sizes, np.int64)
    if population.shape != sizes.shape or np.any(population < sizes):
        raise InvalidInput("expected one population class at least as large as each sample class")
    prosecutor = 1.0 / sizes
    journalist = 1.0 / population
    n = int(sizes.sum())
    marketer = _figures(journalist, sizes, threshold)
    marketer = ModelRisk(
        highest=marketer.highest,
        average=float((sizes / population).sum() / n) if n else 0.0,
        above_threshold=marketer.above_threshold,
    )
    return RiskReport(
        threshold=threshold,
        records=n,
        prosecutor=_figures(prosecutor, sizes, threshold),
        journalist=_figures(journalist, sizes, threshold),
        marketer=marketer,
    )
