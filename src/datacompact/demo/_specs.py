"""What the demo datasets are: their catalog entries and what the catalog should conclude.

Each entry says what a correct catalog should find, so tests can check its
proposals:

* ``pii``: the PII types a detector should report per column, in the
  detector's vocabulary (:data:`PII_TYPES`). A phone column may hold both
  mobiles and landlines. A free-text column lists the identifiers embedded in
  at least 2 % of its non-empty values (phones, resident IDs, plates); the names of
  proxies inside the civil-affairs remarks are not listed, since no
  pattern finds a name inside running text.
* ``proposed``: the grade that the default rules of ``docs/grading.md``
  propose. Column floors come from the PII found in at least 5 % of a
  column's values (sensitive personal information → general-4, personal
  information → general-3); the baseline is general-1 for open data and
  general-2 otherwise; domain tags ``health`` and ``minors`` add their
  sensitive kinds; the category is ``personal`` as soon as a column holds
  personal information, else the holder's (``public`` for a department);
  personal information on 1,000,000 people or more is ``important``. Text IDs
  (about 3 % of complaint texts) stay below the 5 % share that sets a floor.
* ``confirmed``: the grade a data steward settles on. It equals the proposal
  except where the steward overrides it, with the reason given: the facility
  addresses are not personal, and the rare ID numbers inside complaint texts
  are sensitive though they fall below the detector's share threshold.

Themes are codes of the EU data-theme vocabulary, which DCAT-AP uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

ShareType = Literal["unconditional", "conditional", "not_shared"]
OpenType = Literal["open", "conditional_open", "not_open"]
Frequency = Literal["hourly", "daily", "monthly", "quarterly", "yearly"]
# The detector's names (datacompact.ingest); the grading rules read date_of_birth as birth_date.
PII_TYPES = (
    "resident_id",
    "uscc",
    "mobile",
    "landline",
    "bank_card",
    "email",
    "person_name",
    "address",
    "licence_plate",
    "date_of_birth",
)
IMPORTANT_PERSONS = 1_000_000


@dataclass(frozen=True)
class FormatHints:
    """How to read the file: what a user would pass to ``resources register``."""

    format: Literal["csv", "tsv", "xlsx", "parquet", "jsonl"]
    encoding: str | None = None  # None: fixed by the format (Parquet, XLSX)
    delimiter: str | None = None
    sheet: str | None = None
    header_rows: int = 1


@dataclass(frozen=True)
class ExpectedGrade:
    """A classification and grade under GB/T 43697-2024, with the PIPL art. 28 kinds present."""

    category: Literal["public", "enterprise", "personal"]
    grade: Literal["core", "important", "general"]
    level: int | None  # 1-4 within "general", else None
    personal: Literal["personal", "sensitive_personal"] | None
    sensitive: tuple[str, ...] = ()
    reason: str = ""

    @property
    def code(self) -> str:
        """The catalog's grade value: ``general-3``, ``important`` or ``core``."""
        return f"general-{self.level}" if self.grade == "general" else self.grade

    def by_volume(self, persons: int) -> ExpectedGrade:
        """The grade once the number of people described is known."""
        if self.personal is None or persons < IMPORTANT_PERSONS:
            return self
        reason = f"personal information on {IMPORTANT_PERSONS:,} or more people"
        return replace(self, grade="important", level=None, reason=reason)


@dataclass(frozen=True)
class Entry:
    """A dataset's catalog entry, before its file exists."""

    key: str
    file: str
    holder: str  # an Org.slug of build_cast()
    name_zh: str
    name_en: str
    description: str
    source_system: str
    themes: tuple[str, ...]
    tags: tuple[str, ...]
    frequency: Frequency
    share_type: ShareType
    open_type: OpenType
    hints: FormatHints
    key_columns: tuple[str, ...]
    pii: Mapping[str, tuple[str, ...]]
    free_text: tuple[str, ...]
    proposed: ExpectedGrade
    confirmed: ExpectedGrade | None = None  # None: the steward confirms the proposal

    @property
    def grade(self) -> ExpectedGrade:
        """The grade the resource ends up with."""
        return self.confirmed or self.proposed


@dataclass(frozen=True, kw_only=True)
class DatasetSpec(Entry):
    """A written dataset: its entry, where the file is, and the facts counted while writing it."""

    path: Path
    columns: tuple[str, ...]  # as in the file (leaf names under a two-row header)
    rows: int
    persons: int  # distinct natural persons described
    defects: Mapping[str, int] = field(default_factory=dict)  # planted quality problems, counted


def _personal(level: int, *sensitive: str, reason: str) -> ExpectedGrade:
    kind: Literal["personal", "sensitive_personal"] = (
        "sensitive_personal" if sensitive else "personal"
    )
    return ExpectedGrade("personal", "general", level, kind, sensitive, reason)


ENTRIES: tuple[Entry, ...] = (
    Entry(
        key="enterprise_registry",
        file="amr_enterprise_registry.csv",
        holder="amr",
        name_zh="市场主体登记信息",
        name_en="Register of market entities",
        description="全市企业、个体工商户和农民专业合作社的登记信息，含统一社会信用代码、法定代表人和联系方式。"
        " / Registration records of every enterprise, sole trader and co-operative, with USCCs,"
        " legal representatives and contacts.",
        source_system="市场主体登记系统",
        themes=("ECON",),
        tags=("企业", "登记", "统一社会信用代码", "营商环境"),
        frequency="daily",
        share_type="unconditional",
        open_type="conditional_open",
        hints=FormatHints("csv", encoding="utf-8", delimiter=","),
        key_columns=("统一社会信用代码",),
        pii={
            "统一社会信用代码": ("uscc",),
            "法定代表人": ("person_name",),
            "住所": ("address",),
            "联系电话": ("mobile", "landline"),
            "电子邮箱": ("email",),
        },
        free_text=(),
        proposed=_personal(3, reason="legal representatives' names, phones and e-mails"),
    ),
    Entry(
        key="social_insurance",
        file="hrss_social_insurance.csv",
        holder="hrss",
        name_zh="社会保险缴费明细",
        name_en="Social insurance contributions",
        description="2024年参保人员按月的养老、医疗、失业保险缴费明细。"
        " / Monthly pension, medical and unemployment contributions of insured employees in 2024.",
        source_system="社会保险信息系统",
        themes=("SOCI",),
        tags=("社会保险", "就业", "缴费", "个人信息"),
        frequency="monthly",
        share_type="conditional",
        open_type="not_open",
        hints=FormatHints("csv", encoding="utf-8-sig", delimiter=","),
        key_columns=("resident_id", "period"),
        pii={
            "resident_id": ("resident_id",),
            "name": ("person_name",),
            "birth_date": ("date_of_birth",),
            "phone": ("mobile",),
            "email": ("email",),
            "employer_uscc": ("uscc",),
            "remark": ("mobile",),
        },
        free_text=("remark",),
        proposed=_personal(4, "specific_identity", reason="resident ID numbers"),
    ),
    Entry(
        key="tax_summary",
        file="tax_summary.csv",
        holder="tax",
        name_zh="企业纳税申报汇总",
        name_en="Quarterly tax returns of enterprises",
        description="在册企业2024年各季度营业收入与增值税、企业所得税、代扣个人所得税申报汇总。"
        " / Quarterly revenue and VAT, corporate and withheld income tax returns of companies, 2024.",
        source_system="金税系统",
        themes=("ECON", "GOVE"),
        tags=("税收", "企业", "银税互动", "信用"),
        frequency="quarterly",
        share_type="conditional",
        open_type="not_open",
        hints=FormatHints("csv", encoding="gbk", delimiter=","),
        key_columns=("纳税人识别号", "税款所属期起"),
        pii={
            "纳税人识别号": ("uscc",),
            "办税人员": ("person_name",),
            "办税人员电话": ("mobile",),
        },
        free_text=(),
        proposed=_personal(3, reason="tax agents' names and phones beside taxpayer data"),
    ),
    Entry(
        key="traffic_counts",
        file="transport_traffic_counts.parquet",
        holder="transport",
        name_zh="道路路段小时交通流量",
        name_en="Hourly traffic counts per road segment",
        description="路段检测器2024年6月每小时的车流量、大车数、平均车速和占有率。"
        " / Vehicles, heavy vehicles, mean speed and occupancy per detector segment and hour, June 2024.",
        source_system="交通流量检测系统",
        themes=("TRAN",),
        tags=("交通", "流量", "路段", "拥堵"),
        frequency="hourly",
        share_type="unconditional",
        open_type="conditional_open",
        hints=FormatHints("parquet"),
        key_columns=("segment_id", "hour_start"),
        pii={},
        free_text=(),
        proposed=ExpectedGrade("public", "general", 2, None, reason="no personal information"),
    ),
    Entry(
        key="clinic_visits",
        file="health_clinic_visits.jsonl",
        holder="health",
        name_zh="门诊就诊记录",
        name_en="Outpatient clinic visits",
        description="全市医疗机构2024年门诊就诊记录，含ICD-10诊断、主诉和费用。"
        " / Outpatient visits at the city's hospitals in 2024 with ICD-10 diagnoses, complaints and fees.",
        source_system="医院信息系统 (HIS)",
        themes=("HEAL",),
        tags=("医疗健康", "门诊", "诊断", "health", "minors"),
        frequency="daily",
        share_type="conditional",
        open_type="not_open",
        hints=FormatHints("jsonl", encoding="utf-8"),
        key_columns=("visit_id",),
        pii={
            "patient_name": ("person_name",),
            "resident_id": ("resident_id",),
            "phone": ("mobile",),
            "chief_complaint": ("mobile", "resident_id"),
        },
        free_text=("chief_complaint", "remark"),
        proposed=_personal(
            4,
            "specific_identity",
            "medical_health",
            "minor_under_14",
            reason="diagnoses of identified patients, children among them",
        ),
    ),
    Entry(
        key="civil_subsidies",
        file="civil_subsidies.xlsx",
        holder="civil",
        name_zh="社会救助资金发放花名册",
        name_en="Social assistance payments",
        description="2024年第四季度最低生活保障、特困供养、低收入和临时救助资金发放明细。"
        " / Payments of minimum-living, destitute, low-income and temporary assistance, Q4 2024.",
        source_system="社会救助信息系统",
        themes=("SOCI",),
        tags=("社会救助", "低保", "民生", "敏感个人信息"),
        frequency="monthly",
        share_type="conditional",
        open_type="not_open",
        hints=FormatHints("xlsx", sheet="发放明细", header_rows=2),
        key_columns=("序号",),
        pii={
            "姓名": ("person_name",),
            "身份证号码": ("resident_id",),
            "联系电话": ("mobile",),
            "家庭住址": ("address",),
            "银行卡号": ("bank_card",),
            "备注": ("mobile", "resident_id"),
        },
        free_text=("备注",),
        proposed=_personal(
            4,
            "specific_identity",
            "financial_account",
            reason="recipients' IDs, assistance status and bank cards",
        ),
    ),
    Entry(
        key="public_facilities",
        file="nrp_public_facilities.csv",
        holder="nrp",
        name_zh="公共服务设施分布",
        name_en="Public facilities",
        description="公园、公厕、图书馆、体育场馆、停车场等公共服务设施的位置和开放时间（WGS 84 坐标）。"
        " / Parks, toilets, libraries, sports halls, car parks and more, with WGS 84 coordinates.",
        source_system="公共设施地理信息系统",
        themes=("REGI", "SOCI"),
        tags=("公共设施", "地理信息", "开放数据", "便民"),
        frequency="monthly",
        share_type="unconditional",
        open_type="open",
        hints=FormatHints("csv", encoding="utf-8", delimiter=","),
        key_columns=("设施编号",),
        pii={"地址": ("address",)},
        free_text=(),
        proposed=_personal(3, reason="the addresses look like personal information"),
        confirmed=ExpectedGrade(
            "public",
            "general",
            1,
            None,
            reason="公共设施地址不是个人信息 / the addresses are public facilities', not people's",
        ),
    ),
    Entry(
        key="environment_complaints",
        file="eco_complaints.tsv",
        holder="eco",
        name_zh="生态环境信访投诉",
        name_en="Environmental complaints",
        description="12345热线等渠道受理的噪声、大气、水、固废和黑烟车投诉及办理情况。"
        " / Complaints about noise, air, water, waste and smoking vehicles, and how they were handled.",
        source_system="12345政务服务热线 / 信访系统",
        themes=("ENVI",),
        tags=("生态环境", "投诉", "12345", "噪声"),
        frequency="daily",
        share_type="not_shared",
        open_type="not_open",
        hints=FormatHints("tsv", encoding="gb18030", delimiter="\t"),
        key_columns=("工单编号",),
        pii={
            "投诉人": ("person_name",),
            "联系电话": ("mobile", "landline"),
            "事发地址": ("address",),
            "车牌号码": ("licence_plate",),
            "投诉内容": ("mobile", "resident_id", "licence_plate"),
        },
        free_text=("投诉内容",),
        proposed=_personal(3, reason="complainants' names, phones and plates"),
        confirmed=_personal(
            4,
            "specific_identity",
            reason="投诉内容偶含身份证号，信访人信息依《信访工作条例》保护 / complaint texts "
            "sometimes carry ID numbers, and informants are protected",
        ),
    ),
)
