"""Fetching what ``datacompact verify receipt`` needs from a served platform.

The platform's base URL (``https://host``; a trailing ``/ledger`` is accepted)
serves ``/ledger/bundle/<index>`` and ``/ledger/key`` to anyone, and a query's
record, with its log index, at ``/api/v1/queries/<id>`` to a token that may
read it. Nothing fetched here is trusted: the bundle is verified by
:func:`~datacompact.ledger.formats.receipt.verify_receipt`, and a log key
fetched from the same server is only trust on first use, which the caller
must say. No ``httpx`` exception leaves this module.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from datacompact.errors import (
    DataCompactError,
    Forbidden,
    MalformedInput,
    NotFound,
    StoreUnavailable,
    Unauthenticated,
)
from datacompact.ledger.formats.receipt import MAX_BUNDLE_BYTES

TIMEOUT_SECONDS = 10.0


def base_url(url: str) -> str:
    """The platform's base URL: no trailing slash, no trailing ``/ledger``."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise MalformedInput("地址无效 / expected an http(s) URL for --url, got another") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise MalformedInput("地址无效 / expected an http(s) URL for --url, got another")
    return url.rstrip("/").removesuffix("/ledger")


def _get(client: httpx.Client, url: str, what: str, token: str | None = None) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with client.stream("GET", url, headers=headers, timeout=TIMEOUT_SECONDS) as response:
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BUNDLE_BYTES:
                    raise MalformedInput(
                        f"回执过大 / expected {what} of at most {MAX_BUNDLE_BYTES} bytes, got more"
                    )
            status = response.status_code
    except httpx.HTTPError as exc:
        raise StoreUnavailable(
            f"无法连接平台 / expected the platform to answer for {what}, got no answer"
        ) from exc
    failures: dict[int, type[DataCompactError]] = {
        401: Unauthenticated,
        403: Forbidden,
        404: NotFound,
    }
    if status != 200:
        error = failures.get(status, StoreUnavailable)
        raise error(
            f"平台拒绝请求 / expected {what}, got HTTP {status}", details={"status": status}
        )
    return body


def _json(body: bytes, what: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedInput(
            f"不是平台的应答 / expected {what} as JSON, got another answer (not a platform?)"
        ) from exc


def fetch_bundle(
    client: httpx.Client, url: str, *, index: int | None = None, query: int | None = None,
    token: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The receipt bundle of log entry ``index``, or of the entry of query ``query``."""
    base = base_url(url)
    if (index is None) == (query is None):
        raise MalformedInput("expected exactly one of an index or a query id, got another")
    if query is not None:
        record = _json(_get(client, f"{base}/api/v1/queries/{query}", "the query", token), "query")
        receipt = record.get("receipt") if isinstance(record, dict) else None
        found = receipt.get("log_index") if isinstance(receipt, dict) else None
        if not isinstance(found, int) or isinstance(found, bool):
            raise NotFound("该查询没有回执 / expected a query with a receipt, got one without")
        index = found
    bundle = _json(_get(client, f"{base}/ledger/bundle/{index}", "the receipt bundle"), "bundle")
    if not isinstance(bundle, dict):
        raise MalformedInput("expected the bundle as a JSON object, got another JSON value")
    return bundle


def fetch_log_key(client: httpx.Client, url: str) -> str:
    """The log's verifier key as the platform serves it (trust on first use)."""
    body = _get(client, f"{base_url(url)}/ledger/key", "the log key")
    try:
        return body.decode("ascii").strip()
    except UnicodeDecodeError as exc:
        raise MalformedInput("expected the log key as text, got another answer") from exc
