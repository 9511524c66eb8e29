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
