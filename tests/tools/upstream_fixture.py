#!/usr/bin/env python3
"""A PyPI-shaped upstream index on 127.0.0.1 for the gateway's tests (issue 12).

Two real HTTP servers, as PyPI has them:

- the *simple host* (pypi.org's role): `/simple/` and `/simple/<project>/` in PEP 691 JSON or PEP
  503 HTML chosen by `Accept` (q-values, `?format=`), shaped like PyPI's own pages (`meta` with
  `_last-serial` and `api-version` 1.4, `versions`, `files[]` with `filename`, `url`, `hashes`,
  `requires-python`, `size`, `upload-time` with microseconds and `Z`, `yanked` false or the reason,
  `core-metadata` and `data-dist-info-metadata`, `provenance`, PEP 792 `project-status`; the HTML
  with `#sha256=` fragments, `data-requires-python`, `data-yanked`, `data-core-metadata`,
  `data-dist-info-metadata`, `data-provenance` and the `pypi:*` meta tags), ETag + If-None-Match
  (304), `Vary: Accept`, a 301 to the normalised name, 404 for unknown projects, and the JSON API
  `/pypi/<project>/json`;
- the *files host* (files.pythonhosted.org's role) on another port: every file at
  `/packages/<b2[0:2]>/<b2[2:4]>/<b2[4:]>/<filename>` (blake2b-256 of the bytes) and its PEP 658
  metadata at `<that>.metadata`; the simple pages link there with absolute URLs.

Wheels are made by the corpus generator's wheel writer (`gen_corpus.make_wheel`), each with the
`upload-time` the test chooses. Controls, all usable from a running test:

    up = Upstream(tmp_path / "upstream")           # both hosts started
    f = up.add_wheel("requests", "2.0", upload_time=ago(days=400), requires=["idna>=1"])
    up.add_wheel("requests", "2.1", upload_time=ago(hours=2), yanked="broken")
    up.set_status("requests", "quarantined", "under review")
    up.corrupt(f.filename)          # serve other bytes of the same size; the page keeps the hash
    up.delay = 5                    # every response waits 5 s before its status line
    up.drip = (64, 1.0)             # bodies sent 64 bytes a second
    up.fail_status = 503            # every request answered so
    up.html_only = True             # an old index: PEP 503 HTML whatever the Accept
    up.stop(); up.start()           # down (connection refused) and back on the same ports
    up.hits["/simple/requests/"]    # requests per path (both hosts; their paths never collide)
    up.simple_url                   # http://127.0.0.1:PORT/simple/  -> upstream.url

`python3 tests/tools/upstream_fixture.py --out DIR` serves a small demo tree until interrupted.
Only the Python standard library is used.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import hashlib
import html
import http.server
import io
import json
import os
import random
import re
import socket
import sys
import threading
import time
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gen_corpus  # noqa: E402  (the wheel writer the benchmark corpus uses)

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
SIMPLE_HTML = "application/vnd.pypi.simple.v1+html"
API_VERSION = "1.4"


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def ago(*, days: float = 0, hours: float = 0, seconds: float = 0) -> dt.datetime:
    """An upload time this long before now (UTC)."""
    return now() - dt.timedelta(days=days, hours=hours, seconds=seconds)


def pypi_time(t: dt.datetime) -> str:
    """PyPI's `upload-time` form: `2023-05-22T15:12:42.313790Z`."""
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def wheel_metadata(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = [n for n in zf.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)]
        return zf.read(names[0])


@dataclass
class UpstreamFile:
    """One file of the upstream: what its pages advertise and what its files host sends."""

    project: str  # normalised
    version: str
    filename: str
    data: bytes  # the true bytes (what the advertised hashes describe)
    upload_time: dt.datetime | None
    requires_python: str | None = None
    yanked: bool | str = False  # True, or the reason
    metadata: bytes | None = None  # PEP 658 file, when advertised
    hashes: dict[str, str] = field(default_factory=dict)  # what the page advertises
    provenance: str | None = None
    served: bytes | None = None  # bytes the files host sends instead (corrupt())

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def path(self) -> str:
        b2 = hashlib.blake2b(self.data, digest_size=32).hexdigest()
        return f"/packages/{b2[0:2]}/{b2[2:4]}/{b2[4:]}/{self.filename}"

    @property
    def metadata_sha256(self) -> str | None:
        return hashlib.sha256(self.metadata).hexdigest() if self.metadata is not None else None


@dataclass
class UpstreamProject:
    name: str  # as published (display name)
    files: list[UpstreamFile] = field(default_factory=list)
    status: str | None = None  # PEP 792: active, archived, quarantined, deprecated
    status_reason: str | None = None
    serial: int = 0


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False


class Upstream:
    """The two hosts and the projects they serve. Thread-safe; every control takes effect on the
    next request."""

    def __init__(self, root: Path | str, *, start: bool = True, seed: int = 12):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.projects: dict[str, UpstreamProject] = {}
        self.lock = threading.RLock()
        self.serial = 0
        self.seed = seed
        # controls
        self.delay: float = 0.0  # seconds every response waits before its status line
        self.drip: tuple[int, float] | None = None  # (bytes per chunk, seconds between chunks)
        self.fail_status: int | None = None  # answer every request with this status (e.g. 503)
        self.html_only = False  # an index that speaks only PEP 503 HTML (no upload-time, no size)
        self.hits: collections.Counter[str] = collections.Counter()
        self.log: list[tuple[str, str, str, dict[str, str]]] = []  # (host, method, path, headers)
        self._ports: dict[str, int] = {"simple": 0, "files": 0}
        self._servers: dict[str, _Server] = {}
        self._conns: set[socket.socket] = set()
        if start:
            self.start()

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> Upstream:
        """Start both hosts (again on the same ports after `stop()`)."""
        with self.lock:
            for role in ("simple", "files"):
                if role in self._servers:
                    continue
                handler = _handler_for(self, role)
                deadline = time.monotonic() + 10
                while True:
                    try:
                        srv = _Server(("127.0.0.1", self._ports[role]), handler)
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)
                self._ports[role] = srv.server_address[1]
                self._servers[role] = srv
                threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self

    def stop(self) -> None:
        """Both hosts down: new connections are refused and open ones are cut."""
        with self.lock:
            servers, self._servers = self._servers, {}
            conns, self._conns = set(self._conns), set()
        for srv in servers.values():
            srv.shutdown()
            srv.server_close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    close = stop

    @property
    def running(self) -> bool:
        return bool(self._servers)

    def __enter__(self) -> Upstream:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---------------------------------------------------------------- addresses

    @property
    def simple_origin(self) -> str:
        return f"http://127.0.0.1:{self._ports['simple']}"

    @property
    def files_origin(self) -> str:
        return f"http://127.0.0.1:{self._ports['files']}"

    @property
    def simple_url(self) -> str:
        """The index URL (what `upstream.url` names)."""
        return f"{self.simple_origin}/simple/"

    def file_url(self, f: UpstreamFile | str) -> str:
        f = self.file(f) if isinstance(f, str) else f
        return self.files_origin + f.path

    # ---------------------------------------------------------------- content

    def add_project(self, name: str, *, status: str | None = None, reason: str | None = None) -> UpstreamProject:
        with self.lock:
            key = normalize(name)
            proj = self.projects.get(key)
            if proj is None:
                proj = self.projects[key] = UpstreamProject(name)
            if status is not None:
                proj.status, proj.status_reason = status, reason
            self._bump(proj)
            return proj

    def add_file(self, project: str, version: str, filename: str, data: bytes, *,
                 upload_time: dt.datetime | None | str = "now", requires_python: str | None = None,
                 yanked: bool | str = False, metadata: bytes | None = None, hashes: str | None = "sha256",
                 provenance: str | None = None) -> UpstreamFile:
        """Publish a file. `upload_time`: a datetime, None (no `upload-time` on the page, as an
        HTML-only index), or "now". `hashes`: "sha256" (PyPI), "md5" (only an md5), or None (no
        hash at all)."""
        if upload_time == "now":
            upload_time = now()
        advertised = {}
        if hashes == "sha256":
            advertised = {"sha256": hashlib.sha256(data).hexdigest()}
        elif hashes == "md5":
            advertised = {"md5": hashlib.md5(data).hexdigest()}  # noqa: S324 - what old indexes offer
        elif hashes is not None:
            raise ValueError(hashes)
        f = UpstreamFile(normalize(project), version, filename, data, upload_time, requires_python, yanked,
                         metadata, advertised, provenance)
        with self.lock:
            proj = self.add_project(project)
            proj.files = [g for g in proj.files if g.filename != filename] + [f]
            self._bump(proj)
        (self.root / "files").mkdir(exist_ok=True)
        (self.root / "files" / filename).write_bytes(data)
        return f

    def add_wheel(self, project: str, version: str, *, requires=(), requires_python: str | None = ">=3.8",
                  upload_time: dt.datetime | None | str = "now", yanked: bool | str = False,
                  metadata: bool = True, hashes: str | None = "sha256", provenance: str | None = None,
                  salt: str = "", payload_bytes: int = 256) -> UpstreamFile:
        """A valid wheel made by the corpus generator's wheel writer (deterministic per project,
        version and `salt`; another salt makes other bytes under the same filename)."""
        rng = random.Random(f"{self.seed}/{normalize(project)}/{version}/{salt}")
        outdir = self.root / "build" / hashlib.sha256(f"{project}/{version}/{salt}".encode()).hexdigest()[:16]
        outdir.mkdir(parents=True, exist_ok=True)
        path = gen_corpus.make_wheel(str(outdir), project, version, list(requires), rng, payload_bytes,
                                     requires_python=requires_python)
        data = Path(path).read_bytes()
        return self.add_file(project, version, Path(path).name, data, upload_time=upload_time,
                             requires_python=requires_python, yanked=yanked,
                             metadata=wheel_metadata(data) if metadata else None, hashes=hashes,
                             provenance=provenance)

    def set_status(self, project: str, status: str | None, reason: str | None = None) -> None:
        """PEP 792 project status (None: no status on the page)."""
        with self.lock:
            proj = self.projects[normalize(project)]
            proj.status, proj.status_reason = status, reason
            self._bump(proj)

    def yank(self, filename: str, reason: str | bool = True) -> None:
        with self.lock:
            f = self.file(filename)
            f.yanked = reason
            self._bump(self.projects[f.project])

    def remove_project(self, project: str) -> None:
        with self.lock:
            self.projects.pop(normalize(project), None)
            self.serial += 1

    def remove_file(self, filename: str) -> None:
        with self.lock:
            f = self.file(filename)
            proj = self.projects[f.project]
            proj.files = [g for g in proj.files if g.filename != filename]
            self._bump(proj)

    def corrupt(self, filename: str, data: bytes | None = None) -> None:
        """The files host sends other bytes (by default the same size with one byte flipped in
        the middle) while every page keeps advertising the true hash and size."""
        with self.lock:
            f = self.file(filename)
            if data is None:
                b = bytearray(f.data)
                b[len(b) // 2] ^= 0xFF
                data = bytes(b)
            f.served = data

    def repair(self, filename: str) -> None:
        with self.lock:
            self.file(filename).served = None

    def file(self, filename: str) -> UpstreamFile:
        with self.lock:
            for proj in self.projects.values():
                for f in proj.files:
                    if f.filename == filename:
                        return f
        raise KeyError(filename)

    def files_of(self, project: str) -> list[UpstreamFile]:
        with self.lock:
            return list(self.projects[normalize(project)].files)

    def _bump(self, proj: UpstreamProject) -> None:
        self.serial += 1
        proj.serial = self.serial

    def count(self, prefix: str) -> int:
        """Requests whose path starts with `prefix` (e.g. "/packages/" = file downloads)."""
        with self.lock:
            return sum(n for p, n in self.hits.items() if p.startswith(prefix))

    def reset_counts(self) -> None:
        with self.lock:
            self.hits.clear()
            self.log.clear()

    # ---------------------------------------------------------------- pages (PyPI's shapes)

    def _file_json(self, f: UpstreamFile) -> dict:
        meta = {"sha256": f.metadata_sha256} if f.metadata is not None else False
        return {
            "core-metadata": meta,
            "data-dist-info-metadata": meta,
            "filename": f.filename,
            "hashes": dict(f.hashes),
            "provenance": f.provenance,
            "requires-python": f.requires_python,
            "size": f.size,
            "upload-time": pypi_time(f.upload_time) if f.upload_time else None,
            "url": self.file_url(f),
            "yanked": f.yanked,
        }

    def project_json(self, key: str) -> dict:
        proj = self.projects[key]
        doc: dict = {"meta": {"_last-serial": proj.serial, "api-version": API_VERSION}, "name": key}
        if proj.status:
            doc["project-status"] = {"status": proj.status}
            if proj.status_reason:
                doc["project-status"]["reason"] = proj.status_reason
        files = sorted(proj.files, key=lambda f: f.filename)
        doc["files"] = [self._file_json(f) for f in files]
        doc["versions"] = sorted({f.version for f in files}, key=_version_key)
        return doc

    def project_html(self, key: str) -> str:
        proj = self.projects[key]
        head = [f'    <meta name="pypi:repository-version" content="{API_VERSION}">']
        if proj.status:
            head.append(f'    <meta name="pypi:project-status" content="{html.escape(proj.status)}">')
            if proj.status_reason:
                head.append(f'    <meta name="pypi:project-status-reason" content="{html.escape(proj.status_reason)}">')
        links = []
        for f in sorted(proj.files, key=lambda f: f.filename):
            href = self.file_url(f)
            if "sha256" in f.hashes:
                href += "#sha256=" + f.hashes["sha256"]
            elif "md5" in f.hashes:
                href += "#md5=" + f.hashes["md5"]
            attrs = f'href="{html.escape(href)}"'
            if f.requires_python:
                attrs += f' data-requires-python="{html.escape(f.requires_python)}"'
            if f.yanked is not False:
                reason = f.yanked if isinstance(f.yanked, str) else ""
                attrs += f' data-yanked="{html.escape(reason)}"'
            if f.metadata is not None:
                attrs += f' data-dist-info-metadata="sha256={f.metadata_sha256}"'
                attrs += f' data-core-metadata="sha256={f.metadata_sha256}"'
            if f.provenance:
                attrs += f' data-provenance="{html.escape(f.provenance)}"'
            links.append(f"    <a {attrs}>{html.escape(f.filename)}</a><br />")
        return (
            "<!DOCTYPE html>\n<html>\n  <head>\n" + "\n".join(head) + "\n"
            f"    <title>Links for {html.escape(key)}</title>\n  </head>\n  <body>\n"
            f"    <h1>Links for {html.escape(key)}</h1>\n" + "\n".join(links) + "\n  </body>\n</html>\n"
            f"<!--SERIAL {proj.serial}-->"
        )

    def index_json(self) -> dict:
        return {
            "meta": {"_last-serial": self.serial, "api-version": API_VERSION},
            "projects": [{"_last-serial": p.serial, "name": p.name} for _, p in sorted(self.projects.items())],
        }

    def index_html(self) -> str:
        links = "\n".join(f'    <a href="/simple/{k}/">{html.escape(p.name)}</a>'
                          for k, p in sorted(self.projects.items()))
        return (f'<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
                f"    <title>Simple index</title>\n  </head>\n  <body>\n{links}\n  </body>\n</html>")

    def json_api(self, key: str, version: str | None) -> dict | None:
        """`/pypi/<p>/json` and `/pypi/<p>/<v>/json`, the fields PyPI's JSON API has that this
        fixture knows."""
        proj = self.projects[key]
        files = sorted(proj.files, key=lambda f: f.filename)
        versions = sorted({f.version for f in files}, key=_version_key)
        if version is not None and version not in versions:
            return None
        live = [v for v in versions if any(f.yanked is False for f in files if f.version == v)]
        latest = version or (live or versions or [None])[-1]

        def api_file(f: UpstreamFile) -> dict:
            return {
                "filename": f.filename, "url": self.file_url(f), "size": f.size,
                "digests": {"sha256": f.sha256, "md5": hashlib.md5(f.data).hexdigest(),  # noqa: S324
                            "blake2b_256": hashlib.blake2b(f.data, digest_size=32).hexdigest()},
                "packagetype": "bdist_wheel" if f.filename.endswith(".whl") else "sdist",
                "requires_python": f.requires_python, "yanked": f.yanked is not False,
                "yanked_reason": f.yanked if isinstance(f.yanked, str) else None,
                "upload_time_iso_8601": pypi_time(f.upload_time) if f.upload_time else None,
            }

        doc = {
            "info": {"name": proj.name, "version": latest,
                     "requires_python": next((f.requires_python for f in files if f.version == latest), None)},
            "last_serial": proj.serial,
            "urls": [api_file(f) for f in files if f.version == latest],
            "vulnerabilities": [],
        }
        if version is None:
            doc["releases"] = {v: [api_file(f) for f in files if f.version == v] for v in versions}
        return doc


def _version_key(v: str):
    parts = []
    for p in re.split(r"[.+-]", v):
        parts.append((0, int(p), "") if p.isdigit() else (1, 0, p))
    return parts


def _choose(accept: str, query: str) -> str | None:
    """PEP 691 negotiation as PyPI does it: `?format=` wins, then the highest q among the simple
    JSON, the simple HTML and text/html; nothing named (or */*) is HTML; none acceptable: None."""
    fmt = urllib.parse.parse_qs(query).get("format")
    if fmt:
        accept = fmt[0]
    if not accept.strip():
        return "text/html"
    best, best_q = None, 0.0
    for i, part in enumerate(accept.split(",")):
        bits = [b.strip() for b in part.split(";")]
        typ, q = bits[0].lower(), 1.0
        for b in bits[1:]:
            if b.startswith("q="):
                try:
                    q = float(b[2:])
                except ValueError:
                    q = 0.0
        chosen = {SIMPLE_JSON: SIMPLE_JSON, SIMPLE_HTML: SIMPLE_HTML, "text/html": "text/html",
                  "*/*": "text/html", "application/*": SIMPLE_JSON}.get(typ)
        if chosen and q > best_q:
            best, best_q = chosen, q
    return best


def _handler_for(up: Upstream, role: str):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "upstream-fixture/1"

        def log_message(self, *args) -> None:  # quiet
            pass

        def setup(self) -> None:
            super().setup()
            with up.lock:
                up._conns.add(self.connection)

        def finish(self) -> None:
            with up.lock:
                up._conns.discard(self.connection)
            try:
                super().finish()
            except OSError:
                pass

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _serve(self, head: bool) -> None:
            url = urllib.parse.urlsplit(self.path)
            with up.lock:
                up.hits[url.path] += 1
                up.log.append((role, self.command, self.path, dict(self.headers.items())))
            if up.delay:
                time.sleep(up.delay)
            if up.fail_status:
                return self._send(up.fail_status, b"upstream fixture: failing on purpose\n", "text/plain", head=head)
            try:
                if role == "simple":
                    self._simple(url, head)
                else:
                    self._files(url, head)
            except (BrokenPipeError, ConnectionResetError):
                pass

        # -- simple host
        def _simple(self, url, head: bool) -> None:
            path = url.path
            m = re.fullmatch(r"/pypi/([^/]+)(?:/([^/]+))?/json/?", path)
            if m:
                key = normalize(m.group(1))
                with up.lock:
                    doc = up.json_api(key, m.group(2)) if key in up.projects else None
                if doc is None:
                    return self._send(404, b'{"message": "Not Found"}', "application/json", head=head)
                return self._send(200, json.dumps(doc).encode(), "application/json", head=head)
            if path == "/simple":
                return self._redirect("/simple/")
            if not path.startswith("/simple/"):
                return self._send(404, b"Not Found\n", "text/plain", head=head)
            rest = path[len("/simple/"):]
            ctype = _choose(self.headers.get("Accept", ""), url.query)
            if up.html_only:
                ctype = "text/html"
            if ctype is None:
                return self._send(406, b"Not Acceptable\n", "text/plain", head=head)
            if rest == "":
                with up.lock:
                    body = json.dumps(up.index_json()).encode() if ctype == SIMPLE_JSON else up.index_html().encode()
                return self._page(body, ctype, head)
            name = rest.rstrip("/")
            if "/" in name:
                return self._send(404, b"Not Found\n", "text/plain", head=head)
            key = normalize(name)
            if name != key or not rest.endswith("/"):
                return self._redirect(f"/simple/{key}/")
            with up.lock:
                if key not in up.projects:
                    return self._send(404, b"Not Found\n", "text/plain", head=head)
                body = json.dumps(up.project_json(key)).encode() if ctype == SIMPLE_JSON else up.project_html(key).encode()
                serial = up.projects[key].serial
            return self._page(body, ctype, head, serial)

        def _page(self, body: bytes, ctype: str, head: bool, serial: int | None = None) -> None:
            etag = '"' + hashlib.sha256(ctype.encode() + b"\0" + body).hexdigest()[:32] + '"'
            headers = {"ETag": etag, "Vary": "Accept, Accept-Encoding", "Cache-Control": "max-age=600, public"}
            if serial is not None:
                headers["X-PyPI-Last-Serial"] = str(serial)
            inm = self.headers.get("If-None-Match", "")
            if etag in [t.strip() for t in inm.split(",")] or inm.strip() == "*":
                return self._send(304, b"", None, headers, head=True)
            self._send(200, body, ctype, headers, head=head)

        def _redirect(self, to: str) -> None:
            self._send(301, b"", None, {"Location": to}, head=True)

        # -- files host
        def _files(self, url, head: bool) -> None:
            path = url.path
            want_meta = path.endswith(".metadata")
            base = path[: -len(".metadata")] if want_meta else path
            with up.lock:
                found = next((f for p in up.projects.values() for f in p.files if f.path == base), None)
            if found is None or (want_meta and found.metadata is None):
                return self._send(404, b"Not Found\n", "text/plain", head=head)
            if want_meta:
                body = found.metadata
                ctype = "application/octet-stream"
            else:
                body = found.served if found.served is not None else found.data
                ctype = "application/octet-stream"
            etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
            self._send(200, body, ctype, {"ETag": etag, "Cache-Control": "max-age=365000000, immutable, public"},
                       head=head)

        # -- common
        def _send(self, status: int, body: bytes, ctype: str | None, headers: dict | None = None, *,
                  head: bool = False) -> None:
            self.send_response(status)
            if ctype:
                self.send_header("Content-Type", ctype)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            if status != 304:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if head or status == 304:
                return
            drip = up.drip
            if not drip:
                self.wfile.write(body)
                return
            chunk, pause = drip
            for i in range(0, len(body), max(1, chunk)):
                self.wfile.write(body[i: i + chunk])
                self.wfile.flush()
                if i + chunk < len(body):
                    time.sleep(pause)

    return Handler


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="serve a small PyPI-shaped upstream until interrupted")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    up = Upstream(args.out)
    up.add_wheel("demo-lib", "1.0", upload_time=ago(days=400))
    up.add_wheel("demo-lib", "1.1", upload_time=ago(hours=1))
    up.add_wheel("demo-app", "1.0", requires=["demo-lib>=1.0"], upload_time=ago(days=30))
    print(f"simple host: {up.simple_url}\nfiles host:  {up.files_origin}/", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        up.stop()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
