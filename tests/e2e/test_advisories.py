"""OSV advisories (issue 12, item 4), against a started server with real SMTP, on both backends.

- `strongroom admin osv import` reads a malicious-packages-shaped tree as a .tar.gz and a
  pypa/advisory-database-shaped PYSEC YAML tree as a .zip (fixtures in tests/fixtures/osv/).
- The JSON API shows the PYSEC record in `vulnerabilities` as the public index does, for the
  project and the release document, though both were cached before the import.
- A malicious record naming the sha256 of a local file quarantines that release (gone from the
  simple API), and its owner and the admins are mailed; a record naming a local project by name
  alone changes nothing there and leaves an admin signal (`advisory:name-match`).
- Re-importing the feed with that record moved to `withdrawn/` publishes the release again.
- A feed that is not one (a bad record, an archive bomb) is refused and leaves nothing behind;
  with --skip-invalid the rest is imported and the unreadable records keep their previous state.
- Only a MAL record about the local project itself, with one of its hashes, quarantines; a hash
  under another name is a signal, a vulnerability record with origins nothing; the OSV query
  does not report a name-only malicious record against a local project."""

from __future__ import annotations

import gzip
import json
import shutil
import sqlite3
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


def last_event_details(server, action: str) -> dict:
    """The details of the newest event of `action` (site events have no timeline command)."""
    query = f"SELECT details FROM events WHERE action = '{action}' ORDER BY seq DESC LIMIT 1"
    url = server.backend.database or ""
    if url.startswith("postgres"):
        return json.loads(srkit.pg_exec(url, query).strip())
    con = sqlite3.connect(str(server.data_dir / "strongroom.db"), timeout=30)
    try:
        return json.loads(con.execute(query).fetchone()[0])
    finally:
        con.close()


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
        assert srkit.settled(server, lambda: server.get("/pypi/sr-adv-vuln/1.0/json",
                                                headers={"If-None-Match": etag}).status_code == 200), \
            "the import must invalidate the cached document and its ETag"
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
        assert srkit.settled(server, lambda: "1.0" in (versions(world, "sr-adv-hashed") or ()))
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
    assert srkit.settled(gw, lambda: files("sr-adv-typosquat") == set())
    assert srkit.settled(gw, lambda: files("sr-adv-private") == {ok.filename})
    assert files("sr-adv-vuln") == {vuln.filename}
    doc = gw.get("/pypi/sr-adv-vuln/json")
    assert doc.status_code == 200, doc.text[:300]
    assert [v["id"] for v in doc.json()["vulnerabilities"]] == ["PYSEC-2099-42"]

    # Withdrawn (moved under withdrawn/ and imported again): served again.
    gone = tree / "osv/withdrawn/pypi/sr-adv-private/MAL-2099-0102.json"
    gone.parent.mkdir(parents=True)
    (tree / "osv/malicious/pypi/sr-adv-private/MAL-2099-0102.json").rename(gone)
    gw.cli("admin", "osv", "import", str(tree), "--source", "malicious-packages")
    assert srkit.settled(gw, lambda: files("sr-adv-private") == {ok.filename, bad.filename})
    assert files("sr-adv-typosquat") == set()


def mal_record(rec_id: str, project: str, sha256: str | None = None, prefix: str = "MAL") -> dict:
    """A malicious-packages-shaped record (the fixture tree's typosquat record, re-aimed);
    `prefix` other than MAL gives a vulnerability record carrying the same origins."""
    rec = json.loads((FIXTURES / "malicious-packages/osv/malicious/pypi/sr-adv-typosquat/MAL-2099-0101.json").read_text())
    rec["id"] = f"{prefix}-{rec_id}"
    rec["summary"] = f"Malicious code in {project} (PyPI)"
    rec["affected"][0]["package"]["name"] = project
    if sha256 is not None:
        rec["database_specific"]["malicious-packages-origins"][0]["sha256"] = sha256
    return rec


def write_record(tree: Path, rel: str, rec: dict) -> Path:
    p = tree / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(rec, indent=2))
    return p


@both
def test_only_a_malicious_record_about_the_local_project_itself_holds_it(
        strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    """Every local file's sha256 is public (the simple API lists it). A vulnerability record
    that carries malicious-packages origins, and a malicious record that lists a local file's
    hash under another package's name, change nothing locally (the latter is an admin signal);
    only a MAL record about the local project itself with one of its hashes quarantines. A
    malicious record about a local name alone is not reported against it by the OSV query
    (as the JSON API's vulnerabilities leave it out)."""
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        world.user("admin", "admin@example.test", admin=True)
        world.user("alice")
        token = server.create_token("alice")
        corp = srkit.make_wheel("sr-adv-corp", "1.0")
        own = srkit.make_wheel("sr-adv-own", "1.0")
        for dist in (corp, own):
            srkit.ok_upload(server, token, dist)

        # A vulnerability feed: a PYSEC record about another name, with the local file's hash.
        db = tmp_path / "advdb"
        write_record(db, "pysec/PYSEC-2099-1.json", mal_record("2099-1", "unrelated-thing", corp.sha256, "PYSEC"))
        r = osv_import(world, db, "advdb")
        assert r["held"] == [], r
        assert versions(world, "sr-adv-corp") == {"1.0"}
        assert server.get(corp.path).status_code == 200
        assert r["hash_matches"] == [], "a vulnerability record names no hashes"

        # A malicious feed: the same hash under another name (a signal), the local name alone
        # (a signal), and the own project's own record with its own hash (the one action).
        mal = tmp_path / "mal"
        write_record(mal, "osv/malicious/pypi/other/MAL-2099-0201.json",
                     mal_record("2099-0201", "Unrelated_Thing", corp.sha256))
        write_record(mal, "osv/malicious/pypi/sr-adv-corp/MAL-2099-0202.json", mal_record("2099-0202", "sr-adv-corp"))
        write_record(mal, "osv/malicious/pypi/sr-adv-own/MAL-2099-0203.json",
                     mal_record("2099-0203", "SR_Adv.Own", own.sha256))
        r = osv_import(world, mal, "mal")
        assert r["held"] == ["sr-adv-own 1.0"], r
        assert versions(world, "sr-adv-corp") == {"1.0"}
        assert r["hash_matches"] == [{"project": "sr-adv-corp", "version": "1.0", "filename": corp.filename,
                                      "record": "MAL-2099-0201", "named_project": "unrelated-thing"}], r
        assert r["name_matches"] == [{"project": "sr-adv-corp", "record": "MAL-2099-0202"}], r
        assert versions(world, "sr-adv-corp") == {"1.0"}
        assert server.get(corp.path).status_code == 200
        assert "1.0" not in versions(world, "sr-adv-own")
        story = actions(world.timeline("--project", "sr-adv-corp"))
        assert "release:quarantine" not in story and story.count("advisory:hash-match") == 1, story
        start = world.login("admin", "admin-browser/1").get("/admin/")
        assert 'data-action="advisory:hash-match"' in start.text

        # The OSV query: the name-only record is not the local project's; the hashed one is.
        assert osv_query(server, "sr-adv-corp", "1.0") == {}
        assert server.get("/pypi/sr-adv-corp/json").json()["vulnerabilities"] == []
        assert [v["id"] for v in osv_query(server, "sr-adv-own", "1.0")["vulns"]] == ["MAL-2099-0203"]
        # A name that is not local is still answered from name-only records.
        assert [v["id"] for v in osv_query(server, "unrelated-thing", "1.0")["vulns"]] == [
            "MAL-2099-0201", "PYSEC-2099-1"]
        assert world.log_verify()
    finally:
        world.close()


@both
def test_skip_invalid_imports_the_rest_and_keeps_unreadable_records(strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    """One unreadable record (a YAML alias bomb, broken JSON) fails the import unless
    --skip-invalid: then the rest is imported (a withdrawal applies), each skipped file is named
    in the output and the import's event, the command exits non-zero, and the records those
    files gave before are kept as they were, never retracted."""
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        world.user("alice")
        own = srkit.make_wheel("sr-adv-own", "1.0")
        srkit.ok_upload(server, server.create_token("alice"), own)
        tree = tmp_path / "feed"
        held = write_record(tree, "osv/malicious/pypi/sr-adv-own/MAL-2099-0301.json",
                            mal_record("2099-0301", "sr-adv-own", own.sha256))
        squat = write_record(tree, "osv/malicious/pypi/sr-adv-squat/MAL-2099-0302.json",
                             mal_record("2099-0302", "sr-adv-squat"))
        gone = write_record(tree, "osv/malicious/pypi/sr-adv-gone/MAL-2099-0303.json",
                            mal_record("2099-0303", "sr-adv-gone"))
        first = osv_import(world, tree, "feed")
        assert first["held"] == ["sr-adv-own 1.0"] and first["advisories"] == 3, first

        # Next time: the holding record and the squat record are unreadable, another is withdrawn.
        held.write_text("{ not json")
        squat.unlink()
        (tree / "osv/malicious/pypi/sr-adv-squat/MAL-2099-0302.yaml").write_text(
            "a: &a [*a, *a, *a]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nid: *c\n")
        moved = tree / "osv/withdrawn/pypi/sr-adv-gone/MAL-2099-0303.json"
        moved.parent.mkdir(parents=True)
        gone.rename(moved)

        strict = osv_import(world, tree, "feed", check=False)
        assert strict.returncode != 0 and "MAL-2099-0301.json" in strict.stderr, (strict.stdout, strict.stderr)
        assert "--skip-invalid" in strict.stderr, strict.stderr
        assert [v["id"] for v in osv_query(server, "sr-adv-gone", "1.0")["vulns"]] == ["MAL-2099-0303"], \
            "a refused import changes nothing"

        r = world.admin("osv", "import", str(tree), "--source", "feed", "--skip-invalid", check=False)
        assert r.returncode != 0, (r.stdout, r.stderr)
        out = r.stdout + r.stderr
        for name in ("osv/malicious/pypi/sr-adv-own/MAL-2099-0301.json",
                     "osv/malicious/pypi/sr-adv-squat/MAL-2099-0302.yaml"):
            assert f"skipped {name}" in r.stdout, r.stdout
        assert "2 record file(s) could not be read" in r.stderr, out
        # The rest applied: the withdrawal.
        assert osv_query(server, "sr-adv-gone", "1.0") == {}
        # The unreadable ones kept their previous state: still held, still listed.
        assert "1.0" not in versions(world, "sr-adv-own")
        assert server.get(own.path).status_code == 404
        assert [v["id"] for v in osv_query(server, "sr-adv-squat", "0.1")["vulns"]] == ["MAL-2099-0302"]
        details = last_event_details(server, "advisories:import")
        assert sorted(s["path"] for s in details["skipped"]) == [
            "osv/malicious/pypi/sr-adv-own/MAL-2099-0301.json",
            "osv/malicious/pypi/sr-adv-squat/MAL-2099-0302.yaml"], ev
        assert details["kept"] == 2, ev
        assert world.log_verify()
    finally:
        world.close()
