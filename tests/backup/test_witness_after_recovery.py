"""A witness after a restore behind what it cosigned: refusing until reset, then cosigning.

The witness keeps its own state, outside the store: the last checkpoint it
cosigned, from the tree that the restore lost. The recovery statement does
not change that state (nothing the log signs can, by design), so the witness
refuses the recovered tree until its operator, having reviewed the
statement, removes the log's state folder as docs/operations.md describes.
``/readyz`` says the log is held until ``recover`` has run.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import httpx

from datacompact.backup import restore_backup, take_backup
from datacompact.ledger.formats.cosignature import CosignatureSigner
from datacompact.ledger.formats.policy import Policy
from datacompact.ledger.log import checkpoints, recovery
from datacompact.ledger.log.checkpoints import SIGNED_STATE_FILE
from datacompact.ledger.witness import Witness, create_app, logs_from_vkeys
from datacompact.platform import Platform
from datacompact.store.models import Checkpoint

from ..conftest import World
from ..ledger.test_audit import _SyncASGITransport
from .conftest import append_events
from .test_backup_restore import _client


def _push(platform: Platform, policy: Policy, witness: Witness) -> Checkpoint:
    """Sign a checkpoint of the log as it is and have the witness asked to cosign it."""
    with platform.db.write() as session:
        size = checkpoints.sign_checkpoint(session, signer=platform.log_signer, policy=policy).size
    transport = _SyncASGITransport(create_app(witness))
    with httpx.Client(transport=transport) as client:
        return checkpoints.gather_cosignatures(
            platform.db, checkpoint_size=size, policy=policy, client=client
        )


def test_a_witness_continues_after_recovery_once_its_operator_resets_it(
    world: World, target, tmp_path: Path
) -> None:
    platform = world.platform
    origin = platform.settings.log_origin
    log_vkey = platform.log_signer.verifier().vkey
    signer = CosignatureSigner.generate("audit-office")
    state = tmp_path / "witness-state"
    witness = Witness(signer=signer, logs=logs_from_vkeys([log_vkey]), state_dir=state)
    policy = Policy.from_text(
        f"log {log_vkey}\n"
        f"witness audit-office {signer.verifier().vkey} http://witness\n"
        "quorum audit-office\n"
    )
    assert _push(platform, policy, witness).witnessed
    backed = take_backup(platform.settings, tmp_path / "backup").manifest.store.log_size
    append_events(platform, 20)
    published = _push(platform, policy, witness)
    assert published.witnessed
    evidence = tmp_path / "published.checkpoint"
    evidence.write_text(published.note, encoding="utf-8")

    settings = target("restored")
    assert restore_backup(settings, tmp_path / "backup", checkpoint_file=evidence).held
    restored = Platform(settings)
    try:
        with _client(restored) as client:
            held = client.get("/readyz")
            assert held.status_code == 503, held.text
            assert held.json()["status"] == "not_ready"
            assert held.json()["error"]["code"] == "log_behind"

        body, note = recovery.read_checkpoint_file(evidence, restored.log_signer.verifier())
        with restored.db.write() as session:
            recovered = recovery.recover(
                session,
                signer=restored.log_signer,
                policy=None,
                evidence=body,
                note=note,
                state=restored.settings.home / SIGNED_STATE_FILE,
            )
        assert recovered["tree_size"] == backed + 1
        with _client(restored) as client:
            assert client.get("/readyz").status_code == 200

        # The statement leaves the witness where it was: at the lost tree's size.
        assert witness.state.load(origin).size == published.size  # type: ignore[union-attr]
        assert not _push(restored, policy, witness).witnessed  # smaller than what it cosigned
        append_events(restored, 30)  # now larger, but not an extension of the lost tree
        assert not _push(restored, policy, witness).witnessed
        assert witness.state.load(origin).size == published.size  # type: ignore[union-attr]

        # The documented reset: the log's folder under the witness's state, by origin hash.
        folder = state / hashlib.sha256(origin.encode()).hexdigest()
        assert folder.is_dir()
        shutil.rmtree(folder)
        again = _push(restored, policy, witness)
        assert again.witnessed
        assert again.cosigners == ["audit-office"]
        assert witness.state.load(origin).size == again.size  # type: ignore[union-attr]
        append_events(restored, 2)
        assert _push(restored, policy, witness).witnessed  # and on from there as usual
    finally:
        restored.close()
