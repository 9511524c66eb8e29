"""Anonymize a table: search the lattice, apply the best transformation, measure it.

This is the service function of the privacy engine (GB/T 37964-2019 §A.3
generalization and suppression, §A.4 k-anonymity and its family). It takes an
Arrow table, one hierarchy per quasi-identifier and a list of privacy models,
and returns the transformed table (suppressed records removed) with its report.

>>> import pyarrow as pa
>>> from datacompact.privacy.hierarchy import Hierarchy
>>> t = pa.table({"zip": ["13053", "13068", "13053", "13068"], "dx": ["a", "b", "c", "a"]})
>>> h = Hierarchy.from_rows([["13053", "1305*", "*"], ["13068", "1306*", "*"]])
>>> r = anonymize(t, hierarchies={"zip": h}, models=[KAnonymity(2)])
>>> r.transformation, r.suppressed
({'zip': 0}, 0)
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from datacompact.errors import InvalidInput
from datacompact.privacy._engine import Encoded, Evaluator, encode
from datacompact.privacy._lattice import (
    MAX_NODES,
    Checker,
    Outcome,
    Progress,
    heuristic_search,
    optimal_search,
)
from datacompact.privacy.hierarchy import Hierarchy
from datacompact.privacy.metrics import (
    AttributeUtility,
    LossMetric,
    attribute_utility,
    make_metric,
)
from datacompact.privacy.models import (
    DistinctLDiversity,
    EntropyLDiversity,
    KAnonymity,
    PrivacyModel,
    RecursiveCLDiversity,
    TCloseness,
)
from datacompact.privacy.risk import RiskReport, reidentification_risk

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = ["AnonymizationResult", "KAnonymity", "anonymize", "build_models"]


@dataclass(frozen=True)
class _Context:
    overall: FloatArray
    ground: IntArray | None


@dataclass(frozen=True)
class AnonymizationResult:
    """The transformed table and what it cost."""

    table: pa.Table  # suppressed records removed
    transformation: dict[str, int]
    suppressed: int
    suppressed_rows: IntArray  # 0-based input rows that were removed
    information_loss: float
    relative_loss: float  # information_loss / loss of full generalization
    metric: str
    optimal: bool
    evaluated: int
    lattice_size: int
    utility: list[AttributeUtility]
    risk: RiskReport
    models: list[dict[str, object]]
    seconds: float
    classes: int = field(default=0)

    def report(self) -> dict[str, Any]:
        """The JSON report (``--report`` of ``datacompact anonymize``)."""
        return {
            "transformation": self.transformation,
            "suppressed": self.suppressed,
            "records": self.table.num_rows + self.suppressed,
            "released": self.table.num_rows,
            "equivalence_classes": self.classes,
            "information_loss": self.information_loss,
            "relative_information_loss": self.relative_loss,
            "metric": self.metric,
            "optimal": self.optimal,
            "evaluated": self.evaluated,
            "lattice_size": self.lattice_size,
            "models": self.models,
            "utility": {u.column: u.to_dict() for u in self.utility},
            "risk": self.risk.to_dict(),
            "seconds": self.seconds,
        }


def build_models(
    *,
    k: int | None = None,
    l: float | None = None,  # noqa: E741
    l_variant: Literal["distinct", "entropy", "recursive"] = "distinct",
    c: float = 2.0,
    t: float | None = None,
    t_distance: Literal["equal", "hierarchical"] = "equal",
) -> list[PrivacyModel]:
    """The models for the usual options (``--k``, ``--l``, ``--l-variant``, ``--t``)."""
    models: list[PrivacyModel] = []
    if k is not None:
        models.append(KAnonymity(k))
    if l is not None:
        if l_variant == "distinct":
            if not float(l).is_integer():
                raise InvalidInput("expected a whole l for distinct l-diversity")
            models.append(DistinctLDiversity(int(l)))
        elif l_variant == "entropy":
            models.append(EntropyLDiversity(float(l)))
        elif l_variant == "recursive":
            if not float(l).is_integer():
                raise InvalidInput("expected a whole l for recursive (c,l)-diversity")
            models.append(RecursiveCLDiversity(c, int(l)))
        else:
            raise InvalidInput(
                "expected l-variant distinct, entropy or recursive",
                details={"l_variant": l_variant},
            )
    if t is not None:
        models.append(TCloseness(t, t_distance))
    return models


def _validate(
    table: pa.Table,
    models: Sequence[PrivacyModel],
    sensitive: str | None,
    sensitive_hierarchy: Hierarchy | None,
    suppression_limit: float,
) -> None:
    if not models:
        raise InvalidInput("expected at least one privacy model (k, l or t)")
    if not 0 <= suppression_limit <= 1 or math.isnan(suppression_limit):
        raise InvalidInput(
            "expected a suppression limit between 0 and 1", details={"limit": suppression_limit}
        )
    if table.num_rows == 0:
        raise InvalidInput("expected at least one record")
    for model in models:
        if isinstance(model, KAnonymity) and model.k > table.num_rows:
            raise InvalidInput(
                f"k={model.k} is larger than the {table.num_rows} records of the input",
                details={"k": model.k, "records": table.num_rows},
            )
        if model.needs_sensitive and sensitive is None:
            raise InvalidInput(
                f"{model.describe()['model']} needs a sensitive attribute (--sensitive)"
            )
        if (
            isinstance(model, TCloseness)
            and model.distance == "hierarchical"
            and sensitive_hierarchy is None
        ):
            raise InvalidInput("hierarchical t-closeness needs a hierarchy of the sensitive column")


def anonymize(
    table: pa.Table,
    *,
    hierarchies: Mapping[str, Hierarchy],
    models: Sequence[PrivacyModel],
    sensitive: str | None = None,
    sensitive_hierarchy: Hierarchy | None = None,
    suppression_limit: float = 0.0,
    metric: str = "entropy",
    search: Literal["auto", "optimal", "heuristic"] = "auto",
    time_limit: float | None = None,
    risk_threshold: float = 0.2,
    progress: Progress | None = None,
) -> AnonymizationResult:
    """Find the transformation with the lowest information loss that satisfies ``models``.

    ``hierarchies`` maps each quasi-identifier to its hierarchy. Records of
    classes that fail a model are suppressed while their number stays at or
    below ``floor(suppression_limit * records)``. ``search="auto"`` is optimal
    unless the lattice has more than ``MAX_NODES`` nodes; a heuristic search
    needs ``time_limit`` (seconds), which also caps an optimal search.
    """
    started = time.perf_counter()
    _validate(table, models, sensitive, sensitive_hierarchy, suppression_limit)
    # An uncovered value is named in an error only if as many records hold it as k asks.
    reveal_at = max((m.k for m in models if isinstance(m, KAnonymity)), default=2)
    enc = encode(
        table,
        hierarchies,
        sensitive=sensitive,
        sensitive_hierarchy=sensitive_hierarchy,
        reveal_at=reveal_at,
    )
    context = _sensitive_context(enc)
    evaluator = Evaluator(enc)
    max_suppressed = math.floor(suppression_limit * enc.n + 1e-9)
    checker = Checker(evaluator, models, context, max_suppressed)
    loss_metric = make_metric(metric, enc)
    size = math.prod(h + 1 for h in enc.heights)
    mode = search if search != "auto" else ("optimal" if size <= MAX_NODES else "heuristic")
    outcome: Outcome
    if mode == "optimal":
        if size > MAX_NODES:
            raise InvalidInput(
                f"the lattice has {size} nodes, more than {MAX_NODES}; use the heuristic search",
                details={"nodes": size},
            )
        outcome = optimal_search(
            checker, loss_metric, enc.heights, time_limit=time_limit, progress=progress
        )
    elif mode == "heuristic":
        if time_limit is None:
            raise InvalidInput("the heuristic search needs a time limit")
        outcome = heuristic_search(
            checker, loss_metric, enc.heights, time_limit=time_limit, progress=progress
        )
    else:
        raise InvalidInput("expected search auto, optimal or heuristic", details={"search": search})
    return _result(table, enc, evaluator, outcome, loss_metric, models, risk_threshold, started)


def _sensitive_context(enc: Encoded) -> _Context | None:
    if enc.sensitive is None:
        return None
    counts = np.bincount(enc.sensitive, minlength=len(enc.sensitive_labels)).astype(np.float64)
    return _Context(counts / counts.sum(), enc.sensitive_ground)


def _result(
    table: pa.Table,
    enc: Encoded,
    evaluator: Evaluator,
    outcome: Outcome,
    loss_metric: LossMetric,
    models: Sequence[PrivacyModel],
    risk_threshold: float,
    started: float,
) -> AnonymizationResult:
    check = outcome.check
    node = check.node
    record_class, class_keys = evaluator.record_keys(node)
    # The classes of record_keys and of the search are both sorted by key, so
    # they line up; a mismatch would be a bug in the engine.
    if class_keys.shape[0] != check.ok.shape[0]:
        raise AssertionError("equivalence classes do not line up")
    class_codes = check.groups.codes
    keep = check.ok[record_class]
    columns = {}
    for name in table.column_names:
        if name in enc.names:
            j = enc.names.index(name)
            labels = np.array(enc.labels[j][node[j]], dtype=object)
            columns[name] = pa.array(labels[class_codes[record_class[keep], j]], type=pa.string())
        else:
            columns[name] = table.column(name).filter(pa.array(keep))
    released = pa.table(columns)
    top_loss = float(loss_metric.lower_bounds(np.array([enc.heights]))[0])
    if loss_metric.name != "entropy":
        top_check = evaluator.groups(tuple(enc.heights))
        top_loss = loss_metric.loss(top_check, np.ones(top_check.sizes.shape[0], dtype=np.bool_))
    sizes = check.groups.sizes[check.ok]
    return AnonymizationResult(
        table=released,
        transformation={name: int(level) for name, level in zip(enc.names, node, strict=True)},
        suppressed=check.suppressed,
        suppressed_rows=np.flatnonzero(~keep).astype(np.int64),
        information_loss=outcome.loss,
        relative_loss=outcome.loss / top_loss if top_loss > 0 else 0.0,
        metric=loss_metric.name,
        optimal=outcome.optimal,
        evaluated=outcome.evaluated,
        lattice_size=outcome.lattice_size,
        utility=attribute_utility(enc, node),
        risk=reidentification_risk(sizes, threshold=risk_threshold),
        models=[m.describe() for m in models],
        seconds=time.perf_counter() - started,
        classes=int(sizes.shape[0]),
    )
