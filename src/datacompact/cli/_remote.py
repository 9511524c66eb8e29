"""The CLI's client of the platform's own HTTP API: one request, one answer or one error.

A remote command calls the same route a browser or a script would, with the
member's bearer token, and gets back the route's ``data`` in the same shape
the local service gives the renderer. What can go wrong on the way has its
own error and exit code (see :mod:`datacompact.errors`):

- no answer at all (unknown host, connection refused, timeout):
  :class:`~datacompact.errors.PlatformUnreachable`;
- a certificate the client does not trust:
  :class:`~datacompact.errors.TlsVerificationFailed` (``DATACOMPACT_CA_BUNDLE``
  names a PEM file of authorities to trust, e.g. a government CA);
- an answer that is not the API's JSON (an HTML page, another service):
  :class:`~datacompact.errors.NotAPlatform`;
- the API's error envelope: the same class, message and exit code the local
  CLI gives for the same failure, with a hint to log in again on a 401.

httpx is imported when a remote command runs, not when the CLI starts.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from datacompact import __version__
from datacompact.errors import (
    ALL_ERRORS,
    Conflict,
    DataCompactError,
    InvalidInput,
    NotAPlatform,
    PlatformUnreachable,
    StoreUnavailable,
    TlsVerificationFailed,
    Unauthenticated,
)

if TYPE_CHECKING:
    import httpx

API_PREFIX = "/api/v1"
TIMEOUT_SECONDS = 30.0
#: The size of one piece of an upload's body: the progress bar advances by it.
UPLOAD_CHUNK = 256 * 1024

_BY_CODE: dict[str, type[DataCompactError]] = {cls.code: cls for cls in ALL_ERRORS}
#: What the served process answers while it loads the platform (see docs/errors.md).
_BY_CODE["starting"] = StoreUnavailable
_LOGIN_HINT = "（请重新登录：datacompact login / log in again: `datacompact login`）"


def normalized_url(url: str) -> str:
    """``https://host[:port][/prefix]``, without a trailing slash or the API's own prefix."""
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        got = "no scheme" if not parts.scheme else f"a {parts.scheme!r} URL"
        raise InvalidInput(
            f"平台地址无效 / invalid platform URL: expected http(s)://host[:port], got {got}; "
            "check --url",
            details={"option": "--url"},
        )
    if not parts.hostname or parts.query or parts.fragment or parts.username or parts.password:
        raise InvalidInput(
            "平台地址无效 / invalid platform URL: expected http(s)://host[:port] with no user, "
            "query or fragment; check --url",
            details={"option": "--url"},
        )
    path = parts.path.rstrip("/")
    path = path.removesuffix(API_PREFIX)
    return f"{parts.scheme}://{parts.netloc}{path}"


class JsonObject(dict[str, Any]):
    """A JSON object from the API, read as the local models are: ``obj.name`` or ``obj["name"]``."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def model_dump(self, **_: Any) -> dict[str, Any]:
        return dict(self)


def wrapped(value: Any) -> Any:
    """``value`` with each JSON object in it a :class:`JsonObject`."""
    if isinstance(value, dict):
        return JsonObject({k: wrapped(v) for k, v in value.items()})
    if isinstance(value, list):
        return [wrapped(v) for v in value]
    return value


@dataclass(frozen=True)
class Received:
    """A change made over the API: the object as it now stands and its log entry's index.

    Shaped like a local :class:`~datacompact.events.Recorded` for the renderers.
    """

    value: Any
    log_index: int


def _ssl_context() -> ssl.SSLContext:
    bundle = os.environ.get("DATACOMPACT_CA_BUNDLE")
    try:
        return ssl.create_default_context(cafile=bundle or None)
    except (OSError, ssl.SSLError):
        raise InvalidInput(
            "无法读取 CA 证书文件 / cannot read DATACOMPACT_CA_BUNDLE: expected a PEM file "
            "of certificate authorities",
            details={"variable": "DATACOMPACT_CA_BUNDLE"},
        ) from None


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        if "CERTIFICATE_VERIFY_FAILED" in str(seen) or "SSL" in type(seen).__name__:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class ApiClient:
    """The platform's API at ``url``, acting with ``token`` (anonymous when empty)."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network, for tests (an ``httpx.MockTransport``)."""
        import httpx

        self.url = normalized_url(url)
        self.token = token or None
        if self.token and _in_clear(self.url):
            from datacompact.cli._output import err_console

            err_console.print(
                "[yellow]令牌将以明文 HTTP 发送，请改用 HTTPS / the token goes over plain HTTP to "
                "another machine: use https://[/]",
                highlight=False,
            )
        headers = {"User-Agent": f"datacompact-cli/{__version__}", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._http = httpx.Client(
            base_url=self.url + API_PREFIX,
            headers=headers,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            verify=_ssl_context() if self.url.startswith("https:") else True,
            follow_redirects=False,
            trust_env=True,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- requests -------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of a successful answer, or the error the answer stands for."""
        import httpx

        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        return self._answer(response)

    def get(self, path: str, **params: Any) -> Any:
        """``GET path`` with these query parameters (``None`` values left out)."""
        query = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=query)

    def data(self, path: str, **params: Any) -> Any:
        """The ``data`` of ``GET path``: one object or a list, as the local service returns it."""
        return self._data(self.get(path, **params))

    def page(self, path: str, **params: Any) -> tuple[Any, dict[str, Any]]:
        """The ``data`` of ``GET path`` and the whole answer, for what lies beside (a total)."""
        answer = self.get(path, **params)
        return self._data(answer), answer

    def send(self, method: str, path: str, body: Any = None) -> Any:
        """The ``data`` of a request with a JSON body (``None`` for no body)."""
        return self._data(self._send(method, path, body))

    def change(self, method: str, path: str, body: Any = None) -> Any:
        """A state change: a :class:`Received`, shaped like the local ``Recorded``."""
        answer = self._send(method, path, body)
        data = self._data(answer)
        receipt = answer.get("receipt")
        if not isinstance(receipt, dict) or not isinstance(receipt.get("log_index"), int):
            raise self._not_a_platform("a change without its receipt")
        return Received(data, receipt["log_index"])

    def public(self, path: str) -> Any:
        """The JSON body of a public route outside the API's prefix (``/public/...``)."""
        import httpx

        try:
            response = self._http.get(self.url + path)
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        return wrapped(self._answer(response))

    def download(self, path: str, **params: Any) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a route that streams a file (CSV, Parquet), read whole."""
        import httpx

        try:
            response = self._http.get(path, params={k: v for k, v in params.items() if v})
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if response.is_success and kind != "application/json" and "text/html" not in kind:
            return response.content, {k.lower(): v for k, v in response.headers.items()}
        self._answer(response)  # the error envelope, or not the platform
        raise self._not_a_platform(f"HTTP {response.status_code}, {kind or 'no'} content")

    def text(self, path: str, media_type: str) -> str:
        """The body of a route that answers ``media_type`` text (a Turtle export)."""
        import httpx

        try:
            response = self._http.get(path, headers={"Accept": media_type})
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if response.is_success and kind == media_type:
            return response.text
        self._answer(response)  # the error envelope, or not the platform
        raise self._not_a_platform(f"HTTP {response.status_code}, {kind or 'no'} content")

    def _send(self, method: str, path: str, body: Any) -> Any:
        if body is None:
            return self.request(method, path)
        return self.request(method, path, json=body)

    # -- upload ---------------------------------------------------------

    def upload(self, file: Path, *, progress: bool) -> dict[str, Any]:
        """Stream ``file`` into the acting participant's inbox; ``{name, size, sha256}``.

        The inbox never replaces a file: when one of that name is there (a
        409), the file goes in once more under its name and the time, so that a
        new version of the same file can be uploaded.
        """
        try:
            return self._upload(file, file.name, progress=progress)
        except Conflict:
            from datacompact.clock import utcnow

            again = f"{file.stem}-{utcnow():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:4]}{file.suffix}"
            return self._upload(file, again, progress=progress)

    def _upload(self, file: Path, name: str, *, progress: bool) -> dict[str, Any]:
        import httpx

        try:
            handle = file.open("rb")
        except OSError as exc:
            raise InvalidInput(
                f"无法读取上传文件 / cannot read the --file to upload: {exc.strerror}",
                details={"option": "--file"},
            ) from None
        with handle:
            size = os.fstat(handle.fileno()).st_size
            boundary = uuid.uuid4().hex
            head = (
                f"--{boundary}\r\n"
                f'Content-Disposition: form-data; name="file"; filename="{_quoted(name)}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            tail = f"\r\n--{boundary}--\r\n".encode()
            digest = hashlib.sha256()
            with _upload_bar(file.name, size, progress) as advance:

                def body() -> Iterator[bytes]:
                    yield head
                    while chunk := handle.read(UPLOAD_CHUNK):
                        digest.update(chunk)
                        advance(len(chunk))
                        yield chunk
                    yield tail

                headers = {
                    "Content-Type": f"multipart/form-data; boundary={boundary}",
                    "Content-Length": str(len(head) + size + len(tail)),
                }
                try:
                    response = self._http.post("/uploads", content=body(), headers=headers)
                except httpx.TransportError as exc:
                    raise self._transport_error(exc) from None
        answer = self._answer(response)
        stored = answer if isinstance(answer, dict) and "name" in answer else None
        if stored is None and isinstance(answer, dict) and isinstance(answer.get("data"), dict):
            stored = answer["data"]
        if stored is None or not isinstance(stored.get("name"), str):
            raise self._not_a_platform("an upload without the stored file's name")
        if stored.get("sha256") not in (None, digest.hexdigest()):
            raise DataCompactError(
                "上传内容校验不符 / the uploaded file's SHA-256 differs from the one sent: "
                "upload it again",
                details={"file": file.name},
            )
        return dict(stored)

    # -- answers --------------------------------------------------------

    def _data(self, answer: Any) -> Any:
        if not isinstance(answer, dict) or "data" not in answer:
            raise self._not_a_platform("JSON without the API's data member")
        return wrapped(answer["data"])

    def _answer(self, response: httpx.Response) -> Any:
        kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
        body: Any = None
        if kind == "application/json" or kind.endswith("+json"):
            try:
                body = response.json()
            except ValueError:
                body = None
        if response.is_success:
            if body is None:
                raise self._not_a_platform(f"HTTP {response.status_code}, {kind or 'no'} content")
            return body
        error = body.get("error") if isinstance(body, dict) else None
        if (
            not isinstance(error, dict)
            or not isinstance(error.get("code"), str)
            or not isinstance(error.get("message"), str)
        ):
            raise self._not_a_platform(f"HTTP {response.status_code}, {kind or 'no'} content")
        raise self._error(response.status_code, error)

    def _error(self, status: int, error: dict[str, Any]) -> DataCompactError:
        cls = _BY_CODE.get(error["code"])
        if cls is None:
            cls = next((c for c in ALL_ERRORS if c.status == status), DataCompactError)
        details = error.get("details")
        message = error["message"]
        if issubclass(cls, Unauthenticated):
            message = f"{message} {_LOGIN_HINT}"
        return cls(message, details=details if isinstance(details, dict) else None)

    def _not_a_platform(self, what: str) -> NotAPlatform:
        return NotAPlatform(
            "该地址不是 DataCompact 平台的 API，请检查 --url / the URL does not answer with the "
            f"DataCompact API (got {what}): check --url",
            details={"url": self.url},
        )

    def _transport_error(self, exc: httpx.TransportError) -> DataCompactError:
        import httpx

        if _is_tls_failure(exc):
            return TlsVerificationFailed(
                "无法验证服务器的 TLS 证书；如使用自有 CA，请设置 DATACOMPACT_CA_BUNDLE / the "
                "server's TLS certificate could not be verified: set DATACOMPACT_CA_BUNDLE to "
                "your CA's PEM file if the platform uses its own",
                details={"url": self.url},
            )
        if isinstance(exc, httpx.TimeoutException):
            why = "timed out"
        elif isinstance(exc, httpx.ConnectError):
            why = "no such host, or the connection was refused"
        else:
            why = f"the connection failed ({type(exc).__name__})"
        return PlatformUnreachable(
            f"无法连接平台，请检查地址与网络 / cannot reach the platform: {why}; check --url "
            "and the network",
            details={"url": self.url},
        )


def _in_clear(url: str) -> bool:
    """Whether ``url`` is plain HTTP to another machine than this one."""
    import ipaddress

    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname is None:
        return False
    if parts.hostname == "localhost":
        return False
    try:
        return not ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return True


def _quoted(name: str) -> str:
    """A file name for a multipart header: UTF-8 as browsers send it (RFC 7578), quotes escaped."""
    return name.replace('"', '\\"').replace("\r", "%0D").replace("\n", "%0A")


class _NoBar:
    def __enter__(self) -> Any:
        return lambda _: None

    def __exit__(self, *_: object) -> None:
        return None


class _Bar:
    """A Rich progress bar on stderr with the total, the speed and the time left."""

    def __init__(self, label: str, total: int) -> None:
        from rich.markup import escape
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        from datacompact.cli._output import err_console

        self._progress = Progress(
            TextColumn(f"[bold]上传 / uploading[/] {escape(label)}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err_console,
            transient=True,
        )
        self._task = self._progress.add_task("upload", total=total)

    def __enter__(self) -> Any:
        self._progress.start()
        return lambda n: self._progress.advance(self._task, n)

    def __exit__(self, *_: object) -> None:
        self._progress.stop()


def _upload_bar(label: str, total: int, enabled: bool) -> _Bar | _NoBar:
    return _Bar(label, total) if enabled else _NoBar()
