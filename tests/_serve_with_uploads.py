"""``datacompact serve``, with a stand-in for the upload route when the API has none.

Run as ``python tests/_serve_with_uploads.py serve --port N``. The stand-in
keeps the route's contract (multipart/form-data, one field ``file``, stored in
the calling participant's inbox, ``201 {"name", "size", "sha256"}``, a 409 for
a name already there); when the
API serves ``POST /api/v1/uploads`` itself, that route answers and the
stand-in is never added.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import datacompact.api
from datacompact.catalog.inbox import inbox_folder
from datacompact.platform import Platform
from datacompact.registry.tokens import authenticate

UPLOADS = "/api/v1/uploads"
_create_app = datacompact.api.create_app


def _with_uploads(platform: Platform) -> FastAPI:
    app = _create_app(platform)
    if UPLOADS in app.openapi()["paths"]:  # routers may be nested: ask the document
        return app

    async def upload(request: Request) -> Any:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        with platform.db.read() as session:
            actor = authenticate(
                session=session, token=token, governance=platform.settings.governance_mode
            )
        form = await request.form()
        sent = form["file"]
        assert not isinstance(sent, str)
        data = await sent.read()
        folder = inbox_folder(platform.settings.home, actor.participant_id or 0)
        folder.mkdir(parents=True, exist_ok=True)
        name = Path(sent.filename or "upload").name
        if (folder / name).exists():
            message = "收件箱中已有同名文件 / a file of that name is already in your inbox"
            refused = {"error": {"code": "conflict", "message": message, "details": {}}}
            return JSONResponse(refused, status_code=409)
        (folder / name).write_bytes(data)
        body = {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        return JSONResponse(body, status_code=201)

    app.add_api_route(UPLOADS, upload, methods=["POST"])
    # Before the API's catch-all routes, if any.
    app.router.routes.insert(0, app.router.routes.pop())
    return app


datacompact.api.create_app = _with_uploads

if __name__ == "__main__":
    from datacompact.cli import main

    main()
