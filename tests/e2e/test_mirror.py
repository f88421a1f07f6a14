"""bandersnatch (6.x) mirrors the index: it lists projects and serials from the /simple/ JSON
(api-method = simple, which reads `_last-serial`) or from XML-RPC (api-method = xmlrpc, its default:
list_packages_with_serial, changelog_since_serial), fetches /pypi/<p>/json, checks
X-PyPI-Last-Serial against the serial it expects, downloads every file and writes simple pages."""

from __future__ import annotations

import functools
import http.server
import json
import sys
import threading
import urllib.parse
from pathlib import Path

import pytest

import srkit


def bandersnatch_conf(tmp: Path, server: srkit.Server, mirror: Path, api_method: str) -> Path:
    conf = tmp / "bandersnatch.conf"
    conf.write_text(
        "[mirror]\n"
        f"directory = {mirror}\n"
        f"master = {server.url}\n"
        "allow-non-https = true\n"
        f"api-method = {api_method}\n"
        "json = true\n"
        "release-files = true\n"
        "simple-format = ALL\n"
        "hash-index = false\n"
        "workers = 1\n"
        "stop-on-error = true\n"
        "timeout = 30\n"
        "global-timeout = 300\n"
        "storage-backend = filesystem\n"
        "compare-method = hash\n"
        "digest_name = sha256\n"
        "verifiers = 1\n"
        "\n[plugins]\nenabled =\n"
    )
    return conf


def mirror_once(conf: Path, tmp: Path):
    proc = srkit.run([srkit.tool("bandersnatch"), "-c", str(conf), "mirror"], env=srkit.client_env(tmp),
                     timeout=300, check=False)
    out = srkit.output(proc)
    assert proc.returncode == 0, out[-6000:]
    return out


def check_mirror(server: srkit.Server, mirror: Path, projects: list[str]) -> None:
    web = mirror / "web"
    for p in projects:
        doc = server.get(f"/pypi/{p}/json").json()
        for files in doc["releases"].values():
            for f in files:
                path = urllib.parse.urlsplit(f["url"]).path.lstrip("/")
                local = web / path
                assert local.is_file(), f"{local} was not mirrored"
                assert srkit.sha256(local.read_bytes()) == f["digests"]["sha256"]
        assert (web / "simple" / p / "index.html").is_file()
        mirrored = json.loads((web / "simple" / p / "index.v1_json").read_text())
        assert {f["filename"] for f in mirrored["files"]} == {
            f["filename"] for files in doc["releases"].values() for f in files}
        assert json.loads((web / "json" / p).read_text())["info"]["name"] == doc["info"]["name"]
    assert int((mirror / "status").read_text().strip()) == server.global_serial()


@pytest.mark.parametrize("api_method", ["simple", "xmlrpc"])
def test_bandersnatch_mirrors_the_index_and_then_syncs_only_changes(server, dists, tmp_path, api_method):
    token = server.user_with_token("alice")
    srkit.twine_upload(server, token, [*dists.demo_v1, *dists.app_v1, *dists.yank_v1], tmp_path)
    mirror = tmp_path / "mirror"
    conf = bandersnatch_conf(tmp_path, server, mirror, api_method)

    mirror_once(conf, tmp_path)
    check_mirror(server, mirror, ["sr-demo", "sr-app", "sr-yank"])

    # a new release: the next run picks it up through the changed `_last-serial`
    srkit.twine_upload(server, token, dists.yank_v11, tmp_path)
    out = mirror_once(conf, tmp_path)
    check_mirror(server, mirror, ["sr-demo", "sr-app", "sr-yank"])
    assert "sr-yank" in out or "sr_yank" in out
    yank_files = {p.name for p in (mirror / "web" / "packages").rglob("sr_yank-1.1*")}
    assert yank_files == {p.name for p in dists.yank_v11}

    # pip installs from the mirrored tree served as static files: the mirror is complete
    handler = functools.partial(QuietHandler, directory=str(mirror / "web"))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        target = tmp_path / "from-mirror"
        index = f"http://127.0.0.1:{httpd.server_address[1]}/simple/"
        srkit.pip(["install", "--no-cache-dir", "--index-url", index, "--target", str(target), "sr-app"], tmp_path)
        assert srkit.installed(target) == {"sr-app": "1.0", "sr-demo": "1.0"}
    finally:
        httpd.shutdown()
        httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# bandersnatch's `verify` and `delete` refuse an http:// master (its `mirror` honours
# `allow-non-https`, they do not): run the real command with only that check lifted, for the
# loopback test server.
VERIFY_OVER_HTTP = """
import sys
import bandersnatch.master as master
from bandersnatch.main import main
plain = master.Master.__init__
def allow_http(self, *args, **kw):
    kw["allow_non_https"] = True
    plain(self, *args, **kw)
master.Master.__init__ = allow_http
sys.argv = ["bandersnatch", *sys.argv[1:]]
sys.exit(main())
"""


@pytest.mark.parametrize("api_method", ["simple", "xmlrpc"])
def test_a_quarantined_project_leaves_the_mirror(server, tmp_path, api_method):
    """The mirror learns of a quarantine and drops the project's files. bandersnatch's `mirror`
    never deletes (a project that answers 404 is logged and kept: pypa/bandersnatch#1273); what
    drops files is its garbage collection, `verify --json-update --delete`, which re-reads every
    mirrored project's JSON and deletes the files no live project owns. With XML-RPC the sync
    itself re-reads the project, because the quarantine's journal entry names it."""
    token = server.user_with_token("alice")
    bad = [srkit.make_wheel("vz-bad", "1.0"), srkit.make_sdist("vz-bad", "1.0")]
    good = [srkit.make_wheel("vz-good", "1.0"), srkit.make_sdist("vz-good", "1.0")]
    for d in bad + good:
        srkit.ok_upload(server, token, d)
    mirror = tmp_path / "mirror"
    web = mirror / "web"
    conf = bandersnatch_conf(tmp_path, server, mirror, api_method)
    mirror_once(conf, tmp_path)
    check_mirror(server, mirror, ["vz-bad", "vz-good"])

    server.cli("admin", "quarantine", "vz-bad", "--reason", "malware report")
    assert srkit.settled(server, lambda: server.get("/pypi/vz-bad/json").status_code == 404)
    out = mirror_once(conf, tmp_path)
    if api_method == "xmlrpc":
        assert "vz-bad no longer exists" in out, out[-4000:]
        assert int((mirror / "status").read_text().strip()) == server.global_serial()
    proc = srkit.run([sys.executable, "-c", VERIFY_OVER_HTTP, "-c", str(conf), "verify", "--json-update", "--delete"],
                     env=srkit.client_env(tmp_path), timeout=300, check=False)
    assert proc.returncode == 0, srkit.output(proc)[-6000:]
    assert "vz-bad" in srkit.output(proc)
    for d in bad:
        assert not (web / d.path.lstrip("/")).exists(), f"{d.filename} is still on the mirror"
    assert not (web / "json" / "vz-bad").exists()
    # (In simple mode the mirror's serial stays at the last one the index lists: the quarantine's
    # entry belongs to a project the index no longer shows.)
    for d in good:
        assert (web / d.path.lstrip("/")).read_bytes() == d.data
    left = {p.name for p in (web / "packages").rglob("*") if p.is_file() and not p.name.endswith(".metadata")}
    assert left == {d.filename for d in good}, left
