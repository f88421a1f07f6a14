#!/usr/bin/env python3
"""Count the scanner's findings on real code, per rule, for docs/scanning.md.

    python3 tests/tools/corpus_report.py [--bin target/debug/strongroom]
        [--corpus .test-work/corpus] [--samples .test-work/pypi-samples] [--batch 20] [--json]

Runs `strongroom admin scan --json` over every file of the pinned corpus (tests/tools/top100.json,
fetched by tests/tools/fetch_corpus.py) and, when present, the PyPI sample files of
tests/pypi-samples.txt, and prints a Markdown table: per rule and severity, how many findings and
in how many files (and which projects, for the blocking severities), plus the files whose
findings would hold a release by themselves. Stdlib only; reads the scanner's JSON loosely (any
object with a `rule` of `SR-…` is a finding; the file it belongs to is the nearest object naming
a `file`/`path`/`filename` ending in an archive suffix, else the batch's single file).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ARCHIVES = (".whl", ".tar.gz", ".zip")
BLOCKING = {"high", "reject"}


def archive_name(d: dict) -> str | None:
    for key in ("file", "filename", "archive", "path"):
        v = d.get(key)
        if isinstance(v, str) and v.endswith(ARCHIVES):
            return Path(v).name
    return None


def collect(obj, current: str | None, out: list[tuple[str | None, dict]]) -> None:
    """(archive, finding) pairs anywhere in the scanner's JSON."""
    if isinstance(obj, dict):
        current = archive_name(obj) or current
        if isinstance(obj.get("rule"), str) and obj["rule"].startswith("SR-"):
            out.append((current, obj))
            return
        for v in obj.values():
            collect(v, current, out)
    elif isinstance(obj, list):
        for v in obj:
            collect(v, current, out)


def scan(binary: str, files: list[Path]) -> list[tuple[str, dict]]:
    proc = subprocess.run([binary, "admin", "scan", *map(str, files), "--json"], capture_output=True, text=True,
                          timeout=1800)
    if proc.returncode not in (0, 1) or not proc.stdout.strip():
        raise SystemExit(f"strongroom admin scan failed ({proc.returncode}) on {files[0].name}…:\n{proc.stderr[-2000:]}")
    pairs: list[tuple[str | None, dict]] = []
    collect(json.loads(proc.stdout), files[0].name if len(files) == 1 else None, pairs)
    return [(a or "?", f) for a, f in pairs]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=str(REPO / "target" / "debug" / "strongroom"))
    ap.add_argument("--corpus", default=str(REPO / ".test-work" / "corpus"))
    ap.add_argument("--samples", default=str(REPO / ".test-work" / "pypi-samples"))
    ap.add_argument("--batch", type=int, default=1, help="files per scanner run (1 attributes findings exactly)")
    ap.add_argument("--json", action="store_true", help="print the counts as JSON instead of Markdown")
    args = ap.parse_args()

    files = sorted(p for p in Path(args.corpus).iterdir() if p.name.endswith(ARCHIVES))
    if Path(args.samples).is_dir():
        files += sorted(p for p in Path(args.samples).iterdir() if p.name.endswith(ARCHIVES))
    if not files:
        raise SystemExit(f"no archives in {args.corpus} (run tests/tools/fetch_corpus.py)")

    started = time.monotonic()
    findings: list[tuple[str, dict]] = []
    for i in range(0, len(files), args.batch):
        findings += scan(args.bin, files[i:i + args.batch])
    elapsed = time.monotonic() - started

    count = Counter()
    in_files: dict[tuple[str, str], set[str]] = defaultdict(set)
    for archive, f in findings:
        key = (f["rule"], str(f.get("severity", "?")).lower())
        count[key] += 1
        in_files[key].add(archive)
    blocking = sorted({a for (rule, sev), names in in_files.items() if sev in BLOCKING for a in names})

    if args.json:
        print(json.dumps({
            "files": len(files), "seconds": round(elapsed, 1),
            "rules": [{"rule": r, "severity": s, "findings": n, "files": len(in_files[(r, s)])}
                      for (r, s), n in sorted(count.items())],
            "blocking_files": blocking,
        }, indent=1))
        return 0

    size = sum(p.stat().st_size for p in files)
    print(f"Scanned {len(files)} files ({size / 1e6:.0f} MB) in {elapsed:.0f} s.\n")
    print("| Rule | Severity | Findings | Files |")
    print("|---|---|---:|---:|")
    for (rule, sev), n in sorted(count.items()):
        print(f"| `{rule}` | {sev} | {n} | {len(in_files[(rule, sev)])} |")
    if not count:
        print("| (none) | | 0 | 0 |")
    print()
    if blocking:
        print(f"Files with a high or reject finding ({len(blocking)}): " + ", ".join(blocking))
    else:
        print("No file has a high or reject finding.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
