"""`strongroom admin scan FILE... [--json]`: the upload scanner run offline on archives built here
(never installed or executed). Checks the rules the archive walk decides (an executable `.pth`,
bidi controls, PyArmor, a binary in a pure wheel), the sdist's top directory stripped, the
terminal escaping, the JSON shape and the exit codes. No server, no database."""

from __future__ import annotations

import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import srkit

PURE_WHEEL = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def scan(tmp: Path, *args: str):
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp)}
    return srkit.run([srkit.strongroom_bin(), "admin", "scan", *args], env=env, cwd=tmp, check=False, timeout=60)


def make_wheel(tmp: Path) -> Path:
    path = tmp / "sr_scan-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("sr_scan/__init__.py", '"""A package."""\nx = 1  # \u202e } \u2066if admin:\u2069\n')
        z.writestr("sr_scan_init.pth", "import os, base64; exec(base64.b64decode('cHJpbnQoMSk='))\n")
        z.writestr("sr_scan/bin/tool", b"\x7fELF\x02\x01\x01" + b"\0" * 200)
        z.writestr("sr_scan-1.0.dist-info/WHEEL", PURE_WHEEL)
    return path


def make_sdist(tmp: Path, files: dict[str, bytes]) -> Path:
    path = tmp / "sr_scan-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"sr_scan-1.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_scan_reports_capabilities_findings_and_score(tmp_path):
    wheel = make_wheel(tmp_path)
    proc = scan(tmp_path, str(wheel))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"{wheel} (wheel): score " in out
    pth_line = next(line for line in out.splitlines() if "sr_scan_init.pth: " in line)
    assert "executable-pth" in pth_line and "dynamic-code" in pth_line, pth_line
    assert "SR-M5-executable-pth high sr_scan_init.pth:1:" in out
    assert "SR-M10-obfuscation medium sr_scan/__init__.py:2:" in out
    assert "SR-native-binary info sr_scan/bin/tool" in out
    # The bidi controls are shown escaped, never raw.
    assert "\\u{202e}" in out and "\u202e" not in out and "\u2066" not in out
    score = int(out.split("score ", 1)[1].split()[0])
    assert score >= 14  # High (10) + Medium (4)


def test_scan_json_is_the_stored_scan(tmp_path):
    wheel = make_wheel(tmp_path)
    sdist = make_sdist(tmp_path, {
        "PKG-INFO": b"Metadata-Version: 2.1\nName: sr-scan\nVersion: 1.0\n",
        "setup.py": b"from setuptools import setup\nsetup()\n",
        "sr_scan/__init__.py": b"# Pyarmor 8.5.0\nfrom pyarmor_runtime_000000 import __pyarmor__\n__pyarmor__(__name__, __file__, b'PY000000')\n",
    })
    proc = scan(tmp_path, "--json", str(wheel), str(sdist))
    assert proc.returncode == 0, proc.stderr
    reports = json.loads(proc.stdout)
    assert [r["file"] for r in reports] == [str(wheel), str(sdist)]
    w = reports[0]["scan"]
    # the .pth line runs exec(base64...): executable, and what the line itself does
    assert {"executable-pth", "dynamic-code", "decode-to-code"} <= set(w["capabilities"]["sr_scan_init.pth"])
    assert w["capabilities"]["sr_scan/__init__.py"] == ["bidi-control"]
    # Raw in JSON (serde escapes what JSON must; the reader decides the rest).
    bidi = next(f for f in w["findings"] if f["rule"] == "SR-M10-obfuscation")
    assert "\u202e" in bidi["snippet"] and bidi["line"] == 2
    s = reports[1]
    rejected = [f for f in s["scan"]["findings"] if f["severity"] == "reject"]
    # The sdist's top directory is stripped from paths.
    assert [(f["rule"], f["path"], f["line"]) for f in rejected] == [
        ("SR-M11-encrypted-code", "sr_scan/__init__.py", 2)]
    assert s["score"] >= 100
    assert s["scan"]["members_scanned"] == 2


def test_scan_names_unreadable_files_and_exits_1(tmp_path):
    wheel = make_wheel(tmp_path)
    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    other = tmp_path / "thing.egg"
    other.write_bytes(b"")
    proc = scan(tmp_path, str(wheel), str(broken), str(other))
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    # The readable file is still reported; the others are named.
    assert f"{wheel} (wheel): score" in proc.stdout
    assert f"{broken}: cannot be read" in proc.stdout
    assert f"{other}: cannot be read: cannot tell its kind" in proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: could not read: "), proc.stderr
    assert str(broken) in lines[0] and str(other) in lines[0]


def test_output_cut_short_by_its_reader_ends_quietly(tmp_path):
    """`strongroom admin scan … | head -1`: the reader goes away after one line; the command ends
    as a Unix tool does (status 141, as from SIGPIPE), not with a panic (status 101)."""
    import subprocess

    wheel = make_wheel(tmp_path)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    # far more output than a pipe holds, so the writer meets the closed pipe
    proc = subprocess.Popen([str(srkit.strongroom_bin()), "admin", "scan", *[str(wheel)] * 3000],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    assert first.startswith(str(wheel).encode()), first
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "panicked" not in err and "Broken pipe" not in err, err
