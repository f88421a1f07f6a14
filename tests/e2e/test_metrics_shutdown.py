"""Operations (issue 10): metrics, the shared outbox, the default From:, graceful shutdown.

- Metrics are off by default: no listener, and `/metrics` on the main listener is a 404 to anyone
  but an admin's API token; on `metrics.bind` they are Prometheus text (checked by the small
  parser below against the format's rules: HELP/TYPE before the samples, label syntax,
  cumulative `_bucket{le=...}` ending in `+Inf` = `_count`), counters move with requests (a pip
  install counts on the simple-page route template, an upload adds its bytes in), and no label
  carries a raw path or a project name.
- `strongroom outbox` on server B lists mail queued and delivered through server A (one database),
  with state, recipient and subject but no body; the default `From:` is `strongroom@<host>` and
  `config show` says where it came from.
- Graceful shutdown: SIGTERM during a throttled upload; a new upload gets 503 with the reason, the
  slow one completes (and installs after a restart), the process exits within the grace; with a
  short grace, the upload still in flight is cut short and the log says so.
"""

from __future__ import annotations

import random
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest
import requests

import srkit
import webclient

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')


def parse_exposition(text: str) -> dict[tuple[str, frozenset], float]:
    """Parse Prometheus text format 0.0.4 strictly; returns {(name, labels): value}."""
    assert text.endswith("\n"), "the exposition ends with a line feed"
    types: dict[str, str] = {}
    helps: set[str] = set()
    samples: dict[tuple[str, frozenset], float] = {}
    for line in text.splitlines():
        assert line.strip() == line and line, f"no blank or padded lines: {line!r}"
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in helps, f"HELP twice for {name}"
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in {"counter", "gauge", "histogram", "summary", "untyped"}, line
            assert name not in types, f"TYPE twice for {name}"
            assert name in helps, f"HELP before TYPE for {name}"
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        m = SAMPLE_RE.match(line)
        assert m, f"not a sample line: {line!r}"
        name, _, raw_labels, value = m.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"sample of {name} before its TYPE"
        if types[family] == "counter":
            assert name.endswith("_total"), f"a counter's name ends in _total: {name}"
        labels: list[tuple[str, str]] = []
        if raw_labels:
            pos = 0
            while pos < len(raw_labels):
                lm = LABEL_RE.match(raw_labels, pos)
                assert lm, f"bad labels in {line!r}"
                labels.append((lm.group(1), lm.group(2)))
                pos = lm.end()
        v = float(value)
        assert v >= 0 or types[family] == "gauge", line
        key = (name, frozenset(labels))
        assert key not in samples, f"duplicate sample {line!r}"
        samples[key] = v
    # histograms: cumulative buckets, ending in +Inf equal to _count
    for family, kind in types.items():
        if kind != "histogram":
            continue
        series: dict[frozenset, list[tuple[float, float]]] = {}
        for (name, labels), v in samples.items():
            if name == f"{family}_bucket":
                le = dict(labels)["le"]
                rest = frozenset((k, x) for k, x in labels if k != "le")
                series.setdefault(rest, []).append((float("inf") if le == "+Inf" else float(le), v))
        for rest, buckets in series.items():
            buckets.sort()
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), f"{family}{dict(rest)} buckets are cumulative: {buckets}"
            assert buckets[-1][0] == float("inf"), f"{family}{dict(rest)} ends with le=+Inf"
            assert samples[(f"{family}_count", rest)] == buckets[-1][1]
            assert (f"{family}_sum", rest) in samples
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def label_values(samples, label: str) -> set[str]:
    return {v for (_, labels) in samples for k, v in labels if k == label}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics_url(server: srkit.Server) -> str:
    for line in server.stdout_lines:
        m = re.search(r"metrics: (http://\S+/metrics)", line)
        if m:
            return m.group(1)
    raise AssertionError(f"no metrics line in {server.stdout_lines}")


def scrape(url: str) -> dict:
    resp = requests.get(url, timeout=30)
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4"), resp.headers
    return parse_exposition(resp.text)


# --------------------------------------------------------------------------------------------
# metrics


def test_metrics_are_off_by_default_and_only_an_admin_token_reads_them_on_the_main_listener(strongroom, backend_kind):
    server = strongroom(backend_kind)
    assert not [ln for ln in server.stdout_lines if "metrics:" in ln], server.stdout_lines
    shown = server.cli("config", "show").stdout
    assert re.search(r"^metrics\.bind\s+=\s+# default", shown, re.M), shown
    server.create_user("ops", admin=True)
    admin_token = server.create_token("ops")
    user_token = server.user_with_token("dev")
    srkit.ok_upload(server, admin_token, srkit.make_wheel("some-project", "1.0"))
    scoped = server.create_token("ops", project="some-project")

    assert server.get("/metrics").status_code == 404
    for auth in [("__token__", user_token), ("__token__", scoped), ("__token__", "strongroom-nope"), ("ops", "x")]:
        resp = server.get("/metrics", auth=auth)
        assert resp.status_code == 404, (auth[0], resp.status_code)
    resp = server.get("/metrics", headers={"Authorization": f"Bearer {user_token}"})
    assert resp.status_code == 404

    for kw in [{"auth": ("__token__", admin_token)}, {"headers": {"Authorization": f"Bearer {admin_token}"}}]:
        resp = server.get("/metrics", **kw)
        assert resp.status_code == 200, resp.text[:300]
        samples = parse_exposition(resp.text)
        assert value(samples, "strongroom_http_requests_total", route="/metrics", method="GET",
                     status="404", **{"class": "4xx"}) >= 5


def test_the_metrics_listener_counts_routes_bytes_cache_and_the_rest(strongroom, backend_kind, tmp_path):
    server = strongroom(backend_kind, env={"STRONGROOM_METRICS__BIND": f"127.0.0.1:{free_port()}"})
    url = metrics_url(server)
    # the metrics listener serves /metrics only
    assert requests.get(url.replace("/metrics", "/simple/"), timeout=10).status_code == 404

    before = scrape(url)
    token = server.user_with_token("owner")
    wheel = srkit.make_wheel("sr-metered", "1.0", extra_members=[("sr_metered/blob.bin", random.Random(3).randbytes(50_000))])
    srkit.ok_upload(server, token, wheel)
    srkit.pip_install(server, ["sr-metered"], tmp_path / "t", tmp_path)
    srkit.pip_install(server, ["sr-metered"], tmp_path / "t2", tmp_path)
    assert server.get("/no/such/secret-path-xyz/").status_code == 404
    after = scrape(url)

    simple = dict(route="/simple/{name}/", method="GET", status="200", **{"class": "2xx"})
    assert value(after, "strongroom_http_requests_total", **simple) >= value(before, "strongroom_http_requests_total", **simple) + 2
    upload = dict(route="/legacy/", method="POST", status="200", **{"class": "2xx"})
    assert value(after, "strongroom_http_requests_total", **upload) == value(before, "strongroom_http_requests_total", **upload) + 1
    assert value(after, "strongroom_http_request_bytes_total") - value(before, "strongroom_http_request_bytes_total") >= len(wheel.data)
    assert value(after, "strongroom_http_response_bytes_total") - value(before, "strongroom_http_response_bytes_total") >= 2 * len(wheel.data)
    assert value(after, "strongroom_http_request_duration_seconds_count", route="/simple/{name}/") >= 2
    assert value(after, "strongroom_http_requests_total", route="unmatched", method="GET", status="404", **{"class": "4xx"}) >= 1
    # bounded labels: route templates, never a raw path or a project name
    routes = label_values(after, "route")
    assert not [r for r in routes if "sr-metered" in r or "secret-path" in r or "sr_metered" in r], routes
    assert {"/simple/{name}/", "/packages/{*path}", "/legacy/"} <= routes, routes
    # the page is served from the cache once kept: by the second install, unless the first
    # one's render raced with the upload being seen committed (a page rendered then is not
    # kept, by design); then a later read of it is a hit (at most 10 s of reads)
    hits = value(after, "strongroom_page_cache_hits_total")
    deadline = time.monotonic() + 10
    while hits <= value(before, "strongroom_page_cache_hits_total") and time.monotonic() < deadline:
        server.get("/simple/sr-metered/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        hits = value(scrape(url), "strongroom_page_cache_hits_total")
        time.sleep(0.2)
    assert hits > value(before, "strongroom_page_cache_hits_total")
    assert value(after, "strongroom_page_cache_misses_total") > value(before, "strongroom_page_cache_misses_total")
    assert value(after, "strongroom_page_cache_bytes") > 0
    # the rest is there
    assert value(after, "strongroom_data_free_bytes") > 0
    assert ("strongroom_mail_queue_depth", frozenset()) in after
    assert ("strongroom_blob_store_errors_total", frozenset()) in after
    assert ("strongroom_db_connections", frozenset({("state", "idle")})) in after
    assert srkit.wait_until(lambda: value(scrape(url), "strongroom_job_runs_total", job="retention purge") >= 1, timeout=30)


# --------------------------------------------------------------------------------------------
# mail with several servers


def test_outbox_on_one_server_lists_mail_queued_through_another_and_from_defaults(strongroom):
    backend = strongroom.pool.backend("pg_s3")
    a = strongroom.pool.start(backend)
    b = strongroom.pool.start(backend, env={"STRONGROOM_PUBLIC_URL": "https://index.example.test/"})
    a.create_user("mallory-target", email="target@example.test")
    web = webclient.Web(a.url)
    resp = web.submit("/account/forgot-password/", "/account/forgot-password/", {"username_or_email": "mallory-target"})
    assert resp.status_code == 200, resp.text[:300]

    def delivered_on(server):
        return [p for p in (server.data_dir / "outbox").glob("*.eml")] if (server.data_dir / "outbox").exists() else []
    # One server delivers it (no SMTP relay: into its own folder), once: the queue is shared and
    # each mail is claimed by one server. A queued it and usually takes it at once; on a busy
    # machine B's next round can claim it first, and the test takes either.
    assert srkit.wait_until(lambda: delivered_on(a) or delivered_on(b), timeout=20)
    time.sleep(1)
    files = delivered_on(a) + delivered_on(b)
    assert len(files) == 1, files

    listing = b.cli("outbox").stdout
    line = next((ln for ln in listing.splitlines() if "target@example.test" in ln), None)
    assert line, listing
    assert line.startswith("sent "), line
    assert "reset" in line.lower(), line
    assert "/account/reset-password/" not in listing and "token=" not in listing, "never a body"
    assert "0 pending" in listing, listing

    # the From: is the delivering server's: without public_url strongroom@<this machine's
    # name>, with it from its host
    eml = files[0].read_text()
    if delivered_on(a):
        host = socket.gethostname().lower()
        assert re.search(rf"^From: strongroom <strongroom@{re.escape(host)}>", eml, re.M), eml[:400]
    else:
        assert re.search(r"^From: strongroom <strongroom@index\.example\.test>", eml, re.M), eml[:400]
    # with public_url: from its host, and config show says so
    shown = b.cli("config", "show").stdout
    from_line = next(ln for ln in shown.splitlines() if ln.startswith("smtp.from "))
    assert "strongroom <strongroom@index.example.test>" in from_line and "derived from public_url" in from_line, from_line


# --------------------------------------------------------------------------------------------
# graceful shutdown


def connect(server: srkit.Server) -> socket.socket:
    u = urllib.parse.urlsplit(server.url)
    s = socket.create_connection((u.hostname, u.port), timeout=60)
    return s


def multipart(fields, filename: str, data: bytes) -> tuple[bytes, str]:
    req = requests.Request("POST", "http://x/legacy/", files=[(k, (None, v)) for k, v in fields]
                           + [("content", (filename, data, "application/octet-stream"))]).prepare()
    return req.body, req.headers["Content-Type"]


def slow_upload(server: srkit.Server, token: str, wheel: srkit.Dist, seconds: float, result: dict) -> threading.Thread:
    """Send `wheel` over `seconds` on a raw socket (throttled body); the response goes in `result`."""
    body, ctype = multipart(wheel.form(), wheel.filename, wheel.data)
    auth = requests.auth._basic_auth_str("__token__", token)
    s = connect(server)
    s.sendall(f"POST /legacy/ HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: {ctype}\r\n"
              f"Content-Length: {len(body)}\r\n\r\n".encode())
    chunks = 40
    step = -(-len(body) // chunks)

    def run():
        try:
            for i in range(0, len(body), step):
                s.sendall(body[i:i + step])
                time.sleep(seconds / chunks)
            got = b""
            s.settimeout(60)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
                if b"\r\n\r\n" in got and (b"Connection: close" in got or b"connection: close" in got):
                    head, _, rest = got.partition(b"\r\n\r\n")
                    m = re.search(rb"content-length: (\d+)", head, re.I)
                    if m and len(rest) >= int(m.group(1)):
                        break
            result["response"] = got
        except OSError as e:
            result["error"] = repr(e)
        finally:
            s.close()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_sigterm_refuses_new_uploads_and_lets_the_slow_one_finish(strongroom, backend_kind, tmp_path):
    server = strongroom(backend_kind)  # the default grace (30 s)
    token = server.user_with_token("owner")
    slow = srkit.make_wheel("sr-slowpoke", "1.0", extra_members=[("sr_slowpoke/blob.bin", random.Random(4).randbytes(60_000))])
    result: dict = {}
    t = slow_upload(server, token, slow, 8.0, result)
    time.sleep(2)
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    assert srkit.wait_until(lambda: "draining" in server.stderr_text(), timeout=5), server.stderr_text()[-2000:]

    late = srkit.make_wheel("sr-latecomer", "1.0")
    resp = srkit.upload_raw(server, token, late)
    assert resp.status_code == 503, (resp.status_code, resp.text[:300])
    assert "shutting down" in resp.text and "shutting down" in resp.reason.lower(), (resp.reason, resp.text)
    assert resp.headers.get("Retry-After"), resp.headers

    t.join(60)
    assert "error" not in result, result
    assert result.get("response", b"").startswith(b"HTTP/1.1 200 "), result.get("response", b"")[:400]
    code = server.proc.wait(40)
    assert code == 0, server.stderr_text()[-3000:]
    assert time.monotonic() - signalled < 30, "exits within the grace"
    log = server.stderr_text()
    assert "every request finished" in log, log[-3000:]
    assert "cutting short" not in log

    # the slow one is stored and installs; the refused one is not there
    again = strongroom.pool.start(server.backend, data_dir=server.data_dir)
    assert [f["filename"] for f in again.project_files("sr-slowpoke")] == [slow.filename]
    assert again.get("/simple/sr-latecomer/").status_code == 404
    srkit.pip_install(again, ["sr-slowpoke"], tmp_path / "t", tmp_path)


def test_an_upload_longer_than_the_grace_is_cut_short_and_logged(strongroom):
    server = strongroom("sqlite", env={"STRONGROOM_SHUTDOWN__GRACE_SECONDS": "2"})
    token = server.user_with_token("owner")
    slow = srkit.make_wheel("sr-tortoise", "1.0", extra_members=[("sr_tortoise/blob.bin", random.Random(5).randbytes(60_000))])
    result: dict = {}
    t = slow_upload(server, token, slow, 20.0, result)
    time.sleep(1.5)
    signalled = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    code = server.proc.wait(15)
    elapsed = time.monotonic() - signalled
    assert code == 0 and elapsed < 10, (code, elapsed)
    log = re.sub(r"\x1b\[[0-9;]*m", "", server.stderr_text())
    line = next((ln for ln in log.splitlines() if "cutting short" in ln), "")
    assert "uploads=1" in line, log[-3000:]
    named = next((ln for ln in log.splitlines() if "upload cut short" in ln), "")
    assert slow.filename in named and "owner" in named, log[-3000:]
    t.join(30)
    again = strongroom.pool.start(server.backend, data_dir=server.data_dir)
    assert again.get("/simple/sr-tortoise/").status_code == 404
