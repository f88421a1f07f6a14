"""Write the hand-made seed inputs of the fuzz targets into fuzz/corpus/<target>/.

Seeds are real-shaped valid inputs (the real files the e2e suite uploads: their METADATA,
PKG-INFO, RECORD, WHEEL, entry_points.txt and member names, and the smallest whole files) plus
the string cases of the protocol crate's unit tests and the malformed cases listed below. The
archives the strongroom-dist unit tests build (valid and hostile) are added by those tests:

    STRONGROOM_WRITE_CORPUS=fuzz/corpus cargo test -p strongroom-dist
    python3 fuzz/seeds.py .test-work/pypi-samples

Files are named by content hash, so running either again adds only new inputs.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
import tarfile
import zipfile
from pathlib import Path

FUZZ = Path(__file__).resolve().parent
ROOT = FUZZ.parent
MAX_SEED = 48 * 1024


def put(target: str, data: bytes | str) -> None:
    if isinstance(data, str):
        data = data.encode()
    if len(data) > MAX_SEED:
        return
    d = FUZZ / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / hashlib.sha256(data).hexdigest()[:20]).write_bytes(data)


def literals(path: Path) -> list[str]:
    """The string literals of a Rust test file (plain and raw), unescaped roughly."""
    text = path.read_text()
    out = [m.group(1) for m in re.finditer(r'r#"(.*?)"#', text, re.S)]
    for m in re.finditer(r'(?<![r#\w])b?"((?:[^"\\]|\\.)*)"', text, re.S):
        s = m.group(1)
        s = s.replace("\\n", "\n").replace("\\r", "\r").replace("\\t", "\t").replace('\\"', '"').replace("\\\\", "\\")
        s = re.sub(r"\\u\{([0-9a-fA-F]+)\}", lambda u: chr(int(u.group(1), 16)), s)
        s = re.sub(r"\\x([0-9a-fA-F]{2})", lambda u: chr(int(u.group(1), 16)), s)
        out.append(s)
    return out


def from_samples(samples: Path) -> None:
    for path in sorted(samples.iterdir()):
        put("filename", path.name)
        if path.stat().st_size <= MAX_SEED:
            if path.name.endswith(".whl"):
                put("wheel", path.read_bytes())
                put("zip_archive", path.read_bytes())
            elif path.name.endswith(".tar.gz"):
                put("sdist", b"\x00" + path.read_bytes())
            elif path.name.endswith(".zip"):
                put("sdist", b"\x01" + path.read_bytes())
        if path.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
                put("member_names", "\n".join(names[:200]))
                for n in names:
                    base = n.rsplit("/", 1)[-1]
                    if n.count("/") != 1:
                        continue
                    if base in ("METADATA", "PKG-INFO"):
                        put("metadata", z.read(n))
                    elif base == "RECORD":
                        put("record", z.read(n))
                    elif base == "WHEEL":
                        put("wheel_file", z.read(n))
                    elif base == "entry_points.txt":
                        put("entry_points", z.read(n))
        elif path.name.endswith(".tar.gz"):
            with tarfile.open(path) as t:
                names = t.getnames()
                put("member_names", "\n".join(names[:200]))
                for n in names:
                    if n.count("/") == 1 and n.endswith("/PKG-INFO"):
                        f = t.extractfile(n)
                        if f:
                            put("metadata", f.read())


def from_unit_tests() -> None:
    proto = ROOT / "crates/strongroom-protocol/src"
    for s in literals(proto / "version/tests.rs"):
        put("version", s)
    for s in literals(proto / "name/tests.rs"):
        put("name", s)
    for s in literals(proto / "filename/tests.rs"):
        put("filename", s)
    for s in literals(proto / "metadata/tests.rs"):
        if ":" in s:
            put("metadata", s)
    for s in literals(proto / "simple/tests.rs") + literals(proto / "simple/negotiate.rs"):
        if "/" in s:
            put("accept", s)
            put("headers", s)
    for s in literals(proto / "simple/read/tests.rs"):
        if "<" in s:
            put("upstream_html", s)
        if s.lstrip().startswith("{"):
            put("upstream_json", s)
    dist = ROOT / "crates/strongroom-dist/src"
    for s in literals(dist / "tests/wheel.rs"):
        if "Wheel-Version" in s or "Tag:" in s:
            put("wheel_file", s)
        if "[" in s and "=" in s:
            put("entry_points", s)
        if ",sha256=" in s or s.count(",") >= 2:
            put("record", s)
    for s in literals(dist / "tests/units.rs"):
        if "=" in s or "[" in s:
            put("entry_points", s)
        if "," in s:
            put("record", s)


def handmade() -> None:
    for v in ["1.0", "1!2.0.post3.dev4+local.7", "01.02.03", "1.0-1", "1.0.0-beta.1", "v1.0", "1.0rc",
              "1." * 60 + "1", "99999999999999999999", "1.0+" + "a." * 40 + "a", ">=3.8,<4", "~=3.7.1,!=3.8.*"]:
        put("version", v)
    for n in ["Django", "zope.interface", "a", "A-_.b", "-a", "a-", "\u212aelvin", "ｆｕｌｌ", "x" * 300,
              "json", "os-path", "Co0l_lib"]:
        put("name", n)
    for f in ["demo_pkg-1.0-py3-none-any.whl", "demo_pkg-1.0-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
              "demo_pkg-1.0.tar.gz", "python-dateutil-2.2.tar.gz", "foo-1.0-1.tar.gz", "Foo.Bar-1.0.zip",
              "demo-1.0-py2.py3-none-any.WHL", "../demo-1.0.tar.gz", "demo-1.0.tar.bz2", "a-1-b-c-d-e-f.whl",
              "\u00e9-1.0-py3-none-any.whl", "demo-" + "1." * 80 + "0.tar.gz"]:
        put("filename", f)
    form = ("metadata_version=2.1\nname=demo-pkg\nversion=1.0\nfiletype=bdist_wheel\npyversion=py3\n"
            "sha256_digest=" + "0" * 64 + "\nprotocol_version=1\nsummary=A demo\n"
            "requires_dist=requests>=2\nrequires_dist=idna; extra == 'x'\nclassifiers=Programming Language :: Python\n"
            "filename=demo_pkg-1.0-py3-none-any.whl\n")
    for f in [form, form.replace("bdist_wheel", "sdist").replace("py3-none-any.whl", "tar.gz"),
              form.replace("version=1.0", "version=1.0+local"), form.replace("2.1", "3.0"),
              form + "project_urls=Home, https://example.test\nlicense_expression=MIT OR Apache-2.0\n"]:
        put("upload_form", f)
        put("form_metadata", f)
    for a in ["application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01",
              "text/html;q=0.01, application/vnd.pypi.simple.v1+json;q=0.5", "*/*", "application/*;q=1.5",
              "garbage;;;q=x", "text/html;level=1;q=0.5,*/*;q=0.1", ""]:
        put("accept", a)
        put("headers", a)
    for h in ["bytes=0-99", "bytes=-500", "bytes=500-", "bytes=0-0,5-9", "bytes=18446744073709551615-",
              "\"abc\", W/\"def\"", "*", "gzip;q=0, br", "gzip, deflate", "x-gzip;q=1.0",
              "__Host-strongroom-session=abc; other=\"x\"", "a=b;;=;c"]:
        put("headers", h)
    call = "<?xml version='1.0'?>\n<methodCall>\n<methodName>{m}</methodName>\n<params>\n{p}</params>\n</methodCall>\n"
    param = "<param>\n<value><{t}>{v}</{t}></value>\n</param>\n"
    for m, p in [("list_packages_with_serial", ""), ("changelog_last_serial", ""),
                 ("changelog_since_serial", param.format(t="int", v="42")),
                 ("changelog_since_serial", param.format(t="i8", v="-1")),
                 ("package_releases", param.format(t="string", v="demo &amp; &lt;x&gt;")),
                 ("system.multicall", "<param><value><array><data><value>x</value></data></array></value></param>")]:
        put("xmlrpc", call.format(m=m, p=p))
    put("xmlrpc", "<!DOCTYPE x [<!ENTITY a 'b'>]><methodCall><methodName>x</methodName></methodCall>")
    put("xmlrpc", "<methodName></methodName><value><value></value>")
    # Member-name sets: collisions by case and normalisation, files that are directories.
    for names in [["a/Foo.py", "a/foo.py"], ["Pkg/a.py", "pkg/b.py"], ["pkg/caf\u00e9.py", "pkg/cafe\u0301.py"],
                  ["a/b", "a/b/c"], ["a/b", "a/b-x", "a/b/c"], ["a/b/", "a/b"], ["stra\u00dfe", "STRASSE"],
                  ["\u03a3.txt", "\u03c2.txt"], ["\u212a.py", "k.py"], ["../x", "/abs", "C:/x", "a\\b", "a//b", "./a"]]:
        put("member_names", "\n".join(names))
    for w in ["Wheel-Version: 2.0\nTag: py3-none-any\n", "Wheel-Version: 1.9\nRoot-Is-Purelib: TRUE\n",
              "Wheel-Version: 0001.0\r\nTag: cp311-cp311-a.b\r\n\r\nbody", "Wheel-Version:\n", " cont\n"]:
        put("wheel_file", w)
    for r in ['"a,b",sha256=AAAA,1\n', 'x,sha512=' + "A" * 86 + ',12345678901234567890\n', 'x,md5=abc,1\n',
              'a\\b,,\n', '"unterminated,,\n', 'a,,,\n']:
        put("record", r)
    for e in ["[console_scripts]\na = b:c [x, y]\n", "[gui_scripts]\n../evil = os:system\n",
              "[DEFAULT]\nx = y\n  continued\n", "no section\n", "[a]\n[a]\n", "[console_scripts]\nx = \x01\n"]:
        put("entry_points", e)
    upstream_pages()
    # A tar header alone, and the empty input, for every byte-level target.
    for t in ["tar_walker", "zip_archive", "wheel", "sdist", "record", "wheel_file", "entry_points", "metadata"]:
        put(t, b"")



def upstream_pages() -> None:
    """Project pages of another index (PEP 691 JSON, PEP 503 HTML), shaped like PyPI's and
    like the odd-but-valid pages other indexes serve."""
    import json

    sha = hashlib.sha256(b"demo").hexdigest()
    files = [
        {"filename": "demo-1.0.tar.gz", "url": "https://files.example/packages/ab/cd/demo-1.0.tar.gz",
         "hashes": {"sha256": sha}, "requires-python": ">=3.8", "size": 1234,
         "upload-time": "2024-01-02T03:04:05.123456Z", "yanked": False, "data-dist-info-metadata": False,
         "core-metadata": False, "provenance": None},
        {"filename": "demo-1.0-py3-none-any.whl", "url": "../../packages/demo-1.0-py3-none-any.whl",
         "hashes": {"sha256": sha.upper(), "md5": "00"}, "requires-python": None, "size": 99,
         "upload-time": "2025-06-01T00:00:00Z", "yanked": "broken build",
         "core-metadata": {"sha256": sha}, "dist-info-metadata": {"sha256": sha},
         "provenance": "https://up.example/integrity/demo/1.0/demo-1.0-py3-none-any.whl/provenance"},
        {"filename": "demo-2.0.tar.gz", "url": "/f/demo-2.0.tar.gz#sha256=" + sha, "hashes": {},
         "yanked": True, "core-metadata": True, "upload-time": "2025-06-01T00:00:00+02:00"},
    ]
    doc = {"meta": {"api-version": "1.4", "_last-serial": 9}, "name": "demo",
           "project-status": {"status": "quarantined", "reason": "under review"},
           "versions": ["1.0", "2.0"], "files": files}
    put("upstream_json", json.dumps(doc))
    put("upstream_json", json.dumps(doc, indent=1))
    put("upstream_json", json.dumps({"name": "Demo", "files": []}))
    put("upstream_json", json.dumps({"meta": {"api-version": "2.0"}, "name": "demo", "files": []}))
    put("upstream_json", json.dumps({"name": "other", "files": files}))
    put("upstream_json", '{"name":"demo","files":[{"url":"a","url":"demo-1.0.tar.gz","filename":"demo-1.0.tar.gz"}]}')
    put("upstream_json", '{"name":"demo","files":[{"filename":"x\\u0000","url":"x"},{"filename":7},null]}')
    for t in ["2024-01-02T03:04:05.123456Z", "2024-03-01T01:00:00.5+02:30", "2023-02-29T00:00:00Z",
              "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-01:00"]:
        put("upstream_json", t)
    anchors = [
        f'<a href="https://files.example/packages/ab/cd/demo-1.0.tar.gz#sha256={sha}" data-requires-python="&gt;=3.8" >demo-1.0.tar.gz</a><br />',
        f'<a href="../../packages/demo-1.0-py3-none-any.whl#sha256={sha.upper()}" data-yanked="broken &amp; &#34;old&#34;" '
        f'data-dist-info-metadata="sha256={sha}" data-core-metadata="sha256={sha}" '
        'data-provenance="/integrity/demo/1.0/demo-1.0-py3-none-any.whl/provenance">demo-1.0-py3-none-any.whl</a><br />',
        f"<A HREF=/f/demo-2.0.tar.gz#egg=demo&sha256={sha} data-yanked data-core-metadata=true data-size=12 "
        "data-upload-time='2024-01-02T03:04:05Z'>demo-2.0.tar.gz</A>",
        f'<a href="demo-3.0%2Blocal.tar.gz#md5={sha[:32]}" data-dist-info-metadata="sha512=ab">x</a>',
        '<a href="javascript:alert(1)">x</a><a href="">y</a><a>z</a><a href="%2e%2e/x">..</a>',
    ]
    head = ('<!DOCTYPE html>\n<html lang="en">\n  <head>\n    <meta name="pypi:repository-version" content="1.4">\n'
            '<meta name="pypi:project-status" content="deprecated"><meta name="pypi:project-status-reason" '
            'content="use &lt;other&gt;">    <title>Links for demo</title>\n  </head>\n  <body>\n'
            '    <h1>Links for demo</h1>\n')
    put("upstream_html", head + "\n".join(anchors) + "\n</body>\n</html>\n<!--SERIAL 9-->")
    put("upstream_html", '<html><head><base href="/mirror/"></head><body>' + anchors[0] + "</body></html>")
    put("upstream_html", "<script>'" + anchors[0] + "'</script><!-- " + anchors[1] + " --><textarea>" + anchors[2])
    put("upstream_html", '<meta name="pypi:repository-version" content="2.0">' + anchors[0])
    put("upstream_html", "<title>Links for other</title>" + anchors[0])
    put("upstream_html", "<plaintext>" + anchors[0])
    put("upstream_html", anchors[0].encode().replace(b"demo-1.0", b"d\xe9mo-1.0"))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: seeds.py PYPI_SAMPLES_DIR")
    from_samples(Path(sys.argv[1]))
    from_unit_tests()
    handmade()
    for d in sorted((FUZZ / "corpus").iterdir()):
        files = list(d.iterdir())
        print(f"{d.name:15} {len(files):4} files {sum(f.stat().st_size for f in files):8} bytes")
