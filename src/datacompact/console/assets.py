"""The console's static files, served from the package under content-hashed URLs.

``/static/<hash>/<name>``: the hash is the first 16 hex digits of the file's
SHA-256, so a URL names one exact content and is served as immutable for a
year; a new release changes the URL of every file that changed. Only files
present when the app starts are served, by exact name (no path walking).
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/static"
IMMUTABLE = "public, max-age=31536000, immutable"
#: Served types; anything else in the folder (licences, records) is served as plain text.
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",
}

__all__ = ["PREFIX", "STATIC_DIR", "Assets"]


@dataclass(frozen=True)
class _File:
    digest: str
    body: bytes
    media_type: str


class Assets:
    """Every static file, read once, with its hashed URL."""

    def __init__(self, folder: Path = STATIC_DIR) -> None:
        self._files: dict[str, _File] = {}
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            name = path.relative_to(folder).as_posix()
            body = path.read_bytes()
            media = _TYPES.get(path.suffix) or mimetypes.guess_type(name)[0] or "text/plain"
            if media.startswith("text/") and "charset" not in media:
                media += "; charset=utf-8"
            self._files[name] = _File(hashlib.sha256(body).hexdigest()[:16], body, media)

    def url(self, name: str) -> str:
        """The URL of a static file (a missing name is a programming error)."""
        return f"{PREFIX}/{self._files[name].digest}/{name}"

    def names(self) -> list[str]:
        return sorted(self._files)

    def serve(self, request: Request) -> Response:
        digest = str(request.path_params["digest"])
        name = str(request.path_params["name"])
        found = self._files.get(name)
        if found is None or found.digest != digest:
            return Response("not found\n", status_code=404, media_type="text/plain")
        return Response(
            found.body,
            media_type=found.media_type,
            headers={"Cache-Control": IMMUTABLE, "ETag": f'"{found.digest}"'},
        )
