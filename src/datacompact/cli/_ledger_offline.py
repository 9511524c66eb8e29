"""Offline ledger commands: verification for auditors and an independent witness.

Nothing here opens the platform's database. ``verify_app`` checks signed notes
(C2SP signed-note), inclusion proofs and consistency proofs (RFC 9162
§2.1.3.2, §2.1.4.2) from their published parts, and whole receipts (a file,
or fetched over HTTP by ``verify receipt --index/--query --url``); ``witness_app`` runs a C2SP
tlog-witness with its own key and state. Exit code 0 means verified; any
failure prints one line, Chinese first then English, to stderr and exits with
the error's ``exit_code``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from datacompact.cli._output import handled
from datacompact.errors import (
    Conflict,
    InvalidInput,
    MalformedInput,
    NotFound,
    VerificationFailed,
)
from datacompact.ledger.formats.checkpoint import open_checkpoint
from datacompact.ledger.formats.cosignature import (
    COSIGNATURE_TYPE,
    CosignatureSigner,
    CosignatureVerifier,
)
from datacompact.ledger.formats.merkle import HASH_SIZE, verify_consistency, verify_inclusion
from datacompact.ledger.formats.note import (
    ED25519_TYPE,
    Ed25519Verifier,
    Verifier,
    parse_vkey,
    verify_note,
)

if TYPE_CHECKING:
    import httpx

    from datacompact.ledger.formats.policy import Policy

verify_app = typer.Typer(
    help="离线验证 / Verify notes and proofs offline, without the server database.",
    no_args_is_help=True,
)
witness_app = typer.Typer(
    help="独立见证 / Run an independent C2SP tlog-witness.",
    no_args_is_help=True,
)

#: Private key files must be readable by their owner only.
_KEY_FILE_MODE = 0o600


def _run(action: Callable[[], str]) -> None:
    """Run one command body; print its success line or its one-line failure."""
    with handled():
        message = action()
    typer.echo(message)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise NotFound("expected an existing file, got no file at that path") from exc
    except OSError as exc:
        raise InvalidInput("expected a readable file, got one that cannot be read") from exc


def _hash(text: str, what: str) -> bytes:
    value = text.strip()
    if len(value) != 2 * HASH_SIZE or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise MalformedInput(
            f"expected {2 * HASH_SIZE} hex digits of {what}, got {len(value)} characters"
        )
    return bytes.fromhex(value)


def _proof(text: str) -> list[bytes]:
    # An empty string is the empty proof (a one-leaf tree, or equal sizes).
    return [_hash(item, "proof hash") for item in text.split(",")] if text.strip() else []


def _verifier(vkey: str) -> Verifier:
    material = parse_vkey(vkey)
    if material.sig_type == ED25519_TYPE:
        return Ed25519Verifier.from_vkey(vkey)
    if material.sig_type == COSIGNATURE_TYPE:
        return CosignatureVerifier.from_vkey(vkey)
    raise MalformedInput("expected a verifier key of type 0x01 or 0x04, got another type")


@verify_app.command("note")
def verify_note_command(
    file: Annotated[Path, typer.Argument(help="签名注记文件 / signed note file")],
    key: Annotated[list[str], typer.Option("--key", help="验证公钥 / verifier key (vkey)")],
) -> None:
    """验证签名注记 / Verify a C2SP signed note against published keys."""

    def action() -> str:
        verifiers = [_verifier(k) for k in key]
        verified = verify_note(_read_bytes(file), verifiers)
        names = ", ".join(sorted(verified.verified_names))
        return f"已验证 / verified: {len(verified.verified)} signature(s) by {names}"

    _run(action)


@verify_app.command("inclusion")
def verify_inclusion_command(
    leaf_hash: Annotated[str, typer.Option("--leaf-hash", help="叶哈希 / leaf hash (hex)")],
    index: Annotated[int, typer.Option("--index", help="叶序号 / leaf index")],
    size: Annotated[int, typer.Option("--size", help="树大小 / tree size")],
    proof: Annotated[str, typer.Option("--proof", help="证明 / HEX[,HEX...]")] = "",
    root: Annotated[str | None, typer.Option("--root", help="根哈希 / root (hex)")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option("--checkpoint", help="检查点 / signed checkpoint file")
    ] = None,
    key: Annotated[
        list[str] | None, typer.Option("--key", help="日志公钥 / log verifier key")
    ] = None,
) -> None:
    """验证包含证明 / Verify an RFC 9162 inclusion proof."""

    def action() -> str:
        if (root is None) == (checkpoint is None):
            raise InvalidInput("expected exactly one of --root or --checkpoint, got another")
        if checkpoint is not None:
            if not key:
                raise InvalidInput("expected --key with --checkpoint, got none")
            signed = open_checkpoint(_read_bytes(checkpoint), [_verifier(k) for k in key])
            if signed.checkpoint.size != size:
                raise VerificationFailed(
                    "expected --size to equal the checkpoint size, got another"
                )
            root_hash = signed.checkpoint.root_hash
        else:
            root_hash = _hash(root or "", "root hash")
        verify_inclusion(
            leaf_hash=_hash(leaf_hash, "leaf hash"),
            index=index,
            size=size,
            proof=_proof(proof),
            root=root_hash,
        )
        return f"已验证 / verified: leaf {index} is included in the tree of size {size}"

    _run(action)


@verify_app.command("consistency")
def verify_consistency_command(
    old_size: Annotated[int, typer.Option("--old-size", help="旧树大小 / old tree size")],
    old_root: Annotated[str, typer.Option("--old-root", help="旧根 / old root (hex)")],
    new_size: Annotated[int, typer.Option("--new-size", help="新树大小 / new tree size")],
    new_root: Annotated[str, typer.Option("--new-root", help="新根 / new root (hex)")],
    proof: Annotated[str, typer.Option("--proof", help="证明 / HEX[,HEX...]")] = "",
) -> None:
    """验证一致性证明 / Verify an RFC 9162 consistency proof."""

    def action() -> str:
        verify_consistency(
            old_size=old_size,
            new_size=new_size,
            old_root=_hash(old_root, "old root hash"),
            new_root=_hash(new_root, "new root hash"),
            proof=_proof(proof),
        )
        return f"已验证 / verified: size {new_size} extends size {old_size}"

    _run(action)


@witness_app.command("keygen")
def witness_keygen_command(
    name: Annotated[str, typer.Option("--name", help="见证名 / witness key name")],
    out: Annotated[Path, typer.Option("--out", help="私钥文件 / private key file to create")],
) -> None:
    """生成见证密钥 / Create a witness key file (mode 0600) and print its verifier key."""

    def action() -> str:
        signer = CosignatureSigner.generate(name)
        try:
            # O_EXCL: never overwrite a key someone may already depend on.
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _KEY_FILE_MODE)
        except FileExistsError as exc:
            raise Conflict("expected a new key file path, got an existing file") from exc
        except OSError as exc:
            raise InvalidInput("expected a writable key file path, got one that is not") from exc
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(signer.skey + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        return signer.verifier().vkey

    _run(action)


@witness_app.command("serve")
def witness_serve_command(
    key: Annotated[Path, typer.Option("--key", help="见证私钥文件 / witness key file")],
    log_key: Annotated[list[str], typer.Option("--log-key", help="日志公钥 / log vkey")],
    state: Annotated[Path, typer.Option("--state", help="状态目录 / state directory")],
    port: Annotated[int, typer.Option("--port", help="端口 / port")],
    host: Annotated[str, typer.Option("--host", help="地址 / host")] = "127.0.0.1",
) -> None:
    """运行见证服务 / Serve POST /add-checkpoint until interrupted."""
    # Imported here so the verify commands stay light for auditors.
    import uvicorn

    from datacompact.ledger.witness import Witness, create_app, logs_from_vkeys

    with handled():
        signer = CosignatureSigner.from_skey(_read_bytes(key).decode("ascii", "replace"))
        try:
            state.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInput(
                "状态目录不可用 / expected a usable state directory, got one that is not"
            ) from exc
        witness = Witness(signer=signer, logs=logs_from_vkeys(log_key), state_dir=state)
    typer.echo(f"witness {signer.verifier().vkey} listening on {host}:{port}", err=True)
    uvicorn.run(create_app(witness), host=host, port=port, log_level="warning")


def make_client() -> httpx.Client:
    """The HTTP client ``verify receipt`` fetches with. Tests replace this."""
    import httpx

    return httpx.Client(follow_redirects=False)


def _log_key(
    given: str | None, policy: Policy | None, url: str | None, origin: str | None
) -> Ed25519Verifier:
    """The log key to trust: --log-key, else the policy's log, else fetched (TOFU, warned)."""
    if given is not None:
        path = Path(given)
        text = _read_bytes(path).decode("ascii", "replace") if path.is_file() else given
        return Ed25519Verifier.from_vkey(text.strip())
    if policy is not None:
        logs = [log for log in policy.logs if origin is None or log.name == origin]
        if len(logs) == 1:
            return logs[0]
    if url is None:
        raise InvalidInput(
            "缺少日志公钥 / expected --log-key (or a --witness-policy with the log's 'log' line, "
            "or --url to fetch it), got none"
        )
    from datacompact.ledger.auditor.receipt_fetch import fetch_log_key

    with make_client() as client:
        vkey = fetch_log_key(client, url)
    typer.echo(
        "警告：日志公钥取自被验证的服务器本身（首次使用即信任），请用 --log-key 固定 / warning: "
        f"trusting the log key served by {url} on first use; pin it with --log-key {vkey}",
        err=True,
    )
    return Ed25519Verifier.from_vkey(vkey)


@verify_app.command("receipt")
def verify_receipt_command(
    file: Annotated[
        Path | None,
        typer.Argument(help="回执或回执包 JSON / a receipt or receipt bundle (JSON)"),
    ] = None,
    index: Annotated[
        int | None, typer.Option("--index", min=0, help="按日志序号获取 / fetch entry N (--url)")
    ] = None,
    query: Annotated[
        int | None,
        typer.Option("--query", min=1, help="按查询编号获取 / fetch query ID's receipt (--url)"),
    ] = None,
    url: Annotated[
        str | None, typer.Option("--url", help="平台地址 / platform base URL to fetch from")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token", envvar="DATACOMPACT_TOKEN", help="令牌（--query）/ token to read the query"
        ),
    ] = None,
    log_key: Annotated[
        str | None,
        typer.Option("--log-key", help="日志公钥或其文件 / the log's vkey, or a file holding it"),
    ] = None,
    witness_policy: Annotated[
        Path | None,
        typer.Option(
            "--witness-policy",
            dir_okay=False,
            help="见证策略（C2SP tlog-policy）/ witness names, keys and quorum",
        ),
    ] = None,
    save: Annotated[
        Path | None,
        typer.Option("--save", dir_okay=False, help="保存获取的回执包 / save the fetched bundle"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON 输出 / JSON output")] = False,
) -> None:
    """验证回执：检查点签名、见证副署与法定数、包含证明 / verify a receipt end to end.

    Prints one line: verified (index, log size, cosigners and quorum), or the
    check that failed. Exit 0 verified, 8 not verified, 2 usage or a malformed
    receipt, 6 not found, 9 the platform cannot be reached.
    """
    import json

    from datacompact.ledger.formats.policy import Policy
    from datacompact.ledger.formats.receipt import Receipt, verify_receipt

    with handled(as_json):
        sources = (file is not None) + (index is not None) + (query is not None)
        if sources != 1:
            raise InvalidInput(
                "用法 / expected exactly one of RECEIPT.json, --index N or --query ID, got "
                f"{sources}"
            )
        if file is None and url is None:
            raise InvalidInput("用法 / expected --url with --index or --query, got none")
        if file is not None:
            data: bytes | dict[str, object] = _read_bytes(file)
        else:
            from datacompact.ledger.auditor.receipt_fetch import fetch_bundle

            assert url is not None  # noqa: S101 - checked above, narrows the type
            with make_client() as client:
                data = fetch_bundle(client, url, index=index, query=query, token=token)
            if save is not None:
                try:
                    with open(save, "x", encoding="utf-8") as handle:
                        json.dump(data, handle, ensure_ascii=False, indent=2)
                except FileExistsError as exc:
                    raise Conflict("expected a new file for --save, got an existing one") from exc
                except OSError as exc:
                    raise InvalidInput("expected a writable path for --save, got another") from exc
        receipt = Receipt.from_json(data)
        policy = None
        if witness_policy is not None:
            policy = Policy.from_text(_read_bytes(witness_policy).decode("utf-8", "replace"))
        key = _log_key(log_key, policy, url, receipt.origin)
        verdict = verify_receipt(receipt, log_key=key, policy=policy)
    typer.echo(json.dumps(verdict.to_dict()) if as_json else verdict.summary())
