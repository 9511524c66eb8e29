"""Reading a DSP 2025-1 Agreement back into the fields of :class:`~.agreement.GrantTerms`.

Strict by design: an unknown key, left operand, operator or action is an
error, never ignored. ODRL 2.2 Information Model §2.5.1 makes a rule apply
only when all its constraints are satisfied, so a constraint the platform
cannot evaluate must not silently pass (fail closed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from datacompact.errors import InvalidInput, MalformedInput
from datacompact.policy import _odrl as o
from datacompact.policy._spec import AGGREGATE_MODES, OutputMode, OutputSpec
from datacompact.policy.purposes import DCP, purpose_from_iri
from datacompact.sandbox.grants import CONSTRAINTS

_KEYS = frozenset(
    {
        "@context",
        "@type",
        "@id",
        "profile",
        "target",
        "assigner",
        "assignee",
        "timestamp",
        "permission",
        "prohibition",
    }
)
_CONSTRAINT_KEYS = frozenset({"leftOperand", "operator", "rightOperand"})

# (left operand, operator) -> required? The per-query ε takes two operators,
# a floor and a ceiling; every other left operand takes one.
_OPERANDS: Mapping[tuple[str, str], bool] = {
    (o.PURPOSE, "eq"): True,
    (o.DATETIME, "lteq"): True,
    (o.COUNT, "lteq"): True,
    (o.COLUMN, "isPartOf"): True,
    (o.OUTPUT_MODE, "eq"): True,
    (o.MIN_GROUP_SIZE, "gteq"): False,
    (o.K_ANONYMITY, "gteq"): False,
    (o.EPSILON, "lteq"): False,
    (o.EPSILON_PER_QUERY, "gteq"): False,
    (o.EPSILON_PER_QUERY, "lteq"): False,
    (o.ROW_FILTER, "eq"): False,
    (o.COLUMN_CONSTRAINT, "eq"): False,
    (o.PSI_KEY, "isPartOf"): False,
}
_OPERATORS: Mapping[str, tuple[str, ...]] = {
    left: tuple(op for (name, op) in _OPERANDS if name == left) for left, _ in _OPERANDS
}
_PROHIBITED = frozenset({o.DISTRIBUTE, o.REIDENTIFY})
_MODE_PREFIX = f"{DCP}mode-"


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise o.malformed(where, "a JSON object", value)
    return value


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list) or not value:
        raise o.malformed(where, "a non-empty list", value)
    return value


def _keys(value: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    missing = sorted(allowed - set(value))
    if missing:
        raise MalformedInput(
            f"协议格式错误 / malformed agreement at {where}: expected '{missing[0]}', got nothing",
            details={"at": where, "missing": missing},
        )
    extra = len(set(value) - allowed)
    if extra:
        raise MalformedInput(
            f"协议格式错误 / malformed agreement at {where}: expected only "
            f"{', '.join(sorted(allowed))}, got {extra} unknown key(s)",
            details={"at": where},
        )


def _expiry(value: object, where: str) -> Any:
    # DSP 2025-1 examples write the dateTime as a plain string; both forms are read.
    return o.parse_time(
        value if isinstance(value, str) else o.read_typed(value, o.XSD_DATETIME, where), where
    )


def _column_names(value: object, where: str) -> tuple[str, ...]:
    names = _list(value, where)
    for name in names:
        if not isinstance(name, str):
            raise o.malformed(where, "a list of column names", name)
    return tuple(names)


def _mode(value: object, where: str) -> OutputMode:
    iri = o.reference(value, where)
    try:
        if not iri.startswith(_MODE_PREFIX):
            raise ValueError(iri)
        return OutputMode(iri.removeprefix(_MODE_PREFIX))
    except ValueError:
        raise MalformedInput(
            f"协议格式错误 / malformed agreement at {where}: expected an output-mode IRI "
            f"{_MODE_PREFIX}<mode>, got another IRI",
            details={"at": where},
        ) from None


def _column_constraints(value: object, where: str) -> dict[str, str]:
    body = o.read_json_literal(value, where)
    if not isinstance(body, dict) or not body:
        raise o.malformed(where, "a non-empty object of column constraints", body)
    for column, constraint in body.items():
        if not isinstance(column, str) or not isinstance(constraint, str):
            raise o.malformed(where, "column names mapped to constraint names", constraint)
        if constraint not in CONSTRAINTS:
            raise MalformedInput(
                f"协议格式错误 / malformed agreement at {where}: expected a constraint among "
                f"{', '.join(CONSTRAINTS)} for each column, got another name",
                details={"at": where},
            )
    return dict(body)


_DECODERS: Mapping[str, Callable[[object, str], Any]] = {
    o.PURPOSE: lambda v, w: purpose_from_iri(o.reference(v, w)),
    o.DATETIME: _expiry,
    o.COUNT: o.parse_integer,
    o.COLUMN: _column_names,
    o.OUTPUT_MODE: _mode,
    o.MIN_GROUP_SIZE: o.parse_integer,
    o.K_ANONYMITY: o.parse_integer,
    o.EPSILON: o.parse_xsd_decimal,
    o.EPSILON_PER_QUERY: o.parse_xsd_decimal,
    o.ROW_FILTER: lambda v, w: o.read_typed(v, o.SQL_PREDICATE, w),
    o.COLUMN_CONSTRAINT: _column_constraints,
    o.PSI_KEY: _column_names,
}


def _constraints(rule: Mapping[str, Any]) -> dict[tuple[str, str], Any]:
    found: dict[tuple[str, str], Any] = {}
    for i, item in enumerate(_list(rule["constraint"], "permission[0].constraint")):
        where = f"permission[0].constraint[{i}]"
        c = _object(item, where)
        _keys(c, _CONSTRAINT_KEYS, where)
        left, operator = c["leftOperand"], c["operator"]
        if not isinstance(left, str) or left not in _OPERATORS:
            raise o.malformed(f"{where}.leftOperand", "a left operand DataCompact evaluates", left)
        allowed = _OPERATORS[left]
        if not isinstance(operator, str) or operator not in allowed:
            expected = " or ".join(f"'{op}'" for op in allowed)
            raise o.malformed(f"{where}.operator", f"{expected} for this left operand", operator)
        if (left, operator) in found:
            raise MalformedInput(
                f"协议格式错误 / malformed agreement at {where}: expected each left operand "
                "once (per operator), got a repeated one",
                details={"at": where},
            )
        try:
            found[left, operator] = _DECODERS[left](c["rightOperand"], f"{where}.rightOperand")
        except MalformedInput:
            raise
        except InvalidInput as exc:
            raise MalformedInput(
                f"协议格式错误 / malformed agreement at {where}.rightOperand: {exc.message}",
                details={"at": f"{where}.rightOperand"},
            ) from exc
    missing = [key[0] for key, required in _OPERANDS.items() if required and key not in found]
    if missing:
        raise MalformedInput(
            "协议格式错误 / malformed agreement at permission[0].constraint: expected a "
            f"'{missing[0]}' constraint, got none",
            details={"at": "permission[0].constraint", "missing": missing},
        )
    return found


def _output(found: Mapping[str, Any]) -> OutputSpec:
    mode: OutputMode = found[o.OUTPUT_MODE]
    group, k = found.get(o.MIN_GROUP_SIZE), found.get(o.K_ANONYMITY)
    if group is not None and mode not in AGGREGATE_MODES:
        raise o.malformed("permission[0].constraint", f"no minGroupSize for {mode.value}", group)
    if k is not None and mode is not OutputMode.K_ANONYMOUS:
        raise o.malformed("permission[0].constraint", f"no kAnonymity for {mode.value}", k)
    return OutputSpec(mode, min_group_size=group, k=k)


def _prohibitions(value: object) -> frozenset[str]:
    actions: set[str] = set()
    for i, item in enumerate(_list(value, "prohibition")):
        where = f"prohibition[{i}]"
        rule = _object(item, where)
        _keys(rule, frozenset({"action"}), where)
        action = rule["action"]
        if not isinstance(action, str) or action not in _PROHIBITED or action in actions:
            raise o.malformed(f"{where}.action", "distribute or dcp:reidentify, each once", action)
        actions.add(action)
    return frozenset(actions)


def read_agreement(document: object) -> tuple[dict[str, Any], frozenset[str]]:
    """The keyword arguments of ``GrantTerms`` and the prohibited actions of ``document``."""
    doc = _object(document, "the top level")
    _keys(doc, _KEYS, "the top level")
    context = doc["@context"]
    if context not in (o.DSP_CONTEXT, [o.DSP_CONTEXT]):
        raise o.malformed("@context", f"the DSP 2025-1 context {o.DSP_CONTEXT}", context)
    if doc["@type"] != "Agreement":
        raise o.malformed("@type", "'Agreement'", doc["@type"])
    if doc["profile"] != o.PROFILE:
        raise o.malformed("profile", f"the DataCompact profile {o.PROFILE}", doc["profile"])
    permissions = _list(doc["permission"], "permission")
    if len(permissions) != 1:
        raise o.malformed("permission", "exactly one permission", permissions)
    rule = _object(permissions[0], "permission[0]")
    _keys(rule, frozenset({"action", "constraint"}), "permission[0]")
    if rule["action"] != o.USE:
        raise o.malformed("permission[0].action", "'use'", rule["action"])
    found = _constraints(rule)
    # Every left operand but the per-query ε has one operator: index by it alone.
    value = {left: v for (left, _), v in found.items() if left != o.EPSILON_PER_QUERY}
    epsilon_range = {
        field: found[o.EPSILON_PER_QUERY, op]
        for field, op in (("epsilon_min", "gteq"), ("epsilon_max", "lteq"))
        if (o.EPSILON_PER_QUERY, op) in found
    }
    if epsilon_range and o.EPSILON not in value:
        raise o.malformed(
            "permission[0].constraint", "no epsilonPerQuery without an epsilon budget", None
        )
    for name in ("@id", "target", "assigner", "assignee"):
        if not isinstance(doc[name], str):
            raise o.malformed(name, "an IRI string", doc[name])
    try:
        output = _output(value)
    except MalformedInput:
        raise
    except InvalidInput as exc:
        raise MalformedInput(
            f"协议格式错误 / malformed agreement at permission[0].constraint: {exc.message}",
            details={"at": "permission[0].constraint"},
        ) from exc
    fields = {
        "agreement_id": doc["@id"],
        "target": doc["target"],
        "assigner": doc["assigner"],
        "assignee": doc["assignee"],
        "timestamp": o.parse_time(doc["timestamp"], "timestamp"),
        "purpose": value[o.PURPOSE],
        "expires": value[o.DATETIME],
        "max_queries": value[o.COUNT],
        "columns": value[o.COLUMN],
        "output": output,
        "epsilon": value.get(o.EPSILON),
        "row_filter": value.get(o.ROW_FILTER),
        # Absent from agreements issued before column constraints existed:
        # derived at query time.
        "column_constraints": value.get(o.COLUMN_CONSTRAINT),
        # Absent from agreements that allow no private set intersection.
        "psi_keys": value.get(o.PSI_KEY, ()),
        **epsilon_range,
    }
    return fields, _prohibitions(doc["prohibition"])
