"""Synthetic data for the scale benchmarks (issue 14): `strongroom admin generate-synthetic`,
hidden from the help, fills a started server's database through the store; pip installs a sampled
project (real wheel bytes) from it, and every other synthetic file has no bytes (its download
answers 503, as a missing blob does, and fsck reports it). On both backends.
"""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import time

import requests

import srkit


def test_generated_index_serves_and_installs_a_sampled_wheel(server, tmp_path):
    helps = [server.cli("--help"), server.cli("admin", "--help")]
    assert all("generate-synthetic" not in srkit.output(h) for h in helps)

    gen = server.cli("admin", "generate-synthetic", "--projects", "40", "--files-per-project", "3",
                     "--blobs-sample", "2", "--seed", "5")
    out = gen.stdout
    assert re.search(r"generated 40 projects, 80 releases, 120 files, 240 journal entries, 160 events", out), out
    samples = [ln.split()[1:] for ln in out.splitlines() if ln.startswith("sample ")]
    assert len(samples) == 2, out

    # a second run without --append is refused and adds nothing
    again = server.cli("admin", "generate-synthetic", "--projects", "3", check=False)
    assert again.returncode != 0 and "--append" in srkit.output(again), srkit.output(again)
    root = server.get("/simple/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert root.status_code == 200 and len(root.json()["projects"]) == 40, root.text[:300]

    name, version, filename = samples[0]
    target = tmp_path / "target"
    srkit.pip_install(server, [f"{name}=={version}"], target, tmp_path)
    module = name.replace("-", "_")
    init = (target / module / "__init__.py").read_text()
    assert f'__version__ = "{version}"' in init, init
    assert (target / f"{module}-{version}.dist-info" / "METADATA").exists()

    # the project page lists every file of the project; a file outside the sample has no bytes
    files = server.project_files(name)
    assert len(files) == 3 and filename in {f["filename"] for f in files}, files
    other = next(f for f in files if f["filename"] != filename)
    assert requests.get(other["url"], timeout=30).status_code == 503

    fsck = server.cli("admin", "fsck", check=False)
    assert fsck.returncode == 1, srkit.output(fsck)
    lines = [ln for ln in fsck.stdout.splitlines() if ln.strip()]
    missing = [ln for ln in lines if ln.startswith("blob-missing")]
    assert len(missing) == 118, srkit.output(fsck)
    assert not any(s[2] in ln for s in samples for ln in missing), srkit.output(fsck)


def test_an_index_larger_than_one_run_is_streamed_compressed_then_kept(server):
    """`/simple/` of more projects than one run (`root_index::RUN`, 5,000): the first answer is
    streamed (chunked, no Content-Length), gzip-compressed for a client that accepts it, and
    the same document as the kept copy the next request gets; its ETag answers 304."""
    gen = server.cli("admin", "generate-synthetic", "--projects", "12000", "--files-per-project", "1",
                     "--blobs-sample", "0", "--seed", "9")
    assert "generated 12000 projects" in gen.stdout, srkit.output(gen)
    # past the staleness bound (1 s), the server has seen the other process's writes: a page
    # is kept only when no change came in while it was read
    time.sleep(1.5)

    json_gzip = {"Accept": "application/vnd.pypi.simple.v1+json", "Accept-Encoding": "gzip"}
    streamed = server.get("/simple/", headers=json_gzip, stream=True)
    assert streamed.status_code == 200, streamed.text[:300]
    assert streamed.headers.get("Content-Encoding") == "gzip", streamed.headers
    assert streamed.headers.get("Transfer-Encoding") == "chunked", streamed.headers
    assert "Content-Length" not in streamed.headers, streamed.headers
    raw = streamed.raw.read(decode_content=False)
    doc = json.loads(gzip.decompress(raw))
    names = [p["name"] for p in doc["projects"]]
    assert len(names) == 12000 and len(set(names)) == 12000, len(names)
    normalized = [re.sub(r"[-_.]+", "-", n).lower() for n in names]
    assert normalized == sorted(normalized)
    assert doc["meta"]["_last-serial"] == int(streamed.headers["X-PyPI-Last-Serial"]) > 0

    kept = server.get("/simple/", headers=json_gzip)
    assert kept.status_code == 200 and "Content-Length" in kept.headers, kept.headers
    assert kept.json() == doc
    # the stream was compressed run by run, the kept copy whole: the same page in other bytes,
    # so the streamed answer's tag is the weak form of the kept one's
    assert streamed.headers["ETag"] == "W/" + kept.headers["ETag"], (streamed.headers, kept.headers)
    assert kept.headers["ETag"].endswith('-gzip"'), kept.headers
    again = server.get("/simple/", headers={**json_gzip, "If-None-Match": streamed.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""

    # the HTML page is not kept yet: a client that has it at this serial still gets a 304,
    # with the tag of any coding it takes (the kept copy may have fewer than a stream)
    html_etag = kept.headers["ETag"].replace("-json-", "-html-")
    for tag in (html_etag, "W/" + html_etag, html_etag.replace("-gzip", "-zstd")):
        unchanged = server.get("/simple/", headers={"Accept": "text/html", "Accept-Encoding": "gzip, zstd",
                                                    "If-None-Match": tag})
        assert unchanged.status_code == 304 and unchanged.headers["ETag"] == tag.removeprefix("W/"), \
            (tag, unchanged.headers)

    # the HTML page, streamed in Zstandard to a client that prefers it (uv asks for it), then
    # kept: plain to a client that does not ask for any coding, the same bytes
    html_z = server.get("/simple/", headers={"Accept": "text/html", "Accept-Encoding": "gzip;q=0.5, zstd"},
                        stream=True)
    assert html_z.status_code == 200 and html_z.headers.get("Content-Encoding") == "zstd", html_z.headers
    assert html_z.headers.get("Transfer-Encoding") == "chunked", html_z.headers
    streamed_html = unzstd(html_z.raw.read(decode_content=False))
    html = server.get("/simple/", headers={"Accept": "text/html", "Accept-Encoding": "identity"})
    assert html.status_code == 200 and "Content-Encoding" not in html.headers, html.headers
    assert "Content-Length" in html.headers and html.content == streamed_html
    assert html.text.count('<a href="/simple/') == 12000, html.text[-300:]
    assert html.text.endswith(f"<!--SERIAL {doc['meta']['_last-serial']}-->"), html.text[-100:]
    # the tag of a coding the client does not take revalidates nothing
    other = server.get("/simple/", headers={"Accept": "text/html", "Accept-Encoding": "gzip",
                                            "If-None-Match": html_etag.replace("-gzip", "-zstd")})
    assert other.status_code == 200 and other.headers["ETag"] == html_etag, other.headers


def unzstd(data: bytes) -> bytes:
    """Decode with the reference `zstd` tool (scripts/test.sh installs it), not the server's
    own library."""
    out = subprocess.run(["zstd", "-d", "-c", "-q"], input=data, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout


def test_a_big_project_page_goes_zstd_to_uv_and_gzip_to_pip_and_both_install(server, tmp_path):
    """A page of at least 16 KiB (`cache::ZSTD_MIN`: here a project of 80 files) is kept with
    a Zstandard copy beside its gzip one. uv asks for `gzip, deflate, zstd` and gets zstd; pip
    asks for `gzip, deflate` and gets gzip; both decode to the page, and both install from it.
    A small page has no zstd copy and goes gzip."""
    gen = server.cli("admin", "generate-synthetic", "--projects", "2", "--files-per-project", "80",
                     "--blobs-sample", "1", "--seed", "11")
    samples = [ln.split()[1:] for ln in gen.stdout.splitlines() if ln.startswith("sample ")]
    assert len(samples) == 1, srkit.output(gen)
    name, version, _ = samples[0]
    time.sleep(1.5)  # past the staleness bound: the other process's writes are seen

    page = f"/simple/{name}/"
    as_json = {"Accept": "application/vnd.pypi.simple.v1+json"}
    plain = server.get(page, headers={**as_json, "Accept-Encoding": "identity"})
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers, plain.headers
    assert len(plain.content) >= 16 * 1024, len(plain.content)
    for accept, coding in [("gzip, deflate, zstd", "zstd"), ("gzip, deflate", "gzip"),
                           ("zstd;q=0, gzip", "gzip"), ("zstd;q=0.1, gzip;q=0.2", "gzip")]:
        r = server.get(page, headers={**as_json, "Accept-Encoding": accept}, stream=True)
        assert r.status_code == 200 and r.headers.get("Content-Encoding") == coding, (accept, r.headers)
        assert "Accept-Encoding" in r.headers.get("Vary", ""), r.headers
        # each coding is its own strong ETag: the page's, with the coding inside the quotes
        assert r.headers["ETag"] == plain.headers["ETag"][:-1] + f'-{coding}"', r.headers
        raw = r.raw.read(decode_content=False)
        decoded = unzstd(raw) if coding == "zstd" else gzip.decompress(raw)
        assert decoded == plain.content, accept
        if coding == "zstd":
            assert raw[:4] == b"\x28\xb5\x2f\xfd", raw[:8]  # a Zstandard frame

    # a small page (the root of two projects, under 16 KiB) has no zstd copy
    small = server.get("/simple/", headers={**as_json, "Accept-Encoding": "zstd"})
    assert small.status_code == 200 and "zstd" not in small.headers.get("Content-Encoding", ""), small.headers

    for install in (srkit.uv_install, srkit.pip_install):
        target = tmp_path / install.__name__
        install(server, [f"{name}=={version}"], target, tmp_path)
        assert srkit.installed(target).get(srkit.normalize(name)) == version, install.__name__


def test_a_small_page_kept_only_compressed_is_the_same_page_to_every_client(server):
    """A page under 16 KiB (`packed::PACKED_MAX`) is kept only as its gzip copy. A client that
    takes no compression (curl without --compressed) gets the page made from it: the same
    bytes as the gzip answer decoded, the same length, and the ETag of its own coding."""
    gen = server.cli("admin", "generate-synthetic", "--projects", "1", "--files-per-project", "12",
                     "--blobs-sample", "0", "--seed", "5")
    assert gen.returncode == 0, srkit.output(gen)
    time.sleep(1.5)  # past the staleness bound: the other process's writes are seen
    listed = server.get("/simple/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
    name = listed["projects"][0]["name"]
    for accept in ("application/vnd.pypi.simple.v1+json", "text/html"):
        page = f"/simple/{srkit.normalize(name)}/"
        zipped = server.get(page, headers={"Accept": accept, "Accept-Encoding": "gzip"}, stream=True)
        assert zipped.headers.get("Content-Encoding") == "gzip", zipped.headers
        raw = zipped.raw.read(decode_content=False)
        rendered = gzip.decompress(raw)
        assert 1024 < len(rendered) < 16 * 1024 and len(raw) < len(rendered), (len(raw), len(rendered))
        for _ in range(2):  # the second from the cache
            plain = server.get(page, headers={"Accept": accept, "Accept-Encoding": "identity"})
            assert plain.status_code == 200 and "Content-Encoding" not in plain.headers, plain.headers
            assert plain.content == rendered, accept
            assert zipped.headers["ETag"] == plain.headers["ETag"][:-1] + '-gzip"', zipped.headers
            assert int(plain.headers["Content-Length"]) == len(rendered)
        # a tag names one coding's bytes: it revalidates that answer, never the other one
        for tag, enc, status in [(zipped.headers["ETag"], "gzip", 304), (plain.headers["ETag"], "identity", 304),
                                 (zipped.headers["ETag"], "identity", 200), (plain.headers["ETag"], "gzip", 200)]:
            r = server.get(page, headers={"Accept": accept, "Accept-Encoding": enc, "If-None-Match": tag})
            assert r.status_code == status, (tag, enc, r.status_code)
        head = requests.head(server.url + page, headers={"Accept": accept, "Accept-Encoding": "identity"},
                             timeout=30)
        assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(rendered), head.headers
