"""A cooperation project from second machines: each party knows only the URL and its token.

``datacompact serve`` runs as a subprocess on the minimal world (SQLite and
PostgreSQL); every step is a CLI call in a home folder of its own, as the
README's project flow runs it: the owner creates the project, the regulator
approves its mode, the owner adds a lot and tenders it, two enterprises bid
(sealed), the owner cannot open before the deadline and opens after it, the
committee member scores, the owner awards, signs the contract, and the
public listing and the OCDS release package show the result without a token.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import World
from .test_remote_cli import Machine, machine, server

pytestmark = pytest.mark.slow

# The fixtures shared with the remote CLI tests.
__all__ = ["machine", "server"]

#: Seconds between the tender's publication and its deadline: long enough for
#: two bids through the CLI on a loaded machine, short enough to wait for.
BIDDING_SECONDS = 75


def _ok(done: Any) -> Any:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _error(done: Any, exit_code: int) -> dict[str, Any]:
    assert done.returncode == exit_code, (done.returncode, done.stdout, done.stderr)
    envelope: dict[str, Any] = json.loads(done.stderr)["error"]
    return envelope


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def test_a_procurement_from_second_machines(
    server: str, machine: Machine, world: World, tmp_path: Path
) -> None:
    def as_(key: str, *args: str) -> Any:
        return machine(
            "projects", *args, "--json", DATACOMPACT_URL=server, DATACOMPACT_TOKEN=world.tokens[key]
        )

    owner = "department.admin"
    created = _ok(
        as_(
            owner, "create", "--name", "城市大脑一期", "--domain", "city",
            "--sponsor", str(world.ids["department"]), "--technical", str(world.ids["regulator"]),
            "--mode", "government_purchase", "--budget", "2000000",
        )
    )  # fmt: skip
    pid = str(created["id"])
    assert created["owner_name"]
    assert created["log_index"] > 0
    # The owner may not approve its own mode; the regulator does.
    assert _error(as_(owner, "decide-mode", pid, "--decision", "approve", "--reason", "自批"), 5)
    decided = _ok(
        as_("regulator.reviewer", "decide-mode", pid, "--decision", "approve", "--reason", "符合")
    )
    assert decided["mode_status"] == "approved"
    lot = _ok(
        as_(
            owner, "lot", pid, "--title", "政务云运维", "--category", "operations",
            "--system", "政务云", "--budget", "500000", "--code-escrow",
        )
    )  # fmt: skip
    lid = str(lot["id"])
    ranking = _ok(as_(owner, "match", lid))
    assert ranking["lot_id"] == lot["id"]

    now = datetime.now(UTC)
    deadline = now + timedelta(seconds=BIDDING_SECONDS)
    tender = _ok(
        as_(
            owner, "tender", lid, "--method", "comprehensive",
            "--weights", '{"price": 40, "technical": 60}',
            "--opens-at", _utc(now - timedelta(minutes=5)), "--deadline", _utc(deadline),
            "--member", str(world.members["regulator.reviewer"]),
        )
    )  # fmt: skip
    tid = str(tender["id"])

    # Sealed bids, each from its own machine-side file.
    document = machine.folder / "投标文件.pdf"
    document.write_bytes(b"%PDF-1.4\n technical proposal\n")
    first = _ok(as_("enterprise.admin", "bid", tid, "--file", str(document), "--price", "400000"))
    second = _ok(as_("enterprise2.admin", "bid", tid, "--file", str(document), "--price", "300000"))
    assert first["bidder_name"]
    assert first["price"] == "400000.00"
    # Before the opening a bidder sees its own bid only, and nobody the committee.
    sealed = _ok(as_("enterprise.admin", "tender-show", tid))
    assert [b["id"] for b in sealed["bids"]] == [first["id"]]
    assert sealed["committee"] is None
    assert sealed["committee_names"] is None
    # The owner cannot open them early, nor anyone see the bids through the public listing.
    early = _error(as_(owner, "open", tid), 7)
    assert early["details"]["reason"] == "before_deadline"
    listed = httpx.get(f"{server}/public/projects", timeout=10).json()["data"]
    (public_lot,) = next(p for p in listed if p["id"] == created["id"])["lots"]
    assert public_lot["number_of_tenderers"] is None

    time.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 1)
    opened = _ok(as_(owner, "open", tid))
    assert opened["status"] == "opened"
    assert {(b["id"], b["bidder_name"]) for b in opened["bids"]} == {
        (first["id"], first["bidder_name"]),
        (second["id"], second["bidder_name"]),
    }
    for bid_id, mark in ((first["id"], "95"), (second["id"], "60.5")):
        scored = _ok(as_("regulator.reviewer", "score", str(bid_id), "--technical", mark))
        assert scored["scores"] == {"technical": mark}
    # Someone off the committee cannot score.
    assert _error(as_("enterprise.admin", "score", str(first["id"]), "--technical", "99"), 5)
    awarded = _ok(as_(owner, "award", tid))
    assert awarded["status"] == "awarded"
    award = awarded["award"]
    assert award["bid_id"] == first["id"]
    assert award["supplier_name"] == first["bidder_name"]
    assert awarded["committee_names"]

    # The contract, from a JSON file on the owner's machine.
    body = {
        "award_id": award["id"],
        "starts_on": "2027-01-01",
        "ends_on": "2027-12-31",
        "kpis": [{"name": "availability", "target": "99.9"}],
        "milestones": [
            {"title": "首期款", "amount": "100000.00", "due_on": "2027-06-30",
             "kpis": ["availability"]},
        ],
    }  # fmt: skip
    terms = machine.folder / "合同.json"
    terms.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    contract = _ok(as_(owner, "contract", "--file", str(terms)))
    assert contract["award_id"] == award["id"]
    assert contract["status"] == "active"

    # What anyone sees, without a token: the public listing and the OCDS package.
    listed = httpx.get(f"{server}/public/projects", timeout=10).json()["data"]
    (public_lot,) = next(p for p in listed if p["id"] == created["id"])["lots"]
    assert public_lot["number_of_tenderers"] == 2
    assert public_lot["award"]["supplier_name"] == first["bidder_name"]
    out = machine.folder / "release-package.json"
    exported = machine("projects", "export-ocds", "--out", str(out), DATACOMPACT_URL=server)
    assert exported.returncode == 0, exported.stderr
    package = json.loads(out.read_text(encoding="utf-8"))
    tags = {tag for release in package["releases"] for tag in release["tag"]}
    assert {"tender", "award", "contract"} <= tags


def test_a_classified_project_stays_out_of_the_public_record(
    server: str, machine: Machine, world: World
) -> None:
    env = {"DATACOMPACT_URL": server, "DATACOMPACT_TOKEN": world.tokens["department.admin"]}
    created = _ok(
        machine(
            "projects", "create", "--name", "涉密系统改造", "--domain", "security",
            "--sponsor", str(world.ids["department"]), "--technical", str(world.ids["regulator"]),
            "--mode", "jv_platform", "--budget", "900000", "--classified", "--json", **env,
        )
    )  # fmt: skip
    # Members of the platform read it through the API ...
    shown = _ok(machine("projects", "show", str(created["id"]), "--json", **env))
    assert shown["classified"] is True
    # ... but the public record leaves it out, for anyone.
    listed = httpx.get(f"{server}/public/projects", timeout=10).json()["data"]
    assert created["id"] not in {p["id"] for p in listed}
    signed_in = httpx.get(
        f"{server}/public/projects",
        headers={"Authorization": f"Bearer {world.tokens['department.admin']}"},
        timeout=10,
    ).json()["data"]
    assert signed_in == listed
    # The API's own project routes still need a token.
    anonymous = httpx.get(f"{server}/api/v1/projects/{created['id']}", timeout=10)
    assert anonymous.status_code == 401
