"""Issue 12 (fix round, F5 and F10): names moving between local and upstream on a started gateway
with its default settings (no reserved pattern), through twine, the simple API and the CLI:

- An ordinary account cannot take over a public dependency for the whole organisation by
  uploading a local project of a name the gateway serves from its upstream: twine is refused with
  strongroom's own message and help link, nothing is left behind (no project, no blob), and the
  upstream project is still what the gateway serves. Once the admins reserve the name
  (`upstream.private_patterns`, a literal pattern) the same upload creates the local project, and
  from then on only the local project is served under that name.
- A name confusable with a prohibited name answers 404 like the prohibited name itself, never
  the upstream's project of that name.
- `strongroom admin allow` of a removed project's name that the name watch found upstream warns
  that installs of it now get the upstream's project; freeing a name unknown upstream does not."""

from __future__ import annotations

import pytest

import srkit
from upstream_fixture import ago

both = pytest.mark.parametrize("kind", ["sqlite", "pg_s3"])


def served_versions(server: srkit.Server, project: str) -> list[str]:
    resp = server.simple_json(project)
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    return sorted({f["filename"].split("-")[1] for f in resp.json()["files"]})


def local_names(server: srkit.Server) -> set[str]:
    resp = server.simple_json()
    assert resp.status_code == 200, resp.text[:300]
    return {p["name"] for p in resp.json()["projects"]}


@both
def test_a_public_dependency_cannot_be_taken_over_by_a_local_upload(strongroom, gateway, upstream, kind, tmp_path):
    upstream.add_wheel("pub-lib", "9.9", upload_time=ago(days=400))
    server = gateway(kind, upstream)
    # Someone in the organisation installs pub-lib through the gateway.
    assert served_versions(server, "pub-lib") == ["9.9"]

    token = server.user_with_token("alice")
    dist = srkit.make_wheel("pub-lib", "1.0", payload=b"alice's code")
    path = tmp_path / dist.filename
    path.write_bytes(dist.data)
    blobs_before = server.blob_keys()
    out = srkit.twine_upload(server, token, [path], tmp_path, check=False)
    text = " ".join((out.stdout + out.stderr).split())  # twine wraps the message
    assert out.returncode != 0 and "400 Bad Request" in text, text
    assert "this index serves a project of that name from its upstream index" in text, text
    assert "upstream.private_patterns" in text and "/help/#project-names" in text, text
    # Another spelling of the name is the same name.
    other = srkit.upload_raw(server, token, srkit.make_wheel("Pub_Lib", "1.1"))
    assert other.status_code == 400 and "from its upstream index" in other.text, (other.status_code, other.text)
    # Nothing left behind: no local project, no blob, the upstream project still served.
    assert "pub-lib" not in local_names(server)
    assert server.blob_keys() == blobs_before
    assert served_versions(server, "pub-lib") == ["9.9"]
    # A name the gateway never served is first come, first served as before.
    srkit.ok_upload(server, token, srkit.make_wheel("alice-own", "1.0"))

    # The admins declare the name private (a literal pattern): the same upload now works, and
    # the name is local from then on.
    server.stop()
    reserved = strongroom.pool.start(server.backend, data_dir=server.data_dir,
                                     env=srkit.upstream_env(upstream, private_patterns=["pub-lib"]))
    out = srkit.twine_upload(reserved, token, [path], tmp_path, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert served_versions(reserved, "pub-lib") == ["1.0"]
    assert "pub-lib" in local_names(reserved)


@both
def test_prohibited_confusables_stay_local_and_freeing_a_name_known_upstream_warns(gateway, upstream, kind):
    for name in ["banned-lib", "banned-1ib", "gone-lib"]:
        upstream.add_wheel(name, "9.9", upload_time=ago(days=400))
    server = gateway(kind, upstream, env={"STRONGROOM_JOBS__INTERVAL_SECONDS": "86400"})

    server.cli("admin", "prohibit", "banned-lib", "--reason", "malware")
    for name in ["banned-lib", "banned-1ib", "banned-l1b"]:
        resp = server.simple_json(name)
        assert resp.status_code == 404, (name, resp.status_code, resp.text[:300])
    assert server.get("/simple/banned-1ib/").status_code == 404

    # A private project, which the name watch finds on the upstream too, is removed.
    token = server.user_with_token("owner")
    srkit.ok_upload(server, token, srkit.make_wheel("gone-lib", "1.0"))
    srkit.ok_upload(server, token, srkit.make_wheel("unique-private-zz", "1.0"))
    out = server.cli("admin", "run-jobs").stdout
    assert "has a project named gone-lib (local project)" in out, out
    server.cli("admin", "remove", "gone-lib", "--reason", "retired")
    server.cli("admin", "remove", "unique-private-zz", "--reason", "retired")

    out = server.cli("admin", "allow", "gone-lib", "--reason", "free the name")
    assert "freed the name of the removed project gone-lib" in out.stdout, out.stdout
    assert "warning: gone-lib now resolves upstream (the name watch found it at" in out.stderr, out.stderr
    assert "upstream.private_patterns" in out.stderr, out.stderr
    assert served_versions(server, "gone-lib") == ["9.9"]  # what the warning is about

    out = server.cli("admin", "allow", "unique-private-zz", "--reason", "free the name")
    assert "freed the name" in out.stdout and "warning" not in out.stderr, (out.stdout, out.stderr)


@both
def test_a_name_prohibited_while_its_upstream_page_is_cached_is_refused_at_once(gateway, upstream, kind):
    """An upstream page is kept in the page cache (served without a database read): a
    prohibition, made by the admin CLI in another process, reaches it through the upstream
    generation: on SQLite the very next request is refused, on PostgreSQL within the staleness
    bound (its notification may arrive after the next request); lifting it serves the page
    again."""
    upstream.add_wheel("cached-lib", "9.9", upload_time=ago(days=400))
    server = gateway(kind, upstream)
    for _ in range(3):  # the first asks the upstream, the next ones are the cache's
        assert served_versions(server, "cached-lib") == ["9.9"]
    server.cli("admin", "prohibit", "cached-lib", "--reason", "malware")
    assert srkit.settled(server, lambda: server.simple_json("cached-lib").status_code == 404)
    assert server.get("/simple/cached-lib/").status_code == 404
    server.cli("admin", "allow", "cached-lib", "--reason", "a mistake")
    assert srkit.settled(server, lambda: server.simple_json("cached-lib").status_code == 200)
    assert served_versions(server, "cached-lib") == ["9.9"]
