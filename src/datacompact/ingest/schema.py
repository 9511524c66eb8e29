"""Schema inference and the editable data dictionary of a staged resource.

Arrow types map to a small set of logical types that a data steward reads
(integer, decimal, text, date, datetime, boolean, code). A text column whose
values repeat a lot is proposed as ``code`` with its code list, which the
steward labels, e.g. with GB/T 2261.1 sex codes. The dictionary round-trips
through JSON and rejects malformed input with specific errors.

>>> d = DataDictionary(columns=(ColumnSpec(name="xb", type="code", code_list={"1": "男"}),))
>>> d = d.edit("xb", description="性别", unit="")
>>> DataDictionary.from_json(d.to_json()) == d
True
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, get_args

import duckdb
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.parquet as pq  # type: ignore[import-untyped, unused-ignore]

from datacompact.errors import InvalidInput, MalformedInput, NotFound, UnknownField
from datacompact.ingest._common import connect, sql_ident, sql_string

__all__ = ["ColumnSpec", "DataDictionary", "LogicalType", "infer_dictionary", "logical_type"]

LogicalType = Literal["integer", "decimal", "text", "date", "datetime", "boolean", "code"]
LOGICAL_TYPES: tuple[str, ...] = get_args(LogicalType)
#: A text column is proposed as a code when it has at most this many distinct values...
CODE_MAX_DISTINCT = 64
#: ...and each value repeats on average this many times (so that a tiny file
#: never turns names or IDs into a "code list").
CODE_MIN_REPEAT = 20
_MAX_TEXT = 4000
_SPEC_KEYS = {"name", "type", "description", "unit", "code_list", "nullable"}


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the data dictionary."""

    name: str
    type: LogicalType
    description: str = ""
    unit: str = ""
    code_list: dict[str, str] | None = None
    nullable: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInput("列名不能为空 / a column name must not be empty")
        if self.type not in LOGICAL_TYPES:
            raise InvalidInput(
                f"列 {self.name} 的类型无效 / column {self.name}: expected a type among "
                f"{', '.join(LOGICAL_TYPES)}",
                details={"column": self.name, "expected": list(LOGICAL_TYPES)},
            )
        for text in (self.description, self.unit):
            if not isinstance(text, str) or len(text) > _MAX_TEXT:
                raise InvalidInput(
                    f"列 {self.name} 的说明或单位无效 / column {self.name}: description and unit "
                    f"must be text of at most {_MAX_TEXT} characters",
                    details={"column": self.name},
                )
        if self.code_list is not None and not (
            isinstance(self.code_list, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in self.code_list.items())
        ):
            raise InvalidInput(
                f"列 {self.name} 的代码表无效 / column {self.name}: a code list maps codes to labels "
                "(text to text)",
                details={"column": self.name},
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "unit": self.unit,
            "code_list": dict(self.code_list) if self.code_list is not None else None,
            "nullable": self.nullable,
        }

    @classmethod
    def from_dict(cls, data: Any) -> ColumnSpec:
        if not isinstance(data, dict):
            raise MalformedInput("expected a column object, got another JSON value")
        unknown = set(data) - _SPEC_KEYS
        if unknown:
            raise UnknownField(
                f"列定义含未知字段 / unknown column field(s): {', '.join(sorted(unknown))}",
                details={"fields": sorted(unknown)},
            )
        if "name" not in data or "type" not in data:
            raise MalformedInput("expected a column with a name and a type, got one without")
        return cls(**data)


@dataclass(frozen=True)
class DataDictionary:
    """The columns of a resource with their logical types, descriptions, units and code lists."""

    columns: tuple[ColumnSpec, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise InvalidInput("数据字典中列名重复 / the data dictionary repeats a column name")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> ColumnSpec:
        for spec in self.columns:
            if spec.name == name:
                return spec
        raise NotFound(
            f"数据字典中没有列 {name} / the data dictionary has no column {name}",
            details={"column": name},
        )

    def edit(self, name: str, /, **changes: Any) -> DataDictionary:
        """A copy with one column changed (type, description, unit, code_list, nullable)."""
        unknown = set(changes) - (_SPEC_KEYS - {"name"})
        if unknown:
            raise UnknownField(
                f"不能修改的字段 / unknown or read-only field(s): {', '.join(sorted(unknown))}",
                details={"fields": sorted(unknown)},
            )
        target = self.column(name)
        updated = replace(target, **changes)
        return DataDictionary(tuple(updated if c is target else c for c in self.columns))

    def to_dict(self) -> dict[str, Any]:
        return {"columns": [c.to_dict() for c in self.columns]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> DataDictionary:
        if not isinstance(data, dict) or not isinstance(data.get("columns"), list):
            raise MalformedInput('expected {"columns": [...]}, got another JSON value')
        if set(data) - {"columns"}:
            raise UnknownField("数据字典含未知字段 / unknown data dictionary field(s)")
        return cls(tuple(ColumnSpec.from_dict(c) for c in data["columns"]))

    @classmethod
    def from_json(cls, text: str | bytes) -> DataDictionary:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedInput(
                "数据字典不是有效的 JSON / expected JSON, got text that does not parse"
            ) from exc
        return cls.from_dict(data)


def logical_type(arrow_type: Any) -> LogicalType:
    """The logical type of an Arrow type.

    >>> logical_type(pa.int32()), logical_type(pa.float64()), logical_type(pa.date32())
    ('integer', 'decimal', 'date')
    """
    t = pa.types
    if t.is_boolean(arrow_type):
        return "boolean"
    if t.is_integer(arrow_type):
        return "integer"
    if t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return "decimal"
    if t.is_date(arrow_type):
        return "date"
    if t.is_timestamp(arrow_type):
        return "datetime"
    if t.is_dictionary(arrow_type):
        return "code"
    return "text"


def infer_dictionary(parquet_path: Path | str) -> DataDictionary:
    """Propose a data dictionary for a staged Parquet file (one DuckDB pass over text columns)."""
    path = Path(parquet_path)
    try:
        schema = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise MalformedInput("expected a staged Parquet file, got one that does not open") from exc
    types = {f.name: logical_type(f.type) for f in schema}
    texts = [name for name, kind in types.items() if kind == "text"]
    codes: dict[str, dict[str, str]] = {}
    if texts:
        con = connect(memory_limit="1GB")
        try:
            source = f"read_parquet({sql_string(str(path))})"
            parts = ["count(*)"] + [f"approx_count_distinct({sql_ident(n)})" for n in texts]
            row = con.execute(f"SELECT {', '.join(parts)} FROM {source}").fetchone() or ()  # noqa: S608 - identifiers quoted, path literal-escaped
            total = int(row[0]) if row else 0
            for name, distinct in zip(texts, row[1:], strict=True):
                if (
                    distinct
                    and distinct <= CODE_MAX_DISTINCT
                    and total >= CODE_MIN_REPEAT * distinct
                ):
                    values = con.execute(
                        f"SELECT DISTINCT {sql_ident(name)} FROM {source} WHERE {sql_ident(name)} "  # noqa: S608 - identifiers quoted, path literal-escaped
                        f"IS NOT NULL ORDER BY 1 LIMIT {CODE_MAX_DISTINCT + 1}"
                    ).fetchall()
                    if len(values) <= CODE_MAX_DISTINCT:
                        codes[name] = {str(v[0]): "" for v in values}
        except duckdb.Error as exc:
            raise MalformedInput("无法读取暂存文件 / could not read the staged file") from exc
        finally:
            con.close()
    return DataDictionary(
        tuple(
            ColumnSpec(name=name, type="code" if name in codes else kind, code_list=codes.get(name))
            for name, kind in types.items()
        )
    )
