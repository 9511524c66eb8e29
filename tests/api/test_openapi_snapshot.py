"""The OpenAPI document is the checked-in tests/api/openapi.json, byte for byte.

A refactor must not change the API by accident. A deliberate change
regenerates the file (``make docs``, or ``python scripts/openapi_reference.py >
tests/api/openapi.json``) and the diff shows the change in review.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = Path(__file__).with_name("openapi.json")


def _reference() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "openapi_reference", ROOT / "scripts" / "openapi_reference.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["openapi_reference"] = module
    spec.loader.exec_module(module)
    return module


def test_openapi_document_is_unchanged() -> None:
    rendered: str = _reference().render()
    assert SNAPSHOT.read_text(encoding="utf-8") == rendered, (
        "the API's OpenAPI document changed: if deliberate, run "
        "`python scripts/openapi_reference.py > tests/api/openapi.json` (or `make docs`)"
    )


def test_snapshot_documents_what_the_boundary_promises() -> None:
    import json

    document = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    paths = document["paths"]
    media = {
        "/ledger/key": "text/plain",
        "/ledger/checkpoint": "text/plain",
        "/ledger/tile/{path}": "application/octet-stream",
        "/api/v1/catalog.ttl": "text/turtle",
        "/api/v1/catalog.jsonld": "application/ld+json",
        "/public/deliverables/{contract_id}/{sha256}": "application/octet-stream",
    }
    for path, media_type in media.items():
        responses = paths[path]["get"]["responses"]
        assert list(responses["200"]["content"]) == [media_type], path
        assert list(responses["404"]["content"]) == ["application/json"], path
    # A dataset URI answers JSON-LD or Turtle, or sends a browser to the resource's page.
    dataset = paths["/resources/{code}"]["get"]["responses"]
    assert list(dataset["200"]["content"]) == ["application/ld+json", "text/turtle"]
    assert {"303", "404", "406"} <= set(dataset)
    # The published reads take a token but do not need one; the others need one.
    optional: list[dict[str, list[str]]] = [{"HTTPBearer": []}, {}]
    for path in ("/resources/{code}", "/api/v1/resources", "/api/v1/catalog.ttl"):
        assert paths[path]["get"]["security"] == optional, path
    assert paths["/api/v1/grants"]["get"]["security"] == [{"HTTPBearer": []}]
    envelope = {"$ref": "#/components/schemas/ErrorEnvelope"}
    for path, operations in paths.items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == envelope, (method, path, status)
            if path.startswith("/api/v1/") and path != "/api/v1/openapi.json":
                assert {"400", "401", "403", "422", "429"} <= set(operation["responses"])
    assert "HTTPValidationError" not in document["components"]["schemas"]
    today = next(p for p in paths["/api/v1/alerts"]["get"]["parameters"] if p["name"] == "today")
    assert {"type": "string", "format": "date"} in today["schema"]["anyOf"]
