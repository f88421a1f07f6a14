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
