"""What a governed result says about how it was protected, from the plan alone.

Every answer states whether groups may have been suppressed and at which
threshold, whether noise was added (with ε and δ), and whether values were
masked or generalized. Everything here is a function of the plan, the grant
and the mode, never of a row: the statement itself must not be a side channel.

That is why the *number* of suppressed groups is disclosed only where it is
known without reading data. Under ``records``, ``masked_records`` and a DP
release without group keys nothing can be suppressed, so it is 0. Under
``aggregates`` it is withheld (``None``): the count of groups below k, even as
a yes/no, changes with one record (``WHERE income = 1234.5 GROUP BY district``
suppresses one group exactly when that person exists), which is an exact
membership oracle the mode does not release. Under ``dp_aggregates`` the
exact count would bypass the noisy selection; a noisy count would need a
share of the query's ε that its aggregates would lose, so it is withheld too.
Under ``k_anonymous`` rows are suppressed once, in the stored release, whose
receipt (``release.computed``) states how many; a query suppresses nothing
more, so the query's own count is 0.
"""

from __future__ import annotations

from datacompact.policy.schemas import ResultProtection
from datacompact.sandbox.engine import source_tables
from datacompact.sandbox.plan import Plan
from datacompact.sandbox.rules.dp_release import release_calibration

#: Masks that coarsen a value rather than hide or replace it.
_GENERALIZING = frozenset({"truncate_date", "truncate_year"})

_NOTES = {
    "records": "未做抑制、加噪或泛化 / nothing suppressed, no noise, no generalization",
    "masked_records": "按授权脱敏，未抑制任何行 / values masked as granted; no row suppressed",
    "k_anonymous": (
        "行来自已泛化的 k-匿名发布；发布时抑制的记录数见其回执 / rows come from the "
        "generalized k-anonymous release; the records it suppressed are stated in its receipt"
    ),
    "aggregates": (
        "实体数少于阈值的分组不发布；被抑制的分组数不予披露（会泄露单条记录）/ groups with "
        "fewer distinct entities than the threshold are not released; how many were suppressed "
        "is withheld, since even that count can reveal one record"
    ),
    "dp_aggregates": (
        "分组按带噪计数选择，聚合值已加噪；被抑制的分组数不予披露 / groups were selected on a "
        "noisy count and every aggregate carries noise; how many groups were left out is withheld"
    ),
}


def protection(plan: Plan, mode: str, *, epsilon: float, delta: float) -> ResultProtection:
    """How the answer to ``plan`` under ``mode`` was protected; reads no data."""
    tables = [plan.grant.tables[t] for t in source_tables(plan) if t in plan.grant.tables]
    masks = {
        rule.mask
        for table in tables
        for name, rule in table.columns.items()
        if rule.mask is not None and name in plan.touched.get(table.name, frozenset())
    }
    dp = bool(plan.dp_aggregates)
    threshold: int | None = None
    suppressed: int | None = 0
    suppression = "none"
    if mode == "aggregates":
        suppression = "group_threshold"
        thresholds = [t.min_group_entities for t in tables if t.entity_column]
        threshold = min(thresholds) if thresholds else None
        suppressed = None
    elif dp and plan.dp_keys:
        suppression = "noisy_threshold"
        selection = release_calibration(plan).selection
        threshold = selection.threshold if selection is not None else None
        suppressed = None
    elif mode == "k_anonymous":
        suppression = "k_anonymous_release"
    note = _NOTES.get(mode, _NOTES["records"])
    if dp and not plan.dp_keys:
        note = "全局聚合恒发布，数值已加噪 / a global aggregate is always released, with noise"
    return ResultProtection(
        mode=mode,
        suppression=suppression,
        suppression_threshold=threshold,
        groups_suppressed=suppressed,
        noise_added=dp,
        epsilon=epsilon if dp else None,
        delta=delta if dp else None,
        generalized=mode == "k_anonymous" or bool(masks & _GENERALIZING),
        masked=bool(masks),
        note=note,
    )
