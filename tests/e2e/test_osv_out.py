"""The index's own malicious-package verdicts as OSV (issue 13, "OSV out"), against a started
server on both backends.

- A release held for review (here: quarantined by an imported malicious record naming its
  wheel's sha256) is rejected in the review queue (`strongroom admin review reject ID --reason`,
  part H4): that records a verdict, served at `GET /osv/` (index) and `GET /osv/<id>.json` (the
  record, in the malicious-packages layout: the index's prefix, never a bare MAL-, the version,
  every file's sha256, CWE-506), public and cacheable (ETag, 304), 404 for unknown ids; the
  OSV query API (`POST /osv/v1/query`) still answers.
- `strongroom admin osv export DIR` writes one `<id>.json` (0644) per verdict; the folder is a
  feed `strongroom admin osv import` reads back as a malicious record with the files' hashes.
- `strongroom admin osv withdraw ID --reason R` moves the record to withdrawn (served and
  exported), and a re-import of the export withdraws it there too.

Until the review queue lands (part H4) nothing but core records a verdict, so this test fails
on a branch without `admin review`; the Rust tests (core::verdicts, store conformance) cover
the rest there."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import requests

import srkit
from browserkit import mail_sink  # noqa: F401  (fixture)
from incidents import Incident

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "osv"
both = pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])


def mal_record(project: str, sha256: str) -> dict:
    """A malicious-packages record naming one local file by its sha256."""
    rec = json.loads((FIXTURES / "malicious-packages/osv/malicious/pypi/sr-adv-private/MAL-2099-0102.json").read_text())
    rec["id"] = "MAL-2099-0207"
    rec["summary"] = f"Malicious code in {project} (PyPI)"
    rec["affected"][0]["package"]["name"] = project
    rec["affected"][0]["versions"] = ["0.2.2"]
    rec["database_specific"]["malicious-packages-origins"][0]["sha256"] = sha256
    return rec


def admin_json(world: Incident, *args: str):
    return json.loads(world.admin(*args).stdout)


@both
def test_a_rejected_release_becomes_an_osv_record_served_exported_and_withdrawn(
        strongroom, mail_sink, tmp_path, kind):  # noqa: F811
    world = Incident(strongroom, mail_sink, tmp_path, kind)
    try:
        server = world.server
        world.user("admin", "admin@example.test", admin=True)
        world.user("alice")
        token = server.create_token("alice")
        good = srkit.make_wheel("sr-osv-out", "0.1.2")
        bad_whl = srkit.make_wheel("sr-osv-out", "0.2.2")
        bad_sdist = srkit.make_sdist("sr-osv-out", "0.2.2")
        for dist in (good, bad_whl, bad_sdist):
            srkit.ok_upload(server, token, dist)

        # Empty feed: an index with no records, still cacheable.
        empty = server.get("/osv/")
        assert empty.status_code == 200, empty.text[:300]
        assert empty.json()["records"] == [] and empty.headers["ETag"], empty.text[:300]
        assert server.get("/osv/STRONGROOM-MAL-2026-1.json").status_code == 404
        assert server.get("/osv/nothing").status_code == 404

        # Held: an imported malicious record names the 0.2.2 wheel.
        feed = tmp_path / "upstream-feed"
        rec = feed / "osv/malicious/pypi/sr-osv-out/MAL-2099-0207.json"
        rec.parent.mkdir(parents=True)
        rec.write_text(json.dumps(mal_record("sr-osv-out", bad_whl.sha256)))
        imp = admin_json(world, "osv", "import", str(feed), "--source", "upstream-feed", "--json")
        assert imp["held"] == ["sr-osv-out 0.2.2"], imp

        # Rejected in the review queue: a verdict.
        queue = admin_json(world, "review", "list", "--json")
        items = queue["items"] if isinstance(queue, dict) else queue
        item = next(i for i in items if i["project"] == "sr-osv-out" and i["version"] == "0.2.2")
        world.admin("review", "reject", str(item["id"]), "--reason", "reads ~/.aws and posts it to a .invalid host")

        index = server.get("/osv/")
        assert index.status_code == 200, index.text[:300]
        assert index.headers["Cache-Control"].startswith("max-age=")
        records = index.json()["records"]
        assert len(records) == 1, records
        vid = records[0]["id"]
        assert vid.startswith("STRONGROOM-MAL-") and not vid.startswith("MAL-"), vid
        assert "withdrawn" not in records[0] and records[0]["url"].endswith(f"/osv/{vid}.json"), records
        # Conditional GET: 304 with the same ETag.
        etag = index.headers["ETag"]
        assert server.get("/osv/", headers={"If-None-Match": etag}).status_code == 304

        doc = server.get(f"/osv/{vid}.json")
        assert doc.status_code == 200 and doc.headers["Content-Type"] == "application/json", doc.text[:300]
        assert server.get(f"/osv/{vid}.json", headers={"If-None-Match": doc.headers["ETag"]}).status_code == 304
        osv = doc.json()
        assert osv["id"] == vid and osv["summary"] == "Malicious code in sr-osv-out (PyPI)", osv
        assert "withdrawn" not in osv
        assert osv["affected"][0]["package"] == {"ecosystem": "PyPI", "name": "sr-osv-out"}, osv
        assert osv["affected"][0]["versions"] == ["0.2.2"], osv
        assert osv["database_specific"]["cwe_ids"] == ["CWE-506"], osv
        hashes = {o["sha256"] for o in osv["database_specific"]["malicious-packages-origins"]}
        assert hashes == {bad_whl.sha256, bad_sdist.sha256}, "every file of the release, removed ones included"
        assert good.sha256 not in json.dumps(osv)
        # The query API is untouched.
        q = requests.post(server.url + "/osv/v1/query", timeout=30,
                          data=json.dumps({"package": {"name": "sr-osv-out", "ecosystem": "PyPI"}, "version": "0.1.2"}))
        assert q.status_code == 200, q.text[:300]

        # Export: one record per verdict, 0644, re-importable with its hashes.
        out = tmp_path / "own-feed"
        exp = admin_json(world, "osv", "export", str(out), "--json")
        assert exp["written"] == [f"{vid}.json"], exp
        path = out / f"{vid}.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        assert json.loads(path.read_text()) == osv
        back = admin_json(world, "osv", "import", str(out), "--source", "own", "--json")
        assert (back["records"], back["advisories"], back["counts"]["added"]) == (1, 1, 1), back

        # Withdraw: the record says so, served and exported; the import withdraws it too.
        world.admin("osv", "withdraw", vid, "--reason", "a false positive after all")
        w = server.get(f"/osv/{vid}.json").json()
        assert w["withdrawn"] and w["database_specific"]["withdrawn_reason"] == "a false positive after all", w
        assert server.get("/osv/").json()["records"][0]["withdrawn"] == w["withdrawn"]
        again = world.admin("osv", "withdraw", vid, "--reason", "twice", check=False)
        assert again.returncode != 0, "a withdrawn verdict cannot be withdrawn again"
        exp = admin_json(world, "osv", "export", str(out), "--json")
        assert exp["withdrawn"] == 1, exp
        assert json.loads(path.read_text())["withdrawn"] == w["withdrawn"]
        back = admin_json(world, "osv", "import", str(out), "--source", "own", "--json")
        assert back["counts"]["withdrawn"] == 1, back
        assert "verdict:withdrawn" in [e["action"] for e in world.timeline("--project", "sr-osv-out")]
    finally:
        world.close()
