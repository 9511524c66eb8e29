"""Controlled vocabularies the DCAT-AP export points to (EU Publications Office, IANA, ODRL).

DCAT-AP 3.0.1 asks for the EU authority tables for access rights, file types,
frequencies, languages and data themes, and for IANA media types. Only their
IRIs are needed, so they are listed here instead of being fetched.
"""

from __future__ import annotations

from rdflib import Namespace, URIRef

_EU = "http://publications.europa.eu/resource/authority/"
ACCESS_RIGHT = Namespace(_EU + "access-right/")
FILE_TYPE = Namespace(_EU + "file-type/")
FREQUENCY = Namespace(_EU + "frequency/")
LANGUAGE = Namespace(_EU + "language/")
DATA_THEME = Namespace(_EU + "data-theme/")
DATA_THEME_SCHEME = URIRef(_EU + "data-theme")
IANA = "https://www.iana.org/assignments/media-types/"


# access-right code → (中文, English) label
ACCESS_LABELS: dict[str, tuple[str, str]] = {
    "PUBLIC": ("公开", "public"),
    "RESTRICTED": ("受限", "restricted"),
    "NON_PUBLIC": ("不公开", "non-public"),
}

# our format name → (EU file-type code, IANA media type)
FORMATS: dict[str, tuple[str, str]] = {
    "CSV": ("CSV", "text/csv"),
    "TSV": ("TSV", "text/tab-separated-values"),
    "JSON": ("JSON", "application/json"),
    "PARQUET": ("PARQUET", "application/vnd.apache.parquet"),
    "XLSX": ("XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
}

# update frequency of a resource → EU frequency code
FREQUENCIES: dict[str, str] = {
    "realtime": "UPDATE_CONT",
    "continuous": "UPDATE_CONT",
    "hourly": "HOURLY",
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "semiannual": "ANNUAL_2",
    "annual": "ANNUAL",
    "yearly": "ANNUAL",
    "irregular": "IRREG",
    "never": "NEVER",
    "unknown": "UNKNOWN",
}

# theme slug → EU data-theme code (the 13 themes of the EU vocabulary)
EU_THEMES: dict[str, str] = {
    "agriculture": "AGRI",
    "economy": "ECON",
    "education": "EDUC",
    "energy": "ENER",
    "environment": "ENVI",
    "government": "GOVE",
    "health": "HEAL",
    "international": "INTR",
    "justice": "JUST",
    "society": "SOCI",
    "regions": "REGI",
    "science": "TECH",
    "transport": "TRAN",
}

# EU data-theme code → (中文, English) label (the English as the EU vocabulary has it)
THEME_LABELS: dict[str, tuple[str, str]] = {
    "AGRI": ("农业、渔业、林业和食品", "Agriculture, fisheries, forestry and food"),
    "ECON": ("经济和金融", "Economy and finance"),
    "EDUC": ("教育、文化和体育", "Education, culture and sport"),
    "ENER": ("能源", "Energy"),
    "ENVI": ("环境", "Environment"),
    "GOVE": ("政府和公共部门", "Government and public sector"),
    "HEAL": ("卫生健康", "Health"),
    "INTR": ("国际事务", "International issues"),
    "JUST": ("司法、法律体系和公共安全", "Justice, legal system and public safety"),
    "SOCI": ("人口和社会", "Population and society"),
    "REGI": ("地区和城市", "Regions and cities"),
    "TECH": ("科学和技术", "Science and technology"),
    "TRAN": ("交通运输", "Transport"),
}

# ODRL 2.2 Common Vocabulary actions an offer may name.
ODRL_ACTIONS = frozenset(
    {
        "aggregate",
        "anonymize",
        "derive",
        "display",
        "distribute",
        "index",
        "read",
        "reproduce",
        "transform",
        "use",
    }
)
