"""The bridge from a stored grant to the sandbox's :class:`~datacompact.sandbox.GrantView`.

A grant's ODRL agreement says which columns, which output mode and which row
filter; the resource says how the data is graded today and which columns
hold personal information. Both are read at query time, so a grade raised
since the grant was issued tightens every later query (or stops it when the
grant's mode is no longer allowed), and a grade under review stops them all.

Masks come from :func:`~datacompact.policy.modes.effective_constraints` (the
PII types of each column) and are mapped one to one onto the sandbox's mask
functions; a mask the sandbox cannot apply refuses the query rather than
letting the column through unmasked.

Column constraints are derived the same way, at query time, by
:func:`~datacompact.policy._constraints.derive_constraints`; each column gets
the stricter of that and of the constraint its agreement states, so a grade
raised since the grant was issued tightens them too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from datacompact.errors import PolicyViolation
from datacompact.policy._constraints import (
    ENTITY_TYPES,
    derive_constraints,
    effective_column_constraints,
    entity_column,
    numeric_columns,
    pii_types,
)
from datacompact.policy._issuance import counts_as_open_data
from datacompact.policy._masks import ColumnMask, column_masks
from datacompact.policy.agreement import GrantTerms, check_epsilon
from datacompact.policy.modes import effective_constraints, grade_rule
from datacompact.sandbox import ColumnConstraint, ColumnRule, GrantedTable, GrantView
from datacompact.sandbox.grants import AppliedMask, MaskKind, is_plain_name, stricter_constraint
from datacompact.store.models import Grant, Resource, ResourceVersion


def table_name(resource: Resource) -> str:
    """The name a grant's resource has in SQL: its English name as an identifier, or ``r<id>``.

    >>> table_name(Resource(id=7, name_en="Social insurance contributions"))
    'social_insurance_contributions'
    >>> table_name(Resource(id=7, name_en=None))
    'r7'
    """
    slug = re.sub(r"[^a-z0-9]+", "_", (resource.name_en or "").lower()).strip("_")[:40]
    return slug if slug and is_plain_name(slug) else f"r{resource.id}"


def table_names(resources: Sequence[Resource]) -> dict[int, str]:
    """Each resource's table name in a grant's SQL; a name two resources share becomes ``r<id>``."""
    names = {r.id: table_name(r) for r in resources}
    taken = list(names.values())
    return {i: n if taken.count(n) == 1 else f"r{i}" for i, n in names.items()}


def _refuse(rule: str, zh: str, en: str, **details: Any) -> PolicyViolation:
    return PolicyViolation(f"{zh} / {en}", details={"rule": rule, **details})


def _column_rule(
    mask: ColumnMask | None, *, entity_key: bool, constraint: ColumnConstraint
) -> ColumnRule:
    if mask is None or mask.kind is MaskKind.CLEAR:
        return ColumnRule(entity_key=entity_key, constraint=constraint)
    params = mask.params
    if mask.kind is MaskKind.PSEUDONYM and params.get("size", 16) == 16:
        return ColumnRule(mask="pseudonym", entity_key=entity_key, constraint=constraint)
    if mask.kind is MaskKind.PARTIAL:
        keep = (int(params.get("keep_first", 1)), int(params.get("keep_last", 1)))
        return ColumnRule(mask="partial", keep=keep, entity_key=entity_key, constraint=constraint)
    if mask.kind is MaskKind.TRUNCATE and params.get("unit") in ("year", "month"):
        kind: AppliedMask = "truncate_year" if params["unit"] == "year" else "truncate_date"
        return ColumnRule(mask=kind, entity_key=entity_key, constraint=constraint)
    if mask.kind is MaskKind.REDACT:
        return ColumnRule(mask="redact", entity_key=entity_key, constraint=constraint)
    raise _refuse(
        "engine_capability",
        f"沙箱无法对列 {mask.column} 应用该掩码",
        f"the sandbox cannot apply mask {mask.kind.value} {dict(params)} to column {mask.column}",
        column=mask.column,
    )


def grant_view(
    *,
    grant: Grant,
    terms: GrantTerms,
    resource: Resource,
    version: ResourceVersion,
    home: Path,
    regulator_approved: bool,
) -> GrantView:
    """The sandbox view of ``grant`` on the current ``version`` of its resource."""
    table = granted_table(
        terms=terms,
        resource=resource,
        version=version,
        home=home,
        regulator_approved=regulator_approved,
        name=table_name(resource),
    )
    return GrantView(
        grant_id=str(grant.id),
        tables={table.name: table},
        epsilon_per_query=_epsilon_per_query(terms),
    )


@dataclass(frozen=True)
class PartInput:
    """One resource of a joint grant as its view is built from it."""

    terms: GrantTerms
    resource: Resource
    version: ResourceVersion


def joint_grant_view(
    *,
    grant: Grant,
    inputs: Sequence[PartInput],
    home: Path,
    regulator_approved: bool,
) -> GrantView:
    """The sandbox view of a joint grant: one table per resource, each under its own terms.

    Each table keeps its own output mode, masks and thresholds, so a query
    reading several runs under the strictest mode among them (the analyzer
    takes it) and counts distinct entities of each table it joins (the entity
    threshold). Identifier columns (:data:`ENTITY_TYPES`: resident IDs,
    USCCs, phone numbers, ...) become keyed pseudonyms in every table, the
    clear ones too: the pseudonym key is the grant's own (HKDF of the
    platform's pseudonym key with ``grant:<id>``), the same in each table,
    so equal keys still join while no identifier value reaches the query,
    and pseudonyms of two grants never match. A redacted identifier stays
    redacted (it joins nothing).
    """
    names = table_names([i.resource for i in inputs])
    tables = {}
    for item in inputs:
        table = granted_table(
            terms=item.terms,
            resource=item.resource,
            version=item.version,
            home=home,
            regulator_approved=regulator_approved,
            name=names[item.resource.id],
        )
        tables[table.name] = _pseudonymized_keys(table, pii_types(item.version))
    tables = _same_key_constraint(tables)
    budgets = [i.terms for i in inputs if i.terms.epsilon is not None]
    return GrantView(
        grant_id=str(grant.id),
        tables=tables,
        epsilon_per_query=_epsilon_per_query(budgets[0] if budgets else inputs[0].terms),
    )


def _pseudonymized_keys(table: GrantedTable, pii: dict[str, list[str]]) -> GrantedTable:
    columns = dict(table.columns)
    for name, rule in table.columns.items():
        identifying = any(t in ENTITY_TYPES for t in pii.get(name, ()))
        if identifying and rule.mask != "redact":
            columns[name] = replace(rule, mask="pseudonym")
    return replace(table, columns=columns)


def _same_key_constraint(tables: dict[str, GrantedTable]) -> dict[str, GrantedTable]:
    """Give every pseudonymized key of the grant the strictest constraint among them.

    The sandbox joins a constrained key only with a key of the same
    constraint (a ``plain`` key joined with a ``join_only`` one could carry
    the other side's membership out row by row). The applicant's own
    identifier therefore becomes ``join_only`` when a holder's is: its other
    columns still come back as its own grade allows.
    """
    keys = [
        (name, column)
        for name, table in tables.items()
        for column, rule in table.columns.items()
        if rule.mask == "pseudonym" and rule.constraint != "none"
    ]
    if not keys:
        return tables
    strictest = tables[keys[0][0]].columns[keys[0][1]].constraint
    for name, column in keys[1:]:
        strictest = stricter_constraint(strictest, tables[name].columns[column].constraint)
    out = dict(tables)
    for name, column in keys:
        columns = dict(out[name].columns)
        columns[column] = replace(columns[column], constraint=strictest)
        out[name] = replace(out[name], columns=columns)
    return out


def granted_table(
    *,
    terms: GrantTerms,
    resource: Resource,
    version: ResourceVersion,
    home: Path,
    regulator_approved: bool,
    name: str,
) -> GrantedTable:
    """The sandbox table of one resource under ``terms``, named ``name``."""
    if resource.grade is None or resource.grade_status == "proposed":
        raise _refuse(
            "resource.grade_unconfirmed",
            f"资源 {resource.code} 的分级待确认，暂停查询",
            f"the grade of resource {resource.code} is under review; queries wait for it",
            resource_id=resource.id,
        )
    pii = pii_types(version)
    columns = {c: pii.get(c, []) for c in terms.columns}
    for column in columns:
        if column not in pii:
            raise _refuse(
                "grant.columns",
                f"列 {column} 已不在资源的当前版本中",
                f"column {column} is no longer in the resource's current version",
                column=column,
            )
        if not is_plain_name(column):
            raise _refuse(
                "engine_capability",
                f"列名 {column} 无法在沙箱中查询",
                f"column {column} cannot be queried in the sandbox: its name is not a plain "
                "identifier (lowercase letters, digits, '_' or Chinese characters)",
                column=column,
            )
    # Raises if the grade rose above what the grant's mode allows.
    constraints = effective_constraints(
        grade=resource.grade,
        requested=terms.output,
        columns=columns,
        open_data=counts_as_open_data(resource),
        regulator_approved=regulator_approved,
    )
    masks = {m.column: m for m in constraints.masks}
    entity, personal_key = entity_column(pii)
    derived = derive_constraints(
        mode=constraints.mode,
        pii=columns,
        masks=constraints.masks,
        numeric=numeric_columns(version),
        entity=entity,
    )
    agreed = effective_column_constraints(terms.column_constraints, derived)
    mode = constraints.mode.value
    if mode in ("aggregates", "dp_aggregates") and entity is None:
        raise _refuse(
            "grant.entity",
            "资源没有可识别的实体列，无法按实体数设定分组阈值",
            "the resource has no identifier column to count distinct entities for group "
            "thresholds; aggregate queries are refused",
            resource_id=resource.id,
        )
    return GrantedTable(
        name=name,
        parquet_path=str(home / version.path),
        columns={
            c: _column_rule(
                masks.get(c), entity_key=personal_key and c == entity, constraint=agreed[c]
            )
            for c in terms.columns
        },
        row_filter=terms.row_filter,
        output_mode=mode,  # type: ignore[arg-type]
        min_group_entities=constraints.min_group_size or 10,
        entity_column=entity,
    )


def _epsilon_per_query(terms: GrantTerms) -> float:
    """The grant's default ε per DP query (:func:`check_epsilon`); 1.0 where nothing is DP."""
    return 1.0 if terms.epsilon is None else check_epsilon(terms, None)


def column_constraints(
    *, terms: GrantTerms, resource: Resource, version: ResourceVersion
) -> dict[str, ColumnConstraint]:
    """The constraints the grantee's queries are checked against, as far as they are known now.

    The same derivation as :func:`grant_view` on the resource as it is, but
    for display: where the grade is not confirmed yet, the masks of a masked
    grade are assumed (the stricter reading) instead of stopping.
    """
    pii = pii_types(version)
    columns = {c: pii.get(c, []) for c in terms.columns}
    grade = resource.grade if resource.grade_status != "proposed" else None
    masked = grade is None or grade_rule(grade, open_data=counts_as_open_data(resource)).masked
    derived = derive_constraints(
        mode=terms.output.mode,
        pii=columns,
        masks=column_masks(columns) if masked else (),
        numeric=numeric_columns(version),
        entity=entity_column(pii)[0],
    )
    return effective_column_constraints(terms.column_constraints, derived)
