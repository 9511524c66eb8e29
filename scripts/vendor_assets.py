"""Refresh the console's vendored assets from the npm registry.

Every asset the console serves, and axe-core for the accessibility tests, is
copied into the repository with its name, version, licence, source and
SHA-256 recorded beside it in ``VENDORED.json``. Nothing is fetched at
install or run time. Run this script to move to another version:

    python scripts/vendor_assets.py              # the pinned versions below
    python scripts/vendor_assets.py --check      # verify the files against VENDORED.json

It uses ``npm pack`` (so the npm client's registry settings and integrity
checks apply) and copies only the named files out of each package.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSOLE_VENDOR = ROOT / "src" / "datacompact" / "console" / "static" / "vendor"
TEST_VENDOR = ROOT / "tests" / "console" / "vendor"


@dataclass(frozen=True)
class Asset:
    package: str
    version: str
    files: dict[str, str]  # path inside the package -> file name in the folder
    folder: Path


ASSETS = [
    Asset(
        "htmx.org",
        "2.0.8",
        {"dist/htmx.min.js": "htmx.min.js", "LICENSE": "htmx.LICENSE"},
        CONSOLE_VENDOR,
    ),
    Asset(
        "echarts",
        "6.1.0",
        {"dist/echarts.simple.min.js": "echarts.simple.min.js", "LICENSE": "echarts.LICENSE"},
        CONSOLE_VENDOR,
    ),
    Asset(
        "axe-core",
        "4.11.0",
        {"axe.min.js": "axe.min.js", "LICENSE": "axe-core.LICENSE"},
        TEST_VENDOR,
    ),
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pack(asset: Asset, work: Path) -> tuple[Path, dict[str, str]]:
    spec = f"{asset.package}@{asset.version}"
    out = subprocess.run(
        ["npm", "pack", spec, "--json", "--pack-destination", str(work)],
        check=True,
        capture_output=True,
        text=True,
        cwd=work,
    )
    info = json.loads(out.stdout)[0]
    view = subprocess.run(
        ["npm", "view", spec, "license", "dist.tarball", "--json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=work,
    )
    meta = json.loads(view.stdout)
    return work / info["filename"], {
        "license": str(meta["license"]),
        "source": str(meta["dist.tarball"]),
        "integrity": str(info["integrity"]),
    }


def _record(folder: Path) -> dict[str, dict[str, str]]:
    path = folder / "VENDORED.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def refresh() -> None:
    records: dict[Path, dict[str, dict[str, str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for asset in ASSETS:
            tarball, meta = _pack(asset, Path(tmp))
            asset.folder.mkdir(parents=True, exist_ok=True)
            with tarfile.open(tarball) as archive:
                for inner, name in asset.files.items():
                    member = archive.extractfile(f"package/{inner}")
                    if member is None:
                        raise SystemExit(f"{asset.package}: no file {inner} in the package")
                    target = asset.folder / name
                    target.write_bytes(member.read())
                    records.setdefault(asset.folder, {})[name] = {
                        "package": asset.package,
                        "version": asset.version,
                        "license": meta["license"],
                        "source": meta["source"],
                        "package_integrity": meta["integrity"],
                        "path_in_package": inner,
                        "sha256": _sha256(target),
                    }
    for folder, entries in records.items():
        text = json.dumps(dict(sorted(entries.items())), indent=2, ensure_ascii=False)
        (folder / "VENDORED.json").write_text(text + "\n", encoding="utf-8")
        print(f"wrote {folder.relative_to(ROOT)}/VENDORED.json ({len(entries)} files)")


def check() -> int:
    bad = 0
    for folder in {a.folder for a in ASSETS}:
        for name, entry in _record(folder).items():
            path = folder / name
            if not path.exists() or _sha256(path) != entry["sha256"]:
                print(f"mismatch: {path.relative_to(ROOT)}", file=sys.stderr)
                bad += 1
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify, do not download")
    if parser.parse_args().check:
        return check()
    refresh()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
