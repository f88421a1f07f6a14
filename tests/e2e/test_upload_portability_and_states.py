"""Issue 8, red-team round: what an upload may carry and what a refusal may say, with real twine
against a started server on both backends.

- Member names Windows or macOS cannot hold as written, or would read as another name (trailing
  dot or space, device names, `<>"|?*`, 8.3 short names, invisible code points) are refused,
  naming the member; nothing is published.
- WHEEL and METADATA are read as pip reads them (Python's `email.parser`): a header after a line
  that ends the header block is read by neither, a header after a bare CR by both.
- The identical bytes of a file whose release or file was removed, or whose project is
  quarantined, are refused by that state instead of answered "already there"; nothing comes back.
- A removed or quarantined project's state is told to its members only: anyone else gets the
  answer any name they may not upload to gets.
"""

from __future__ import annotations

import base64
import email.parser
import hashlib
import io
import zipfile

import srkit


def admin(server: srkit.Server, *args: str) -> None:
    server.cli("admin", *args)


def rebuild_wheel(base: srkit.Dist, *, metadata: bytes | None = None, wheel: bytes | None = None,
                  extra_members=()) -> srkit.Dist:
    """`base` with its METADATA and/or WHEEL replaced (and members added), RECORD redone."""
    zin = zipfile.ZipFile(io.BytesIO(base.data))
    members = {n: zin.read(n) for n in zin.namelist()}
    if metadata is not None:
        members[next(n for n in members if n.endswith(".dist-info/METADATA"))] = metadata
    if wheel is not None:
        members[next(n for n in members if n.endswith(".dist-info/WHEEL"))] = wheel
    members.update(dict(extra_members))
    record = next(n for n in members if n.endswith(".dist-info/RECORD"))

    def digest(data: bytes) -> str:
        return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

    lines = [f"{n},sha256={digest(d)},{len(d)}" for n, d in members.items() if n != record] + [f"{record},,"]
    members[record] = ("\n".join(lines) + "\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in members.items():
            info = zipfile.ZipInfo(n, srkit.ZIP_DATE)
            info.external_attr = 0o644 << 16
            z.writestr(info, d)
    md = metadata if metadata is not None else base.metadata
    return srkit.Dist(base.filename, buf.getvalue(), base.name, base.version, "bdist_wheel", metadata=md)


def twine_refused(server, token, dist, tmp_path) -> str:
    proc = srkit.twine_upload(server, token, [dist.write(tmp_path / "dist")], tmp_path, check=False)
    out = srkit.output(proc)
    assert proc.returncode != 0, out
    return out


# ---- F5: member names ------------------------------------------------------------------------

UNPORTABLE = [
    ("trailing-dot", "{p}/__init__.py.", "ends with a dot or a space"),
    ("trailing-space", "{p}/__init__.py ", "ends with a dot or a space"),
    ("short-name", "{p}/LONGMO~1.PY", "8.3 short name"),
    ("zero-width-joiner", "{p}/__init\u200d__.py", "invisible character U+200D"),
    ("bom", "{p}/\ufeffmod.py", "invisible character U+FEFF"),
    ("device-name", "{p}/con.py", "reserved device name on Windows"),
    ("device-dir", "{p}/AUX/x.py", "reserved device name on Windows"),
    ("windows-chars", "{p}/a<b>|c?.py", "is not allowed in file names on Windows"),
]


def test_unportable_member_names_are_refused_naming_the_member(server, tmp_path):
    token = server.user_with_token("alice")
    for i, (label, member, reason) in enumerate(UNPORTABLE):
        name = f"sr-names-{i}"
        pkg = srkit.dist_escape(name)
        base = srkit.make_wheel(name, "1.0")
        dist = rebuild_wheel(base, extra_members=[(member.format(p=pkg), b"print('which one?')\n")])
        out = twine_refused(server, token, dist, tmp_path / label)
        assert "400" in out and "is not a portable file name" in out and reason in out, (label, out)
        assert pkg in out, (label, out)
        assert server.simple_json(name).status_code == 404, label
    # The same rule holds for sdists (tar members).
    sdist = srkit.make_sdist("sr-names-tar", "1.0", extra_members=[("sr_names_tar-1.0/nul.txt", b"x")])
    out = twine_refused(server, token, sdist, tmp_path / "tar")
    assert "is not a portable file name" in out and "nul.txt" in out, out
    # A name that only looks odd on Linux stays fine.
    ok = rebuild_wheel(srkit.make_wheel("sr-names-ok", "1.0"),
                       extra_members=[("sr_names_ok/console.py", b"x=1\n"), ("sr_names_ok/file~", b"")])
    srkit.twine_upload(server, token, [ok.write(tmp_path / "ok")], tmp_path)


# ---- F6: WHEEL and METADATA read as pip reads them -------------------------------------------

def test_wheel_and_metadata_are_read_where_pip_reads_them(server, tmp_path):
    token = server.user_with_token("alice")
    # pip stops at "Wheel-Version : 2.0" (no header at all: it refuses to install); the index
    # used to skip that line and read the next. Now both stop there.
    base = srkit.make_wheel("sr-wv-diff", "1.0")
    dist = rebuild_wheel(base, wheel=b"Wheel-Version : 2.0\nWheel-Version: 1.0\nGenerator: x\n"
                                     b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    out = twine_refused(server, token, dist, tmp_path / "wv")
    assert "400" in out and "no Wheel-Version before" in out, out
    assert server.simple_json("sr-wv-diff").status_code == 404

    # A bare CR ends a line for pip: the dependency behind it is one for the index too.
    meta = (b"Metadata-Version: 2.1\nName: sr-cr-dep\nVersion: 1.0\nSummary: s\n"
            b"Description: x\rRequires-Dist: idna\n")
    dist = rebuild_wheel(srkit.make_wheel("sr-cr-dep", "1.0"), metadata=meta)
    srkit.twine_upload(server, token, [dist.write(tmp_path / "cr")], tmp_path)
    info = server.get("/pypi/sr-cr-dep/json").json()["info"]
    served = server.get(dist.path + ".metadata")
    assert served.status_code == 200
    pip_view = email.parser.Parser().parsestr(served.content.decode())
    assert info["requires_dist"] == pip_view.get_all("Requires-Dist") == ["idna"], info["requires_dist"]

    # A line Python's parser drops silently is refused rather than read one way or the other.
    meta = b"Metadata-Version: 2.1\nName: sr-from\nVersion: 1.0\nFrom nowhere\nRequires-Dist: idna\n\nbody\n"
    dist = rebuild_wheel(srkit.make_wheel("sr-from", "1.0"), metadata=meta)
    resp = srkit.upload_raw(server, token, dist)
    assert resp.status_code == 400 and "Metadata cannot be read" in resp.text, resp.text
    assert server.simple_json("sr-from").status_code == 404


# ---- F7: identical re-uploads of hidden files ------------------------------------------------

def test_identical_reuploads_of_hidden_files_are_refused_by_their_state(server, tmp_path):
    token = server.user_with_token("owner")
    wheel = srkit.make_wheel("sr-reup", "1.0")
    sdist = srkit.make_sdist("sr-reup", "1.0")
    keep = srkit.make_wheel("sr-reup", "2.0")
    paths = [d.write(tmp_path / "dist") for d in (wheel, sdist, keep)]
    srkit.twine_upload(server, token, paths, tmp_path)
    # A live file's identical bytes are still "already there" (twine --skip-existing relies on it).
    resp = srkit.upload_raw(server, token, keep)
    assert resp.status_code == 200, resp.text

    admin(server, "remove", "sr-reup", "1.0", "--reason", "compromised release")
    for d in (wheel, sdist):
        out = twine_refused(server, token, d, tmp_path / d.filetype)
        assert "400" in out and "previously used" in out, out
    assert server.get("/pypi/sr-reup/1.0/json").status_code == 404
    names = [f["filename"] for f in server.project_files("sr-reup")]
    assert names == [keep.filename], names
    assert server.get(wheel.path).status_code == 404

    admin(server, "quarantine", "sr-reup", "--reason", "investigating")
    out = twine_refused(server, token, keep, tmp_path / "q")
    assert "quarantined" in out, out
    assert srkit.settled(server, lambda: server.simple_json("sr-reup").status_code == 404)


# ---- F8: a hidden project's state is its members' business -----------------------------------

def test_removed_and_quarantined_states_are_told_to_members_only(server, tmp_path):
    owner = server.user_with_token("owner")
    stranger = server.user_with_token("stranger")
    for name in ("sr-live", "sr-gone", "sr-quiet"):
        srkit.ok_upload(server, owner, srkit.make_wheel(name, "1.0"))
    admin(server, "remove", "sr-gone", "--reason", "takeover")
    admin(server, "quarantine", "sr-quiet", "--reason", "investigating")

    answers = {}
    for name in ("sr-live", "sr-gone", "sr-quiet"):
        resp = srkit.upload_raw(server, stranger, srkit.make_wheel(name, "9.0"))
        answers[name] = (resp.status_code, srkit.without_request_id(resp.text.replace(name, "NAME")))
        assert "removed" not in resp.text and "quarantined" not in resp.text, resp.text
    assert answers["sr-gone"] == answers["sr-live"] == answers["sr-quiet"], answers
    assert answers["sr-live"][0] == 403 and "isn't allowed to upload to project 'NAME'" in answers["sr-live"][1]
    # With twine, and with a confusable spelling (a new name): the answer any existing project's
    # confusable name gets.
    out = twine_refused(server, stranger, srkit.make_wheel("sr-gone", "9.1"), tmp_path / "t")
    assert "403" in out and "removed" not in out, out
    for confusable, like in (("sr-g0ne", "sr-gone"), ("sr-1ive", "sr-live")):
        resp = srkit.upload_raw(server, stranger, srkit.make_wheel(confusable, "1.0"))
        assert resp.status_code == 400 and "too similar to an existing project" in resp.text, resp.text
        assert "removed" not in resp.text, resp.text

    # The project's member gets the precise reason.
    resp = srkit.upload_raw(server, owner, srkit.make_wheel("sr-gone", "9.0"))
    assert resp.status_code == 400 and "belonged to a project that was removed" in resp.text, resp.text
    resp = srkit.upload_raw(server, owner, srkit.make_wheel("sr-quiet", "9.0"))
    assert resp.status_code == 403 and "is quarantined" in resp.text, resp.text
    resp = srkit.upload_raw(server, owner, srkit.make_wheel("sr-g0ne", "1.0"))
    assert resp.status_code == 400 and "belonged to a project that was removed" in resp.text, resp.text
