"""Generalization hierarchies in ARX's CSV format.

A hierarchy has one row per original value: ``value;level1;level2;...;*``.
Level 0 is the value itself and the last level is usually ``*`` (fully
suppressed). This is the format ARX reads and writes (``Hierarchy.create``
/ ``Hierarchy.save``) and the "generalization" technique of GB/T 37964-2019
§A.3.2: each level replaces a value by a less specific one.

Every hierarchy checks itself when built:

* all rows have the same depth (ARX rejects ragged hierarchies);
* no value appears twice at level 0;
* it is monotonic: two rows with the same label at level ``i`` carry the same
  label at every level above ``i``. ARX calls a hierarchy that breaks this
  "not monotonic"; the search needs it to roll a generalized table up.

>>> h = Hierarchy.from_csv("a;x;*\\nb;x;*\\nc;y;*\\n")
>>> h.height, h.generalize("b", 1), h.generalize("c", 2)
(2, 'x', '*')
>>> print(h.to_csv(), end="")
a;x;*
b;x;*
c;y;*

A file's separator is its own, not the data's: :func:`detect_separator`
finds it (``;`` as ARX writes, ``,``, tab or ``|``) unless one is given.

>>> detect_separator("Male,*\nFemale,*\n"), detect_separator("1;[0, 5);*\n2;[0, 5);*\n")
(',', ';')
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from datacompact.errors import InvalidInput, MalformedInput

__all__ = ["SEPARATORS", "Hierarchy", "detect_separator"]

#: The separators :func:`detect_separator` tries, in order of preference.
SEPARATORS = (";", "\t", ",", "|")
_SNIFF_LINES = 200


def detect_separator(text: str, *, candidates: Sequence[str] = SEPARATORS) -> str:
    """The first candidate that splits every sampled line into the same number (≥ 2) of cells.

    Lines are parsed as CSV (quoted cells may hold the separator), blank lines
    skipped. :class:`MalformedInput` when no candidate fits.
    """
    lines = [line for line in text.splitlines() if line.strip()][:_SNIFF_LINES]
    for sep in candidates:
        try:
            widths = {len(row) for row in csv.reader(lines, delimiter=sep, quotechar='"')}
        except csv.Error:
            continue
        if len(widths) == 1 and min(widths) >= 2:
            return sep
    raise MalformedInput(
        "无法识别分隔符，请指定 / cannot detect the separator: expected every line split "
        f"into the same number of cells by one of {' '.join(repr(c) for c in candidates)}; "
        "give the separator explicitly",
        details={"candidates": list(candidates)},
    )


@dataclass(frozen=True)
class Hierarchy:
    """A validated generalization hierarchy: ``rows[i][level]`` is a label."""

    rows: tuple[tuple[str, ...], ...]
    #: Where the hierarchy was read from (a file name), for error messages.
    source: str | None = field(default=None, compare=False)
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rows = self.rows
        if not rows:
            raise MalformedInput("expected at least one hierarchy row, got none")
        depth = len(rows[0])
        index: dict[str, int] = {}
        for number, row in enumerate(rows, start=1):
            if len(row) != depth:
                raise MalformedInput(
                    f"expected every hierarchy row to have {depth} levels, "
                    f"got {len(row)} in row {number}",
                    details={"row": number, "expected": depth, "found": len(row)},
                )
            if row[0] in index:
                raise MalformedInput(
                    f"expected each value once at level 0, got a repeat in row {number}",
                    details={"row": number, "first_row": index[row[0]] + 1},
                )
            index[row[0]] = number - 1
        # Monotonicity: a label at level i fixes every label above it.
        for level in range(1, depth - 1):
            parent: dict[str, tuple[str, ...]] = {}
            for number, row in enumerate(rows, start=1):
                above = row[level + 1 :]
                seen = parent.setdefault(row[level], above)
                if seen != above:
                    raise MalformedInput(
                        f"expected a monotonic hierarchy, got row {number} whose level-{level} "
                        "label maps to a different parent than an earlier row",
                        details={"row": number, "level": level},
                    )
        object.__setattr__(self, "_index", index)

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[str]], *, source: str | None = None) -> Hierarchy:
        """Build from rows of labels (``value, level1, ..., *``)."""
        return cls(tuple(tuple(str(cell) for cell in row) for row in rows), source)

    @classmethod
    def from_csv(cls, text: str, *, sep: str | None = ";", source: str | None = None) -> Hierarchy:
        """Parse ARX's CSV hierarchy text (``value;level1;...;*``); blank lines are skipped.

        ``sep=None`` detects the separator (:func:`detect_separator`).
        """
        if text.startswith("\ufeff"):
            text = text[1:]
        if sep is None:
            sep = detect_separator(text)
        if len(sep) != 1:
            raise InvalidInput("expected a one-character separator", details={"sep_len": len(sep)})
        try:
            reader = csv.reader(io.StringIO(text), delimiter=sep, quotechar='"')
            rows = [row for row in reader if row and any(cell != "" for cell in row)]
        except csv.Error as exc:
            raise MalformedInput("expected CSV hierarchy text, got unparsable CSV") from exc
        try:
            return cls.from_rows(rows, source=source)
        except MalformedInput as exc:
            if source is None:
                raise
            raise MalformedInput(
                f"层级文件有误 / hierarchy file {source}: {exc.message}",
                details={**exc.details, "file": source},
            ) from exc

    @classmethod
    def read(
        cls, path: str | Path, *, sep: str | None = None, encoding: str = "utf-8"
    ) -> Hierarchy:
        """Read an ARX hierarchy file; ``sep=None`` detects its separator."""
        try:
            text = Path(path).read_text(encoding=encoding)
        except UnicodeDecodeError as exc:
            raise MalformedInput(
                f"层级文件编码错误 / expected {encoding} text in the hierarchy file {path}",
                details={"file": str(path), "encoding": encoding},
            ) from exc
        except OSError as exc:
            raise InvalidInput(
                f"无法读取层级文件 / cannot read the hierarchy file {path}",
                details={"path": str(path)},
            ) from exc
        try:
            return cls.from_csv(text, sep=sep, source=str(path))
        except MalformedInput as exc:
            if "file" in exc.details:
                raise
            raise MalformedInput(
                f"层级文件有误 / hierarchy file {path}: {exc.message}",
                details={**exc.details, "file": str(path)},
            ) from exc

    def to_csv(self, *, sep: str = ";") -> str:
        """ARX's CSV text: one row per value, cells quoted only when needed."""
        out = io.StringIO()
        writer = csv.writer(out, delimiter=sep, quotechar='"', lineterminator="\n")
        writer.writerows(self.rows)
        return out.getvalue()

    def write(self, path: str | Path, *, sep: str = ";") -> None:
        """Write the hierarchy as an ARX CSV file."""
        Path(path).write_text(self.to_csv(sep=sep), encoding="utf-8")

    @property
    def depth(self) -> int:
        """Number of levels including level 0."""
        return len(self.rows[0])

    @property
    def height(self) -> int:
        """The highest generalization level (``depth - 1``)."""
        return len(self.rows[0]) - 1

    @property
    def values(self) -> tuple[str, ...]:
        """The original values (level 0), in file order."""
        return tuple(row[0] for row in self.rows)

    def covers(self, value: str) -> bool:
        """Whether ``value`` has a row."""
        return value in self._index

    def row_of(self, value: str) -> tuple[str, ...] | None:
        """The row of ``value``, or ``None`` when the hierarchy does not cover it."""
        i = self._index.get(value)
        return None if i is None else self.rows[i]

    def generalize(self, value: str, level: int) -> str:
        """The label of ``value`` at ``level``."""
        if not 0 <= level <= self.height:
            raise InvalidInput(
                f"expected a level between 0 and {self.height}, got {level}",
                details={"level": level, "height": self.height},
            )
        row = self.row_of(value)
        if row is None:
            raise InvalidInput("the hierarchy does not cover the value", details={"level": level})
        return row[level]
