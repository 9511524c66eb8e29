"""The catalog as DCAT-AP 3.0.1 (Turtle or JSON-LD), built from the store.

Each dataset is the catalog entry of one resource the actor may read: every
resource for a member of the platform, the published ones for an anonymous
caller (``permissions``). Its URI, ``{public_base_url}/resources/{code}``,
resolves (``GET /resources/{code}``): JSON-LD by content negotiation, the
console's page for a browser. Bilingual text gets one literal per language.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from datacompact.catalog import dcat
from datacompact.catalog.resources import catalog_ref, readable_by_code
from datacompact.permissions import Actions, Principal, PublicListing, authorize, decide
from datacompact.store.models import Participant, Resource, ResourceVersion

CATALOG_PATH = "/catalog"


def _agent(base: str, holder: Participant) -> dcat.Agent:
    return dcat.Agent(
        uri=f"{base}/participants/{holder.id}",
        name=dcat.Text.bilingual(holder.name, holder.name_en),
        identifier=holder.uscc,
    )


def dataset_of(base: str, resource: Resource) -> dcat.Dataset:
    """The DCAT-AP dataset of a resource, with a usage offer on its latest distribution."""
    holder = _agent(base, resource.holder)
    latest = resource.versions[-1] if resource.versions else None
    offer = dcat.UsageOffer(
        uri=f"{base}/policies/offer/{resource.code}", assigner=holder, actions=("use",)
    )
    distributions = (
        (
            dcat.Distribution(
                uri=f"{base}/resources/{resource.code}/v{latest.number}",
                access_url=f"{base}/api/v1/resources/{resource.id}",
                format="PARQUET",
                byte_size=latest.bytes,
                policy=offer,
            ),
        )
        if latest
        else ()
    )
    return dcat.Dataset(
        uri=f"{base}/resources/{resource.code}",
        identifier=resource.code,
        title=dcat.Text.bilingual(resource.name, resource.name_en),
        description=dcat.Text.bilingual(resource.description or resource.name),
        publisher=holder,
        share_type=dcat.ShareType(resource.share_type),
        open_type=dcat.OpenType(resource.open_type),
        themes=tuple(dcat.Theme.named(t) for t in dict.fromkeys(resource.themes)),
        keywords=tuple(resource.tags),
        frequency=resource.update_frequency,
        issued=resource.created_at.date(),
        modified=resource.updated_at.date(),
        distributions=distributions,
    )


def build_catalog(*, session: Session, actor: Principal, base_url: str) -> dcat.Catalog:
    """Every resource ``actor`` may read as a DCAT-AP dataset, with a usage offer each."""
    authorize(actor=actor, action=Actions.RESOURCE_READ, resource=PublicListing())
    base = base_url.rstrip("/")
    # Every dataset reads its holder and its latest version's number and size: one query
    # each for all of them, not one per resource (1,000 resources were 1,000 lazy loads).
    rows = (
        select(Resource)
        .options(
            selectinload(Resource.holder),
            selectinload(Resource.versions).load_only(
                ResourceVersion.number, ResourceVersion.bytes, ResourceVersion.resource_id
            ),
        )
        .order_by(Resource.id)
    )
    datasets = tuple(
        dataset_of(base, resource)
        for resource in session.scalars(rows)
        if decide(actor=actor, action=Actions.RESOURCE_READ, resource=catalog_ref(resource)).allowed
    )
    # The catalog is the platform's; each dataset names its holder as publisher.
    operator = dcat.Agent(
        uri=f"{base}/platform", name=dcat.Text("DataCompact 数据协作平台", "DataCompact platform")
    )
    return dcat.Catalog(
        uri=base + CATALOG_PATH,
        title=dcat.Text("公共数据资源目录", "Public data resource catalog"),
        description=dcat.Text(
            "平台登记的数据资源", "Data resources registered on the DataCompact platform"
        ),
        publisher=operator,
        datasets=datasets,
    )


def export_catalog(*, session: Session, actor: Principal, base_url: str, fmt: str) -> str:
    catalog = build_catalog(session=session, actor=actor, base_url=base_url)
    return dcat.to_turtle(catalog) if fmt == "turtle" else dcat.to_jsonld(catalog)


def export_dataset(
    *, session: Session, actor: Principal, base_url: str, code: str, fmt: str = "jsonld"
) -> str:
    """The dataset registered as ``code`` in JSON-LD or Turtle: what its URI answers.

    A resource the actor may not read is not found, exactly as a code no
    resource has.
    """
    resource = readable_by_code(session, actor, code)
    base = base_url.rstrip("/")
    dataset = dataset_of(base, resource)
    if fmt == "turtle":
        graph = dcat.dataset_graph(dataset, catalog_uri=base + CATALOG_PATH)
        return graph.serialize(format="turtle")
    return dcat.dataset_jsonld(dataset, catalog_uri=base + CATALOG_PATH)
