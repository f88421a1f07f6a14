//! Data flow between a package's modules (M1 across files): each file's scan keeps a summary
//! of its functions (what each returns, which send an argument over the network, which return
//! what other functions return) and of its calls into other modules; the archive then joins
//! them through the package's module names (relative and absolute imports):
//! `send(enc(collect()))` in `__init__.py` with the three functions in three modules is
//! environment data encoded and sent. Several steps are followed, to a fixed point of at most
//! [`PACKAGE_ROUNDS`] rounds: a function that returns another module's `collect()` returns
//! what it returns, and a function that passes its parameter to another module's `send` sends
//! it, so `forward(gather())` with `gather → collect` and `forward → send` in four modules is
//! the same finding. A name assigned from such a call (`data = collect(); send(data)`) carries
//! it. A decorator of one module that sends what the function it wraps returns, on a function
//! of another module that returns environment data (or returns what another module's
//! function returns), is the same finding at the decorator's line (`decorators.rs`).

use std::collections::{BTreeMap, HashMap};

use super::resolve::label::exfiltration_severity;
use super::rules::ARGS;
use crate::model::{Finding, Rule, Severity};

/// What one module's functions do, and its calls that other modules may complete.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Function name → the labels of what it returns (only functions that return any).
    pub returns: BTreeMap<String, u16>,
    /// Functions that send arguments over the network: bit `i` for parameter `i` (the eighth
    /// for any after it).
    pub sinks: BTreeMap<String, u8>,
    /// Calls whose callee or arguments may be functions of other modules.
    pub calls: Vec<CrossCall>,
    /// Function name → the package functions whose results it returns (as the file names
    /// them), directly or through a name it assigned from them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub return_callees: BTreeMap<String, Vec<String>>,
    /// The module's functions that, used as decorators, send what the function they wrap
    /// returns (`@report`, or `@telemetry(URL)` for a factory).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub wrappers: BTreeMap<String, Wrapper>,
    /// The module's functions decorated with another module's function, or with one of
    /// [`Summary::wrappers`] (the package pass may know more of what they return).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decorated: Vec<Decorated>,
}

/// How a function sends what a function it decorates returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Wrapper {
    /// Used by name (`@report`): it, or a function it defines, sends the result of calling its
    /// first parameter.
    #[serde(default)]
    pub by_name: bool,
    /// Called (`@telemetry(URL)`): a function it defines is such a decorator.
    #[serde(default)]
    pub factory: bool,
}

/// A function and one of its decorators, the decorator's name as the file spells it through
/// its imports (`.tele.report`, `pkg.tele.telemetry`, `report`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decorated {
    pub function: String,
    pub decorator: String,
    /// Written as a call (`@telemetry(URL)`): the decorator is what the factory returns.
    pub called: bool,
    pub line: u32,
    pub snippet: String,
}

/// One call, names as the file spells them through its imports (`.c.send`, `pkg.c.send`,
/// `send` for a function of the file itself).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CrossCall {
    /// The function of the file the call is in (empty: the module's own code).
    #[serde(default)]
    pub caller: String,
    pub callee: String,
    /// The first positional arguments.
    pub args: Vec<ArgFlow>,
    pub line: u32,
    pub snippet: String,
}

/// One argument of a [`CrossCall`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArgFlow {
    /// The labels it carries as far as the file alone knows; bits 8 to 15 mark the caller's
    /// parameters it carries (`forward(x)` calling `send(x)`: bit 8).
    pub labels: u16,
    /// Functions called inside it (what they return is part of it).
    pub callees: Vec<String>,
}

/// The most calls one file keeps for the package pass.
pub(super) const MAX_CALLS: usize = 256;
/// The most functions the package pass indexes (bounded work whatever the archive).
const MAX_FUNCTIONS: usize = 20_000;
/// The most rounds of the package pass: each can carry returns and sinks one step further.
pub const PACKAGE_ROUNDS: usize = 4;

/// `pkg/sub/mod.py` → (`pkg.sub.mod`, its package `pkg.sub`); `pkg/__init__.py` → (`pkg`, `pkg`).
fn module_of(path: &str) -> (String, String) {
    let stem = path.strip_suffix(".py").unwrap_or(path).replace('/', ".");
    if let Some(pkg) = stem.strip_suffix(".__init__") {
        return (pkg.to_owned(), pkg.to_owned());
    }
    let pkg = stem.rsplit_once('.').map_or("", |(p, _)| p).to_owned();
    (stem, pkg)
}

/// A name as a file spells it, made absolute: `.c.send` in package `pkg` is `pkg.c.send`,
/// `..x.f` is one package up; a bare name is the file's own function.
fn absolute(name: &str, module: &str, package: &str) -> String {
    let dots = name.chars().take_while(|c| *c == '.').count();
    if dots == 0 {
        return if name.contains('.') {
            name.to_owned()
        } else {
            format!("{module}.{name}")
        };
    }
    let mut base = package;
    for _ in 1..dots {
        base = base.rsplit_once('.').map_or("", |(p, _)| p);
    }
    let rest = &name[dots..];
    if base.is_empty() {
        rest.to_owned()
    } else {
        format!("{base}.{rest}")
    }
}

/// Functions by absolute name, found exactly or as a suffix (`pkg.c.send` is `src.pkg.c.send`
/// of an sdist's `src/` layout). Every dotted suffix of an inserted name is indexed too (the
/// first name to claim a suffix keeps it), so a lookup is one hash probe: a miss must not cost
/// a pass over every function of the archive, whose count the uploader chooses. The suffixes
/// are bounded in bytes ([`MAX_SUFFIX_BYTES`]): deep folders times many functions would
/// otherwise grow quadratically.
struct Index<T> {
    by_name: HashMap<String, usize>,
    by_suffix: HashMap<String, usize>,
    values: Vec<T>,
    suffix_bytes: usize,
}

/// The most bytes of suffixes an [`Index`] keeps.
const MAX_SUFFIX_BYTES: usize = 8 << 20;

impl<T: Copy> Index<T> {
    fn new() -> Self {
        Self {
            by_name: HashMap::new(),
            by_suffix: HashMap::new(),
            values: Vec::new(),
            suffix_bytes: 0,
        }
    }

    /// Index `name` (first insertion wins); its id.
    fn insert(&mut self, name: String, value: T) -> Option<usize> {
        if let Some(id) = self.by_name.get(&name) {
            return Some(*id);
        }
        if self.by_name.len() >= MAX_FUNCTIONS {
            return None;
        }
        let id = self.values.len();
        self.values.push(value);
        // Shortest first: past the byte bound, the long suffixes (deep folders) go unindexed.
        for (i, _) in name.rmatch_indices('.') {
            let tail = &name[i + 1..];
            if self.suffix_bytes + tail.len() > MAX_SUFFIX_BYTES {
                break;
            }
            if !self.by_suffix.contains_key(tail) {
                self.suffix_bytes += tail.len();
                self.by_suffix.insert(tail.to_owned(), id);
            }
        }
        self.by_name.insert(name, id);
        Some(id)
    }

    fn id(&self, name: &str) -> Option<usize> {
        self.by_name
            .get(name)
            .or_else(|| self.by_suffix.get(name))
            .copied()
    }

    fn get(&self, name: &str) -> Option<T> {
        self.id(name).and_then(|i| self.values.get(i)).copied()
    }
}

/// The M1 findings that need more than one module: a function of one module sends data that
/// functions of another return.
pub fn package_findings(files: &[(String, Summary)]) -> Vec<Finding> {
    let mut returns: Index<u16> = Index::new();
    let mut sinks: Index<u8> = Index::new();
    // Function id → the ids of the functions whose results it returns.
    let mut return_edges: Vec<(usize, Vec<String>, String, String)> = Vec::new();
    let mut wrappers: Index<Wrapper> = Index::new();
    for (path, s) in files {
        let (module, package) = module_of(path);
        for (f, l) in &s.returns {
            returns.insert(format!("{module}.{f}"), *l);
        }
        for (f, w) in &s.wrappers {
            wrappers.insert(format!("{module}.{f}"), *w);
        }
        for (f, mask) in &s.sinks {
            sinks.insert(format!("{module}.{f}"), *mask);
        }
        for (f, callees) in &s.return_callees {
            if let Some(id) = returns.insert(format!("{module}.{f}"), 0) {
                return_edges.push((id, callees.clone(), module.clone(), package.clone()));
            }
        }
        // Every caller of another module's function may turn out to forward to a sink.
        for call in &s.calls {
            if !call.caller.is_empty() && call.args.iter().any(|a| a.labels & ARGS != 0) {
                sinks.insert(format!("{module}.{}", call.caller), 0);
            }
        }
    }
    // Carry returns and sinks along the calls, one step a round.
    for _ in 0..PACKAGE_ROUNDS {
        let mut changed = false;
        for (id, callees, module, package) in &return_edges {
            let l = callees.iter().fold(0, |l, c| {
                l | returns.get(&absolute(c, module, package)).unwrap_or(0)
            });
            if let Some(v) = returns.values.get_mut(*id)
                && *v | l != *v
            {
                *v |= l;
                changed = true;
            }
        }
        for (path, s) in files {
            let (module, package) = module_of(path);
            for call in s.calls.iter().filter(|c| !c.caller.is_empty()) {
                let Some(mask) = sinks.get(&absolute(&call.callee, &module, &package)) else {
                    continue;
                };
                let sent = call
                    .args
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << (*i).min(7)) != 0)
                    .fold(0u16, |l, (_, a)| l | a.labels);
                let params = ((sent & ARGS) >> 8) as u8;
                if params == 0 {
                    continue;
                }
                if let Some(v) = sinks
                    .id(&format!("{module}.{}", call.caller))
                    .and_then(|id| sinks.values.get_mut(id))
                    && *v | params != *v
                {
                    *v |= params;
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut out = decorated_findings(files, &returns, &wrappers);
    if sinks.values.iter().all(|m| *m == 0) {
        return out;
    }
    for (path, s) in files {
        let (module, package) = module_of(path);
        let local = |n: &str| !n.contains('.');
        for call in &s.calls {
            let callee = absolute(&call.callee, &module, &package);
            let Some(mask) = sinks.get(&callee).filter(|m| *m != 0) else {
                continue;
            };
            // Whether the package pass knows more than the file alone: another module's
            // function, or one of the file's own whose sink or returns grew through one.
            let mut crossed = !local(&call.callee) || s.sinks.get(&call.callee) != Some(&mask);
            let mut labels = 0;
            for (i, arg) in call.args.iter().enumerate() {
                if mask & (1 << i.min(7)) == 0 {
                    continue;
                }
                labels |= arg.callees.iter().fold(arg.labels, |l, a| {
                    let r = returns.get(&absolute(a, &module, &package)).unwrap_or(0);
                    crossed |= !local(a) || s.returns.get(a).copied().unwrap_or(0) != r;
                    l | r
                });
            }
            // Flows inside one file are the file's own analysis.
            if !crossed {
                continue;
            }
            let Some(severity) = exfiltration_severity(labels) else {
                continue;
            };
            let how = if severity == Severity::High {
                "environment values are sent over the network"
            } else {
                "an environment value is sent over the network"
            };
            out.push(Finding {
                rule: Rule::EnvExfiltration,
                severity,
                path: path.clone(),
                line: Some(call.line),
                snippet: call.snippet.clone(),
                message: format!("{how} by `{callee}`, a function of another module"),
            });
        }
    }
    out
}

/// M1 through a decorator the package pass completes: the decorator is another module's, or
/// the decorated function returns what another module's function returns. A decorator and a
/// function of one file, with what that file alone knows, are its own analysis.
fn decorated_findings(
    files: &[(String, Summary)],
    returns: &Index<u16>,
    wrappers: &Index<Wrapper>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (path, s) in files {
        let (module, package) = module_of(path);
        for d in &s.decorated {
            let decorator = absolute(&d.decorator, &module, &package);
            let sends = wrappers
                .get(&decorator)
                .is_some_and(|w| if d.called { w.factory } else { w.by_name });
            if !sends {
                continue;
            }
            let labels = returns
                .get(&format!("{module}.{}", d.function))
                .unwrap_or(0);
            let Some(severity) = exfiltration_severity(labels) else {
                continue;
            };
            let local = !d.decorator.contains('.');
            let known = s
                .returns
                .get(&d.function)
                .and_then(|l| exfiltration_severity(*l));
            if local && known == Some(severity) {
                continue;
            }
            out.push(Finding {
                rule: Rule::EnvExfiltration,
                severity,
                path: path.clone(),
                line: Some(d.line),
                snippet: d.snippet.clone(),
                message: format!(
                    "`{}` returns environment data and is decorated with `{decorator}`, which sends what the function it wraps returns over the network",
                    d.function
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_absolute_from_the_module() {
        assert_eq!(module_of("p/a.py"), ("p.a".into(), "p".into()));
        assert_eq!(module_of("p/__init__.py"), ("p".into(), "p".into()));
        assert_eq!(absolute(".c.send", "p", "p"), "p.c.send");
        assert_eq!(absolute("..c.send", "p.q.m", "p.q"), "p.c.send");
        assert_eq!(absolute("send", "p.a", "p"), "p.a.send");
        assert_eq!(absolute("p.c.send", "p.a", "p"), "p.c.send");
    }

    #[test]
    fn a_name_is_found_whole_or_as_a_dotted_suffix_in_one_probe() {
        let mut ix = Index::new();
        ix.insert("src.pkg.c.send".into(), 1u8);
        ix.insert("other.c.send".into(), 2u8);
        assert_eq!(ix.get("src.pkg.c.send"), Some(1));
        assert_eq!(ix.get("pkg.c.send"), Some(1));
        assert_eq!(ix.get("other.c.send"), Some(2));
        // The first name to claim a suffix keeps it.
        assert_eq!(ix.get("c.send"), Some(1));
        // Only whole dotted parts: `kg.c.send` is no suffix of `src.pkg.c.send`.
        assert_eq!(ix.get("kg.c.send"), None);
        assert_eq!(ix.get("nothing"), None);
    }

    #[test]
    fn the_suffixes_are_bounded_in_bytes() {
        let mut ix = Index::new();
        let deep = "d.".repeat(500);
        for i in 0..MAX_FUNCTIONS {
            ix.insert(format!("{deep}m{i}.send"), 1u8);
        }
        assert!(ix.suffix_bytes <= MAX_SUFFIX_BYTES, "{}", ix.suffix_bytes);
        assert_eq!(ix.by_name.len(), MAX_FUNCTIONS);
        assert_eq!(ix.get(&format!("{deep}m7.send")), Some(1));
    }
}
