"""The ceiling for the HTTP benchmarks: a bare FastAPI app answering a constant body.

Served with the same uvicorn settings as the twin. The body is read once from the file named
by MNS_CEILING_BODY (an object of the same size as the twin's answer); GET returns it and
PATCH answers 204 without doing anything, so it measures the framework and the server alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request
from starlette.responses import Response

BODY = Path(os.environ["MNS_CEILING_BODY"]).read_bytes() if "MNS_CEILING_BODY" in os.environ else b"{}"

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)


@app.get("/ProvMnS/v1800/{dn_path:path}")
async def get_constant(request: Request, dn_path: str) -> Response:
    """The constant object."""
    return Response(BODY, media_type="application/json", headers={"ETag": '"1"', "X-Twin-Revision": "1"})


@app.patch("/ProvMnS/v1800/{dn_path:path}")
async def patch_nothing(request: Request, dn_path: str) -> Response:
    """Read the body, change nothing."""
    await request.body()
    return Response(status_code=204, headers={"X-Twin-Revision": "1"})
