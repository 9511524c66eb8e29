"""Shared inputs of the catalog tests and the paths of the official artifacts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from datacompact.catalog.dcat import (
    Agent,
    Catalog,
    Dataset,
    Distribution,
    OpenType,
    ShareType,
    Text,
    Theme,
    UsageOffer,
)

SHARED = Path(__file__).resolve().parents[1] / "fixtures"
STANDARDS = SHARED / "standards"
BASE = "https://data.example.gov.cn/catalog"

BUREAU = Agent(
    uri="https://data.example.gov.cn/participants/1",
    name=Text("某市数据局", "Municipal Data Bureau"),
    identifier="11330100MB0000001R",
)
HEALTH_DEPT = Agent(
    uri="https://data.example.gov.cn/participants/2",
    name=Text("某市卫生健康委员会", "Municipal Health Commission"),
)


def sample_catalog() -> Catalog:
    open_data = Dataset(
        uri=f"{BASE}/datasets/330106MB000000100000133",
        identifier="330106MB0000001000001Q",
        title=Text("公共设施", "Public facilities"),
        description=Text("全市公共设施位置与开放时间", "Location and hours of public facilities"),
        publisher=BUREAU,
        share_type=ShareType.UNCONDITIONAL,
        open_type=OpenType.OPEN,
        themes=(
            Theme("government", Text("政府", "Government")),
            Theme("城市设施", Text("城市设施")),
        ),
        keywords=("公共设施", "开放数据"),
        frequency="monthly",
        issued=date(2024, 1, 15),
        modified=date(2024, 6, 1),
        distributions=(
            Distribution(
                uri=f"{BASE}/distributions/1",
                access_url="https://data.example.gov.cn/api/v1/resources/1",
                format="parquet",
                title=Text("Parquet 文件", "Parquet file"),
                byte_size=1024,
                policy=UsageOffer(uri=f"{BASE}/offers/1", assigner=BUREAU, actions=("use",)),
            ),
        ),
    )
    clinic = Dataset(
        uri=f"{BASE}/datasets/2",
        identifier="330106MB0000002000001K",
        title=Text("门诊就诊记录", "Clinic visits"),
        description=Text("社区门诊就诊记录（敏感）"),
        publisher=HEALTH_DEPT,
        share_type=ShareType.CONDITIONAL,
        open_type=OpenType.NOT_OPEN,
        themes=(Theme("health", Text("卫生健康", "Health")),),
        frequency="daily",
        distributions=(
            Distribution(
                uri=f"{BASE}/distributions/2",
                access_url="https://data.example.gov.cn/api/v1/sandbox",
                format="CSV",
                policy=UsageOffer(
                    uri=f"{BASE}/offers/2",
                    assigner=HEALTH_DEPT,
                    actions=("aggregate",),
                    purposes=("公共卫生研究", "public-health research"),
                    prohibitions=("distribute",),
                ),
            ),
        ),
    )
    return Catalog(
        uri=BASE,
        title=Text("某市公共数据目录", "Municipal public data catalogue"),
        description=Text("政企合作数据目录", "Catalogue of the data-collaboration platform"),
        publisher=BUREAU,
        datasets=(open_data, clinic),
        homepage="https://data.example.gov.cn/",
        issued=date(2024, 1, 1),
    )
