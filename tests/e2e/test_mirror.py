"""bandersnatch (6.x) mirrors the index: it lists projects and serials from the /simple/ JSON
(api-method = simple, which reads `_last-serial`) or from XML-RPC (api-method = xmlrpc, its default:
list_packages_with_serial, changelog_since_serial), fetches /pypi/<p>/json, checks
X-PyPI-Last-Serial against the serial it expects, downloads every file and writes simple pages."""

from __future__ import annotations

import functools
import http.server
import json
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
