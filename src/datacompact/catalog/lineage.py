"""OpenLineage 2-0-2 run events for ingestion and derivation jobs.

An ingestion reads a file and writes a resource version; a derivation (e.g.
the standard form of :func:`datacompact.catalog.standard_sql.derive`) reads one
version and writes another. Each run emits ``START`` and then one of
``COMPLETE`` or ``FAIL`` (OpenLineage spec: "1 START event and 1 of
[COMPLETE, ABORT, FAIL] per run"), all with the same run id.

Events are plain dicts shaped as ``#/$defs/RunEvent`` of
https://openlineage.io/spec/2-0-2/OpenLineage.json, with these facets:

* job: ``jobType`` (JobTypeJobFacet 2-0-3: ``BATCH``, integration
  ``DATACOMPACT``, job type ``INGESTION`` or ``DERIVATION``);
* datasets: ``schema`` (SchemaDatasetFacet 1-1-1: column names, types and
  descriptions, never values);
* outputs: ``outputStatistics`` (OutputStatisticsOutputDatasetFacet 1-0-2);
* failed runs: ``errorMessage`` (ErrorMessageRunFacet 1-0-1) carrying the
  platform error's message, which by the rule of errors.py holds no data value.

Run ids are UUIDv7 (RFC 9562 §5.7), time-ordered as OpenLineage recommends.

>>> job = Job(namespace="datacompact", name="ingest.resource-1", kind=JobKind.INGESTION)
>>> out = LineageDataset(namespace="file", name="/home/resources/1/v1.parquet",
...                      fields=(Field("sex", "VARCHAR"),), rows=10)
>>> event = run_event(event_type=EventType.COMPLETE, run_id=new_run_id(), job=job, outputs=(out,))
>>> event["eventType"], event["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"]
('COMPLETE', 10)
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from datacompact import __version__
from datacompact.errors import InvalidInput

__all__ = [
    "DEFAULT_PRODUCER",
    "SCHEMA_URL",
    "EventType",
    "Field",
    "Job",
    "JobKind",
    "LineageDataset",
    "new_run_id",
    "run_event",
]

SPEC = "https://openlineage.io/spec"
SCHEMA_URL = f"{SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent"
DEFAULT_PRODUCER = f"urn:datacompact:{__version__}"
_FACETS = {
    "jobType": f"{SPEC}/facets/2-0-3/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "schema": f"{SPEC}/facets/1-1-1/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "outputStatistics": (
        f"{SPEC}/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json"
        "#/$defs/OutputStatisticsOutputDatasetFacet"
    ),
    "errorMessage": f"{SPEC}/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
}


class EventType(StrEnum):
    """The run transitions the platform emits."""

    START = "START"
    COMPLETE = "COMPLETE"
    FAIL = "FAIL"


class JobKind(StrEnum):
    """What the job does; the ``jobType`` of the JobTypeJobFacet."""

    INGESTION = "INGESTION"
    DERIVATION = "DERIVATION"


@dataclass(frozen=True)
class Field:
    """One column of a dataset's schema facet."""

    name: str
    type: str
    description: str | None = None


@dataclass(frozen=True)
class Job:
    """A job: its namespace (e.g. the platform instance) and its unique name there."""

    namespace: str
    name: str
    kind: JobKind


@dataclass(frozen=True)
class LineageDataset:
    """A dataset read or written: an uploaded file, a resource version's Parquet."""

    namespace: str
    name: str
    fields: tuple[Field, ...] = ()
    rows: int | None = None
    size: int | None = None


def new_run_id() -> uuid.UUID:
    """A UUIDv7 (RFC 9562 §5.7): 48-bit Unix milliseconds, version, variant, random bits."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return uuid.UUID(int=value)


def _facet(name: str, producer: str, **body: Any) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": _FACETS[name], **body}


def _dataset(ds: LineageDataset, producer: str, *, output: bool) -> dict[str, Any]:
    if not ds.namespace or not ds.name:
        raise InvalidInput("数据集缺少名称 / dataset without namespace or name: expected both")
    out: dict[str, Any] = {"namespace": ds.namespace, "name": ds.name}
    if ds.fields:
        fields = [
            {"name": f.name, "type": f.type}
            | ({"description": f.description} if f.description else {})
            for f in ds.fields
        ]
        out["facets"] = {"schema": _facet("schema", producer, fields=fields)}
    if output and (ds.rows is not None or ds.size is not None):
        stats: dict[str, Any] = {}
        if ds.rows is not None:
            stats["rowCount"] = ds.rows
        if ds.size is not None:
            stats["size"] = ds.size
        out["outputFacets"] = {"outputStatistics": _facet("outputStatistics", producer, **stats)}
    return out


def run_event(
    *,
    event_type: EventType,
    run_id: uuid.UUID,
    job: Job,
    inputs: Sequence[LineageDataset] = (),
    outputs: Sequence[LineageDataset] = (),
    event_time: datetime | None = None,
    producer: str = DEFAULT_PRODUCER,
    error: str | None = None,
) -> dict[str, Any]:
    """One OpenLineage RunEvent. ``error`` (the platform error's message) is for ``FAIL`` only."""
    event_type = EventType(event_type)
    when = event_time or datetime.now(UTC)
    if when.tzinfo is None:
        raise InvalidInput(
            "事件时间缺少时区 / event_time: expected a timezone-aware time, got naive"
        )
    if error is not None and event_type is not EventType.FAIL:
        raise InvalidInput("仅失败事件带错误信息 / error: expected only on FAIL events")
    run: dict[str, Any] = {"runId": str(run_id)}
    if event_type is EventType.FAIL:
        message = error or "failed / 失败"
        run["facets"] = {
            "errorMessage": _facet(
                "errorMessage", producer, message=message, programmingLanguage="python"
            )
        }
    return {
        "eventType": event_type.value,
        "eventTime": when.isoformat(),
        "producer": producer,
        "schemaURL": SCHEMA_URL,
        "run": run,
        "job": {
            "namespace": job.namespace,
            "name": job.name,
            "facets": {
                "jobType": _facet(
                    "jobType",
                    producer,
                    processingType="BATCH",
                    integration="DATACOMPACT",
                    jobType=job.kind.value,
                )
            },
        },
        "inputs": [_dataset(ds, producer, output=False) for ds in inputs],
        "outputs": [_dataset(ds, producer, output=True) for ds in outputs],
    }
