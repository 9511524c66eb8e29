"""Value: what a use of public data costs, who pays, and what the market thinks of it.

* :mod:`~datacompact.value.prices`: each operator's list of products and
  services, with the charging form, the ceiling and the price, versioned;
* :mod:`~datacompact.value.charging`: which uses are free (public-interest
  purposes) and the audit findings of misuse;
* :mod:`~datacompact.value.metering`: the metered lines of a month, computed
  from the log alone;
* :mod:`~datacompact.value.statements`: monthly statements and ``audit billing``;
* :mod:`~datacompact.value.revenue`: the maximum permitted revenue, its
  carry-over and the annual operating report.

The rules and where they come from are in ``docs/pricing.md``; the response
bodies are in :mod:`~datacompact.value.schemas`.
"""

from __future__ import annotations

from datacompact.value import charging, metering, money, prices, revenue, schemas, statements

__all__ = ["charging", "metering", "money", "prices", "revenue", "schemas", "statements"]
