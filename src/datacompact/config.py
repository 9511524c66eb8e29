"""Settings, read from ``DATACOMPACT_*`` environment variables (pydantic-settings).

Everything has an embedded default, so a fresh checkout runs with no
configuration at all: the home folder is ``./.datacompact`` and the metadata
store is a SQLite file inside it. Production points ``DATACOMPACT_DATABASE_URL``
at PostgreSQL.

The platform secret is a 32-byte random file in the home folder, written with
mode 0600 by ``datacompact init``. Participant signing keys are encrypted under
keys derived from it, and demo tokens are derived from it, so it must never
leave the home folder.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import stat
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from limits import parse as parse_rate
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from datacompact.errors import ConfigurationError

SECRET_FILE = "platform.secret"  # noqa: S105 - a file name, not a secret
SECRET_BYTES = 32


@dataclass(frozen=True)
class IngestLimits:
    """What a file may cost before it is refused; checked before anything is expanded.

    The readers (:mod:`datacompact.ingest`) take it; :attr:`Settings.ingest_limits`
    builds it from the ``ingest_*`` settings (docs/configuration.md and
    docs/operations.md), whose defaults are these. An XLSX workbook is a ZIP
    archive of XML parts: its declared part sizes and compression ratios are
    checked before any part is decompressed (Python's ``zipfile`` never yields
    more than the declared size), its shared strings are measured as a stream
    before openpyxl loads them, and its sheet's rows, columns and merged ranges
    are counted in one streaming scan before any row is read.
    """

    #: Columns of any file (the header's width; for XLSX, any cell's column).
    max_columns: int = 2048
    #: Data rows of an XLSX sheet (Excel's own maximum is 1,048,576).
    xlsx_max_rows: int = 1_048_576
    #: Rows present in an XLSX sheet times its header's columns: the grid the
    #: reader fills, whatever few values the rows hold.
    xlsx_max_cells: int = 30_000_000
    #: ``<mergeCell>`` ranges of an XLSX sheet.
    xlsx_max_merged_ranges: int = 10_000
    #: Uncompressed bytes of any one part of an XLSX archive.
    xlsx_max_part_bytes: int = 1 << 30
    #: Uncompressed bytes of all the parts of an XLSX archive together.
    xlsx_max_total_bytes: int = 4 << 30
    #: Uncompressed/compressed size of a part above 1 MiB (smaller parts are not held to it).
    xlsx_max_compression_ratio: int = 200
    #: UTF-8 bytes of all the shared strings of a workbook (openpyxl holds them all).
    xlsx_max_shared_strings_bytes: int = 64 << 20


class GovernanceMode(StrEnum):
    """The three ways of building digital government (docs/governance.md); see ``datacompact.governance``."""

    GOVERNMENT_LED = "government_led"
    JV_OPERATED = "jv_operated"
    DATA_GOVERNANCE = "data_governance"


#: A list of addresses and networks, given in the environment as ``a,b/24,...``.
AddressList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Platform settings. Each field is documented in ``docs/configuration.md``."""

    model_config = SettingsConfigDict(env_prefix="DATACOMPACT_", extra="ignore")

    home: Path = Field(default=Path(".datacompact"), description="Home folder of the platform.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata store; a SQLite file in the home folder if unset.",
    )
    governance_mode: GovernanceMode = Field(
        default=GovernanceMode.DATA_GOVERNANCE,
        description="Who operates the platform and who approves what.",
    )
    max_request_bytes: int = Field(
        default=1_048_576, ge=1024, description="Largest request body the API accepts, in bytes."
    )
    upload_max_bytes: int = Field(
        default=2 * 1024**3,
        ge=1024,
        description="Largest file POST /api/v1/uploads accepts into an inbox, in bytes.",
    )
    token_ttl_days: int = Field(
        default=30, ge=1, le=365, description="Default lifetime of a new API token, in days."
    )
    log_origin: str = Field(
        default="datacompact.local/log",
        pattern=r"^[!-*,-~]+$",
        description="Origin line of the transparency log's checkpoints (its key name).",
    )
    checkpoint_interval_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How often `serve` signs a checkpoint when the log grew; 0 turns it off.",
    )
    public_base_url: str = Field(
        default="http://127.0.0.1:8000",
        pattern=r"^https?://[^\s]+$",
        description="Base URL under which catalog exports name datasets and offers.",
    )
    witness_policy: Path | None = Field(
        default=None,
        description="C2SP tlog-policy file naming the witnesses (with URLs) and the quorum.",
    )
    sandbox_refusals_per_minute: int = Field(
        default=30,
        ge=1,
        le=10_000,
        description="Governed queries one grant may have refused at analysis per minute (free "
        "refusals are rate-limited; a charged query is not).",
    )
    sandbox_time_quantum_ms: int = Field(
        default=50,
        ge=0,
        le=10_000,
        description="Under every output mode stricter than records, a governed query's time from "
        "its charge to its answer is padded to a multiple of this; 0 turns padding off.",
    )
    psi_max_set_size: int = Field(
        default=1_000_000,
        ge=1,
        le=10_000_000,
        description="The most keys either side of one private set intersection may have.",
    )
    psi_workers: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Worker processes for the group operations of a large private set "
        "intersection.",
    )
    query_page_rows: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Rows per page of a governed query's answer; the rest is read page by page "
        "from the stored result (page_token) or streamed as CSV or Parquet.",
    )
    query_result_retention_hours: int = Field(
        default=24,
        ge=1,
        le=720,
        description="Hours a governed query's result is kept for its pages and streams; later "
        "the query must be run (and charged) again.",
    )
    ingest_max_columns: int = Field(
        default=2048, ge=1, le=16_384, description="Columns a data file may have."
    )
    ingest_xlsx_max_rows: int = Field(
        default=1_048_576, ge=1, description="Rows an XLSX sheet may have (its header included)."
    )
    ingest_xlsx_max_cells: int = Field(
        default=30_000_000,
        ge=1,
        description="Rows present in an XLSX sheet times its header's columns.",
    )
    ingest_xlsx_max_merged_ranges: int = Field(
        default=10_000, ge=0, description="Merged cell ranges an XLSX sheet may have."
    )
    ingest_xlsx_max_part_bytes: int = Field(
        default=1 << 30,
        ge=1 << 20,
        description="Uncompressed bytes of any one part (sheet, shared strings, styles) of an XLSX.",
    )
    ingest_xlsx_max_total_bytes: int = Field(
        default=4 << 30, ge=1 << 20, description="Uncompressed bytes of all parts of an XLSX."
    )
    ingest_xlsx_max_compression_ratio: int = Field(
        default=200,
        ge=2,
        description="Uncompressed/compressed size an XLSX part above 1 MiB may have.",
    )
    ingest_xlsx_max_shared_strings_bytes: int = Field(
        default=64 << 20,
        ge=1024,
        description="UTF-8 bytes of all the shared strings of an XLSX workbook.",
    )

    # Rate limits are in the notation of ``limits``: "10/minute", "20 per hour".
    trusted_proxies: AddressList = Field(
        default_factory=list,
        description="Addresses or networks of the reverse proxies whose X-Forwarded-For is "
        "honoured; the socket peer is the client otherwise.",
    )
    rate_limit_storage_uri: str = Field(
        default="memory://",
        max_length=1000,
        description="Storage of the rate-limit counters (a `limits` storage URI); memory:// "
        "counts in each process separately.",
    )
    rate_limit_login_per_account: str = Field(
        default="10/minute", max_length=64, description="Login attempts one account may receive."
    )
    rate_limit_login_per_address: str = Field(
        default="30/minute",
        max_length=64,
        description="Login attempts one client address may make.",
    )
    rate_limit_login_backoff_seconds: float = Field(
        default=1.0,
        ge=0,
        le=3600,
        description="Wait after the first failed login of an account or address; each further "
        "consecutive failure doubles it, a success resets it; 0 turns back-off off.",
    )
    rate_limit_login_backoff_max_seconds: float = Field(
        default=900.0, ge=0, le=86_400, description="Longest back-off wait after failed logins."
    )
    rate_limit_registration_per_address: str = Field(
        default="20/hour",
        max_length=64,
        description="Anonymous self-registrations one client address may make.",
    )
    rate_limit_tokens_per_address: str = Field(
        default="60/minute",
        max_length=64,
        description="Tokens one client address may mint (logins and token issues together).",
    )
    rate_limit_tokens_per_credential: str = Field(
        default="20/minute",
        max_length=64,
        description="Tokens one bearer token may mint with POST /api/v1/tokens.",
    )
    rate_limit_uploads_per_credential: str = Field(
        default="60/hour",
        max_length=64,
        description="Files one bearer token may upload with POST /api/v1/uploads.",
    )
    metrics_allow: AddressList = Field(
        default_factory=list,
        description="Addresses or networks that may read GET /metrics without a token.",
    )

    @field_validator("trusted_proxies", "metrics_allow", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _check_addresses(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(
                    "expected IP addresses or networks (a.b.c.d, a.b.c.0/24, ::1), "
                    "got an entry that is neither"
                ) from exc
        return value

    @field_validator(
        "rate_limit_login_per_account",
        "rate_limit_login_per_address",
        "rate_limit_registration_per_address",
        "rate_limit_tokens_per_address",
        "rate_limit_tokens_per_credential",
        "rate_limit_uploads_per_credential",
    )
    @classmethod
    def _check_rate(cls, value: str) -> str:
        try:
            parse_rate(value)
        except ValueError as exc:
            raise ValueError(
                "expected a rate such as 10/minute or 20 per hour, got something else"
            ) from exc
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.default_database_path.resolve()}"

    @property
    def default_database_path(self) -> Path:
        """The SQLite file used when ``database_url`` is unset."""
        return self.home / "datacompact.db"

    @property
    def secret_path(self) -> Path:
        return self.home / SECRET_FILE

    @property
    def ingest_limits(self) -> IngestLimits:
        """The ``ingest_*`` settings as the readers take them."""
        return IngestLimits(
            max_columns=self.ingest_max_columns,
            xlsx_max_rows=self.ingest_xlsx_max_rows,
            xlsx_max_cells=self.ingest_xlsx_max_cells,
            xlsx_max_merged_ranges=self.ingest_xlsx_max_merged_ranges,
            xlsx_max_part_bytes=self.ingest_xlsx_max_part_bytes,
            xlsx_max_total_bytes=self.ingest_xlsx_max_total_bytes,
            xlsx_max_compression_ratio=self.ingest_xlsx_max_compression_ratio,
            xlsx_max_shared_strings_bytes=self.ingest_xlsx_max_shared_strings_bytes,
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings; tests build their own ``Settings`` instead."""
    return Settings()


def write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 from the first byte on, never world-readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents with mode 0700, whatever the umask; return it.

    ``mkdir``'s mode is masked by the process umask and ``Path.mkdir`` gives
    the parents it creates the default mode, so each folder made here is
    chmod-ed to 0700 after its creation. Folders that already exist keep theirs.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:  # pragma: no cover - the root always exists
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made meanwhile by another ingestion: its maker sets the mode
        os.chmod(folder, 0o700)
    return path


def ensure_home(settings: Settings) -> bool:
    """Create the home folder and the platform secret if missing; True if anything was created."""
    created = False
    if not settings.home.exists():
        settings.home.mkdir(parents=True, mode=0o700)
        created = True
    # The home holds the store (contacts, hashes, sealed keys) and the secrets:
    # only its owner may list or enter it, whatever mode it was made with.
    os.chmod(settings.home, 0o700)
    database = settings.default_database_path
    if settings.database_url is None and not database.exists():
        # SQLite gives its -wal and -shm files the database file's mode.
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT, 0o600))
    if not settings.secret_path.exists():
        write_private_file(settings.secret_path, secrets.token_bytes(SECRET_BYTES))
        created = True
    return created


def load_secret(settings: Settings) -> bytes:
    """Read the platform secret, refusing a missing, short or group/world-readable file."""
    path = settings.secret_path
    try:
        info = path.stat()
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigurationError(
            "平台密钥不存在，请先运行 datacompact init / platform secret missing: run `datacompact init`",
            details={"path": str(path)},
        ) from exc
    except OSError as exc:
        raise ConfigurationError(
            "无法读取平台密钥 / cannot read the platform secret", details={"path": str(path)}
        ) from exc
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigurationError(
            "平台密钥权限过宽，应为 0600 / platform secret must have mode 0600",
            details={"path": str(path), "mode": oct(stat.S_IMODE(info.st_mode))},
        )
    if len(data) != SECRET_BYTES:
        raise ConfigurationError(
            f"平台密钥长度错误 / expected a {SECRET_BYTES}-byte platform secret, got {len(data)} bytes",
            details={"path": str(path)},
        )
    return data
