"""Scale-out: two `strongroom serve` processes sharing one PostgreSQL database and one S3 bucket
serve the same index; and the PostgreSQL + S3 backend really keeps its state there."""

from __future__ import annotations

import json
import threading
import time

import srkit
from srkit import describe, race


def test_upload_through_one_server_and_install_through_the_other_at_once(strongroom, dists, tmp_path):
    backend = strongroom.pool.backend("pg_s3")
    a = strongroom(backend)
    b = strongroom(backend)
    assert a.url != b.url
    a.create_user("alice")
    token = a.create_token("alice")  # a token made through one server's CLI works on the other

    srkit.twine_upload(a, token, dists.demo_v1, tmp_path)
    target = tmp_path / "via-b"
    srkit.pip_install(b, ["sr-demo"], target, tmp_path)  # immediately, no waiting for any cache
    assert srkit.installed(target) == {"sr-demo": "1.0"}
    assert srkit.import_check(target, "sr_demo", tmp_path) == "1.0"

    # at the same time: upload sr-app through b while pip installs from a, then the reverse check
    errors = []

    def upload():
        try:
            srkit.twine_upload(b, token, dists.app_v1, tmp_path)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    t = threading.Thread(target=upload)
    t.start()
    t2 = tmp_path / "via-a"
    srkit.pip_install(a, ["sr-demo"], t2, tmp_path)
    t.join(300)
    assert not errors, errors
    assert srkit.installed(t2) == {"sr-demo": "1.0"}
    t3 = tmp_path / "app-via-a"
    srkit.uv_install(a, ["sr-app"], t3, tmp_path)
    assert srkit.installed(t3) == {"sr-app": "1.0", "sr-demo": "1.0"}

    # both serve the same index documents with the same serials (file URLs name each server's host)
    def same(resp, server):
        return json.loads(resp.text.replace(server.url, "http://SERVER"))

    for project in (None, "sr-demo", "sr-app"):
        ra, rb = a.simple_json(project), b.simple_json(project)
        assert ra.headers["X-PyPI-Last-Serial"] == rb.headers["X-PyPI-Last-Serial"], project
        assert same(ra, a) == same(rb, b), project
    assert same(a.get("/pypi/sr-app/json"), a)["urls"] == same(b.get("/pypi/sr-app/json"), b)["urls"]

    # yanking through the CLI of one is seen by the other within the page cache's bound (one
    # second: server::freshness), polled for five to stay clear of a loaded machine
    b.yank("sr-demo", "1.0", reason="via b")
    deadline = time.monotonic() + 5
    while {f["yanked"] for f in a.project_files("sr-demo")} != {"via b"}:
        assert time.monotonic() < deadline, a.project_files("sr-demo")
        time.sleep(0.02)


def test_same_filename_raced_through_two_servers_has_one_winner(strongroom):
    backend = strongroom.pool.backend("pg_s3")
    a = strongroom(backend)
    b = strongroom(backend)
    token = a.user_with_token("alice")
    srkit.ok_upload(a, token, srkit.make_wheel("sr-xrace", "0.9"))
    dists = [srkit.make_wheel("sr-xrace", "1.0", payload=f"v{i}") for i in range(10)]
    results = race([lambda d=d, s=(a if i % 2 else b): srkit.upload_raw(s, token, d) for i, d in enumerate(dists)])
    summary = "\n".join(describe(r) for r in results)
    assert all(not isinstance(r, Exception) for r in results), summary
    assert sorted(r.status_code for r in results) == [200] + [400] * 9, summary
    win = dists[next(i for i, r in enumerate(results) if r.status_code == 200)]
    for s in (a, b):
        f = [f for f in s.project_files("sr-xrace") if f["filename"] == win.filename]
        assert len(f) == 1 and f[0]["hashes"]["sha256"] == win.sha256
        assert srkit.sha256(s.get(win.path).content) == win.sha256


def test_pg_s3_backend_keeps_blobs_in_the_bucket_and_nothing_on_local_disk(strongroom):
    server = strongroom("pg_s3")
    token = server.user_with_token("alice")
    dist = srkit.make_wheel("sr-where", "1.0", payload="where do I live")
    srkit.ok_upload(server, token, dist)
    keys = server.backend.s3.list_keys(server.backend.bucket)
    h = dist.blake2
    suffix = f"{h[0:2]}/{h[2:4]}/{h[4:]}/{dist.filename}"
    matching = [k for k in keys if k.endswith(suffix)]
    assert len(matching) == 1, keys
    obj = server.backend.s3.request("GET", f"/{server.backend.bucket}/{matching[0]}")
    assert obj.status_code == 200 and obj.content == dist.data
    assert any(k.endswith(suffix + ".metadata") for k in keys), keys
    # the database is PostgreSQL: it has tables now
    tables = srkit.pg_exec(server.backend.database,
                           "select count(*) from information_schema.tables where table_schema not in "
                           "('pg_catalog','information_schema')")
    assert int(tables.strip()) > 0
    # and no copy of the file (nor an SQLite database) in the data dir
    for p in server.data_dir.rglob("*"):
        if p.is_file():
            assert p.read_bytes() != dist.data, p
            assert not p.name.endswith(".db"), p
