"""Fusion: computing across holders without moving their raw data.

* :mod:`~datacompact.fusion.keys`: the normalization of identity keys
  (resident IDs, unified social credit codes, phone numbers in E.164);
* :mod:`~datacompact.fusion.psi`: private set intersection under a grant, two
  rounds of ECDH-PSI over Curve25519 (X25519), each run a charged, logged and
  receipted use of the grant (``docs/fusion.md``).
"""

from __future__ import annotations

from datacompact.fusion.keys import KEY_KINDS, NormalizedKeys, canonical_key, normalize_keys
from datacompact.fusion.psi import PsiPolicy, exchange_psi, get_run, list_runs, open_psi
from datacompact.fusion.requester import (
    RequesterRound,
    answer_round,
    matched_keys,
    requester_keys,
)

__all__ = [
    "KEY_KINDS",
    "NormalizedKeys",
    "PsiPolicy",
    "RequesterRound",
    "answer_round",
    "canonical_key",
    "exchange_psi",
    "get_run",
    "list_runs",
    "matched_keys",
    "normalize_keys",
    "open_psi",
    "requester_keys",
]
