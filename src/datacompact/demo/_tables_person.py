"""Tables about people: social insurance, clinic visits, subsidies and complaints.

Each one picks its people from the shared population, so IDs, names, birth
dates and sexes agree across departments, except where a defect is planted on
purpose (and counted) for the quality checks.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
import pyarrow.compute as pc  # type: ignore[import-untyped, unused-ignore]

from . import _names as names
from . import _synth as synth
from ._people import Built, Population
from ._tables_org import ACTIVE

_BIRTH_DATE_ERRORS = 0.005  # share of insured people whose birth_date disagrees with their ID


def _at(values: pa.Array, index: synth.Ints) -> pa.Array:
    return values.take(pa.array(index))


def social_insurance(
    rng: np.random.Generator, registry: pa.Table, people: Population, insured: int
) -> Built:
    """社会保险缴费明细: one row per insured person and month of 2024, wide by insurance."""
    pool = people.adults(low=18, high=60)
    person = np.sort(rng.choice(pool, size=min(insured, len(pool)), replace=False))
    p = len(person)
    uscc = registry.column("统一社会信用代码").combine_chunks()
    employers = np.flatnonzero(
        pc.and_(
            pc.is_in(registry.column("登记状态"), value_set=pa.array(ACTIVE)),
            pc.equal(pc.utf8_slice_codeunits(uscc, 0, 2), "91"),
        ).to_numpy(zero_copy_only=False)
    )
    rank = np.arange(1, len(employers) + 1, dtype=np.float64)
    employer = employers[rng.choice(len(employers), size=p, p=(w := rank**-0.9) / w.sum())]
    first_month = np.where(rng.random(p) < 0.1, rng.integers(2, 13, size=p), 1)
    base = np.clip(np.round(rng.lognormal(np.log(7500), 0.45, p)), 4462, 22311).astype(np.int64)
    wrong_birth = rng.random(p) < _BIRTH_DATE_ERRORS
    wrong_birth[p // 2] = True  # at least one, however small the scale
    shift = rng.integers(1, 400, size=p).astype("timedelta64[D]")
    birth = np.where(wrong_birth, people.birth[person] + shift, people.birth[person])
    no_phone = rng.random(p) < 0.02
    email = synth.nulls_where(rng.random(p) >= 0.4, synth.emails(rng, p))

    months = np.arange(1, 13)
    row_person = np.repeat(np.arange(p), 12)
    row_month = np.tile(months, p)
    keep = row_month >= first_month[row_person]
    rp, rm = row_person[keep], row_month[keep]
    b = base[rp]
    n = len(rp)
    remark_kind = rng.choice(3, size=n, p=[0.955, 0.04, 0.005])
    contact = synth.join("参保人联系电话变更为", synth.mobiles(rng, n))
    remark = synth.either(remark_kind == 1, synth.pick(rng, names.SOCIAL_REMARKS, n), contact)

    def per_row(values: pa.Array) -> pa.Array:
        return _at(values, rp)

    table = pa.table(
        {
            "resident_id": _at(people.resident_id, person[rp]),
            "name": _at(people.name, person[rp]),
            "sex": synth.numbers(people.sex[person][rp]),
            "birth_date": synth.dates(birth[rp]),
            "phone": per_row(synth.nulls_where(no_phone, _at(people.mobile, person))),
            "email": per_row(email),
            "employer_uscc": _at(uscc, employer[rp]),
            "employer_name": _at(registry.column("企业名称").combine_chunks(), employer[rp]),
            "period": synth.fixed(2024 * 100 + rm, 6),
            "contribution_base": synth.money(b * 100),
            "pension_employer": synth.money(b * 16),
            "pension_personal": synth.money(b * 8),
            "medical_employer": synth.money((b * 95 + 5) // 10),
            "medical_personal": synth.money(b * 2),
            "unemployment_employer": synth.money((b * 5 + 5) // 10),
            "unemployment_personal": synth.money((b * 5 + 5) // 10),
            "remark": synth.nulls_where(remark_kind == 0, remark),
        }
    )
    defects = {
        "birth_date_mismatch": int(wrong_birth[rp].sum()),
        "missing_phone": int(no_phone[rp].sum()),
    }
    return Built(table, p, defects)


def clinic_visits(rng: np.random.Generator, people: Population, visits: int) -> Built:
    """门诊就诊记录: diagnoses by ICD-10 code, fit to the patient's age and sex."""
    born_before = np.flatnonzero(people.birth < np.datetime64("2024-01-01", "D"))
    patients = rng.choice(born_before, size=max(visits * 3 // 5, 1), replace=False)
    # Most patients come once or twice; a tenth of them (the chronically ill) come often.
    chronic = rng.random(visits) < 0.2
    pick = rng.integers(0, len(patients), size=visits)
    who = patients[np.where(chronic, pick % max(len(patients) // 10, 1), pick)]
    day = synth.random_days(rng, visits, "2024-01-01", "2024-12-31")
    age = people.ages(day, who)
    group = np.where(age < 14, "c", np.where(people.sex[who] == 2, "f", "m"))
    diagnosis = np.empty(visits, dtype=np.int64)
    for g in ("c", "f", "m"):
        allowed = [
            i for i, d in enumerate(names.DIAGNOSES) if d[4] == g or (g != "c" and d[4] == "a")
        ]
        rows = np.flatnonzero(group == g)
        diagnosis[rows] = np.array(allowed)[rng.integers(0, len(allowed), size=len(rows))]
    seconds = (rng.normal(10.5, 2.5, visits).clip(7.5, 17.5) * 3600).astype(np.int64)
    when = day.astype("datetime64[s]") + seconds.astype("timedelta64[s]")
    symptom = synth.take([d[3] for d in names.DIAGNOSES], diagnosis)
    duration = synth.join(synth.numbers(rng.integers(1, 15, size=visits)), "天")
    embed = rng.choice(3, size=visits, p=[0.93, 0.04, 0.03])
    extra = synth.either(
        embed == 1,
        synth.join("，家属电话", synth.mobiles(rng, visits)),
        synth.join("，患者身份证号", _at(people.resident_id, who)),
    )
    course = synth.pick(rng, names.CLINIC_COURSES, visits)
    complaint = synth.join(symptom, duration, course, synth.either(embed == 0, "", extra))
    fee = np.round(rng.lognormal(np.log(180), 0.8, visits), 2)
    table = pa.table(
        {
            "visit_id": synth.join("MZ2024", synth.fixed(np.arange(1, visits + 1), 8)),
            "hospital": synth.pick(rng, names.HOSPITALS, visits),
            "department": synth.take([d[2] for d in names.DIAGNOSES], diagnosis),
            "visit_time": pa.array(when, pa.timestamp("s")).cast(pa.string()),
            "patient_name": _at(people.name, who),
            "resident_id": _at(people.resident_id, who),
            "sex": synth.take(("男", "女"), people.sex[who] - 1),
            "age": pa.array(age),
            "phone": _at(people.mobile, who),
            "icd10": synth.take([d[0] for d in names.DIAGNOSES], diagnosis),
            "diagnosis": synth.take([d[1] for d in names.DIAGNOSES], diagnosis),
            "chief_complaint": complaint,
            "remark": synth.nulls_where(
                rng.random(visits) < 0.85, synth.pick(rng, names.CLINIC_REMARKS, visits)
            ),
            "fee_total": pa.array(fee),
            "fee_insured": pa.array(np.round(fee * rng.uniform(0.3, 0.85, visits), 2)),
        }
    )
    return Built(table, len(np.unique(who)), {"minor_patients": int((age < 14).sum())})


def civil_subsidies(rng: np.random.Generator, people: Population, households: int) -> Built:
    """社会救助资金发放花名册: one row per recipient and month of the fourth quarter of 2024."""
    pool = people.adults(low=18)
    recipient = np.sort(rng.choice(pool, size=min(households, len(pool)), replace=False))
    h = len(recipient)
    kind = rng.choice(len(names.ASSISTANCE), size=h, p=[0.55, 0.15, 0.22, 0.08])
    low = np.array([lo for _, lo, _ in names.ASSISTANCE])[kind]
    high = np.array([hi for _, _, hi in names.ASSISTANCE])[kind]
    amount = np.round(low + rng.random(h) * (high - low)).astype(np.int64)
    bank = rng.integers(0, len(names.BANKS), size=h)
    card = synth.bank_cards(rng, np.array([int(b) for b, _ in names.BANKS], dtype=np.int64)[bank])
    remark_kind = rng.choice(4, size=h, p=[0.7, 0.19, 0.08, 0.03])
    proxy = synth.join("代领人", synth.person_names(rng, h), "，电话", synth.mobiles(rng, h))
    guardian_id = _at(people.resident_id, rng.choice(pool, size=h))
    remark = synth.either(
        remark_kind == 1,
        synth.pick(rng, names.CIVIL_REMARKS, h),
        synth.either(remark_kind == 2, proxy, synth.join("监护人身份证", guardian_id)),
    )
    row = np.repeat(np.arange(h), 3)
    month = np.tile(np.arange(10, 13), h)

    def per_row(values: pa.Array) -> pa.Array:
        return _at(values, row)

    table = pa.table(
        {
            "序号": pa.array(np.arange(1, 3 * h + 1)),
            "姓名": _at(people.name, recipient[row]),
            "身份证号码": _at(people.resident_id, recipient[row]),
            "联系电话": _at(people.mobile, recipient[row]),
            "家庭住址": _at(people.address, recipient[row]),
            "救助类别": synth.take([k for k, _, _ in names.ASSISTANCE], kind[row]),
            "家庭人口": pa.array(rng.integers(1, 6, size=h)[row]),
            "月救助金额(元)": pa.array(amount[row]),
            "发放月份": synth.join("2024-", synth.fixed(month, 2)),
            "开户银行": synth.take([name for _, name in names.BANKS], bank[row]),
            "银行卡号": per_row(card),
            "备注": per_row(synth.nulls_where(remark_kind == 0, remark)),
        }
    )
    return Built(table, h)


def environment_complaints(rng: np.random.Generator, people: Population, n: int) -> Built:
    """生态环境信访投诉: free-text complaints that sometimes carry a phone, ID or plate."""
    kind = rng.integers(0, len(names.COMPLAINT_KINDS), size=n)
    truck = np.array([k == "黑烟车" for k, _, _ in names.COMPLAINT_KINDS])[kind]
    rare = rng.random(n) < 0.003
    rare[0] = True  # at least one name that only GB 18030 can encode
    caller = synth.either(
        rare, synth.person_names(rng, n, rare_share=1.0), synth.person_names(rng, n)
    )
    anonymous = rng.random(n) < 0.1
    plate = synth.plates(rng, n)
    codes = synth.fixed(np.array([int(d) for d in names.DISTRICT_NAMES])[rng.integers(0, 8, n)], 6)
    place = synth.addresses(rng, codes, kind="site")
    issue = synth.take([i for _, i, _ in names.COMPLAINT_KINDS], kind)
    detail = synth.take([d for _, _, d in names.COMPLAINT_KINDS], kind)
    embed = rng.choice(4, size=n, p=[0.87, 0.06, 0.04, 0.03])
    informant = _at(people.resident_id, rng.choice(people.adults(), size=n))
    contact = synth.either(
        embed == 1,
        synth.join("，我的电话", synth.mobiles(rng, n)),
        synth.either(
            embed == 2,
            synth.join("，有事请打手机", synth.mobiles(rng, n), "联系我"),
            synth.join("，本人身份证号", informant),
        ),
    )
    text = synth.join(
        synth.roads(rng, n),
        "附近",
        synth.either(truck, synth.join("车牌", plate, "的"), ""),
        issue,
        "，",
        detail,
        synth.either(embed == 0, "", contact),
        "。请尽快处理。",
    )
    received = synth.random_days(rng, n, "2024-01-01", "2024-12-31").astype("datetime64[s]")
    received += rng.integers(7 * 3600, 22 * 3600, size=n).astype("timedelta64[s]")
    state = rng.integers(0, len(names.COMPLAINT_STATES), size=n)
    done = np.array([s == "已办结" for s in names.COMPLAINT_STATES])[state]
    closed = received.astype("datetime64[D]") + rng.integers(1, 15, size=n).astype("timedelta64[D]")
    table = pa.table(
        {
            "工单编号": synth.join("HB2024", synth.fixed(np.arange(1, n + 1), 7)),
            "受理时间": pa.array(received, pa.timestamp("s")).cast(pa.string()),
            "来源渠道": synth.pick(rng, names.COMPLAINT_CHANNELS, n, p=(6, 2, 2, 1, 1)),
            "投诉人": synth.either(anonymous, "匿名", caller),
            "联系电话": synth.nulls_where(anonymous, synth.phones(rng, n, landline_share=0.15)),
            "事发地址": place,
            "投诉类别": synth.take([k for k, _, _ in names.COMPLAINT_KINDS], kind),
            "车牌号码": synth.nulls_where(~truck, plate),
            "投诉内容": text,
            "办理状态": synth.take(names.COMPLAINT_STATES, state),
            "办结日期": synth.nulls_where(~done, synth.dates(closed)),
        }
    )
    return Built(table, int((~anonymous).sum()), {"embedded_resident_ids": int((embed == 3).sum())})
