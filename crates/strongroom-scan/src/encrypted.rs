//! PyArmor-encrypted code (M11): rejected at upload, since nothing in it can be read.
//!
//! Two high-precision signs, either of which rejects:
//! - the runtime PyArmor adds beside encrypted modules: a `pyarmor_runtime*` package
//!   (PyArmor 8+), or a `pytransform` package / `_pytransform` native library (PyArmor 7 and
//!   older);
//! - an encrypted module's own shape: a line that *starts* with `__pyarmor__(`,
//!   `pyarmor_runtime()`, `from pytransform import pyarmor_runtime` or
//!   `from pyarmor_runtime… import __pyarmor__`. Only line starts count, so a tool that merely
//!   mentions PyArmor in a string or a docstring is not rejected.

use crate::model::{Finding, Rule, ScanLimits, Severity};

const MESSAGE: &str = "PyArmor-encrypted code cannot be reviewed, so it is not accepted";

fn finding(path: &str, line: Option<u32>, snippet: String, what: &str) -> Finding {
    Finding {
        rule: Rule::EncryptedCode,
        severity: Severity::Reject,
        path: path.to_owned(),
        line,
        snippet,
        message: format!("{MESSAGE} ({what})"),
    }
}

/// The PyArmor runtime among the member's path components, if any.
fn runtime_component(path: &str) -> Option<&str> {
    let mut parts = path.split('/').peekable();
    while let Some(part) = parts.next() {
        let is_dir = parts.peek().is_some();
        let stem = part.split('.').next().unwrap_or(part);
        let runtime = stem.starts_with("pyarmor_runtime")
            || stem == "_pytransform"
            || (is_dir && stem == "pytransform");
        if runtime {
            return Some(part);
        }
    }
    None
}

/// A finding when the member is part of a PyArmor runtime.
pub fn runtime_member(path: &str) -> Option<Finding> {
    let part = runtime_component(path)?;
    Some(finding(
        path,
        None,
        String::new(),
        &format!("the archive ships the PyArmor runtime `{part}`"),
    ))
}

/// A finding when a Python source has the shape of a PyArmor-encrypted module.
pub fn encrypted_module(path: &str, text: &str, limits: &ScanLimits) -> Option<Finding> {
    text.lines().enumerate().find_map(|(i, line)| {
        let l = line.trim_start();
        let marker = l.starts_with("__pyarmor__(")
            || l.trim_end() == "pyarmor_runtime()"
            || l.starts_with("from pytransform import pyarmor_runtime")
            || (l.starts_with("from pyarmor_runtime") && l.contains("import __pyarmor__"));
        marker.then(|| {
            finding(
                path,
                u32::try_from(i + 1).ok(),
                crate::archive::snippet(line, limits),
                "the module is a PyArmor-encrypted blob",
            )
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_members_are_found() {
        for p in [
            "pyarmor_runtime_000000/__init__.py",
            "pkg/pyarmor_runtime_000000/pyarmor_runtime.so",
            "pkg/pytransform/__init__.py",
            "pkg/_pytransform.dll",
        ] {
            let f = runtime_member(p).unwrap_or_else(|| panic!("{p}"));
            assert_eq!(f.rule, Rule::EncryptedCode);
            assert_eq!(f.severity, Severity::Reject);
            assert!(f.message.contains("PyArmor"), "{}", f.message);
        }
        for p in [
            "pytransform.py",
            "pkg/transform.py",
            "pkg/pyarmor_docs.txt",
            "pkg/my_pytransform_utils.py",
        ] {
            assert!(runtime_member(p).is_none(), "{p}");
        }
    }

    #[test]
    fn encrypted_modules_are_found_by_their_first_lines() {
        let limits = ScanLimits::default();
        let v8 = "# Pyarmor 8.5.0, 000000, 2024-01-01\nfrom pyarmor_runtime_000000 import __pyarmor__\n__pyarmor__(__name__, __file__, b'PY000000\\x00\\x03')\n";
        let f = encrypted_module("pkg/core.py", v8, &limits).expect("v8");
        assert_eq!(f.line, Some(2));
        assert_eq!(f.severity, Severity::Reject);
        let v7 = "from pytransform import pyarmor_runtime\npyarmor_runtime()\n__pyarmor__(__name__, __file__, b'\\x50\\x59')\n";
        assert_eq!(
            encrypted_module("m.py", v7, &limits).map(|f| f.line),
            Some(Some(1))
        );
        let mention = "\"\"\"Works with code protected by pyarmor_runtime().\"\"\"\nTEMPLATE = 'from pyarmor_runtime import __pyarmor__'\nx = '__pyarmor__('\n";
        assert!(encrypted_module("tool.py", mention, &limits).is_none());
    }
}
