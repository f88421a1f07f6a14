//! The install-time rules: `setup.py` `cmdclass` overrides of install/develop/egg_info whose
//! run() starts a process, reaches the network or runs dynamic code (M2; `build_ext` and
//! `sdist` are build steps, B2), and `.pth` lines that Python runs at every start (M5).

use super::node::{Field, NodeExt};
use tree_sitter::Tree;

use super::Out;
use super::collect::Collected;
use super::names::Kind;
use super::resolve::Ctx;
use super::rules::Call;
use crate::model::{Capability, Rule, Severity};

/// Words whose use on an executable `.pth` line makes it malware-shaped (M5).
const PTH_WORDS: [&str; 12] = [
    "exec",
    "eval",
    "compile",
    "base64",
    "b64decode",
    "subprocess",
    "socket",
    "urllib",
    "urlopen",
    "system",
    "popen",
    "marshal",
];

/// M2: `cmdclass` overrides of install/develop/egg_info, and what their run() does.
pub(super) fn install_hooks(
    ctx: &Ctx<'_>,
    col: &Collected<'_>,
    calls: &[Vec<Call<'_>>],
    out: &mut Out<'_>,
) {
    for entry in &col.cmdclass {
        if !matches!(entry.command.as_str(), "install" | "develop" | "egg_info") {
            continue; // B2: build_ext, sdist and the like are build steps, not install hooks.
        }
        out.capability(Capability::InstallHook);
        let class = match entry.class.kind_name() {
            "identifier" => ctx.text(entry.class),
            "attribute" => entry
                .class
                .field(Field::Attribute)
                .map_or("", |a| ctx.text(a)),
            _ => "",
        };
        if class.is_empty() {
            continue;
        }
        let method = |name: &str| {
            col.scopes
                .iter()
                .position(|s| s.class.as_deref() == Some(class) && s.name == name)
        };
        let Some(run) = method("run") else {
            continue;
        };
        // run() and what it calls one level down: its class's methods and module functions.
        let mut reached = vec![run];
        for c in &calls[run] {
            let Some(f) = c.node.field(Field::Function) else {
                continue;
            };
            let callee = match f.kind_name() {
                "identifier" => col
                    .scopes
                    .iter()
                    .position(|s| s.class.is_none() && !s.is_module() && s.name == ctx.text(f)),
                "attribute"
                    if f.field(Field::Object)
                        .is_some_and(|o| ctx.text(o) == "self") =>
                {
                    f.field(Field::Attribute).and_then(|a| method(ctx.text(a)))
                }
                _ => None,
            };
            reached.extend(callee.filter(|c| !reached.contains(c)));
        }
        let hit = reached.iter().find_map(|&i| {
            calls[i].iter().find_map(|c| {
                let what = match c.kind? {
                    Kind::Process => "starts a process",
                    Kind::Network | Kind::NetClient | Kind::Download => "reaches the network",
                    Kind::Exec | Kind::Marshal | Kind::Loader => "runs dynamic code",
                    _ => return None,
                };
                Some((c.node, what))
            })
        });
        if let Some((node, what)) = hit {
            out.finding(
                Rule::InstallHookOverride,
                Severity::High,
                node,
                format!(
                    "setup.py overrides the `{}` command with `{class}`, whose run() {what}",
                    entry.command
                ),
            );
        }
    }
}

/// M5: a `.pth` line that starts with `import` runs at every interpreter start.
pub(super) fn pth_line(ctx: &Ctx<'_>, col: &Collected<'_>, tree: &Tree, out: &mut Out<'_>) {
    let line = ctx.src.trim_start();
    if !(line.starts_with("import ") || line.starts_with("import\t")) {
        return;
    }
    out.capability(Capability::ExecutablePth);
    let mut hits: Vec<&str> = PTH_WORDS
        .iter()
        .copied()
        .filter(|w| col.names.contains(*w))
        .collect();
    hits.truncate(3);
    if hits.is_empty() {
        return;
    }
    // `exec("…")` of a string literal whose text names nothing else flagged is visible code,
    // not a hidden payload (coverage's `a1_coverage.pth` starts its subprocess measurement so):
    // Medium. A decoded, fetched or computed argument, or a literal that itself names base64,
    // subprocess, socket, … stays High (the litellm 1.82.8 shape).
    let only_exec = hits
        .iter()
        .all(|w| matches!(*w, "exec" | "eval" | "compile"));
    let severity = if only_exec && exec_args_are_plain_literals(ctx, tree) {
        Severity::Medium
    } else {
        Severity::High
    };
    out.finding(
        Rule::ExecutablePth,
        severity,
        tree.root_node(),
        format!(
            "a .pth line run at every interpreter start uses {}",
            hits.join(", ")
        ),
    );
}

/// Every `exec`/`eval`/`compile` call on the line has a string literal as its first argument,
/// and no literal names a flagged word besides those three.
fn exec_args_are_plain_literals(ctx: &Ctx<'_>, tree: &Tree) -> bool {
    let mut cursor = tree.walk();
    let mut calls = 0usize;
    loop {
        let node = cursor.node();
        if node.kind_name() == "call"
            && let Some(f) = node.field(Field::Function)
            && matches!(ctx.text(f), "exec" | "eval" | "compile")
        {
            calls += 1;
            let first = node.field(Field::Arguments).and_then(|a| a.named_child(0));
            let Some(arg) =
                first.filter(|a| matches!(a.kind_name(), "string" | "concatenated_string"))
            else {
                return false;
            };
            let text = ctx.text(arg);
            if PTH_WORDS
                .iter()
                .filter(|w| !matches!(**w, "exec" | "eval" | "compile"))
                .any(|w| text.contains(w))
            {
                return false;
            }
        }
        if cursor.goto_first_child() {
            continue;
        }
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return calls > 0;
            }
        }
    }
}
