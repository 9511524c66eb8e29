"""The catalog as DCAT-AP 3.0.1 (Turtle or JSON-LD), built from the store."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.catalog import dcat
from datacompact.permissions import Actions, CatalogResource, Principal, authorize
from datacompact.store.models import Participant, Resource


def _agent(base: str, holder: Participant) -> dcat.Agent:
    return dcat.Agent(
        uri=f"{base}/participants/{holder.id}",
        name=dcat.Text(holder.name, holder.name_en),
        identifier=holder.uscc,
    )


def build_catalog(*, session: Session, actor: Principal, base_url: str) -> dcat.Catalog:
    """Every registered resource as a DCAT-AP dataset, with a usage offer per distribution."""
    authorize(actor=actor, action=Actions.RESOURCE_READ, resource=CatalogResource())
    base = base_url.rstrip("/")
    datasets = []
    for resource in session.scalars(select(Resource).order_by(Resource.id)):
        holder = _agent(base, resource.holder)
        latest = resource.versions[-1] if resource.versions else None
        offer = dcat.UsageOffer(
            uri=f"{base}/policies/offer/{resource.code}",
            assigner=holder,
            actions=("use",),
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
        datasets.append(
            dcat.Dataset(
                uri=f"{base}/resources/{resource.code}",
                identifier=resource.code,
                title=dcat.Text(resource.name, resource.name_en),
                description=dcat.Text(resource.description or resource.name),
                publisher=holder,
                share_type=dcat.ShareType(resource.share_type),
                open_type=dcat.OpenType(resource.open_type),
                keywords=tuple(resource.tags),
                frequency=resource.update_frequency,
                issued=resource.created_at.date(),
                modified=resource.updated_at.date(),
                distributions=distributions,
            )
        )
    # The catalog is the platform's; each dataset names its holder as publisher.
    operator = dcat.Agent(
        uri=f"{base}/platform", name=dcat.Text("DataCompact 数据协作平台", "DataCompact platform")
    )
    return dcat.Catalog(
        uri=f"{base}/catalog",
        title=dcat.Text("公共数据资源目录", "Public data resource catalog"),
        description=dcat.Text(
            "平台登记的数据资源 / data resources registered on the platform",
            "Data resources registered on the DataCompact platform",
        ),
        publisher=operator,
        datasets=tuple(datasets),
    )


def export_catalog(*, session: Session, actor: Principal, base_url: str, fmt: str) -> str:
    catalog = build_catalog(session=session, actor=actor, base_url=base_url)
    return dcat.to_turtle(catalog) if fmt == "turtle" else dcat.to_jsonld(catalog)
