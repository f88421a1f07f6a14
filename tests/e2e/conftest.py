"""Fixtures of the strongroom end-to-end suite.

- `backend_kind`: "sqlite" (embedded default: only --data) or "pg_s3" (--database postgres://... and
  --storage s3://BUCKET against the services scripts/test.sh starts). Tests that take `server`
  or `backend_kind` run on both.
- `strongroom`: a factory `strongroom(kind="sqlite", env=None) -> Server`; every server gets a fresh
  data dir, and on pg_s3 a fresh database and a fresh bucket. Servers are stopped after the test and
  a panic in a server's log fails the test.
- `server`: one started server of the test's backend.
- `dists`: wheels + sdists built once per session with `python -m build --no-isolation`.
- `corpus`: a 33-project dependency tree made by tests/tools/gen_corpus.py (a copy of the benchmark kit's generator), once per session.
- `upstream`: a PyPI-shaped upstream on 127.0.0.1 (tests/tools/upstream_fixture.py: a simple host and
  a files host, controls to add files, corrupt, slow down, stop), empty, stopped after the test.
- `gateway`: a factory `gateway(kind, *upstreams, env=None, **upstream_settings) -> Server`: a
  strongroom with `upstream.url` = the upstreams (fixtures, other servers or URLs) and any other
  `upstream.*` key given as a keyword (`min_age_days=3`, `private_patterns=["acme-*"]`).
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import srkit  # noqa: E402
import upstream_fixture  # noqa: E402

BACKENDS = ["sqlite", "pg_s3"]


@pytest.fixture(params=BACKENDS)
def backend_kind(request) -> str:
    return request.param


@pytest.fixture
def strongroom(tmp_path):
    pool = srkit.ServerPool(tmp_path / "servers")

    def start(kind: str | srkit.Backend = "sqlite", *, env: dict[str, str] | None = None) -> srkit.Server:
        return pool.start(kind, env=env)

    start.pool = pool
    yield start
    pool.close()


@pytest.fixture
def server(strongroom, backend_kind) -> srkit.Server:
    return strongroom(backend_kind)


@pytest.fixture
def upstream(tmp_path):
    up = upstream_fixture.Upstream(tmp_path / "upstream")
    yield up
    up.stop()


@pytest.fixture
def gateway(strongroom):
    def start(kind: str | srkit.Backend, *upstreams, env: dict[str, str] | None = None,
              **upstream_settings) -> srkit.Server:
        return strongroom(kind, env={**srkit.upstream_env(*upstreams, **upstream_settings), **(env or {})})

    return start


# --------------------------------------------------------------------------------------------
# dists built with real build backends, once per session


@dataclass
class BuiltDists:
    demo_v1: list[Path]  # sr-demo 1.0 (setuptools), requires-python >=3.8
    demo_v2: list[Path]  # sr-demo 2.0 (setuptools), requires-python >=3.99 (never installable)
    app_v1: list[Path]  # sr-app 1.0 (hatchling), depends on sr-demo>=1.0, requires-python >=3.8,<4
    yank_v1: list[Path]  # sr-yank 1.0 (setuptools)
    yank_v11: list[Path]  # sr-yank 1.1 (setuptools)
    demo_v1_alt: list[Path]  # sr-demo 1.0 rebuilt with other content (same filenames, other bytes)

    @staticmethod
    def wheel(files: list[Path]) -> Path:
        return next(p for p in files if p.suffix == ".whl")

    @staticmethod
    def sdist(files: list[Path]) -> Path:
        return next(p for p in files if p.name.endswith(".tar.gz"))


@pytest.fixture(scope="session")
def dists(tmp_path_factory) -> BuiltDists:
    root = tmp_path_factory.mktemp("built")
    specs = {
        "demo_v1": dict(name="sr-demo", version="1.0", requires_python=">=3.8"),
        "demo_v2": dict(name="sr-demo", version="2.0", requires_python=">=3.99"),
        "app_v1": dict(name="sr-app", version="1.0", backend="hatchling", dependencies=["sr-demo>=1.0"],
                       optional={"extra": ["sr-yank>=1.0"]}, requires_python=">=3.8,<4"),
        "yank_v1": dict(name="sr-yank", version="1.0"),
        "yank_v11": dict(name="sr-yank", version="1.1"),
    }

    def build(key: str) -> tuple[str, list[Path]]:
        spec = dict(specs[key])
        name, version = spec.pop("name"), spec.pop("version")
        proj = srkit.write_project(root / "src" / key, name, version, **spec)
        return key, srkit.build_project(proj, root / "dist" / key)

    with ThreadPoolExecutor(2) as ex:
        built = dict(ex.map(build, list(specs)))

    # same filenames as demo_v1, other bytes
    proj = srkit.write_project(root / "src" / "demo_v1_alt", "sr-demo", "1.0", requires_python=">=3.8")
    (proj / "src" / "sr_demo" / "extra.py").write_text("CHANGED = True\n")
    built["demo_v1_alt"] = srkit.build_project(proj, root / "dist" / "demo_v1_alt")
    return BuiltDists(**built)


# --------------------------------------------------------------------------------------------
# gen_corpus.py dependency tree


@dataclass
class Corpus:
    root: Path
    app: str  # normalized name of the tree's root project
    wheels: list[Path]
    manifest: dict

    @property
    def projects(self) -> set[str]:
        return {f["name"] for f in self.manifest["files"]}


def gen_corpus_script() -> Path:
    # A copy of the benchmark kit's generator lives in the repository (tests/tools), so a clone
    # alone runs the suite; the same script makes the benchmark corpora.
    path = srkit.REPO_ROOT / "tests" / "tools" / "gen_corpus.py"
    if not path.exists():
        pytest.fail(f"{path} is missing from the repository", pytrace=False)
    return path


@pytest.fixture(scope="session")
def corpus(tmp_path_factory) -> Corpus:
    out = tmp_path_factory.mktemp("corpus")
    srkit.run([sys.executable, gen_corpus_script(), "--out", out, "--projects", "0", "--tree-size", "32",
               "--tree-releases", "1", "--payload-bytes", "64", "--seed", "7", "--app-name", "srtree-app"],
              timeout=120)
    manifest = json.loads((out / "manifest.json").read_text())
    app = (out / "app.txt").read_text().strip()
    wheels = sorted((out / "dist").glob("*.whl"))
    assert len({f["name"] for f in manifest["files"]}) >= 31, manifest["files"]
    return Corpus(out, app, wheels, manifest)
