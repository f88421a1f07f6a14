//! Decorators that send what the function they wrap returns (M1, RT13-06): the flow is in no
//! single scope, since the wrapper calls the function it was given and posts the result, and
//! the decorated function only returns the environment.
//!
//! ```python
//! def report(fn):
//!     def wrapper(*a):
//!         r = fn(*a)
//!         requests.post(URL, data=r)
//!         return r
//!     return wrapper
//!
//! @report
//! def collect():
//!     return dict(os.environ)
//! ```
//!
//! A function is a *sender* when it, or a function defined in it, makes a network call whose
//! arguments hold a call of its first parameter (`fn(*a)`), directly or through a name assigned
//! from one. A *factory* (`def report(url): def deco(fn): …; return deco`, used as
//! `@report(URL)`) is a function one of whose inner functions is a sender. A function decorated
//! with a sender (by name, or a factory called) whose return carries environment data is M1,
//! at the decorator's line, as grave as sending that value directly. Within one file here;
//! across the package's modules (a decorator imported from another module, or a decorated
//! function returning what another module's function returns) through [`wrappers`] in the
//! file's summary and the package pass (`flow.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::node::{Field, NodeExt};
use tree_sitter::Node;

use super::Out;
use super::collect::{Collected, Scope};
use super::flow::Wrapper;
use super::names::Kind;
use super::resolve::Ctx;
use super::resolve::label::exfiltration_severity;
use super::rules::Call;
use crate::model::Rule;

/// Record an M1 finding for each function decorated with a sender that returns environment
/// data. `calls` are the scopes' resolved calls, in `col.scopes`' order.
pub(super) fn decorated_senders(
    ctx: &Ctx<'_>,
    col: &Collected<'_>,
    calls: &[Vec<Call<'_>>],
    out: &mut Out<'_>,
) {
    // First the decorated functions that return environment data (rare): nothing else is
    // read when there are none.
    let returns = ctx.returns_map();
    let decorated: Vec<(&Scope<'_>, u16)> = col
        .scopes
        .iter()
        .skip(1)
        .filter(|f| !f.decorators.is_empty())
        .filter_map(|f| Some((f, *returns.get(&f.name)?)))
        .filter(|(_, l)| exfiltration_severity(*l).is_some())
        .collect();
    if decorated.is_empty() {
        return;
    }
    // The names they are decorated with: a sender by name, or a factory called.
    let mut by_name: HashSet<&str> = HashSet::new();
    let mut by_call: HashSet<&str> = HashSet::new();
    for (f, _) in &decorated {
        for d in &f.decorators {
            match decorator_name(ctx, *d) {
                Some(Named::Name(n)) => by_name.insert(n),
                Some(Named::Factory(n)) => by_call.insert(n),
                None => false,
            };
        }
    }
    let children = children_of(col);
    let senders: HashSet<usize> = (1..col.scopes.len())
        .filter(|&i| {
            let s = &col.scopes[i];
            let named = by_name.contains(s.name.as_str());
            let in_factory = s
                .parent
                .and_then(|p| col.scopes.get(p))
                .is_some_and(|p| by_call.contains(p.name.as_str()));
            (named || in_factory) && is_sender(ctx, col, calls, &children, i)
        })
        .collect();
    if senders.is_empty() {
        return;
    }
    let sender_names: HashSet<&str> = senders
        .iter()
        .filter_map(|&i| col.scopes.get(i).map(|s| s.name.as_str()))
        .collect();
    let factory_names: HashSet<&str> = senders
        .iter()
        .filter_map(|&i| col.scopes.get(i)?.parent)
        .filter_map(|p| col.scopes.get(p).map(|s| s.name.as_str()))
        .collect();
    for (f, labels) in decorated {
        let Some(severity) = exfiltration_severity(labels) else {
            continue;
        };
        for d in &f.decorators {
            let named = match decorator_name(ctx, *d) {
                Some(Named::Name(n)) => sender_names.contains(n),
                Some(Named::Factory(n)) => factory_names.contains(n),
                None => false,
            };
            if named {
                out.finding(
                    Rule::EnvExfiltration,
                    severity,
                    *d,
                    format!(
                        "`{}` returns environment data and is decorated with `{}`, which sends what the function it wraps returns over the network",
                        f.name,
                        ctx.text(*d)
                    ),
                );
            }
        }
    }
}

/// Each function's own functions (at most 16 each), found once: not a pass over every scope
/// per candidate, which a file of many small functions would make quadratic.
fn children_of(col: &Collected<'_>) -> HashMap<usize, Vec<usize>> {
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    for (j, s) in col.scopes.iter().enumerate() {
        if let Some(p) = s.parent {
            let c = children.entry(p).or_default();
            if c.len() < 16 {
                c.push(j);
            }
        }
    }
    children
}

/// The most decorators one file offers the package pass.
const MAX_WRAPPERS: usize = 64;

/// The file's module-level functions that send what a function they decorate returns, for
/// other modules' use: by name (`@report`), or as a factory (`@telemetry(URL)`) one of whose
/// own functions is such a decorator. Only functions that make a network call, and those
/// they are defined in, are looked at.
pub(super) fn wrappers(
    ctx: &Ctx<'_>,
    col: &Collected<'_>,
    calls: &[Vec<Call<'_>>],
) -> BTreeMap<String, Wrapper> {
    let sends = |j: usize| {
        calls.get(j).is_some_and(|cs| {
            cs.iter()
                .any(|c| matches!(c.kind, Some(Kind::Network | Kind::NetClient)))
        })
    };
    let top = |i: usize| {
        col.scopes
            .get(i)
            .filter(|s| i != 0 && s.parent.is_none() && s.class.is_none())
    };
    let mut out: BTreeMap<String, Wrapper> = BTreeMap::new();
    let mut children = None;
    let mut tried = HashSet::new();
    for j in (1..col.scopes.len()).filter(|&j| sends(j)) {
        if out.len() >= MAX_WRAPPERS {
            break;
        }
        let parent = col.scopes.get(j).and_then(|s| s.parent);
        for i in std::iter::once(j).chain(parent) {
            if !tried.insert(i) {
                continue;
            }
            let children = children.get_or_insert_with(|| children_of(col));
            if !is_sender(ctx, col, calls, children, i) {
                continue;
            }
            if let Some(s) = top(i) {
                out.entry(s.name.clone()).or_default().by_name = true;
            } else if let Some(f) = col.scopes.get(i).and_then(|s| s.parent).and_then(top) {
                out.entry(f.name.clone()).or_default().factory = true;
            }
        }
    }
    out
}

/// What a decorator expression names: a function (`@report`) or a factory it calls
/// (`@telemetry(URL)`); other forms (`@obj.attr`) are not followed.
enum Named<'s> {
    Name(&'s str),
    Factory(&'s str),
}

fn decorator_name<'s>(ctx: &Ctx<'s>, d: Node<'_>) -> Option<Named<'s>> {
    match d.kind_name() {
        "identifier" => Some(Named::Name(ctx.text(d))),
        "call" => d
            .field(Field::Function)
            .filter(|n| n.kind_name() == "identifier")
            .map(|n| Named::Factory(ctx.text(n))),
        _ => None,
    }
}

/// Whether scope `i` (a function with a first parameter) or a function defined in it sends the
/// result of calling that parameter.
fn is_sender(
    ctx: &Ctx<'_>,
    col: &Collected<'_>,
    calls: &[Vec<Call<'_>>],
    children: &HashMap<usize, Vec<usize>>,
    i: usize,
) -> bool {
    let Some(param) = col.scopes.get(i).and_then(|s| s.params.first()) else {
        return false;
    };
    std::iter::once(i)
        .chain(children.get(&i).into_iter().flatten().copied())
        .filter_map(|j| Some((j, col.scopes.get(j)?)))
        .any(|(j, s)| {
            let carried = carried_names(ctx, s, param);
            calls.get(j).is_some_and(|cs| {
                cs.iter()
                    .filter(|c| matches!(c.kind, Some(Kind::Network | Kind::NetClient)))
                    .any(|c| {
                        c.node
                            .field(Field::Arguments)
                            .is_some_and(|a| holds_result(ctx, a, param, &carried))
                    })
            })
        })
}

/// The names `scope` assigns from an expression holding a call of `param`.
fn carried_names(ctx: &Ctx<'_>, scope: &Scope<'_>, param: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for (target, value) in &scope.assigns {
        if out.len() >= 64 {
            break;
        }
        if holds_result(ctx, *value, param, &out) {
            out.extend(ctx.target_names(*target));
        }
    }
    out
}

/// Whether `expr` holds a call of `param`, or a name in `carried`.
fn holds_result(ctx: &Ctx<'_>, expr: Node<'_>, param: &str, carried: &HashSet<String>) -> bool {
    let mut stack = vec![expr];
    while let Some(n) = stack.pop() {
        if !ctx.tick() {
            return false;
        }
        match n.kind_name() {
            "call" => {
                if n.field(Field::Function)
                    .is_some_and(|f| f.kind_name() == "identifier" && ctx.text(f) == param)
                {
                    return true;
                }
                let mut c = n.walk();
                stack.extend(n.named_children(&mut c));
            }
            "identifier" => {
                if carried.contains(ctx.text(n)) {
                    return true;
                }
            }
            "lambda" | "comment" => {}
            _ => {
                let mut c = n.walk();
                stack.extend(n.named_children(&mut c));
            }
        }
    }
    false
}
