"""Value: what a use of data costs, who pays, who is paid, and how the market rates it.

* :mod:`~datacompact.value.prices`: each operator's list of products and
  services, with the charging form, the ceiling and the price, versioned;
* :mod:`~datacompact.value.charging`: which uses are free (public-interest
  purposes) and the audit findings of misuse;
* :mod:`~datacompact.value.metering`: the metered lines of a month, computed
  from the log alone;
* :mod:`~datacompact.value.statements`: monthly statements and ``audit billing``;
* :mod:`~datacompact.value.revenue`: the maximum permitted revenue, its
  carry-over and the annual operating report;
* :mod:`~datacompact.value.contribution`: a product's revenue shared among the
  holders of the resources its uses touched, by a rule anyone can recompute;
* :mod:`~datacompact.value.ratings`: users rate the data, owners the contractors.

The rules and where they come from are in ``docs/pricing.md``; the bodies are
in :mod:`~datacompact.value.schemas`.
"""

from __future__ import annotations

from datacompact.value import (
    charging,
    contribution,
    metering,
    money,
    prices,
    ratings,
    revenue,
    schemas,
    statements,
)

__all__ = [
    "charging",
    "contribution",
    "metering",
    "money",
    "prices",
    "ratings",
    "revenue",
    "schemas",
    "statements",
]
