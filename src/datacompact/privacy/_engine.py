"""Column-wise evaluation of full-domain generalizations.

Each quasi-identifier is dictionary-encoded once into integer codes; each
hierarchy level becomes a lookup array from code to a dense level code. A
transformation (one level per QI) is evaluated by mapping the codes through
the lookups, combining them into one integer key per row (mixed radix), and
counting with ``np.unique``/``np.bincount``: no Python loop over records.

Like ARX's snapshots, a transformation is rolled up from the cached table of
a more specific transformation (the classes of a generalization are unions of
classes of a specialization), so the deeper the search goes, the smaller the
tables it groups.
"""

from __future__ import annotations

import math
import operator
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from datacompact.errors import InvalidInput, UnknownField
from datacompact.privacy.hierarchy import Hierarchy

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

_CACHE_ENTRIES = 32


@dataclass
class Encoded:
    """The quasi-identifiers (and sensitive attribute) of a table as integer codes."""

    names: list[str]
    n: int
    codes: IntArray  # (n, q): bottom code of each record per QI
    gen: list[list[IntArray]]  # gen[j][level][bottom code] -> level code
    labels: list[list[list[str]]]  # labels[j][level][level code] -> label
    value_counts: list[IntArray]  # records per bottom code, per QI
    sensitive: IntArray | None = None  # (n,): sensitive code per record
    sensitive_labels: list[str] = field(default_factory=list)
    sensitive_ground: IntArray | None = None  # (levels, s) for hierarchical EMD

    @property
    def heights(self) -> list[int]:
        return [len(g) - 1 for g in self.gen]

    def card(self, j: int, level: int) -> int:
        return len(self.labels[j][level])


def _dictionary(table: pa.Table, name: str) -> tuple[IntArray, list[str]]:
    if name not in table.column_names:
        raise UnknownField(f"the column {name!r} is not in the input", details={"column": name})
    column = table.column(name)
    if column.null_count:
        row = int(pc.index(pc.is_null(column), True).as_py()) + 1
        raise InvalidInput(
            f"column {name!r} has an empty value in row {row}",
            details={"column": name, "row": row},
        )
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    encoded = pc.dictionary_encode(column).combine_chunks()
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return indices, [str(v) for v in encoded.dictionary.to_pylist()]


def _first_row(indices: IntArray, code: int) -> int:
    return int(np.flatnonzero(indices == code)[0]) + 1


def _not_covered(
    name: str,
    hierarchy: Hierarchy,
    indices: IntArray,
    code: int,
    value: str,
    *,
    reveal_at: int | None,
) -> InvalidInput:
    """The error for a value the hierarchy lacks: file, column, row, and the value if safe.

    The value itself is data. It is shown only when at least ``reveal_at``
    records hold it (the k asked for): a value that rare is what k-anonymity
    hides, so the message gives its row and how many records hold it instead.
    A sensitive attribute's value (``reveal_at=None``) is never shown.
    """
    line = _first_row(indices, code)
    held = int(np.count_nonzero(indices == code))
    where = f"{hierarchy.source} " if hierarchy.source else ""
    if reveal_at is not None and held >= reveal_at:
        shown = f"{value!r} (held by {held} records)"
        shown_zh = f"值 {value!r}（{held} 条记录）"
    else:
        shown = f"held by {held} record(s), not shown"
        shown_zh = f"{held} 条记录持有该值，不显示"
    return InvalidInput(
        f"层级文件 {where}未覆盖列 {name!r} 第 {line} 行的值（{shown_zh}）/ the hierarchy "
        f"{where}of column {name!r} does not cover the value in data row {line} ({shown}); "
        "add a row for it to the hierarchy file",
        details={"column": name, "row": line, "file": hierarchy.source, "records": held},
    )


def encode(
    table: pa.Table,
    hierarchies: Mapping[str, Hierarchy],
    *,
    sensitive: str | None = None,
    sensitive_hierarchy: Hierarchy | None = None,
    reveal_at: int = 2,
) -> Encoded:
    """Encode the QI columns (keys of ``hierarchies``, in order) and the sensitive column.

    ``reveal_at``: an uncovered value is named in the error only when at least
    this many records hold it (:func:`_not_covered`).
    """
    names = list(hierarchies)
    if not names:
        raise InvalidInput("expected at least one quasi-identifier")
    n = table.num_rows
    # Column-major: the search reads one QI at a time.
    codes = np.empty((n, len(names)), dtype=np.int64, order="F")
    gen: list[list[IntArray]] = []
    labels: list[list[list[str]]] = []
    counts: list[IntArray] = []
    for j, name in enumerate(names):
        indices, values = _dictionary(table, name)
        hierarchy = hierarchies[name]
        rows = []
        for code, value in enumerate(values):
            row = hierarchy.row_of(value)
            if row is None:
                raise _not_covered(
                    name, hierarchy, indices, code, value, reveal_at=max(reveal_at, 2)
                )
            rows.append(row)
        levels: list[IntArray] = []
        level_labels: list[list[str]] = []
        for level in range(hierarchy.depth):
            uniq, inverse = np.unique(
                np.array([r[level] for r in rows], dtype=object).astype(str), return_inverse=True
            )
            levels.append(inverse.astype(np.int64).reshape(-1))
            level_labels.append([str(u) for u in uniq])
        codes[:, j] = levels[0][indices]
        gen.append([_relabel(levels[0], lv) for lv in levels])
        labels.append(level_labels)
        counts.append(np.bincount(codes[:, j], minlength=len(level_labels[0])).astype(np.int64))
    enc = Encoded(names=names, n=n, codes=codes, gen=gen, labels=labels, value_counts=counts)
    if sensitive is not None:
        if sensitive in hierarchies:
            raise InvalidInput(
                f"column {sensitive!r} cannot be both a quasi-identifier and sensitive",
                details={"column": sensitive},
            )
        indices, values = _dictionary(table, sensitive)
        enc.sensitive, enc.sensitive_labels = indices, values
        if sensitive_hierarchy is not None:
            enc.sensitive_ground = _ground(sensitive, indices, values, sensitive_hierarchy)
    return enc


def _relabel(bottom: IntArray, level: IntArray) -> IntArray:
    """Index a level's codes by bottom code (rows were enumerated in dictionary order)."""
    out = np.empty(len(bottom), dtype=np.int64)
    out[bottom] = level
    return out


def _ground(name: str, indices: IntArray, values: Sequence[str], h: Hierarchy) -> IntArray:
    ground = np.empty((h.depth, len(values)), dtype=np.int64)
    for level in range(h.depth):
        labels = []
        for code, value in enumerate(values):
            row = h.row_of(value)
            if row is None:
                raise _not_covered(name, h, indices, code, value, reveal_at=None)
            labels.append(row[level])
        _, inverse = np.unique(np.array(labels, dtype=object).astype(str), return_inverse=True)
        ground[level] = inverse.reshape(-1)
    ground[0] = np.arange(len(values))
    return ground


@dataclass
class Groups:
    """The equivalence classes of one transformation."""

    node: tuple[int, ...]
    codes: IntArray  # (m, q) level codes of each class
    sizes: IntArray  # (m,)
    hist: IntArray | None  # (m, s) sensitive counts


class Evaluator:
    """Groups a table by any transformation, rolling up from cached specializations."""

    def __init__(self, enc: Encoded) -> None:
        self.enc = enc
        self.evaluations = 0
        self._cache: OrderedDict[tuple[int, ...], Groups] = OrderedDict()
        self._maps: dict[tuple[int, int, int], IntArray] = {}
        bottom = self._bottom()
        self._cache[bottom.node] = bottom

    def _bottom(self) -> Groups:
        enc = self.enc
        node = tuple([0] * len(enc.names))
        weights = np.ones(enc.n, dtype=np.int64)
        if enc.sensitive is None:
            return self._collapse(node, enc.codes, weights, None)
        key, _ = self._keys(enc.codes, node)
        order = np.argsort(key)
        ranked = key[order]
        boundary = np.r_[True, ranked[1:] != ranked[:-1]]
        starts = np.flatnonzero(boundary)
        inverse = np.empty(enc.n, dtype=np.int64)
        inverse[order] = np.cumsum(boundary) - 1
        m, s = starts.shape[0], len(enc.sensitive_labels)
        hist = np.bincount(inverse * s + enc.sensitive, minlength=m * s).reshape(m, s)
        sizes = np.bincount(inverse, minlength=m).astype(np.int64)
        codes = np.asfortranarray(enc.codes[order[starts]])
        return Groups(node, codes, sizes, hist.astype(np.int64))

    def _keys(self, codes: IntArray, node: Sequence[int]) -> tuple[IntArray, list[int]]:
        cards = [self.enc.card(j, level) for j, level in enumerate(node)]
        key = np.zeros(codes.shape[0], dtype=np.int64)
        for j, card in enumerate(cards):
            key *= card
            key += codes[:, j]
        return key, cards

    def _collapse(
        self,
        node: tuple[int, ...],
        codes: IntArray,
        weights: IntArray,
        hist: IntArray | None,
    ) -> Groups:
        """Merge the rows of ``codes`` (at ``node``'s levels) that share a class.

        Classes come out in ascending key order. A dense key space is counted
        with ``bincount`` (linear); a sparse one is sorted.
        """
        key, cards = self._keys(codes, node)
        space = math.prod(cards)
        rows = key.shape[0]
        if hist is None and space <= 4 * rows:
            counted = np.bincount(key, weights=weights, minlength=space)
            keys = np.flatnonzero(counted)
            sizes = counted[keys].astype(np.int64)
            out = np.empty((keys.shape[0], len(cards)), dtype=np.int64, order="F")
            for j in range(len(cards) - 1, -1, -1):
                keys, out[:, j] = np.divmod(keys, cards[j])
            return Groups(node, out, sizes, None)
        order = np.argsort(key)
        ranked = key[order]
        starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
        sizes = np.add.reduceat(weights[order], starts)
        merged = None if hist is None else np.add.reduceat(hist[order], starts, axis=0)
        out = np.asfortranarray(codes[order[starts]])
        return Groups(node, out, sizes, merged)

    def record_keys(self, node: Sequence[int]) -> tuple[IntArray, IntArray]:
        """Per record: the class index at ``node`` (classes in ascending key order)."""
        codes = np.empty_like(self.enc.codes, order="F")
        for j, level in enumerate(node):
            codes[:, j] = self.enc.gen[j][level][self.enc.codes[:, j]]
        key, _ = self._keys(codes, node)
        uniq, inverse = np.unique(key, return_inverse=True)
        return inverse.reshape(-1), uniq

    def _map(self, j: int, src: int, dst: int) -> IntArray:
        """Level-``src`` code → level-``dst`` code for QI ``j`` (well defined: monotonic)."""
        found = self._maps.get((j, src, dst))
        if found is None:
            gen = self.enc.gen[j]
            found = np.zeros(self.enc.card(j, src), dtype=np.int64)
            found[gen[src]] = gen[dst]
            self._maps[(j, src, dst)] = found
        return found

    def groups(self, node: tuple[int, ...]) -> Groups:
        """The classes of ``node``, from the smallest cached specialization."""
        hit = self._cache.get(node)
        if hit is not None:
            self._cache.move_to_end(node)
            return hit
        self.evaluations += 1
        base = min(
            (g for p, g in self._cache.items() if all(map(operator.le, p, node))),
            key=lambda g: g.sizes.shape[0],
        )
        codes = base.codes.copy(order="F")
        for j, (src, dst) in enumerate(zip(base.node, node, strict=True)):
            if src != dst:
                codes[:, j] = self._map(j, src, dst)[codes[:, j]]
        result = self._collapse(node, codes, base.sizes, base.hist)
        self._cache[node] = result
        if len(self._cache) > _CACHE_ENTRIES:
            # Keep the bottom table: every node can roll up from it.
            oldest = next(iter(k for k in self._cache if any(k)))
            del self._cache[oldest]
        return result
