"""``audit`` against the platform's own served log, after direct edits of its database.

Each edit of the published log — entries added, removed, reordered or changed,
inner hashes changed, removed or swapped, history rewritten with every hash
recomputed — must make a fresh audit fail. The audit checks every receipt
too, since receipts are where inner hashes that no tile exposes show.

Three edits change nothing that the log publishes, so no outside auditor can
see them: the head row, an extra node outside the tree, and an event row's
copy of the payload commitment. ``ledger check`` catches those
(``test_store_log.py``), and a corrupted head also stops the log from signing.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from datacompact.cli._audit import _summary as audit_summary
from datacompact.errors import DataCompactError, VerificationFailed
from datacompact.ledger.auditor.audit import AuditResult, audit_log
from datacompact.store.models import Event

from ..api.conftest import ApiClient
from ..api.conftest import client as client  # the API client fixture
from ..conftest import World
from .test_audit import _SyncASGITransport
from .test_store_log import TAMPERING

PUBLISHED = sorted(set(TAMPERING) - {"modify_head", "insert_node", "modify_payload_commitment"})


def _audit(world: World, api: ApiClient, state: Path) -> AuditResult:
    with world.platform.db.read() as session:
        size = session.scalar(select(func.count()).select_from(Event)) or 0
    client = httpx.Client(transport=_SyncASGITransport(api.app))
    with client:
        return audit_log(
            url="http://platform/ledger",
            log_key=world.platform.log_signer.verifier().vkey,
            state_dir=state,
            client=client,
            workers=1,
            receipts=size,
        )


# The client fixture's world has signed its checkpoint, as a served platform does at start.


def test_an_untouched_served_log_audits_clean(
    world: World, client: ApiClient, tmp_path: Path
) -> None:
    result = _audit(world, client, tmp_path / "mirror")
    # Every entry's receipt was asked for, and each was verified end to end.
    assert result.receipts == tuple(range(result.size))
    summary = result.to_dict()
    assert summary["receipts_verified"] == result.size
    assert f"receipts {result.size}/{result.size} verified end to end" in audit_summary(result)


@pytest.mark.parametrize("tamper", PUBLISHED)
def test_audit_detects_edits_of_the_published_log(
    world: World, client: ApiClient, tmp_path: Path, tamper: str
) -> None:
    with world.platform.db.write() as session:
        TAMPERING[tamper](session)
    with pytest.raises(DataCompactError) as caught:
        _audit(world, client, tmp_path / "mirror")
    assert isinstance(caught.value, VerificationFailed), caught.value.message
