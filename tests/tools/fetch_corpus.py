#!/usr/bin/env python3
"""Download the pinned real-code corpus (tests/tools/top100.json) once, verified, into a cache.

    python3 tests/tools/fetch_corpus.py [--list tests/tools/top100.json] [--dest .test-work/corpus]

Every file is fetched directly from its pinned URL (nothing is built or resolved), checked against
its pinned size and sha256, and written atomically; a file already present with the right sha256
is skipped, so reruns cost nothing. Transient failures are retried with a back-off; a file that
still fails, or whose digest does not match, fails the run with a message naming it. scripts/test.sh
calls this (`setup_corpus`) and exports STRONGROOM_TEST_CORPUS for tests/e2e/test_scanning.py. Stdlib only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHUNK = 1 << 20


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def fetch_one(entry: dict, dest: Path, tries: int) -> str | None:
    """None when the file is in place and verified, else a sentence saying why not."""
    target = dest / entry["filename"]
    if target.exists() and target.stat().st_size == entry["size"] and file_sha256(target) == entry["sha256"]:
        return None
    tmp = target.with_name(target.name + ".part")
    last = "unknown error"
    for attempt in range(tries):
        try:
            h = hashlib.sha256()
            req = urllib.request.Request(entry["url"], headers={"User-Agent": "strongroom-tests/fetch_corpus"})
            with urllib.request.urlopen(req, timeout=60) as r, open(tmp, "wb") as out:
                while chunk := r.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            size = tmp.stat().st_size
            if size != entry["size"] or h.hexdigest() != entry["sha256"]:
                # A wrong digest is not transient: the pin or the host is wrong. Do not retry.
                tmp.unlink(missing_ok=True)
                return (f"{entry['filename']}: got {size} bytes with sha256 {h.hexdigest()}, "
                        f"pinned {entry['size']} bytes with sha256 {entry['sha256']}")
            os.replace(tmp, target)
            return None
        except Exception as e:  # noqa: BLE001 - network errors of every kind are retried
            last = f"{type(e).__name__}: {e}"
            tmp.unlink(missing_ok=True)
            if attempt + 1 < tries:
                time.sleep(min(30, 2 ** attempt))
    return f"{entry['filename']}: {last} (after {tries} tries, from {entry['url']})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", default=str(REPO / "tests" / "tools" / "top100.json"))
    ap.add_argument("--dest", default=str(REPO / ".test-work" / "corpus"))
    ap.add_argument("--jobs", type=int, default=4)
    ap.add_argument("--tries", type=int, default=4)
    args = ap.parse_args()

    pinned = json.loads(Path(args.list).read_text())["files"]
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    wanted = {e["filename"] for e in pinned}
    # Files of an older pin are removed, so the directory holds exactly the pinned corpus.
    for stale in dest.iterdir():
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
    started = time.monotonic()
    with ThreadPoolExecutor(max(1, args.jobs)) as ex:
        problems = [p for p in ex.map(lambda e: fetch_one(e, dest, args.tries), pinned) if p]
    if problems:
        print(f"fetching the corpus failed for {len(problems)} of {len(pinned)} files:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)
        return 1
    total = sum(e["size"] for e in pinned)
    print(f"corpus: {len(pinned)} files, {total / 1e6:.1f} MB verified in {dest} "
          f"({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
