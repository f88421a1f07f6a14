"""Races: simultaneous uploads of one filename, simultaneous creation of one project by two users,
and the journal's serials under 200 parallel uploads. On both backends."""

from __future__ import annotations

import xmlrpc.client
from concurrent.futures import ThreadPoolExecutor

import requests

import srkit
from srkit import describe, race


def test_twenty_simultaneous_uploads_of_one_filename_with_different_bytes_exactly_one_wins(server):
    token = server.user_with_token("alice")
    srkit.ok_upload(server, token, srkit.make_wheel("sr-race", "0.9"))  # the project exists: race on the file
    dists = [srkit.make_wheel("sr-race", "1.0", payload=f"variant {i}") for i in range(20)]
    assert len({d.filename for d in dists}) == 1 and len({d.sha256 for d in dists}) == 20

    results = race([lambda d=d: srkit.upload_raw(server, token, d) for d in dists])

    summary = "\n".join(describe(r) for r in results)
    assert all(not isinstance(r, Exception) for r in results), summary
    winners = [i for i, r in enumerate(results) if r.status_code == 200]
    assert len(winners) == 1, summary
    for i, r in enumerate(results):
        if i != winners[0]:
            assert r.status_code == 400, summary
            assert "File already exists" in r.reason and "File already exists" in r.text, summary
    win = dists[winners[0]]
    files = [f for f in server.project_files("sr-race") if f["filename"] == win.filename]
    assert len(files) == 1
    assert files[0]["hashes"]["sha256"] == win.sha256
    got = requests.get(files[0]["url"], timeout=30)
    assert srkit.sha256(got.content) == win.sha256
    for i, d in enumerate(dists):
        if i != winners[0]:
            assert server.get(d.path).status_code == 404


def test_twenty_simultaneous_identical_uploads_all_succeed_and_store_one_file(server):
    token = server.user_with_token("alice")
    srkit.ok_upload(server, token, srkit.make_wheel("sr-same", "0.9"))
    dist = srkit.make_wheel("sr-same", "1.0", payload="identical")
    results = race([lambda: srkit.upload_raw(server, token, dist) for _ in range(20)])
    summary = "\n".join(describe(r) for r in results)
    assert all(not isinstance(r, Exception) and r.status_code == 200 for r in results), summary
    files = [f for f in server.project_files("sr-same") if f["filename"] == dist.filename]
    assert len(files) == 1 and files[0]["hashes"]["sha256"] == dist.sha256
    doc = server.get("/pypi/sr-same/1.0/json").json()
    assert [f["filename"] for f in doc["urls"]] == [dist.filename]


def test_two_users_creating_one_new_project_at_once_get_one_project_and_one_owner(server):
    alice = server.user_with_token("alice")
    bob = server.user_with_token("bob")
    for rnd in range(5):
        name = f"sr-contested-{rnd}"
        a = srkit.make_wheel(name, "1.0", payload="alice")
        b = srkit.make_sdist(name, "1.0", payload="bob")
        ra, rb = race([lambda: srkit.upload_raw(server, alice, a), lambda: srkit.upload_raw(server, bob, b)])
        summary = f"alice: {describe(ra)}\nbob: {describe(rb)}"
        assert not isinstance(ra, Exception) and not isinstance(rb, Exception), summary
        codes = sorted([ra.status_code, rb.status_code])
        assert codes[0] == 200 and codes[1] in (400, 403, 409), summary
        (win_tok, win_user, win_dist), (lose_tok, _lose_user, _) = (
            ((alice, "alice", a), (bob, "bob", b)) if ra.status_code == 200 else ((bob, "bob", b), (alice, "alice", a))
        )
        index_names = [srkit.normalize(p["name"]) for p in server.simple_json().json()["projects"]]
        assert index_names.count(name) == 1
        assert [f["filename"] for f in server.project_files(name)] == [win_dist.filename]
        doc = server.get(f"/pypi/{name}/json").json()
        if "ownership" in doc:
            assert doc["ownership"]["roles"] == [{"role": "Owner", "user": win_user}]
        # one owner: the winner may publish more, the loser may not
        srkit.ok_upload(server, win_tok, srkit.make_wheel(name, "2.0", payload="winner"))
        r = srkit.upload_raw(server, lose_tok, srkit.make_wheel(name, "3.0", payload="loser"))
        assert r.status_code == 403, describe(r)


def test_parallel_uploads_across_50_projects_keep_journal_serials_consistent(server):
    token = server.user_with_token("alice")
    projects = [f"sr-journal-{i:02d}" for i in range(50)]
    versions = ["1.0", "1.1", "1.2", "1.3"]
    dists = [srkit.make_wheel(p, v) for p in projects for v in versions]
    assert len(dists) == 200

    with ThreadPoolExecutor(16) as ex:
        results = list(ex.map(lambda d: srkit.upload_raw(server, token, d), dists))
    failures = [f"{d.filename}: {describe(r)}" for d, r in zip(dists, results) if r.status_code != 200]
    assert not failures, "\n".join(failures[:20])

    idx_resp = server.simple_json()
    idx = idx_resp.json()
    global_serial = int(idx_resp.headers["X-PyPI-Last-Serial"])
    assert idx["meta"]["_last-serial"] == global_serial
    serials = {srkit.normalize(p["name"]): p["_last-serial"] for p in idx["projects"]}
    assert set(serials) == set(projects)
    assert len(set(serials.values())) == len(serials), "two projects share a last serial"
    assert max(serials.values()) == global_serial
    assert global_serial >= len(dists), "fewer journal entries than uploaded files"

    for p in projects:
        page = server.simple_json(p)
        body = page.json()
        assert body["meta"]["_last-serial"] == serials[p] == int(page.headers["X-PyPI-Last-Serial"])
        assert sorted(body["versions"]) == versions
        assert len(body["files"]) == 4
        assert server.get(f"/pypi/{p}/json").json()["last_serial"] == serials[p]

    # the journal itself (XML-RPC changelog, as mirrors read it): gap-free, in order, ending at the
    # global serial, with one entry naming every uploaded file
    rpc = xmlrpc.client.ServerProxy(server.url + "/pypi")
    log = rpc.changelog_since_serial(0)
    got = [entry[4] for entry in log]
    assert got == list(range(1, global_serial + 1)), "journal serials are not 1..N without gaps"
    assert rpc.changelog_last_serial() == global_serial
    assert {srkit.normalize(k): v for k, v in rpc.list_packages_with_serial().items()} == serials
    actions = " ".join(entry[3] for entry in log)
    missing = [d.filename for d in dists if d.filename not in actions]
    assert not missing, missing[:10]
    last_by_project = {}
    for name, _version, _ts, _action, serial in log:
        last_by_project[srkit.normalize(name)] = serial
    assert last_by_project == serials

    # afterwards every new event gets a serial above everything before it
    last = global_serial
    for p in projects[:5]:
        srkit.ok_upload(server, token, srkit.make_wheel(p, "2.0"))
        now = server.global_serial()
        proj_serial = server.simple_json(p).json()["meta"]["_last-serial"]
        assert now > last and proj_serial == now, (last, now, proj_serial)
        assert proj_serial > serials[p]
        last = now
