"""Stage a source as one Parquet file, atomically.

The batches are written to a hidden temporary file in the destination folder,
which is then flushed, ``fsync``-ed and renamed over ``dest`` (a rename within
one file system is atomic on POSIX), and the folder itself is ``fsync``-ed so
the rename survives a crash. On any error or interruption, ``KeyboardInterrupt``
included, the temporary file is removed: a reader of the folder sees either no
file at ``dest`` or the complete one, never a partial version.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from datacompact.config import private_dir
from datacompact.errors import Conflict, DataCompactError, MalformedInput, PayloadTooLarge
from datacompact.ingest._common import MAX_CELL_BYTES, IngestWarning, TypeMismatch
from datacompact.ingest._encoding import sha256_file
from datacompact.ingest.readers import Source

__all__ = ["Progress", "Staged", "stage_to_parquet"]

#: Batches are buffered into row groups of about this many rows (or bytes):
#: one small row group per 64k-row batch cost 1.7 times the writer's CPU time
#: of 1M-row groups and a file 30 % larger (dictionaries and statistics are
#: per row group), and later scans read fewer, larger pages.
ROW_GROUP_ROWS = 1 << 20
ROW_GROUP_BYTES = 128 << 20

#: ``progress(rows_done, rows_total)``; the total is ``None`` when unknown (CSV, JSON Lines).
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class Staged:
    """The staged Parquet file and what is known about it."""

    path: Path
    rows: int
    schema: Any  # pyarrow.Schema
    size_bytes: int
    source_sha256: str
    source_bytes: int
    detected: dict[str, Any]
    warnings: tuple[IngestWarning, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema.names)


class _Hasher(threading.Thread):
    """SHA-256 of the source file, computed beside the conversion."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="datacompact-sha256", daemon=True)
        self.path = path
        self.digest: str | None = None
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            self.digest = sha256_file(self.path)
        except OSError as exc:
            self.error = exc


def stage_to_parquet(
    source: Source,
    dest: Path | str,
    *,
    progress: Progress | None = None,
    max_cell_bytes: int = MAX_CELL_BYTES,
    compression: str = "zstd",
) -> Staged:
    """Write every record of ``source`` to ``dest`` (Parquet) atomically; return the summary.

    Raises :class:`~datacompact.errors.Conflict` if ``dest`` exists (a staged
    version is immutable), :class:`~datacompact.errors.PayloadTooLarge` for a
    cell above ``max_cell_bytes``, and the reader's errors for bad input.
    """
    dest = Path(dest)
    if dest.exists():
        raise Conflict("目标文件已存在 / the destination file already exists")
    private_dir(dest.parent)
    temp = dest.with_name(f".{dest.name}.{secrets.token_hex(8)}.partial")
    transcoding = source.format in ("csv", "tsv") and source.encoding in ("gbk", "gb18030")
    hasher = None if transcoding else _Hasher(source.path)
    if hasher is not None:
        hasher.start()
    try:
        for _attempt in range(len(source.columns) + 1):
            try:
                rows, schema = _write(source, temp, progress, max_cell_bytes, compression)
                break
            except TypeMismatch as mismatch:
                temp.unlink(missing_ok=True)
                source.relax(mismatch.column)
                source.add_warning(_relaxed(mismatch))
        else:  # pragma: no cover - each retry relaxes one more column
            raise MalformedInput("无法确定列类型 / could not settle the column types")
        if hasher is not None:
            hasher.join()
            if hasher.error is not None:
                raise MalformedInput("读取文件失败 / could not read the file") from hasher.error
            digest = hasher.digest
        else:
            digest = source.digest
        if digest is None:  # pragma: no cover - every path computes it
            digest = hashlib.sha256(source.path.read_bytes()).hexdigest()
        with temp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(temp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        # Interrupts included: nothing partial may stay behind.
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        if hasher is not None:
            hasher.join()
        raise
    if rows == 0:
        source.add_warning(IngestWarning("no_rows", "文件没有数据行 / the file has no data rows"))
    return Staged(
        path=dest,
        rows=rows,
        schema=schema,
        size_bytes=dest.stat().st_size,
        source_sha256=digest,
        source_bytes=source.size_bytes,
        detected=source.describe(),
        warnings=source.warnings,
    )


def _write(
    source: Source,
    temp: Path,
    progress: Progress | None,
    max_cell_bytes: int,
    compression: str,
) -> tuple[int, Any]:
    rows = 0
    writer: _RowGroupWriter | None = None
    try:
        batches = source.batches()
        try:
            pending: list[Any] = []
            pending_rows = pending_bytes = 0
            for batch in batches:
                _check_cells(batch, rows, max_cell_bytes)
                if writer is None:
                    writer = _RowGroupWriter(temp, batch.schema, compression)
                pending.append(batch)
                pending_rows += batch.num_rows
                pending_bytes += batch.nbytes
                rows += batch.num_rows
                if pending_rows >= ROW_GROUP_ROWS or pending_bytes >= ROW_GROUP_BYTES:
                    writer.put(pa.Table.from_batches(pending))
                    pending, pending_rows, pending_bytes = [], 0, 0
                if progress is not None:
                    progress(rows, source.total_rows)
            if writer is not None and pending_rows:
                # Never an empty row group: Parquet refuses a row group of size 0,
                # and a header-only file stages as a file with a schema and no rows.
                writer.put(pa.Table.from_batches(pending))
        finally:
            # Close the reader's generator now, not at garbage collection: it
            # stops the transcoding thread and the DuckDB scan (interrupts too).
            close = getattr(batches, "close", None)
            if close is not None:
                close()
        if writer is None:
            schema = pa.schema([(name, pa.string()) for name in source.columns])
            writer = _RowGroupWriter(temp, schema, compression)
        schema = writer.finish()
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise MalformedInput(
            "记录与列定义不一致 / expected records matching the columns, got inconsistent ones"
        ) from exc
    except OSError as exc:
        raise DataCompactError("无法写入暂存文件 / could not write the staged file") from exc
    finally:
        if writer is not None:
            writer.abort()
    return rows, schema


class _RowGroupWriter(threading.Thread):
    """Writes row groups on its own thread while the reader parses the next ones.

    pyarrow releases the GIL while it encodes and compresses, so the DuckDB
    scan (and the transcoder feeding it) keep running during a write instead
    of waiting for the next pull. At most two tables wait in the queue.
    """

    def __init__(self, path: Path, schema: Any, compression: str) -> None:
        super().__init__(name="datacompact-parquet-writer", daemon=True)
        # The file is created here, 0600 from its first byte (and fchmod-ed, as
        # the umask may mask even that): pyarrow would create it with the
        # umask's mode, 0644 under the usual 022. Opening an existing file, it
        # truncates it and keeps its mode, and it still writes natively.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
        self._writer = pq.ParquetWriter(path, schema, compression=compression)
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._closed = False
        self.start()

    def run(self) -> None:
        while (table := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write_table(table, row_group_size=table.num_rows)
                except BaseException as exc:  # handed to the caller's thread
                    self._error = exc

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def put(self, table: Any) -> None:
        self._raise()
        self._queue.put(table)

    def finish(self) -> Any:
        """Write what is queued, close the file and return its schema."""
        self._queue.put(None)
        self.join()
        self._raise()
        self._closed = True
        self._writer.close()
        return self._writer.schema

    def abort(self) -> None:
        """Stop after the row group being written (on errors and interrupts); idempotent."""
        if self.is_alive():
            with contextlib.suppress(queue.Empty):
                while True:
                    self._queue.get_nowait()
            self._queue.put(None)
            self.join()
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self._writer.close()


def _check_cells(batch: Any, rows_before: int, limit: int) -> None:
    """Refuse a cell longer than ``limit`` bytes, naming its column and row."""
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if not (
            pa.types.is_string(column.type)
            or pa.types.is_large_string(column.type)
            or pa.types.is_binary(column.type)
        ):
            continue
        lengths = pc.binary_length(column)
        longest = pc.max(lengths).as_py()
        if longest is not None and longest > limit:
            index = pc.index(pc.greater(lengths, limit), True).as_py()
            row = rows_before + index + 1
            raise PayloadTooLarge(
                f"列 {name} 第 {row} 条记录的单元格超过 {limit} 字节 / column {name}, record "
                f"{row}: a cell is larger than {limit} bytes",
                details={"column": name, "record": row, "limit": limit},
            )


def _relaxed(mismatch: TypeMismatch) -> IngestWarning:
    zh = f"（第 {mismatch.row} 行起）" if mismatch.row else ""
    en = f" (from line {mismatch.row})" if mismatch.row else ""
    return IngestWarning(
        "column_read_as_text",
        f"列 {mismatch.column} 的值类型不一致{zh}，已按文本读取 / column {mismatch.column} has "
        f"values of mixed types{en}; it was read as text",
        column=mismatch.column,
        row=mismatch.row,
    )


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
