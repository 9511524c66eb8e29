"""Print the API's OpenAPI document as checked in at tests/api/openapi.json.

``make docs`` regenerates the file; ``tests/api/test_openapi_snapshot.py``
fails when the app's document differs from it by one byte, so a refactor
cannot change the API unnoticed: a deliberate change regenerates the file and
shows up in review as its diff.

The document is the one served at ``/api/v1/openapi.json``, with
``info.version`` left out (it changes with every release, the API need not).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from datacompact.api import create_app
from datacompact.config import Settings
from datacompact.platform import Platform


def document() -> dict[str, Any]:
    """The OpenAPI document of an app over an empty home; building it touches no store."""
    with tempfile.TemporaryDirectory() as home:
        platform = Platform(Settings(home=Path(home), database_url=None))
        openapi = create_app(platform).openapi()
    openapi["info"].pop("version", None)
    return openapi


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
