"""The one exception tree of DataCompact.

Every error the platform raises on purpose is a :class:`DataCompactError`.
Foreign errors (SQLAlchemy, cryptography, file parsing, ``binascii``) are
translated at the boundary into the most specific class below with
``raise ... from exc``. The API maps the tree to a JSON error envelope and the
CLI to an exit code, each in one place, using :attr:`DataCompactError.status`,
:attr:`DataCompactError.code` and :attr:`DataCompactError.exit_code`.

Messages are written for the person at the other end. They never carry a data
value, a secret or a stack trace: say what was expected and what kind of thing
was found, not the thing itself.

::

    DataCompactError                       500  internal_error
    ├── ConfigurationError                 500  configuration_error
    ├── InvalidInput                       400  invalid_input
    │   ├── InvalidIdentifier              400  invalid_identifier
    │   ├── UnknownField                   400  unknown_field
    │   ├── MalformedInput                 400  malformed_input   ("expected X, got Y")
    │   ├── InvalidCharacter               422  invalid_character
    │   ├── PayloadTooLarge                413  payload_too_large
│   └── UnsupportedMediaType           415  unsupported_media_type
    ├── Unauthenticated                    401  unauthenticated
    │   ├── TokenExpired                   401  token_expired
    │   └── TokenRevoked                   401  token_revoked
    ├── Forbidden                          403  forbidden
    │   └── PolicyViolation                403  policy_violation
    ├── NotFound                           404  not_found
    ├── Conflict                           409  conflict
    │   ├── DuplicateRegistration          409  duplicate_registration
    │   └── InvalidTransition              409  invalid_transition
    │       ├── OutOfTurn                  409  out_of_turn
    │       └── AlreadyDecided             409  already_decided
    ├── VerificationFailed                 422  verification_failed
    ├── QueryFailed                        422  query_failed
    ├── RateLimited                        429  rate_limited
    ├── StoreUnavailable                   503  store_unavailable
    │   └── LogBehind                      503  log_behind
    └── RemoteError                        502  remote_error      (the CLI's client only)
        ├── NoPlatform                     502  no_platform
        ├── PlatformUnreachable            502  platform_unreachable
        ├── NotAPlatform                   502  not_a_platform
        └── TlsVerificationFailed          502  tls_verification_failed
"""

from __future__ import annotations

from typing import Any, ClassVar


class DataCompactError(Exception):
    """Base of every error the platform raises on purpose.

    ``details`` holds machine-readable context (field names, limits, kinds),
    never a data value taken from the input.
    """

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    exit_code: ClassVar[int] = 1
    #: The one-line heading of the error on the console, zh-CN first.
    title: ClassVar[str] = "错误 / error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})

    def to_envelope(self) -> dict[str, Any]:
        """The JSON error envelope of the API: ``{"error": {code, message, details}}``."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class ConfigurationError(DataCompactError):
    """The home folder, a setting or a secret is missing or unusable."""

    code = "configuration_error"
    exit_code = 3
    title = "配置错误 / configuration error"


class InvalidInput(DataCompactError):
    """The request is well-formed transport-wise but its content is not acceptable."""

    status = 400
    code = "invalid_input"
    exit_code = 2
    title = "输入无效 / invalid input"


class InvalidIdentifier(InvalidInput):
    """A USCC, region code, resident ID or other checksummed identifier fails validation."""

    code = "invalid_identifier"


class UnknownField(InvalidInput):
    """The request carries a field the endpoint does not know (no silent ignoring)."""

    code = "unknown_field"


class MalformedInput(InvalidInput):
    """Bytes or text that do not parse: JSON, a signed note, a proof, a key, a tile path.

    The message follows the form "expected X, got Y", where Y describes the
    kind or size of what was found, never its content.
    """

    code = "malformed_input"


class InvalidCharacter(InvalidInput):
    """Text holding NUL, another control character, a lone surrogate or a noncharacter.

    Refused at the boundary (request bodies, query and path parameters, the
    bearer token) before it can reach the store; ``details["errors"]`` names
    where, never what.
    """

    status = 422
    code = "invalid_character"


class PayloadTooLarge(InvalidInput):
    """A request body, an entry or a proof is larger than its documented limit."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(InvalidInput):
    """An uploaded file of a kind the readers cannot take, by its name or its first bytes."""

    status = 415
    code = "unsupported_media_type"


class Unauthenticated(DataCompactError):
    """No credential, or a credential that does not identify anyone."""

    status = 401
    code = "unauthenticated"
    exit_code = 4
    title = "未认证 / not authenticated"


class TokenExpired(Unauthenticated):
    """The API token was valid once but its expiry has passed."""

    code = "token_expired"


class TokenRevoked(Unauthenticated):
    """The API token was revoked by its owner or an administrator."""

    code = "token_revoked"


class Forbidden(DataCompactError):
    """``authorize`` denied the action; ``details["reason"]`` says why."""

    status = 403
    code = "forbidden"
    exit_code = 5
    title = "无权限 / forbidden"


class PolicyViolation(Forbidden):
    """The action is permitted to the actor in general but breaks a platform rule."""

    code = "policy_violation"


class NotFound(DataCompactError):
    """The object does not exist, or the actor may not know that it exists."""

    status = 404
    code = "not_found"
    exit_code = 6
    title = "未找到 / not found"


class Conflict(DataCompactError):
    """The request contradicts the current state of the store."""

    status = 409
    code = "conflict"
    exit_code = 7
    title = "冲突 / conflict"


class DuplicateRegistration(Conflict):
    """A participant, member or resource with the same unique key already exists."""

    code = "duplicate_registration"


class InvalidTransition(Conflict):
    """A status change that the object's life cycle does not allow."""

    code = "invalid_transition"


class OutOfTurn(InvalidTransition):
    """A reviewer decides before the parties whose turn it is under the governance mode.

    ``details["awaiting"]`` names the parties (and their participants) whose turn it is.
    """

    code = "out_of_turn"


class AlreadyDecided(InvalidTransition):
    """A reviewing party decides again on what it has already decided."""

    code = "already_decided"


class VerificationFailed(DataCompactError):
    """A signature, proof, checksum or recomputed tree does not match what was claimed."""

    status = 422
    code = "verification_failed"
    exit_code = 8
    title = "验证失败 / verification failed"


class QueryFailed(DataCompactError):
    """A governed query failed after its analysis passed, for whatever reason.

    Under every output mode stricter than plain records the outcome must not
    depend on the data, so the message and status are the same whatever
    happened (an engine error, a timeout, a resource limit, a grant revoked
    while it ran); the detail goes to the server log only. The query was
    charged before it ran and stays charged.
    """

    status = 422
    code = "query_failed"
    exit_code = 10
    title = "查询失败 / query failed"


class RateLimited(DataCompactError):
    """Too many requests of one kind in a window; ``details["retry_after"]`` says when to retry."""

    status = 429
    code = "rate_limited"
    exit_code = 11
    title = "请求过多 / too many requests"


class StoreUnavailable(DataCompactError):
    """The metadata store cannot be reached or refused the transaction."""

    status = 503
    code = "store_unavailable"
    exit_code = 9
    title = "存储不可用 / store unavailable"


class LogBehind(StoreUnavailable):
    """The restored log is shorter than a checkpoint the log already published.

    Every append is refused until an operator runs ``datacompact recover``,
    which records what was lost; ``details`` holds the two sizes.
    """

    code = "log_behind"
    title = "日志落后于已发布检查点 / log behind a published checkpoint"


class RemoteError(DataCompactError):
    """The CLI could not reach a platform to act on; raised by its client, never by the API."""

    status = 502
    code = "remote_error"
    exit_code = 12
    title = "无法连接平台 / no platform to talk to"


class NoPlatform(RemoteError):
    """Neither a platform home folder here nor a URL or profile: the CLI does not know where to act."""

    code = "no_platform"
    exit_code = 12
    title = "未指定平台 / no platform"


class PlatformUnreachable(RemoteError):
    """The URL does not answer: no such host, connection refused or timed out."""

    code = "platform_unreachable"
    exit_code = 13
    title = "平台不可达 / platform unreachable"


class NotAPlatform(RemoteError):
    """The URL answers, but not with the DataCompact API (an HTML page, another service)."""

    code = "not_a_platform"
    exit_code = 14
    title = "不是 DataCompact 平台 / not a DataCompact platform"


class TlsVerificationFailed(RemoteError):
    """The server's TLS certificate could not be verified against the trusted authorities."""

    code = "tls_verification_failed"
    exit_code = 15
    title = "TLS 证书验证失败 / TLS verification failed"


ALL_ERRORS: tuple[type[DataCompactError], ...] = (
    DataCompactError,
    ConfigurationError,
    InvalidInput,
    InvalidIdentifier,
    UnknownField,
    MalformedInput,
    InvalidCharacter,
    PayloadTooLarge,
    UnsupportedMediaType,
    Unauthenticated,
    TokenExpired,
    TokenRevoked,
    Forbidden,
    PolicyViolation,
    NotFound,
    Conflict,
    DuplicateRegistration,
    InvalidTransition,
    OutOfTurn,
    AlreadyDecided,
    VerificationFailed,
    QueryFailed,
    RateLimited,
    StoreUnavailable,
    LogBehind,
    RemoteError,
    NoPlatform,
    PlatformUnreachable,
    NotAPlatform,
    TlsVerificationFailed,
)
