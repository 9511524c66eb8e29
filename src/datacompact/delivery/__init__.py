"""Delivery of awarded lots: contracts, result-oriented acceptance and deliverables.

* :mod:`~datacompact.delivery.contracts`: contracts signed from awards, KPIs and
  SLA reports, milestones and acceptance, handover;
* :mod:`~datacompact.delivery.deliverables`: open source and open data in the
  open, key code in escrow, and its release.

The request and response bodies are in :mod:`~datacompact.delivery.schemas`.
Delivery builds on :mod:`datacompact.procurement` and never imports
:mod:`datacompact.oversight`.
"""

from __future__ import annotations

from datacompact.delivery import contracts, deliverables, schemas

__all__ = ["contracts", "deliverables", "schemas"]
