"""The demo city's datasets: reproducible bytes, valid identifiers, real encodings and headers."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import openpyxl
import orjson
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from stdnum import luhn
from stdnum.cn import ric, uscc

from datacompact.demo._city import DISTRICTS, build_cast
from datacompact.demo._datasets import PII_TYPES, DatasetSpec, write_datasets
from datacompact.demo._names import DISTRICT_NAMES
from datacompact.errors import InvalidInput

SCALE = 0.01
ID_IN_TEXT = re.compile(r"(?<!\d)\d{17}[\dX](?!\d)")
PHONE_IN_TEXT = re.compile(r"(?<![\d-])(?:1\d{10}|0571-\d{8})(?!\d)")


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> list[DatasetSpec]:
    return write_datasets(tmp_path_factory.mktemp("demo-data"), cast=build_cast(), rows_scale=SCALE)


@pytest.fixture(scope="module")
def tables(specs: list[DatasetSpec]) -> dict[str, pa.Table]:
    return {s.key: read(s) for s in specs}


def read(spec: DatasetSpec) -> pa.Table:
    """Read a file back the way its format hints say, every column as text where possible."""
    hints = spec.hints
    if hints.format in ("csv", "tsv"):
        encoding = "utf8" if hints.encoding in ("utf-8", "utf-8-sig") else hints.encoding
        return pacsv.read_csv(
            spec.path,
            read_options=pacsv.ReadOptions(encoding=encoding),
            parse_options=pacsv.ParseOptions(delimiter=hints.delimiter),
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(spec.columns, pa.string()),
                strings_can_be_null=True,
            ),
        )
    if hints.format == "parquet":
        return pq.read_table(spec.path)
    if hints.format == "jsonl":
        rows = [orjson.loads(line) for line in spec.path.read_bytes().splitlines()]
        return pa.Table.from_pylist(rows)
    book = openpyxl.load_workbook(spec.path, read_only=True)
    sheet = book[hints.sheet or ""]
    values = list(sheet.iter_rows(min_row=hints.header_rows + 1, values_only=True))
    book.close()
    return pa.table(
        {
            c: [None if v[i] is None else str(v[i]) for v in values]
            for i, c in enumerate(spec.columns)
        }
    )


def values(tables: dict[str, pa.Table], key: str, column: str) -> list[str]:
    return [v for v in tables[key].column(column).to_pylist() if v is not None]


def by_key(specs: list[DatasetSpec]) -> dict[str, DatasetSpec]:
    return {s.key: s for s in specs}


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_two_runs_write_the_same_bytes(specs: list[DatasetSpec], tmp_path: Path) -> None:
    again = write_datasets(tmp_path, cast=build_cast(), rows_scale=SCALE)
    assert digests(tmp_path) == digests(specs[0].path.parent)
    assert [(s.key, s.rows, s.persons, dict(s.defects)) for s in again] == [
        (s.key, s.rows, s.persons, dict(s.defects)) for s in specs
    ]


@pytest.mark.slow
def test_another_process_with_another_hash_seed_writes_the_same_bytes(
    specs: list[DatasetSpec], tmp_path: Path
) -> None:
    code = (
        "import sys; from pathlib import Path; from datacompact.demo._city import build_cast; "
        "from datacompact.demo._datasets import write_datasets; "
        f"write_datasets(Path(sys.argv[1]), cast=build_cast(), rows_scale={SCALE})"
    )
    env = os.environ | {"PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env)
    assert digests(tmp_path) == digests(specs[0].path.parent)


def test_eight_datasets_in_every_format(specs: list[DatasetSpec]) -> None:
    assert len(specs) == 8
    assert len({s.key for s in specs}) == len({s.path for s in specs}) == 8
    kinds = {(s.hints.format, s.hints.encoding) for s in specs}
    assert {("csv", "utf-8"), ("csv", "utf-8-sig"), ("csv", "gbk"), ("tsv", "gb18030")} <= kinds
    assert {"parquet", "jsonl", "xlsx"} <= {f for f, _ in kinds}
    assert all(s.path.is_file() and s.path.stat().st_size > 0 for s in specs)


def test_holders_are_in_the_cast(specs: list[DatasetSpec]) -> None:
    slugs = {o.slug for o in build_cast()}
    assert {s.holder for s in specs} <= slugs
    assert {"amr", "hrss", "tax", "transport", "health", "civil"} <= {s.holder for s in specs}


def test_row_counts_match_the_files(specs: list[DatasetSpec], tables: dict[str, pa.Table]) -> None:
    for spec in specs:
        table = tables[spec.key]
        assert table.num_rows == spec.rows, spec.key
        assert tuple(table.column_names) == spec.columns, spec.key
    rows = {s.key: s.rows for s in specs}
    assert rows["enterprise_registry"] == 2_000
    assert rows["tax_summary"] == 2_000
    assert rows["clinic_visits"] == 1_500
    assert rows["traffic_counts"] == 2 * 30 * 24
    assert 0.9 * 250 * 12 < rows["social_insurance"] <= 250 * 12
    assert rows["civil_subsidies"] == 3 * 120


def test_catalog_expectations_name_real_columns(specs: list[DatasetSpec]) -> None:
    for spec in specs:
        assert set(spec.pii) <= set(spec.columns), spec.key
        assert set(spec.free_text) <= set(spec.columns), spec.key
        assert set(spec.key_columns) <= set(spec.columns), spec.key
        assert {t for types in spec.pii.values() for t in types} <= set(PII_TYPES), spec.key
        assert spec.grade.grade == "general"
        assert spec.grade.level in (1, 2, 3, 4)
        assert (spec.grade.personal is None) == (spec.persons == 0), spec.key
        if spec.grade.sensitive:
            assert spec.grade.personal == "sensitive_personal"
            assert spec.grade.level == 4
    grades = {s.key: s.grade for s in specs}
    assert grades["public_facilities"].level == 1
    assert by_key(specs)["public_facilities"].open_type == "open"
    assert "medical_health" in grades["clinic_visits"].sensitive
    assert "financial_account" in grades["civil_subsidies"].sensitive
    assert {s.share_type for s in specs} == {"unconditional", "conditional", "not_shared"}


def test_stewards_override_two_proposals(specs: list[DatasetSpec]) -> None:
    overridden = {s.key for s in specs if s.confirmed is not None}
    assert overridden == {"public_facilities", "environment_complaints"}
    facilities = by_key(specs)["public_facilities"]
    assert facilities.proposed.code == "general-3"
    assert facilities.proposed.category == "personal"
    assert facilities.grade.code == "general-1"
    assert facilities.grade.category == "public"
    complaints = by_key(specs)["environment_complaints"]
    assert (complaints.proposed.code, complaints.grade.code) == ("general-3", "general-4")
    assert all(s.grade is s.proposed for s in specs if s.key not in overridden)
    assert by_key(specs)["traffic_counts"].proposed.code == "general-2"


def test_volume_lifts_personal_data_to_important(specs: list[DatasetSpec]) -> None:
    grade = by_key(specs)["social_insurance"].grade
    assert grade.by_volume(999_999) == grade
    assert grade.by_volume(1_000_000).code == "important"
    assert by_key(specs)["traffic_counts"].grade.by_volume(10**7).code == "general-2"


def test_keys_are_unique(specs: list[DatasetSpec], tables: dict[str, pa.Table]) -> None:
    for spec in specs:
        groups = tables[spec.key].group_by(list(spec.key_columns)).aggregate([])
        assert groups.num_rows == spec.rows, spec.key


def test_every_uscc_is_valid(tables: dict[str, pa.Table]) -> None:
    registry = values(tables, "enterprise_registry", "统一社会信用代码")
    for key, column in (
        ("enterprise_registry", "统一社会信用代码"),
        ("tax_summary", "纳税人识别号"),
        ("social_insurance", "employer_uscc"),
    ):
        codes = values(tables, key, column)
        assert codes, key
        assert all(uscc.is_valid(c) for c in codes), key
        assert set(codes) <= set(registry), key
    cast = [o for o in build_cast() if o.kind in ("enterprise", "jv_platform")]
    assert registry[: len(cast)] == [o.uscc for o in cast]
    districts = {c[2:8] for c in registry}
    assert districts <= set(DISTRICTS)


def test_every_resident_id_is_valid(tables: dict[str, pa.Table]) -> None:
    for key, column in (
        ("social_insurance", "resident_id"),
        ("clinic_visits", "resident_id"),
        ("civil_subsidies", "身份证号码"),
    ):
        ids = values(tables, key, column)
        assert ids, key
        assert all(ric.is_valid(i) for i in ids), key
    embedded = [
        m
        for key, column in (
            ("clinic_visits", "chief_complaint"),
            ("civil_subsidies", "备注"),
            ("environment_complaints", "投诉内容"),
        )
        for text in values(tables, key, column)
        for m in ID_IN_TEXT.findall(text)
    ]
    assert embedded
    assert all(ric.is_valid(i) for i in embedded)


def test_sex_and_age_agree_with_the_resident_id(tables: dict[str, pa.Table]) -> None:
    visits = tables["clinic_visits"].to_pylist()
    for visit in visits:
        number = visit["resident_id"]
        assert visit["sex"] == ("男" if int(number[16]) % 2 else "女")
        born, seen = ric.get_birth_date(number), date.fromisoformat(visit["visit_time"][:10])
        age = seen.year - born.year - ((seen.month, seen.day) < (born.month, born.day))
        assert visit["age"] == age
        if visit["icd10"] in ("N76.0", "N92.0"):
            assert visit["sex"] == "女"
    insured = tables["social_insurance"]
    for number, sex in zip(
        insured.column("resident_id").to_pylist(), insured.column("sex").to_pylist(), strict=True
    ):
        assert int(sex) == (1 if int(number[16]) % 2 else 2)


def test_birth_dates_agree_with_ids_except_the_planted_ones(
    specs: list[DatasetSpec], tables: dict[str, pa.Table]
) -> None:
    insured = tables["social_insurance"]
    mismatched = sum(
        ric.get_birth_date(number).isoformat() != birth
        for number, birth in zip(
            insured.column("resident_id").to_pylist(),
            insured.column("birth_date").to_pylist(),
            strict=True,
        )
    )
    planted = by_key(specs)["social_insurance"].defects["birth_date_mismatch"]
    assert 0 < mismatched == planted < 0.05 * insured.num_rows


def test_bank_cards_pass_luhn(tables: dict[str, pa.Table]) -> None:
    cards = values(tables, "civil_subsidies", "银行卡号")
    assert cards
    assert all(len(c) == 19 and luhn.is_valid(c) for c in cards)


def phone_is_valid(text: str) -> bool:
    number = phonenumbers.parse(text, "CN")
    return (
        phonenumbers.is_valid_number(number) and phonenumbers.region_code_for_number(number) == "CN"
    )


def test_phones_are_valid_mobiles_or_landlines(tables: dict[str, pa.Table]) -> None:
    columns = (
        ("enterprise_registry", "联系电话"),
        ("social_insurance", "phone"),
        ("tax_summary", "办税人员电话"),
        ("clinic_visits", "phone"),
        ("civil_subsidies", "联系电话"),
        ("environment_complaints", "联系电话"),
    )
    kinds: set[int] = set()
    for key, column in columns:
        phones = values(tables, key, column)
        assert phones, key
        assert all(phone_is_valid(p) for p in phones), key
        kinds |= {phonenumbers.number_type(phonenumbers.parse(p, "CN")) for p in phones}
    assert {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE} <= kinds
    embedded = [
        m
        for key, column in (
            ("social_insurance", "remark"),
            ("clinic_visits", "chief_complaint"),
            ("civil_subsidies", "备注"),
            ("environment_complaints", "投诉内容"),
        )
        for text in values(tables, key, column)
        for m in PHONE_IN_TEXT.findall(text)
    ]
    assert len(embedded) > 10
    assert all(phone_is_valid(p) for p in embedded)


def test_emails_plates_and_addresses_look_real(tables: dict[str, pa.Table]) -> None:
    mail = re.compile(r"^[a-z0-9]+@[a-z0-9]+\.(com|cn)$")
    assert all(mail.match(e) for e in values(tables, "enterprise_registry", "电子邮箱"))
    assert all(mail.match(e) for e in values(tables, "social_insurance", "email"))
    plate = re.compile(r"^浙A·([A-HJ-NP-Z0-9]{5}|[DF]\d{5})$")
    plates = values(tables, "environment_complaints", "车牌号码")
    assert plates
    assert all(plate.match(p) for p in plates)
    address = re.compile(r"^浙江省杭州市(" + "|".join(DISTRICT_NAMES.values()) + r").+街道.+号")
    for key, column in (
        ("enterprise_registry", "住所"),
        ("civil_subsidies", "家庭住址"),
        ("public_facilities", "地址"),
        ("environment_complaints", "事发地址"),
    ):
        assert all(address.match(a) for a in values(tables, key, column)), key


def test_free_text_sometimes_carries_identifiers(
    specs: list[DatasetSpec], tables: dict[str, pa.Table]
) -> None:
    patterns = {
        "resident_id": ID_IN_TEXT,
        "mobile": PHONE_IN_TEXT,
        "licence_plate": re.compile("浙A·"),
    }
    for spec in specs:
        for column in spec.free_text:
            texts = values(tables, spec.key, column)
            for kind in spec.pii.get(column, ()):
                share = sum(bool(patterns[kind].search(t)) for t in texts) / len(texts)
                assert 0.02 <= share < 0.5, (spec.key, column, kind, share)
    assert by_key(specs)["environment_complaints"].defects["embedded_resident_ids"] > 0


def test_the_gbk_file_is_really_gbk(specs: list[DatasetSpec]) -> None:
    spec = by_key(specs)["tax_summary"]
    raw = spec.path.read_bytes()
    assert raw.decode("gbk").startswith("纳税人识别号,")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert b"\r\n" in raw


def test_the_gb18030_file_needs_gb18030(specs: list[DatasetSpec]) -> None:
    raw = by_key(specs)["environment_complaints"].path.read_bytes()
    assert raw.decode("gb18030").startswith("工单编号\t")
    for wrong in ("gbk", "utf-8"):
        with pytest.raises(UnicodeDecodeError):
            raw.decode(wrong)


def test_the_utf8_files(specs: list[DatasetSpec]) -> None:
    assert (
        by_key(specs)["social_insurance"].path.read_bytes().startswith(b"\xef\xbb\xbfresident_id,")
    )
    plain = by_key(specs)["enterprise_registry"].path.read_bytes()
    assert plain.decode("utf-8").startswith("统一社会信用代码,")


def test_the_xlsx_has_a_merged_two_row_header(specs: list[DatasetSpec]) -> None:
    spec = by_key(specs)["civil_subsidies"]
    book = openpyxl.load_workbook(spec.path)
    assert book.sheetnames == ["填表说明", "发放明细"]
    assert spec.hints.sheet == "发放明细"
    sheet = book["发放明细"]
    merged = {str(r) for r in sheet.merged_cells.ranges}
    assert merged == {"A1:A2", "B1:E1", "F1:H1", "I1:K1", "L1:L2"}
    top = [c.value for c in sheet[1]]
    assert top[0] == "序号"
    assert top[1] == "申请人信息"
    assert top[5] == "救助信息"
    assert top[11] == "备注"
    second = [c.value for c in sheet[2]]
    assert second[1:11] == list(spec.columns[1:11])
    assert second[0] is None
    assert spec.hints.header_rows == 2
    assert isinstance(sheet["C3"].value, str)
    assert isinstance(sheet["K3"].value, str)


def test_traffic_counts_have_no_personal_columns(
    specs: list[DatasetSpec], tables: dict[str, pa.Table]
) -> None:
    spec, table = by_key(specs)["traffic_counts"], tables["traffic_counts"]
    assert spec.pii == {}
    assert spec.persons == 0
    assert table.schema.field("hour_start").type in (pa.timestamp("ms"), pa.timestamp("s"))
    assert table.column("vehicles").null_count == spec.defects["missing_counts"] > 0
    assert pc.min(table.column("vehicles")).as_py() >= 0


@pytest.mark.parametrize("scale", [0.0, -1.0, float("nan"), float("inf"), 101.0])
def test_a_bad_scale_is_refused(scale: float, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput):
        write_datasets(tmp_path, cast=build_cast(), rows_scale=scale)


def test_a_cast_without_the_holders_is_refused(tmp_path: Path) -> None:
    cast = [o for o in build_cast() if o.slug != "health"]
    with pytest.raises(InvalidInput) as caught:
        write_datasets(tmp_path, cast=cast, rows_scale=SCALE)
    assert caught.value.details == {"holders": ["health"]}
    assert not any(tmp_path.iterdir())


@pytest.fixture
def full_scale(tmp_path: Path) -> tuple[list[DatasetSpec], float]:
    started = time.perf_counter()
    specs = write_datasets(tmp_path, cast=build_cast())
    return specs, time.perf_counter() - started


@pytest.mark.slow
def test_full_scale_is_large_and_quick(full_scale: tuple[list[DatasetSpec], float]) -> None:
    specs, seconds = full_scale
    rows = {s.key: s.rows for s in specs}
    small = {"civil_subsidies", "public_facilities"}  # a hand-kept spreadsheet; a city's facilities
    assert all(n >= 100_000 for key, n in rows.items() if key not in small), rows
    assert all(n >= 10_000 for n in rows.values())
    assert seconds < 60
