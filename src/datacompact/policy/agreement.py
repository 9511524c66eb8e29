"""Grants as ODRL 2.2 Agreements in the Dataspace Protocol 2025-1 JSON-LD style.

A grant is an ``odrl:Agreement`` (ODRL 2.2 Information Model §2.1.3): it has
a ``target`` (the dataset), an ``assigner`` (the holder) and an ``assignee``
(the data user), and DSP 2025-1 (Contract Negotiation, "Agreement") adds its
``@id`` and ``timestamp``. It holds one permission to ``use`` the target
(§2.3) under these constraints (§2.5.1), all of which must hold at once:

===================  ========  ====================================================
left operand         operator  right operand
===================  ========  ====================================================
``purpose``          eq        ``{"@id": <purpose IRI>}`` (:mod:`.purposes`)
``dateTime``         lteq      the expiry, ``xsd:dateTime``
``count``            lteq      the maximum number of queries, ``xsd:integer``
``dcp:column``       isPartOf  the granted column names
``dcp:outputMode``   eq        ``{"@id": dcp:mode-<mode>}`` (:mod:`.modes`)
``dcp:minGroupSize`` gteq      distinct entities per group (aggregate modes)
``dcp:kAnonymity``   gteq      k (``k_anonymous``)
``dcp:epsilon``      lteq      the total privacy budget ε, ``xsd:decimal``
``dcp:epsilonPer…``  gteq      the least ε one DP query may spend (``epsilonPerQuery``)
``dcp:epsilonPer…``  lteq      the most ε one DP query may spend
``dcp:rowFilter``    eq        the rows in scope, a ``dcp:SqlPredicate``
``dcp:columnCons…``  eq        each granted column's constraint (``columnConstraint``),
                               a JSON literal ``{"district": "plain", ...}``
``dcp:psiKey``       isPartOf  the granted columns a private set intersection may
                               match on (absent: the grant allows no PSI)
===================  ========  ====================================================

The per-query ε range is written with the budget (grants without one have no
DP queries); it defaults to [0.01, 1]. The column constraints
are derived from the resource's PII types when the grant is issued; the
sandbox applies, per column, the stricter of them and of the derivation on the
resource as it is at query time. Agreements issued before either existed
parse with the default range and no constraints (derived at query time).

``dcp:`` is :data:`~datacompact.policy.purposes.DCP`, also the ``profile``.
Prohibitions (§2.4): ``distribute`` always, and ``dcp:reidentify`` for every
mode but ``records``.

:func:`parse_agreement` refuses anything it does not understand, because an
ODRL constraint that cannot be evaluated must not be taken as satisfied.
:func:`check_use` evaluates the terms for one query.
"""

from __future__ import annotations

import math
import re
import sys
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from datacompact.catalog.grading import Grade
from datacompact.errors import InvalidInput, MalformedInput, PolicyViolation
from datacompact.policy import _odrl as o
from datacompact.policy._agreement_parse import read_agreement
from datacompact.policy._constraints import (
    derive_constraints,
    effective_column_constraints,
    entity_column,
)
from datacompact.policy._spec import parse_mode
from datacompact.policy.modes import (
    OutputMode,
    OutputSpec,
    effective_constraints,
    mode_at_least_as_strict,
)
from datacompact.policy.purposes import DCP, Purpose, parse_purpose
from datacompact.sandbox.grants import CONSTRAINTS, ColumnConstraint

__all__ = [
    "DSP_CONTEXT",
    "GrantTerms",
    "agreement_parts",
    "build_agreement",
    "check_epsilon",
    "check_use",
    "joint_agreement",
    "parse_agreement",
]

DSP_CONTEXT = o.DSP_CONTEXT
MAX_QUERIES = 10_000_000
MAX_ROW_FILTER = 4000
#: No grant lets one DP query spend more than this.
EPSILON_CEILING = 1.0
#: No grant may set its per-query floor below this. Far smaller values only
#: make noise swamp every answer, and near the float limits the noise scale
#: (bound / ε) overflows in calibration after the SQL has run: a
#: data-dependent failure, as ``epsilon: 5e-324`` was.
EPSILON_FLOOR = 1e-6
#: The default range of the ε one DP query may spend.
EPSILON_MIN = 0.01
EPSILON_MAX = EPSILON_CEILING
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def mode_iri(mode: OutputMode) -> str:
    return f"{DCP}mode-{mode.value}"


def _identifier(value: object, what: str) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value) or len(value) > 512:
        raise MalformedInput(
            f"标识符格式错误 / malformed {what}: expected an IRI or URN such as "
            f"urn:uuid:…, got {o.kind(value)}",
            details={"field": what},
        )
    return value


def _columns(columns: Collection[str]) -> tuple[str, ...]:
    if isinstance(columns, str) or not isinstance(columns, Collection):
        raise MalformedInput(
            f"列格式错误 / malformed columns: expected a list of names, got {o.kind(columns)}"
        )
    names = list(columns)
    if not names:
        raise InvalidInput("未授权任何列 / no columns: expected at least one granted column")
    for name in names:
        if not isinstance(name, str) or not name.strip() or _CONTROL.search(name):
            raise MalformedInput(
                f"列名格式错误 / malformed column name: expected a name, got {o.kind(name)}"
            )
    if len(set(names)) != len(names):
        raise InvalidInput("列重复 / duplicate columns: expected each column once")
    return tuple(sorted(names))


def _constraint_map(value: object, columns: tuple[str, ...]) -> Mapping[str, ColumnConstraint]:
    """``value`` as a read-only map of every granted column, in column order, to its constraint."""
    if not isinstance(value, Mapping):
        raise MalformedInput(
            "列约束格式错误 / malformed column constraints: expected a mapping of column to "
            f"constraint, got {o.kind(value)}"
        )
    if set(value) != set(columns):
        raise InvalidInput(
            "列约束与授权列不一致 / column constraints: expected one for each granted column "
            "and no other, got another set",
            details={"field": "column_constraints"},
        )
    if any(value[c] not in CONSTRAINTS for c in columns):
        raise InvalidInput(
            f"未知的列约束 / unknown column constraint: expected one of {', '.join(CONSTRAINTS)}",
            details={"field": "column_constraints"},
        )
    return MappingProxyType({c: value[c] for c in columns})


@dataclass(frozen=True)
class GrantTerms:
    """The terms of one grant, checked when built; ``output`` has its parameters filled.

    ``max_queries`` is the total number of queries the grant allows and
    ``epsilon`` its total privacy budget (``None``: no DP queries);
    ``epsilon_min`` and ``epsilon_max`` bound the ε of one DP query.
    ``column_constraints`` maps every granted column to its constraint, or is
    ``None`` for an agreement issued before constraints existed.
    """

    agreement_id: str
    target: str
    assigner: str
    assignee: str
    timestamp: datetime
    purpose: Purpose
    expires: datetime
    max_queries: int
    columns: tuple[str, ...]
    output: OutputSpec
    epsilon: float | None = None
    row_filter: str | None = None
    column_constraints: Mapping[str, ColumnConstraint] | None = None
    epsilon_min: float = EPSILON_MIN
    epsilon_max: float = EPSILON_MAX
    #: The granted columns a private set intersection may match on.
    psi_keys: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            parsed = uuid.UUID(self.agreement_id.removeprefix("urn:uuid:"))
        except (AttributeError, ValueError):
            parsed = None
        if parsed is None or not self.agreement_id.startswith("urn:uuid:"):
            raise MalformedInput(
                "协议标识格式错误 / malformed agreement id: expected urn:uuid:<uuid>, got "
                f"{o.kind(self.agreement_id)}"
            )
        for what in ("target", "assigner", "assignee"):
            _identifier(getattr(self, what), what)
        object.__setattr__(self, "purpose", parse_purpose(self.purpose))
        object.__setattr__(self, "timestamp", o.utc(self.timestamp, "timestamp"))
        object.__setattr__(self, "expires", o.utc(self.expires, "expires"))
        if self.expires <= self.timestamp:
            raise InvalidInput(
                "到期时间无效 / invalid expiry: expected a time after the agreement's timestamp",
                details={"field": "expires"},
            )
        count = self.max_queries
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_QUERIES:
            raise InvalidInput(
                f"查询次数无效 / invalid max_queries: expected an integer from 1 to {MAX_QUERIES}",
                details={"field": "max_queries"},
            )
        object.__setattr__(self, "columns", _columns(self.columns))
        if not isinstance(self.output, OutputSpec):
            raise MalformedInput(
                f"输出方式格式错误 / malformed output: expected an OutputSpec, got {o.kind(self.output)}"
            )
        self._check_budget()
        self._check_epsilon_range()
        self._check_row_filter()
        self._check_column_constraints()
        self._check_psi_keys()

    def _check_psi_keys(self) -> None:
        keys = _columns(self.psi_keys) if self.psi_keys else ()
        if set(keys) - set(self.columns):
            raise InvalidInput(
                "PSI 键须为授权列 / invalid psi_keys: expected granted columns",
                details={"field": "psi_keys"},
            )
        object.__setattr__(self, "psi_keys", keys)

    def _check_budget(self) -> None:
        eps = self.epsilon
        if eps is not None:
            if isinstance(eps, bool) or not isinstance(eps, int | float):
                raise MalformedInput(
                    f"隐私预算格式错误 / malformed epsilon: expected a number, got {o.kind(eps)}"
                )
            if not (math.isfinite(eps) and eps > 0):
                raise InvalidInput(
                    "隐私预算无效 / invalid epsilon: expected a positive, finite budget",
                    details={"field": "epsilon"},
                )
            object.__setattr__(self, "epsilon", float(eps))
        if self.output.mode is OutputMode.DP_AGGREGATES and eps is None:
            raise InvalidInput(
                "缺少隐私预算 / dp_aggregates needs a privacy budget: expected epsilon, got none",
                details={"field": "epsilon"},
            )

    def _check_epsilon_range(self) -> None:
        for name in ("epsilon_min", "epsilon_max"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise MalformedInput(
                    f"ε 范围格式错误 / malformed {name}: expected a number, got {o.kind(value)}"
                )
            # NaN fails every comparison; Python compares a huge int with a float exactly.
            if not EPSILON_FLOOR <= value <= EPSILON_CEILING:
                raise InvalidInput(
                    f"ε 范围无效 / invalid {name}: expected a finite number from "
                    f"{EPSILON_FLOOR:g} to {EPSILON_CEILING:g}",
                    details={"field": name},
                )
            object.__setattr__(self, name, float(value))
        if self.epsilon_min > self.epsilon_max:
            raise InvalidInput(
                "ε 范围无效 / invalid ε range: expected epsilon_min ≤ epsilon_max",
                details={"field": "epsilon_min"},
            )
        if self.epsilon is None and (self.epsilon_min, self.epsilon_max) != (
            EPSILON_MIN,
            EPSILON_MAX,
        ):
            raise InvalidInput(
                "ε 范围需要隐私预算 / an ε range per query needs a privacy budget: expected "
                "epsilon, got none",
                details={"field": "epsilon"},
            )

    def _check_column_constraints(self) -> None:
        if self.column_constraints is not None:
            checked = _constraint_map(self.column_constraints, self.columns)
            object.__setattr__(self, "column_constraints", checked)

    def _check_row_filter(self) -> None:
        text = self.row_filter
        if text is None:
            return
        if (
            not isinstance(text, str)
            or not text.strip()
            or _CONTROL.search(text.replace("\n", " ").replace("\t", " "))
        ):
            raise MalformedInput(
                f"行过滤格式错误 / malformed row filter: expected a SQL predicate, got {o.kind(text)}"
            )
        if len(text) > MAX_ROW_FILTER:
            raise InvalidInput(
                f"行过滤过长 / row filter too long: expected at most {MAX_ROW_FILTER} characters",
                details={"field": "row_filter"},
            )

    @property
    def prohibitions(self) -> tuple[str, ...]:
        """The prohibited actions that follow from the output mode."""
        if self.output.mode is OutputMode.RECORDS:
            return (o.DISTRIBUTE,)
        return (o.DISTRIBUTE, o.REIDENTIFY)

    def to_jsonld(self) -> dict[str, Any]:
        """The DSP 2025-1 JSON-LD Agreement; :func:`parse_agreement` reads it back."""
        c = o.constraint
        rules = [
            c(o.PURPOSE, "eq", {"@id": self.purpose.iri}),
            c(o.DATETIME, "lteq", o.typed(o.format_time(self.expires), o.XSD_DATETIME)),
            c(o.COUNT, "lteq", o.format_integer(self.max_queries)),
            c(o.COLUMN, "isPartOf", list(self.columns)),
            c(o.OUTPUT_MODE, "eq", {"@id": mode_iri(self.output.mode)}),
        ]
        if self.output.min_group_size is not None:
            rules.append(c(o.MIN_GROUP_SIZE, "gteq", o.format_integer(self.output.min_group_size)))
        if self.output.k is not None:
            rules.append(c(o.K_ANONYMITY, "gteq", o.format_integer(self.output.k)))
        if self.epsilon is not None:
            rules.append(c(o.EPSILON, "lteq", o.format_decimal(self.epsilon)))
            rules.append(c(o.EPSILON_PER_QUERY, "gteq", o.format_decimal(self.epsilon_min)))
            rules.append(c(o.EPSILON_PER_QUERY, "lteq", o.format_decimal(self.epsilon_max)))
        if self.row_filter is not None:
            rules.append(c(o.ROW_FILTER, "eq", o.typed(self.row_filter, o.SQL_PREDICATE)))
        if self.column_constraints is not None:
            constraints = o.json_literal(dict(self.column_constraints))
            rules.append(c(o.COLUMN_CONSTRAINT, "eq", constraints))
        if self.psi_keys:
            rules.append(c(o.PSI_KEY, "isPartOf", list(self.psi_keys)))
        return {
            "@context": [DSP_CONTEXT],
            "@type": "Agreement",
            "@id": self.agreement_id,
            "profile": o.PROFILE,
            "target": self.target,
            "assigner": self.assigner,
            "assignee": self.assignee,
            "timestamp": o.format_time(self.timestamp),
            "permission": [{"action": o.USE, "constraint": rules}],
            "prohibition": [{"action": action} for action in self.prohibitions],
        }


def build_agreement(
    *,
    target: str,
    assigner: str,
    assignee: str,
    purpose: Purpose | str,
    expires: datetime,
    max_queries: int,
    columns: Collection[str],
    output: OutputSpec,
    grade: Grade | str,
    timestamp: datetime,
    epsilon: float | None = None,
    row_filter: str | None = None,
    agreement_id: str | None = None,
    open_data: bool = False,
    regulator_approved: bool = False,
    pii: Mapping[str, Collection[str]] | None = None,
    numeric: Collection[str] = (),
    column_constraints: Mapping[str, ColumnConstraint] | None = None,
    epsilon_min: float = EPSILON_MIN,
    epsilon_max: float = EPSILON_MAX,
    psi_keys: Collection[str] = (),
) -> dict[str, Any]:
    """The Agreement for a grant on a resource of ``grade``.

    ``output`` must be at least as strict as the grade's default
    (:func:`~datacompact.policy.modes.effective_constraints`); otherwise
    :class:`PolicyViolation` names the rule. Its unset parameters take the
    grade's values, so the agreement states them explicitly. ``timestamp`` is
    the moment of the decision (no clock is read here).

    ``pii`` maps each column of the resource to its detected PII types and
    ``numeric`` names its numeric columns (:func:`.pii_types` and
    :func:`.numeric_columns` of the current version); with them the
    agreement states each granted column's derived constraint, made stricter
    where ``column_constraints`` asks for it. Without either, the agreement
    carries no constraints and the sandbox derives them at query time.
    """
    granted = _columns(columns)
    types = {c: pii.get(c, ()) for c in granted} if pii is not None else None
    effective = effective_constraints(
        grade=grade,
        requested=output,
        columns=types,
        open_data=open_data,
        regulator_approved=regulator_approved,
    )
    constraints = column_constraints
    if constraints is not None:
        constraints = _constraint_map(constraints, granted)
    if pii is not None and types is not None:
        derived = derive_constraints(
            mode=effective.mode,
            pii=types,
            masks=effective.masks,
            numeric=numeric,
            entity=entity_column(pii)[0],
        )
        constraints = effective_column_constraints(constraints, derived)
    terms = GrantTerms(
        agreement_id=agreement_id or f"urn:uuid:{uuid.uuid4()}",
        target=target,
        assigner=assigner,
        assignee=assignee,
        timestamp=timestamp,
        purpose=parse_purpose(purpose),
        expires=expires,
        max_queries=max_queries,
        columns=granted,
        output=effective.spec(),
        epsilon=epsilon,
        row_filter=row_filter,
        column_constraints=constraints,
        epsilon_min=epsilon_min,
        epsilon_max=epsilon_max,
        psi_keys=tuple(psi_keys),
    )
    return terms.to_jsonld()


def parse_agreement(document: object) -> GrantTerms:
    """The :class:`GrantTerms` of an Agreement built by :func:`build_agreement`.

    Every malformed case raises :class:`MalformedInput` ("expected X, got Y");
    values that parse but break a rule raise :class:`InvalidInput`.
    """
    fields, prohibited = read_agreement(document)
    terms = GrantTerms(**fields)
    expected = set(terms.prohibitions)
    if prohibited != expected:
        raise MalformedInput(
            "禁止条款不符 / malformed agreement at prohibition: expected "
            f"{', '.join(sorted(expected))} for mode {terms.output.mode.value}, got another set",
            details={"at": "prohibition"},
        )
    return terms


#: The keys a permission of a joint agreement adds to ``action`` and ``constraint``.
_PART_KEYS = frozenset({"target", "assigner"})


def joint_agreement(documents: Sequence[Mapping[str, Any]], *, target: str) -> dict[str, Any]:
    """One Agreement over several resources: one permission per resource.

    ``documents`` are the agreements :func:`build_agreement` wrote for each
    resource of a multi-holder scenario, with the same ``@id``, assignee and
    timestamp. ODRL 2.2 (§2.3, "a Rule may have its own target and assigner")
    lets each permission name its own ``target`` and ``assigner``; the
    agreement's own ``target`` names the scenario as a whole (an asset
    collection) and its ``assigner`` is the first resource's holder, because
    the DSP schema needs one of each. The prohibitions are the union of the
    parts': every resource's holder forbids what its mode forbids.
    """
    if len(documents) < 2:
        raise InvalidInput(
            "联合授权至少包含两个资源 / a joint agreement covers at least two resources"
        )
    first = documents[0]
    for doc in documents[1:]:
        for key in ("@id", "assignee", "timestamp"):
            if doc[key] != first[key]:
                raise InvalidInput(
                    f"联合授权的各部分须一致 / the parts of a joint agreement differ in {key}"
                )
    prohibited: set[str] = set()
    permissions = []
    for doc in documents:
        prohibited |= {p["action"] for p in doc["prohibition"]}
        (rule,) = doc["permission"]
        permissions.append({"target": doc["target"], "assigner": doc["assigner"], **rule})
    return {
        "@context": first["@context"],
        "@type": "Agreement",
        "@id": first["@id"],
        "profile": first["profile"],
        "target": _identifier(target, "target"),
        "assigner": first["assigner"],
        "assignee": first["assignee"],
        "timestamp": first["timestamp"],
        "permission": permissions,
        "prohibition": [{"action": a} for a in (o.DISTRIBUTE, o.REIDENTIFY) if a in prohibited],
    }


def agreement_parts(document: object) -> tuple[GrantTerms, ...]:
    """The terms of every resource an Agreement covers, in its order.

    An agreement with one permission and no per-permission target is
    :func:`parse_agreement`'s; a joint one (:func:`joint_agreement`) yields
    one :class:`GrantTerms` per permission, with that permission's target and
    assigner, each checked exactly as a single agreement would be. The joint
    prohibitions must be the union of what each part's mode forbids.
    """
    if not isinstance(document, Mapping):
        return (parse_agreement(document),)
    permissions = document.get("permission")
    if not (
        isinstance(permissions, list)
        and permissions
        and all(isinstance(p, Mapping) and set(p) >= _PART_KEYS for p in permissions)
        and len(permissions) >= 2
    ):
        return (parse_agreement(document),)
    parts = []
    for i, permission in enumerate(permissions):
        rule = {k: v for k, v in permission.items() if k not in _PART_KEYS}
        sub = {
            **document,
            "target": permission["target"],
            "assigner": permission["assigner"],
            "permission": [rule],
        }
        try:
            fields, prohibited = read_agreement(sub)
        except MalformedInput as exc:
            raise MalformedInput(
                f"协议格式错误 / malformed agreement at permission[{i}]: {exc.message}",
                details={"at": f"permission[{i}]"},
            ) from None
        parts.append(GrantTerms(**fields))
    expected = {a for t in parts for a in t.prohibitions}
    if prohibited != expected:
        raise MalformedInput(
            "禁止条款不符 / malformed agreement at prohibition: expected "
            f"{', '.join(sorted(expected))} for the parts' modes, got another set",
            details={"at": "prohibition"},
        )
    targets = [t.target for t in parts]
    if len(set(targets)) != len(targets):
        raise MalformedInput(
            "协议格式错误 / malformed agreement at permission: expected each target once",
            details={"at": "permission"},
        )
    return tuple(parts)


def strictest_mode(parts: Sequence[GrantTerms]) -> OutputMode:
    """The strictest output mode among an agreement's parts."""
    mode = parts[0].output.mode
    for terms in parts[1:]:
        if mode_at_least_as_strict(terms.output.mode, mode):
            mode = terms.output.mode
    return mode


def _refuse(rule: str, message: str, **details: Any) -> PolicyViolation:
    return PolicyViolation(message, details={"rule": rule, **details})


def check_epsilon(terms: GrantTerms, epsilon: float | None) -> float:
    """The ε one DP query under ``terms`` spends: ``epsilon`` if in range, else a refusal.

    Without ``epsilon``, the grant's share per query: its budget over its
    queries, capped at ``epsilon_max`` and raised to ``epsilon_min``. A value
    that is not a positive, finite, normal number of at most 1 (no grant allows
    more) raises :class:`InvalidInput` (a subnormal ε such as ``5e-324`` would
    overflow the noise calibration after the SQL ran); one outside the grant's
    range raises
    :class:`PolicyViolation` with rule ``epsilon.range``. Both happen before
    any data is read. A grant without a budget has no DP queries.

    >>> from datetime import UTC
    >>> terms = parse_agreement(build_agreement(
    ...     target="urn:x:t", assigner="urn:x:a", assignee="urn:x:b", purpose="research",
    ...     expires=datetime(2030, 1, 1, tzinfo=UTC), timestamp=datetime(2025, 1, 1, tzinfo=UTC),
    ...     max_queries=100, columns=["age"], output=OutputSpec("dp_aggregates"), grade="important",
    ...     epsilon=2.0))
    >>> check_epsilon(terms, None), check_epsilon(terms, 0.5)
    (0.02, 0.5)
    """
    if terms.epsilon is None:
        raise _refuse("grant.budget", "授权无隐私预算 / the grant has no privacy budget")
    if epsilon is None:
        share = terms.epsilon / terms.max_queries
        return max(terms.epsilon_min, min(terms.epsilon_max, share))
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float):
        raise InvalidInput(
            f"ε 格式错误 / invalid epsilon: expected a number, got {o.kind(epsilon)}",
            details={"field": "epsilon", "rule": "epsilon.invalid"},
        )
    # Python compares a huge int with a float exactly; float() is safe once in range.
    normal = isinstance(epsilon, int) or epsilon >= sys.float_info.min
    if not (0 < epsilon <= EPSILON_CEILING and normal):
        raise InvalidInput(
            "ε 无效 / invalid epsilon: expected a positive, finite, normal number of at most "
            f"{EPSILON_CEILING:g}",
            details={"field": "epsilon", "rule": "epsilon.invalid"},
        )
    if not terms.epsilon_min <= epsilon <= terms.epsilon_max:
        raise _refuse(
            "epsilon.range",
            f"ε 超出授权范围 / epsilon out of range: this grant allows {terms.epsilon_min:g} to "
            f"{terms.epsilon_max:g} per query",
            min=terms.epsilon_min,
            max=terms.epsilon_max,
        )
    return float(epsilon)


def check_use(
    terms: GrantTerms,
    *,
    now: datetime,
    queries_so_far: int,
    epsilon_spent: float,
    columns: Collection[str],
    mode: OutputMode | str,
    epsilon: float = 0.0,
    purpose: Purpose | str | None = None,
) -> None:
    """Allow one more query under ``terms`` or raise :class:`PolicyViolation` with its rule.

    ``queries_so_far`` and ``epsilon_spent`` are the grant's use before this
    query; ``epsilon`` is what this query would spend, ``columns`` the columns
    it touches and ``mode`` its output mode, which may be stricter than the
    grant's but not looser. ``purpose``, when given, must be the grant's.
    Revocation and suspension are states of the stored grant, checked by its
    service before this function.
    """
    moment = o.utc(now, "now")
    for name, value in (("queries_so_far", queries_so_far), ("epsilon_spent", epsilon_spent)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise InvalidInput(f"用量无效 / invalid {name}: expected a number ≥ 0")
    if isinstance(epsilon, bool) or not isinstance(epsilon, int | float) or not epsilon >= 0:
        raise InvalidInput("ε 无效 / invalid epsilon: expected a number ≥ 0")
    if moment > terms.expires:
        raise _refuse(
            "grant.expired",
            f"授权已过期 / the grant expired at {o.format_time(terms.expires)}",
            expires=o.format_time(terms.expires),
        )
    if queries_so_far >= terms.max_queries:
        raise _refuse(
            "grant.count",
            f"查询次数已用完 / the grant's {terms.max_queries} queries are used up",
            max_queries=terms.max_queries,
        )
    if purpose is not None and parse_purpose(purpose) is not terms.purpose:
        raise _refuse(
            "grant.purpose",
            f"用途不符 / the purpose is not the grant's: expected {terms.purpose.value}",
            purpose=terms.purpose.value,
        )
    query_mode = parse_mode(mode)
    _check_query_shape(terms, columns, query_mode)
    _check_budget(terms, epsilon_spent, float(epsilon), query_mode)


def _check_query_shape(terms: GrantTerms, columns: Collection[str], mode: OutputMode) -> None:
    if isinstance(columns, str):
        columns = (columns,)
    ungranted = sorted(set(columns) - set(terms.columns))
    if ungranted:
        raise _refuse(
            "grant.columns",
            f"列未授权 / column {ungranted[0]} is not granted",
            columns=ungranted,
        )
    if not mode_at_least_as_strict(mode, terms.output.mode):
        raise _refuse(
            "grant.mode",
            f"输出方式超出授权 / output mode {mode.value} is looser than the "
            f"grant's {terms.output.mode.value}",
            mode=terms.output.mode.value,
        )


def _check_budget(terms: GrantTerms, spent: float, epsilon: float, mode: OutputMode) -> None:
    noisy = mode is OutputMode.DP_AGGREGATES
    if noisy and epsilon <= 0:
        raise InvalidInput("差分隐私查询须消耗 ε / a DP query must spend ε > 0")
    if epsilon <= 0:
        return
    if terms.epsilon is None:
        raise _refuse("grant.budget", "授权无隐私预算 / the grant has no privacy budget")
    if not math.isfinite(epsilon) or spent + epsilon > terms.epsilon:
        raise _refuse(
            "grant.budget",
            f"隐私预算不足 / the query needs ε={epsilon:g} but ε={max(terms.epsilon - spent, 0):g} "
            f"of the grant's ε={terms.epsilon:g} is left",
            budget=terms.epsilon,
            remaining=max(terms.epsilon - spent, 0.0),
        )
