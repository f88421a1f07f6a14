//! A file's part of the package-wide flow check (`flow.rs`): its functions' summaries (what
//! each returns, which parameters it sends, which package functions' results it returns) and
//! its calls that name functions of other modules or send what they return, its decorators
//! that send what they wrap and its functions decorated from elsewhere.

use std::collections::{BTreeMap, HashMap};

use super::node::{Field, NodeExt};
use tree_sitter::Node;

use super::collect::{Collected, Scope};
use super::names::classify;
use super::resolve::{Ctx, Taints, positional_args};
use super::rules::{Call, Sinks, arg_bit};

/// The file's part of the package-wide flow check: its functions' summaries and the calls that
/// name functions of other modules or send what they return.
pub(super) fn summary(
    ctx: &Ctx<'_>,
    col: &Collected<'_>,
    calls: &[Vec<Call<'_>>],
    taints: &[Taints],
    sinks: Sinks,
    path: &str,
) -> super::flow::Summary {
    let mut out = super::flow::Summary {
        returns: ctx.returns_map(),
        sinks: sinks.into_iter().map(|(k, v)| (k, v.mask)).collect(),
        calls: Vec::new(),
        return_callees: BTreeMap::new(),
        wrappers: super::decorators::wrappers(ctx, col, calls),
        decorated: Vec::new(),
    };
    // The package's own names: relative imports, and absolute ones under the file's top
    // directory (`pkg`, or `src/pkg`).
    let parts: Vec<&str> = path.split('/').collect();
    let mut tops: Vec<&str> = parts
        .iter()
        .take(parts.len().saturating_sub(1).min(2))
        .copied()
        .collect();
    if tops.first() != Some(&"src") {
        tops.truncate(1);
    }
    let internal = |n: &str, tops: &[&str]| {
        n.starts_with('.') || n.split('.').next().is_some_and(|root| tops.contains(&root))
    };
    // What each function returns from the package's functions (its own or another module's),
    // for the package pass to carry their labels through it.
    // Read lazily: only scopes that return something or make a call the summary keeps.
    let mut assigned: Vec<Option<HashMap<String, Vec<String>>>> = vec![None; col.scopes.len()];
    for (scope, from) in col.scopes.iter().zip(assigned.iter_mut()).skip(1) {
        if out.return_callees.len() >= super::flow::MAX_CALLS {
            break;
        }
        if scope.returns.is_empty() {
            continue;
        }
        let from = from.get_or_insert_with(|| assigned_callees(ctx, scope));
        let mut callees: Vec<String> = scope
            .returns
            .iter()
            .flat_map(|r| callees_of(ctx, *r, from))
            .filter(|n| internal(n, &tops) || !n.contains('.'))
            .collect();
        callees.sort();
        callees.dedup();
        callees.truncate(16);
        if !callees.is_empty() {
            out.return_callees.insert(scope.name.clone(), callees);
        }
    }
    decorated(ctx, col, &tops, &internal, &mut out);
    for (((scope_calls, t), scope), from) in calls
        .iter()
        .zip(taints)
        .zip(&col.scopes)
        .zip(assigned.iter_mut())
    {
        // The function's parameters marked (bits 8 to 15), so the package pass sees which it
        // passes on: `def forward(x): send(x)`.
        let mut with_params: Option<Taints> = None;
        for c in scope_calls.iter().filter(|c| c.kind.is_none()) {
            if out.calls.len() >= super::flow::MAX_CALLS {
                return out;
            }
            let Some(q) = c.qual.as_ref() else { continue };
            if !(c.sink.is_some() || internal(&q.name, &tops)) {
                continue;
            }
            let args: Vec<super::flow::ArgFlow> = positional_args(c.node)
                .into_iter()
                .take(8)
                .map(|a| {
                    let from = from.get_or_insert_with(|| assigned_callees(ctx, scope));
                    let t = with_params.get_or_insert_with(|| {
                        let mut t = t.clone();
                        for (i, p) in scope.params.iter().enumerate() {
                            *t.entry(p.clone()).or_default() |= arg_bit(i);
                        }
                        t
                    });
                    super::flow::ArgFlow {
                        labels: ctx.labels(a, t),
                        callees: callees_of(ctx, a, from),
                    }
                })
                .collect();
            if c.sink.is_some()
                && !args
                    .iter()
                    .flat_map(|a| &a.callees)
                    .any(|a| internal(a, &tops))
            {
                continue; // A flow inside this file: its own analysis.
            }
            out.calls.push(super::flow::CrossCall {
                caller: scope.name.clone(),
                callee: q.name.clone(),
                args,
                line: u32::try_from(c.node.start_position().row + 1).unwrap_or(u32::MAX),
                snippet: super::snippet_of(ctx.src, c.node),
            });
        }
    }
    out
}

/// The functions decorated with a decorator the package pass may complete: another module's
/// (`@tele.report`, `@telemetry(URL)` imported from `.tele`), or one of this file's own
/// wrappers on a function that returns what a package function returns.
fn decorated(
    ctx: &Ctx<'_>,
    col: &Collected<'_>,
    tops: &[&str],
    internal: &dyn Fn(&str, &[&str]) -> bool,
    out: &mut super::flow::Summary,
) {
    for scope in col
        .scopes
        .iter()
        .skip(1)
        .filter(|s| !s.decorators.is_empty())
    {
        for d in &scope.decorators {
            if out.decorated.len() >= super::flow::MAX_CALLS {
                return;
            }
            let (target, called) = match d.kind_name() {
                "call" => (d.field(Field::Function), true),
                "identifier" | "attribute" => (Some(*d), false),
                _ => (None, false),
            };
            let Some(q) = target.and_then(|t| ctx.qualify(t)) else {
                continue;
            };
            let keep = if q.name.contains('.') {
                internal(&q.name, tops)
            } else {
                out.return_callees.contains_key(&scope.name)
                    && out
                        .wrappers
                        .get(&q.name)
                        .is_some_and(|w| if called { w.factory } else { w.by_name })
            };
            if keep {
                out.decorated.push(super::flow::Decorated {
                    function: scope.name.clone(),
                    decorator: q.name,
                    called,
                    line: u32::try_from(d.start_position().row + 1).unwrap_or(u32::MAX),
                    snippet: super::snippet_of(ctx.src, *d),
                });
            }
        }
    }
}

/// For each name the scope assigns from a call of a package function (`data = collect()`,
/// `data = await fetch()`), those functions: what the name holds is what they return. Only
/// values that are calls are read.
fn assigned_callees(ctx: &Ctx<'_>, scope: &Scope<'_>) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (target, value) in &scope.assigns {
        if out.len() >= 256 {
            break;
        }
        let call = match value.kind_name() {
            "call" => Some(*value),
            "await" => value.named_child(0).filter(|v| v.kind_name() == "call"),
            _ => None,
        };
        let Some(call) = call else { continue };
        let callees = arg_callees(ctx, call);
        if callees.is_empty() {
            continue;
        }
        for name in ctx.target_names(*target) {
            let e = out.entry(name).or_default();
            if e.len() < 16 {
                e.extend(callees.iter().cloned());
            }
        }
    }
    out
}

/// The package functions whose results an expression holds: called inside it, or through a
/// name the scope assigned from such a call (`send(data)` after `data = collect()`).
fn callees_of(
    ctx: &Ctx<'_>,
    expr: Node<'_>,
    assigned: &HashMap<String, Vec<String>>,
) -> Vec<String> {
    let mut out = arg_callees(ctx, expr);
    if assigned.is_empty() {
        return out;
    }
    let mut stack = vec![expr];
    while let Some(n) = stack.pop() {
        if out.len() >= 16 || !ctx.tick() {
            break;
        }
        if n.kind_name() == "identifier" {
            if let Some(c) = assigned.get(ctx.text(n)) {
                out.extend(c.iter().cloned());
            }
        } else if n.kind_name() != "lambda" {
            let mut c = n.walk();
            stack.extend(n.named_children(&mut c));
        }
    }
    out.truncate(16);
    out
}

/// The functions of this package called inside an argument (`enc(collect())`: `enc`,
/// `collect`), as the file names them; library functions the tables know are left out.
fn arg_callees(ctx: &Ctx<'_>, arg: Node<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![arg];
    while let Some(n) = stack.pop() {
        if out.len() >= 16 || !ctx.tick() {
            break;
        }
        if n.kind_name() == "call"
            && let Some(q) = n.field(Field::Function).and_then(|f| ctx.qualify(f))
            && classify(&q.name).is_none()
        {
            out.push(q.name);
        }
        if n.kind_name() != "lambda" {
            let mut c = n.walk();
            stack.extend(n.named_children(&mut c));
        }
    }
    out
}
