"""The demo city's applications and grants: one per output mode, approved through the services.

Each demo enterprise's analyst applies for one scenario; every reviewing
party the governance mode routes it to (the holder, the regulator, the
operator) approves through its reviewer. Running the demo again finds the
applications by their scenario and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from datacompact.permissions import Principal, Role
from datacompact.platform import Platform
from datacompact.policy import applications
from datacompact.policy.schemas import ApplicationCreate
from datacompact.store.models import Application, Grant, Member, Participant, Resource

from ._catalog import principal
from ._city import Org


@dataclass(frozen=True)
class DemoGrant:
    grantee: str  # the applicant's slug
    resource: str  # the resource's English name
    scenario: str
    purpose: str
    columns: tuple[str, ...]
    mode: str
    queries: int
    epsilon: float | None = None


DEMO_GRANTS = (
    DemoGrant(
        "transit",
        "Hourly traffic counts per road segment",
        "公交线网优化：分时段路段流量 / bus network planning from hourly road traffic",
        "urban_planning",
        ("segment_id", "road_name", "district_code", "direction", "hour_start", "vehicles"),
        "records",
        1_000,
    ),
    DemoGrant(
        "it-yunqi",
        "Register of market entities",
        "小微企业信贷准入核验 / verify small businesses applying for credit",
        "credit_assessment",
        ("统一社会信用代码", "企业名称", "市场主体类型", "登记状态", "法定代表人", "联系电话"),
        "masked_records",
        500,
    ),
    DemoGrant(
        "it-shulan",
        "Quarterly tax returns of enterprises",
        "分行业纳税信用分布研究 / tax credit ratings by industry",
        "research",
        ("行业门类", "纳税人类型", "纳税信用等级"),
        "aggregates",
        200,
    ),
    DemoGrant(
        "telecom",
        "Social insurance contributions",
        "参保人口结构分析 / the structure of the insured population",
        "public_interest",
        ("sex", "period", "employer_name"),
        "dp_aggregates",
        50,
        10.0,
    ),
    DemoGrant(
        "it-zhihui",
        "Outpatient clinic visits",
        "门诊疾病谱研究（k-匿名）/ outpatient disease patterns, k-anonymous",
        "research",
        ("hospital", "department", "sex", "age", "icd10"),
        "k_anonymous",
        20,
    ),
)


def participant_by_uscc(platform: Platform, uscc: str) -> Participant:
    with platform.db.read() as session:
        found = session.scalar(select(Participant).where(Participant.uscc == uscc))
    if found is None:
        raise RuntimeError("no participant has this USCC")
    return found


def ensure_grants(platform: Platform, cast: list[Org]) -> dict[str, list[dict[str, Any]]]:
    """Apply for and approve the demo grants; returns them by the applicant's username."""
    by_slug = {o.slug: o for o in cast}
    held: dict[str, list[dict[str, Any]]] = {}
    for spec in DEMO_GRANTS:
        grantee = participant_by_uscc(platform, by_slug[spec.grantee].uscc)
        applicant = principal(platform, grantee, Role.ANALYST)
        with platform.db.read() as session:
            resource = session.scalar(select(Resource).where(Resource.name_en == spec.resource))
            if resource is None:
                continue  # the demo was built without datasets
            resource_id, grade = resource.id, resource.grade
            application_id = session.scalar(
                select(Application.id).where(
                    Application.applicant_id == grantee.id, Application.scenario == spec.scenario
                )
            )
        if application_id is None:
            application_id = _apply(platform, applicant, spec, resource_id)
        _approve(platform, application_id)
        with platform.db.read() as session:
            grant_ids = session.scalars(
                select(Grant.id).where(Grant.application_id == application_id)
            )
            member = session.get(Member, applicant.member_id)
            if member is None:
                raise RuntimeError(f"member {applicant.member_id} is missing")
            held.setdefault(member.username, []).extend(
                {"id": g, "resource": resource_id, "mode": spec.mode, "grade": grade}
                for g in grant_ids
            )
    return held


def _apply(platform: Platform, applicant: Principal, spec: DemoGrant, resource_id: int) -> int:
    body: dict[str, Any] = {
        "scenario": spec.scenario,
        "purpose": spec.purpose,
        "resources": [{"resource_id": resource_id, "columns": list(spec.columns)}],
        "output": {"mode": spec.mode, **({"k": 10} if spec.mode == "k_anonymous" else {})},
        "duration_days": 365,
        "expected_queries": spec.queries,
    }
    if spec.epsilon is not None:
        body["epsilon"] = spec.epsilon
    with platform.db.write() as session:
        return applications.submit_application(
            session=session, actor=applicant, data=ApplicationCreate.model_validate(body)
        ).value.id


def _approve(platform: Platform, application_id: int) -> None:
    """Each reviewing party approves in its turn, through one of its reviewers.

    The slots are stored in the order of approval, so the first one still
    undecided is always in turn; one participant may approve for several
    consecutive parties at once, hence the fresh read before each decision.
    """
    while True:
        with platform.db.read() as session:
            application = session.get(Application, application_id)
            if application is None:
                raise RuntimeError(f"application {application_id} is missing")
            if application.status != "pending":
                return
            slot = next(s for s in application.reviewers if s["decision"] is None)
            participant = session.get(Participant, slot["participants"][0])
        if participant is None:
            raise RuntimeError("a reviewing participant is missing")
        with platform.db.write() as session:
            applications.review_application(
                session=session,
                actor=principal(platform, participant, Role.REVIEWER),
                application_id=application_id,
                decision="approve",
                reason="演示：场景、用途与最小必要原则核验通过 / demo: scenario, purpose and "
                "data minimisation checked",
            )
