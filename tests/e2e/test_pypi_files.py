"""Real files published on PyPI (tests/pypi-samples.txt, fetched by scripts/test.sh) are all
accepted, served with the digests PyPI gives them, and installable by pip and uv.

A private index holds copies of PyPI's files, so anything PyPI hosts must upload: legacy names
(Flask-2.0.0.tar.gz), Metadata-Version 2.0 from old bdist_wheel, License-File outside
licenses/ in 2.1 metadata, compressed WHEEL tags (maturin), .zip sdists, abi3 and manylinux.
"""

from __future__ import annotations

import email.parser
import hashlib
import tarfile
import urllib.parse
import zipfile
from pathlib import Path

import pytest
import requests

import srkit


def samples() -> list[Path]:
    d = srkit.require_env("STRONGROOM_PYPI_SAMPLES")
    files = sorted(p for p in Path(d).iterdir() if p.suffix in (".whl", ".gz", ".zip"))
    assert len(files) >= 40, f"expected the sample set of tests/pypi-samples.txt in {d}, found {len(files)}"
    return files


def core_metadata(path: Path) -> bytes:
    """The file's own METADATA / PKG-INFO (top level only: vendored dist-infos don't count)."""
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
            return z.read(name)
    if path.name.endswith(".zip"):
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.count("/") == 1 and n.endswith("/PKG-INFO"))
            return z.read(name)
    with tarfile.open(path) as t:
        name = next(n for n in t.getnames() if n.count("/") == 1 and n.endswith("/PKG-INFO"))
        f = t.extractfile(name)
        assert f is not None
        return f.read()


def as_dist(path: Path) -> srkit.Dist:
    meta = email.parser.BytesParser().parsebytes(core_metadata(path))
    filetype = "bdist_wheel" if path.name.endswith(".whl") else "sdist"
    return srkit.Dist(
        filename=path.name,
        data=path.read_bytes(),
        name=meta["Name"],
        version=meta["Version"],
        filetype=filetype,
        metadata_version=meta["Metadata-Version"],
        summary=(meta["Summary"] or "").strip(),
    )


@pytest.mark.timeout(600)
def test_every_pypi_sample_uploads_and_serves_pypis_digests(server, tmp_path):
    token = server.user_with_token("mirror")
    refused = {}
    for path in samples():
        dist = as_dist(path)
        r = srkit.upload_raw(server, token, dist)
        if r.status_code != 200:
            refused[path.name] = f"{r.status_code} {r.reason}"
    assert not refused, f"files PyPI hosts were refused: {refused}"
    # Every file is listed with its real sha256 and downloads byte for byte.
    for path in samples():
        dist = as_dist(path)
        project = srkit.normalize(dist.name)
        page = server.get(f"/simple/{project}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}).json()
        entry = next((f for f in page["files"] if f["filename"] == path.name), None)
        assert entry is not None, f"{path.name} missing from /simple/{project}/"
        assert entry["hashes"]["sha256"] == hashlib.sha256(dist.data).hexdigest()
        assert entry["size"] == len(dist.data)
        url = urllib.parse.urljoin(server.url + f"/simple/{project}/", entry["url"])
        got = requests.get(url, timeout=60)
        assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == entry["hashes"]["sha256"], path.name
        if path.name.endswith(".whl"):
            meta = requests.get(url + ".metadata", timeout=30)
            assert meta.status_code == 200, path.name
            assert meta.content == core_metadata(path), f"{path.name}: PEP 658 metadata differs from the wheel's"
            assert entry["core-metadata"] == {"sha256": hashlib.sha256(meta.content).hexdigest()}
    # Installable by the real clients.
    target = tmp_path / "pip-target"
    srkit.pip_install(server, ["--no-deps", "numpy==2.1.1", "Django==1.11.29", "six==1.10.0", "MarkupSafe==3.0.2"],
                      target, tmp_path)
    got = srkit.installed(target)
    assert got.get("numpy") == "2.1.1" and got.get("django") == "1.11.29" and got.get("six") == "1.10.0", got
    target2 = tmp_path / "uv-target"
    srkit.uv_install(server, ["--no-deps", "pydantic-core==2.23.4", "cryptography==43.0.1", "flask==2.0.0"],
                     target2, tmp_path)
    got = srkit.installed(target2)
    assert got.get("pydantic-core") == "2.23.4" and got.get("cryptography") == "43.0.1" and got.get("flask") == "2.0.0", got
