#!/usr/bin/env python3
"""Upload latency at a given index size (issue 14: "upload latency flat"): N small wheels, each
a new project, then N new releases of one project, each sent alone with curl in the form twine
sends (one at a time, so each time is the server's latency for that upload, not a queue's).

usage: upload_latency.py UPLOAD_URL TOKEN N WORKDIR
Prints one line: "new_p50_ms new_max_ms release_p50_ms release_max_ms failures" and exits 1 if
any upload was not answered 200.
"""

from __future__ import annotations

import hashlib
import os
import random
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_corpus  # noqa: E402  (the harness's wheel maker)


def upload(url: str, token: str, path: str, name: str, version: str) -> tuple[str, float]:
    data = open(path, "rb").read()
    sha = hashlib.sha256(data).hexdigest()
    b2 = hashlib.blake2b(data, digest_size=32).hexdigest()
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-u", f"__token__:{token}",
         "-F", ":action=file_upload", "-F", "protocol_version=1", "-F", "metadata_version=2.1",
         "-F", f"name={name}", "-F", f"version={version}", "-F", "filetype=bdist_wheel",
         "-F", "pyversion=py3", "-F", f"sha256_digest={sha}", "-F", f"blake2_256_digest={b2}",
         "-F", f"content=@{path};type=application/octet-stream", url],
        capture_output=True, text=True, timeout=120, check=False)
    code, secs = (out.stdout.split() + ["000", "0"])[:2]
    return code, float(secs) * 1000


def main() -> int:
    url, token, n, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    os.makedirs(work, exist_ok=True)
    rng = random.Random(7)
    # names no earlier run made (a REUSE'd data folder keeps the last run's probes, owned by
    # that run's account); the wheels' contents stay seeded
    tag = f"{random.SystemRandom().getrandbits(32):08x}"
    new, rel, bad = [], [], 0
    for i in range(n):
        name = f"latency-probe-{tag}-{i}"
        path = gen_corpus.make_wheel(work, name, "1.0", [], rng, 2048)
        code, ms = upload(url, token, path, name, "1.0")
        bad += code != "200"
        new.append(ms)
    for i in range(n):
        name = f"latency-probe-{tag}-0"
        version = f"2.{i}"
        path = gen_corpus.make_wheel(work, name, version, [], rng, 2048)
        code, ms = upload(url, token, path, name, version)
        bad += code != "200"
        rel.append(ms)
    print("%.1f %.1f %.1f %.1f %d" % (statistics.median(new), max(new), statistics.median(rel), max(rel), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
