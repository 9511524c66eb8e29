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

from datacompact.api import create_app
from datacompact.errors import DataCompactError, VerificationFailed
from datacompact.ledger.auditor.audit import audit_log
from datacompact.ledger.log import checkpoints
from datacompact.store.models import Event

from ..conftest import World
from .test_audit import _SyncASGITransport
from .test_store_log import TAMPERING

PUBLISHED = sorted(set(TAMPERING) - {"modify_head", "insert_node", "modify_payload_commitment"})


def _audit(world: World, state: Path) -> None:
    with world.platform.db.read() as session:
        size = session.scalar(select(func.count()).select_from(Event)) or 0
    client = httpx.Client(transport=_SyncASGITransport(create_app(world.platform)))
    with client:
        audit_log(
            url="http://platform/ledger",
            log_key=world.platform.log_signer.verifier().vkey,
            state_dir=state,
            client=client,
            workers=1,
            receipts=size,
        )


def test_an_untouched_served_log_audits_clean(world: World, tmp_path: Path) -> None:
    checkpoints.checkpoint_now(world.platform.db, signer=world.platform.log_signer, policy=None)
    _audit(world, tmp_path / "mirror")


@pytest.mark.parametrize("tamper", PUBLISHED)
def test_audit_detects_edits_of_the_published_log(
    world: World, tmp_path: Path, tamper: str
) -> None:
    platform = world.platform
    checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)
    with platform.db.write() as session:
        TAMPERING[tamper](session)
    with pytest.raises(DataCompactError) as caught:
        _audit(world, tmp_path / "mirror")
    assert isinstance(caught.value, VerificationFailed), caught.value.message
