"""A loopback HTTP server standing in for huggingface.co: resolve URLs, the model-listing API,
redirects and error statuses, and a record of the Authorization header each path saw."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


class Hub:
    """What the fake hub serves, and what it saw."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.redirects: dict[str, str] = {}
        self.statuses: dict[str, int] = {}
        self.auth_seen: dict[str, str | None] = {}
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add_repo(self, repo: str, files: Mapping[str, bytes], commit: str = "c" * 40) -> None:
        """Serve a repository: its listing at 'main' and at the commit, and each file at both."""
        listing = {"sha": commit, "siblings": [{"rfilename": name} for name in files]}
        for revision in ("main", commit):
            self.files[f"/api/models/{repo}/revision/{revision}"] = json.dumps(listing).encode()
            for name, body in files.items():
                self.files[f"/{repo}/resolve/{revision}/{name}"] = body

    def add_directory(self, repo: str, directory: Path, commit: str = "c" * 40) -> None:
        files = {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}
        self.add_repo(repo, files, commit)

    def requested(self, prefix: str) -> list[str]:
        return [path for path in self.auth_seen if path.startswith(prefix)]


@contextmanager
def serve_hub() -> Iterator[Hub]:
    state = Hub()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.auth_seen[self.path] = self.headers.get("Authorization")
            if self.path in state.statuses:
                self.send_error(state.statuses[self.path])
                return
            if self.path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[self.path])
                self.end_headers()
                return
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
