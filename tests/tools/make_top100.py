#!/usr/bin/env python3
"""Regenerate tests/tools/top100.json: pinned files of the most-downloaded Python projects.

Not run by the tests (they read the pinned JSON; tests/tools/fetch_corpus.py downloads and
verifies the files). Run it by hand to refresh the corpus:

    python3 tests/tools/make_top100.py [--out tests/tools/top100.json] [--max-bytes 30000000]

For each project in PROJECTS (a hand-kept list of well-known top projects by downloads), it asks
the public JSON API (``https://pypi.org/pypi/<name>/json``) for the latest release and pins:

* one wheel: a pure ``py3-none-any`` / ``py2.py3-none-any`` one when present, else a CPython 3.11
  manylinux x86_64 wheel (``cp311`` or ``abi3``; ``cp312``/``cp313`` for a release without 3.11);
* the sdist (``.tar.gz`` or ``.zip``), when the release has one;

each only when under --max-bytes (30 MB by default, so CI stays fast), recording url, filename,
size and sha256. It stops at --count projects that pinned at least one file. Stdlib only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.parse
import urllib.request

# Well-known most-downloaded projects, most downloaded first (roughly). More than 100 so that a
# project without a suitable file can be skipped and the list still reaches 100.
PROJECTS = """
boto3 botocore urllib3 requests setuptools certifi idna charset-normalizer typing-extensions
python-dateutil packaging s3transfer six pyyaml numpy aiobotocore grpcio-status fsspec s3fs
pip cryptography cffi pycparser attrs pydantic pydantic-core protobuf jmespath wheel
importlib-metadata zipp platformdirs pandas rsa pyasn1 click markupsafe jinja2 pytz tzdata
filelock colorama google-api-core pluggy pyjwt virtualenv tomli jsonschema annotated-types
pyasn1-modules cachetools googleapis-common-protos google-auth wrapt awscli pytest sqlalchemy
aiohttp multidict yarl frozenlist aiosignal docutils pyparsing requests-oauthlib oauthlib
psutil tomlkit pyarrow anyio sniffio h11 httpx httpcore iniconfig exceptiongroup
rpds-py referencing jsonschema-specifications pygments soupsieve beautifulsoup4 werkzeug
distlib grpcio greenlet isodate decorator more-itertools openpyxl et-xmlfile tqdm
pillow scipy lxml requests-toolbelt msgpack regex async-timeout coverage
google-cloud-storage tenacity websocket-client markdown-it-py rich mdurl flask itsdangerous
blinker mypy-extensions asn1crypto proto-plus python-dotenv shellingham typer
""".split()

API = "https://pypi.org/pypi/{}/json"
FILES_HOST = "https://files.pythonhosted.org"


def get_json(url: str, tries: int = 4) -> dict:
    for attempt in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=30) as r:
                return json.load(r)
        except Exception as e:  # noqa: BLE001 - retried, then raised
            if attempt == tries - 1:
                raise
            print(f"  retry {url}: {e}", file=sys.stderr)
            time.sleep(2 * (attempt + 1))
    raise AssertionError("unreachable")


def pick_wheel(urls: list[dict], max_bytes: int) -> dict | None:
    wheels = [u for u in urls if u["packagetype"] == "bdist_wheel" and u["size"] <= max_bytes]
    pure = [u for u in wheels if u["filename"].endswith("-none-any.whl")
            and ("-py3-" in u["filename"] or "-py2.py3-" in u["filename"])]
    if pure:
        return pure[0]
    # CPython 3.11 (or abi3); a release that dropped 3.11 gets its oldest CPython wheel instead.
    for tag in ("cp311", "cp312", "cp313"):
        native = [u for u in wheels if (f"-{tag}-{tag}-" in u["filename"] or "-abi3-" in u["filename"])
                  and "manylinux" in u["filename"] and "x86_64" in u["filename"]
                  and "musllinux" not in u["filename"]]
        if native:
            return native[0]
    return None


def pick_sdist(urls: list[dict], max_bytes: int) -> dict | None:
    for u in urls:
        if u["packagetype"] == "sdist" and u["size"] <= max_bytes:
            return u
    return None


def file_url(api_url: str, url: str) -> str:
    """The file's absolute URL on the files host (the API may answer with relative URLs)."""
    url = urllib.parse.urljoin(api_url, url)
    m = re.search(r"/packages/([0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60}/[^/]+)$", urllib.parse.urlsplit(url).path)
    return f"{FILES_HOST}/packages/{m.group(1)}" if m else url


def entry(project: str, version: str, u: dict) -> dict:
    return {
        "project": project,
        "version": version,
        "kind": "wheel" if u["packagetype"] == "bdist_wheel" else "sdist",
        "filename": u["filename"],
        "url": file_url(API.format(project), u["url"]),
        "size": u["size"],
        "sha256": u["digests"]["sha256"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="tests/tools/top100.json")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--max-bytes", type=int, default=30_000_000)
    args = ap.parse_args()

    files: list[dict] = []
    skipped: list[str] = []
    chosen = 0
    for name in PROJECTS:
        if chosen >= args.count:
            break
        data = get_json(API.format(name))
        version = data["info"]["version"]
        urls = data["urls"]
        picked = [u for u in (pick_wheel(urls, args.max_bytes), pick_sdist(urls, args.max_bytes)) if u]
        if not picked:
            skipped.append(name)
            print(f"skip {name} {version}: no file under the size bound", file=sys.stderr)
            continue
        chosen += 1
        for u in picked:
            files.append(entry(data["info"]["name"], version, u))
        print(f"{chosen:3} {name} {version}: {', '.join(u['filename'] for u in picked)}", file=sys.stderr)

    total = sum(f["size"] for f in files)
    doc = {
        "comment": "Pinned by tests/tools/make_top100.py; fetched by tests/tools/fetch_corpus.py.",
        "generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "projects": chosen,
        "total_bytes": total,
        "skipped": skipped,
        "files": files,
    }
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print(f"{len(files)} files from {chosen} projects, {total / 1e6:.1f} MB -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
