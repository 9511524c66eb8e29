"""The demo city's datasets, registered, graded and profiled through the catalog services."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from datacompact.catalog import resources
from datacompact.catalog.schemas import GradeCode, GradeDecisionIn, ResourceBase
from datacompact.permissions import Principal, Role
from datacompact.platform import Platform
from datacompact.store.models import Member, Participant, Resource

from ._city import Org
from ._datasets import DatasetSpec, write_datasets

DATA_DIR = "demo-data"


def principal(platform: Platform, participant: Participant, role: Role) -> Principal:
    """The principal of ``participant``'s first member with ``role``."""
    member = platform_member(platform, participant, role)
    return Principal.member(
        member_id=member.id,
        participant_id=participant.id,
        participant_kind=participant.kind,
        roles=frozenset(Role(r) for r in member.roles),
        governance=platform.settings.governance_mode,
    )


def platform_member(platform: Platform, holder: Participant, role: Role) -> Member:
    with platform.db.read() as session:
        for member in session.scalars(
            select(Member).where(Member.participant_id == holder.id).order_by(Member.id)
        ):
            if role.value in member.roles:
                return member
    raise LookupError(f"no {role.value} at participant {holder.id}")


def register_datasets(
    platform: Platform,
    cast: list[Org],
    *,
    scale: float,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Write the demo files and register those not yet in the catalog; returns how many exist.

    ``progress`` is told when the files are written and as each dataset is registered.
    """
    step = progress or (lambda _message: None)
    step(f"生成演示数据文件 / writing the demo data files (scale {scale:g})")
    # What a killed earlier run left staged goes before anything is ingested.
    resources.sweep_orphans(db=platform.db, home=platform.settings.home)
    # Deterministic bytes: rewriting the files on a second run changes nothing.
    folder = platform.settings.home / DATA_DIR / f"scale-{scale:g}"
    specs: list[DatasetSpec] = write_datasets(folder, cast=cast, rows_scale=scale)
    by_slug = {org.slug: org for org in cast}
    for number, spec in enumerate(specs, start=1):
        with platform.db.read() as session:
            holder = session.scalar(
                select(Participant).where(Participant.uscc == by_slug[spec.holder].uscc)
            )
            if holder is None:
                raise RuntimeError(f"demo holder {spec.holder} is missing")
            exists = session.scalar(
                select(Resource.id).where(
                    Resource.holder_id == holder.id, Resource.name == spec.name_zh
                )
            )
        if exists is not None:
            continue
        step(
            f"登记数据集 {number}/{len(specs)}：{spec.name_zh} / registering dataset "
            f"{number}/{len(specs)}: {spec.name_en}"
        )
        steward = principal(platform, holder, Role.DATA_STEWARD)
        registered = resources.register_resource(
            db=platform.db,
            home=platform.settings.home,
            actor=steward,
            data=ResourceBase(
                name=spec.name_zh,
                name_en=spec.name_en,
                description=spec.description,
                source_system=spec.source_system,
                themes=list(spec.themes),
                tags=list(spec.tags),
                update_frequency=spec.frequency,
                share_type=spec.share_type,
                open_type=spec.open_type,
            ),
            file=Path(spec.path),
            encoding=spec.hints.encoding,
            sheet=spec.hints.sheet,
        ).value
        # The steward settles the grade: confirms the proposal, or sets the
        # grade the dataset's own notes call for, with their reason.
        expected = spec.grade.by_volume(spec.persons)
        decision = (
            GradeDecisionIn(decision="confirm")
            if expected.code == registered.grade
            else GradeDecisionIn(
                decision="override",
                grade=GradeCode(expected.code),
                reason=expected.reason or "数据专员复核 / steward review",
            )
        )
        with platform.db.write() as session:
            resources.decide_grade(
                session=session, actor=steward, resource_id=registered.id, decision=decision
            )
    return len(specs)
