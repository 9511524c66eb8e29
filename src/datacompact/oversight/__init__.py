"""Oversight of cooperation projects: supervision alerts and transparency.

* :mod:`~datacompact.oversight.alerts`: the regulator's alerts on vendor
  concentration, lock-in and O&M continuity;
* :mod:`~datacompact.oversight.concentration`: HHI, top shares and lock-in, as
  pure functions;
* :mod:`~datacompact.oversight.transparency`: the public listing of projects and
  the OCDS release package;
* :mod:`~datacompact.oversight.ocds`: OCDS 1.1.5 releases with the lots extension;
* :mod:`~datacompact.oversight.inbox`: one inbox per member of what awaits their
  decision: applications in turn, registrations, proposed cooperation modes.

The response bodies are in :mod:`~datacompact.oversight.schemas`. Oversight
reads :mod:`datacompact.procurement`, :mod:`datacompact.delivery` and
:mod:`datacompact.policy`; none of them imports it.
"""

from __future__ import annotations

from datacompact.oversight import alerts, concentration, inbox, ocds, schemas, transparency

__all__ = ["alerts", "concentration", "inbox", "ocds", "schemas", "transparency"]
