"""DCAT-AP 3.0.1 export of the catalog, as Turtle and JSON-LD (rdflib).

The input is plain dataclasses (:class:`Catalog`, :class:`Dataset`,
:class:`Distribution`, ...), not store rows, so the export can be built and
validated without a database. What it writes:

* ``dcat:Catalog`` with title, description, publisher (``foaf:Agent``),
  languages (EU language authority ZHO, ENG), theme taxonomies and datasets;
* ``dcat:Dataset`` with the registration code as ``dct:identifier``, zh/en
  titles and descriptions, keywords, themes (EU data-theme concepts where the
  slug is one of theirs, otherwise the catalog's own ``skos:Concept`` s),
  ``dct:accrualPeriodicity`` (EU frequency authority) and ``dct:accessRights``
  derived from share type and open type (:func:`access_rights`);
* ``dcat:Distribution`` with ``dcat:accessURL``, ``dct:format`` (EU file-type
  authority), ``dcat:mediaType`` (IANA) and the usage offer linked with
  ``odrl:hasPolicy``: an ``odrl:Offer`` (ODRL 2.2 §2.2) whose permission
  carries the allowed purposes as ``odrl:purpose`` constraints.

Every referenced concept is typed as DCAT-AP's range shapes expect
(``dct:RightsStatement``, ``dct:Frequency``, ``dct:MediaType`` ...), so the
export passes the official SHACL shapes and range checks. JSON-LD is written
with the compact context :data:`JSONLD_CONTEXT` embedded in the package: nothing
is fetched at run time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

from rdflib import RDF, RDFS, BNode, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, SKOS, XSD

from datacompact.catalog import _dcat_vocab as _vocab
from datacompact.catalog._types import OpenType, ShareType
from datacompact.errors import InvalidInput

__all__ = [
    "JSONLD_CONTEXT",
    "Agent",
    "Catalog",
    "Dataset",
    "Distribution",
    "OpenType",
    "ShareType",
    "Text",
    "Theme",
    "UsageOffer",
    "access_rights",
    "dataset_graph",
    "dataset_jsonld",
    "to_graph",
    "to_jsonld",
    "to_turtle",
]

ODRL = Namespace("http://www.w3.org/ns/odrl/2/")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
JSONLD_CONTEXT: dict[str, str] = {
    "dcat": str(DCAT),
    "dct": str(DCTERMS),
    "foaf": str(FOAF),
    "odrl": str(ODRL),
    "rdfs": str(RDFS),
    "skos": str(SKOS),
    "xsd": str(XSD),
}


@dataclass(frozen=True)
class Text:
    """A text in Chinese and, optionally, English."""

    zh: str
    en: str | None = None

    def __post_init__(self) -> None:
        if not self.zh.strip():
            raise InvalidInput("中文文本为空 / empty text: expected Chinese text, got blank")

    @classmethod
    def bilingual(cls, text: str, en: str | None = None) -> Text:
        """``text`` as Chinese and English, split where it is written "中文 / English".

        The platform writes bilingual text in one field as Chinese, `` / ``, then
        English. The export gives each language its own literal; ``en``, when
        given, is the English already kept apart (and then ``text`` is Chinese).

        >>> Text.bilingual("社保缴费 / Social insurance contributions")
        Text(zh='社保缴费', en='Social insurance contributions')
        >>> Text.bilingual("路径 a / b 的说明")
        Text(zh='路径 a / b 的说明', en=None)
        """
        if en and en.strip():
            return cls(text, en)
        head, sep, tail = text.partition(" / ")
        if sep and _HAN.search(head) and tail.strip() and not _HAN.search(tail):
            return cls(head.strip(), tail.strip())
        return cls(text)

    def literals(self) -> list[Literal]:
        out = [Literal(self.zh, lang="zh")]
        if self.en and self.en.strip():
            out.append(Literal(self.en, lang="en"))
        return out


@dataclass(frozen=True)
class Agent:
    """A publisher or assigner: a participant of the platform."""

    uri: str
    name: Text
    identifier: str | None = None


@dataclass(frozen=True)
class Theme:
    """A theme: a slug (``health``, ``economy`` ...) or an EU data-theme code (``HEAL``).

    Both name a concept of the EU data-theme vocabulary where it has one;
    any other slug is a concept of the catalog's own theme scheme.
    """

    slug: str
    label: Text

    @property
    def eu_code(self) -> str | None:
        code = self.slug.upper()
        return code if code in _vocab.THEME_LABELS else _vocab.EU_THEMES.get(self.slug)

    @classmethod
    def named(cls, slug: str) -> Theme:
        """The theme ``slug`` with its labels: the EU vocabulary's, or the slug itself."""
        code = _vocab.EU_THEMES.get(slug, slug.upper())
        labels = _vocab.THEME_LABELS.get(code)
        return cls(slug, Text(*labels) if labels else Text(slug))


@dataclass(frozen=True)
class UsageOffer:
    """An ODRL offer: the actions a user may be granted, for which purposes, and what is forbidden."""

    uri: str
    assigner: Agent
    actions: tuple[str, ...] = ("use",)
    purposes: tuple[str, ...] = ()
    prohibitions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Distribution:
    """One form in which a dataset is available, e.g. governed SQL access to its Parquet."""

    uri: str
    access_url: str
    format: str
    title: Text | None = None
    byte_size: int | None = None
    policy: UsageOffer | None = None


@dataclass(frozen=True)
class Dataset:
    """A registered data resource as the catalog publishes it."""

    uri: str
    identifier: str
    title: Text
    description: Text
    publisher: Agent
    share_type: ShareType
    open_type: OpenType
    themes: tuple[Theme, ...] = ()
    keywords: tuple[str, ...] = ()
    frequency: str | None = None
    issued: date | None = None
    modified: date | None = None
    distributions: tuple[Distribution, ...] = ()


@dataclass(frozen=True)
class Catalog:
    """The platform's catalog."""

    uri: str
    title: Text
    description: Text
    publisher: Agent
    datasets: tuple[Dataset, ...] = ()
    homepage: str | None = None
    issued: date | None = None
    modified: date | None = None


def access_rights(share_type: ShareType | str, open_type: OpenType | str) -> URIRef:
    """The EU access-right concept for a share type and an open type.

    Open data is ``PUBLIC``; conditionally open data, or data shared between
    government units but not opened, is ``RESTRICTED``; the rest ``NON_PUBLIC``.

    >>> access_rights("not_shared", "open").split("/")[-1]
    'PUBLIC'
    >>> access_rights("conditional", "not_open").split("/")[-1]
    'RESTRICTED'
    """
    share, opened = ShareType(share_type), OpenType(open_type)
    if opened is OpenType.OPEN:
        return _vocab.ACCESS_RIGHT["PUBLIC"]
    if opened is OpenType.CONDITIONAL_OPEN or share is not ShareType.NOT_SHARED:
        return _vocab.ACCESS_RIGHT["RESTRICTED"]
    return _vocab.ACCESS_RIGHT["NON_PUBLIC"]


def _iri(text: str, what: str) -> URIRef:
    if not text.startswith(("https://", "http://", "urn:")) or any(
        c in text for c in ' <>"{}|\\^`'
    ):
        raise InvalidInput(
            f"{what} 不是合法 IRI / invalid {what}: expected an absolute http(s) or urn IRI, "
            f"got {len(text)} characters that are not one"
        )
    return URIRef(text)


def _when(value: date) -> Literal:
    if isinstance(value, datetime):
        return Literal(value.isoformat(), datatype=XSD.dateTime)
    return Literal(value.isoformat(), datatype=XSD.date)


class _Builder:
    def __init__(self) -> None:
        self.g = Graph()
        for prefix, ns in JSONLD_CONTEXT.items():
            self.g.bind(prefix, Namespace(ns))
        self.schemes: dict[URIRef, Text] = {}
        self._blank = 0

    def blank(self) -> BNode:
        # Numbered rather than random, so the same catalog serializes to the same text.
        self._blank += 1
        return BNode(f"b{self._blank}")

    def add_all(self, subject: URIRef | BNode, predicate: URIRef, objects: Iterable[Any]) -> None:
        for obj in objects:
            self.g.add((subject, predicate, obj))

    def concept(self, iri: URIRef, kind: URIRef, labels: Text) -> URIRef:
        self.g.add((iri, RDF.type, kind))
        self.add_all(iri, RDFS.label, labels.literals())
        return iri

    def agent(self, agent: Agent) -> URIRef:
        node = _iri(agent.uri, "agent uri")
        self.g.add((node, RDF.type, FOAF.Agent))
        self.add_all(node, FOAF.name, agent.name.literals())
        if agent.identifier:
            self.g.add((node, DCTERMS.identifier, Literal(agent.identifier)))
        return node

    def theme(self, catalog: URIRef, theme: Theme) -> URIRef:
        eu = theme.eu_code
        if eu is not None:
            iri, scheme = _vocab.DATA_THEME[eu], _vocab.DATA_THEME_SCHEME
            self.schemes[scheme] = Text("数据主题", "Data theme")
        else:
            slug = quote(theme.slug, safe="")
            iri, scheme = URIRef(f"{catalog}/themes/{slug}"), URIRef(f"{catalog}/themes")
            self.schemes[scheme] = Text("目录主题", "Catalogue themes")
        self.g.add((iri, RDF.type, SKOS.Concept))
        self.g.add((iri, SKOS.inScheme, scheme))
        self.add_all(iri, SKOS.prefLabel, theme.label.literals())
        return iri

    def offer(self, offer: UsageOffer, target: URIRef) -> URIRef:
        node = _iri(offer.uri, "offer uri")
        if not offer.actions:
            raise InvalidInput("使用要约无动作 / usage offer has no action: expected at least one")
        self.g.add((node, RDF.type, ODRL.Offer))
        self.g.add((node, ODRL.assigner, self.agent(offer.assigner)))
        self.g.add((node, ODRL.target, target))
        for rule_kind, actions in (
            (ODRL.permission, offer.actions),
            (ODRL.prohibition, offer.prohibitions),
        ):
            for action in actions:
                if action not in _vocab.ODRL_ACTIONS:
                    raise InvalidInput(
                        "ODRL 动作无效 / invalid ODRL action: expected one of "
                        f"{', '.join(sorted(_vocab.ODRL_ACTIONS))}, got another name"
                    )
                rule = self.blank()
                self.g.add((node, rule_kind, rule))
                self.g.add((rule, ODRL.action, ODRL[action]))
                if rule_kind == ODRL.permission and offer.purposes:
                    constraint = self.blank()
                    self.g.add((rule, ODRL.constraint, constraint))
                    self.g.add((constraint, ODRL.leftOperand, ODRL.purpose))
                    self.g.add((constraint, ODRL.operator, ODRL.isAnyOf))
                    self.add_all(constraint, ODRL.rightOperand, map(Literal, offer.purposes))
        return node

    def distribution(self, dist: Distribution, dataset: URIRef) -> URIRef:
        node = _iri(dist.uri, "distribution uri")
        fmt = _vocab.FORMATS.get(dist.format.upper())
        if fmt is None:
            raise InvalidInput(
                f"分发格式不支持 / unsupported distribution format: expected one of "
                f"{', '.join(sorted(_vocab.FORMATS))}, got another"
            )
        self.g.add((node, RDF.type, DCAT.Distribution))
        self.g.add((node, DCAT.accessURL, _iri(dist.access_url, "access URL")))
        file_type, media = _vocab.FILE_TYPE[fmt[0]], URIRef(_vocab.IANA + fmt[1])
        self.g.add((node, DCTERMS["format"], file_type))
        self.g.add((file_type, RDF.type, DCTERMS.MediaTypeOrExtent))
        self.g.add((node, DCAT.mediaType, media))
        self.g.add((media, RDF.type, DCTERMS.MediaType))
        if dist.title is not None:
            self.add_all(node, DCTERMS.title, dist.title.literals())
        if dist.byte_size is not None:
            self.g.add(
                (node, DCAT.byteSize, Literal(dist.byte_size, datatype=XSD.nonNegativeInteger))
            )
        if dist.policy is not None:
            self.g.add((node, ODRL.hasPolicy, self.offer(dist.policy, dataset)))
        return node

    def dataset(self, catalog: URIRef, ds: Dataset) -> URIRef:
        node = _iri(ds.uri, "dataset uri")
        self.g.add((node, RDF.type, DCAT.Dataset))
        self.g.add((node, DCTERMS.identifier, Literal(ds.identifier)))
        self.add_all(node, DCTERMS.title, ds.title.literals())
        self.add_all(node, DCTERMS.description, ds.description.literals())
        self.g.add((node, DCTERMS.publisher, self.agent(ds.publisher)))
        self.add_all(node, DCAT.keyword, (Literal(k, lang="zh") for k in ds.keywords))
        self.add_all(node, DCAT.theme, (self.theme(catalog, t) for t in ds.themes))
        rights = access_rights(ds.share_type, ds.open_type)
        self.g.add((node, DCTERMS.accessRights, rights))
        zh, en = _vocab.ACCESS_LABELS[rights.split("/")[-1]]
        self.concept(rights, DCTERMS.RightsStatement, Text(zh, en))
        if ds.frequency is not None:
            code = _vocab.FREQUENCIES.get(ds.frequency.lower())
            if code is None:
                raise InvalidInput(
                    "更新频率不支持 / unsupported update frequency: expected one of "
                    f"{', '.join(_vocab.FREQUENCIES)}, got another"
                )
            freq = _vocab.FREQUENCY[code]
            self.g.add((node, DCTERMS.accrualPeriodicity, freq))
            self.g.add((freq, RDF.type, DCTERMS.Frequency))
        for prop, when in ((DCTERMS.issued, ds.issued), (DCTERMS.modified, ds.modified)):
            if when is not None:
                self.g.add((node, prop, _when(when)))
        for dist in ds.distributions:
            self.g.add((node, DCAT.distribution, self.distribution(dist, node)))
        return node

    def catalog(self, cat: Catalog) -> Graph:
        node = _iri(cat.uri, "catalog uri")
        self.g.add((node, RDF.type, DCAT.Catalog))
        self.add_all(node, DCTERMS.title, cat.title.literals())
        self.add_all(node, DCTERMS.description, cat.description.literals())
        self.g.add((node, DCTERMS.publisher, self.agent(cat.publisher)))
        for lang in ("ZHO", "ENG"):
            self.g.add((node, DCTERMS.language, _vocab.LANGUAGE[lang]))
            self.g.add((_vocab.LANGUAGE[lang], RDF.type, DCTERMS.LinguisticSystem))
        if cat.homepage:
            page = _iri(cat.homepage, "homepage")
            self.g.add((node, FOAF.homepage, page))
            self.g.add((page, RDF.type, FOAF.Document))
        for prop, when in ((DCTERMS.issued, cat.issued), (DCTERMS.modified, cat.modified)):
            if when is not None:
                self.g.add((node, prop, _when(when)))
        for ds in cat.datasets:
            self.g.add((node, DCAT.dataset, self.dataset(node, ds)))
        self.taxonomies(node)
        return self.g

    def taxonomies(self, catalog: URIRef | None) -> None:
        """Type the theme schemes used so far, and name them the catalog's taxonomies."""
        for scheme, title in self.schemes.items():
            if catalog is not None:
                self.g.add((catalog, DCAT.themeTaxonomy, scheme))
            self.g.add((scheme, RDF.type, SKOS.ConceptScheme))
            self.add_all(scheme, DCTERMS.title, title.literals())

    def single(self, catalog_uri: str, ds: Dataset) -> Graph:
        """One dataset on its own (what its URI answers), its themes' schemes typed."""
        self.dataset(_iri(catalog_uri, "catalog uri"), ds)
        self.taxonomies(None)
        return self.g


def to_graph(catalog: Catalog) -> Graph:
    """The DCAT-AP 3.0.1 graph of ``catalog``."""
    return _Builder().catalog(catalog)


def dataset_graph(dataset: Dataset, *, catalog_uri: str) -> Graph:
    """The graph of one dataset of the catalog at ``catalog_uri`` (its themes are the catalog's)."""
    return _Builder().single(catalog_uri, dataset)


def dataset_jsonld(dataset: Dataset, *, catalog_uri: str) -> str:
    """One dataset as compacted JSON-LD, the answer of its URI to ``application/ld+json``."""
    return _compact(dataset_graph(dataset, catalog_uri=catalog_uri))


def to_turtle(catalog: Catalog) -> str:
    """The catalog as Turtle (``GET /api/v1/catalog.ttl``)."""
    return to_graph(catalog).serialize(format="turtle")


def to_jsonld(catalog: Catalog) -> str:
    """The catalog as compacted JSON-LD with the embedded context (``GET /api/v1/catalog.jsonld``)."""
    return _compact(to_graph(catalog))


def _compact(graph: Graph) -> str:
    text = graph.serialize(format="json-ld", context=JSONLD_CONTEXT, auto_compact=True)
    document = json.loads(text)
    # rdflib emits nodes in set order; sort them so the same catalog reads the same.
    document["@graph"] = sorted(document.get("@graph", []), key=lambda n: str(n.get("@id", "")))
    return json.dumps(document, ensure_ascii=False, indent=2)
