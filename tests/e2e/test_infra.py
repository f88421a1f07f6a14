"""The test services and tools themselves: if one of these fails, the rest of the suite cannot
be trusted (nothing is skipped when a service is missing: these tests fail instead)."""

import sys

import requests

import srkit


def test_postgres_service_is_reachable_and_can_create_a_database():
    url = srkit.create_pg_database()
    try:
        assert srkit.pg_exec(url, "select current_database()").strip() == url.rsplit("/", 1)[1]
    finally:
        srkit.drop_pg_database(url)


def test_s3_service_accepts_signed_requests_and_rejects_bad_signatures():
    s3 = srkit.S3.from_env()
    bucket = srkit.require_env("STRONGROOM_TEST_S3_BUCKET")
    body = b"strongroom s3 probe \x00\xff"
    assert s3.request("PUT", f"/{bucket}/probe/object.bin", body=body).status_code == 200
    got = s3.request("GET", f"/{bucket}/probe/object.bin")
    assert got.status_code == 200 and got.content == body
    assert "probe/object.bin" in s3.list_keys(bucket)
    # wrong secret key -> SigV4 mismatch
    bad = s3.request("GET", f"/{bucket}/probe/object.bin", secret_key="not-the-secret")
    assert bad.status_code == 403, bad.text
    assert "SignatureDoesNotMatch" in bad.text
    # unsigned
    assert requests.get(f"{s3.endpoint}/{bucket}/probe/object.bin", timeout=10).status_code == 403
    assert s3.request("DELETE", f"/{bucket}/probe/object.bin").status_code in (200, 204)


def test_s3_service_creates_fresh_buckets():
    s3 = srkit.S3.from_env()
    bucket = s3.create_bucket()
    assert s3.list_keys(bucket) == []


def test_python_clients_are_installed():
    for name in ("twine", "uv", "bandersnatch"):
        srkit.run([srkit.tool(name), "--version"], timeout=60)
    srkit.run([sys.executable, "-m", "pip", "--version"], timeout=60)
    srkit.run([sys.executable, "-m", "build", "--version"], timeout=60)


def test_generated_dists_are_valid_archives(tmp_path):
    """The hand-made wheels/sdists used by the raw upload tests are what pip itself accepts."""
    whl = srkit.make_wheel("sr-gen", "1.0", requires_dist=["sr-dep>=1"], requires_python=">=3.8")
    path = whl.write(tmp_path / "wheels")
    target = tmp_path / "target"
    srkit.pip(["install", "--no-index", "--no-deps", "--no-cache-dir", "--target", str(target), str(path)], tmp_path)
    assert srkit.installed(target) == {"sr-gen": "1.0"}
    assert srkit.wheel_metadata(whl.data) == whl.metadata
    sd = srkit.make_sdist("sr-gen", "1.0")
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(sd.data)) as tf:
        names = tf.getnames()
    assert "sr_gen-1.0/PKG-INFO" in names and sd.filename == "sr_gen-1.0.tar.gz"


def test_upstream_fixture_is_a_pypi_shaped_index_pip_and_uv_install_from(upstream, tmp_path):
    """tests/tools/upstream_fixture.py, which the gateway's tests use as "PyPI": real pip and uv
    install from it directly (PEP 691 JSON for both; pip also from the HTML), files come from the
    second host with the advertised hashes, and its controls do what they say."""
    import time

    from upstream_fixture import SIMPLE_JSON, ago

    dep = upstream.add_wheel("Fix-Dep", "1.0", upload_time=ago(days=400))
    upstream.add_wheel("fix-dep", "2.0", upload_time=ago(hours=1), yanked="broken build")
    app = upstream.add_wheel("fix-app", "1.0", requires=["fix-dep>=1.0"], upload_time=ago(days=30))

    page = requests.get(upstream.simple_url + "fix-dep/", headers={"Accept": SIMPLE_JSON}, timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"] == SIMPLE_JSON
    doc = page.json()
    assert doc["meta"]["api-version"] == "1.4" and doc["versions"] == ["1.0", "2.0"]
    f0 = doc["files"][0]
    assert f0["hashes"] == {"sha256": dep.sha256} and f0["size"] == dep.size
    assert f0["core-metadata"] == {"sha256": dep.metadata_sha256} and f0["yanked"] is False
    assert f0["url"].startswith(upstream.files_origin + "/packages/") and upstream.files_origin not in upstream.simple_url
    assert doc["files"][1]["yanked"] == "broken build"
    assert requests.get(f0["url"], timeout=10).content == dep.data
    assert requests.get(f0["url"] + ".metadata", timeout=10).content == dep.metadata
    again = requests.get(upstream.simple_url + "fix-dep/", headers={"Accept": SIMPLE_JSON,
                         "If-None-Match": page.headers["ETag"]}, timeout=10)
    assert again.status_code == 304
    html = requests.get(upstream.simple_url + "fix-dep/", timeout=10)
    assert html.headers["Content-Type"] == "text/html" and f'#sha256={dep.sha256}' in html.text
    assert 'data-yanked="broken build"' in html.text and 'data-core-metadata="sha256=' in html.text
    assert requests.get(upstream.simple_url + "Fix_Dep/", allow_redirects=False, timeout=10).status_code == 301

    for name, cmd in [("pip", [sys.executable, "-m", "pip", "install", "--no-cache-dir"]),
                      ("pip-html", [sys.executable, "-m", "pip", "install", "--no-cache-dir"]),
                      ("uv", [srkit.tool("uv"), "pip", "install", "--no-cache", "--python", sys.executable])]:
        upstream.html_only = name == "pip-html"
        target = tmp_path / name
        srkit.run([*cmd, "--index-url", upstream.simple_url, "--target", target, "fix-app"],
                  env=srkit.client_env(tmp_path / f"{name}-env"))
        assert srkit.installed(target) == {"fix-app": "1.0", "fix-dep": "1.0"}, name
    upstream.html_only = False
    assert upstream.hits[app.path] == 3 and upstream.hits[app.path + ".metadata"] >= 1
    assert any(h["Accept"].startswith(SIMPLE_JSON) for role, _, p, h in upstream.log if p == "/simple/fix-app/")

    # controls: corrupt keeps the advertised hash, delay, stop/start on the same ports
    upstream.corrupt(dep.filename)
    bad = requests.get(upstream.file_url(dep), timeout=10).content
    assert len(bad) == dep.size and bad != dep.data
    assert requests.get(upstream.simple_url + "fix-dep/", headers={"Accept": SIMPLE_JSON},
                        timeout=10).json()["files"][0]["hashes"]["sha256"] == dep.sha256
    upstream.delay = 1.0
    with __import__("pytest").raises(requests.exceptions.ReadTimeout):
        requests.get(upstream.simple_url, timeout=0.3)
    upstream.delay = 0
    url = upstream.simple_url
    upstream.stop()
    with __import__("pytest").raises(requests.exceptions.ConnectionError):
        requests.get(url, timeout=5)
    upstream.start()
    assert upstream.simple_url == url and requests.get(url, timeout=5).status_code == 200
    upstream.drip = (200, 0.2)
    t0 = time.monotonic()
    assert requests.get(upstream.file_url(app), timeout=10).content == app.data
    assert time.monotonic() - t0 >= 0.2 * (app.size // 200)
