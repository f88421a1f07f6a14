#!/usr/bin/env python3
"""Real next releases through the upload policy, for docs/scanning.md: how many are held.

    python3 tests/tools/next_release_report.py [--bin target/release/strongroom]
        [--corpus .test-work/corpus] [--previous .test-work/corpus-previous] [--port 9141]

A first release is scored on its findings alone; "new capability" and "new behaviour" apply
from the second release on, and the top-100 corpus test uploads first releases only. This
uploads, for every project with a wheel in --previous (tests/tools/fetch_previous.py fetches the
release before the corpus's pinned one, same tags), that previous wheel and then the corpus
wheel to a fresh server at the default hold score, through the real upload route, and reports
which of the second uploads were held and why (the review queue's reason). Stdlib and curl.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def project_of(wheel: Path) -> str:
    return wheel.name.split("-")[0]


def version_of(wheel: Path) -> str:
    return wheel.name.split("-")[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=str(REPO / "target/release/strongroom"))
    ap.add_argument("--corpus", default=str(REPO / ".test-work/corpus"))
    ap.add_argument("--previous", default=str(REPO / ".test-work/corpus-previous"))
    ap.add_argument("--port", type=int, default=9141)
    args = ap.parse_args()
    prev = {project_of(p): p for p in sorted(Path(args.previous).glob("*.whl"))}
    cur = {project_of(p): p for p in sorted(Path(args.corpus).glob("*.whl"))}
    pairs = [(prev[k], cur[k]) for k in sorted(prev) if k in cur]
    if not pairs:
        raise SystemExit("no pairs: run tests/tools/fetch_previous.py NAME... first")
    work = Path(tempfile.mkdtemp(prefix="next-release-"))
    data = work / "data"
    env = dict(os.environ, STRONGROOM_LOG="warn", STRONGROOM_REQUIRE_2FA="false", STRONGROOM_RATE_LIMITS="false",
               STRONGROOM_DOMAINS__CHECK_INTERVAL_HOURS="0")
    run = lambda *a, **kw: subprocess.run([args.bin, "--data", str(data), *a], env=env, check=True,  # noqa: E731
                                          capture_output=True, text=True, **kw)
    run("migrate")
    run("user", "create", "bench", "--email", "bench@example.org", "--password-stdin", input="bench-password\n")
    token = run("token", "create", "--user", "bench").stdout.strip()
    url = f"http://127.0.0.1:{args.port}"
    server = subprocess.Popen([args.bin, "--data", str(data), "serve", "--bind", f"127.0.0.1:{args.port}"], env=env,
                              stdout=subprocess.DEVNULL, stderr=open(work / "server.log", "w"))
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(url + "/simple/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)

        def upload(wheel: Path) -> tuple[int, str]:
            """The form twine sends; the status and the answer's body."""
            fields = {":action": "file_upload", "protocol_version": "1", "metadata_version": "2.1",
                      "name": project_of(wheel), "version": version_of(wheel), "filetype": "bdist_wheel",
                      "pyversion": "py3", "sha256_digest": hashlib.sha256(wheel.read_bytes()).hexdigest()}
            form = [a for k, v in fields.items() for a in ("-F", f"{k}={v}")]
            out = subprocess.run(["curl", "-sS", "-u", f"__token__:{token}", *form, "-F",
                                  f"content=@{wheel};type=application/octet-stream", "-w", "\n%{http_code}",
                                  url + "/legacy/"], capture_output=True, text=True)
            body, _, code = out.stdout.rpartition("\n")
            return int(code or 0), body

        held, refused, published = [], [], 0
        for p, c in pairs:
            rc, text = upload(p)
            if "held for review" in text.lower():
                print(f"  (previous {p.name} held: {text[:200]})", file=sys.stderr)
            rc, text = upload(c)
            if "held for review" in text.lower():
                held.append(c)
            elif rc != 200:
                refused.append((c, text[-300:]))
            else:
                published += 1
        items = json.loads(run("admin", "review", "list", "--json").stdout or "[]")
        reasons = {}
        for it in items if isinstance(items, list) else items.get("items", []):
            shown = json.loads(run("admin", "review", "show", str(it["id"]), "--json").stdout)
            reasons[f"{it.get('project')} {it.get('version')}"] = shown
        print(f"{len(pairs)} next releases: {published} published, {len(held)} held, {len(refused)} refused")
        for c in held:
            key = f"{project_of(c).replace('_', '-').lower()} {version_of(c)}"
            shown = next((v for k, v in reasons.items() if k.lower().replace("_", "-") == key), None)
            why = json.dumps(shown)[:600] if shown else "?"
            print(f"- held: {c.name}: {why}")
        for c, text in refused:
            print(f"- refused: {c.name}: {text}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
