"""SLA report files: a JSON object ``{period, values}`` or a CSV ``period,kpi,value``.

>>> parse_sla_report(b"period,kpi,value\\n2025-06,availability,99.95\\n", "text/csv").values
{'availability': '99.95'}
"""

from __future__ import annotations

import csv
import io

import orjson
from pydantic import ValidationError

from datacompact.delivery.schemas import SlaReportIn
from datacompact.errors import InvalidCharacter, InvalidInput, MalformedInput
from datacompact.schemas_base import INVALID_CHARACTER


def parse_sla_report(content: bytes, media_type: str) -> SlaReportIn:
    """An SLA report from a JSON object ``{period, values}`` or a CSV ``period,kpi,value``."""
    kind = media_type.split(";")[0].strip().lower()
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MalformedInput("报告须为 UTF-8 文本 / expected UTF-8 text, got other bytes") from exc
    if kind in ("application/json", "json"):
        try:
            raw = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise MalformedInput("报告不是合法 JSON / expected JSON, got malformed JSON") from exc
    elif kind in ("text/csv", "csv"):
        raw = _csv_report(text)
    else:
        raise MalformedInput(
            "报告格式须为 JSON 或 CSV / expected application/json or text/csv, got another type",
            details={"reason": "media_type"},
        )
    try:
        return SlaReportIn.model_validate(raw)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "report" for e in exc.errors()})
        if any(e["type"] == INVALID_CHARACTER for e in exc.errors()):
            raise InvalidCharacter(
                "报告含有控制字符或非字符 / expected text without NUL, control characters, "
                f"surrogates or noncharacters in {', '.join(fields)}",
                details={"fields": fields},
            ) from exc
        raise InvalidInput(
            f"报告内容无效 / invalid SLA report: check {', '.join(fields)}",
            details={"fields": fields},
        ) from exc


def _csv_report(text: str) -> dict[str, object]:
    try:
        # newline="" as the csv module asks: a bare CR ends a row instead of failing.
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise MalformedInput(
            "CSV 无法解析 / expected CSV rows of period,kpi,value, got text that does not parse",
            details={"reason": "csv_syntax"},
        ) from exc
    if not rows or [c.strip() for c in rows[0]] != ["period", "kpi", "value"]:
        raise MalformedInput(
            "CSV 表头须为 period,kpi,value / expected the CSV header period,kpi,value, got another",
            details={"reason": "csv_header"},
        )
    body = [r for r in rows[1:] if any(c.strip() for c in r)]
    if any(len(r) != 3 for r in body) or len({r[0].strip() for r in body}) != 1:
        raise MalformedInput(
            "CSV 每行须有三列且同一期间 / expected three columns a row and one period, got otherwise",
            details={"reason": "csv_rows"},
        )
    values = {r[1].strip(): r[2].strip() for r in body}
    if len(values) != len(body):
        raise InvalidInput("指标重复 / expected each KPI once", details={"field": "kpi"})
    return {"period": body[0][0].strip(), "values": values}
