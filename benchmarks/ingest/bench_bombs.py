"""What a hostile XLSX costs before it is refused: CPU time and memory of the refusal.

    .venv/bin/python benchmarks/ingest/bench_bombs.py

Two files of the demo city's measurements, built from raw XML into a
temporary folder:

- ``merged``: 1.6 KB, 2,000 merged ranges each as wide as a sheet (A1:XFD1).
  It cost 29 s of CPU before it was refused.
- ``shared``: about 200 KB whose one shared string expands to 200 MB. It was
  accepted, and the process kept about 190 MB afterwards.
- ``grid``: 5 MB, a 2,029-column header and a million rows of one value each
  (2 billion padded cells), with no ``<dimension>``: openpyxl alone spent
  4 s reading it at load, before any check could run.
- ``gap``: 1.5 KB, the same header and one row a million rows down; it is
  valid and is staged (one record), where padding every missing row cost 47 s.

The shared-strings file is refused twice: by its compression ratio (from the
archive's directory, nothing decompressed), and with the ratio check waived,
by the streaming count of its shared strings (64 MiB read, 64 KiB at a time).
Each refusal runs in a child process, which reports its CPU time
(``time.process_time``) and the growth of its peak RSS over the imports. The
baseline is what openpyxl alone (the reader's engine) costs to open the same
shared-strings file in read-only mode, which the checks now spare.

Targets (issue "a service that operators can run"): each refusal (and the
staging of ``gap``) <= 0.5 s of CPU and <= 32 MB of peak RSS growth.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
MiB = 1 << 20
CPU_TARGET_S = 0.5
RSS_TARGET_MB = 32


def _write(path: Path, sheet: str, shared_text_bytes: int | None) -> Path:
    shared = shared_text_bytes is not None
    sst = f'<Override PartName="/xl/sharedStrings.xml" ContentType="{CT}.sharedStrings+xml"/>'
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" '
            'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            '<Default Extension="xml" ContentType="application/xml"/>'
            f'<Override PartName="/xl/workbook.xml" ContentType="{CT}.sheet.main+xml"/>'
            f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{CT}.worksheet+xml"/>'
            f"{sst if shared else ''}</Types>",
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" '
            f'Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
            '<sheet name="s" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        rel_sst = f'<Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{PKG_REL}"><Relationship Id="rId1" '
            f'Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>'
            f"{rel_sst if shared else ''}</Relationships>",
        )
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
        if shared_text_bytes is not None:
            with archive.open("xl/sharedStrings.xml", "w", force_zip64=True) as part:
                part.write(f'<sst xmlns="{MAIN}"><si><t>'.encode())
                block = b"A" * MiB
                for _ in range(shared_text_bytes // MiB):
                    part.write(block)
                part.write(b"</t></si></sst>")
    return path


def build(folder: Path) -> dict[str, Path]:
    header = '<row r="1"><c r="A1" t="inlineStr"><is><t>名称</t></is></c></row>'
    merged = _write(
        folder / "merged.xlsx",
        f'<worksheet xmlns="{MAIN}"><sheetData>{header}</sheetData><mergeCells>'
        + '<mergeCell ref="A1:XFD1"/>' * 2000
        + "</mergeCells></worksheet>",
        None,
    )
    wide = header.replace("</row>", '<c r="BZA1" t="inlineStr"><is><t>备注</t></is></c></row>')
    gap = _write(
        folder / "gap.xlsx",
        f'<worksheet xmlns="{MAIN}"><sheetData>{wide}'
        '<row r="1048576"><c r="A1048576"><v>1</v></c></row></sheetData></worksheet>',
        None,
    )
    many = "".join(f'<row r="{r}"><c r="A{r}"><v>1</v></c></row>' for r in range(2, 1_000_002))
    grid = _write(
        folder / "grid.xlsx",
        f'<worksheet xmlns="{MAIN}"><sheetData>{wide}{many}</sheetData></worksheet>',
        None,
    )
    body = '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'
    shared = _write(
        folder / "shared.xlsx",
        f'<worksheet xmlns="{MAIN}"><sheetData>{header}{body}</sheetData></worksheet>',
        200 * MiB,
    )
    return {"merged": merged, "shared": shared, "gap": gap, "grid": grid}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(kind: str, path: Path) -> dict[str, object]:
    """Refuse (or, for the baseline, open with openpyxl) one file; report the cost."""
    import openpyxl  # type: ignore[import-untyped, unused-ignore]

    from datacompact.errors import DataCompactError
    from datacompact.ingest import IngestLimits, open_source

    # "stream": the ratio check waived, so the shared strings' streaming count refuses.
    limits = IngestLimits(xlsx_max_compression_ratio=10**6) if kind == "stream" else None

    before = _peak_mb()
    cpu = time.process_time()
    outcome = "accepted"
    if kind == "stage":
        from datacompact.ingest import stage_to_parquet

        with tempfile.TemporaryDirectory() as out, open_source(path) as source:
            staged = stage_to_parquet(source, Path(out) / "staged.parquet")
        outcome = f"staged {staged.rows} row(s) of {len(staged.columns)} columns"
    elif kind == "baseline":
        workbook = openpyxl.load_workbook(path, read_only=True)
        workbook.close()
        outcome = "opened"
    else:
        try:
            with open_source(path, limits=limits):
                pass
        except DataCompactError as exc:
            outcome = f"{exc.status} {exc.code} ({exc.details.get('setting')})"
    return {
        "cpu_s": time.process_time() - cpu,
        "rss_growth_mb": _peak_mb() - before,
        "outcome": outcome,
    }


def _run(kind: str, path: Path) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2], Path(sys.argv[3]))))
        return 0
    failed = False
    with tempfile.TemporaryDirectory(prefix="dc-bombs-") as tmp:
        files = build(Path(tmp))
        cases = [
            ("merged", "refuse"),
            ("shared", "refuse"),
            ("shared", "stream"),
            ("grid", "refuse"),
            ("gap", "stage"),
        ]
        for name, kind in cases:
            path = files[name]
            got = _run(kind, path)
            ok = (
                float(str(got["cpu_s"])) <= CPU_TARGET_S
                and float(str(got["rss_growth_mb"])) <= RSS_TARGET_MB
                and str(got["outcome"]).startswith("staged" if kind == "stage" else "413")
            )
            failed |= not ok
            print(
                f"{name:7s} {kind:7s} {path.stat().st_size / 1024:8.1f} KB  done in "
                f"{got['cpu_s']:.3f} s CPU, peak RSS +{got['rss_growth_mb']:.1f} MB: "
                f"{got['outcome']}  [{'ok' if ok else 'over target'}]"
            )
        base = _run("baseline", files["shared"])
        print(
            f"baseline: openpyxl opens the shared-strings file in {base['cpu_s']:.2f} s CPU, "
            f"peak RSS +{base['rss_growth_mb']:.0f} MB"
        )
    print(f"targets: <= {CPU_TARGET_S} s CPU and <= {RSS_TARGET_MB} MB per refusal")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
