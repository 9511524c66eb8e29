"""Run every benchmark in turn; each prints its own figures and target ratios.

    .venv/bin/python benchmarks/run_all.py        (or: make bench)

Set DATACOMPACT_BENCH_DATABASE_URL to an empty PostgreSQL database to measure
the PostgreSQL figures too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = (
    "ledger/bench_appends.py",
    "ledger/bench_proofs.py",
    "ledger/bench_audit.py",
    "ledger/bench_audit_served.py",
    "privacy/bench_adult.py",
    "privacy/bench_synthetic.py",
    "privacy/bench_dp.py",
    "ingest/bench_ingest.py",
    "ingest/bench_bombs.py",
    "sandbox/bench_sandbox.py",
    "sandbox/bench_timing.py",
    "http/bench_http.py",
    "http/bench_soak.py",
    "api/bench_login_flood.py",
    "cli/bench_startup.py",
    "value/bench_shapley.py",
    "fusion/bench_psi.py",
    "console/bench_console.py",
)


def main() -> int:
    failed = 0
    for script in SCRIPTS:
        print(f"== {script}", flush=True)
        failed += subprocess.run([sys.executable, str(HERE / script)], check=False).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
