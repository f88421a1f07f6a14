"""Synthetic data for the scale benchmarks (issue 14): `strongroom admin generate-synthetic`,
hidden from the help, fills a started server's database through the store; pip installs a sampled
project (real wheel bytes) from it, and every other synthetic file has no bytes (its download
answers 503, as a missing blob does, and fsck reports it). On both backends.
"""

from __future__ import annotations

import re

import requests

import srkit


def test_generated_index_serves_and_installs_a_sampled_wheel(server, tmp_path):
    helps = [server.cli("--help"), server.cli("admin", "--help")]
    assert all("generate-synthetic" not in srkit.output(h) for h in helps)

    gen = server.cli("admin", "generate-synthetic", "--projects", "40", "--files-per-project", "3",
                     "--blobs-sample", "2", "--seed", "5")
    out = gen.stdout
    assert re.search(r"generated 40 projects, 80 releases, 120 files, 240 journal entries, 160 events", out), out
    samples = [ln.split()[1:] for ln in out.splitlines() if ln.startswith("sample ")]
    assert len(samples) == 2, out

    # a second run without --append is refused and adds nothing
    again = server.cli("admin", "generate-synthetic", "--projects", "3", check=False)
    assert again.returncode != 0 and "--append" in srkit.output(again), srkit.output(again)
    root = server.get("/simple/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    assert root.status_code == 200 and len(root.json()["projects"]) == 40, root.text[:300]

    name, version, filename = samples[0]
    target = tmp_path / "target"
    srkit.pip_install(server, [f"{name}=={version}"], target, tmp_path)
    module = name.replace("-", "_")
    init = (target / module / "__init__.py").read_text()
    assert f'__version__ = "{version}"' in init, init
    assert (target / f"{module}-{version}.dist-info" / "METADATA").exists()

    # the project page lists every file of the project; a file outside the sample has no bytes
    files = server.project_files(name)
    assert len(files) == 3 and filename in {f["filename"] for f in files}, files
    other = next(f for f in files if f["filename"] != filename)
    assert requests.get(other["url"], timeout=30).status_code == 503

    fsck = server.cli("admin", "fsck", check=False)
    assert fsck.returncode == 1, srkit.output(fsck)
    lines = [ln for ln in fsck.stdout.splitlines() if ln.strip()]
    missing = [ln for ln in lines if ln.startswith("blob-missing")]
    assert len(missing) == 118, srkit.output(fsck)
    assert not any(s[2] in ln for s in samples for ln in missing), srkit.output(fsck)
