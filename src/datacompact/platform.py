"""The running platform: settings, store and secret, opened once per process."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import TYPE_CHECKING, Any

from datacompact.config import Settings, ensure_home, load_secret
from datacompact.errors import ConfigurationError, LogBehind
from datacompact.governance import GovernanceRules, rules_for
from datacompact.ledger import log
from datacompact.ledger.formats.note import Ed25519Signer
from datacompact.ledger.formats.policy import Policy
from datacompact.ledger.log import checkpoints
from datacompact.ratelimits import RateLimits
from datacompact.store import migrate
from datacompact.store.models import Checkpoint
from datacompact.store.session import Database

if TYPE_CHECKING:
    from datacompact.sandbox import DuckDBEngine

_log = logging.getLogger("datacompact.ledger")


class Platform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.resolved_database_url)

    @cached_property
    def secret(self) -> bytes:
        return load_secret(self.settings)

    @cached_property
    def log_signer(self) -> Ed25519Signer:
        return checkpoints.load_log_signer(self.settings)

    @cached_property
    def witness_policy(self) -> Policy | None:
        return checkpoints.load_policy(self.settings.witness_policy)

    @cached_property
    def rate_limits(self) -> RateLimits:
        """This process's rate-limit counters (shared only if the storage URI names a server)."""
        return RateLimits(self.settings.rate_limit_storage_uri)

    @cached_property
    def sandbox(self) -> DuckDBEngine:
        """The governed-SQL engine of this process: one locked, empty DuckDB database, reused."""
        # Imported here: SQLGlot and DuckDB load only in processes that run queries.
        from datacompact.policy.queries import pseudonym_key, sandbox_data_dirs
        from datacompact.sandbox import DuckDBEngine
        from datacompact.sandbox.engine import spill_folder

        # Spills go to a private folder of this process under the home, never the CWD.
        return DuckDBEngine(
            pseudonym_key=pseudonym_key(self.secret),
            spill_dir=spill_folder(self.settings.home),
            data_dirs=sandbox_data_dirs(self.settings.home),
        )

    def checkpoint(self) -> Checkpoint:
        """Sign (if the log grew) and get witnessed a checkpoint now, remembering it in the home."""
        return checkpoints.checkpoint_now(
            self.db,
            signer=self.log_signer,
            policy=self.witness_policy,
            state=self.settings.home / checkpoints.SIGNED_STATE_FILE,
        )

    def checkpoint_at_start(self) -> Checkpoint | None:
        """:meth:`checkpoint`, except that a held log serves (read-only) instead of failing."""
        try:
            return self.checkpoint()
        except LogBehind:
            _log.error(
                "the log is held behind a published checkpoint: writes are refused until "
                "`datacompact recover` (docs/operations.md, Restore and recovery)"
            )
            return None

    def hold_if_behind_home(self) -> bool:
        """Hold the log if the home's ``log.signed`` is ahead of the store; True if held."""
        from datacompact.ledger.log import recovery

        evidence = recovery.home_checkpoint(self.settings.home, self.log_signer.verifier())
        with self.db.write() as session:
            if evidence is None:
                return recovery.hold_status(session)["held"] is True
            return recovery.hold_if_behind(session, *evidence)

    def checkpoint_scheduler(self) -> checkpoints.CheckpointScheduler:
        return checkpoints.CheckpointScheduler(
            self.db,
            signer=self.log_signer,
            policy=self.witness_policy,
            interval=self.settings.checkpoint_interval_seconds,
            state=self.settings.home / checkpoints.SIGNED_STATE_FILE,
        )

    @property
    def rules(self) -> GovernanceRules:
        return rules_for(self.settings.governance_mode)

    def initialize(self) -> bool:
        """Create the home folder and secret, and migrate the store; True if the home was new."""
        created = ensure_home(self.settings)
        created = checkpoints.ensure_log_key(self.settings) or created
        migrate.upgrade(self.db.write_engine)
        # A store restored behind the home's record of the last signed
        # checkpoint must not take appends (docs/operations.md).
        self.hold_if_behind_home()
        return created

    def check_ready(self) -> dict[str, str]:
        """What ``/readyz`` reports; raises if the platform cannot serve."""
        self.db.ping()
        current = migrate.current_revision(self.db.read_engine)
        head = migrate.head_revision()
        if current != head:
            raise ConfigurationError(
                "数据库未迁移到最新版本 / the store is not migrated to the latest revision",
                details={"current": current, "head": head},
            )
        # Read both files again: readiness must notice one removed or loosened
        # after start-up, which the cached properties would hide.
        load_secret(self.settings)
        checkpoints.load_log_signer(self.settings)
        # A log held behind a published checkpoint (a restore) refuses every
        # write until an operator runs `datacompact recover`: not ready to serve.
        with self.db.read() as session:
            log.refuse_if_held(log.read_head(session))
        return {
            "store": "ok",
            "revision": head or "",
            "secret": "ok",
            "log_key": "ok",
            "log": "ok",
        }

    def witness_health(self) -> dict[str, Any] | None:
        """The witnesses as ``/readyz`` reports them; None without a witness policy."""
        return checkpoints.witness_health(self.db, policy=self.witness_policy)

    def close(self) -> None:
        if "sandbox" in self.__dict__:
            self.sandbox.close()
        self.db.dispose()
