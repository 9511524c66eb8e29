"""Value: what uses of data are worth, who is paid for them, and how the market rates them.

* :mod:`~datacompact.value.contribution`: a product's revenue shared among the
  holders of the resources its uses touched, by a rule anyone can recompute;
* :mod:`~datacompact.value.ratings`: users rate the data, owners the contractors.
"""

from __future__ import annotations

from datacompact.value import contribution, ratings, schemas

__all__ = ["contribution", "ratings", "schemas"]
