"""OpenLineage run events validate against the official 2-0-2 schema (RunEvent)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jsonschema  # type: ignore[import-untyped, unused-ignore]
import pytest
from referencing import Registry, Resource

from datacompact.catalog.lineage import (
    SCHEMA_URL,
    EventType,
    Field,
    Job,
    JobKind,
    LineageDataset,
    new_run_id,
    run_event,
)
from datacompact.errors import InvalidInput
from tests.catalog._fixtures import STANDARDS

SCHEMA = STANDARDS / "openlineage-2.0.2" / "OpenLineage.json"
WHEN = datetime(2024, 6, 1, 8, 30, tzinfo=UTC)
JOB = Job(namespace="datacompact://city", name="ingest.resource-7", kind=JobKind.INGESTION)
UPLOAD = LineageDataset(namespace="file", name="/uploads/社保缴费.csv")
VERSION = LineageDataset(
    namespace="datacompact://city",
    name="resources/7/versions/1",
    fields=(Field("sfzh", "VARCHAR", "居民身份证号"), Field("amount", "DECIMAL(12,2)")),
    rows=100_000,
    size=4_200_000,
)


@cache
def _validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(
        schema["$id"], Resource.from_contents(schema)
    )
    return jsonschema.Draft202012Validator(
        {"$ref": SCHEMA_URL},
        registry=registry,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def test_schema_url_points_at_run_event() -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["$id"] + "#/$defs/RunEvent" == SCHEMA_URL


def test_ingestion_run_start_and_complete() -> None:
    run_id = new_run_id()
    start = run_event(
        event_type=EventType.START, run_id=run_id, job=JOB, inputs=(UPLOAD,), event_time=WHEN
    )
    done = run_event(
        event_type=EventType.COMPLETE, run_id=run_id, job=JOB, inputs=(UPLOAD,), outputs=(VERSION,)
    )
    for event in (start, done):
        _validator().validate(event)
        assert event["run"]["runId"] == str(run_id)
        assert event["job"]["facets"]["jobType"]["jobType"] == "INGESTION"
    assert start["eventTime"] == "2024-06-01T08:30:00+00:00"
    (output,) = done["outputs"]
    assert output["facets"]["schema"]["fields"][0] == {
        "name": "sfzh",
        "type": "VARCHAR",
        "description": "居民身份证号",
    }
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 100_000
    assert "outputFacets" not in done["inputs"][0]


def test_derivation_failure() -> None:
    job = Job(
        namespace="datacompact://city", name="derive.resource-7.gbt2261", kind=JobKind.DERIVATION
    )
    event = run_event(
        event_type=EventType.FAIL,
        run_id=new_run_id(),
        job=job,
        inputs=(VERSION,),
        error="无法生成标准化版本 / cannot derive the standard form",
    )
    _validator().validate(event)
    facet = event["run"]["facets"]["errorMessage"]
    assert facet["message"].startswith("无法生成")
    assert facet["programmingLanguage"] == "python"


def test_broken_event_fails_schema() -> None:
    event = run_event(event_type=EventType.START, run_id=new_run_id(), job=JOB)
    del event["producer"]
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(event)
    event = run_event(event_type=EventType.START, run_id=new_run_id(), job=JOB)
    event["eventType"] = "FINISHED"
    with pytest.raises(jsonschema.ValidationError):
        _validator().validate(event)


def test_run_ids_are_uuid7_and_ordered() -> None:
    ids = [new_run_id() for _ in range(50)]
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert len(set(ids)) == 50
    stamps = [i.int >> 80 for i in ids]
    assert stamps == sorted(stamps)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"event_time": datetime(2024, 1, 1)}, "timezone-aware"),
        ({"error": "boom"}, "only on FAIL"),
        ({"inputs": (LineageDataset(namespace="", name="x"),)}, "namespace or name"),
    ],
)
def test_invalid_events(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        run_event(event_type=EventType.COMPLETE, run_id=new_run_id(), job=JOB, **kwargs)
