"""Upstream files through the gateway (issue 12): fetched once, checked, kept, served locally.

The upstream is the PyPI-shaped static index of `tests/tools/upstream_fixture.py` (files on a
second host, as files.pythonhosted.org). Every test runs on both backends (a local folder with
SQLite, S3 with PostgreSQL), with the defaults except where a test names a setting.

- pip and uv install upstream projects through the gateway alone; the installed bytes are the
  upstream's; the second install reads no file from the upstream (the cache), and the cached
  blobs live under `upstream/` beside their PEP 658 metadata.
- An upstream that sends other bytes than its page's sha256: the download is cut short, nothing
  is kept, the mismatch is logged and recorded as an event; pip refuses.
- A slow upstream: the client gets an error within the timeout, never a hang.
- The upstream down: cached files still install.
- A client that leaves mid-download: the fetch still completes into the cache, and no temp
  file is left behind (nor after a mismatch).
- The first requester's bytes arrive while the upstream is still sending (not after the whole
  file was fetched), the last one only once the sha256 matched.
- Concurrent first requests: one upstream fetch.
- Bounds: the per-address rate of new fetches (429 + Retry-After; cached files are not counted),
  the largest file (refused), the cache's byte cap (least recently downloaded evicted, its blobs
  deleted; the collector keeps what is referenced; a kept file downloaded again survives an
  eviction over one that was not, through the batched download times).
- A kept file is served as kept, not hashed again per download: damage to it is `strongroom
  fsck`'s to find (and, with --repair, drop, so the next request fetches it again).
- Where file URLs may lead: with the default `upstream.file_hosts`, a files host on another
  loopback port (an internal address) is refused and never asked; the helpers list it otherwise.
- The page's `size` holds: a longer or shorter body is refused before a byte of it is served,
  and `Content-Length` is the page's size.
- PEP 658 metadata of a file not kept: one upstream fetch for concurrent requests, kept on its
  own (served again without the upstream, the file never fetched), each new fetch counted
  against the budget, and memory that does not grow with the requests; read before its file (as
  installers do), the file takes it over when kept, without a second fetch.
"""

from __future__ import annotations

import json
import time

import pytest
import requests

import srkit
from test_fsck import finding_kinds, fsck, put_object, sql, temp_dir
from upstream_fixture import ago

both = pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])


def file_path(f) -> str:
    return f"/upstream/files/{f.project}/{f.sha256}/{f.filename}"


def warm_page(gw: srkit.Server, project: str) -> None:
    """The gateway serves a file only from a stored page: ask for the page first."""
    r = gw.get(f"/simple/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert r.status_code == 200, (r.status_code, r.text)


def upstream_keys(gw: srkit.Server) -> set[str]:
    return {k for k in gw.blob_keys() if k.startswith("upstream/")}


def file_fetches(up, f) -> int:
    """Requests the upstream's files host got for the file itself (not its metadata)."""
    with up.lock:
        return up.hits.get(f.path, 0)


def events(gw: srkit.Server, action: str) -> list[str]:
    """Subjects of the events with this action (read from the database)."""
    return [r[0] for r in sql(gw, f"SELECT subject_name FROM events WHERE action = '{action}' ORDER BY seq")]


def upstream_rows(gw: srkit.Server) -> list[tuple[str, ...]]:
    return sql(gw, "SELECT sha256, filename FROM upstream_files ORDER BY sha256")


def fetch_temp_files(gw: srkit.Server) -> list[str]:
    """The fetch tee's temp files (`upstream-*`) in the server's temp folder."""
    d = temp_dir(gw)
    return [str(p) for p in d.glob("upstream-*")] if d.exists() else []


def blob_key(f) -> str:
    """A cached upstream file's key: one folder per leading byte of its sha256."""
    return f"upstream/{f.sha256[:2]}/{f.sha256}-{f.filename}"


@both
def test_pip_and_uv_install_through_the_gateway_and_the_second_install_is_local(gateway, upstream, tmp_path,
                                                                               kind):
    lib = upstream.add_wheel("pub-lib", "1.0", upload_time=ago(days=30))
    app = upstream.add_wheel("pub-app", "2.0", requires=["pub-lib>=1.0"], upload_time=ago(days=30))
    gw = gateway(kind, upstream)
    srkit.pip_install(gw, ["pub-app"], tmp_path / "pip", tmp_path / "pipc")
    assert srkit.installed(tmp_path / "pip") == {"pub-app": "2.0", "pub-lib": "1.0"}
    for f in (lib, app):
        r = gw.get(file_path(f))
        assert r.status_code == 200 and r.content == f.data
        assert file_fetches(upstream, f) == 1, f"{f.filename} was fetched more than once"
    # the metadata is fetched and kept after its file (pip read it before the file was kept)
    meta_keys = {f"{blob_key(f)}.metadata" for f in (lib, app)}
    assert srkit.wait_until(lambda: meta_keys <= upstream_keys(gw), 20), upstream_keys(gw)
    keys = upstream_keys(gw)
    for f in (lib, app):
        key = blob_key(f)
        assert key in keys, keys
        # PEP 658 metadata kept beside it, checked against the page's hash
        assert f"{key}.metadata" in keys, keys
        m = gw.get(file_path(f) + ".metadata")
        assert m.status_code == 200 and m.content == f.metadata
    upstream.reset_counts()
    srkit.uv_install(gw, ["pub-app"], tmp_path / "uv", tmp_path / "uvc")
    assert srkit.installed(tmp_path / "uv") == {"pub-app": "2.0", "pub-lib": "1.0"}
    assert upstream.count("/packages/") == 0, "a cached file was read from the upstream again"
    assert gw.problems() is None


@both
def test_a_hash_mismatch_is_cut_short_logged_and_nothing_is_kept(gateway, upstream, tmp_path, kind):
    f = upstream.add_wheel("pub-bad", "1.0", upload_time=ago(days=30), payload_bytes=200_000)
    upstream.corrupt(f.filename)
    gw = gateway(kind, upstream)
    warm_page(gw, "pub-bad")
    got = b""
    failed = False
    try:
        with requests.get(gw.url + file_path(f), stream=True, timeout=30) as r:
            assert r.status_code == 200
            for chunk in r.iter_content(65536):
                got += chunk
    except requests.RequestException:
        failed = True
    assert failed or len(got) < len(f.data), "the whole of the wrong bytes reached the client"
    assert got != upstream.file(f.filename).served
    proc = srkit.pip_install(gw, ["pub-bad"], tmp_path / "t", tmp_path / "pip", check=False)
    assert proc.returncode != 0
    assert srkit.wait_until(lambda: "does not match the sha256" in gw.stderr_text(), 10)
    assert upstream_keys(gw) == set(), "bytes of a mismatching file were kept"
    assert upstream_rows(gw) == []
    assert srkit.wait_until(lambda: events(gw, "upstream:hash-mismatch"), 10)
    assert srkit.wait_until(lambda: not fetch_temp_files(gw), 10), fetch_temp_files(gw)
    # the upstream repaired: the same URL now serves and keeps the right bytes
    upstream.repair(f.filename)
    r = gw.get(file_path(f))
    assert r.status_code == 200 and r.content == f.data
    assert gw.problems() is None


@both
def test_a_slow_upstream_errors_within_the_timeout(gateway, upstream, kind):
    f = upstream.add_wheel("pub-slow", "1.0", upload_time=ago(days=30))
    gw = gateway(kind, upstream, timeout_seconds=2)
    warm_page(gw, "pub-slow")
    upstream.delay = 60
    t = time.monotonic()
    r = gw.get(file_path(f), timeout=50)
    elapsed = time.monotonic() - t
    assert r.status_code == 504, (r.status_code, r.text)
    assert elapsed < 20, f"the client waited {elapsed:.1f} s for a 2 s timeout"
    assert upstream_keys(gw) == set()


@both
def test_cached_files_still_install_when_the_upstream_is_down(gateway, upstream, tmp_path, kind):
    upstream.add_wheel("pub-lib", "1.0", upload_time=ago(days=30))
    gw = gateway(kind, upstream)
    srkit.pip_install(gw, ["pub-lib"], tmp_path / "a", tmp_path / "pip")
    upstream.stop()
    srkit.pip_install(gw, ["pub-lib"], tmp_path / "b", tmp_path / "pip2")
    srkit.uv_install(gw, ["pub-lib"], tmp_path / "c", tmp_path / "uv")
    assert srkit.installed(tmp_path / "b") == {"pub-lib": "1.0"}
    assert srkit.installed(tmp_path / "c") == {"pub-lib": "1.0"}


@both
def test_a_client_that_leaves_still_completes_the_cache(gateway, upstream, kind):
    f = upstream.add_wheel("pub-big", "1.0", upload_time=ago(days=30), payload_bytes=120_000)
    gw = gateway(kind, upstream)
    warm_page(gw, "pub-big")
    upstream.drip = (16_384, 0.1)
    with requests.get(gw.url + file_path(f), stream=True, timeout=30) as r:
        assert r.status_code == 200
        next(r.iter_content(1024))
    # the client is gone; the fetch goes on into the cache
    key = blob_key(f)
    assert srkit.wait_until(lambda: key in upstream_keys(gw), 60), upstream_keys(gw)
    upstream.drip = None
    # the fetch's temp file went with it (the metadata's too)
    assert srkit.wait_until(lambda: not fetch_temp_files(gw), 20), fetch_temp_files(gw)
    upstream.stop()
    r = gw.get(file_path(f))
    assert r.status_code == 200 and r.content == f.data
    assert file_fetches(upstream, f) == 1


@both
def test_the_first_requester_gets_bytes_while_the_upstream_still_sends(gateway, upstream, kind):
    f = upstream.add_wheel("pub-stream", "1.0", upload_time=ago(days=30), payload_bytes=160_000)
    gw = gateway(kind, upstream)
    warm_page(gw, "pub-stream")
    upstream.drip = (16_384, 0.2)  # about 2 s for the whole file
    started = time.monotonic()
    with requests.get(gw.url + file_path(f), stream=True, timeout=60) as r:
        assert r.status_code == 200
        first = next(r.iter_content(1024))
        first_at = time.monotonic() - started
        rest = b"".join(r.iter_content(65536))
        whole_at = time.monotonic() - started
    upstream.drip = None
    assert first + rest == f.data
    # the first bytes came long before the upstream finished (a gateway that fetched the whole
    # file first answered after it)
    assert first_at < whole_at / 2, (first_at, whole_at)
    assert whole_at > 1.0, whole_at


@both
def test_concurrent_first_requests_fetch_the_file_once(gateway, upstream, kind):
    f = upstream.add_wheel("pub-pop", "1.0", upload_time=ago(days=30), payload_bytes=60_000)
    gw = gateway(kind, upstream)
    warm_page(gw, "pub-pop")
    upstream.drip = (8192, 0.1)
    results = srkit.race([lambda: requests.get(gw.url + file_path(f), timeout=120) for _ in range(6)])
    for r in results:
        assert isinstance(r, requests.Response), srkit.describe(r)
        assert r.status_code == 200 and r.content == f.data
    assert file_fetches(upstream, f) == 1


@both
def test_new_fetches_are_limited_per_address_and_cached_files_are_not(gateway, upstream, kind):
    files = [upstream.add_wheel(f"pub-r{i}", "1.0", upload_time=ago(days=30)) for i in range(3)]
    gw = gateway(kind, upstream, new_fetches_per_minute=2, env={"STRONGROOM_RATE_LIMITS": "true"})
    for f in files:
        warm_page(gw, f.project)
    for f in files[:2]:
        assert gw.get(file_path(f)).status_code == 200
    r = gw.get(file_path(files[2]))
    assert r.status_code == 429, (r.status_code, r.text)
    assert int(r.headers["Retry-After"]) >= 1
    assert file_fetches(upstream, files[2]) == 0
    # cached files are served whatever the count
    for _ in range(5):
        r = gw.get(file_path(files[0]))
        assert r.status_code == 200 and r.content == files[0].data


@both
def test_a_file_past_the_largest_size_is_refused(gateway, upstream, kind):
    f = upstream.add_wheel("pub-huge", "1.0", upload_time=ago(days=30), payload_bytes=50_000)
    gw = gateway(kind, upstream, max_file_bytes=10_000)
    warm_page(gw, "pub-huge")
    r = gw.get(file_path(f))
    assert r.status_code == 403, (r.status_code, r.text)
    assert "upstream.max_file_bytes" in r.text
    assert upstream_keys(gw) == set()


@both
def test_the_cache_cap_evicts_the_least_recently_downloaded(gateway, upstream, kind):
    a = upstream.add_wheel("pub-a", "1.0", upload_time=ago(days=30), payload_bytes=30_000)
    b = upstream.add_wheel("pub-b", "1.0", upload_time=ago(days=30), payload_bytes=30_000)
    cap = max(len(a.data), len(b.data)) + 1000
    gw = gateway(kind, upstream, cache_max_bytes=cap)
    for f in (a, b):
        warm_page(gw, f.project)
    assert gw.get(file_path(a)).content == a.data
    key = blob_key
    assert srkit.wait_until(lambda: key(a) in upstream_keys(gw), 20)
    assert gw.get(file_path(b)).content == b.data
    # b kept, a (least recently downloaded) evicted with its metadata (the collector deletes the
    # file's blob and then its .metadata: wait for both)
    def evicted() -> bool:
        keys = upstream_keys(gw)
        return key(b) in keys and not any(k.startswith(key(a)) for k in keys)

    assert srkit.wait_until(evicted, 20), upstream_keys(gw)
    # the collector (a whole-store scan) keeps the referenced cached file
    gw.cli("admin", "run-jobs")
    assert key(b) in upstream_keys(gw)
    # an evicted file is fetched again on demand
    assert gw.get(file_path(a)).content == a.data
    assert file_fetches(upstream, a) == 2


@both
def test_a_kept_file_downloaded_again_survives_eviction_over_one_that_was_not(gateway, upstream, kind):
    a, b, c = (upstream.add_wheel(f"pub-l{x}", "1.0", upload_time=ago(days=30), payload_bytes=30_000)
               for x in "abc")
    cap = len(a.data) + len(b.data) + 1000
    gw = gateway(kind, upstream, cache_max_bytes=cap)
    for f in (a, b, c):
        warm_page(gw, f.project)
    for f in (a, b):  # a kept first, then b: a is the older (its row, written after its blob)
        assert gw.get(file_path(f)).content == f.data
        assert srkit.wait_until(lambda f=f: f.filename in {r[1] for r in upstream_rows(gw)}, 20)
    # a downloaded again (from the cache, within the same minute), then c is kept: the cap
    # holds two, and b, not a, is the least recently downloaded
    assert gw.get(file_path(a)).content == a.data
    assert file_fetches(upstream, a) == 1
    assert gw.get(file_path(c)).content == c.data

    def evicted() -> bool:
        keys = upstream_keys(gw)
        return blob_key(a) in keys and blob_key(c) in keys and not any(k.startswith(blob_key(b)) for k in keys)

    assert srkit.wait_until(evicted, 20), upstream_keys(gw)
    assert {r[1] for r in upstream_rows(gw)} == {a.filename, c.filename}


@both
def test_a_kept_file_is_not_hashed_per_download_and_fsck_finds_its_damage(gateway, upstream, kind):
    f = upstream.add_wheel("pub-rot", "1.0", upload_time=ago(days=30), payload_bytes=20_000)
    gw = gateway(kind, upstream)
    warm_page(gw, "pub-rot")
    assert gw.get(file_path(f)).content == f.data
    # kept: its row written (after its blob) and its fetch over (until then requests follow it)
    assert srkit.wait_until(lambda: upstream_rows(gw) and not fetch_temp_files(gw), 20)
    damaged = bytearray(f.data)
    damaged[100] ^= 0xFF
    put_object(gw, blob_key(f), bytes(damaged))
    # served as kept: checked once, when it was fetched
    r = gw.get(file_path(f))
    assert r.status_code == 200 and r.content == bytes(damaged)
    # fsck reads every kept copy: the damage is found and, repaired, the copy dropped
    out = fsck(gw)
    assert out.returncode == 1 and finding_kinds(out.stdout) == ["upstream-copy-bad"], srkit.output(out)
    fsck(gw, "--repair")
    assert upstream_rows(gw) == []
    r = gw.get(file_path(f))
    assert r.status_code == 200 and r.content == f.data
    assert file_fetches(upstream, f) == 2


def peak_rss_mb(gw: srkit.Server) -> float:
    assert gw.proc is not None
    with open(f"/proc/{gw.proc.pid}/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


@both
def test_file_urls_on_an_internal_host_are_refused_by_default(gateway, upstream, kind):
    """The fixture's files host is 127.0.0.1 on another port than the index: with the default
    `upstream.file_hosts` that is an internal address, never fetched (before the fix the gateway
    streamed whatever the page's URL named, e.g. a cloud metadata endpoint)."""
    f = upstream.add_wheel("pub-ssrf", "1.0", upload_time=ago(days=30))
    gw = gateway(kind, upstream, file_hosts=None)
    warm_page(gw, "pub-ssrf")
    for path in (file_path(f), file_path(f) + ".metadata"):
        r = gw.get(path)
        assert r.status_code == 502, (path, r.status_code, r.text)
        assert "does not fetch from" in r.text, r.text
    assert file_fetches(upstream, f) == 0
    with upstream.lock:
        assert upstream.hits.get(f.path + ".metadata", 0) == 0
    assert upstream_keys(gw) == set()
    assert upstream_rows(gw) == []


@both
def test_the_pages_size_bounds_the_body_and_is_the_content_length(gateway, upstream, kind):
    f = upstream.add_wheel("pub-size", "1.0", upload_time=ago(days=30), payload_bytes=20_000)
    g = upstream.add_wheel("pub-short", "1.0", upload_time=ago(days=30), payload_bytes=20_000)
    h = upstream.add_wheel("pub-fine", "1.0", upload_time=ago(days=30), payload_bytes=20_000)
    # 4 MB more than the page's size (before the fix: all of it streamed, Content-Length the
    # upstream's); 100 bytes fewer (before: the upstream's length told, a length oracle)
    upstream.corrupt(f.filename, f.data + b"INTERNAL-SECRET-LINE\n" * 200_000)
    upstream.corrupt(g.filename, g.data[:-100])
    gw = gateway(kind, upstream)
    for x in (f, g, h):
        warm_page(gw, x.project)
    for x in (f, g):
        got = b""
        with requests.get(gw.url + file_path(x), stream=True, timeout=30) as r:
            assert r.status_code == 502, (x.filename, r.status_code)
            assert "another size" in r.text, r.text
            got = r.content
        assert b"INTERNAL-SECRET" not in got
    assert srkit.wait_until(lambda: "another size" in gw.stderr_text(), 10)
    r = gw.get(file_path(h))
    assert r.status_code == 200 and r.content == h.data
    assert r.headers["Content-Length"] == str(h.size)
    assert srkit.wait_until(lambda: len(upstream_rows(gw)) == 1, 20)
    assert upstream_rows(gw) == [(h.sha256, h.filename)]


@both
def test_metadata_of_a_file_not_kept_is_one_fetch_kept_alone_and_counts_against_the_budget(gateway, upstream, kind):
    """A resolver reads metadata and never the file: concurrent requests are one fetch, the
    checked metadata is kept on its own (served without the upstream afterwards, file never
    fetched), and only fetches that start count against the budget."""
    f = upstream.add_wheel("pub-meta", "1.0", upload_time=ago(days=30))
    others = [upstream.add_wheel(f"pub-meta{i}", "1.0", upload_time=ago(days=30)) for i in range(4)]
    meta_path = f.path + ".metadata"
    gw = gateway(kind, upstream, new_fetches_per_minute=3, env={"STRONGROOM_RATE_LIMITS": "true"})
    for p in [f, *others]:
        warm_page(gw, p.project)
    upstream.drip = (32, 0.1)
    results = srkit.race([lambda: requests.get(gw.url + file_path(f) + ".metadata", timeout=120)
                          for _ in range(6)])
    for r in results:
        assert isinstance(r, requests.Response), srkit.describe(r)
        assert r.status_code == 200 and r.content == f.metadata
    with upstream.lock:
        assert upstream.hits.get(meta_path, 0) == 1, "concurrent requests were not one fetch"
    upstream.drip = None
    lone = lambda: sql(gw, "SELECT sha256, filename FROM upstream_metadata")  # noqa: E731
    assert srkit.wait_until(lambda: lone() == [(f.sha256, f.filename)], 20), lone()
    key = blob_key(f)
    assert f"{key}.metadata" in upstream_keys(gw) and key not in upstream_keys(gw)
    # kept: asked again, it is served from the blob store, not fetched and not counted
    for _ in range(5):
        r = gw.get(file_path(f) + ".metadata")
        assert r.status_code == 200 and r.content == f.metadata
    with upstream.lock:
        assert upstream.hits.get(meta_path, 0) == 1
    # new fetches count: at most two more fit the budget of 3 (requests of the race above may
    # have taken a place just before joining the fetch another one started), then 429
    codes = [gw.get(file_path(o) + ".metadata").status_code for o in others]
    assert codes[-2:] == [429, 429] and codes.count(200) <= 2 and codes == sorted(codes), codes
    assert file_fetches(upstream, f) == 0
    # and the upstream gone, the kept metadata still answers
    upstream.stop()
    r = gw.get(file_path(f) + ".metadata")
    assert r.status_code == 200 and r.content == f.metadata


@both
def test_metadata_fetches_do_not_hold_their_bodies_in_memory(gateway, upstream, kind):
    """24 files whose PEP 658 metadata is 8 MiB each (a long description does it), asked for at
    once while the upstream sends slowly: before the fix each request buffered its metadata
    whole (about 200 MB at once); now each is streamed from its fetch's temp file."""
    big = b"Metadata-Version: 2.1\nName: x\nVersion: 1.0\n\n" + b"D" * (8 * 1024 * 1024)
    files = [upstream.add_file(f"pub-bigmeta{i}", "1.0", f"pub_bigmeta{i}-1.0-py3-none-any.whl",
                               f"wheel {i}".encode(), metadata=big, upload_time=ago(days=30))
             for i in range(24)]
    gw = gateway(kind, upstream)
    for f in files:
        warm_page(gw, f.project)
    before = peak_rss_mb(gw)
    upstream.drip = (1024 * 1024, 0.3)
    results = srkit.race([lambda f=f: requests.get(gw.url + file_path(f) + ".metadata", timeout=120)
                          for f in files])
    for r in results:
        assert isinstance(r, requests.Response), srkit.describe(r)
        assert r.status_code == 200 and len(r.content) == len(big)
    grown = peak_rss_mb(gw) - before
    assert grown < 90, f"the peak RSS grew by {grown:.0f} MB for 24 metadata fetches"


@both
def test_metadata_read_before_its_file_is_kept_without_a_second_fetch(gateway, upstream, kind):
    f = upstream.add_wheel("pub-order", "1.0", upload_time=ago(days=30))
    meta_path = f.path + ".metadata"
    gw = gateway(kind, upstream)
    warm_page(gw, "pub-order")
    r = gw.get(file_path(f) + ".metadata")
    assert r.status_code == 200 and r.content == f.metadata
    assert gw.get(file_path(f)).content == f.data
    kept_meta = lambda: sql(gw, "SELECT metadata_sha256 FROM upstream_files WHERE has_metadata = 1")  # noqa: E731
    assert srkit.wait_until(kept_meta, 20), upstream_rows(gw)
    # the file took the metadata kept on its own over
    assert sql(gw, "SELECT sha256 FROM upstream_metadata") == []
    assert srkit.wait_until(lambda: not fetch_temp_files(gw), 20), fetch_temp_files(gw)
    with upstream.lock:
        assert upstream.hits.get(meta_path, 0) == 1
    upstream.stop()
    r = gw.get(file_path(f) + ".metadata")
    assert r.status_code == 200 and r.content == f.metadata
