"""ODRL 2.2 / DSP 2025-1 JSON-LD vocabulary and literal codecs used by :mod:`.agreement`.

Terms that ODRL defines are written in the compact form of the Dataspace
Protocol 2025-1 context (``"use"``, ``"purpose"``, ``"dateTime"``, ``"count"``,
``"lteq"``), as in the DSP examples; the context maps ``action``, ``operator``
and ``leftOperand`` with ``@type: @vocab``. Terms ODRL lacks are full IRIs in
the DataCompact profile namespace :data:`~.purposes.DCP` (ODRL 2.2 Information
Model §2.1: a policy that uses a profile's terms names the profile).

Typed values are JSON-LD value objects (JSON-LD 1.1 §4.2.1), because the DSP
JSON schema allows a right operand to be a string, an object or an array but
not a JSON number: ``{"@value": "100", "@type": "xsd:integer"}``. A structured
value is a JSON literal (JSON-LD 1.1 §4.2.2, ``"@type": "@json"``), whose
``@value`` is kept as JSON rather than read as more linked data.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from datacompact.decimals import parse_decimal
from datacompact.errors import InvalidInput, MalformedInput
from datacompact.policy.purposes import DCP

#: The JSON-LD context of the Dataspace Protocol 2025-1. It is an identifier
#: only: DataCompact never fetches it (the platform works offline).
DSP_CONTEXT = "https://w3id.org/dspace/2025/1/context.jsonld"
#: The ODRL profile of DataCompact grants (ODRL 2.2 §2.1 ``profile``).
PROFILE = DCP.rstrip("#")

# Left operands (ODRL 2.2 Vocabulary §3.2 for the ODRL ones).
PURPOSE = "purpose"
DATETIME = "dateTime"
COUNT = "count"
#: The total ε of the grant's differential-privacy budget; ``lteq``: the sum
#: of the ε spent by the grant's queries must stay at or below it.
EPSILON = f"{DCP}epsilon"
#: The columns a query may touch; ``isPartOf``: the touched set is part of the list.
COLUMN = f"{DCP}column"
#: The rows in scope, as a SQL predicate the sandbox applies below the user's query.
ROW_FILTER = f"{DCP}rowFilter"
#: The output mode; ``eq`` an IRI ``dcp:mode-<mode>``.
OUTPUT_MODE = f"{DCP}outputMode"
#: The minimum number of distinct entities per group of an aggregate; ``gteq``.
MIN_GROUP_SIZE = f"{DCP}minGroupSize"
#: The k of a k-anonymous extract; ``gteq``.
K_ANONYMITY = f"{DCP}kAnonymity"
#: The ε one DP query may spend: ``gteq`` the floor and ``lteq`` the ceiling,
#: two constraints on the same left operand, ``xsd:decimal``.
EPSILON_PER_QUERY = f"{DCP}epsilonPerQuery"
#: What each granted column may flow into; ``eq`` a JSON literal
#: mapping every granted column to its constraint (``plain``, ``join_only``...).
COLUMN_CONSTRAINT = f"{DCP}columnConstraint"
#: The granted columns whose values may be matched by private set intersection;
#: ``isPartOf``: the run's key column is part of the list. Absent: no PSI.
PSI_KEY = f"{DCP}psiKey"

#: The action of every permission: ODRL 2.2 Vocabulary §3.4.1 ``use``.
USE = "use"
#: Prohibited: onward distribution (ODRL 2.2 common vocabulary ``distribute``).
DISTRIBUTE = "distribute"
#: Prohibited for every mode that de-identifies: re-identifying a person.
REIDENTIFY = f"{DCP}reidentify"
#: The datatype of a row-filter predicate (DuckDB SQL expression text).
SQL_PREDICATE = f"{DCP}SqlPredicate"

XSD_DATETIME = "xsd:dateTime"
XSD_INTEGER = "xsd:integer"
XSD_DECIMAL = "xsd:decimal"
#: The datatype of a JSON literal (JSON-LD 1.1 §4.2.2).
JSON = "@json"


def kind(value: object) -> str:
    """What kind of JSON value ``value`` is, for "expected X, got Y" (never the value)."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "blank text" if not value.strip() else "text"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def malformed(where: str, expected: str, value: object) -> MalformedInput:
    return MalformedInput(
        f"协议格式错误 / malformed agreement at {where}: expected {expected}, got {kind(value)}",
        details={"at": where},
    )


def utc(moment: datetime, what: str) -> datetime:
    """``moment`` in UTC to the second; a naive datetime is refused, not guessed."""
    if not isinstance(moment, datetime):
        raise MalformedInput(
            f"时间格式错误 / malformed {what}: expected a datetime, got {type(moment).__name__}"
        )
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(
            f"时间缺少时区 / {what} has no time zone: expected an aware datetime, got a naive one",
            details={"field": what},
        )
    return moment.astimezone(UTC).replace(microsecond=0)


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: object, where: str) -> datetime:
    """An ``xsd:dateTime`` with a time zone, as a UTC datetime."""
    if not isinstance(value, str):
        raise malformed(where, "an xsd:dateTime string", value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise malformed(where, "an xsd:dateTime such as 2025-01-01T00:00:00Z", value) from None
    if moment.tzinfo is None:
        raise malformed(where, "an xsd:dateTime with a time zone", value)
    return utc(moment, where)


def typed(value: str, datatype: str) -> dict[str, str]:
    return {"@value": value, "@type": datatype}


def read_typed(value: object, datatype: str, where: str) -> str:
    """The lexical form of a JSON-LD value object of ``datatype``."""
    if (
        not isinstance(value, dict)
        or set(value) != {"@value", "@type"}
        or not isinstance(value["@value"], str)
    ):
        raise malformed(where, f"a value object {{@value, @type: {datatype}}}", value)
    if value["@type"] != datatype:
        raise MalformedInput(
            f"协议格式错误 / malformed agreement at {where}: expected @type {datatype}, "
            "got another datatype",
            details={"at": where},
        )
    return value["@value"]


def json_literal(value: Any) -> dict[str, Any]:
    return {"@value": value, "@type": JSON}


def read_json_literal(value: object, where: str) -> Any:
    """The ``@value`` of a JSON literal ``{"@value": ..., "@type": "@json"}``."""
    if not isinstance(value, dict) or set(value) != {"@value", "@type"}:
        raise malformed(where, "a JSON literal {@value, @type: @json}", value)
    if value["@type"] != JSON:
        raise MalformedInput(
            f"协议格式错误 / malformed agreement at {where}: expected @type {JSON}, "
            "got another datatype",
            details={"at": where},
        )
    return value["@value"]


def format_integer(value: int) -> dict[str, str]:
    return typed(str(value), XSD_INTEGER)


def parse_integer(value: object, where: str) -> int:
    text = read_typed(value, XSD_INTEGER, where)
    if not text.isascii() or not text.isdigit():
        raise malformed(where, "a non-negative xsd:integer", text)
    return int(text)


def format_decimal(value: float) -> dict[str, str]:
    # repr() round-trips a float exactly; Decimal(...) with "f" drops the
    # exponent that xsd:decimal's lexical space does not allow.
    return typed(format(Decimal(repr(value)), "f"), XSD_DECIMAL)


def parse_xsd_decimal(value: object, where: str) -> float:
    text = read_typed(value, XSD_DECIMAL, where)
    try:
        # xsd:decimal's lexical space (XSD 1.1 Part 2 §3.3.3): a sign, a bare point.
        number = float(parse_decimal(text, signed=True, bare_point=True))
    except ValueError as exc:
        raise malformed(where, "an xsd:decimal", text) from exc
    if not math.isfinite(number):
        raise malformed(where, "a finite xsd:decimal", text)
    return number


def reference(value: object, where: str) -> str:
    """The IRI of a ``{"@id": iri}`` node reference."""
    if not isinstance(value, dict) or set(value) != {"@id"} or not isinstance(value["@id"], str):
        raise malformed(where, "a node reference {@id}", value)
    return value["@id"]


def constraint(left: str, operator: str, right: Any) -> dict[str, Any]:
    """An ODRL 2.2 atomic constraint (Information Model §2.5.1)."""
    return {"leftOperand": left, "operator": operator, "rightOperand": right}
