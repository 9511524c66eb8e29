"""Receipts from the store under a 2-of-2 witness policy: witnessed, degraded, bundled, verified.

Two real ``Witness`` instances with their own keys and state are reached
over HTTP (an in-process transport per host); stopping one is removing its
host. The bundle route, ``datacompact verify receipt`` (a file, ``--index``
and ``--query`` fetched over HTTP) and ``/readyz`` are checked on the same log.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from datacompact.api import create_app
from datacompact.cli import _ledger_offline, app
from datacompact.config import get_settings
from datacompact.errors import VerificationFailed
from datacompact.ledger.formats.cosignature import CosignatureSigner
from datacompact.ledger.formats.policy import Policy
from datacompact.ledger.formats.receipt import Receipt, verify_receipt
from datacompact.ledger.log import checkpoints
from datacompact.ledger.witness import Witness, logs_from_vkeys
from datacompact.ledger.witness import create_app as witness_app

from ..api.conftest import ApiClient, bearer
from ..conftest import World
from ..policy.test_queries import _grant, register_roster
from .test_audit import _SyncASGITransport
from .test_store_log import _grow
from .test_store_witnesses import Hosts

runner = CliRunner()


class TwoWitnesses:
    def __init__(self, world: World, tmp_path: Path) -> None:
        self.world = world
        log_vkey = world.platform.log_signer.verifier().vkey
        self.signers = {n: CosignatureSigner.generate(n) for n in ("city-audit", "city-council")}
        self.apps = {
            name: _SyncASGITransport(
                witness_app(
                    Witness(
                        signer=signer,
                        logs=logs_from_vkeys([log_vkey]),
                        state_dir=tmp_path / name,
                    )
                )
            )
            for name, signer in self.signers.items()
        }
        self.policy_text = (
            f"log {log_vkey}\n"
            + "".join(
                f"witness {n} {s.verifier().vkey} http://{n}\n" for n, s in self.signers.items()
            )
            + "group both 2 city-audit city-council\nquorum both\n"
        )
        self.policy_file = tmp_path / "policy.txt"
        self.policy_file.write_text(self.policy_text)
        self.policy = Policy.from_text(self.policy_text)
        # What `serve` would load from DATACOMPACT_WITNESS_POLICY.
        world.platform.__dict__["witness_policy"] = self.policy
        self.up = dict(self.apps)

    def checkpoint(self) -> int:
        platform = self.world.platform
        with platform.db.write() as session:
            size = checkpoints.sign_checkpoint(
                session, signer=platform.log_signer, policy=self.policy
            ).size
        with httpx.Client(transport=Hosts(self.up)) as client:
            checkpoints.gather_cosignatures(
                platform.db, checkpoint_size=size, policy=self.policy, client=client
            )
        return size

    def receipt(self, index: int) -> dict[str, object]:
        with self.world.platform.db.read() as session:
            return checkpoints.receipt(session, index=index, size=None, policy=self.policy)


@pytest.fixture
def two(world: World, tmp_path: Path) -> TwoWitnesses:
    return TwoWitnesses(world, tmp_path)


def test_receipts_are_witnessed_only_while_the_quorum_holds(two: TwoWitnesses) -> None:
    _grow(two.world, 3)
    size = two.checkpoint()
    witnessed = two.receipt(size - 1)
    assert witnessed["witnessed"] is True
    assert witnessed["cosigners"] == ["city-audit", "city-council"]
    assert witnessed["missing"] == []
    assert witnessed["witness_policy"] == two.policy.describe()
    assert witnessed["origin"] == two.world.platform.settings.log_origin

    # One witness stops: the next entries are covered, but not witnessed.
    del two.up["city-council"]
    _grow(two.world, 2)
    newer = two.checkpoint()
    degraded = two.receipt(newer - 1)
    assert degraded["tree_size"] == newer
    assert degraded["witnessed"] is False
    assert degraded["cosigners"] == ["city-audit"]
    assert degraded["missing"] == ["city-council"]
    # An older entry is still proved against the newest witnessed checkpoint.
    assert two.receipt(size - 1)["witnessed"] is True

    # The witness comes back: the next checkpoint is witnessed again.
    two.up = dict(two.apps)
    _grow(two.world, 1)
    again = two.checkpoint()
    assert two.receipt(again - 1)["witnessed"] is True


def test_without_a_policy_nothing_is_witnessed(world: World) -> None:
    _grow(world, 2)
    world.platform.checkpoint()
    with world.platform.db.read() as session:
        found = checkpoints.receipt(session, index=0, size=None, policy=None)
    assert found["witnessed"] is False
    assert found["cosigners"] == []
    assert found["witness_policy"] is None


def test_the_bundle_route_serves_a_file_that_verifies_offline(two: TwoWitnesses) -> None:
    _grow(two.world, 4)
    size = two.checkpoint()
    client = ApiClient(create_app(two.world.platform))
    response = client.get(f"/ledger/bundle/{size - 2}")
    assert response.status_code == 200, response.text
    assert (
        response.headers["content-disposition"] == f'attachment; filename="receipt-{size - 2}.json"'
    )
    bundle = response.json()
    assert bundle["log_key"] == two.world.platform.log_signer.verifier().vkey
    assert bundle["tree_size"] == size
    assert bundle["witnessed"] is True
    verdict = verify_receipt(
        Receipt.from_json(bundle),
        log_key=two.world.platform.log_signer.verifier(),
        policy=two.policy,
    )
    assert verdict.cosigners == ("city-audit", "city-council")
    assert client.get(f"/ledger/bundle/{size + 5}").status_code == 404
    # The proof route tells the same witness story.
    proof = client.get(f"/ledger/proof/{size - 2}").json()
    assert proof["witnessed"] is True
    assert proof["missing"] == []


def test_a_bundle_missing_a_cosigner_fails_the_quorum(two: TwoWitnesses) -> None:
    del two.up["city-audit"]
    _grow(two.world, 2)
    size = two.checkpoint()
    with two.world.platform.db.read() as session:
        bundle = checkpoints.receipt_bundle(
            session,
            index=size - 1,
            size=None,
            policy=two.policy,
            log_key=two.world.platform.log_signer.verifier(),
        )
    assert bundle["missing"] == ["city-audit"]
    with pytest.raises(VerificationFailed, match="missing city-audit"):
        verify_receipt(
            Receipt.from_json(bundle),
            log_key=two.world.platform.log_signer.verifier(),
            policy=two.policy,
        )


def _served(two: TwoWitnesses, monkeypatch: pytest.MonkeyPatch) -> str:
    transport = _SyncASGITransport(create_app(two.world.platform))
    monkeypatch.setattr(_ledger_offline, "make_client", lambda: httpx.Client(transport=transport))
    return "http://platform.test"


def test_verify_receipt_fetches_by_index_and_prints_one_line(
    two: TwoWitnesses, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _grow(two.world, 3)
    size = two.checkpoint()
    url = _served(two, monkeypatch)
    saved = tmp_path / "receipt.json"
    result = runner.invoke(
        _ledger_offline.verify_app,
        ["receipt", "--index", str(size - 1), "--url", url,
         "--witness-policy", str(two.policy_file), "--save", str(saved)],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("\n") == 1
    assert f"entry {size - 1}" in result.stdout
    assert f"at size {size}" in result.stdout
    assert "city-audit, city-council (quorum 2 of (city-audit, city-council))" in result.stdout
    # The policy's log line pinned the key: no trust-on-first-use warning.
    assert "first use" not in result.stderr

    # The saved bundle verifies offline, with the key given as a file.
    key_file = tmp_path / "log.vkey"
    key_file.write_text(two.world.platform.log_signer.verifier().vkey + "\n")
    offline = runner.invoke(
        _ledger_offline.verify_app,
        ["receipt", str(saved), "--log-key", str(key_file), "--witness-policy",
         str(two.policy_file)],
    )  # fmt: skip
    assert offline.exit_code == 0, offline.stderr

    # Tampered on disk: exit 8, one line naming the check.
    bundle = json.loads(saved.read_text())
    bundle["inclusion_proof"][0] = "00" * 32
    saved.write_text(json.dumps(bundle))
    tampered = runner.invoke(
        _ledger_offline.verify_app,
        ["receipt", str(saved), "--log-key", str(key_file), "--witness-policy",
         str(two.policy_file)],
    )  # fmt: skip
    assert tampered.exit_code == 8
    assert len(tampered.stderr.strip().splitlines()) == 1
    assert "inclusion proof" in tampered.stderr


def test_verify_receipt_without_a_key_warns_of_trust_on_first_use(
    two: TwoWitnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    _grow(two.world, 2)
    size = two.checkpoint()
    url = _served(two, monkeypatch)
    result = runner.invoke(
        _ledger_offline.verify_app, ["receipt", "--index", str(size - 1), "--url", url]
    )
    assert result.exit_code == 0, result.stderr
    assert "trusting the log key served by" in result.stderr
    assert "witnesses not checked" in result.stdout


def test_verify_receipt_by_query_fetches_its_entry_with_the_analysts_token(
    two: TwoWitnesses, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = two.world
    resource_id = register_roster(world, tmp_path)
    grant_id = _grant(world, resource_id, mode="aggregates", columns=["区县", "金额"])
    api = ApiClient(create_app(world.platform))
    ran = api.post(
        "/api/v1/queries",
        json={
            "grant_id": grant_id,
            "sql": "SELECT 区县, count(*) AS n FROM relief_roster GROUP BY 区县",
        },
        headers=bearer(world, "enterprise.analyst"),
    )
    assert ran.status_code == 200, ran.text
    query_id = ran.json()["data"]["query"]["id"]
    two.checkpoint()
    shown = api.get(f"/api/v1/queries/{query_id}", headers=bearer(world, "enterprise.analyst"))
    log_index = shown.json()["receipt"]["log_index"]
    url = _served(two, monkeypatch)
    args = ["receipt", "--query", str(query_id), "--url", url, "--witness-policy",
            str(two.policy_file)]  # fmt: skip
    found = runner.invoke(
        _ledger_offline.verify_app,
        args,
        env={"DATACOMPACT_TOKEN": world.tokens["enterprise.analyst"]},
    )
    assert found.exit_code == 0, found.stderr
    assert f"entry {log_index} " in found.stdout
    # Without a token the platform refuses to say which entry it is: exit 4.
    anonymous = runner.invoke(_ledger_offline.verify_app, args, env={"DATACOMPACT_TOKEN": ""})
    assert anonymous.exit_code == 4, anonymous.stderr


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], 2),
        (["--index", "1"], 2),  # no --url
        (["x.json", "--index", "1", "--url", "http://h"], 2),
        (["--index", "1", "--url", "ftp://h"], 2),
        (["missing.json", "--log-key", "x"], 6),
    ],
)
def test_verify_receipt_usage_errors_are_not_verification_failures(
    args: list[str], code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(_ledger_offline.verify_app, ["receipt", *args])
    assert result.exit_code == code, result.stderr


def test_readyz_reports_a_stopped_witness_as_degraded(
    two: TwoWitnesses, monkeypatch: pytest.MonkeyPatch
) -> None:
    _grow(two.world, 2)
    two.checkpoint()
    down: set[str] = set()

    def reachable(url: str, **_kwargs: object) -> bool:
        return httpx.URL(url).host not in down

    monkeypatch.setattr(checkpoints, "witness_reachable", reachable)
    client = ApiClient(create_app(two.world.platform))
    ready = client.get("/readyz")
    assert ready.status_code == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["checks"]["witnesses"] == "ok"
    assert body["witnesses"]["cosigners"] == ["city-audit", "city-council"]

    down.add("city-council")
    del two.up["city-council"]
    degraded = client.get("/readyz")
    assert degraded.status_code == 200  # serving still works; receipts say what is missing
    body = degraded.json()
    assert body["status"] == "degraded"
    assert body["checks"]["witnesses"] == "degraded"
    assert body["witnesses"]["unreachable"] == ["city-council"]
    # Once the log grows, its newest checkpoint lacks the stopped witness too.
    _grow(two.world, 1)
    two.checkpoint()
    body = client.get("/readyz").json()
    assert body["witnesses"]["witnessed"] is False
    assert body["witnesses"]["missing"] == ["city-council"]


def test_ledger_bundle_writes_the_file_verify_receipt_accepts(
    two: TwoWitnesses, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _grow(two.world, 3)
    size = two.checkpoint()
    settings = two.world.platform.settings
    monkeypatch.delenv("DATACOMPACT_TOKEN", raising=False)
    monkeypatch.setenv("DATACOMPACT_HOME", str(settings.home))
    monkeypatch.setenv("DATACOMPACT_WITNESS_POLICY", str(two.policy_file))
    if settings.database_url:
        monkeypatch.setenv("DATACOMPACT_DATABASE_URL", settings.database_url)
    else:
        monkeypatch.delenv("DATACOMPACT_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        out = tmp_path / "bundle.json"
        written = runner.invoke(app, ["ledger", "bundle", str(size - 1), "--out", str(out)])
        assert written.exit_code == 0, written.stderr
        bundle = json.loads(out.read_text())
        assert bundle["index"] == size - 1
        assert bundle["cosigners"] == ["city-audit", "city-council"]
        again = runner.invoke(app, ["ledger", "bundle", str(size - 1), "--out", str(out)])
        assert again.exit_code == 7  # never overwrites
        missing = runner.invoke(app, ["ledger", "bundle", str(size + 10)])
        assert missing.exit_code == 6
    finally:
        get_settings.cache_clear()
    verified = runner.invoke(
        _ledger_offline.verify_app,
        ["receipt", str(out), "--witness-policy", str(two.policy_file)],
    )
    assert verified.exit_code == 0, verified.stderr
