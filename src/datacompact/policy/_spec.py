"""Output modes and output specs with their strictness order (see :mod:`.modes`).

The order on modes is the reflexive-transitive closure of the cover relation
in :data:`_COVERS`; the tests check that it is a partial order (reflexive,
antisymmetric, transitive) by enumeration.

>>> mode_at_least_as_strict(OutputMode.DP_AGGREGATES, OutputMode.MASKED_RECORDS)
True
>>> mode_at_least_as_strict(OutputMode.K_ANONYMOUS, OutputMode.AGGREGATES)
False
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from types import MappingProxyType

from datacompact.errors import InvalidInput, MalformedInput

# Upper bounds keep a grant's parameters sane; a group or class this large
# would suppress every output of a city-sized resource.
MAX_GROUP_SIZE = 1_000_000


class OutputMode(StrEnum):
    """What may leave the sandbox under a grant."""

    RECORDS = "records"
    MASKED_RECORDS = "masked_records"
    K_ANONYMOUS = "k_anonymous"
    AGGREGATES = "aggregates"
    DP_AGGREGATES = "dp_aggregates"

    @property
    def label(self) -> str:
        """The bilingual label, "中文 / English"."""
        return _LABELS[self]

    @property
    def depth(self) -> int:
        """The length of the longest chain below this mode (``records`` is 0)."""
        return max((m.depth + 1 for m in _COVERS[self]), default=0)


_LABELS = MappingProxyType(
    {
        OutputMode.RECORDS: "明细记录 / records",
        OutputMode.MASKED_RECORDS: "脱敏记录 / masked records",
        OutputMode.K_ANONYMOUS: "k-匿名数据 / k-anonymous extract",
        OutputMode.AGGREGATES: "聚合结果 / aggregates",
        OutputMode.DP_AGGREGATES: "差分隐私聚合 / differentially private aggregates",
    }
)

# mode -> the modes it directly covers (is immediately stricter than).
_COVERS: MappingProxyType[OutputMode, frozenset[OutputMode]] = MappingProxyType(
    {
        OutputMode.RECORDS: frozenset(),
        OutputMode.MASKED_RECORDS: frozenset({OutputMode.RECORDS}),
        OutputMode.K_ANONYMOUS: frozenset({OutputMode.MASKED_RECORDS}),
        OutputMode.AGGREGATES: frozenset({OutputMode.MASKED_RECORDS}),
        OutputMode.DP_AGGREGATES: frozenset({OutputMode.AGGREGATES}),
    }
)


def _below(mode: OutputMode) -> frozenset[OutputMode]:
    out = {mode}
    for lower in _COVERS[mode]:
        out |= _below(lower)
    return frozenset(out)


_AT_MOST: MappingProxyType[OutputMode, frozenset[OutputMode]] = MappingProxyType(
    {m: _below(m) for m in OutputMode}
)

AGGREGATE_MODES = frozenset({OutputMode.AGGREGATES, OutputMode.DP_AGGREGATES})


def parse_mode(value: object) -> OutputMode:
    """The :class:`OutputMode` named by ``value``."""
    if isinstance(value, OutputMode):
        return value
    if not isinstance(value, str):
        raise MalformedInput(
            f"输出方式格式错误 / malformed output mode: expected text, got {type(value).__name__}"
        )
    try:
        return OutputMode(value.strip().lower())
    except ValueError:
        raise InvalidInput(
            "未知输出方式 / unknown output mode: expected one of "
            f"{', '.join(m.value for m in OutputMode)}, got another value",
            details={"field": "mode"},
        ) from None


def mode_at_least_as_strict(a: OutputMode | str, b: OutputMode | str) -> bool:
    """True if mode ``a`` reveals no more than mode ``b`` (``a`` ⪰ ``b``)."""
    return parse_mode(b) in _AT_MOST[parse_mode(a)]


def _positive(name: str, value: object, minimum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedInput(
            f"参数格式错误 / malformed {name}: expected an integer, got {type(value).__name__}"
        )
    if not minimum <= value <= MAX_GROUP_SIZE:
        raise InvalidInput(
            f"参数超出范围 / {name} out of range: expected {minimum} to {MAX_GROUP_SIZE}, "
            f"got {value}",
            details={"field": name},
        )
    return value


@dataclass(frozen=True)
class OutputSpec:
    """A requested (or granted) output mode with its parameters.

    ``min_group_size`` belongs to the aggregate modes and ``k`` to
    ``k_anonymous``; setting one on another mode is refused. ``None`` means
    "the grade's default".
    """

    mode: OutputMode
    min_group_size: int | None = None
    k: int | None = None

    def __post_init__(self) -> None:
        mode = parse_mode(self.mode)
        object.__setattr__(self, "mode", mode)
        group = _positive("min_group_size", self.min_group_size, 1)
        k = _positive("k", self.k, 2)
        if group is not None and mode not in AGGREGATE_MODES:
            raise InvalidInput(
                f"参数不适用 / min_group_size applies to aggregate modes: expected none for "
                f"{mode.value}, got a value",
                details={"field": "min_group_size"},
            )
        if k is not None and mode is not OutputMode.K_ANONYMOUS:
            raise InvalidInput(
                f"参数不适用 / k applies to k_anonymous: expected none for {mode.value}, got a value",
                details={"field": "k"},
            )

    def filled_from(self, floor: OutputSpec) -> OutputSpec:
        """This spec with its unset parameters taken from ``floor`` where they apply."""
        group, k = self.min_group_size, self.k
        if group is None and self.mode in AGGREGATE_MODES:
            group = floor.min_group_size
        if k is None and self.mode is OutputMode.K_ANONYMOUS:
            k = floor.k
        return replace(self, min_group_size=group, k=k)

    def describe(self) -> str:
        """E.g. ``dp_aggregates (min_group_size ≥ 10)``."""
        if self.min_group_size is not None:
            return f"{self.mode.value} (min_group_size ≥ {self.min_group_size})"
        if self.k is not None:
            return f"{self.mode.value} (k ≥ {self.k})"
        return self.mode.value


def at_least_as_strict(a: OutputSpec, b: OutputSpec) -> bool:
    """True if spec ``a`` reveals no more than spec ``b``.

    The modes must be ordered, and every parameter ``b`` sets that also
    applies to ``a`` must be at least as strict in ``a``. An unset parameter
    counts as the weakest value (a group of 1, a ``k`` of 1), so a spec
    without parameters is never stricter than one with them.
    """
    if not mode_at_least_as_strict(a.mode, b.mode):
        return False
    if (
        b.mode in AGGREGATE_MODES
        and a.mode in AGGREGATE_MODES
        and (a.min_group_size or 1) < (b.min_group_size or 1)
    ):
        return False
    return not (
        b.mode is OutputMode.K_ANONYMOUS
        and a.mode is OutputMode.K_ANONYMOUS
        and (a.k or 1) < (b.k or 1)
    )
