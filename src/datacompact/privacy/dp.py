"""Differential privacy with OpenDP: noisy counts, sums, means and histograms per grant.

Every release goes through an OpenDP *privacy odometer*
(``make_fully_adaptive_composition``; Rogers et al. 2016, "Privacy Odometers
and Filters"), which holds the grant's data and records every query with its
privacy loss. There is one odometer per column (and per value type), made on
the column's first query: the column crosses into OpenDP once, and a query
costs the same whatever the size of the data (converting the data at every
query made it O(rows) in Python). The grant's loss is the sum over its
odometers, which is sequential composition over the same people. The budget works as OpenDP's privacy filter does: a query whose
loss (its measurement's own privacy map) would take the total past ε is
refused, which surfaces here as :class:`PolicyViolation`, and the data are
never touched. Noise is OpenDP's (Laplace; the discrete Laplace for integer
counts), never written by hand.

Why not ``make_privacy_filter`` itself: the filter re-derives the total loss
from every past query's privacy map at each new query. Here each map calls
back into Python (the column projection below), so a grant's n-th query cost
O(n) and a long session became quadratic (measured: 3 ms at the 25th query,
11 ms at the 100th). The running total below uses the same rule as the
filter (pure-DP basic composition: ε adds up) and :meth:`accounted_loss`
reads the odometer's own total to confirm it.
GB/T 37964-2019 §A.5 names differential privacy among the de-identification
techniques.

The privacy unit is a person who contributes at most ``max_contributions``
records (the contribution bound): neighbouring datasets differ in that many
records under the symmetric distance, which is the filter's ``d_in``.

Each :class:`Release` carries its noise scale and a (1 - α) confidence
interval from OpenDP's accuracy functions.

The sandbox's grouped releases (``dp_aggregates`` mode) use
:func:`calibrate_release` instead: every measurement of one query, including
the noisy threshold that decides which groups appear
(:class:`GroupSelection`), is calibrated from ε, the bounds and the
contribution bound alone, at analysis. So a value the data holds can no
longer make a release fail after its SQL ran.

>>> import numpy as np
>>> budget = PrivacyBudget({"age": np.array([30.0, 40.0, 50.0])}, epsilon=1.0)
>>> r = budget.count(epsilon=0.5)
>>> r.noise_scale, r.mechanism, budget.spent
(2.0, 'discrete_laplace', 0.5)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import opendp.prelude as dp
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

from datacompact.errors import InvalidInput, PolicyViolation, UnknownField

# OpenDP gates its constructors behind feature flags until their proofs are
# vetted. "contrib" enables the ones used here (count, sum, clamp, resize,
# mean, Laplace and odometers). No user-defined transformation is needed, so
# "honest-but-curious" stays off, and no "floating-point" flag is enabled
# either: OpenDP's float sums and Laplace noise are available without it.
dp.enable_features("contrib")

# numpy arrays, Arrow arrays (untyped to mypy) or sequences.
Values: TypeAlias = Any


@dataclass(frozen=True)
class Release:
    """One noisy value (or a vector for histograms) with its noise and interval."""

    value: float | list[float]
    noise_scale: float
    epsilon: float
    confidence: float
    interval: tuple[float, float] | list[tuple[float, float]]
    mechanism: str
    categories: list[str] | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "value": self.value,
            "noise_scale": self.noise_scale,
            "epsilon": self.epsilon,
            "confidence": self.confidence,
            "interval": self.interval,
            "mechanism": self.mechanism,
            "categories": self.categories,
        }


def _as_numpy(values: Values) -> npt.NDArray[Any]:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        return np.asarray(values.to_numpy(zero_copy_only=False))
    return np.asarray(values)


class PrivacyBudget:
    """A grant's differential-privacy budget over its data, recorded by an OpenDP odometer."""

    def __init__(
        self,
        data: Mapping[str, Values] | pa.Table,
        *,
        epsilon: float,
        max_contributions: int = 1,
    ) -> None:
        if not (epsilon > 0 and math.isfinite(epsilon)):
            raise InvalidInput("expected a positive, finite budget ε", details={"epsilon": epsilon})
        if max_contributions < 1:
            raise InvalidInput("expected a contribution bound of at least 1")
        if isinstance(data, pa.Table):
            columns = {name: _as_numpy(data.column(name)) for name in data.column_names}
        else:
            columns = {name: _as_numpy(v) for name, v in data.items()}
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:
            raise InvalidInput("expected columns of equal length")
        self.rows = lengths.pop() if lengths else 0
        self.epsilon = float(epsilon)
        self.d_in = int(max_contributions)
        self._columns = columns
        self._spent = 0.0
        # One odometer per (column, value type), holding that column inside OpenDP.
        self._odometers: dict[tuple[str, str], Any] = {}
        # Calibrated measurements, reused when the same query shape comes back.
        self._measurements: dict[tuple[Any, ...], _Calibrated] = {}

    @property
    def spent(self) -> float:
        """The privacy loss so far: the sum of the released queries' privacy maps."""
        return self._spent

    @property
    def remaining(self) -> float:
        """What is left of ε."""
        return max(self.epsilon - self._spent, 0.0)

    @staticmethod
    def _space(kind: str) -> tuple[Any, Any]:
        return _space(kind)

    def _column(self, column: str | None) -> str:
        if column is None:
            if not self._columns:
                raise InvalidInput("the grant's data has no column")
            return str(next(iter(self._columns)))
        if column not in self._columns:
            raise UnknownField(f"the column {column!r} is not in the grant's data")
        return column

    def _odometer(self, column: str, kind: str) -> Any:
        key = (column, kind)
        if key not in self._odometers:
            values = self._columns[column]
            data: list[Any] = (
                np.nan_to_num(values.astype(np.float64)).tolist()
                if kind == "float"
                else values.astype(str).tolist()
            )
            domain, metric = self._space(kind)
            make = dp.c.make_fully_adaptive_composition(domain, metric, dp.max_divergence())
            self._odometers[key] = make(data)
        return self._odometers[key]

    def _refuse(self, epsilon: float) -> PolicyViolation:
        return PolicyViolation(
            f"the query needs ε={epsilon:g} but only ε={self.remaining:g} of the grant's "
            f"budget ε={self.epsilon:g} is left",
            details={"epsilon": epsilon, "remaining": self.remaining, "budget": self.epsilon},
        )

    def _release(self, odometer: Any, calibrated: _Calibrated, epsilon: float) -> Any:
        # The filter rule: refuse before running when the measurement's own
        # privacy map (evaluated once, when it was calibrated) would take the
        # total past the budget.
        total = self._spent + calibrated.loss
        if total > self.epsilon:
            raise self._refuse(epsilon)
        try:
            answer = odometer(calibrated.measurement)
        except dp.OpenDPException as exc:
            raise InvalidInput("OpenDP could not run the query on the grant's data") from exc
        self._spent = total
        return answer

    def accounted_loss(self) -> float:
        """The total privacy loss as the OpenDP odometer itself accounts it.

        It re-runs every past query's privacy map (time linear in the number
        of queries); :attr:`spent` is the running total of the same maps.
        """
        return sum(float(o.privacy_loss(self.d_in)) for o in self._odometers.values())

    def _measure(
        self, key: tuple[Any, ...], build: Callable[[], Any], epsilon: float
    ) -> _Calibrated:
        """``build() >> Laplace`` with the scale for ``epsilon``, cached under ``key``.

        The sensitivity is what OpenDP's map says (for float sums it includes
        the rounding allowance), not a formula of ours. OpenDP rounds privacy
        maps up, so the scale is widened by a hair until the map fits.
        """
        self._check_epsilon(epsilon)
        cached = self._measurements.get((*key, epsilon))
        if cached is not None:
            return cached
        found = self._calibrate(build, epsilon)
        self._measurements[(*key, epsilon)] = found
        return found

    def _calibrate(self, build: Callable[[], Any], epsilon: float) -> _Calibrated:
        return _laplace_after(build, epsilon, self.d_in)

    def _check_epsilon(self, epsilon: float) -> None:
        if not (epsilon > 0 and math.isfinite(epsilon)):
            raise InvalidInput(
                "expected a positive, finite ε per query", details={"epsilon": epsilon}
            )

    def count(self, column: str | None = None, *, epsilon: float, alpha: float = 0.05) -> Release:
        """A noisy record count (discrete Laplace; sensitivity = contribution bound)."""
        name = self._column(column)
        # Count over the column as it is: numbers cross the FFI cheaper than strings.
        kind = "float" if np.issubdtype(self._columns[name].dtype, np.number) else "str"
        space = self._space(kind)
        calibrated = self._measure(("count", kind), lambda: space >> dp.t.then_count(), epsilon)
        value = float(self._release(self._odometer(name, kind), calibrated, epsilon))
        return self._interval(value, calibrated.scale, epsilon, alpha, discrete=True)

    def sum(
        self, column: str, *, bounds: tuple[float, float], epsilon: float, alpha: float = 0.05
    ) -> Release:
        """A noisy sum of values clamped to ``bounds`` (Laplace)."""
        lo, hi = _bounds(bounds)
        name = self._column(column)
        space = self._space("float")
        calibrated = self._measure(
            ("sum", lo, hi),
            lambda: space >> dp.t.then_clamp((lo, hi)) >> dp.t.then_sum(),  # type: ignore[no-untyped-call, unused-ignore]
            epsilon,
        )
        value = float(self._release(self._odometer(name, "float"), calibrated, epsilon))
        return self._interval(value, calibrated.scale, epsilon, alpha, discrete=False)

    def mean(
        self,
        column: str,
        *,
        bounds: tuple[float, float],
        epsilon: float,
        size: int | None = None,
        alpha: float = 0.05,
    ) -> Release:
        """A noisy mean of values clamped to ``bounds``.

        OpenDP's mean needs a known size: with ``size=None`` half of ``epsilon``
        buys a noisy count first, and the data are resized to it (records
        dropped or imputed with the midpoint). The interval covers the noise
        only, not the bias that resizing may add.
        """
        lo, hi = _bounds(bounds)
        self._check_epsilon(epsilon)
        total = epsilon
        if size is None:
            epsilon = epsilon / 2
            counted = self.count(column, epsilon=epsilon).value
            size = max(round(counted if isinstance(counted, float) else 0.0), 1)
        if size < 1:
            raise InvalidInput("expected a positive size")
        name = self._column(column)
        space = self._space("float")
        n = int(size)
        calibrated = self._measure(
            ("mean", lo, hi, n),
            lambda: (
                space
                >> dp.t.then_clamp((lo, hi))
                >> dp.t.then_resize(size=n, constant=(lo + hi) / 2)
                >> dp.t.then_mean()  # type: ignore[no-untyped-call, unused-ignore]
            ),
            epsilon,
        )
        value = float(self._release(self._odometer(name, "float"), calibrated, epsilon))
        return self._interval(value, calibrated.scale, total, alpha, discrete=False)

    def histogram(
        self, column: str, *, categories: Sequence[str], epsilon: float, alpha: float = 0.05
    ) -> Release:
        """Noisy counts per category, plus a last count of values outside ``categories``."""
        cats = [str(c) for c in categories]
        if not cats or len(set(cats)) != len(cats):
            raise InvalidInput("expected distinct, non-empty categories")
        name = self._column(column)
        space = self._space("str")
        calibrated = self._measure(
            ("histogram", tuple(cats)),
            lambda: space >> dp.t.then_count_by_categories(categories=cats, null_category=True),
            epsilon,
        )
        values = [float(v) for v in self._release(self._odometer(name, "str"), calibrated, epsilon)]
        half = _half_width(calibrated.scale, alpha, True)
        return Release(
            value=values,
            noise_scale=calibrated.scale,
            epsilon=epsilon,
            confidence=1 - alpha,
            interval=[(v - half, v + half) for v in values],
            mechanism="discrete_laplace",
            categories=[*cats, "(other)"],
        )

    def _interval(
        self, value: float, scale: float, epsilon: float, alpha: float, *, discrete: bool
    ) -> Release:
        if not 0 < alpha < 1:
            raise InvalidInput("expected α between 0 and 1", details={"alpha": alpha})
        half = _half_width(scale, alpha, discrete)
        return Release(
            value=value,
            noise_scale=scale,
            epsilon=epsilon,
            confidence=1 - alpha,
            interval=(value - half, value + half),
            mechanism="discrete_laplace" if discrete else "laplace",
        )


@dataclass(frozen=True)
class _Calibrated:
    """A measurement with its noise scale and its privacy loss at the grant's ``d_in``."""

    measurement: Any
    scale: float
    loss: float


# Each OpenDP call crosses the FFI (tens of microseconds); what does not depend
# on the data is computed once per process.
@lru_cache(maxsize=4)
def _space(kind: str) -> tuple[Any, Any]:
    atom = dp.atom_domain(T=float, nan=False) if kind == "float" else dp.atom_domain(T=str)
    return dp.vector_domain(atom), dp.symmetric_distance()


@lru_cache(maxsize=1024)
def _half_width(scale: float, alpha: float, discrete: bool) -> float:
    if discrete:
        return float(dp.discrete_laplacian_scale_to_accuracy(scale, alpha))
    return float(dp.laplacian_scale_to_accuracy(scale, alpha))


def _bounds(bounds: tuple[float, float]) -> tuple[float, float]:
    lo, hi = float(bounds[0]), float(bounds[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise InvalidInput("expected finite clamping bounds with lower < upper")
    return lo, hi


#: The smallest ε of one noisy value. Below it the noise is more than 2**52
#: times the sensitivity: one person's whole contribution is smaller than the
#: rounding step of the noisy value, which then tells nothing, yet ε = 1e-300
#: would still "calibrate" (OpenDP accepts a scale of 1e300).
MIN_EPSILON = 2.0**-52


def _fit(
    make: Callable[[float], Any], loss: Callable[[Any], float], sensitivity: float, epsilon: float
) -> _Calibrated:
    """``make(scale)`` at the smallest scale from sensitivity / ε whose ``loss`` fits ``epsilon``.

    OpenDP rounds privacy maps up, so the scale is widened by a hair until the
    map fits. A scale that is not a positive finite float (ε so small that
    sensitivity / ε overflows) cannot be calibrated, and neither can an ε
    below :data:`MIN_EPSILON`.
    """
    if not epsilon >= MIN_EPSILON:
        raise InvalidInput("ε is below the numerical floor of a noisy release")
    scale = sensitivity / epsilon
    try:
        for _ in range(16):
            if not (scale > 0 and math.isfinite(scale)):
                break
            measurement = make(scale)
            spent = loss(measurement)
            if spent <= epsilon:
                return _Calibrated(measurement, scale, spent)
            scale = math.nextafter(scale, math.inf) * (1 + 1e-12)
    except dp.OpenDPException as exc:
        raise InvalidInput("the query parameters are not valid for OpenDP") from exc
    raise InvalidInput("cannot calibrate the noise to the requested ε")


def _laplace_after(build: Callable[[], Any], epsilon: float, d_in: int) -> _Calibrated:
    """``build() >> Laplace`` with the scale for ``epsilon`` at ``d_in``.

    The sensitivity is what OpenDP's map says (for float sums it includes the
    rounding allowance), not a formula of ours.
    """
    try:
        pre = build()
        sensitivity = float(pre.map(d_in))
    except dp.OpenDPException as exc:
        raise InvalidInput("the query parameters are not valid for OpenDP") from exc
    return _fit(
        lambda scale: pre >> dp.m.then_laplace(scale=scale),
        lambda measurement: float(measurement.map(d_in)),
        sensitivity,
        epsilon,
    )


# --- Grouped DP releases (the sandbox's dp_aggregates mode) -------------------

#: δ of a DP release with group keys: at most this probability that the
#: release shows a group which exists only because of one person. A constant
#: of the platform, per query; it is well below 1/n for any resource we hold.
RELEASE_DELTA = 1e-6
#: Share of a grouped release's ε spent on deciding which groups appear; the
#: rest is split evenly between the aggregates (an AVG halves its part again).
SELECTION_SHARE = 0.5
#: The largest noisy-count threshold and the largest noise scale of a count.
#: OpenDP's counts and their discrete Laplace noise are 64-bit integers; well
#: inside that range, 2**52 already exceeds any count a resource can hold.
COUNT_LIMIT = 2**52
#: The most values one noisy sum adds up. OpenDP's sum of floats without a
#: known size keeps a random subset of this many values (its default, 2**20,
#: would quietly drop rows of a large group). OpenDP's pairwise summation keeps
#: the rounding allowance in the sensitivity negligible even at 2**30.
SUM_LIMIT = 2**30

Aggregates: TypeAlias = tuple[tuple[str, tuple[float, float] | None], ...]


@dataclass(frozen=True)
class GroupSelection:
    """Which groups of a release appear: OpenDP's noisy threshold on entity counts.

    ``make_laplace_threshold`` (OpenDP; Rogers 2023, "A Unifying Privacy
    Analysis Framework for Unknown Domain Algorithms in Differential Privacy",
    arXiv:2309.09170) adds discrete Laplace noise to each group's count of
    distinct entities and keeps the group only if the noisy count reaches
    :attr:`threshold`. This is the partition selection of Wilson et al. 2020,
    "Differentially Private SQL with Bounded User Contribution": whether a
    group appears is itself (ε, δ)-DP, so no exact count decides it.

    The privacy unit is an entity with at most ``max_contributions`` rows: it
    is in at most that many groups and changes each count by one, which is
    OpenDP's ``l01inf_distance`` at ``(m, m, 1)``.

    The noisy counts themselves are dropped; only the set of kept groups is used.
    """

    measurement: Any
    scale: float
    threshold: int
    epsilon: float
    delta: float

    def kept(self, counts: Sequence[int]) -> list[int]:
        """The positions in ``counts`` whose noisy count reaches the threshold, in order.

        Groups are keyed by position: the mechanism treats each key alike,
        so relabelling the groups does not change what it releases.
        """
        released = self.measurement({i: int(c) for i, c in enumerate(counts)})
        return sorted(int(i) for i in released)


@dataclass(frozen=True)
class AggregateNoise:
    """The calibrated OpenDP measurements of one released aggregate.

    ``count`` adds discrete Laplace noise to an integer count (its sensitivity
    is OpenDP's ``then_count`` map at the contribution bound); ``total`` clamps
    values to ``bounds``, sums at most :data:`SUM_LIMIT` of them (a random
    subset beyond that) and adds Laplace noise. An AVG is the noisy sum over
    the noisy count of the values summed (at least 1), clamped to ``bounds``:
    both releases are calibrated without data, unlike OpenDP's mean, which
    needs the data's size.
    """

    kind: str
    bounds: tuple[float, float] | None
    count: _Calibrated | None
    total: _Calibrated | None

    @property
    def epsilon(self) -> float:
        """The aggregate's privacy loss, by OpenDP's privacy maps."""
        return sum(c.loss for c in (self.count, self.total) if c is not None)

    def release(self, *, count: int, values: Values = ()) -> float:
        """The noisy aggregate: of ``count`` for COUNT, of ``values`` for SUM and AVG.

        For AVG, ``count`` is the number of ``values``. They must hold no NaN
        (OpenDP's domain excludes it); ±∞ are clamped to the bounds like any
        value outside them.
        """
        noisy_sum = 0.0
        if self.total is not None:
            data = _as_numpy(values).astype(np.float64).tolist()
            noisy_sum = float(self.total.measurement(data))
        if self.count is None:
            return noisy_sum
        if self.total is not None:
            count = min(count, SUM_LIMIT)  # the values the noisy sum could hold
        noisy_count = float(self.count.measurement(int(count)))
        if self.kind == "count" or self.bounds is None:
            return noisy_count
        lo, hi = self.bounds
        return min(max(noisy_sum / max(noisy_count, 1.0), lo), hi)


@dataclass(frozen=True)
class CalibratedRelease:
    """Everything a DP release draws noise from, built before any data is read."""

    epsilon: float
    delta: float
    selection: GroupSelection | None
    aggregates: tuple[AggregateNoise, ...]


def calibrate_release(
    epsilon: float,
    *,
    aggregates: Sequence[tuple[str, tuple[float, float] | None]],
    max_contributions: int,
    min_entities: int,
    grouped: bool,
) -> CalibratedRelease:
    """The OpenDP measurements of a DP release for ``epsilon``, or a refusal.

    ``aggregates`` are ``(kind, bounds)`` pairs, kind one of ``count``,
    ``sum`` and ``avg`` (bounds required for the last two). With ``grouped``,
    :data:`SELECTION_SHARE` of ``epsilon`` buys the :class:`GroupSelection`,
    whose threshold is the smallest integer ≥ ``min_entities`` at which its δ
    is at most :data:`RELEASE_DELTA`; without group keys the single group
    always appears and δ is 0. The rest of ``epsilon`` is split evenly
    between the aggregates.

    Nothing here reads data, so a release can only fail where this function
    does, at analysis: a non-positive, non-finite or subnormal ε, bounds or an
    ε whose noise scale overflows, or a threshold no count could reach all
    raise :class:`PolicyViolation` with rule ``dp_calibration``.

    >>> r = calibrate_release(1.0, aggregates=[("count", None)], max_contributions=1,
    ...                       min_entities=10, grouped=True)
    >>> r.selection.threshold, r.selection.scale, r.aggregates[0].count.scale
    (28, 2.0, 2.0)
    >>> r.delta <= RELEASE_DELTA
    True
    >>> calibrate_release(5e-324, aggregates=[("count", None)], max_contributions=1,
    ...                   min_entities=10, grouped=False)
    Traceback (most recent call last):
    ...
    datacompact.errors.PolicyViolation: 无法为该 ε 校准 DP 噪声 / OpenDP cannot calibrate the noise of this release for the requested ε and bounds
    """
    specs: Aggregates = tuple(
        (str(kind), None if b is None else (float(b[0]), float(b[1]))) for kind, b in aggregates
    )
    try:
        if not (epsilon > 0 and math.isfinite(epsilon)):
            raise InvalidInput("expected a positive, finite ε")
        return _calibrated_release(
            float(epsilon), specs, int(max_contributions), int(min_entities), bool(grouped)
        )
    except InvalidInput as exc:
        raise PolicyViolation(
            "无法为该 ε 校准 DP 噪声 / OpenDP cannot calibrate the noise of this release "
            "for the requested ε and bounds",
            details={"rule": "dp_calibration"},
        ) from exc


@lru_cache(maxsize=256)
def _calibrated_release(
    epsilon: float, specs: Aggregates, d_in: int, min_entities: int, grouped: bool
) -> CalibratedRelease:
    if not specs:
        raise InvalidInput("expected at least one aggregate")
    if d_in < 1:
        raise InvalidInput("expected a contribution bound of at least 1")
    selection = None
    rest = epsilon
    if grouped:
        selection = group_selection(
            epsilon * SELECTION_SHARE, max_contributions=d_in, min_entities=min_entities
        )
        rest = epsilon - selection.epsilon
    share = rest / len(specs)
    noises = tuple(_aggregate_noise(kind, bounds, share, d_in) for kind, bounds in specs)
    return CalibratedRelease(
        epsilon=epsilon,
        delta=0.0 if selection is None else selection.delta,
        selection=selection,
        aggregates=noises,
    )


def _aggregate_noise(
    kind: str, bounds: tuple[float, float] | None, epsilon: float, d_in: int
) -> AggregateNoise:
    if kind == "count":
        return AggregateNoise(kind, None, _count_noise(epsilon, d_in), None)
    if kind not in {"sum", "avg"} or bounds is None:
        raise InvalidInput("expected count, or sum and avg with bounds")
    lo, hi = _bounds(bounds)
    part = epsilon if kind == "sum" else epsilon / 2
    space = _space("float")
    total = _laplace_after(
        lambda: (
            space
            >> dp.t.then_clamp((lo, hi))
            >> dp.t.make_bounded_float_checked_sum(SUM_LIMIT, (lo, hi), S="Pairwise<f64>")
        ),
        part,
        d_in,
    )
    count = None if kind == "sum" else _count_noise(epsilon - total.loss, d_in)
    return AggregateNoise(kind, (lo, hi), count, total)


def _count_noise(epsilon: float, d_in: int) -> _Calibrated:
    """Discrete Laplace on an integer count, at the sensitivity OpenDP's count map gives."""
    try:
        sensitivity = int((_space("float") >> dp.t.then_count()).map(d_in))
        space = dp.atom_domain(T="i64"), dp.absolute_distance(T="i64")
    except dp.OpenDPException as exc:
        raise InvalidInput("the count parameters are not valid for OpenDP") from exc
    found = _fit(
        lambda scale: space >> dp.m.then_laplace(scale=scale),
        lambda measurement: float(measurement.map(sensitivity)),
        sensitivity,
        epsilon,
    )
    if found.scale > COUNT_LIMIT:
        raise InvalidInput("the count's noise scale is beyond OpenDP's integer range")
    return found


@lru_cache(maxsize=256)
def group_selection(
    epsilon: float, *, max_contributions: int, min_entities: int, delta: float = RELEASE_DELTA
) -> GroupSelection:
    """The noisy threshold that decides which groups appear, for ``epsilon`` and ``delta``.

    The scale is calibrated so that OpenDP's privacy map gives at most
    ``epsilon``; the threshold is the smallest integer ≥ ``min_entities`` (and
    ≥ 2) whose δ is at most ``delta``.

    δ is OpenDP's map *at threshold - 1*: OpenDP 0.16 keeps counts equal to
    the threshold but leaves that point out of its tail bound, so its own map
    understates δ by one step of the noise (opendp/opendp#2922). A group that
    holds one person only appears when its noise is ≥ threshold - 1, which is
    exactly the tail that the map at threshold - 1 bounds.

    >>> s = group_selection(0.5, max_contributions=1, min_entities=10)
    >>> s.threshold, s.scale, s.epsilon, s.delta < 1e-6
    (28, 2.0, 0.5, True)
    """
    if not (epsilon > 0 and math.isfinite(epsilon)) or not 0 < delta < 1:
        raise InvalidInput("expected a positive, finite ε and 0 < δ < 1")
    if max_contributions < 1:
        raise InvalidInput("expected a contribution bound of at least 1")
    d_in = (max_contributions, max_contributions, 1)
    try:
        domain = dp.map_domain(dp.atom_domain(T="i64"), dp.atom_domain(T="i64"))
        metric = dp.l01inf_distance(dp.absolute_distance(T="i64"))
    except dp.OpenDPException as exc:
        raise InvalidInput("the selection parameters are not valid for OpenDP") from exc

    def make(scale: float, threshold: int) -> Any:
        return dp.m.make_laplace_threshold(domain, metric, scale=scale, threshold=threshold)

    floor = max(int(min_entities), 2)
    fitted = _fit(
        lambda scale: make(scale, floor),
        lambda measurement: float(measurement.map(d_in)[0]),
        max_contributions,
        epsilon,
    )
    scale = fitted.scale

    def delta_at(threshold: int) -> float:
        try:
            return float(make(scale, threshold - 1).map(d_in)[1])
        except dp.OpenDPException as exc:
            raise InvalidInput("the selection threshold is not valid for OpenDP") from exc

    # δ falls as the threshold rises: double the step until δ fits, then bisect.
    low, high = floor - 1, floor
    while delta_at(high) > delta:
        low, high = high, floor + 2 * (high - floor + 1)
        if high > COUNT_LIMIT:
            raise InvalidInput("no count could reach the selection threshold for this ε")
    while high - low > 1:
        middle = (low + high) // 2
        if delta_at(middle) > delta:
            low = middle
        else:
            high = middle
    try:
        measurement = make(scale, high)
        spent = float(measurement.map(d_in)[0])
    except dp.OpenDPException as exc:
        raise InvalidInput("the selection threshold is not valid for OpenDP") from exc
    return GroupSelection(
        measurement=measurement,
        scale=scale,
        threshold=high,
        epsilon=spent,
        delta=delta_at(high),
    )
