"""Downloads of a file several read chunks long (issue 14): Range requests of every form against
the bytes uploaded, If-Range, and the damaged-blob guarantee after a download has set the blob's
verified mark (a later change to the stored copy is still never served whole). Both backends
(a local folder on SQLite, S3 on PostgreSQL).
"""

from __future__ import annotations

import os

import pytest
import requests

import srkit
from test_fsck import put_object, signals, tamper

# Over two 1 MiB read chunks and not a multiple of any chunk size.
SIZE = 2 * 1024 * 1024 + 12_345


@pytest.fixture
def big(server):
    token = server.user_with_token("alice")
    dist = srkit.make_wheel("sr-ranges", "1.0", payload=os.urandom(SIZE))
    srkit.ok_upload(server, token, dist)
    return server, dist


def get(server: srkit.Server, dist: srkit.Dist, **headers: str) -> requests.Response:
    return requests.get(server.url + dist.path, headers=headers, timeout=60)


def test_range_requests_of_every_form_return_the_right_bytes(big):
    server, dist = big
    data, n = dist.data, len(dist.data)
    whole = get(server, dist)
    assert whole.status_code == 200 and whole.content == data
    etag = whole.headers["ETag"]
    cases = {
        # one range across the first chunk boundary
        f"bytes={1024 * 1024 - 10}-{1024 * 1024 + 9}": (1024 * 1024 - 10, 1024 * 1024 + 9),
        # open range from inside the second chunk
        f"bytes={n - 1_500_000}-": (n - 1_500_000, n - 1),
        # suffix ranges: a part, and one longer than the file (the whole file)
        "bytes=-70000": (n - 70_000, n - 1),
        f"bytes=-{n + 5}": (0, n - 1),
        # an end past the file is cut to the file
        f"bytes=5-{n * 2}": (5, n - 1),
        "bytes=0-0": (0, 0),
    }
    for spec, (a, b) in cases.items():
        r = get(server, dist, Range=spec)
        assert r.status_code == 206, (spec, r.status_code)
        assert r.headers["Content-Range"] == f"bytes {a}-{b}/{n}", spec
        assert int(r.headers["Content-Length"]) == b - a + 1, spec
        assert r.content == data[a:b + 1], spec
        assert r.headers["ETag"] == etag
    for spec in (f"bytes={n}-", f"bytes={n + 100}-{n + 200}", "bytes=-0"):
        r = get(server, dist, Range=spec)
        assert r.status_code == 416, spec
        assert r.headers["Content-Range"] == f"bytes */{n}", spec
        assert not r.content
    # If-Range: the file's own ETag keeps the range; another tag or a date gets the whole file.
    r = get(server, dist, Range="bytes=100-199", **{"If-Range": etag})
    assert r.status_code == 206 and r.content == data[100:200]
    for other in ('"0000"', "W/" + etag, "Sat, 05 Dec 2026 10:00:00 GMT"):
        r = get(server, dist, Range="bytes=100-199", **{"If-Range": other})
        assert r.status_code == 200 and r.content == data, other
    # HEAD says the length and sends nothing
    h = requests.head(server.url + dist.path, timeout=30)
    assert h.status_code == 200 and int(h.headers["Content-Length"]) == n and not h.content


def read_all(server: srkit.Server, dist: srkit.Dist) -> tuple[bytes, bool]:
    """The body as far as it came, and whether it was cut short."""
    got = b""
    try:
        with requests.get(server.url + dist.path, stream=True, timeout=60) as resp:
            assert resp.status_code == 200
            for chunk in resp.iter_content(65536):
                got += chunk
    except requests.exceptions.RequestException:
        return got, True
    return got, False


def test_a_blob_changed_after_a_whole_download_is_still_never_served_whole(big, backend_kind):
    server, dist = big
    # Twice: the first download checks and marks the stored copy, the second is served by the mark.
    for _ in range(2):
        got, cut = read_all(server, dist)
        assert (got == dist.data, cut) == (True, False)
    path = server.data_dir / "files" / dist.path.removeprefix("/packages/")
    before = None if server.backend.s3 else os.stat(path)
    tampered = tamper(server, dist)
    if before is not None:
        # Same size, and the modification time put back: the change time still differs.
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    for _ in range(2):
        got, cut = read_all(server, dist)
        assert cut and len(got) < len(tampered), "the changed blob was sent whole"
        assert got == tampered[: len(got)]
    assert srkit.wait_until(lambda: signals(server, "blob:damaged") == [dist.filename], 15), \
        signals(server, "blob:damaged")


def test_a_damaged_metadata_file_is_refused_before_any_byte_and_signalled(server):
    """A small PEP 658 file is read whole and checked before it is sent (then kept in memory):
    damaged in the store, it answers 503 with a reason, never a byte of it, and raises the
    signal; the file's own download is untouched. Restored, it is served again."""
    token = server.user_with_token("alice")
    dist = srkit.make_wheel("sr-meta-damaged", "1.0")
    srkit.ok_upload(server, token, dist)
    key = dist.path.removeprefix("/packages/") + ".metadata"
    bad = bytearray(dist.metadata)
    bad[len(bad) // 2] ^= 0xFF
    put_object(server, key, bytes(bad))
    for _ in range(2):
        resp = requests.get(server.url + dist.path + ".metadata", timeout=30)
        assert resp.status_code == 503 and "damaged" in resp.text, (resp.status_code, resp.text[:200])
        assert resp.content != bytes(bad)
    assert srkit.wait_until(lambda: signals(server, "blob:damaged") == [dist.filename], 15), \
        signals(server, "blob:damaged")
    assert get(server, dist).content == dist.data
    put_object(server, key, dist.metadata)
    for _ in range(2):
        resp = requests.get(server.url + dist.path + ".metadata", timeout=30)
        assert resp.status_code == 200 and resp.content == dist.metadata
    part = requests.get(server.url + dist.path + ".metadata", headers={"Range": "bytes=2-9"}, timeout=30)
    assert part.status_code == 206 and part.content == dist.metadata[2:10], part.status_code
