"""The Collection page: static HTML, CSS and one JavaScript module from `api/page/`, served at `/`.

Behind the same HTTP Basic credentials as the API: the browser asks once (realm
`mimecast-source`) and sends them again with the page's own calls to `/api/v1`. The files hold no
data; everything shown comes from the management API. A strict Content-Security-Policy allows
only these files: no inline script, no other origin (the page works offline).
"""

from __future__ import annotations

from pathlib import Path

import redis
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import FileResponse

from api.routes import progress
from api.security import authenticated
from core.store.counters import Counters
from core.store.streams import StreamStore

PAGE_DIR = Path(__file__).resolve().parent.parent / "page"
# name -> media type: the only files served, so no path ever reaches the file system from a request.
FILES = {
    "page.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(dependencies=[Depends(authenticated)], include_in_schema=False)


@router.get("/")
def collection_page() -> FileResponse:
    return FileResponse(PAGE_DIR / "index.html", media_type="text/html; charset=utf-8", headers=HEADERS)


def _asset(name: str) -> None:
    def serve() -> FileResponse:
        return FileResponse(PAGE_DIR / name, media_type=FILES[name], headers=HEADERS)

    router.add_api_route(f"/page/{name}", serve, methods=["GET"], name=f"page_{name.replace('.', '_')}")


for _name in FILES:
    _asset(_name)


def install(app: FastAPI, protected: APIRouter, client: redis.Redis) -> None:
    """Add the page (`/`, `/page/...`) to the app and the progress route to `protected` (`/api/v1`)."""
    app.state.progress = progress.ProgressStores(StreamStore(client), Counters(client))
    protected.include_router(progress.router)
    app.include_router(router)
