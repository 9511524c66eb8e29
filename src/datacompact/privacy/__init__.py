"""The privacy engine: masking, generalization, the k-anonymity family, risk and DP.

De-identification follows GB/T 37964-2019 (suppression, masking,
pseudonymization, generalization, k-anonymity, differential privacy). The
anonymization search matches ARX; differential privacy is OpenDP's.

The differential-privacy names (:class:`PrivacyBudget`, :class:`Release`) are
imported lazily, so that importing this package does not load OpenDP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datacompact.privacy.anonymize import AnonymizationResult, anonymize, build_models
from datacompact.privacy.builders import (
    date_hierarchy,
    interval_hierarchy,
    masking_hierarchy,
    region_code_hierarchy,
)
from datacompact.privacy.hierarchy import Hierarchy
from datacompact.privacy.masking import (
    bottom_code,
    derive_key,
    mask_partial,
    pseudonymize,
    round_to,
    suppress_cells,
    suppress_records,
    top_code,
    truncate_dates,
)
from datacompact.privacy.metrics import attribute_utility
from datacompact.privacy.models import (
    DistinctLDiversity,
    EntropyLDiversity,
    KAnonymity,
    PrivacyModel,
    RecursiveCLDiversity,
    TCloseness,
)
from datacompact.privacy.risk import RiskReport, reidentification_risk

if TYPE_CHECKING:
    from datacompact.privacy.dp import PrivacyBudget, Release

__all__ = [
    "AnonymizationResult",
    "DistinctLDiversity",
    "EntropyLDiversity",
    "Hierarchy",
    "KAnonymity",
    "PrivacyBudget",
    "PrivacyModel",
    "RecursiveCLDiversity",
    "Release",
    "RiskReport",
    "TCloseness",
    "anonymize",
    "attribute_utility",
    "bottom_code",
    "build_models",
    "date_hierarchy",
    "derive_key",
    "interval_hierarchy",
    "mask_partial",
    "masking_hierarchy",
    "pseudonymize",
    "region_code_hierarchy",
    "reidentification_risk",
    "round_to",
    "suppress_cells",
    "suppress_records",
    "top_code",
    "truncate_dates",
]


def __getattr__(name: str) -> Any:
    if name in ("PrivacyBudget", "Release"):
        from datacompact.privacy import dp

        return getattr(dp, name)
    raise AttributeError(name)
