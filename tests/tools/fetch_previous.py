#!/usr/bin/env python3
"""Fetch the release before the corpus's pinned one for a few projects, for the "next release"
mode of scripts/bench/scan_cost.sh (issue 13's scan-cost bar).

    python3 tests/tools/fetch_previous.py [--dest .test-work/corpus-previous] NAME...

For each NAME, the wheel pinned in tests/tools/top100.json names release N and its tags; the
public JSON API gives the newest final release below N with a wheel of the same tags, which
is downloaded (verified against the API's sha256) into DEST under its own name. Already present
and verified: skipped. Stdlib only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
API = "https://pypi.org/pypi/{}/json"


def version_key(v: str):
    parts = []
    for p in v.split("."):
        if not p.isdigit():
            return None  # pre-releases, post-releases, local versions: not a "previous release"
        parts.append(int(p))
    return tuple(parts)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dest", default=str(REPO / ".test-work/corpus-previous"))
    ap.add_argument("--list", default=str(REPO / "tests/tools/top100.json"))
    ap.add_argument("names", nargs="+")
    args = ap.parse_args()
    pinned = json.load(open(args.list))["files"]
    dest = Path(args.dest)
    dest.mkdir(parents=True, exist_ok=True)
    failed = 0
    for name in args.names:
        wheel = next((f for f in pinned if f["project"] == name and f["kind"] == "wheel"), None)
        if wheel is None:
            print(f"{name}: no pinned wheel", file=sys.stderr)
            failed += 1
            continue
        version = wheel["version"]
        tags = wheel["filename"].split("-", 2)[2]  # after name-version-
        with urllib.request.urlopen(API.format(name), timeout=60) as r:
            releases = json.load(r)["releases"]
        below = sorted(
            (k, v) for v, k in ((v, version_key(v)) for v in releases)
            if k is not None and version_key(version) is not None and k < version_key(version)
        )
        chosen = None
        for _, v in reversed(below):
            files = [f for f in releases[v] if f["filename"].endswith(tags) and not f.get("yanked")]
            if files:
                chosen = files[0]
                break
        if chosen is None:
            print(f"{name}: no earlier release with a {tags} wheel", file=sys.stderr)
            failed += 1
            continue
        target = dest / chosen["filename"]
        want = chosen["digests"]["sha256"]
        if not (target.exists() and sha256_of(target) == want):
            tmp = target.with_name(target.name + ".part")
            with urllib.request.urlopen(urllib.parse.urljoin(API.format(name), chosen["url"]), timeout=120) as r, open(tmp, "wb") as out:
                while chunk := r.read(1 << 20):
                    out.write(chunk)
            if sha256_of(tmp) != want:
                tmp.unlink()
                print(f"{chosen['filename']}: sha256 mismatch", file=sys.stderr)
                failed += 1
                continue
            os.replace(tmp, target)
        print(f"{name}: {version} <- {chosen['filename']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
