"""``datacompact anonymize`` (the privacy CLI module)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from datacompact.cli._privacy import privacy_app
from tests.privacy._data import (
    ADULT,
    ADULT_QIS,
    DISEASE,
    SMALL_HIERARCHIES,
    adult_hierarchy_path,
    small_table,
)

runner = CliRunner()


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    table = small_table(3, 80)
    lines = [";".join(table.column_names)]
    lines += [";".join(row.values()) for row in table.to_pylist()]
    data = tmp_path / "data.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = {"data": data}
    for name, h in {**SMALL_HIERARCHIES, "disease": DISEASE}.items():
        out[name] = tmp_path / f"{name}.csv"
        h.write(out[name])
    return out


def _qi(files) -> list[str]:
    args = []
    for name in SMALL_HIERARCHIES:
        args += ["--qi", f"{name}={files[name]}"]
    return args


def test_anonymize_writes_records_and_report(files, tmp_path) -> None:
    out, report = tmp_path / "out.csv", tmp_path / "report.json"
    result = runner.invoke(
        privacy_app,
        [
            "--input",
            str(files["data"]),
            "--sep",
            ";",
            *_qi(files),
            "--k",
            "5",
            "--suppression",
            "0.1",
            "--out",
            str(out),
            "--report",
            str(report),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert set(data["transformation"]) == set(SMALL_HIERARCHIES)
    assert data["released"] + data["suppressed"] == 80
    assert {"information_loss", "risk", "seconds", "utility"} <= set(data)
    lines = out.read_text().splitlines()
    assert len(lines) == 1 + data["released"]


def test_json_output_with_l_diversity_and_hierarchy_option(files) -> None:
    args = [
        "--input",
        str(files["data"]),
        "--sep",
        ";",
        "--k",
        "2",
        "--l",
        "2",
        "--sensitive",
        "disease",
        "--suppression",
        "0.05",
        "--json",
    ]
    for name in SMALL_HIERARCHIES:
        args += ["--qi", name, "--hierarchy", f"{name}={files[name]}"]
    result = runner.invoke(privacy_app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["models"][1] == {"model": "distinct-l-diversity", "l": 2}


@pytest.mark.parametrize(
    ("extra", "code", "text"),
    [
        (["--qi", "postcode=x.csv"], 2, "no such file"),
        (["--qi", "ghost"], 2, "no hierarchy"),
        (["--k", "1000"], 2, "larger than"),
    ],
)
def test_errors_map_to_exit_codes(files, extra, code, text) -> None:
    args = ["--input", str(files["data"]), "--sep", ";", *_qi(files), "--json"]
    if "--k" not in extra:
        args += ["--k", "2"]
    if extra[0] == "--qi" and extra[1].startswith("postcode"):
        extra = ["--qi", f"postcode={files['zip']}"]
        text = "postcode"
    result = runner.invoke(privacy_app, args + extra)
    assert result.exit_code == code
    assert text in result.stderr


def test_missing_input_file(files, tmp_path) -> None:
    result = runner.invoke(
        privacy_app, ["--input", str(tmp_path / "none.csv"), *_qi(files), "--k", "2", "--json"]
    )
    assert result.exit_code == 2
    assert json.loads(result.stderr)["error"]["code"] == "invalid_input"


def test_ragged_csv_is_malformed(files, tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("zip;age;sex\n13053;25\n", encoding="utf-8")
    result = runner.invoke(
        privacy_app, ["--input", str(bad), "--sep", ";", *_qi(files), "--k", "1", "--json"]
    )
    assert result.exit_code == 2
    assert json.loads(result.stderr)["error"]["code"] == "malformed_input"


@pytest.mark.slow
def test_adult_whole_process(tmp_path) -> None:
    report = tmp_path / "r.json"
    args = [
        sys.executable,
        "-m",
        "datacompact.cli._privacy",
        "--input",
        str(ADULT / "adult.csv"),
        "--sep",
        ";",
        "--k",
        "5",
        "--suppression",
        "0.04",
        "--report",
        str(report),
        "--out",
        str(tmp_path / "o.csv"),
    ]
    for name in ADULT_QIS:
        args += ["--qi", f"{name}={adult_hierarchy_path(name)}"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(report.read_text())
    assert data["suppressed"] <= int(0.04 * 30162)
    assert data["optimal"] is True


def _adult_sample(tmp_path: Path, rows: int, encoding: str, sep: str = ";") -> Path:
    lines = (ADULT / "adult.csv").read_text(encoding="utf-8").splitlines()[: rows + 1]
    path = tmp_path / f"adult-{encoding}.csv"
    path.write_bytes(("\n".join(line.replace(";", sep) for line in lines) + "\n").encode(encoding))
    return path


def _adult_qis(*names: str) -> list[str]:
    return [arg for name in names for arg in ("--qi", f"{name}={adult_hierarchy_path(name)}")]


def test_arx_hierarchies_are_read_with_their_own_separator(tmp_path) -> None:
    # The data is comma-separated; ARX's hierarchy files use ';'.
    data = _adult_sample(tmp_path, 400, "utf-8", sep=",")
    args = ["--input", str(data), *_adult_qis("sex", "age", "race"), "--k", "5", "--json"]
    result = runner.invoke(privacy_app, [*args, "--suppression", "0.1"])
    assert result.exit_code == 0, result.stderr
    assert set(json.loads(result.stdout)["transformation"]) == {"sex", "age", "race"}
    forced = runner.invoke(privacy_app, [*args, "--hierarchy-sep", ","])
    assert forced.exit_code == 2
    assert "adult_hierarchy_sex.csv" in forced.stderr


def test_gbk_input_is_detected_or_given(tmp_path) -> None:
    sex = tmp_path / "性别.csv"
    sex.write_bytes("男,*\n女,*\n".encode("gbk"))
    region = tmp_path / "区县.csv"
    region.write_bytes("西湖区;杭州市;*\n上城区;杭州市;*\n余杭区;杭州市;*\n".encode("gbk"))
    rows = ["性别,区县"] + [
        f"{'男女'[i % 2]},{['西湖区', '上城区', '余杭区'][i % 3]}" for i in range(60)
    ]
    data = tmp_path / "人员.csv"
    data.write_bytes(("\n".join(rows) + "\n").encode("gbk"))
    base = ["--input", str(data), "--qi", f"性别={sex}", "--qi", f"区县={region}", "--k", "5"]
    out = tmp_path / "out.csv"
    detected = runner.invoke(privacy_app, [*base, "--json", "--out", str(out)])
    assert detected.exit_code == 0, detected.stderr
    assert json.loads(detected.stdout)["encoding"] == "gbk"
    assert out.read_text(encoding="utf-8").splitlines()[0] == '"性别","区县"'
    given = runner.invoke(privacy_app, [*base, "--encoding", "GB18030", "--json"])
    assert given.exit_code == 0, given.stderr
    assert json.loads(given.stdout)["encoding"] == "gb18030"
    wrong = runner.invoke(privacy_app, [*base, "--encoding", "latin-1", "--json"])
    assert wrong.exit_code == 2
    assert "unsupported encoding" in json.loads(wrong.stderr)["error"]["message"]


def test_an_uncovered_value_names_file_column_and_row(tmp_path) -> None:
    data = _adult_sample(tmp_path, 200, "utf-8")
    lines = data.read_text(encoding="utf-8").splitlines()
    cells = lines[5].split(";")
    cells[1] = "131"  # an age no hierarchy row covers, in data row 5
    lines[5] = ";".join(cells)
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(
        privacy_app, ["--input", str(data), *_adult_qis("sex", "age"), "--k", "2", "--json"]
    )
    assert result.exit_code == 2
    error = json.loads(result.stderr)["error"]
    assert error["details"] == {
        "column": "age",
        "row": 5,
        "file": str(adult_hierarchy_path("age")),
        "records": 1,
    }
    assert "adult_hierarchy_age.csv" in error["message"]
    assert "131" not in error["message"]  # one record holds it, fewer than k


def test_a_one_column_input_needs_no_separator(tmp_path) -> None:
    data = tmp_path / "sex.csv"
    data.write_text("sex\n" + "Male\nFemale\n" * 10, encoding="utf-8")
    result = runner.invoke(
        privacy_app, ["--input", str(data), *_adult_qis("sex"), "--k", "5", "--json"]
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["transformation"] == {"sex": 0}
