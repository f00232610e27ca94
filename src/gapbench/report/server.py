"""`gapbench serve`: the report's views as a local, read-only web app (Starlette on uvicorn).

Every request opens the database read-only (SQLite's mode=ro: the server cannot write it) and
sees what runs have committed so far; the page polls /api/version and redraws when it changes.
The summary (leaderboard, verdicts, gap) is computed once per change of the database, not per
request, and the first one before the server answers; a slow one is recomputed in the background
while requests get the previous one (`SYNCHRONOUS_LIMIT_S`).

Requests whose Host is not the address served are refused (a DNS-rebinding page cannot
read the results), and pages carry a Content-Security-Policy that allows only the server's own
scripts.

API (JSON): /api/version, /api/view, /api/leaderboard, /api/compare[?a=&b=], /api/gap,
/api/runs, /api/samples?model=&task=&outcome=&offset=&limit=,
/api/disagreements?a=&b=&task=&offset=&limit=.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import TYPE_CHECKING, Any

from gapbench.report.views import ReportOptions

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

MAX_PAGE = 500
"""The most samples one /api/samples request returns."""

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'none'"
)


SYNCHRONOUS_LIMIT_S = 1.0
"""A summary that took less than this to compute is recomputed inside the request that finds the
database changed (the answer is then always current); a slower one (about 100,000 samples and up)
is recomputed in the background while requests get the previous summary, so no request waits for
it: the page shows the new numbers on its next poll after the computation ends."""


class _Cache:
    """The summary view of the database (leaderboard, verdicts, gap), computed once per change of
    the database, one computation at a time; `warm` computes the first one before the server
    takes requests."""

    def __init__(self, opts: ReportOptions) -> None:
        self.opts = opts
        self.state = threading.Lock()  # guards the fields below
        self.computing = threading.Lock()  # one computation at a time
        self.key: tuple[Any, ...] | None = None
        self.view: dict[str, Any] | None = None
        self.seconds = 0.0
        """How long the last computation took."""
        self.refreshing = False

    def warm(self) -> None:
        from gapbench.errors import GapbenchError

        # No results yet: the first request says so, and a later one shows them.
        with contextlib.suppress(GapbenchError):
            self._compute()

    def _compute(self) -> None:
        import time

        from gapbench.report.queries import fingerprint
        from gapbench.report.views import open_results, summary_view

        with self.computing, open_results(self.opts.db_path, reap=False) as conn:
            key = fingerprint(conn)
            if key == self.key and self.view is not None:
                return  # another request computed it while this one waited
            start = time.perf_counter()
            view = summary_view(conn, self.opts)
            with self.state:
                self.key, self.view = key, view
                self.seconds = time.perf_counter() - start

    def _refresh(self) -> None:
        try:
            self._compute()
        except Exception:  # surfaced by the next request, which computes it itself
            with self.state:
                self.seconds = 0.0
        finally:
            with self.state:
                self.refreshing = False

    def get(self) -> tuple[tuple[Any, ...], dict[str, Any], bool]:
        """(fingerprint, view, whether a newer view is being computed)."""
        from gapbench.report.queries import fingerprint
        from gapbench.report.views import open_results

        with open_results(self.opts.db_path, reap=False) as conn:
            current = fingerprint(conn)
        with self.state:
            if self.view is not None and self.key == current:
                return self.key, self.view, self.refreshing
            in_background = self.view is not None and self.seconds >= SYNCHRONOUS_LIMIT_S
            if in_background:
                if not self.refreshing:
                    self.refreshing = True
                    threading.Thread(target=self._refresh, daemon=True).start()
                assert self.key is not None and self.view is not None
                return self.key, self.view, True
        self._compute()
        with self.state:
            assert self.key is not None and self.view is not None
            return self.key, self.view, self.refreshing


def _int(request: Request, name: str, default: int, high: int) -> int:
    from gapbench.errors import UsageError

    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise UsageError(f"{name} must be a whole number, not {raw!r}.") from None
    if not 0 <= value <= high:
        raise UsageError(f"{name} must be between 0 and {high}.")
    return value


def _page_html() -> str:
    from gapbench.report.html import page, safe_json

    scripts = '<script src="static/plotly.min.js"></script>\n<script src="static/app.js"></script>'
    return page(
        title="gapbench (live)",
        data=safe_json({"mode": "api", "poll_ms": 3000}),
        scripts=scripts,
        csp=None,
        style='<link rel="stylesheet" href="static/app.css">',
    )


def create_app(opts: ReportOptions, host: str, *, warm: bool = True) -> Starlette:
    """The web app over `opts`' database; with `warm`, the summary is computed here, before it
    takes a request (at 1,000,000 samples about 14 s, which no request then waits for)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    from gapbench.errors import GapbenchError
    from gapbench.report.html import asset, plotly_js

    cache = _Cache(opts)
    if warm:
        cache.warm()
    static = {
        "plotly.min.js": (plotly_js(), "text/javascript"),
        "app.js": (asset("app.js"), "text/javascript"),
        "app.css": (asset("app.css"), "text/css"),
    }
    page = _page_html()

    def secured(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Cache-Control"] = "no-store"
        return response

    def ok(payload: object) -> Response:
        return secured(JSONResponse(payload))

    async def run(func: Any, *args: Any) -> Response:
        from starlette.concurrency import run_in_threadpool

        try:
            return ok(await run_in_threadpool(func, *args))
        except GapbenchError as exc:
            status = 400 if exc.exit_code == 2 else 503
            return secured(JSONResponse({"error": str(exc)}, status_code=status))

    async def index(request: Request) -> Response:
        return secured(HTMLResponse(page))

    async def static_file(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in static:
            return secured(Response("not found", status_code=404))
        text, media = static[name]
        return secured(Response(text, media_type=media))

    def version() -> dict[str, Any]:
        # The fingerprint of the view /api/view answers now (which may trail the database while
        # a newer one is computed: "updating").
        key, _, updating = cache.get()
        return {"fingerprint": "-".join(str(v) for v in key), "updating": updating}

    def view_part(part: str | None) -> Any:
        view = cache.get()[1]
        return view if part is None else view[part]

    def compare(a: str | None, b: str | None) -> Any:
        if a is None and b is None:
            return view_part("pairs")
        return _compare_one(opts, a, b)

    def samples(request: Request) -> dict[str, Any]:
        from gapbench.report.queries import OUTCOMES, SampleQuery, samples_page
        from gapbench.report.views import open_results, selection

        outcome = request.query_params.get("outcome", "all")
        if outcome not in OUTCOMES:
            raise _usage(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}.")
        q = SampleQuery(
            model=request.query_params.get("model") or None,
            task=request.query_params.get("task") or None,
            outcome=outcome,
            offset=_int(request, "offset", 0, 10**12),
            limit=_int(request, "limit", 50, MAX_PAGE),
        )
        with open_results(opts.db_path, reap=False) as conn:
            total, rows = samples_page(conn, selection(conn, opts), q)
        return {"total": total, "offset": q.offset, "limit": q.limit, "rows": rows}

    def disagreements(request: Request) -> dict[str, Any]:
        from gapbench.report.queries import disagreements_page
        from gapbench.report.views import open_results, selection

        a, b = request.query_params.get("a"), request.query_params.get("b")
        if not a or not b or a == b:
            raise _usage("Pass two different models as ?a=MODEL_A&b=MODEL_B.")
        offset = _int(request, "offset", 0, 10**12)
        limit = _int(request, "limit", 50, MAX_PAGE)
        task = request.query_params.get("task") or None
        with open_results(opts.db_path, reap=False) as conn:
            sel = selection(conn, ReportOptions(opts.db_path, opts.tasks, (a, b)))
            total, rows = disagreements_page(conn, sel, a, b, task, offset, limit)
        return {"total": total, "offset": offset, "limit": limit, "rows": rows}

    async def api(request: Request) -> Response:
        name = request.path_params["name"]
        q = request.query_params
        handlers: dict[str, tuple[Any, tuple[Any, ...]]] = {
            "version": (version, ()),
            "view": (view_part, (None,)),
            "leaderboard": (view_part, ("leaderboard",)),
            "gap": (view_part, ("gap",)),
            "runs": (view_part, ("runs",)),
            "compare": (compare, (q.get("a"), q.get("b"))),
            "samples": (samples, (request,)),
            "disagreements": (disagreements, (request,)),
        }
        if name not in handlers:
            return secured(JSONResponse({"error": f"no API {name!r}"}, status_code=404))
        func, args = handlers[name]
        return await run(func, *args)

    # On loopback only the loopback names may reach it (no DNS rebinding); bound to a network
    # address on purpose, any name that reaches it may.
    loopback = host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")
    allowed = sorted({host, "127.0.0.1", "localhost"}) if loopback else ["*"]
    return Starlette(
        routes=[
            Route("/", index),
            Route("/static/{name}", static_file),
            Route("/api/{name}", api),
        ],
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=allowed)],
    )


def _usage(message: str) -> Exception:
    from gapbench.errors import UsageError

    return UsageError(message)


def _compare_one(opts: ReportOptions, a: str | None, b: str | None) -> dict[str, Any]:
    """The paired verdict of A against B alone, as `gapbench compare A B --json` gives it."""
    from gapbench.report.verdicts import pairwise
    from gapbench.report.views import open_results, selection
    from gapbench.stats.equivalence import DEFAULT_MARGIN

    if not a or not b or a == b:
        raise _usage("Pass two different models as ?a=MODEL_A&b=MODEL_B, or neither for all pairs.")
    with open_results(opts.db_path, reap=False) as conn:
        sel = selection(conn, ReportOptions(opts.db_path, opts.tasks, (a, b)))
        margin = DEFAULT_MARGIN if opts.margin is None else opts.margin
        return pairwise(conn, sel, [a, b], margin)[0].as_dict()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; UsageError when the port is taken or the address is not
    this machine's."""
    from gapbench.errors import UsageError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror:
        raise UsageError(
            f"Cannot resolve --host {host}: pass an address such as 127.0.0.1."
        ) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == 98:  # EADDRINUSE
            raise UsageError(
                f"Port {port} on {host} is in use: pass another --port (or --port 0)."
            ) from None
        raise UsageError(
            f"Cannot listen on {host}:{port} ({exc.strerror}): pass another --host or --port."
        ) from None
    return sock


def run_server(app: Starlette, sock: socket.socket) -> None:
    """Serve until interrupted."""
    import uvicorn

    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])
