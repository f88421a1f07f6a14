//! The two walks over one file's syntax tree, both iterative (a cursor and an explicit path, so
//! deeply nested input cannot exhaust the stack): the first collects imports and name aliases,
//! the second sorts calls, assignments and string literals in code into scopes (the module and
//! each function), leaving docstrings and comments out.

use super::node::{Field, NodeExt};
use tree_sitter::{Node, Tree};

use super::SourceRole;
use super::resolve::Ctx;

/// One scope: the module (with its class bodies) or one function.
pub(super) struct Scope<'t> {
    /// The function's name; empty for the module.
    pub name: String,
    /// The class whose body defines the function, if any.
    pub class: Option<String>,
    /// Assignments in order: (target, value, augmented).
    pub assigns: Vec<(Node<'t>, Node<'t>)>,
    pub calls: Vec<Node<'t>>,
    /// String literals in code (not docstrings or other bare string statements).
    pub strings: Vec<Node<'t>>,
    /// `+` chains (their topmost node).
    pub plus_chains: Vec<Node<'t>>,
    /// References to the environment (`os.environ`, `environ` imported from os).
    pub env_refs: Vec<Node<'t>>,
    /// The values the function returns.
    pub returns: Vec<Node<'t>>,
    /// The function's parameter names (`self` and `cls` left out).
    pub params: Vec<String>,
    /// The function this one is defined in (a closure), by scope index.
    pub parent: Option<usize>,
    /// The function's decorator expressions (`report`, `report(URL)`), outermost first.
    pub decorators: Vec<Node<'t>>,
}

impl Scope<'_> {
    fn new(name: String, class: Option<String>) -> Self {
        Self {
            name,
            class,
            assigns: Vec::new(),
            calls: Vec::new(),
            strings: Vec::new(),
            plus_chains: Vec::new(),
            env_refs: Vec::new(),
            returns: Vec::new(),
            params: Vec::new(),
            parent: None,
            decorators: Vec::new(),
        }
    }

    pub fn is_module(&self) -> bool {
        self.name.is_empty()
    }
}

/// A `cmdclass` entry of `setup.py`: the command name and the class expression.
pub(super) struct CmdclassEntry<'t> {
    pub command: String,
    pub class: Node<'t>,
}

/// What the second walk found.
pub(super) struct Collected<'t> {
    pub scopes: Vec<Scope<'t>>,
    pub cmdclass: Vec<CmdclassEntry<'t>>,
    /// Identifiers seen anywhere, for a `.pth` line only (M5).
    pub names: std::collections::BTreeSet<String>,
}

/// Visit every node once, depth first, without recursion. `enter` returns whether to descend;
/// `path` holds the ancestors of the node being entered.
/// `visit(node, path, leaving)` is called on entering (`leaving` false: return whether to
/// descend) and on leaving each node.
fn walk<'t>(tree: &'t Tree, mut visit: impl FnMut(Node<'t>, &[Node<'t>], bool) -> bool) {
    let mut cursor = tree.walk();
    let mut path: Vec<Node<'t>> = Vec::new();
    loop {
        let node = cursor.node();
        if visit(node, &path, false) && cursor.goto_first_child() {
            path.push(node);
            continue;
        }
        visit(node, &path, true);
        loop {
            if cursor.goto_next_sibling() {
                break;
            }
            if !cursor.goto_parent() {
                return;
            }
            if let Some(p) = path.pop() {
                visit(p, &path, true);
            }
        }
    }
}

/// First walk: imports and simple aliases into `ctx`.
pub(super) fn collect_imports<'t>(ctx: &mut Ctx<'t>, tree: &'t Tree) {
    let src = ctx.src;
    let text = |n: Node<'_>| src.get(n.byte_range()).unwrap_or("");
    let mut aliases = Vec::new();
    let mut assigned = Vec::new();
    let mut wildcard = Vec::new();
    let mut assign_count: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
    let mut consts = Vec::new();
    let mut budget_ok = true;
    walk(tree, |node, _, leaving| {
        if leaving {
            return false;
        }
        if !budget_ok || !ctx.tick() {
            budget_ok = false;
            return false;
        }
        match node.kind_name() {
            "import_statement" => {
                let mut c = node.walk();
                for name in node.fields(Field::Name, &mut c) {
                    match name.kind_name() {
                        "dotted_name" => {
                            let full = text(name);
                            let first = full.split('.').next().unwrap_or(full).trim();
                            aliases.push((first.to_owned(), first.to_owned()));
                        }
                        "aliased_import" => {
                            if let (Some(n), Some(a)) =
                                (name.field(Field::Name), name.field(Field::Alias))
                            {
                                aliases.push((text(a).to_owned(), squash(text(n))));
                            }
                        }
                        _ => {}
                    }
                }
                false
            }
            "import_from_statement" => {
                let module = node
                    .field(Field::ModuleName)
                    .map(|m| squash(text(m)))
                    .unwrap_or_default();
                let mut c = node.walk();
                for name in node.fields(Field::Name, &mut c) {
                    match name.kind_name() {
                        "dotted_name" => {
                            let n = squash(text(name));
                            aliases.push((n.clone(), join_module(&module, &n)));
                        }
                        "aliased_import" => {
                            if let (Some(n), Some(a)) =
                                (name.field(Field::Name), name.field(Field::Alias))
                            {
                                aliases.push((
                                    text(a).to_owned(),
                                    join_module(&module, &squash(text(n))),
                                ));
                            }
                        }
                        _ => {}
                    }
                }
                let mut c = node.walk();
                if node
                    .children(&mut c)
                    .any(|ch| ch.kind_name() == "wildcard_import")
                {
                    wildcard.push(module);
                }
                false
            }
            "assignment" => {
                if let (Some(l), Some(r)) = (node.field(Field::Left), node.field(Field::Right))
                    && l.kind_name() == "attribute"
                    && l.field(Field::Object)
                        .is_some_and(|o| matches!(text(o), "self" | "cls"))
                    && matches!(r.kind_name(), "identifier" | "attribute")
                {
                    // `self.send = requests.get` in a method: `self.send(…)` is that call.
                    assigned.push((squash(text(l)), r));
                } else if let (Some(l), Some(r)) =
                    (node.field(Field::Left), node.field(Field::Right))
                    && l.kind_name() == "identifier"
                {
                    if matches!(
                        r.kind_name(),
                        "identifier" | "attribute" | "call" | "subscript"
                    ) {
                        assigned.push((text(l).to_owned(), r));
                    }
                    *assign_count.entry(text(l)).or_insert(0u32) += 1;
                    if matches!(
                        r.kind_name(),
                        "string" | "concatenated_string" | "binary_operator" | "call" | "subscript"
                    ) {
                        consts.push((text(l), r));
                    }
                }
                false
            }
            // Imports and aliases are statements: expressions need not be entered.
            kind => STATEMENT_CONTAINERS.contains(&kind),
        }
    });
    for (k, v) in aliases {
        ctx.aliases.entry(k).or_insert(v);
    }
    for (k, v) in assigned {
        // A name bound by an import keeps that meaning; of several assignments the first wins.
        if !ctx.aliases.contains_key(&k) && ctx.text(v) != k {
            ctx.assigned.entry(k).or_insert(v);
        }
    }
    ctx.wildcard = wildcard;
    for (k, v) in consts {
        if assign_count.get(k) == Some(&1) {
            ctx.consts.insert(k.to_owned(), v);
        }
    }
    // `x = __import__("os")` and `x = importlib.import_module("os")` are aliases; other calls
    // are values, not names.
    let calls: Vec<String> = ctx
        .assigned
        .iter()
        .filter(|(_, v)| v.kind_name() == "call")
        .map(|(k, _)| k.clone())
        .collect();
    for k in calls {
        let keep = ctx.assigned.get(&k).is_some_and(|v| {
            v.field(Field::Function)
                .and_then(|f| ctx.qualify(f))
                .and_then(|q| super::names::classify(&q.name))
                .is_some_and(|kind| {
                    matches!(
                        kind,
                        super::names::Kind::Import | super::names::Kind::Getattr
                    )
                })
        });
        if !keep {
            ctx.assigned.remove(&k);
        }
    }
}

/// The nodes that can hold statements (an `ERROR` node too: a broken file's statements may sit
/// inside one).
const STATEMENT_CONTAINERS: [&str; 19] = [
    "module",
    "block",
    "if_statement",
    "elif_clause",
    "else_clause",
    "for_statement",
    "while_statement",
    "try_statement",
    "except_clause",
    "except_group_clause",
    "finally_clause",
    "with_statement",
    "function_definition",
    "class_definition",
    "decorated_definition",
    "expression_statement",
    "match_statement",
    "case_clause",
    "ERROR",
];

/// `module.name`; `from . import c` gives `.c` (the dots alone are the relative level).
fn join_module(module: &str, name: &str) -> String {
    if module.chars().all(|c| c == '.') {
        format!("{module}{name}")
    } else {
        format!("{module}.{name}")
    }
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// Second walk: scopes, calls, assignments, strings in code, `cmdclass` entries.
pub(super) fn collect_scopes<'t>(ctx: &Ctx<'t>, tree: &'t Tree, role: SourceRole) -> Collected<'t> {
    let setup_py = role == SourceRole::SetupPy;
    let pth_line = role == SourceRole::PthLine;
    let mut scopes = vec![Scope::new(String::new(), None)];
    let mut stack: Vec<(usize, usize)> = vec![(usize::MAX, 0)]; // (function node id, scope index)
    let mut cmdclass = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    let mut budget_ok = true;
    walk(tree, |node, path, leaving| {
        if leaving {
            if stack.len() > 1 && stack.last().is_some_and(|s| s.0 == node.id()) {
                stack.pop();
            }
            return false;
        }
        if !budget_ok || !ctx.tick() {
            budget_ok = false;
            return false;
        }
        let current = stack.last().map_or(0, |s| s.1);
        let parent = path.last();
        match node.kind_name() {
            "comment" => return false,
            "function_definition" => {
                let name = node
                    .field(Field::Name)
                    .map(|n| ctx.text(n).to_owned())
                    .unwrap_or_else(|| "<function>".to_owned());
                let class = match (path.len().checked_sub(2).map(|i| path[i]), parent) {
                    (Some(gp), Some(p))
                        if p.kind_name() == "block" && gp.kind_name() == "class_definition" =>
                    {
                        gp.field(Field::Name).map(|n| ctx.text(n).to_owned())
                    }
                    (_, Some(p)) if p.kind_name() == "decorated_definition" => path
                        .len()
                        .checked_sub(3)
                        .map(|i| path[i])
                        .filter(|gp| gp.kind_name() == "class_definition")
                        .and_then(|gp| gp.field(Field::Name))
                        .map(|n| ctx.text(n).to_owned()),
                    _ => None,
                };
                let mut scope = Scope::new(name, class);
                scope.params = params(ctx, node);
                scope.parent = (current != 0).then_some(current);
                if let Some(p) = parent.filter(|p| p.kind_name() == "decorated_definition") {
                    let mut c = p.walk();
                    scope.decorators = p
                        .named_children(&mut c)
                        .filter(|d| d.kind_name() == "decorator")
                        .filter_map(|d| d.named_child(0))
                        .take(8)
                        .collect();
                }
                scopes.push(scope);
                stack.push((node.id(), scopes.len() - 1));
            }
            // A bare string statement (a docstring, or a string used as a comment) is no
            // behaviour.
            "expression_statement"
                if node.named_child_count() == 1
                    && node.named_child(0).is_some_and(|c| {
                        matches!(c.kind_name(), "string" | "concatenated_string")
                    }) =>
            {
                return false;
            }
            "call" => scopes[current].calls.push(node),
            "return_statement" => {
                if let Some(v) = node.named_child(0) {
                    scopes[current].returns.push(v);
                }
            }
            "string" => scopes[current].strings.push(node),
            "assignment" | "augmented_assignment" | "named_expression" => {
                let (l, r) = if node.kind_name() == "named_expression" {
                    (node.field(Field::Name), node.field(Field::Value))
                } else {
                    (node.field(Field::Left), node.field(Field::Right))
                };
                if let (Some(l), Some(r)) = (l, r) {
                    scopes[current].assigns.push((l, r));
                    if setup_py && ctx.text(l) == "cmdclass" {
                        cmdclass_entries(ctx, r, &mut cmdclass);
                    }
                }
                if setup_py
                    && let Some(l) = node.field(Field::Left)
                    && l.kind_name() == "subscript"
                    && l.field(Field::Value)
                        .is_some_and(|v| ctx.text(v) == "cmdclass")
                    && let (Some(k), Some(r)) =
                        (l.field(Field::Subscript), node.field(Field::Right))
                    && let Some((command, _)) = ctx.const_str(k)
                {
                    cmdclass.push(CmdclassEntry { command, class: r });
                }
            }
            "for_statement" | "for_in_clause" => {
                if let (Some(l), Some(r)) = (node.field(Field::Left), node.field(Field::Right)) {
                    scopes[current].assigns.push((l, r));
                }
            }
            "as_pattern" => {
                if let (Some(v), Some(a)) = (node.named_child(0), node.field(Field::Alias)) {
                    scopes[current].assigns.push((a, v));
                }
            }
            // setup(**{"cmdclass": {...}}) and option dicts built the same way.
            "pair" if setup_py => {
                if let (Some(k), Some(v)) = (node.field(Field::Key), node.field(Field::Value))
                    && ctx.const_str(k).is_some_and(|(k, _)| k == "cmdclass")
                {
                    cmdclass_entries(ctx, v, &mut cmdclass);
                }
            }
            "keyword_argument" if setup_py => {
                if let (Some(n), Some(v)) = (node.field(Field::Name), node.field(Field::Value))
                    && ctx.text(n) == "cmdclass"
                {
                    cmdclass_entries(ctx, v, &mut cmdclass);
                }
            }
            "binary_operator" => {
                let is_plus = |n: &Node<'_>| {
                    n.kind_name() == "binary_operator"
                        && n.field(Field::Operator).is_some_and(|o| ctx.text(o) == "+")
                };
                if is_plus(&node) && !parent.is_some_and(is_plus) {
                    scopes[current].plus_chains.push(node);
                }
            }
            "identifier" => {
                let t = ctx.text(node);
                if pth_line && names.len() < 4096 {
                    names.insert(t.to_owned());
                }
                let is_attr_name = parent.is_some_and(|p| {
                    p.kind_name() == "attribute"
                        && p.field(Field::Attribute)
                            .is_some_and(|a| a.id() == node.id())
                });
                if !is_attr_name
                    && (ctx.aliases.contains_key(t) || ctx.assigned.contains_key(t))
                    && ctx
                        .qualify(node)
                        .is_some_and(|q| super::names::is_environ(&q.name))
                {
                    scopes[current].env_refs.push(node);
                }
            }
            "attribute" | "subscript"
                if node
                    .field(if node.kind_name() == "attribute" {
                        Field::Object
                    } else {
                        Field::Value
                    })
                    .is_some_and(|o| {
                        o.kind_name() == "identifier"
                            || (matches!(o.kind_name(), "subscript" | "call" | "attribute")
                                && names_environ(ctx, node))
                    })
                    && ctx.qualify(node).is_some_and(|q| {
                        super::names::is_environ(&q.name) || q.name == "os.getenv"
                    }) =>
            {
                scopes[current].env_refs.push(node);
            }
            _ => {}
        }
        true
    });
    Collected {
        scopes,
        cmdclass,
        names,
    }
}

/// Whether an attribute or subscript through a namespace names the environment
/// (`sys.modules["os"].environ`, `vars(os)["environ"]`): a cheap test before resolving it.
fn names_environ(ctx: &Ctx<'_>, node: Node<'_>) -> bool {
    let last = if node.kind_name() == "attribute" {
        node.field(Field::Attribute).map(|a| ctx.text(a))
    } else {
        node.field(Field::Subscript)
            .filter(|k| k.kind_name() == "string")
            .map(|k| ctx.text(k).trim_matches(|c| c == '"' || c == '\''))
    };
    matches!(last, Some("environ" | "environb" | "getenv"))
}

/// The parameter names of a function definition, `self`/`cls` left out.
fn params(ctx: &Ctx<'_>, def: Node<'_>) -> Vec<String> {
    let Some(ps) = def.field(Field::Parameters) else {
        return Vec::new();
    };
    let mut c = ps.walk();
    ps.named_children(&mut c)
        .take(64)
        .filter_map(|p| {
            let id = if p.kind_name() == "identifier" {
                p
            } else {
                let mut c = p.walk();
                p.named_children(&mut c)
                    .find(|n| n.kind_name() == "identifier")?
            };
            Some(ctx.text(id).to_owned())
        })
        .filter(|n| n != "self" && n != "cls")
        .collect()
}

/// The entries of a `cmdclass` value: a dict literal or `dict(install=X)`.
fn cmdclass_entries<'t>(ctx: &Ctx<'t>, value: Node<'t>, out: &mut Vec<CmdclassEntry<'t>>) {
    match value.kind_name() {
        "dictionary" => {
            let mut c = value.walk();
            for pair in value
                .named_children(&mut c)
                .filter(|p| p.kind_name() == "pair")
            {
                if let (Some(k), Some(v)) = (pair.field(Field::Key), pair.field(Field::Value))
                    && let Some((command, _)) = ctx.const_str(k)
                {
                    out.push(CmdclassEntry { command, class: v });
                }
            }
        }
        "call"
            if value
                .field(Field::Function)
                .is_some_and(|f| ctx.text(f) == "dict") =>
        {
            for (name, v) in super::resolve::keyword_args(ctx, value) {
                out.push(CmdclassEntry {
                    command: name,
                    class: v,
                });
            }
        }
        _ => {}
    }
}
