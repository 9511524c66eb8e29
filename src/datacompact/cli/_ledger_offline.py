"""Offline ledger commands: verification for auditors and an independent witness.

Nothing here opens the platform's database. ``verify_app`` checks signed notes
(C2SP signed-note), inclusion proofs and consistency proofs (RFC 9162
§2.1.3.2, §2.1.4.2) from their published parts; ``witness_app`` runs a C2SP
tlog-witness with its own key and state. Exit code 0 means verified; any
failure prints one line, Chinese first then English, to stderr and exits with
the error's ``exit_code``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

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
