"""``flowvault ui``: the review pages served by Starlette/uvicorn on 127.0.0.1, read-only.

Only archives found at start are served, by their folder name; a request names an archive,
a flow ID and revisions, never a path. Errors a user can cause (an unknown flow or
revision) are a 404 page with one line; an archive that cannot be read (damaged) a 500 page
with one line; neither shows a path of this machine."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ..errors import FlowvaultError, UsageError
from . import pages

_SAFE = re.compile(r"^[A-Za-z0-9._~^: -]{1,80}$")  # revisions (SHA, HEAD~2, 2026-11-20, 3 days ago) and IDs


def create_app(root: Path, report: Path | None = None, config: Path = Path("flowvault.toml")) -> Starlette:
    archives = pages.find_archives(root)

    def page(build: Callable[[Request], str]) -> Callable[[Request], Any]:
        def endpoint(request: Request) -> Response:  # plain: Starlette runs it in a thread (git reads block)
            try:
                return HTMLResponse(build(request))
            except FlowvaultError as e:
                # what the user asked for is not there (404), or the archive cannot be read (500);
                # either way one line, and the folders of this machine named by archive, not by path
                message = str(e)
                for name, path in archives.items():
                    message = message.replace(str(path.resolve()), name).replace(str(path), name)
                status = 404 if isinstance(e, UsageError) else 500
                return HTMLResponse(pages.render("error.html", title="not found" if status == 404 else "error",
                                                 archive=None, base="", message=message), status_code=status)
        return endpoint

    def archive(request: Request) -> tuple[str, Path]:
        name = request.path_params["archive"]
        if name not in archives:
            raise UsageError(f"no archive named '{name}' here")
        return name, archives[name]

    def param(request: Request, key: str) -> str | None:
        value = request.query_params.get(key) or request.path_params.get(key)
        if value is not None and not _SAFE.match(value):
            raise UsageError(f"'{key}' is not a revision or ID")
        return value

    def overview(request: Request) -> str:
        query = {k: request.query_params.get(k, "") for k in ("q", "sort", "only", "page", "label")}
        return pages.overview(archives, report=pages.read_report(report) if report else None, query=query)

    def flow(request: Request) -> str:
        name, path = archive(request)
        return pages.flow_page(name, path, str(param(request, "fid")), param(request, "rev"))

    def versions(request: Request) -> str:
        name, path = archive(request)
        return pages.version_diff_page(name, path, str(param(request, "fid")), param(request, "rev"),
                                       str(param(request, "old")), str(param(request, "new")))

    def diff(request: Request) -> str:
        name, path = archive(request)
        new = param(request, "to") or pages.last_export(path) or "HEAD"
        old = param(request, "from")
        if old is None:
            old = pages.parent_of(path, new)
        return pages.diff_page(name, path, old, new, only=param(request, "flow"))

    def commit(request: Request) -> str:
        name, path = archive(request)
        sha = str(param(request, "sha"))
        return pages.diff_page(name, path, pages.parent_of(path, sha), sha, only=param(request, "flow"))

    def deleted(request: Request) -> str:
        name, path = archive(request)
        return pages.deleted_page(name, path, config=config)

    return Starlette(routes=[
        Route("/", page(overview)),
        Route("/a/{archive}/flow/{fid}", page(flow)),
        Route("/a/{archive}/flow/{fid}/versions/{old}..{new}", page(versions)),
        Route("/a/{archive}/diff", page(diff)),
        Route("/a/{archive}/commit/{sha}", page(commit)),
        Route("/a/{archive}/deleted", page(deleted)),
    ])


def serve(root: Path, host: str, port: int, echo: Callable[[str], None], report: Path | None = None,
          config: Path = Path("flowvault.toml")) -> None:
    """Bind first (a taken port is an OSError the CLI reports in one line), print the URL, serve."""
    import socket

    import uvicorn

    app = create_app(root, report, config)
    if report is not None:
        pages.read_report(report)  # a bad report is a one-line error now, not a broken page later
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {e.strerror or e} (another program there? choose "
                         "--port, or --port 0 for any free one)") from None
    shown_host = f"[{host}]" if ":" in host else host
    sock.listen(128)  # before the URL is printed: whoever reads it can connect at once
    echo(f"flowvault ui: http://{shown_host}:{sock.getsockname()[1]}/  (read-only; Ctrl-C to stop)")
    # a read-only server: on Ctrl-C or SIGTERM it stops within a second even if a browser
    # holds a keep-alive connection open
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                           timeout_graceful_shutdown=1))
    server.run(sockets=[sock])
