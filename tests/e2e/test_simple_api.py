"""HTTP-level checks of the read side: Simple API (PEP 503/691/700/714/658/592/792), the PyPI
JSON API and file downloads, with `requests` against one populated server per backend."""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass, field

import pytest
import requests

import srkit
from conftest import BACKENDS
from srkit import SIMPLE_HTML, SIMPLE_JSON

ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
PLAIN_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")


@dataclass
class Populated:
    server: srkit.Server
    files: dict[str, bytes] = field(default_factory=dict)  # filename -> bytes uploaded


@pytest.fixture(scope="module", params=BACKENDS)
def pop(request, tmp_path_factory, dists) -> Populated:
    """sr-demo 1.0 (wheel+sdist), sr-app 1.0 (requires-python >=3.8,<4), sr-yank 1.0 + 1.1 (1.1
    yanked with a reason), sr-yank2 1.0 (yanked without a reason), Sr.Display_Name 1.0."""
    tmp = tmp_path_factory.mktemp(f"pop-{request.param}")
    pool = srkit.ServerPool(tmp / "servers")
    server = pool.start(request.param)
    p = Populated(server)
    token = server.user_with_token("alice")
    paths = [*dists.demo_v1, *dists.app_v1, *dists.yank_v1, *dists.yank_v11]
    srkit.twine_upload(server, token, paths, tmp)
    for path in paths:
        p.files[path.name] = path.read_bytes()
    for d in (srkit.make_wheel("sr-yank2", "1.0"), srkit.make_wheel("Sr.Display_Name", "1.0")):
        srkit.ok_upload(server, token, d)
        p.files[d.filename] = d.data
    server.yank("sr-yank", "1.1", reason="broken build")
    server.yank("sr-yank2", "1.0")
    yield p
    pool.close()


def ctype(resp) -> str:
    return resp.headers.get("Content-Type", "").split(";")[0].strip().lower()


# --------------------------------------------------------------------------------------------
# content negotiation


@pytest.mark.parametrize(
    "accept, expected",
    [
        (None, "text/html"),
        ("*/*", "text/html"),
        ("text/html", "text/html"),
        (SIMPLE_JSON, SIMPLE_JSON),
        (SIMPLE_HTML, SIMPLE_HTML),
        (f"{SIMPLE_JSON}, {SIMPLE_HTML};q=0.2, text/html;q=0.01", SIMPLE_JSON),
        (f"text/html;q=0.5, {SIMPLE_JSON};q=0.9", SIMPLE_JSON),
        (f"{SIMPLE_JSON};q=0.1, {SIMPLE_HTML}", SIMPLE_HTML),
        (f"{SIMPLE_JSON};q=0, text/html", "text/html"),
        ("image/png", "text/html"),  # nothing acceptable: fall back to text/html, never 406
        ("application/json", "text/html"),
        ("garbage;;;q=x", "text/html"),
    ],
)
@pytest.mark.parametrize("path", ["/simple/", "/simple/sr-demo/"])
def test_simple_content_negotiation_by_accept_with_q_values(pop, path, accept, expected):
    headers = {"Accept": accept} if accept is not None else {}
    if accept is None:
        resp = requests.get(pop.server.url + path, headers=headers, allow_redirects=False, timeout=30)
        # requests always sends Accept: */*; send a request without any Accept header too
        import http.client

        conn = http.client.HTTPConnection(pop.server.host, timeout=30)
        conn.putrequest("GET", path, skip_accept_encoding=True)
        conn.endheaders()
        raw = conn.getresponse()
        assert raw.status == 200
        assert raw.getheader("Content-Type", "").split(";")[0].strip() == "text/html"
        conn.close()
    else:
        resp = pop.server.get(path, headers=headers)
    assert resp.status_code == 200, (resp.status_code, resp.text[:300])
    assert ctype(resp) == expected
    if expected == SIMPLE_JSON:
        assert resp.json()["meta"]["api-version"] == "1.4"
    else:
        assert "<html" in resp.text.lower()


def test_simple_latest_json_is_never_answered_with_a_latest_content_type(pop):
    resp = pop.server.get("/simple/sr-demo/", headers={"Accept": "application/vnd.pypi.simple.latest+json"})
    assert resp.status_code == 200
    assert ctype(resp) in (SIMPLE_JSON, "text/html")


@pytest.mark.parametrize("path", ["/simple/", "/simple/sr-demo/"])
def test_simple_format_query_parameter_overrides_accept(pop, path):
    resp = pop.server.get(path + "?format=" + SIMPLE_JSON, headers={"Accept": "text/html"})
    assert resp.status_code == 200 and ctype(resp) == SIMPLE_JSON
    assert resp.json()["meta"]["api-version"] == "1.4"
    resp = pop.server.get(path + "?format=" + SIMPLE_HTML, headers={"Accept": SIMPLE_JSON})
    assert resp.status_code == 200 and ctype(resp) == SIMPLE_HTML


@pytest.mark.parametrize("path", ["/simple/", "/simple/sr-demo/"])
@pytest.mark.parametrize("accept", [SIMPLE_JSON, "text/html"])
def test_simple_pages_vary_on_accept_and_answer_if_none_match_with_304(pop, path, accept):
    resp = pop.server.get(path, headers={"Accept": accept})
    assert resp.status_code == 200
    vary = [v.strip().lower() for v in resp.headers.get("Vary", "").split(",")]
    assert "accept" in vary, resp.headers
    etag = resp.headers.get("ETag")
    assert etag, resp.headers
    again = pop.server.get(path, headers={"Accept": accept, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    other = pop.server.get(path, headers={"Accept": accept, "If-None-Match": '"not-the-etag"'})
    assert other.status_code == 200


@pytest.mark.parametrize("path", ["/simple/", "/simple/sr-demo/"])
def test_simple_etag_differs_between_html_and_json(pop, path):
    a = pop.server.get(path, headers={"Accept": SIMPLE_JSON}).headers["ETag"]
    b = pop.server.get(path, headers={"Accept": "text/html"}).headers["ETag"]
    assert a != b
    # the JSON ETag does not validate the HTML representation
    assert pop.server.get(path, headers={"Accept": "text/html", "If-None-Match": a}).status_code == 200


# --------------------------------------------------------------------------------------------
# redirects and 404


@pytest.mark.parametrize("name", ["SR_Demo", "sr.demo", "Sr-Demo", "sr__demo"])
def test_simple_non_normalized_name_redirects_301_to_normalized(pop, name):
    resp = pop.server.get(f"/simple/{name}/")
    assert resp.status_code == 301
    assert resp.headers["Location"].endswith("/simple/sr-demo/")


@pytest.mark.parametrize("path, target", [("/simple", "/simple/"), ("/simple/sr-demo", "/simple/sr-demo/")])
def test_simple_missing_trailing_slash_redirects_301(pop, path, target):
    resp = pop.server.get(path)
    assert resp.status_code == 301
    assert resp.headers["Location"].endswith(target)


@pytest.mark.parametrize("accept", [SIMPLE_JSON, "text/html"])
def test_simple_unknown_project_is_404(pop, accept):
    assert pop.server.get("/simple/no-such-project/", headers={"Accept": accept}).status_code == 404


# --------------------------------------------------------------------------------------------
# index page


def test_simple_json_index_lists_projects_with_serials_sorted_by_normalized_name(pop):
    resp = pop.server.simple_json()
    body = resp.json()
    assert body["meta"]["api-version"] == "1.4"
    projects = body["projects"]
    names = [p["name"] for p in projects]
    assert {srkit.normalize(n) for n in names} == {"sr-demo", "sr-app", "sr-yank", "sr-yank2", "sr-display-name"}
    assert [srkit.normalize(n) for n in names] == sorted(srkit.normalize(n) for n in names)
    assert "Sr.Display_Name" in names  # display name, as first uploaded
    serials = [p["_last-serial"] for p in projects]
    assert all(isinstance(s, int) and s > 0 for s in serials)
    assert len(set(serials)) == len(serials)
    last = body["meta"]["_last-serial"]
    assert int(resp.headers["X-PyPI-Last-Serial"]) == last == max(serials)


def test_simple_html_index_has_repository_version_and_normalized_links(pop):
    resp = pop.server.get("/simple/", headers={"Accept": "text/html"})
    assert resp.text.lstrip().lower().startswith("<!doctype html>")
    doc = srkit.parse_html(resp.text)
    assert {"name": "pypi:repository-version", "content": "1.4"} in doc.metas
    links = {text: attrs["href"] for attrs, text in doc.anchors}
    assert links["Sr.Display_Name"] == "/simple/sr-display-name/"
    assert links["sr-demo"] == "/simple/sr-demo/"
    assert int(resp.headers["X-PyPI-Last-Serial"]) == pop.server.global_serial()


# --------------------------------------------------------------------------------------------
# project page, JSON


def test_simple_json_project_page_has_pep691_700_714_792_fields(pop):
    resp = pop.server.simple_json("sr-demo")
    body = resp.json()
    assert body["meta"]["api-version"] == "1.4"
    assert body["name"] == "sr-demo"
    assert body["versions"] == ["1.0"]
    assert body["project-status"]["status"] == "active"
    assert int(resp.headers["X-PyPI-Last-Serial"]) == body["meta"]["_last-serial"]
    index = {srkit.normalize(p["name"]): p["_last-serial"] for p in pop.server.simple_json().json()["projects"]}
    assert body["meta"]["_last-serial"] == index["sr-demo"]
    files = {f["filename"]: f for f in body["files"]}
    assert set(files) == {"sr_demo-1.0-py3-none-any.whl", "sr_demo-1.0.tar.gz"}
    for fn, f in files.items():
        data = pop.files[fn]
        assert f["hashes"] == {"sha256": srkit.sha256(data)}
        assert f["size"] == len(data)
        assert f["requires-python"] == ">=3.8"
        assert f["yanked"] is False
        assert ISO_Z.match(f["upload-time"]), f["upload-time"]
        # relative to the page (no public_url): nothing in it comes from the request's Host
        assert f["url"] == "../.." + srkit.blob_path(data, fn)
        assert urllib.parse.urljoin(resp.url, f["url"]) == pop.server.url + srkit.blob_path(data, fn)
    wheel = files["sr_demo-1.0-py3-none-any.whl"]
    assert wheel["core-metadata"] == {"sha256": srkit.sha256(srkit.wheel_metadata(pop.files[wheel["filename"]]))}
    legacy = [wheel.get(k) for k in ("data-dist-info-metadata", "dist-info-metadata") if k in wheel]
    assert legacy and all(v == wheel["core-metadata"] for v in legacy), wheel
    sdist = files["sr_demo-1.0.tar.gz"]
    assert sdist["core-metadata"] is False


def test_simple_json_yanked_is_the_reason_or_true(pop):
    files = pop.server.project_files("sr-yank")
    y = {f["filename"]: f["yanked"] for f in files}
    assert y == {"sr_yank-1.0-py3-none-any.whl": False, "sr_yank-1.0.tar.gz": False,
                 "sr_yank-1.1-py3-none-any.whl": "broken build", "sr_yank-1.1.tar.gz": "broken build"}
    assert [f["yanked"] for f in pop.server.project_files("sr-yank2")] == [True]
    # yanked versions are still listed (PEP 592: yanking is not deleting)
    assert sorted(pop.server.simple_json("sr-yank").json()["versions"]) == ["1.0", "1.1"]


# --------------------------------------------------------------------------------------------
# project page, HTML


def html_page(pop, project):
    resp = pop.server.get(f"/simple/{project}/", headers={"Accept": "text/html"})
    assert resp.status_code == 200
    return resp, srkit.parse_html(resp.text)


def test_simple_html_project_page_anchors_carry_hash_and_metadata_attributes(pop):
    resp, doc = html_page(pop, "sr-demo")
    assert {"name": "pypi:repository-version", "content": "1.4"} in doc.metas
    assert {"name": "pypi:project-status", "content": "active"} in doc.metas
    anchors = {text: attrs for attrs, text in doc.anchors}
    assert set(anchors) == {"sr_demo-1.0-py3-none-any.whl", "sr_demo-1.0.tar.gz"}
    for fn, attrs in anchors.items():
        url, _, frag = attrs["href"].partition("#")
        assert url == "../.." + srkit.blob_path(pop.files[fn], fn)
        assert frag == "sha256=" + srkit.sha256(pop.files[fn])
        assert attrs["data-requires-python"] == ">=3.8"
        assert "data-yanked" not in attrs
    whl = anchors["sr_demo-1.0-py3-none-any.whl"]
    meta_hash = "sha256=" + srkit.sha256(srkit.wheel_metadata(pop.files["sr_demo-1.0-py3-none-any.whl"]))
    assert whl["data-core-metadata"] == meta_hash
    assert whl["data-dist-info-metadata"] == meta_hash
    sd = anchors["sr_demo-1.0.tar.gz"]
    assert "data-core-metadata" not in sd and "data-dist-info-metadata" not in sd


def test_simple_html_ends_with_the_serial_comment(pop):
    resp, _ = html_page(pop, "sr-demo")
    m = re.search(r"<!--SERIAL (\d+)-->\s*$", resp.text)
    assert m, resp.text[-200:]
    assert int(m.group(1)) == int(resp.headers["X-PyPI-Last-Serial"])


def meta_fields(pop, filename, field_name):
    text = srkit.wheel_metadata(pop.files[filename]).decode()
    return re.findall(rf"^{field_name}: (.*)$", text, re.M)


def test_simple_html_escapes_requires_python(pop):
    (rp,) = meta_fields(pop, "sr_app-1.0-py3-none-any.whl", "Requires-Python")
    assert "<" in rp and ">" in rp, rp  # hatchling writes "<4,>=3.8"
    resp, doc = html_page(pop, "sr-app")
    escaped = rp.replace("<", "&lt;").replace(">", "&gt;")
    assert f'data-requires-python="{escaped}"' in resp.text
    assert "<4" not in resp.text
    assert all(attrs["data-requires-python"] == rp for attrs, _ in doc.anchors)


def test_simple_html_yanked_attribute_has_reason_or_is_empty(pop):
    _, doc = html_page(pop, "sr-yank")
    y = {text: attrs.get("data-yanked") for attrs, text in doc.anchors}
    assert y == {"sr_yank-1.0-py3-none-any.whl": None, "sr_yank-1.0.tar.gz": None,
                 "sr_yank-1.1-py3-none-any.whl": "broken build", "sr_yank-1.1.tar.gz": "broken build"}
    resp, doc = html_page(pop, "sr-yank2")
    assert [attrs.get("data-yanked") for attrs, _ in doc.anchors] == [""]


# --------------------------------------------------------------------------------------------
# PyPI JSON API

INFO_KEYS = {
    "name", "version", "summary", "description", "description_content_type", "keywords", "license",
    "license_expression", "license_files", "classifiers", "author", "author_email", "maintainer",
    "maintainer_email", "requires_python", "platform", "requires_dist", "provides_extra", "dynamic",
    "home_page", "download_url", "project_urls", "package_url", "project_url", "release_url", "docs_url",
    "yanked", "yanked_reason", "downloads", "bugtrack_url",
}
FILE_KEYS = {
    "filename", "packagetype", "python_version", "has_sig", "comment_text", "md5_digest", "digests",
    "core-metadata", "size", "downloads", "upload_time", "upload_time_iso_8601", "url", "requires_python",
    "yanked", "yanked_reason",
}


def check_file_obj(pop, f, *, yanked=False, reason=None):
    assert FILE_KEYS <= set(f), FILE_KEYS - set(f)
    data = pop.files[f["filename"]]
    assert f["digests"] == {"md5": hashlib.md5(data).hexdigest(), "sha256": srkit.sha256(data),
                            "blake2b_256": srkit.blake2_256(data)}
    assert f["md5_digest"] == f["digests"]["md5"]
    assert f["size"] == len(data)
    assert f["has_sig"] is False
    assert f["downloads"] == -1
    assert PLAIN_TIME.match(f["upload_time"]), f["upload_time"]
    assert ISO_Z.match(f["upload_time_iso_8601"]), f["upload_time_iso_8601"]
    assert f["upload_time_iso_8601"].startswith(f["upload_time"])
    if f["filename"].endswith(".whl"):
        assert (f["packagetype"], f["python_version"]) == ("bdist_wheel", "py3")
        assert f["core-metadata"] == {"sha256": srkit.sha256(srkit.wheel_metadata(data))}
    else:
        assert (f["packagetype"], f["python_version"]) == ("sdist", "source")
    assert f["yanked"] is yanked and f["yanked_reason"] == reason
    got = requests.get(f["url"], timeout=30)
    assert got.status_code == 200 and got.content == data


def test_json_api_project_document_has_pypis_fields(pop):
    resp = pop.server.get("/pypi/sr-demo/json")
    assert resp.status_code == 200
    assert ctype(resp) == "application/json"
    doc = resp.json()
    assert {"info", "last_serial", "releases", "urls"} <= set(doc), set(doc)
    assert "ownership" in doc and doc["ownership"]["roles"] == [{"role": "Owner", "user": "alice"}]
    info = doc["info"]
    assert INFO_KEYS <= set(info), INFO_KEYS - set(info)
    assert info["name"] == "sr-demo" and info["version"] == "1.0"
    assert info["summary"] == "sr-demo built for the strongroom e2e suite"
    assert "# sr-demo" in info["description"]
    assert info["description_content_type"] == "text/markdown"
    assert info["requires_python"] == ">=3.8"
    assert info["yanked"] is False and info["yanked_reason"] is None
    assert info["downloads"] == {"last_day": -1, "last_week": -1, "last_month": -1}
    assert info["bugtrack_url"] is None
    # no vulnerability lookup is made yet: the key is left out rather than claimed empty
    assert "vulnerabilities" not in doc
    assert doc["last_serial"] == int(resp.headers["X-PyPI-Last-Serial"])
    assert doc["last_serial"] == pop.server.simple_json("sr-demo").json()["meta"]["_last-serial"]
    assert set(doc["releases"]) == {"1.0"}
    assert {f["filename"] for f in doc["releases"]["1.0"]} == {f["filename"] for f in doc["urls"]}
    for f in doc["urls"]:
        check_file_obj(pop, f)


def test_json_api_requires_dist_and_extras_come_from_the_metadata(pop):
    info = pop.server.get("/pypi/sr-app/json").json()["info"]
    wheel = "sr_app-1.0-py3-none-any.whl"
    assert [info["requires_python"]] == meta_fields(pop, wheel, "Requires-Python")
    # the raw strings of the metadata, not a re-rendering of them
    assert info["requires_dist"] == meta_fields(pop, wheel, "Requires-Dist")
    assert sorted(info["requires_dist"]) == sorted(["sr-demo>=1.0", "sr-yank>=1.0; extra == 'extra'"])
    assert info["provides_extra"] == ["extra"]


def test_json_api_latest_skips_yanked_release_and_version_document_shows_yank(pop):
    doc = pop.server.get("/pypi/sr-yank/json").json()
    assert doc["info"]["version"] == "1.0"
    assert set(doc["releases"]) == {"1.0", "1.1"}
    for f in doc["releases"]["1.1"]:
        check_file_obj(pop, f, yanked=True, reason="broken build")
    ver = pop.server.get("/pypi/sr-yank/1.1/json")
    assert ver.status_code == 200 and "X-PyPI-Last-Serial" in ver.headers
    vdoc = ver.json()
    assert vdoc["info"]["version"] == "1.1"
    assert vdoc["info"]["yanked"] is True and vdoc["info"]["yanked_reason"] == "broken build"
    assert "releases" not in vdoc
    assert {f["filename"] for f in vdoc["urls"]} == {"sr_yank-1.1-py3-none-any.whl", "sr_yank-1.1.tar.gz"}


@pytest.mark.parametrize("path", ["/pypi/no-such-project/json", "/pypi/sr-demo/9.9/json",
                                  "/pypi/no-such-project/1.0/json"])
def test_json_api_unknown_project_or_version_is_404(pop, path):
    assert pop.server.get(path).status_code == 404


@pytest.mark.parametrize("path, target", [("/pypi/SR_Demo/json", "/pypi/sr-demo/json"),
                                          ("/pypi/Sr.Demo/1.0/json", "/pypi/sr-demo/1.0/json")])
def test_json_api_non_normalized_name_redirects_301(pop, path, target):
    resp = pop.server.get(path)
    assert resp.status_code == 301
    assert resp.headers["Location"].endswith(target)


# --------------------------------------------------------------------------------------------
# downloads

OK_TYPES = {"application/octet-stream", "application/zip", "application/x-wheel+zip", "application/gzip",
            "application/x-gzip", "application/x-tar"}


def file_url(pop, filename):
    for proj in ("sr-demo", "sr-app", "sr-yank", "sr-yank2", "sr-display-name"):
        for f in pop.server.project_files(proj):
            if f["filename"] == filename:
                return f["url"]
    raise AssertionError(filename)


@pytest.mark.parametrize("filename", ["sr_demo-1.0-py3-none-any.whl", "sr_demo-1.0.tar.gz"])
def test_download_headers_and_bytes_match_the_advertised_sha256(pop, filename):
    url = file_url(pop, filename)
    data = pop.files[filename]
    resp = requests.get(url, timeout=30)
    assert resp.status_code == 200
    assert resp.content == data
    assert hashlib.sha256(resp.content).hexdigest() == srkit.sha256(data)
    assert int(resp.headers["Content-Length"]) == len(data)
    assert ctype(resp) in OK_TYPES, resp.headers.get("Content-Type")
    assert resp.headers.get("ETag")
    assert resp.headers.get("Accept-Ranges", "").lower() == "bytes"
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)
    cached = requests.get(url, headers={"If-None-Match": resp.headers["ETag"]}, timeout=30)
    assert cached.status_code == 304


@pytest.mark.parametrize("rng, start, end", [("0-99", 0, 99), ("100-", 100, None), ("-10", None, None)])
def test_download_range_requests_return_206_with_content_range(pop, rng, start, end):
    filename = "sr_demo-1.0-py3-none-any.whl"
    url = file_url(pop, filename)
    data = pop.files[filename]
    size = len(data)
    if rng == "-10":
        start, end = size - 10, size - 1
    if end is None:
        end = size - 1
    resp = requests.get(url, headers={"Range": f"bytes={rng}"}, timeout=30)
    assert resp.status_code == 206
    assert resp.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
    assert int(resp.headers["Content-Length"]) == end - start + 1
    assert resp.content == data[start:end + 1]


def test_download_unsatisfiable_range_is_416(pop):
    filename = "sr_demo-1.0-py3-none-any.whl"
    url = file_url(pop, filename)
    size = len(pop.files[filename])
    resp = requests.get(url, headers={"Range": f"bytes={size + 10}-"}, timeout=30)
    assert resp.status_code == 416
    assert resp.headers.get("Content-Range") == f"bytes */{size}"


def test_download_of_metadata_file_beside_the_wheel(pop):
    filename = "sr_demo-1.0-py3-none-any.whl"
    resp = requests.get(file_url(pop, filename) + ".metadata", timeout=30)
    assert resp.status_code == 200
    assert resp.content == srkit.wheel_metadata(pop.files[filename])
    # sdists have none
    assert requests.get(file_url(pop, "sr_demo-1.0.tar.gz") + ".metadata", timeout=30).status_code == 404


@pytest.mark.parametrize("path", [
    "/packages/00/00/0000000000000000000000000000000000000000000000000000000000/nothing-1.0.tar.gz",
    "/packages/../../etc/passwd",
    "/packages/%2e%2e/%2e%2e/etc/passwd",
    "/packages/..%2f..%2f..%2fetc%2fpasswd",
])
def test_download_of_unknown_or_traversal_paths_is_not_served(pop, path):
    import http.client

    conn = http.client.HTTPConnection(pop.server.host, timeout=30)
    conn.request("GET", path)
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status in (400, 404), (resp.status, body[:200])
    assert b"root:" not in body


def test_download_path_must_match_the_files_blake2_path(pop):
    """The file is only served under its own content address, not under another file's."""
    filename = "sr_demo-1.0-py3-none-any.whl"
    other = srkit.blob_path(pop.files["sr_demo-1.0.tar.gz"], filename)
    assert pop.server.get(other).status_code == 404


# --------------------------------------------------------------------------------------------
# misc


def test_post_to_legacy_without_slash_is_a_308_to_legacy_slash(pop):
    resp = requests.post(pop.server.url + "/legacy", data={":action": "file_upload"}, allow_redirects=False, timeout=30)
    assert resp.status_code == 308
    assert resp.headers["Location"].endswith("/legacy/")


def test_xmlrpc_refuses_entity_expansion(pop):
    """Billion laughs / external entities in an XML-RPC body: refused quickly, nothing expanded."""
    body = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        "<methodCall><methodName>changelog_since_serial</methodName><params><param><value><string>&lol2;&xxe;"
        "</string></value></param></params></methodCall>"
    )
    resp = requests.post(pop.server.url + "/pypi", data=body, headers={"Content-Type": "text/xml"}, timeout=30)
    assert resp.status_code in (200, 400)
    assert "root:" not in resp.text and "lollol" not in resp.text
    if resp.status_code == 200:
        assert "<fault>" in resp.text


def test_healthz(pop):
    resp = pop.server.get("/healthz")
    assert resp.status_code == 200 and resp.text.strip() == "ok"
