"""The resources of a grant: one for most grants, several for a joint grant.

A joint grant (a multi-holder scenario) keeps one :class:`GrantPart` per
resource and one agreement with one permission per resource; every other
grant has its one resource in ``Grant.resource_id``. These helpers give both
the same shape, so that authorization, status changes and queries treat a
joint grant's holders alike: each may read it, and each may suspend or
revoke the whole grant.
"""

from __future__ import annotations

from dataclasses import dataclass

from datacompact.errors import MalformedInput
from datacompact.policy.agreement import GrantTerms, agreement_parts
from datacompact.store.models import Grant, Resource


@dataclass(frozen=True)
class Part:
    """One resource of a grant, its holder and the terms of its permission."""

    resource: Resource
    holder_id: int
    terms: GrantTerms


def holders(grant: Grant) -> frozenset[int]:
    """Every holder whose resource the grant covers."""
    return frozenset({grant.holder_id, *(p.holder_id for p in grant.parts)})


def resource_ids(grant: Grant) -> tuple[int, ...]:
    """The grant's resources, in application order."""
    return tuple(p.resource_id for p in grant.parts) or (grant.resource_id,)


def parts(grant: Grant) -> tuple[Part, ...]:
    """Each resource of ``grant`` with its holder and the terms of its permission.

    The agreement's permissions must name exactly the grant's resources, in
    order: a joint agreement whose targets disagree with its parts is refused
    rather than read loosely.
    """
    terms = agreement_parts(grant.agreement)
    if not grant.parts:
        return (Part(grant.resource, grant.holder_id, terms[0]),) if len(terms) == 1 else _bad()
    if len(terms) != len(grant.parts):
        return _bad()
    found = []
    for part, part_terms in zip(grant.parts, terms, strict=True):
        if part_terms.target != f"urn:datacompact:resource:{part.resource.code}":
            return _bad()
        found.append(Part(part.resource, part.holder_id, part_terms))
    return tuple(found)


def _bad() -> tuple[Part, ...]:
    raise MalformedInput(
        "协议与授权的资源不一致 / malformed grant: its agreement's permissions do not name "
        "its resources",
        details={"at": "permission"},
    )
