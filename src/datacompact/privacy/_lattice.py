"""Search of the generalization lattice: optimal (Flash-style) and heuristic.

A node of the lattice is one generalization level per quasi-identifier.
Privacy models such as k-anonymity are monotonic: if a node is accepted, so is
every generalization of it, and if it is rejected, so is every specialization.
Flash (Kohlmayer et al., "Flash: efficient, stable and optimal k-anonymity",
2012; ARX's ``FLASHAlgorithm``) uses this to tag whole up- and down-sets of the
lattice from few checks, by binary search along paths from bottom to top.

Here the nodes are visited in ascending order of the metric's lower bound. A
rejected node starts a Flash path upwards (cheapest successor first) and a
binary search on it finds the highest rejected node, whose whole down-set is
tagged rejected. Accepted nodes found on the way tighten the best loss. The
visit stops as soon as the next bound reaches the best loss found; for
non-uniform entropy, whose bound is exact, the first accepted node in that
order is optimal.

When the models are not monotonic under suppression (entropy/recursive
l-diversity, t-closeness with a suppression limit), no tagging is done and
nodes are checked one by one in the same order, which stays exact.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from datacompact.errors import InvalidInput
from datacompact.privacy._engine import Evaluator, Groups
from datacompact.privacy.metrics import LossMetric
from datacompact.privacy.models import PrivacyModel, SensitiveContext

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

UNKNOWN, ACCEPTED, REJECTED = 0, 1, 2
#: Lattices larger than this are searched heuristically.
MAX_NODES = 1_000_000

Progress = Callable[[int, int], None]


@dataclass
class Check:
    """The verdict on one node."""

    node: tuple[int, ...]
    groups: Groups
    ok: BoolArray  # per class: satisfies every model
    suppressed: int
    accepted: bool


@dataclass
class Outcome:
    """What the search found."""

    check: Check
    loss: float
    optimal: bool
    evaluated: int
    lattice_size: int


class Checker:
    """Applies the privacy models and the suppression limit to a node."""

    def __init__(
        self,
        evaluator: Evaluator,
        models: Sequence[PrivacyModel],
        context: SensitiveContext | None,
        max_suppressed: int,
    ) -> None:
        self.evaluator = evaluator
        self.models = models
        self.context = context
        self.max_suppressed = max_suppressed
        self.monotonic = max_suppressed == 0 or all(m.monotonic_with_suppression for m in models)

    def __call__(self, node: tuple[int, ...]) -> Check:
        groups = self.evaluator.groups(node)
        ok = np.ones(groups.sizes.shape[0], dtype=np.bool_)
        for model in self.models:
            ok &= model.satisfied(groups.sizes, groups.hist, self.context)
        suppressed = int(groups.sizes[~ok].sum())
        return Check(node, groups, ok, suppressed, suppressed <= self.max_suppressed)


def _all_nodes(heights: Sequence[int]) -> IntArray:
    dims = tuple(h + 1 for h in heights)
    return np.stack(np.unravel_index(np.arange(math.prod(dims)), dims), axis=1).astype(np.int64)


def optimal_search(
    check: Checker,
    metric: LossMetric,
    heights: Sequence[int],
    *,
    time_limit: float | None = None,
    progress: Progress | None = None,
) -> Outcome:
    """Exact search over the whole lattice (optimal unless ``time_limit`` cuts it short)."""
    start = time.perf_counter()
    nodes = _all_nodes(heights)
    total = nodes.shape[0]
    bounds = metric.lower_bounds(nodes)
    order = np.lexsort((nodes.sum(axis=1), bounds))
    status = np.zeros(total, dtype=np.int8)
    pruned = np.zeros(total, dtype=np.bool_)
    top = tuple(heights)
    best = check(top)
    if not best.accepted:
        raise _infeasible(check, best)
    best_loss = metric.loss(best.groups, best.ok)
    decided = 0
    dims = [h + 1 for h in heights]
    strides = [math.prod(dims[j + 1 :]) for j in range(len(dims))]
    # Per QI and level, which nodes are at or above / at or below it: the up-set
    # of a node is the AND of one row per QI (cheaper than comparing all nodes).
    at_least = [[nodes[:, j] >= v for v in range(d)] for j, d in enumerate(dims)]
    at_most = [[nodes[:, j] <= v for v in range(d)] for j, d in enumerate(dims)]

    def upset(i: int) -> BoolArray:
        result: BoolArray = np.logical_and.reduce([at_least[j][v] for j, v in enumerate(nodes[i])])
        return result

    def downset(i: int) -> BoolArray:
        result: BoolArray = np.logical_and.reduce([at_most[j][v] for j, v in enumerate(nodes[i])])
        return result

    def visit(i: int) -> Check:
        nonlocal best, best_loss
        result = check(tuple(int(v) for v in nodes[i]))
        if result.accepted:
            status[i] = ACCEPTED
            if check.monotonic:
                status[upset(i)] = ACCEPTED
            loss = metric.loss(result.groups, result.ok)
            if loss < best_loss:
                best, best_loss = result, loss
        else:
            status[i] = REJECTED
            if check.monotonic:
                status[downset(i)] = REJECTED
        if metric.successor_bound(result.groups) >= best_loss:
            more = upset(i)
            more[i] = False
            pruned[more] = True
        return result

    def probe(i: int) -> None:
        """Flash path from a rejected node upwards, then binary search for the frontier."""
        path = [i]
        current = [int(v) for v in nodes[i]]
        while True:
            steps = []
            for j, h in enumerate(heights):
                if current[j] < h:
                    k = path[-1] + strides[j]
                    if status[k] != ACCEPTED:
                        steps.append((float(bounds[k]), k, j))
            if not steps:
                break
            _, k, j = min(steps)
            path.append(k)
            current[j] += 1
        lo, hi = 0, len(path)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            k = path[mid]
            if status[k] == UNKNOWN:
                visit(k)
            if status[k] == REJECTED:
                lo = mid
            else:
                hi = mid

    optimal = True
    for i in order:
        if bounds[i] >= best_loss:
            break
        if time_limit is not None and time.perf_counter() - start > time_limit:
            optimal = False
            break
        decided += 1
        if progress is not None and decided % 64 == 0:
            progress(decided, total)
        if status[i] == REJECTED or pruned[i]:
            continue
        if status[i] == ACCEPTED and metric.exact_bound:
            if bounds[i] < best_loss:
                best, best_loss = check(tuple(int(v) for v in nodes[i])), float(bounds[i])
            break
        result = visit(int(i))
        if result.accepted and metric.exact_bound:
            break
        if not result.accepted and check.monotonic:
            probe(int(i))
    if progress is not None:
        progress(total, total)
    return Outcome(best, best_loss, optimal, check.evaluator.evaluations, total)


def heuristic_search(
    check: Checker,
    metric: LossMetric,
    heights: Sequence[int],
    *,
    time_limit: float,
    seed: int = 0,
    progress: Progress | None = None,
) -> Outcome:
    """Greedy descent from the top with seeded restarts until ``time_limit`` seconds.

    Each descent moves to the cheapest accepted specialization until none is
    accepted (a local optimum); restarts pick among accepted specializations at
    random. The result is the best local optimum; it is not claimed optimal.
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    memo: dict[tuple[int, ...], tuple[Check, float]] = {}

    def judge(node: tuple[int, ...]) -> tuple[Check, float]:
        found = memo.get(node)
        if found is None:
            result = check(node)
            loss = metric.loss(result.groups, result.ok) if result.accepted else math.inf
            found = memo[node] = (result, loss)
        return found

    top = tuple(heights)
    best, best_loss = judge(top)
    if not best.accepted:
        raise _infeasible(check, best)
    descents = 0
    stale = 0
    while time.perf_counter() - start < time_limit and stale < 32:
        node = top
        randomized = descents > 0
        while time.perf_counter() - start < time_limit:
            preds = [(*node[:j], node[j] - 1, *node[j + 1 :]) for j in range(len(node)) if node[j]]
            accepted = [(judge(p)[1], p) for p in preds]
            accepted = [(loss, p) for loss, p in accepted if loss < math.inf]
            if not accepted:
                break
            accepted.sort()
            pick = int(rng.integers(len(accepted))) if randomized else 0
            node = accepted[pick][1]
        result, loss = judge(node)
        descents += 1
        if loss < best_loss:
            best, best_loss, stale = result, loss, 0
        else:
            stale += 1
        if progress is not None:
            progress(min(descents, 32), 32)
    return Outcome(
        best, best_loss, False, check.evaluator.evaluations, math.prod(h + 1 for h in heights)
    )


def _infeasible(check: Checker, top: Check) -> InvalidInput:
    return InvalidInput(
        "the privacy constraints cannot be met together: even full generalization leaves "
        f"{top.suppressed} records violating them, above the suppression limit of "
        f"{check.max_suppressed}",
        details={"suppressed": top.suppressed, "limit": check.max_suppressed},
    )
