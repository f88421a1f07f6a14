"""Publish with twine, install with pip and uv: the real clients against `strongroom serve`,
on both backends (SQLite + local folder, PostgreSQL + S3)."""

import hashlib
import json
import re

import pytest
import requests

import srkit
from srkit import SIMPLE_JSON

PASSWORD = "correct horse battery staple 42"


def owner(server, name="alice"):
    server.create_user(name, PASSWORD)
    return server.create_token(name)


def test_twine_upload_of_wheel_and_sdist_then_pip_install_and_import(server, dists, tmp_path):
    token = owner(server)
    proc = srkit.twine_upload(server, token, dists.demo_v1, tmp_path)
    assert "sr_demo-1.0-py3-none-any.whl" in srkit.output(proc)
    files = {f["filename"]: f for f in server.project_files("sr-demo")}
    assert set(files) == {p.name for p in dists.demo_v1}
    for p in dists.demo_v1:
        assert files[p.name]["hashes"]["sha256"] == srkit.sha256(p.read_bytes())
        assert files[p.name]["size"] == p.stat().st_size

    target = tmp_path / "target"
    srkit.pip_install(server, ["sr-demo"], target, tmp_path)
    assert srkit.installed(target) == {"sr-demo": "1.0"}
    assert srkit.import_check(target, "sr_demo", tmp_path) == "1.0"


def test_pip_install_require_hashes_with_sha256_from_the_json_api(server, dists, tmp_path):
    token = owner(server)
    srkit.twine_upload(server, token, dists.demo_v1, tmp_path)
    doc = server.get("/pypi/sr-demo/1.0/json").json()
    hashes = [f["digests"]["sha256"] for f in doc["urls"]]
    assert sorted(hashes) == sorted(srkit.sha256(p.read_bytes()) for p in dists.demo_v1)
    req = tmp_path / "req.txt"
    req.write_text("sr-demo==1.0 " + " ".join(f"--hash=sha256:{h}" for h in hashes) + "\n")
    target = tmp_path / "target"
    srkit.pip_install(server, ["--require-hashes", "--only-binary", ":all:", "-r", str(req)], target, tmp_path)
    assert srkit.installed(target) == {"sr-demo": "1.0"}

    # the hash check is real: a wrong hash makes pip refuse what the index serves
    bad = tmp_path / "bad.txt"
    bad.write_text("sr-demo==1.0 --hash=sha256:" + "0" * 64 + "\n")
    proc = srkit.pip_install(server, ["--require-hashes", "-r", str(bad)], tmp_path / "t2", tmp_path, check=False)
    assert proc.returncode != 0
    assert "DO NOT MATCH THE HASHES" in srkit.output(proc)


def test_pip_download_gets_exactly_the_uploaded_bytes(server, dists, tmp_path):
    token = owner(server)
    srkit.twine_upload(server, token, dists.demo_v1, tmp_path)
    dest = tmp_path / "dl"
    srkit.pip(["download", "--no-cache-dir", "--no-deps", "--only-binary", ":all:", "--index-url",
               server.simple_url, "-d", str(dest), "sr-demo==1.0"], tmp_path)
    wheel = dists.wheel(dists.demo_v1)
    assert (dest / wheel.name).read_bytes() == wheel.read_bytes()


def test_uv_pip_install_resolves_dependencies_from_the_index(server, dists, tmp_path):
    token = owner(server)
    srkit.twine_upload(server, token, [*dists.demo_v1, *dists.app_v1], tmp_path)
    target = tmp_path / "target"
    srkit.uv_install(server, ["sr-app"], target, tmp_path)
    assert srkit.installed(target) == {"sr-app": "1.0", "sr-demo": "1.0"}
    assert srkit.import_check(target, "sr_app", tmp_path) == "1.0"
    assert srkit.import_check(target, "sr_demo", tmp_path) == "1.0"


def test_pip_install_with_extra_pulls_the_optional_dependency(server, dists, tmp_path):
    token = owner(server)
    srkit.twine_upload(server, token, [*dists.demo_v1, *dists.app_v1, *dists.yank_v1], tmp_path)
    target = tmp_path / "target"
    srkit.pip_install(server, ["sr-app[extra]"], target, tmp_path)
    assert srkit.installed(target) == {"sr-app": "1.0", "sr-demo": "1.0", "sr-yank": "1.0"}


def test_dependency_tree_of_33_projects_installs_with_pip_and_uv(server, corpus, tmp_path):
    token = owner(server)
    srkit.twine_upload(server, token, corpus.wheels, tmp_path)
    index = server.simple_json().json()
    assert {srkit.normalize(p["name"]) for p in index["projects"]} == corpus.projects
    expected = {name: "1.0.0" for name in corpus.projects}

    t_pip = tmp_path / "pip-target"
    srkit.pip_install(server, [corpus.app], t_pip, tmp_path)
    assert srkit.installed(t_pip) == expected

    t_uv = tmp_path / "uv-target"
    srkit.uv_install(server, [corpus.app], t_uv, tmp_path)
    assert srkit.installed(t_uv) == expected


def test_requires_python_excludes_a_release_the_interpreter_cannot_run(server, dists, tmp_path):
    token = owner(server)
    srkit.twine_upload(server, token, [*dists.demo_v1, *dists.demo_v2], tmp_path)
    page = server.simple_json("sr-demo").json()
    by_version = {}
    for f in page["files"]:
        version = f["filename"].removesuffix(".tar.gz").split("-")[1]
        by_version.setdefault(version, set()).add(f["requires-python"])
    assert by_version == {"1.0": {">=3.8"}, "2.0": {">=3.99"}}

    t1 = tmp_path / "pip"
    srkit.pip_install(server, ["sr-demo"], t1, tmp_path)
    assert srkit.installed(t1) == {"sr-demo": "1.0"}
    t2 = tmp_path / "uv"
    srkit.uv_install(server, ["sr-demo"], t2, tmp_path)
    assert srkit.installed(t2) == {"sr-demo": "1.0"}
    proc = srkit.pip_install(server, ["sr-demo==2.0"], tmp_path / "t3", tmp_path, check=False)
    assert proc.returncode != 0
    assert "Requires-Python" in srkit.output(proc)


def test_yanked_release_is_skipped_unless_pinned_and_unyank_restores_it(server, dists, tmp_path):
    token = owner(server)
    srkit.twine_upload(server, token, [*dists.yank_v1, *dists.yank_v11], tmp_path)
    server.yank("sr-yank", "1.1", reason="broken build")
    yanked = {f["filename"]: f["yanked"] for f in server.project_files("sr-yank")}
    assert {fn: y for fn, y in yanked.items() if "-1.1" in fn} == {p.name: "broken build" for p in dists.yank_v11}
    assert {fn: y for fn, y in yanked.items() if "-1.0" in fn} == {p.name: False for p in dists.yank_v1}

    t = tmp_path / "latest"
    srkit.pip_install(server, ["sr-yank"], t, tmp_path)
    assert srkit.installed(t) == {"sr-yank": "1.0"}
    t = tmp_path / "uv-latest"
    srkit.uv_install(server, ["sr-yank"], t, tmp_path)
    assert srkit.installed(t) == {"sr-yank": "1.0"}
    t = tmp_path / "pinned"
    proc = srkit.pip_install(server, ["sr-yank==1.1"], t, tmp_path)
    assert srkit.installed(t) == {"sr-yank": "1.1"}
    assert "broken build" in srkit.output(proc)  # pip warns with the yank reason

    server.unyank("sr-yank", "1.1")
    assert srkit.settled(server, lambda: all(f["yanked"] is False for f in server.project_files("sr-yank")))
    t = tmp_path / "after-unyank"
    srkit.pip_install(server, ["sr-yank"], t, tmp_path)
    assert srkit.installed(t) == {"sr-yank": "1.1"}
    # both are in the project's history, with the version and the reason
    story = json.loads(server.cli("admin", "timeline", "--project", "sr-yank", "--json").stdout)
    yanks = [(e["action"], e["details"].get("version"), e["details"].get("reason")) for e in story
             if e["action"].startswith("release:")]
    assert yanks == [("release:yank", "1.1", "broken build"), ("release:unyank", "1.1", None)], yanks


def test_pep658_metadata_file_equals_the_wheels_metadata_and_its_advertised_hash(server, dists, tmp_path):
    token = owner(server)
    srkit.twine_upload(server, token, dists.demo_v1, tmp_path)
    wheel = dists.wheel(dists.demo_v1)
    files = {f["filename"]: f for f in server.project_files("sr-demo")}
    wf = files[wheel.name]
    expected_meta = srkit.wheel_metadata(wheel)
    assert wf["core-metadata"] == {"sha256": srkit.sha256(expected_meta)}
    resp = requests.get(wf["url"] + ".metadata", timeout=30)
    assert resp.status_code == 200
    assert resp.content == expected_meta
    assert hashlib.sha256(resp.content).hexdigest() == wf["core-metadata"]["sha256"]
    assert files[dists.sdist(dists.demo_v1).name]["core-metadata"] is False
    # pip uses the metadata file when resolving (and the install still works)
    target = tmp_path / "t"
    srkit.pip_install(server, ["sr-demo"], target, tmp_path)
    assert srkit.installed(target) == {"sr-demo": "1.0"}


def test_reupload_of_the_identical_file_succeeds_and_changes_nothing(server, dists, tmp_path):
    token = owner(server)
    srkit.twine_upload(server, token, dists.demo_v1, tmp_path)
    serial = server.global_serial()
    page = server.simple_json("sr-demo").json()
    proc = srkit.twine_upload(server, token, dists.demo_v1, tmp_path)  # exits 0: 200 for each file
    assert "File already exists" not in srkit.output(proc)
    assert server.global_serial() == serial
    assert server.simple_json("sr-demo").json() == page


def test_same_filename_with_other_bytes_is_refused_and_skip_existing_skips_it(server, dists, tmp_path):
    token = owner(server)
    srkit.twine_upload(server, token, dists.demo_v1, tmp_path)
    wheel = dists.wheel(dists.demo_v1)
    alt = dists.wheel(dists.demo_v1_alt)
    assert alt.name == wheel.name and alt.read_bytes() != wheel.read_bytes()
    serial = server.global_serial()

    proc = srkit.twine_upload(server, token, [alt], tmp_path, check=False)
    assert proc.returncode != 0
    out = srkit.output(proc)
    assert "400" in out and "File already exists" in out, out

    # twine 7 refuses --skip-existing for non-PyPI URLs, so ask twine's own rule whether it would
    # skip the server's answer (400 with "already exist" in the reason or body, or 409)
    from twine.commands.upload import skip_upload

    resp = srkit.upload_raw(server, token, srkit.Dist(alt.name, alt.read_bytes(), "sr-demo", "1.0", "bdist_wheel"))
    assert resp.status_code == 400 and resp.reason.startswith("File already exists"), (resp.status_code, resp.reason)
    assert skip_upload(resp, True, None)

    # uv publish --check-url skips files the index already has with the same hash, and fails on others
    proc = srkit.uv_publish(server, token, [wheel], tmp_path, extra=["--check-url", server.simple_url])
    proc = srkit.uv_publish(server, token, [alt], tmp_path, check=False)
    assert proc.returncode != 0 and "File already exists" in srkit.output(proc), srkit.output(proc)
    assert server.global_serial() == serial
    served = {f["filename"]: f for f in server.project_files("sr-demo")}[wheel.name]
    assert served["hashes"]["sha256"] == srkit.sha256(wheel.read_bytes())
    assert requests.get(served["url"], timeout=30).content == wheel.read_bytes()


def test_project_scoped_token_cannot_upload_to_another_project(server, dists, tmp_path):
    token = owner(server)
    srkit.twine_upload(server, token, [*dists.demo_v1, *dists.yank_v1], tmp_path)
    scoped = server.create_token("alice", project="sr-demo")
    srkit.twine_upload(server, scoped, dists.demo_v2, tmp_path)  # its own project: fine

    # another existing project of the same user
    proc = srkit.twine_upload(server, scoped, dists.yank_v11, tmp_path, check=False)
    out = srkit.output(proc)
    assert proc.returncode != 0 and "403" in out and "sr-yank" in out, out
    assert re.search(r"isn't allowed to upload|Invalid API Token", out), out
    assert {f["filename"] for f in server.project_files("sr-yank")} == {p.name for p in dists.yank_v1}

    # a new project: a scoped token cannot create one
    proc = srkit.twine_upload(server, scoped, dists.app_v1, tmp_path, check=False)
    out = srkit.output(proc)
    assert proc.returncode != 0 and "403" in out, out
    assert server.get("/simple/sr-app/").status_code == 404


def test_second_users_token_cannot_upload_to_the_first_users_project(server, dists, tmp_path):
    token = owner(server, "alice")
    srkit.twine_upload(server, token, dists.demo_v1, tmp_path)
    bob = owner(server, "bob")
    proc = srkit.twine_upload(server, bob, dists.demo_v2, tmp_path, check=False)
    out = srkit.output(proc)
    assert proc.returncode != 0
    assert "403" in out and "The user 'bob' isn't allowed to upload to project 'sr-demo'." in out, out
    assert {f["filename"] for f in server.project_files("sr-demo")} == {p.name for p in dists.demo_v1}


def test_uv_publish_uploads_and_pip_installs(server, dists, tmp_path):
    token = owner(server)
    proc = srkit.uv_publish(server, token, dists.yank_v1, tmp_path)
    assert "sr_yank-1.0" in srkit.output(proc)
    assert {f["filename"] for f in server.project_files("sr-yank")} == {p.name for p in dists.yank_v1}
    # again with --check-url: the files exist with the same hashes, so uv skips them
    serial = server.global_serial()
    srkit.uv_publish(server, token, dists.yank_v1, tmp_path, extra=["--check-url", server.simple_url])
    assert server.global_serial() == serial
    target = tmp_path / "t"
    srkit.pip_install(server, ["sr-yank"], target, tmp_path)
    assert srkit.installed(target) == {"sr-yank": "1.0"}


def test_username_and_password_basic_auth_is_refused_like_pypi(server, dists, tmp_path):
    owner(server)
    proc = srkit.twine_upload(server, PASSWORD, dists.demo_v1, tmp_path, user="alice", check=False)
    out = srkit.output(proc)
    assert proc.returncode != 0 and "403" in out, out
    assert ("Username/Password authentication is no longer supported. "
            "Migrate to API Tokens instead") in out, out
    assert server.get("/simple/sr-demo/").status_code == 404


@pytest.mark.parametrize("scheme", ["Bearer", "token"])
def test_token_in_authorization_header_schemes_is_accepted(strongroom, scheme, tmp_path):
    server = strongroom("sqlite")
    token = owner(server)
    dist = srkit.make_wheel("sr-hdr", "1.0")
    resp = srkit.upload_raw(server, None, dist, headers={"Authorization": f"{scheme} {token}"})
    assert resp.status_code == 200, (resp.status_code, resp.reason, resp.text)
    assert server.simple_json("sr-hdr").status_code == 200


def test_json_simple_page_is_what_pip_sees_with_pep691(server, dists, tmp_path):
    """pip asks for PEP 691 JSON first; the files it gets carry sha256 and size for every file."""
    token = owner(server)
    srkit.twine_upload(server, token, dists.demo_v1, tmp_path)
    resp = server.get("/simple/sr-demo/", headers={"Accept": "application/vnd.pypi.simple.v1+json, "
                                                   "application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"})
    assert resp.headers["Content-Type"].split(";")[0] == SIMPLE_JSON
    for f in resp.json()["files"]:
        assert re.fullmatch(r"[0-9a-f]{64}", f["hashes"]["sha256"])
        assert isinstance(f["size"], int) and f["size"] > 0
