"""DCAT-AP 3.0.1 export: validated with pyshacl against the official shapes and range checks."""

from __future__ import annotations

import json
from dataclasses import replace
from functools import cache

import pyshacl  # type: ignore[import-untyped, unused-ignore]
import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS

from datacompact.catalog.dcat import (
    ODRL,
    Distribution,
    OpenType,
    ShareType,
    Text,
    UsageOffer,
    access_rights,
    to_graph,
    to_jsonld,
    to_turtle,
)
from datacompact.errors import InvalidInput
from tests.catalog._fixtures import BASE, BUREAU, STANDARDS, sample_catalog

DCAT_AP = STANDARDS / "dcat-ap-3.0.1"


@cache
def _graph(name: str) -> Graph:
    path = STANDARDS / "odrl-2.2" / name if name.startswith("ODRL") else DCAT_AP / name
    return Graph().parse(path)


def _validate(data: Graph) -> tuple[bool, str]:
    ok_shapes, _g, shapes_text = pyshacl.validate(data, shacl_graph=_graph("shapes.ttl"))
    ok_range, _g, range_text = pyshacl.validate(
        data,
        shacl_graph=_graph("range.ttl"),
        ont_graph=_graph("ODRL22.ttl"),  # odrl:Offer ⊑ odrl:Policy for the hasPolicy range
        inference="rdfs",
    )
    return ok_shapes and ok_range, f"{shapes_text}\n{range_text}"


def test_turtle_export_conforms() -> None:
    data = Graph().parse(data=to_turtle(sample_catalog()), format="turtle")
    ok, report = _validate(data)
    assert ok, report


# rdflib's own JSON-LD parser builds a deprecated ConjunctiveGraph; the export does not.
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
def test_jsonld_export_conforms_and_matches_turtle() -> None:
    text = to_jsonld(sample_catalog())
    document = json.loads(text)
    assert set(document["@context"]) >= {"dcat", "dct", "odrl"}
    assert "某市公共数据目录" in text  # not \\u-escaped
    data = Graph().parse(data=text, format="json-ld")
    ok, report = _validate(data)
    assert ok, report
    assert isomorphic(data, Graph().parse(data=to_turtle(sample_catalog()), format="turtle"))


def test_exports_are_stable() -> None:
    assert to_jsonld(sample_catalog()) == to_jsonld(sample_catalog())
    assert to_turtle(sample_catalog()) == to_turtle(sample_catalog())


@pytest.mark.parametrize(
    "breakage",
    [
        "no_access_url",
        "no_title",
        "policy_literal",
        "two_publishers",
        "date_as_text",
        "theme_literal",
    ],
)
def test_broken_export_fails(breakage: str) -> None:
    g = to_graph(sample_catalog())
    dataset = URIRef(f"{BASE}/datasets/2")
    distribution = URIRef(f"{BASE}/distributions/2")
    if breakage == "no_access_url":
        g.remove((distribution, DCAT.accessURL, None))
    elif breakage == "no_title":
        g.remove((dataset, DCTERMS.title, None))
    elif breakage == "policy_literal":
        # (An untyped IRI would pass: ODRL 2.2 gives odrl:hasPolicy the range odrl:Policy.)
        g.set((distribution, ODRL.hasPolicy, Literal("use freely")))
    elif breakage == "theme_literal":
        g.add((dataset, DCAT.theme, Literal("health")))
    elif breakage == "two_publishers":
        g.add((dataset, DCTERMS.publisher, URIRef(f"{BASE}/someone-else")))
    else:
        # On the catalog: the official Dataset shape checks dates with sh:shape, not sh:node.
        g.set((URIRef(BASE), DCTERMS.issued, Literal("yesterday")))
    ok, _report = _validate(g)
    assert not ok


def test_dataset_content() -> None:
    g = to_graph(sample_catalog())
    clinic = URIRef(f"{BASE}/datasets/2")
    assert g.value(clinic, DCTERMS.identifier) == Literal("330106MB0000002000001K")
    assert str(g.value(clinic, DCTERMS.accessRights)).endswith("/access-right/RESTRICTED")
    assert str(g.value(clinic, DCTERMS.accrualPeriodicity)).endswith("/frequency/DAILY")
    offer = g.value(URIRef(f"{BASE}/distributions/2"), ODRL.hasPolicy)
    assert offer == URIRef(f"{BASE}/offers/2")
    assert g.value(offer, ODRL.target) == clinic
    permission = g.value(offer, ODRL.permission)
    assert g.value(permission, ODRL.action) == ODRL.aggregate
    constraint = g.value(permission, ODRL.constraint)
    assert set(g.objects(constraint, ODRL.rightOperand)) == {
        Literal("公共卫生研究"),
        Literal("public-health research"),
    }
    assert g.value(g.value(offer, ODRL.prohibition), ODRL.action) == ODRL.distribute
    themes = {
        str(t) for t in g.objects(URIRef(f"{BASE}/datasets/330106MB000000100000133"), DCAT.theme)
    }
    assert themes == {
        "http://publications.europa.eu/resource/authority/data-theme/GOVE",
        f"{BASE}/themes/%E5%9F%8E%E5%B8%82%E8%AE%BE%E6%96%BD",
    }


@pytest.mark.parametrize(
    ("share", "opened", "expected"),
    [
        ("unconditional", "open", "PUBLIC"),
        ("not_shared", "open", "PUBLIC"),
        ("not_shared", "conditional_open", "RESTRICTED"),
        ("unconditional", "not_open", "RESTRICTED"),
        ("conditional", "not_open", "RESTRICTED"),
        ("not_shared", "not_open", "NON_PUBLIC"),
    ],
)
def test_access_rights(share: str, opened: str, expected: str) -> None:
    assert access_rights(ShareType(share), OpenType(opened)).endswith(f"/access-right/{expected}")


def _with_distribution(dist: Distribution) -> Graph:
    catalog = sample_catalog()
    dataset = replace(catalog.datasets[0], distributions=(dist,))
    return to_graph(replace(catalog, datasets=(dataset,)))


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"format": "docx"}, "unsupported distribution format"),
        ({"access_url": "ftp://x"}, "invalid access URL"),
        ({"uri": "not an iri"}, "invalid distribution uri"),
        (
            {"policy": UsageOffer(uri=f"{BASE}/o", assigner=BUREAU, actions=("sell",))},
            "invalid ODRL action",
        ),
        ({"policy": UsageOffer(uri=f"{BASE}/o", assigner=BUREAU, actions=())}, "no action"),
    ],
)
def test_invalid_inputs(change: dict[str, object], fragment: str) -> None:
    base = Distribution(uri=f"{BASE}/d", access_url=f"{BASE}/a", format="CSV")
    with pytest.raises(InvalidInput, match=fragment):
        _with_distribution(replace(base, **change))  # type: ignore[arg-type]


def test_invalid_frequency_and_text() -> None:
    catalog = sample_catalog()
    dataset = replace(catalog.datasets[0], frequency="fortnightly")
    with pytest.raises(InvalidInput, match="unsupported update frequency"):
        to_graph(replace(catalog, datasets=(dataset,)))
    with pytest.raises(InvalidInput, match="expected Chinese text"):
        Text(" ", "English only")
