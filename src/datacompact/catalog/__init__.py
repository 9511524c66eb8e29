"""Catalog: data resources, registration codes, grading, data standards, exports and search.

The services register resources from a participant's inbox, version them,
grade them and apply data standards; the rest are database-free building
blocks:

* :mod:`~datacompact.catalog.resources`: registration, versions, grade
  decisions, the dictionary, search (services);
* :mod:`~datacompact.catalog.standardize` and
  :mod:`~datacompact.catalog.standards_registry`: conformance reports, derived
  versions and registered standards (services);
* :mod:`~datacompact.catalog.codes`: registration codes (GB/T 2260 region +
  USCC organization code + sequence + ISO 7064 MOD 37-36 check character);
* :mod:`~datacompact.catalog.grading`: classification and grading per
  GB/T 43697-2024, personal information per PIPL art. 4 and 28;
* :mod:`~datacompact.catalog.standards`: data standards (GB/T 2261.1, GB/T 2260,
  GB/T 4754, GB 11643, GB/T 7408); :mod:`~datacompact.catalog.standard_sql`
  checks and derives data against them in DuckDB;
* :mod:`~datacompact.catalog.dcat` and :mod:`~datacompact.catalog.export`:
  DCAT-AP 3.0.1 export (Turtle, JSON-LD);
* :mod:`~datacompact.catalog.lineage`: OpenLineage 2-0-2 run events;
* :mod:`~datacompact.catalog.search`: zh/en terms (jieba) and BM25 ranking;
* :mod:`~datacompact.catalog.inbox`: the files a participant may register, and uploads;
* :mod:`~datacompact.catalog.shape`: how a version's columns differ from the one before;
* :mod:`~datacompact.catalog.schemas`: the request and response bodies.

The names below load their module on first use: the command line starts
without RDF, jieba or DuckDB.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datacompact.catalog._types import OpenType, ShareType
    from datacompact.catalog.codes import RegistrationCode, make_code, parse_code
    from datacompact.catalog.dcat import to_jsonld, to_turtle
    from datacompact.catalog.export import export_catalog
    from datacompact.catalog.grading import GradeDecision, GradeProposal, confirm, override, propose
    from datacompact.catalog.inbox import Uploaded, begin_upload, inbox_folder, open_inbox_file
    from datacompact.catalog.resources import (
        decide_grade,
        get_resource,
        ingest_version,
        latest_version,
        list_catalog,
        register_resource,
        search_resources,
        update_dictionary,
    )
    from datacompact.catalog.standard_sql import conformance, derive
    from datacompact.catalog.standardize import conformance_report, derive_standard_version
    from datacompact.catalog.standards import (
        ColumnMapping,
        Standard,
        builtin_standards,
        get_standard,
    )
    from datacompact.catalog.standards_registry import list_standards, register_standard

# Each name loads its module on first use (PEP 562).
_MODULE_OF = {
    "OpenType": "_types",
    "ShareType": "_types",
    "RegistrationCode": "codes",
    "make_code": "codes",
    "parse_code": "codes",
    "conformance": "standard_sql",
    "derive": "standard_sql",
    "to_jsonld": "dcat",
    "to_turtle": "dcat",
    "export_catalog": "export",
    "GradeDecision": "grading",
    "GradeProposal": "grading",
    "confirm": "grading",
    "override": "grading",
    "propose": "grading",
    "Uploaded": "inbox",
    "begin_upload": "inbox",
    "inbox_folder": "inbox",
    "open_inbox_file": "inbox",
    "decide_grade": "resources",
    "get_resource": "resources",
    "ingest_version": "resources",
    "latest_version": "resources",
    "list_catalog": "resources",
    "register_resource": "resources",
    "search_resources": "resources",
    "update_dictionary": "resources",
    "conformance_report": "standardize",
    "derive_standard_version": "standardize",
    "ColumnMapping": "standards",
    "Standard": "standards",
    "builtin_standards": "standards",
    "get_standard": "standards",
    "list_standards": "standards_registry",
    "register_standard": "standards_registry",
}

__all__ = [
    "ColumnMapping",
    "GradeDecision",
    "GradeProposal",
    "OpenType",
    "RegistrationCode",
    "ShareType",
    "Standard",
    "Uploaded",
    "begin_upload",
    "builtin_standards",
    "confirm",
    "conformance",
    "conformance_report",
    "decide_grade",
    "derive",
    "derive_standard_version",
    "export_catalog",
    "get_resource",
    "get_standard",
    "inbox_folder",
    "ingest_version",
    "latest_version",
    "list_catalog",
    "list_standards",
    "make_code",
    "open_inbox_file",
    "override",
    "parse_code",
    "propose",
    "register_resource",
    "register_standard",
    "search_resources",
    "to_jsonld",
    "to_turtle",
    "update_dictionary",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
