"""The demo city's market: holders' shares of a product's revenue, and ratings.

* A pilot grant that has ended: the transport group ran a query on the
  traffic counts, then the holder closed the grant when the pilot finished.
  The group rates the data, and the holder answers.
* One governed query under each demo grant that releases records, so that
  the uses of the operator's query service touch several holders' resources.
* The operator shares the month's revenue of that service among the holders
  by the default rule (Shapley), logged and recomputable.
* Each project owner rates the supplier of every contract with an accepted
  milestone.

Running the demo again finds what it made and changes nothing.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from datacompact import clock
from datacompact.governance import rules_for
from datacompact.permissions import Principal, Role
from datacompact.platform import Platform
from datacompact.policy import grants, queries
from datacompact.store.models import (
    Application,
    Grant,
    GrantQuery,
    Participant,
    Rating,
    Resource,
    ShareDistribution,
)
from datacompact.store.project_models import Contract, Lot, Milestone, Project
from datacompact.value import contribution, ratings

from ._catalog import principal
from ._city import Org
from ._grants import DemoGrant, _apply, _approve, participant_by_uscc

#: The operator's governed query service, as its price list names it.
PRODUCT = "demo-query-service"
#: What each use of it brought, in yuan (the price list sets it; this is the demo's).
REVENUE_PER_USE = "30.00"
PILOT = DemoGrant(
    "transit",
    "Hourly traffic counts per road segment",
    "公交客流试点（已结束）/ a bus ridership pilot, now finished",
    "urban_planning",
    ("road_name", "vehicles"),
    "records",
    20,
)
#: The modes whose grants take a plain ``SELECT <column> ... LIMIT``.
_RECORD_MODES = ("records", "masked_records")


def _grant_of(platform: Platform, application_id: int) -> Grant | None:
    with platform.db.read() as session:
        return session.scalar(select(Grant).where(Grant.application_id == application_id))


def _use_once(platform: Platform, grant: Grant, analyst: Principal) -> None:
    """One governed query under ``grant`` on its first requested column, unless it ran one."""
    with platform.db.read() as session:
        application = session.get_one(Application, grant.application_id)
        column = application.requests[0]["columns"][0]
        done = session.scalar(
            select(GrantQuery.id).where(
                GrantQuery.grant_id == grant.id, GrantQuery.status == "executed"
            )
        )
        if done is not None:
            return
        view = grants.get_grant(session=session, actor=analyst, grant_id=grant.id)
    queries.run_query(
        db=platform.db,
        home=platform.settings.home,
        secret=platform.secret,
        actor=analyst,
        grant_id=grant.id,
        # The table and column names come from the store, and the sandbox analyses the SQL.
        sql=f'SELECT "{column}" FROM {view.table} LIMIT 5',  # noqa: S608 - see above
    )


def _pilot(platform: Platform, by_slug: dict[str, Org]) -> int | None:
    """The ended pilot grant, used once and rated; None when the city has no datasets."""
    grantee = participant_by_uscc(platform, by_slug[PILOT.grantee].uscc)
    analyst = principal(platform, grantee, Role.ANALYST)
    with platform.db.read() as session:
        resource = session.scalar(select(Resource).where(Resource.name_en == PILOT.resource))
        if resource is None:
            return None
        application_id = session.scalar(
            select(Application.id).where(
                Application.applicant_id == grantee.id, Application.scenario == PILOT.scenario
            )
        )
        holder = session.get_one(Participant, resource.holder_id)
    if application_id is None:
        application_id = _apply(platform, analyst, PILOT, resource.id)
    _approve(platform, application_id)
    grant = _grant_of(platform, application_id)
    if grant is None:
        return None
    if grant.status == "active":
        _use_once(platform, grant, analyst)
        with platform.db.write() as session:
            grants.set_grant_status(
                session=session,
                actor=principal(platform, holder, Role.REVIEWER),
                grant_id=grant.id,
                decision="revoke",
                reason="试点结束 / the pilot has finished",
            )
    with platform.db.read() as session:
        rated = session.scalar(select(Rating.id).where(Rating.grant_id == grant.id))
    if rated is None:
        with platform.db.write() as session:
            rated = ratings.rate_data(
                session=session,
                actor=analyst,
                grant_id=grant.id,
                scores={"accuracy": 5, "completeness": 4, "timeliness": 3, "usefulness": 5},
                comment="路段齐全，晚高峰数据延迟一天 / every segment, evening peak a day late",
            ).value.id
        with platform.db.write() as session:
            ratings.answer_rating(
                session=session,
                actor=principal(platform, holder, Role.DATA_STEWARD),
                rating_id=rated,
                text="已改为每小时更新 / now updated every hour",
            )
    return grant.id


def _share(platform: Platform) -> int:
    """The operator shares this month's revenue of the query service among the holders."""
    with platform.db.read() as session:
        if session.scalar(select(ShareDistribution.id).where(ShareDistribution.product == PRODUCT)):
            return 0
        used = [
            grant.id
            for grant, output in session.execute(
                select(Grant, Application.output)
                .join(Application, Application.id == Grant.application_id)
                .where(Grant.status == "active")
                .order_by(Grant.id)
            ).all()
            if output.get("mode") in _RECORD_MODES
        ]
        approvers = rules_for(platform.settings.governance_mode).registration_approvers
        operator = session.scalars(
            select(Participant).where(Participant.kind.in_(approvers)).order_by(Participant.id)
        ).first()
    if operator is None:
        return 0
    for grant_id in used:
        with platform.db.read() as session:
            grant = session.get_one(Grant, grant_id)
            grantee = session.get_one(Participant, grant.grantee_id)
        _use_once(platform, grant, principal(platform, grantee, Role.ANALYST))
    with platform.db.read() as session:
        executed = list(
            session.scalars(
                select(GrantQuery.id)
                .where(GrantQuery.status == "executed", GrantQuery.log_index.is_not(None))
                .order_by(GrantQuery.id)
            )
        )
    if not executed:
        return 0
    today = clock.today_cst()
    with platform.db.write() as session:
        contribution.distribute(
            session=session,
            actor=principal(platform, operator, Role.ADMIN),
            product=PRODUCT,
            period=f"{today.year:04d}-{today.month:02d}",
            uses=[(q, REVENUE_PER_USE) for q in executed],
        )
    return len(executed)


def _rate_contractors(platform: Platform) -> int:
    """Each owner rates the supplier of every contract with an accepted milestone."""
    with platform.db.read() as session:
        rows = session.execute(
            select(Contract.id, Project.owner_id)
            .join(Lot, Lot.id == Contract.lot_id)
            .join(Project, Project.id == Lot.project_id)
            .where(
                Contract.id.in_(
                    select(Milestone.contract_id).where(Milestone.status == "accepted")
                ),
                Contract.id.not_in(
                    select(Rating.contract_id).where(Rating.contract_id.is_not(None))
                ),
            )
            .order_by(Contract.id)
        ).all()
    for k, (contract_id, owner_id) in enumerate(rows):
        with platform.db.read() as session:
            owner = session.get_one(Participant, owner_id)
        with platform.db.write() as session:
            ratings.rate_contractor(
                session=session,
                actor=principal(platform, owner, Role.ADMIN),
                contract_id=contract_id,
                scores={"quality": 4 + k % 2, "timeliness": 4, "om_response": 3 + k % 3},
                comment="首期里程碑按时验收 / first milestone accepted on time",
            )
    return len(rows)


def ensure_value(platform: Platform, cast: list[Org]) -> dict[str, Any]:
    """Build the demo's shares and ratings; returns what it added."""
    by_slug = {o.slug: o for o in cast}
    pilot = _pilot(platform, by_slug)
    return {
        "pilot_grant": pilot,
        "shared_uses": _share(platform),
        "contractor_ratings": _rate_contractors(platform),
    }
