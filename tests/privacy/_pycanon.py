"""Run pycanon (an independent implementation) in its own venv, fed CSV files.

pycanon pins exact numpy/pandas versions, so it never joins the project's
dependencies. The venv ``.venv-pycanon`` at the repository root is created on
first use (``python -m venv`` + ``pip install pycanon``); when pip cannot reach
a registry the calling test is skipped with that reason.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-pycanon"
PYTHON = VENV / "bin" / "python"
# Pinned so that the reference the outputs are checked against does not move.
PYCANON = "pycanon==1.3.6"

_SCRIPT = """
import json, sys
import pandas as pd
from pycanon import anonymity
path, qis, sensitive = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3] or None
data = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
out = {"k": int(anonymity.k_anonymity(data, qis))}
if sensitive:
    sa = [sensitive]
    out["l"] = int(anonymity.l_diversity(data, qis, sa))
    out["entropy_l"] = float(anonymity.entropy_l_diversity(data, qis, sa))
    out["t"] = float(anonymity.t_closeness(data, qis, sa))
    # pycanon floors the entropy l to an integer, so a class of exactly l equally
    # frequent values can read as l - 1 through rounding; report exp(min entropy)
    # over pycanon's own equivalence classes as well.
    from pycanon.anonymity.utils import aux_anonymity
    import numpy as np
    lowest = min(
        float(np.exp(-(p * np.log(p)).sum()))
        for p in (
            data.iloc[list(ec)][sensitive].value_counts(normalize=True).to_numpy()
            for ec in aux_anonymity.get_equiv_class(data, qis)
        )
    )
    out["entropy_l_exact"] = lowest
print(json.dumps(out))
"""


def _ensure_venv() -> None:
    if PYTHON.exists():
        probe = subprocess.run([str(PYTHON), "-c", "import pycanon"], capture_output=True)
        if probe.returncode == 0:
            return
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True, capture_output=True)
    install = subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", PYCANON],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if install.returncode != 0:
        pytest.skip(f"pycanon could not be installed (no registry?): {install.stderr[-300:]}")


def pycanon_measure(
    table: pa.Table, qis: list[str], sensitive: str | None, tmp_path: Path
) -> dict[str, float]:
    """k, and for a sensitive column l, entropy l and t, as pycanon computes them."""
    _ensure_venv()
    path = tmp_path / "released.csv"
    pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(delimiter=";"))
    done = subprocess.run(
        [str(PYTHON), "-c", _SCRIPT, str(path), json.dumps(qis), sensitive or ""],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, float] = json.loads(done.stdout)
    return result
