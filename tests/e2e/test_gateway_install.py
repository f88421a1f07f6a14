"""The gateway as its users meet it (issue 12): one index URL for private and public projects.

The upstream is, in turn, the PyPI-shaped static index of `tests/tools/upstream_fixture.py` (its
files on a second host, as files.pythonhosted.org is, with upload times in the past and the
present) and a second strongroom. Every test runs on both backends.

- pip and uv resolve and install, through the gateway alone, a tree that mixes private projects
  (uploaded to the gateway) and upstream ones; every installed file's bytes are the bytes its index
  published; the public pages pass their fields through (hashes, size, upload time, Requires-Python,
  yanked and its reason, PEP 658 metadata) with file URLs on strongroom, and neither client ever
  talks to the upstream's hosts itself.
- Dependency confusion: the upstream publishes a local name, a removed local name, a quarantined
  one, a prohibited one and a name of a reserved pattern (`upstream.private_patterns`) at a higher
  version. pip and uv install the local release or nothing, the upstream is never asked for those
  names while serving, and once the name-conflict job ran the admin start page shows the signal. A
  public name installs through the same gateway, so the refusals cannot pass because no gateway is
  there.
- bandersnatch mirroring the gateway gets the local projects only, even after upstream projects
  were installed (and so cached) through it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import urllib.parse
import xmlrpc.client
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import srkit
import upstream_fixture
from test_mirror import bandersnatch_conf, mirror_once
from upstream_fixture import SIMPLE_JSON, ago
from webclient import Web

both = pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])
sources = pytest.mark.parametrize("source", ["static", "strongroom"])
ADMIN_PW = "correct horse battery staple 42"


# --------------------------------------------------------------------------------------------
# the public index: the static fixture or a second strongroom


@dataclass
class PublicIndex:
    """Where public projects are published. `files[filename] = bytes` records what was published."""

    source: str
    upstream: upstream_fixture.Upstream | None = None
    server: srkit.Server | None = None
    token: str = ""
    files: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def start(cls, source: str, kind: str, strongroom, upstream) -> PublicIndex:
        if source == "static":
            return cls(source, upstream=upstream)
        server = strongroom(kind)
        return cls(source, server=server, token=server.user_with_token("publisher"))

    @property
    def target(self):
        return self.upstream if self.upstream is not None else self.server

    def publish(self, name: str, version: str, *, requires=(), upload_time: dt.datetime | None = None,
                yanked: str | None = None, salt: str = "") -> str:
        """A wheel of NAME VERSION; `upload_time` applies to the static index (a second strongroom
        stamps its own time: the present)."""
        if self.upstream is not None:
            f = self.upstream.add_wheel(name, version, requires=requires, upload_time=upload_time or ago(days=400),
                                        yanked=yanked or False, salt=salt)
            self.files[f.filename] = f.data
            return f.filename
        dist = srkit.make_wheel(name, version, requires_dist=list(requires), requires_python=">=3.8",
                                payload=f"public {salt}")
        srkit.ok_upload(self.server, self.token, dist)
        if yanked:
            self.server.yank(name, version, yanked)
        self.files[dist.filename] = dist.data
        return dist.filename

    def clients_seen(self) -> list[str]:
        """User agents of every request the static index's two hosts got."""
        assert self.upstream is not None
        return [h.get("User-Agent", "") for _, _, _, h in self.upstream.log]


def local_publish(server: srkit.Server, token: str, name: str, version: str, requires=()) -> srkit.Dist:
    dist = srkit.make_wheel(name, version, requires_dist=list(requires), requires_python=">=3.8",
                            payload=f"private {name} {version}")
    srkit.ok_upload(server, token, dist)
    return dist


def assert_installed_bytes(target: Path, wheels: dict[str, bytes]) -> None:
    """Every installed dist's files (outside .dist-info) are byte for byte those of a published
    wheel of that name and version."""
    got = srkit.installed(target)
    by_key = {}
    for data in wheels.values():
        meta = srkit.wheel_metadata(data).decode()
        key = (srkit.normalize(meta.split("\nName: ")[1].split("\n")[0]), meta.split("\nVersion: ")[1].split("\n")[0])
        by_key[key] = data
    for name, version in got.items():
        data = by_key.get((name, version))
        assert data is not None, f"{name} {version} installed, but no index published it ({sorted(by_key)})"
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for member in zf.namelist():
                if ".dist-info/" in member:
                    continue
                assert (target / member).read_bytes() == zf.read(member), f"{member} of {name} {version} differs"


def admin_web(server: srkit.Server) -> Web:
    server.create_user("root", ADMIN_PW, admin=True)
    web = Web(server.url)
    web.login("root", ADMIN_PW)
    assert web.logged_in()
    return web


# --------------------------------------------------------------------------------------------
# a tree of private and upstream projects


def publish_tree(index: PublicIndex, gw: srkit.Server, token: str) -> dict[str, bytes]:
    """Public: pub-util 1.0 (a year old) and 1.1 (uploaded now), pub-lib 1.0 (needs pub-util) and
    a yanked pub-lib 2.0. Private: corp-app (needs corp-core and pub-lib), corp-core (needs
    pub-util). Returns every published wheel by filename."""
    index.publish("pub-util", "1.0", upload_time=ago(days=400))
    index.publish("pub-util", "1.1", upload_time=ago(seconds=30))
    index.publish("pub-lib", "1.0", requires=["pub-util>=1.0"], upload_time=ago(days=200))
    index.publish("pub-lib", "2.0", requires=["pub-util>=1.0"], upload_time=ago(days=10), yanked="broken build")
    wheels = dict(index.files)
    for d in (local_publish(gw, token, "corp-core", "1.0", ["pub-util>=1.0"]),
              local_publish(gw, token, "corp-app", "1.0", ["corp-core>=1.0", "pub-lib>=1.0"])):
        wheels[d.filename] = d.data
    return wheels


TREE = {"corp-app": "1.0", "corp-core": "1.0", "pub-lib": "1.0", "pub-util": "1.1"}


@both
@sources
def test_pip_and_uv_install_a_tree_mixing_private_and_upstream_projects(gateway, strongroom, upstream, tmp_path,
                                                                        kind, source):
    index = PublicIndex.start(source, kind, strongroom, upstream)
    gw = gateway(kind, index.target)
    wheels = publish_tree(index, gw, gw.user_with_token("corp"))

    # the public pages on the gateway: the upstream's fields, files linked on strongroom
    for project in ("pub-util", "pub-lib"):
        ours = {f["filename"]: f for f in gw.project_files(project)}
        if source == "static":
            theirs = {f["filename"]: f for f in requests_json(upstream.simple_url + f"{project}/")["files"]}
        else:
            theirs = {f["filename"]: f for f in index.server.simple_json(project).json()["files"]}
        assert set(ours) == set(theirs), (ours, theirs)
        for fn, f in ours.items():
            t = theirs[fn]
            assert f["url"].startswith(gw.url + "/upstream/files/"), f["url"]
            assert f["hashes"]["sha256"] == t["hashes"]["sha256"] == srkit.sha256(wheels[fn])
            assert f["size"] == t["size"] == len(wheels[fn])
            assert f["requires-python"] == t["requires-python"] == ">=3.8"
            assert f["yanked"] == t["yanked"], fn
            assert f["core-metadata"] == t["core-metadata"] == {"sha256": srkit.sha256(srkit.wheel_metadata(wheels[fn]))}
            assert parse_time(f["upload-time"]) == parse_time(t["upload-time"]), fn
    assert {f["yanked"] for f in gw.project_files( "pub-lib")} == {False, "broken build"}

    # pip: download (bytes compared file by file) and install; uv: install
    dest = tmp_path / "dl"
    srkit.pip(["download", "--no-cache-dir", "--index-url", gw.simple_url, "--dest", str(dest), "corp-app"],
              tmp_path / "pip-dl")
    got = {p.name: p.read_bytes() for p in dest.iterdir()}
    assert set(got) == {fn for fn in wheels if wheel_key(fn) in TREE.items()}, sorted(got)
    for fn, data in got.items():
        assert data == wheels[fn], f"{fn}: the bytes pip got through the gateway are not the published ones"

    pip_target, uv_target = tmp_path / "pip-target", tmp_path / "uv-target"
    srkit.pip_install(gw, ["corp-app"], pip_target, tmp_path / "pip")
    srkit.uv_install(gw, ["corp-app"], uv_target, tmp_path / "uv")
    for target in (pip_target, uv_target):
        assert srkit.installed(target) == TREE
        assert_installed_bytes(target, wheels)

    # the JSON API knows the upstream project too
    doc = gw.get("/pypi/pub-util/json").json()
    assert doc["info"]["version"] == "1.1" and set(doc["releases"]) == {"1.0", "1.1"}

    if source == "static":
        # the clients reached the upstream through strongroom only
        agents = index.clients_seen()
        assert agents, "the gateway never asked the upstream"
        assert not [a for a in agents if a.startswith(("pip/", "uv/"))], agents


def wheel_key(filename: str) -> tuple[str, str]:
    """(normalised name, version) of a wheel's filename."""
    name, version = filename.split("-")[:2]
    return srkit.normalize(name), version


def requests_json(url: str) -> dict:
    import requests

    resp = requests.get(url, headers={"Accept": SIMPLE_JSON}, timeout=30)
    assert resp.status_code == 200, resp.status_code
    return resp.json()


def parse_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


# --------------------------------------------------------------------------------------------
# dependency confusion


PRIVATE = ["corp-core", "corp-gone", "corp-held", "corp-banned", "acme-secret"]


@both
@sources
def test_private_names_never_resolve_upstream_and_the_conflict_is_signalled(gateway, strongroom, upstream, tmp_path,
                                                                          kind, source):
    index = PublicIndex.start(source, kind, strongroom, upstream)
    gw = gateway(kind, index.target, private_patterns=["acme-*", "acme_*"])
    token = gw.user_with_token("corp")
    local = local_publish(gw, token, "corp-core", "1.0")
    local_publish(gw, token, "corp-gone", "1.0")
    local_publish(gw, token, "corp-held", "1.0")
    gw.cli("admin", "remove", "corp-gone", "--reason", "retired")
    gw.cli("admin", "quarantine", "corp-held", "--reason", "investigating")
    gw.cli("admin", "prohibit", "corp-banned", "--reason", "reserved for the platform team")

    # the attacker publishes every private name upstream, at a higher version, the day before
    for name in PRIVATE:
        index.publish(name, "9.0", upload_time=ago(days=1), salt="attacker")
    index.publish("pub-lib", "1.0", upload_time=ago(days=100))
    if source == "static":
        upstream.reset_counts()

    # the gateway serves upstream projects (so what follows is not the absence of a gateway) ...
    srkit.pip_install(gw, ["pub-lib"], tmp_path / "pub", tmp_path / "pip-pub")
    assert srkit.installed(tmp_path / "pub") == {"pub-lib": "1.0"}

    # ... but a local name is the local release, whatever the upstream has
    for tool, install in (("pip", srkit.pip_install), ("uv", srkit.uv_install)):
        target = tmp_path / f"{tool}-core"
        install(gw, ["corp-core"], target, tmp_path / tool)
        assert srkit.installed(target) == {"corp-core": "1.0"}, tool
        assert_installed_bytes(target, {local.filename: local.data})
        for req in ("corp-core==9.0", "corp-gone", "corp-held", "corp-banned", "acme-secret", "acme_secret"):
            proc = install(gw, [req], tmp_path / f"{tool}-{req}", tmp_path / tool, check=False)
            assert proc.returncode != 0, f"{tool} installed {req}: {srkit.output(proc)[-2000:]}"
            assert not srkit.installed(tmp_path / f"{tool}-{req}"), (tool, req)

    # the pages: local rows only, or 404; never a version of the upstream's
    page = gw.simple_json("corp-core").json()
    assert page["versions"] == ["1.0"] and [f["filename"] for f in page["files"]] == [local.filename]
    assert set(gw.get("/pypi/corp-core/json").json()["releases"]) == {"1.0"}
    for name in PRIVATE[1:]:
        for path in (f"/simple/{name}/", f"/pypi/{name}/json", f"/pypi/{name}/9.0/json"):
            resp = gw.get(path, headers={"Accept": SIMPLE_JSON})
            assert resp.status_code == 404, (path, resp.status_code, resp.text[:300])
    if source == "static":
        asked = {p for p in upstream.hits if p.startswith("/simple/") and p != "/simple/pub-lib/"}
        assert not asked, f"the upstream was asked about private names: {sorted(asked)}"
        pub = upstream.files_of("pub-lib")[0].path
        files = {p for p in upstream.hits if p.startswith("/packages/")}
        assert files <= {pub, pub + ".metadata"}, f"the upstream was asked for files of private names: {files}"

    # the name-conflict job finds the local and the requested reserved name upstream: an admin signal
    gw.cli("admin", "run-jobs")
    web = admin_web(gw)
    start = web.get("/admin/")
    assert start.status_code == 200 and 'data-action="upstream:name-conflict"' in start.text, start.text[:3000]
    detail = web.get("/admin/signals/?kind=" + urllib.parse.quote("upstream:name-conflict", safe=""))
    assert detail.status_code == 200
    for name in ("corp-core", "acme-secret"):
        assert name in detail.text, f"no name-conflict signal names {name}"
    # and the job changed nothing for the clients
    proc = srkit.pip_install(gw, ["corp-core==9.0"], tmp_path / "after", tmp_path / "pip", check=False)
    assert proc.returncode != 0 and not srkit.installed(tmp_path / "after")


# --------------------------------------------------------------------------------------------
# mirrors


@both
@pytest.mark.parametrize("api_method", ["simple", "xmlrpc"])
def test_bandersnatch_mirroring_the_gateway_gets_the_local_projects_only(gateway, upstream, tmp_path, kind,
                                                                          api_method):
    gw = gateway(kind, upstream)
    index = PublicIndex("static", upstream=upstream)
    wheels = publish_tree(index, gw, gw.user_with_token("corp"))
    # upstream projects installed through the gateway: its pages and files are now cached there
    srkit.pip_install(gw, ["corp-app"], tmp_path / "t", tmp_path / "pip")
    assert srkit.installed(tmp_path / "t") == TREE
    fetched = upstream.count("/packages/")
    assert fetched >= 2

    names = {srkit.normalize(p["name"]) for p in gw.simple_json().json()["projects"]}
    assert names == {"corp-app", "corp-core"}, names
    rpc = xmlrpc.client.ServerProxy(gw.url + "/pypi")
    assert {srkit.normalize(k) for k in rpc.list_packages_with_serial()} == {"corp-app", "corp-core"}

    mirror = tmp_path / "mirror"
    mirror_once(bandersnatch_conf(tmp_path, gw, mirror, api_method), tmp_path)
    web = mirror / "web"
    assert {p.name for p in (web / "simple").iterdir() if p.is_dir()} == {"corp-app", "corp-core"}
    assert {p.name for p in (web / "json").iterdir()} == {"corp-app", "corp-core"}
    mirrored = {p.name: p.read_bytes() for p in (web / "packages").rglob("*") if p.is_file()}
    assert set(mirrored) == {fn for fn in wheels if fn.startswith("corp_")}, sorted(mirrored)
    for fn, data in mirrored.items():
        assert data == wheels[fn]
    assert upstream.count("/packages/") == fetched, "mirroring made the gateway fetch upstream files"
    json.loads((web / "json" / "corp-app").read_text())  # a complete document
