"""Issue 8, finding 1: no request header may make the server keep memory, and links never come
from an attacker's Host.

- Any Host that is not a host name or address with an optional port, of at most 255 bytes, is
  refused with 400 before routing, so the base URL a response carries is bounded; a request head
  over 64 KiB is refused with 431 while it is read (hyper's default let each connection buffer
  ~400 KiB of headers). Sixteen
  connections asking for the JSON API, the project page and the home page with a 300 KB Host and
  not reading the answer leave RSS where it was (before: each response held slots x 300 KB,
  tens of MB per request, GBs for a handful of connections).
- Default (no public_url): simple pages link files relative to the page, so one cached copy serves
  every Host; the JSON API's absolute links are filled in per response and never cached. A few
  hundred distinct, long Host values against one large project page leave the server's RSS
  where it was (before: one cached copy of every page per Host, 160 MB → 1.8 GB → abort).
- With public_url: links come from it, and a request naming any other Host (not in
  http.allowed_hosts) is refused with 421 on every route but /healthz, which probes reach by
  address; pip and uv install as before.
- http.allowed_hosts without public_url is refused at start (mail links would name
  http://<bind>, a host the list refuses), naming both keys.
"""

from __future__ import annotations

import socket
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

import browserkit
import srkit
from srkit import SIMPLE_JSON

FILES = 300
HOSTS = 200
# RSS growth allowed over the whole loop of HOSTS distinct Hosts (the old cache kept roughly
# 2 MB per Host here: HTML and JSON page with the Host in every link, plus the JSON API document)
RSS_GROWTH_CEILING_MB = 120


def vm_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def upload_many(server: srkit.Server, token: str, dists: list[srkit.Dist]) -> None:
    def one(d):
        resp = srkit.upload_raw(server, token, d)
        return d.filename, resp.status_code, resp.text[:200]

    with ThreadPoolExecutor(4) as ex:
        failed = [r for r in ex.map(one, dists) if r[1] != 200]
    assert not failed, failed[:5]


def long_host(i: int) -> str:
    # distinct and as long as a Host may be (255 bytes with the port): each character would have
    # been repeated in every link of the page
    host = f"h{i:04d}-{'x' * 56}.{'y' * 63}.{'z' * 63}.{'w' * 40}.example"
    assert len(host) + len(":65535") <= 255
    return host + ":65535"


def get_as(server: srkit.Server, path: str, host: str, **headers) -> requests.Response:
    return server.get(path, headers={"Host": host, "Accept-Encoding": "gzip", **headers})


def test_distinct_hosts_do_not_grow_memory_and_links_are_relative(server):
    token = server.user_with_token("owner")
    dists = [srkit.make_wheel("sr-bigpage", f"1.0.{i}") for i in range(FILES)]
    upload_many(server, token, dists)
    by_name = {d.filename: d for d in dists}

    def check_simple_json(resp, host):
        assert resp.status_code == 200, resp.text[:300]
        files = resp.json()["files"]
        assert len(files) == FILES
        for f in files:
            assert f["url"] == "../.." + by_name[f["filename"]].path, f["url"]
        assert host.split(":")[0] not in resp.text

    def check_simple_html(resp, host):
        assert resp.status_code == 200
        doc = srkit.parse_html(resp.text)
        assert len(doc.anchors) == FILES
        for attrs, text in doc.anchors:
            assert attrs["href"] == f"../..{by_name[text].path}#sha256={by_name[text].sha256}"
        assert host.split(":")[0] not in resp.text

    def check_pypi_json(resp, host):
        # PyPI's JSON API links are absolute: built from this request's Host, per response
        assert resp.status_code == 200
        doc = resp.json()
        assert len(doc["releases"]) == FILES
        assert doc["info"]["project_url"] == f"http://{host}/project/sr-bigpage/"
        for f in doc["urls"]:
            assert f["url"] == f"http://{host}{by_name[f['filename']].path}"

    # warm up with the ordinary Host: every page rendered and cached once
    for _ in range(3):
        check_simple_json(server.simple_json("sr-bigpage"), server.host)
        check_simple_html(server.get("/simple/sr-bigpage/", headers={"Accept": "text/html"}), server.host)
        check_pypi_json(server.get("/pypi/sr-bigpage/json"), server.host)
    page_kb = len(server.get("/simple/sr-bigpage/", headers={"Host": long_host(9999)}).content) // 1024
    before = vm_rss_mb(server.proc.pid)

    for i in range(HOSTS):
        host = long_host(i)
        check_simple_json(get_as(server, "/simple/sr-bigpage/", host, Accept=SIMPLE_JSON), host)
        check_simple_html(get_as(server, "/simple/sr-bigpage/", host, Accept="text/html"), host)
        check_pypi_json(get_as(server, "/pypi/sr-bigpage/json", host), host)
        assert get_as(server, "/pypi/sr-bigpage/1.0.7/json", host).json()["info"]["version"] == "1.0.7"

    after = vm_rss_mb(server.proc.pid)
    print(f"RSS {before:.0f} MB -> {after:.0f} MB over {HOSTS} Hosts")
    assert after - before < RSS_GROWTH_CEILING_MB, (
        f"RSS grew {after - before:.0f} MB over {HOSTS} distinct Hosts ({before:.0f} → {after:.0f} MB; "
        f"a page is {page_kb} KB)")
    # the links still resolve where pip and uv resolve them: against the page
    f = server.project_files("sr-bigpage")[0]
    got = requests.get(f["url"], timeout=30)
    assert got.status_code == 200 and srkit.sha256(got.content) == f["hashes"]["sha256"]


def start_public(strongroom, kind: str, env: dict[str, str] | None = None) -> browserkit.LocalhostServer:
    """A server with public_url http://localhost:PORT (and 127.0.0.1 allowed, as the suite's
    helpers use it), torn down with the test's other servers."""
    pool = strongroom.pool
    backend = pool.backend(kind)
    pool.n += 1
    srv = browserkit.LocalhostServer(backend, pool.tmp / f"public{pool.n}", env)
    pool.servers.append(srv)
    return srv.start()


ROUTES = [
    ("GET", "/"),
    ("GET", "/healthz/"),
    ("GET", "/simple/"),
    ("GET", "/simple/sr-pub/"),
    ("GET", "/simple/sr-pub"),
    ("GET", "/pypi/sr-pub/json"),
    ("GET", "/project/sr-pub/"),
    ("GET", "/account/login/"),
    ("POST", "/account/login/"),
    ("POST", "/legacy/"),
    ("POST", "/RPC2"),
    ("GET", "/no/such/page"),
]


def test_with_public_url_links_come_from_it_and_other_hosts_are_refused(strongroom, backend_kind, tmp_path):
    server = start_public(strongroom, backend_kind)
    public = server.web_url  # http://localhost:PORT
    token = server.user_with_token("owner")
    wheel = srkit.make_wheel("sr-pub", "1.0")
    srkit.ok_upload(server, token, wheel)  # through 127.0.0.1: allowed by http.allowed_hosts

    # links come from public_url whichever allowed name the request used
    for host in (server.host, f"localhost:{server.port}", "LOCALHOST"):
        page = server.get("/simple/sr-pub/", headers={"Host": host, "Accept": SIMPLE_JSON})
        assert page.status_code == 200, (host, page.status_code, page.text)
        assert [f["url"] for f in page.json()["files"]] == [public + wheel.path]
        doc = server.get("/pypi/sr-pub/json", headers={"Host": host}).json()
        assert doc["urls"][0]["url"] == public + wheel.path
        assert doc["info"]["project_url"] == f"{public}/project/sr-pub/"

    # every route refuses a Host it does not answer for, before doing anything
    for method, path in ROUTES:
        for host in ("evil.example", f"evil.example:{server.port}", "localhost.evil.example", "127.0.0.2"):
            resp = requests.request(method, server.url + path, headers={"Host": host}, timeout=30,
                                    allow_redirects=False, data=b"x=1" if method == "POST" else None)
            assert resp.status_code == 421, (method, path, host, resp.status_code, resp.text[:200])
            assert f"does not answer for '{host.split(':')[0]}'" in resp.text, resp.text
    # an absolute-form request target names its host too, and a request without any Host is refused
    for raw in (
        f"GET http://evil.example/simple/sr-pub/ HTTP/1.1\r\nHost: {server.host}\r\nConnection: close\r\n\r\n",
        "GET /simple/sr-pub/ HTTP/1.0\r\n\r\n",
    ):
        status = raw_status(server, raw.encode())
        assert status == 421, (raw, status)
    # nothing was published or changed by the refused POSTs
    assert [f["filename"] for f in server.project_files("sr-pub")] == [wheel.filename]

    # the health check answers whatever the Host: a probe or load balancer names the server by
    # its address (and it says nothing but whether the database answers)
    for host in ("127.0.0.2", f"10.1.2.3:{server.port}", "[fd00::7]:8080", "evil.example"):
        resp = requests.get(server.url + "/healthz", headers={"Host": host}, timeout=30)
        assert (resp.status_code, resp.text) == (200, "ok\n"), (host, resp.status_code, resp.text)
    for raw in (
        f"GET http://evil.example/healthz HTTP/1.1\r\nHost: {server.host}\r\nConnection: close\r\n\r\n",
        "GET /healthz HTTP/1.0\r\n\r\n",
    ):
        assert raw_status(server, raw.encode()) == 200, raw

    # pip and uv install through the public links (localhost → the same server)
    for tool in (srkit.pip_install, srkit.uv_install):
        target = tmp_path / f"t-{tool.__name__}"
        tool(server, ["sr-pub"], target, tmp_path)
        assert srkit.installed(target) == {"sr-pub": "1.0"}


BAD_HOSTS = [
    "h" * 256,                      # longer than any authority
    "a." * 150 + "example",         # 300+ bytes of short labels
    "x" * 300_000,                  # the red team's 300 KB Host
    "a" * 64 + ".example",          # a label longer than DNS allows
    "evil.example:99999",           # not a port
    "evil.example:80:80",
    "user@evil.example",            # user info
    "evil example",
    "[::1",                         # unclosed IPv6 literal
    "[not-v6]:80",
]


def raw_response(server: srkit.Server, request: bytes) -> bytes:
    host, port = urllib.parse.urlsplit(server.url).hostname, urllib.parse.urlsplit(server.url).port
    with socket.create_connection((host, port), timeout=30) as s:
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def test_a_malformed_or_long_host_is_refused_before_routing_and_holds_no_memory(server):
    token = server.user_with_token("owner")
    dists = [srkit.make_wheel("sr-amp", f"1.0.{i}") for i in range(150)]
    upload_many(server, token, dists)
    paths = ["/pypi/sr-amp/json", "/pypi/sr-amp/1.0.3/json", "/project/sr-amp/", "/", "/simple/sr-amp/",
             "/healthz", "/no/such/route"]
    for host in BAD_HOSTS:
        for path in paths:
            got = raw_response(server, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            if len(host) > 64 * 1024:
                # a request head over 64 KiB is refused while it is read, before any route
                assert got.startswith(b"HTTP/1.1 431 "), (host[:40], path, got[:200])
                continue
            assert got.startswith(b"HTTP/1.1 400 "), (host[:40], path, got[:200])
            assert b"Invalid Host header" in got
            assert len(got) < 4096, (host[:40], path, len(got))
    # two Host headers, and an absolute-form target naming a bad authority
    assert raw_status(server, b"GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n") == 400
    assert raw_status(server, b"GET http://bad..host:99999/ HTTP/1.1\r\nHost: ok.example\r\nConnection: close\r\n\r\n") == 400
    # what stays answered: names, addresses, IPv6 literals, ports, and HTTP/1.0 without a Host
    for host in ["pypi.internal", "pypi.internal.", "my_service:8080", "10.0.0.7", "[fd00::7]:8443",
                 long_host(1)]:
        resp = get_as(server, "/pypi/sr-amp/json", host)
        assert resp.status_code == 200, (host, resp.status_code)
        assert resp.json()["info"]["project_url"] == f"http://{host}/project/sr-amp/"
    assert raw_response(server, b"GET /simple/ HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.0 200 ")

    # the red team's attack: responses with a 300 KB Host in every link, left unread
    port = urllib.parse.urlsplit(server.url).port
    before = vm_rss_mb(server.proc.pid)
    socks = []
    for round_ in range(3):
        for path in ["/pypi/sr-amp/json", "/project/sr-amp/", "/"]:
            for i in range(16):
                c = socket.create_connection(("127.0.0.1", port), timeout=30)
                c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                c.sendall(f"GET {path} HTTP/1.1\r\nHost: {round_}{i}{'a' * 300_000}\r\n\r\n".encode())
                socks.append(c)
        time.sleep(1)
    after = vm_rss_mb(server.proc.pid)
    for c in socks:
        c.close()
    print(f"RSS {before:.0f} MB -> {after:.0f} MB with {len(socks)} unread 300 KB-Host requests")
    # the old server built each answer with the Host in every slot: ~300 links x 300 KB each
    assert after - before < 100, f"RSS grew {after - before:.0f} MB ({before:.0f} → {after:.0f} MB)"


def raw_status(server: srkit.Server, request: bytes) -> int:
    host, port = urllib.parse.urlsplit(server.url).hostname, urllib.parse.urlsplit(server.url).port
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1."), data[:100]
    return int(data.split(b" ", 2)[1])


def test_allowed_hosts_without_public_url_are_refused_at_start(strongroom):
    """Mail links (resets, invitations, vetoes) fall back to http://<bind> without public_url; a
    Host list would refuse them with 421, so the combination is refused before anything runs."""
    srv = srkit.Server(strongroom.pool.backend("sqlite"), strongroom.pool.tmp / "allowed-only",
                       {"STRONGROOM_HTTP__ALLOWED_HOSTS": "127.0.0.1,index.internal"})
    for args in (["serve", *srv.global_args(), "--bind", "127.0.0.1:0"], ["config", "show"]):
        proc = srkit.run([srkit.strongroom_bin(), *args], env=srv.env(), check=False, timeout=60)
        assert proc.returncode == 1, (args, proc.returncode, proc.stdout, proc.stderr)
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
        assert "http.allowed_hosts" in lines[0] and "public_url" in lines[0], lines[0]
        assert "listening" not in proc.stdout
    # with public_url the same list starts, and a listed name is answered
    server = start_public(strongroom, "sqlite", {"STRONGROOM_HTTP__ALLOWED_HOSTS": "127.0.0.1,index.internal"})
    assert server.get("/simple/", headers={"Host": "index.internal"}).status_code == 200
    assert server.get("/simple/", headers={"Host": "other.internal"}).status_code == 421
