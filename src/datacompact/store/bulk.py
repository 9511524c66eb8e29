"""Lean statements for the log's hot paths: bulk inserts and point lookups.

The ORM's bulk insert spends most of its time building per-row parameter
dictionaries; the log appends tens of thousands of rows per second. This
binds each column through the column type's own bind processor (so values
are stored exactly as the ORM would store them) and hands the rows to the
driver's ``executemany`` in its native parameter style.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import FromClause, LargeBinary
from sqlalchemy.orm import Session

from datacompact.errors import Conflict, StoreUnavailable

_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric": ":{n}"}


def placeholders(session: Session, count: int) -> list[str]:
    """``count`` bound-parameter markers in the driver's own style."""
    style = _PLACEHOLDER[session.connection().dialect.paramstyle]
    return [style.format(n=n + 1) for n in range(count)]


def insert_rows(
    session: Session, table: FromClause, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    if not rows:
        return
    connection = session.connection()
    dialect = connection.dialect
    style = _PLACEHOLDER[dialect.paramstyle]
    marks = ", ".join(style.format(n=n + 1) for n in range(len(columns)))
    preparer = dialect.identifier_preparer
    names = ", ".join(preparer.quote(c) for c in columns)
    sql = f"INSERT INTO {preparer.format_table(table)} ({names}) VALUES ({marks})"  # noqa: S608 - identifiers quoted by the dialect, values bound
    bound: list[tuple[Any, ...]] | Sequence[Sequence[Any]] = rows
    processors = [
        (i, proc)
        for i, c in enumerate(columns)
        # Both drivers take ``bytes`` for blobs as they are; wrapping each one
        # in the DBAPI's Binary() only costs time.
        if not isinstance(table.c[c].type, LargeBinary)
        and (proc := table.c[c].type._cached_bind_processor(dialect)) is not None
    ]
    if processors:
        converted = [list(row) for row in rows]
        for i, proc in processors:
            # Rows of one batch often share a value (one timestamp per batch).
            last_in: Any = object()
            last_out: Any = None
            for row in converted:
                value = row[i]
                if value is not last_in:
                    last_in, last_out = value, proc(value)
                row[i] = last_out
        bound = [tuple(row) for row in converted]
    if dialect.name == "postgresql":
        # COPY streams the rows in one round trip; executemany, even pipelined,
        # pays per-row statement overhead. Same rows, same transaction.
        import psycopg

        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            with cursor.copy(f"COPY {preparer.format_table(table)} ({names}) FROM STDIN") as copy:
                for values in bound:
                    copy.write_row(values)
        except psycopg.errors.IntegrityError as exc:
            # The raw cursor bypasses SQLAlchemy's wrapping, so translate here.
            raise Conflict(
                "与已有记录冲突 / the write conflicts with an existing record",
                details={"driver_error": type(exc).__name__},
            ) from exc
        except psycopg.Error as exc:
            raise StoreUnavailable(
                "元数据存储操作失败 / the metadata store refused the operation",
                details={"driver_error": type(exc).__name__},
            ) from exc
        return
    connection.exec_driver_sql(sql, bound)
