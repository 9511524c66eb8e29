"""Shared pieces of the readers: warnings, limits, column names, SQL quoting.

Messages are bilingual ("中文 / English") and name a row or a column, never a
cell value (errors are typed).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import duckdb

from datacompact.config import private_dir
from datacompact.errors import InvalidInput, PayloadTooLarge

Format = Literal["csv", "tsv", "xlsx", "parquet", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "tsv", "xlsx", "parquet", "jsonl")

#: More columns than this is refused: no register of government data is that
#: wide, and every later step (profiling, PII scan, grading) is per column.
MAX_COLUMNS = 2048
#: A cell longer than this (in UTF-8 bytes) is refused; free text above 1 MiB
#: belongs in a document store, not in a table.
MAX_CELL_BYTES = 1 << 20
#: A column name longer than this is truncated with a warning.
MAX_NAME_CHARS = 128
#: Rows per Arrow record batch handed to the stager.
BATCH_ROWS = 65_536


#: Parts smaller than this are not held to the compression ratio: a small,
#: repetitive XML part (styles, an empty sheet) compresses far beyond it and
#: costs nothing to expand.
RATIO_FLOOR_BYTES = 1 << 20


def too_large(
    what: tuple[str, str], value: int, limit: int, setting: str, **details: Any
) -> PayloadTooLarge:
    """The refusal of a file over one of the :class:`IngestLimits` (413, names the setting).

    ``what`` is the measure in zh-CN and English; ``value`` may be a lower
    bound (counting stops at the limit).
    """
    zh, en = what
    return PayloadTooLarge(
        f"文件超出接入上限：{zh}至少为 {value}，上限 {limit} / the file is over an ingestion "
        f"limit: {en} at least {value}, the limit is {limit}",
        details={"setting": setting, "value": value, "limit": limit, **details},
    )


@dataclass(frozen=True)
class IngestWarning:
    """Something the reader fixed or noticed; ``column``/``row`` locate it (1-based row)."""

    code: str
    message: str
    column: str | None = None
    row: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "column": self.column, "row": self.row}


class TypeMismatch(Exception):
    """Internal signal: a column's guessed type failed later in the file; re-read it as text.

    Raised by a reader's batch stream and caught by the stager, which relaxes the
    column and starts again. It never leaves the package.
    """

    def __init__(self, column: str, row: int | None) -> None:
        super().__init__(column)
        self.column = column
        self.row = row


class Reader(Protocol):
    """What every format reader provides to :class:`~datacompact.ingest.readers.Source`."""

    columns: tuple[str, ...]
    total_rows: int | None
    digest: str | None
    warnings: list[IngestWarning]

    def batches(self) -> Iterator[Any]:
        """Arrow record batches in file order; a fresh pass on each call."""
        ...

    def relax(self, column: str) -> None:
        """Read ``column`` as text from now on (after a :class:`TypeMismatch`)."""
        ...

    def close(self) -> None: ...


def normalize_names(
    raw: Sequence[object], *, max_columns: int = MAX_COLUMNS
) -> tuple[tuple[str, ...], list[IngestWarning]]:
    """Clean header names: trim, fill empty ones, make duplicates unique, cap length.

    >>> names, warnings = normalize_names(["id", " 姓名 ", "", "id"])
    >>> names, [w.code for w in warnings]
    (('id', '姓名', 'column_3', 'id_2'), ['empty_column_name', 'duplicate_column_name'])
    """
    if len(raw) > max_columns:
        raise PayloadTooLarge(
            f"文件有 {len(raw)} 列，上限为 {max_columns} 列 / "
            f"the file has {len(raw)} columns; the limit is {max_columns}",
            details={"columns": len(raw), "limit": max_columns, "setting": "ingest_max_columns"},
        )
    if not raw:
        raise InvalidInput("文件没有列 / the file has no columns", details={"columns": 0})
    warnings: list[IngestWarning] = []
    names: list[str] = []
    seen: set[str] = set()
    for index, value in enumerate(raw, start=1):
        name = " ".join(str(value).split()) if value is not None else ""
        if len(name) > MAX_NAME_CHARS:
            name = name[:MAX_NAME_CHARS]
            warnings.append(
                IngestWarning(
                    "long_column_name",
                    f"第 {index} 列的列名过长，已截断 / column {index}: name truncated "
                    f"to {MAX_NAME_CHARS} characters",
                    column=name,
                )
            )
        if not name:
            name = f"column_{index}"
            warnings.append(
                IngestWarning(
                    "empty_column_name",
                    f"第 {index} 列没有列名，已命名为 {name} / column {index} has no name; "
                    f"named it {name}",
                    column=name,
                )
            )
        if name in seen:
            base, suffix = name, 2
            while f"{base}_{suffix}" in seen:
                suffix += 1
            name = f"{base}_{suffix}"
            warnings.append(
                IngestWarning(
                    "duplicate_column_name",
                    f"第 {index} 列与前面的列同名，已改名为 {name} / column {index} repeats an "
                    f"earlier name; renamed it {name}",
                    column=name,
                )
            )
        seen.add(name)
        names.append(name)
    return tuple(names), warnings


def sql_string(value: str) -> str:
    """A SQL string literal.

    >>> sql_string("it's")
    "'it''s'"
    """
    return "'" + value.replace("'", "''") + "'"


def sql_ident(name: str) -> str:
    """A quoted SQL identifier.

    >>> sql_ident('a"b')
    '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'


#: Where the DuckDB connections of the running ingestion may spill (:func:`spilling_into`).
_SPILL: ContextVar[Path | None] = ContextVar("datacompact_ingest_spill", default=None)


@contextmanager
def spilling_into(folder: Path) -> Iterator[Path]:
    """Let the connections :func:`connect` opens meanwhile spill into ``folder``, then remove it.

    ``folder`` belongs in the ingestion's private staging folder, so a killed
    process leaves its spilled rows where the start-up sweep removes them.
    """
    private_dir(folder)
    token = _SPILL.set(folder)
    try:
        yield folder
    finally:
        _SPILL.reset(token)
        shutil.rmtree(folder, ignore_errors=True)


def connect(*, memory_limit: str = "1GB", threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a memory cap, insertion order kept, and no extension loading.

    It spills into the folder of the enclosing :func:`spilling_into`, and
    without one not at all: an in-memory DuckDB would otherwise write its
    spill files, rows of the file being ingested, to ``.tmp`` in the
    server's working directory.
    """
    con = duckdb.connect(":memory:")
    spill = _SPILL.get()
    con.execute(f"SET temp_directory = {sql_string(str(spill) if spill is not None else '')}")
    con.execute(f"SET memory_limit = {sql_string(memory_limit)}")
    con.execute("SET preserve_insertion_order = true")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET enable_progress_bar = false")  # it would draw on the caller's stderr
    if threads is not None:
        con.execute(f"SET threads = {int(threads)}")
    return con


def flatten_header(rows: Sequence[Sequence[object]], *, fill: bool = True) -> list[str | None]:
    """One name per column from a multi-row header, upper levels first: "上级_下级".

    A merged cell keeps its text only in its first cell, so with ``fill`` the
    upper rows are forward-filled across empty cells (within the parent's span).
    A column empty in the lower rows keeps the upper name alone.

    >>> flatten_header([["基本信息", None, "联系方式", None], ["姓名", "年龄", "手机", "邮箱"]])
    ['基本信息_姓名', '基本信息_年龄', '联系方式_手机', '联系方式_邮箱']
    >>> flatten_header([["序号", "金额"], [None, "元"]])
    ['序号', '金额_元']
    """
    width = max((len(row) for row in rows), default=0)
    grid = [
        [("" if v is None else " ".join(str(v).split())) for v in row] + [""] * (width - len(row))
        for row in rows
    ]
    if fill:
        for level in range(len(grid) - 1):
            row = grid[level]
            for col in range(1, width):
                same_parent = level == 0 or grid[level - 1][col] == grid[level - 1][col - 1]
                below_named = any(grid[lower][col] for lower in range(level + 1, len(grid)))
                if not row[col] and same_parent and below_named and row[col - 1]:
                    row[col] = row[col - 1]
    names: list[str | None] = []
    for col in range(width):
        parts: list[str] = []
        for row in grid:
            if row[col] and (not parts or parts[-1] != row[col]):
                parts.append(row[col])
        names.append("_".join(parts) if parts else None)
    return names
