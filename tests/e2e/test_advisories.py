"""OSV advisories (issue 12, item 4), against a started server with real SMTP, on both backends.

- `strongroom admin osv import` reads a malicious-packages-shaped tree as a .tar.gz and a
  pypa/advisory-database-shaped PYSEC YAML tree as a .zip (fixtures in tests/fixtures/osv/).
- The JSON API shows the PYSEC record in `vulnerabilities` as the public index does, for the
  project and the release document, though both were cached before the import.
- A malicious record naming the sha256 of a local file quarantines that release (gone from the
  simple API), and its owner and the admins are mailed; a record naming a local project by name
  alone changes nothing there and leaves an admin signal (`advisory:name-match`).
- Re-importing the feed with that record moved to `withdrawn/` publishes the release again.
- A feed that is not one (a bad record, an archive bomb) is refused and leaves nothing behind."""

from __future__ import annotations

import gzip
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest
import requests

import srkit
from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import Incident, actions

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "osv"
both = pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])


def hashed_record(sha256: str) -> dict:
    """A malicious-packages record naming one local file by its sha256 (the fixture tree's
    name-only record, re-aimed)."""
    rec = json.loads((FIXTURES / "malicious-packages/osv/malicious/pypi/sr-adv-private/MAL-2099-0102.json").read_text())
    rec["id"] = "MAL-2099-0103"
    rec["summary"] = "Malicious code in sr-adv-hashed (PyPI)"
    rec["affected"][0]["package"]["name"] = "sr-adv-hashed"
    rec["affected"][0]["versions"] = ["1.0"]
    rec["database_specific"]["malicious-packages-origins"][0]["sha256"] = sha256
    return rec


def tar_gz(src: Path, out: Path) -> Path:
    with tarfile.open(out, "w:gz") as t:
        t.add(src, arcname=src.name)
    return out


def zip_tree(src: Path, out: Path) -> Path:
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(src.parent).as_posix())
    return out


def osv_import(world: Incident, path: Path, source: str, check: bool = True):
    r = world.admin("osv", "import", str(path), "--source", source, "--json", check=check)
    return json.loads(r.stdout) if check else r


def osv_query(server, name: str, version: str) -> dict:
    """The call pip-audit's OSV service makes (`-s osv --osv-url URL`): JSON without a content type."""
    r = requests.post(server.url + "/osv/v1/query", timeout=30,
                      data=json.dumps({"package": {"name": name, "ecosystem": "PyPI"}, "version": version}))
    assert r.status_code == 200, (r.status_code, r.text[:300])
    return r.json()


def versions(world: Incident, project: str) -> set[str]:
    return world.simple_versions(project) or set()


@both
def test_import_fills_vulnerabilities_holds_a_named_local_release_and_withdrawal_releases_it(
        strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        admin_addr = world.user("admin", "admin@example.test", admin=True)
        alice_addr = world.user("alice")
        token = server.create_token("alice")
        hashed = srkit.make_wheel("sr-adv-hashed", "1.0")
        for dist in (srkit.make_wheel("sr-adv-vuln", "1.0"), srkit.make_wheel("sr-adv-vuln", "1.1"),
                     hashed, srkit.make_wheel("sr-adv-private", "1.0")):
            srkit.ok_upload(server, token, dist)

        # Cached before any import: no advisory source yet, the field is left out.
        before = server.get("/pypi/sr-adv-vuln/1.0/json")
        assert before.status_code == 200 and "vulnerabilities" not in before.json(), before.text[:300]
        etag = before.headers["ETag"]
        assert server.get("/pypi/sr-adv-vuln/json").status_code == 200

        # -- The vulnerability database, as a .zip of YAML records.
        pysec = osv_import(world, zip_tree(FIXTURES / "advisory-database", tmp_path / "advisory-db.zip"), "pysec")
        assert (pysec["records"], pysec["advisories"], pysec["counts"]["added"]) == (1, 1, 1), pysec
        doc = server.get("/pypi/sr-adv-vuln/1.0/json", headers={"If-None-Match": etag})
        assert doc.status_code == 200, "the import must invalidate the cached document and its ETag"
        assert doc.json()["vulnerabilities"] == [{
            "id": "PYSEC-2099-42", "source": "osv", "link": "https://osv.dev/vulnerability/PYSEC-2099-42",
            "aliases": ["CVE-2099-4242", "GHSA-2099-abcd-0042"],
            "details": "sr-adv-vuln before 1.1 evaluates untrusted templates when rendering error pages, "
                       "which allows remote attackers to execute code.",
            "summary": None, "fixed_in": ["1.1"], "withdrawn": None}], doc.json()["vulnerabilities"]
        # The OSV query pip-audit can be pointed at answers the same, with the ranges it reads.
        vulns = osv_query(server, "sr-adv-vuln", "1.0")["vulns"]
        assert [v["id"] for v in vulns] == ["PYSEC-2099-42"], vulns
        assert {"fixed": "1.1"} in vulns[0]["affected"][0]["ranges"][0]["events"], vulns
        assert osv_query(server, "sr-adv-vuln", "1.1") == {}
        # The project document describes the latest release, 1.1: fixed, so nothing listed.
        assert server.get("/pypi/sr-adv-vuln/json").json()["vulnerabilities"] == []
        assert server.get("/pypi/sr-adv-hashed/json").json()["vulnerabilities"] == []

        # -- The malicious-packages feed, as a .tar.gz, with a record naming a local file.
        tree = tmp_path / "malicious-packages"
        shutil.copytree(FIXTURES / "malicious-packages", tree)
        named = tree / "osv/malicious/pypi/sr-adv-hashed/MAL-2099-0103.json"
        named.parent.mkdir(parents=True)
        named.write_text(json.dumps(hashed_record(hashed.sha256), indent=2))
        mal = osv_import(world, tar_gz(tree, tmp_path / "feed.tar.gz"), "malicious-packages")
        assert mal["records"] == 5 and mal["other_ecosystems"] == 1, mal
        assert mal["held"] == ["sr-adv-hashed 1.0"], mal
        assert mal["name_matches"] == [{"project": "sr-adv-private", "record": "MAL-2099-0102"}], mal

        assert [v["id"] for v in osv_query(server, "sr-adv-typosquat", "0.1.0")["vulns"]] == ["MAL-2099-0101"]
        assert osv_query(server, "sr-adv-retracted", "1.0") == {}, "withdrawn records are not answered"
        # The named release is quarantined; its owner and the admins are told.
        assert "1.0" not in versions(world, "sr-adv-hashed")
        assert server.get(hashed.path).status_code == 404
        for addr in (alice_addr, admin_addr):
            told = world.mail.wait_for(addr, "sr-adv-hashed 1.0 was quarantined")
            body = world.mail.body(told)
            assert "MAL-2099-0103" in body, body
        # The name-only match changes nothing locally and is an admin signal.
        assert versions(world, "sr-adv-private") == {"1.0"}
        story = actions(world.timeline("--project", "sr-adv-private"))
        assert story.count("advisory:name-match") == 1, story
        assert "release:quarantine" in actions(world.timeline("--project", "sr-adv-hashed"))
        start = world.login("admin", "admin-browser/1").get("/admin/")
        assert 'data-action="advisory:name-match"' in start.text

        # Importing the same feed again changes nothing and signals nothing twice.
        again = osv_import(world, tree, "malicious-packages")
        assert (again["counts"]["added"], again["counts"]["unchanged"], again["held"]) == (0, 4, []), again
        assert actions(world.timeline("--project", "sr-adv-private")).count("advisory:name-match") == 1

        # -- The record moves to withdrawn/: the release is published again, people told.
        gone = tree / "osv/withdrawn/pypi/sr-adv-hashed/MAL-2099-0103.json"
        gone.parent.mkdir(parents=True)
        named.rename(gone)
        back = osv_import(world, tree, "malicious-packages")
        assert back["released"] == ["sr-adv-hashed 1.0"] and back["counts"]["withdrawn"] == 1, back
        assert "1.0" in versions(world, "sr-adv-hashed")
        assert server.get(hashed.path).status_code == 200
        world.mail.wait_for(alice_addr, "sr-adv-hashed 1.0 is published again")
        assert world.log_verify()
    finally:
        world.close()


@both
def test_a_bad_feed_is_refused_and_leaves_nothing_behind(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        world.user("alice")
        srkit.ok_upload(server, server.create_token("alice"), srkit.make_wheel("sr-adv-vuln", "1.0"))
        # A tree with one record that is not OSV: refused, naming the file; nothing imported.
        tree = tmp_path / "db"
        shutil.copytree(FIXTURES / "advisory-database", tree)
        (tree / "vulns/sr-adv-vuln/PYSEC-2099-43.yaml").write_text("id: [unclosed\n")
        r = osv_import(world, tree, "pysec", check=False)
        assert r.returncode != 0 and "PYSEC-2099-43.yaml" in r.stderr, (r.stdout, r.stderr)
        assert "vulnerabilities" not in server.get("/pypi/sr-adv-vuln/json").json()
        # A gzip bomb (a tar of 300 MiB of zeros, a few hundred KiB compressed): refused by the
        # archive bounds without inflating it all.
        bomb = tmp_path / "bomb.tar.gz"
        with gzip.open(bomb, "wb", compresslevel=9) as gz:
            header = tarfile.TarInfo("vulns/x/PYSEC-2099-44.json")
            header.size = 300 * 1024 * 1024
            gz.write(header.tobuf(format=tarfile.GNU_FORMAT))
            chunk = b"\0" * (1024 * 1024)
            for _ in range(300):
                gz.write(chunk)
        r = osv_import(world, bomb, "bomb", check=False)
        assert r.returncode != 0 and "larger than" in r.stderr, (r.stdout, r.stderr)
        assert "vulnerabilities" not in server.get("/pypi/sr-adv-vuln/json").json()
    finally:
        world.close()


def test_malicious_records_hide_upstream_versions_until_withdrawn(backend_kind, upstream, gateway, tmp_path):
    """Through the gateway (static PyPI-shaped upstream): every version of a project a malicious
    record names at "introduced 0" is hidden, a record naming one version hides that version only,
    a vulnerability record hides nothing and shows in the upstream project's JSON document; the
    record's withdrawal brings the version back at once (the pages are cached per generation)."""
    from upstream_fixture import ago
    squat = upstream.add_wheel("sr-adv-typosquat", "0.1.0", upload_time=ago(days=400))
    ok = upstream.add_wheel("sr-adv-private", "1.0", upload_time=ago(days=400))
    bad = upstream.add_wheel("sr-adv-private", "99.0.0", upload_time=ago(days=400))
    vuln = upstream.add_wheel("sr-adv-vuln", "1.0", upload_time=ago(days=400))
    gw = gateway(backend_kind, upstream)

    def files(project: str) -> set[str]:
        r = gw.simple_json(project)
        assert r.status_code == 200, (project, r.status_code, r.text[:300])
        return {f["filename"] for f in r.json()["files"]}

    # Before any import everything is served (and cached).
    assert files("sr-adv-private") == {ok.filename, bad.filename}
    assert files("sr-adv-typosquat") == {squat.filename}
    tree = tmp_path / "malicious-packages"
    shutil.copytree(FIXTURES / "malicious-packages", tree)
    gw.cli("admin", "osv", "import", str(tree), "--source", "malicious-packages")
    gw.cli("admin", "osv", "import", str(FIXTURES / "advisory-database"), "--source", "pysec")
    assert files("sr-adv-typosquat") == set()
    assert files("sr-adv-private") == {ok.filename}
    assert files("sr-adv-vuln") == {vuln.filename}
    doc = gw.get("/pypi/sr-adv-vuln/json")
    assert doc.status_code == 200, doc.text[:300]
    assert [v["id"] for v in doc.json()["vulnerabilities"]] == ["PYSEC-2099-42"]

    # Withdrawn (moved under withdrawn/ and imported again): served again.
    gone = tree / "osv/withdrawn/pypi/sr-adv-private/MAL-2099-0102.json"
    gone.parent.mkdir(parents=True)
    (tree / "osv/malicious/pypi/sr-adv-private/MAL-2099-0102.json").rename(gone)
    gw.cli("admin", "osv", "import", str(tree), "--source", "malicious-packages")
    assert files("sr-adv-private") == {ok.filename, bad.filename}
    assert files("sr-adv-typosquat") == set()
