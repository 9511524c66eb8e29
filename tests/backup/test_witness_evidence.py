"""A witness's cosigned size is evidence outside the store: a restore behind it is held."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from datacompact.backup import restore_backup, take_backup
from datacompact.config import Settings
from datacompact.errors import LogBehind
from datacompact.ledger.formats.cosignature import CosignatureSigner
from datacompact.ledger.formats.policy import Policy
from datacompact.ledger.log import checkpoints
from datacompact.ledger.witness import Witness, create_app, logs_from_vkeys
from datacompact.platform import Platform

from ..conftest import World
from ..ledger.test_audit import _SyncASGITransport
from ..ledger.test_store_witnesses import Hosts
from .conftest import append_events


def _push(platform: Platform, policy: Policy, client: httpx.Client) -> int:
    with platform.db.write() as session:
        size = checkpoints.sign_checkpoint(session, signer=platform.log_signer, policy=policy).size
    row = checkpoints.gather_cosignatures(
        platform.db, checkpoint_size=size, policy=policy, client=client
    )
    assert row.cosigners == ["audit-office"]
    return size


def test_a_restore_behind_what_a_witness_cosigned_is_held(
    world: World, target, tmp_path: Path
) -> None:
    platform = world.platform
    log_vkey = platform.log_signer.verifier().vkey
    signer = CosignatureSigner.generate("audit-office")
    witness = Witness(signer=signer, logs=logs_from_vkeys([log_vkey]), state_dir=tmp_path / "w")
    policy_file = tmp_path / "policy"
    policy_file.write_text(
        f"log {log_vkey}\n"
        f"witness audit-office {signer.verifier().vkey} http://honest\n"
        f"witness enterprise-council {CosignatureSigner.generate('x').verifier().vkey} "
        "http://down\n"
        "group any-one 1 audit-office enterprise-council\n"
        "quorum any-one\n"
    )
    policy = Policy.from_text(policy_file.read_text())
    hosts = Hosts({"honest": _SyncASGITransport(create_app(witness))})
    with httpx.Client(transport=hosts) as client:
        _push(platform, policy, client)
        take_backup(platform.settings, tmp_path / "backup")
        append_events(platform, 3)
        cosigned = _push(platform, policy, client)

        plain = target("restored")
        settings = Settings(
            home=plain.home, database_url=plain.database_url, witness_policy=policy_file
        )
        result = restore_backup(settings, tmp_path / "backup", witness_client=client)
    # The down witness is left out; the one that answers is ahead of the backup.
    assert result.witness_sizes == {"audit-office": cosigned}
    assert (result.held, result.published_size) == (True, cosigned)
    restored = Platform(settings)
    try:
        with pytest.raises(LogBehind):
            append_events(restored, 1)
    finally:
        restored.close()
