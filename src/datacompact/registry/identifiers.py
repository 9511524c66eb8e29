"""Validation of the identifiers a participant registers with.

USCC (GB 32100-2015) is checked with python-stdnum's ``cn.uscc``; region codes
(GB/T 2260) against the administrative-division table that python-stdnum ships
for resident IDs (``numdb`` ``cn/loc``), so no code list of our own goes stale.
"""

from __future__ import annotations

import functools
import re

from stdnum import numdb
from stdnum.cn import uscc as _uscc
from stdnum.exceptions import ValidationError

from datacompact.errors import InvalidIdentifier

_REGION = re.compile(r"^[1-8][0-9]{5}$")


def validate_uscc(value: str, *, field: str = "uscc") -> str:
    """Return the compact USCC or raise :class:`InvalidIdentifier` (never echoing the value)."""
    try:
        return str(_uscc.validate(value))
    except ValidationError as exc:
        raise InvalidIdentifier(
            f"统一社会信用代码无效 / invalid unified social credit code in '{field}': {exc}",
            details={"field": field, "standard": "GB 32100-2015"},
        ) from exc


def validate_region_code(value: str, *, field: str = "region_code") -> str:
    """Return the six-digit GB/T 2260 code or raise :class:`InvalidIdentifier`."""
    code = value.strip()
    if not _REGION.fullmatch(code):
        raise InvalidIdentifier(
            f"行政区划代码无效 / invalid region code in '{field}': expected 6 digits starting 1-8 "
            f"(GB/T 2260), got {len(code)} characters that do not match",
            details={"field": field, "standard": "GB/T 2260"},
        )
    if not {"province", "county"} <= _region_levels(code):
        raise InvalidIdentifier(
            f"行政区划代码不存在 / unknown region code in '{field}': not in GB/T 2260",
            details={"field": field, "standard": "GB/T 2260"},
        )
    return code


@functools.lru_cache(maxsize=8192)
def _region_levels(code: str) -> frozenset[str]:
    """The division levels GB/T 2260 gives a six-digit code (empty for an unknown one).

    Cached: a numdb look-up walks python-stdnum's table, and every registration
    code read back (a catalog page, the API, the DCAT feed) checks its region
    again. The table ships with the package and does not change while the
    process runs; there are fewer six-digit codes than the cache holds.
    """
    return frozenset(key for _part, info in numdb.get("cn/loc").info(code) for key in info)


def region_name(code: str) -> str:
    """The division's name, e.g. 浙江省 西湖区; historic-range markers removed."""
    parts = []
    for _part, info in numdb.get("cn/loc").info(code):
        for key in ("province", "county"):
            if key in info:
                parts.append(re.sub(r"^\[[^\]]*\]", "", info[key]))
    return " ".join(dict.fromkeys(parts))
