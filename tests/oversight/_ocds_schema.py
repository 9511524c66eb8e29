"""The official OCDS 1.1.5 schemas with the lots extension merged in, for tests only.

The product never reads these official files; these helpers do (from ``tests/fixtures``), to check its output:

* :func:`merge_patch` applies an extension's ``release-schema.json`` the way
  OCDS extensions are defined, as a JSON Merge Patch (RFC 7386).
* :func:`package_validator` validates a release package against
  ``release-package-schema.json``. Its ``releases`` items point at the release
  schema by URL; that URL is mapped to the merged schema in a ``referencing``
  registry with no retriever, so nothing is ever fetched.
* :func:`codelist_errors` checks every field whose schema names a codelist
  against the CSV codelists, including deprecated codes, which the schema's
  open codelists do not catch.
"""

from __future__ import annotations

import copy
import csv
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

OCDS = Path(__file__).resolve().parents[1] / "fixtures" / "standards" / "ocds-1.1.5"
LOTS = OCDS / "lots-extension"
RELEASE_SCHEMA_URL = "https://standard.open-contracting.org/schema/1__1__5/release-schema.json"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 §2 MergePatch: objects merge key by key, ``null`` deletes, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def release_schema() -> dict[str, Any]:
    """release-schema.json of OCDS 1.1.5 with the lots extension's patch applied."""
    merged: dict[str, Any] = merge_patch(
        _load(OCDS / "release-schema.json"), _load(LOTS / "release-schema.json")
    )
    return merged


def release_validator() -> Draft4Validator:
    return Draft4Validator(release_schema(), format_checker=Draft4Validator.FORMAT_CHECKER)


def package_validator() -> Draft4Validator:
    resource = Resource.from_contents(release_schema(), default_specification=DRAFT4)
    registry: Registry[Any] = Registry().with_resource(RELEASE_SCHEMA_URL, resource)
    return Draft4Validator(
        _load(OCDS / "release-package-schema.json"),
        registry=registry,
        format_checker=Draft4Validator.FORMAT_CHECKER,
    )


def _read_codes(path: Path) -> dict[str, bool]:
    """Code → deprecated, from one codelist CSV."""
    with path.open(encoding="utf-8", newline="") as handle:
        return {row["Code"]: bool(row.get("Deprecated")) for row in csv.DictReader(handle)}


@cache
def codelists() -> dict[str, dict[str, bool]]:
    """Core codelists, patched by the extension's: ``+name.csv`` adds, ``-name.csv`` removes."""
    lists = {path.name: _read_codes(path) for path in (OCDS / "codelists").glob("*.csv")}
    for path in sorted((LOTS / "codelists").glob("*.csv")):
        name = path.name.lstrip("+-")
        if path.name.startswith("+"):
            lists[name] = {**lists[name], **_read_codes(path)}
        elif path.name.startswith("-"):
            lists[name] = {c: d for c, d in lists[name].items() if c not in _read_codes(path)}
        else:
            lists[name] = _read_codes(path)
    return lists


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/definitions/"), f"unexpected reference {ref}"
        node = release_schema()["definitions"][ref.removeprefix("#/definitions/")]
    return node


def codelist_errors(release: Any, schema: dict[str, Any] | None = None, at: str = "") -> list[str]:
    """Every value of a codelist field that is not a current code of its codelist."""
    node = _resolve(schema if schema is not None else release_schema())
    errors: list[str] = []
    if "codelist" in node and release is not None:
        codes = codelists()[node["codelist"]]
        for value in release if isinstance(release, list) else [release]:
            if value not in codes:
                errors.append(f"{at}: {value!r} is not in {node['codelist']}")
            elif codes[value]:
                errors.append(f"{at}: {value!r} is deprecated in {node['codelist']}")
        return errors
    if isinstance(release, dict):
        for key, value in release.items():
            if key in node.get("properties", {}):
                errors += codelist_errors(value, node["properties"][key], f"{at}/{key}")
    elif isinstance(release, list) and isinstance(node.get("items"), dict):
        for index, value in enumerate(release):
            errors += codelist_errors(value, node["items"], f"{at}/{index}")
    return errors


def problems(package: dict[str, Any]) -> list[str]:
    """Schema errors (with formats) and codelist errors of a release package, as text."""
    found = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in package_validator().iter_errors(package)
    ]
    for index, release in enumerate(package.get("releases", [])):
        found += codelist_errors(release, at=f"releases/{index}")
    return found
