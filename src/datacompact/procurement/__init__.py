"""Procurement of cooperation projects: projects, lots, tenders, sealed bids, evaluation, award.

The services (each call checks, authorizes, writes and logs in one transaction):

* :mod:`~datacompact.procurement.projects`: projects, their cooperation mode and
  its approval, joint meetings;
* :mod:`~datacompact.procurement.lots`: lots, the regulator's rule exceptions and
  task matching;
* :mod:`~datacompact.procurement.tenders`: tenders, sealed bids, opening and
  scoring; :mod:`~datacompact.procurement.award`: the award, under the
  separation of development and O&M.

Database-free building blocks: :mod:`~datacompact.procurement.evaluation` (87号令
evaluation methods, conflicts of interest), :mod:`~datacompact.procurement.sealing`
(sealed bids), :mod:`~datacompact.procurement.matching` (task matching),
:mod:`~datacompact.procurement.levels` (qualification levels) and
:mod:`~datacompact.procurement.groups` (supplier groups under common control).
The request and response bodies are in :mod:`~datacompact.procurement.schemas`.

Procurement imports neither :mod:`datacompact.delivery` nor
:mod:`datacompact.oversight`; they build on it.
"""

from __future__ import annotations

from datacompact.procurement import (
    award,
    evaluation,
    groups,
    levels,
    lots,
    matching,
    projects,
    schemas,
    sealing,
    tenders,
)

__all__ = [
    "award",
    "evaluation",
    "groups",
    "levels",
    "lots",
    "matching",
    "projects",
    "schemas",
    "sealing",
    "tenders",
]
