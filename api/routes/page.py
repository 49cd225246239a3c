"""The Collection page: static HTML, CSS and one JavaScript module from `api/page/`, served at `/`.

Behind the same HTTP Basic credentials as the API: the browser asks once (realm
`mimecast-source`) and sends them again with the page's own calls to `/api/v1`. The files hold no
data; everything shown comes from the management API. A strict Content-Security-Policy allows
only these files: no inline script, no other origin (the page works offline).

A browser that holds Basic credentials sends them to this origin whatever site asks, so changes
that a browser sends on another site's behalf are refused (`CrossSiteGuard`). Scripts and SDKs
send neither `Sec-Fetch-Site` nor `Origin` and are not affected.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

import redis
from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import FileResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import error_body
from api.routes import progress
from api.security import authenticated
from core.store.coordination import Coordination
from core.store.counters import Counters
from core.store.streaks import Streaks

PAGE_DIR = Path(__file__).resolve().parent.parent / "page"
# name -> media type: the only files served, so no path ever reaches the file system from a request.
FILES = {
    "page.js": "text/javascript; charset=utf-8",
    "destinations.js": "text/javascript; charset=utf-8",
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


_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def cross_site(method: str, headers: dict[str, str]) -> bool:
    """A change a browser sends for another site: by `Sec-Fetch-Site`, else by `Origin` vs `Host`."""
    if method in _SAFE:
        return False
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None:
        return fetch_site not in ("same-origin", "none")
    origin = headers.get("origin")
    if origin is None:
        return False
    return origin == "null" or urlsplit(origin).netloc.lower() != headers.get("host", "").lower()


class CrossSiteGuard:
    """403 for a cross-site change (CSRF): the browser would attach its cached Basic credentials."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {
                name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
            }
            if cross_site(scope["method"], headers):
                raw = json.dumps(
                    error_body(403, "request.cross_site", "a change sent from another site is refused")
                ).encode()
                await send(
                    {
                        "type": "http.response.start",
                        "status": 403,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(raw)).encode()),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": raw})
                return
        await self.app(scope, receive, send)


def install(app: FastAPI, protected: APIRouter, client: redis.Redis) -> None:
    """Add the page (`/`, `/page/...`) to the app, the progress route to `protected` (`/api/v1`),
    and the guard against cross-site changes."""
    app.state.progress = progress.ProgressStores(Coordination(client), Counters(client), Streaks(client))
    protected.include_router(progress.router)
    app.include_router(router)
    app.add_middleware(CrossSiteGuard)
