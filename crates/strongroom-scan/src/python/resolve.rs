//! Resolving names and values in one file's syntax tree: import aliases (`import os as o`,
//! `from os import environ`), qualified call targets through attribute chains, `__import__` and
//! `getattr` with constant arguments, constant strings built from literals, and the labels an
//! expression carries (environment data, decoded bytes, …) for the per-scope data flow.
//! Every walk here is iterative or depth-capped, and all share one work budget.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use super::node::{Field, NodeExt};
use tree_sitter::Node;

use super::names::{
    DICT_ATTR, Kind, classify, is_builtins, is_credential_path, is_environ, is_module_table,
    is_namespace_call,
};

/// Labels an expression's value can carry.
pub(super) mod label {
    use crate::model::Severity;

    /// Comes from the environment.
    pub const ENV: u16 = 1;
    /// The whole environment (`os.environ.items()`, `dict(os.environ)`).
    pub const BULK: u16 = 1 << 1;
    /// Went through an encoding (base64, hex, zlib).
    pub const ENCODED: u16 = 1 << 2;

    /// How grave sending a value with `labels` over the network is (M1): `None` when it holds
    /// nothing of the environment; High for the whole environment or an encoded value, Medium
    /// for one named value. One rule for a file's own calls and for calls across modules.
    pub fn exfiltration_severity(labels: u16) -> Option<Severity> {
        if labels & ENV == 0 {
            None
        } else if labels & (ENCODED | BULK) != 0 {
            Some(Severity::High)
        } else {
            Some(Severity::Medium)
        }
    }
    /// Came out of a decoding (base64, hex, zlib, marshal).
    pub const DECODED: u16 = 1 << 3;
    /// Names or holds a credential file.
    pub const CRED: u16 = 1 << 4;
    /// A network client or socket.
    pub const NETOBJ: u16 = 1 << 5;
    /// Image data.
    pub const IMAGE: u16 = 1 << 6;
    /// Data fetched over the network.
    pub const NETDATA: u16 = 1 << 7;
}
use label::*;

/// Names assigned in a scope and the labels their values carry.
pub(super) type Taints = HashMap<String, u16>;

/// A resolved call target: its qualified name, and whether a computed string (`"o"+"s"`,
/// `chr(…)`) was needed to get it.
#[derive(Clone, Debug)]
pub(super) struct Qual {
    pub name: String,
    pub obfuscated: bool,
}

/// One file's resolution context.
pub(super) struct Ctx<'t> {
    pub src: &'t str,
    /// Local name → the module or object it was imported as.
    pub aliases: HashMap<String, String>,
    /// Local name → the expression first assigned to it, when that is a name or an import.
    pub assigned: HashMap<String, Node<'t>>,
    /// Names assigned once in the file from an expression that may be a constant string
    /// (`NAME = "".join([chr(95), …])`).
    pub consts: HashMap<String, Node<'t>>,
    /// Modules imported with `*`.
    pub wildcard: Vec<String>,
    /// Function name → the labels of what it returns (one level: `data = collect()`).
    returns: RefCell<HashMap<String, u16>>,
    visits: Cell<u64>,
    max_visits: u64,
    budget: crate::budget::Budget,
    exhausted: Cell<bool>,
}

const MAX_CHAIN: usize = 32;
const MAX_DEPTH: u32 = 96;
const MAX_CONST_LEN: usize = 4096;

impl<'t> Ctx<'t> {
    pub fn new(src: &'t str, max_visits: u64, budget: crate::budget::Budget) -> Self {
        Self {
            src,
            aliases: HashMap::new(),
            assigned: HashMap::new(),
            consts: HashMap::new(),
            wildcard: Vec::new(),
            returns: RefCell::new(HashMap::new()),
            visits: Cell::new(0),
            max_visits,
            budget,
            exhausted: Cell::new(false),
        }
    }

    /// Set what each function returns (by name; methods by their bare name).
    pub fn set_returns(&self, returns: HashMap<String, u16>) {
        *self.returns.borrow_mut() = returns;
    }

    /// The functions' return labels as set (for the package-wide summary).
    pub fn returns_map(&self) -> std::collections::BTreeMap<String, u16> {
        self.returns
            .borrow()
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    /// The labels of what a call to `f` returns, when `f` is a function of this file.
    fn returned(&self, f: Node<'_>) -> u16 {
        self.local_function(f).map_or(0, |name| {
            self.returns.borrow().get(name).copied().unwrap_or(0)
        })
    }

    /// The name of the function of this file a call target denotes: `f`, `self.f`, `cls.f`.
    pub fn local_function(&self, f: Node<'_>) -> Option<&'t str> {
        let name = match f.kind_name() {
            "identifier" => self.text(f),
            "attribute"
                if f.field(Field::Object)
                    .is_some_and(|o| matches!(self.text(o), "self" | "cls")) =>
            {
                f.field(Field::Attribute).map_or("", |a| self.text(a))
            }
            _ => return None,
        };
        (!name.is_empty()).then_some(name)
    }

    /// Count one unit of work; false once the budget (visits or time) is spent.
    pub fn tick(&self) -> bool {
        if self.exhausted.get() {
            return false;
        }
        let v = self.visits.get() + 1;
        self.visits.set(v);
        if v > self.max_visits || (v.is_multiple_of(4096) && self.budget.spent()) {
            self.exhausted.set(true);
            return false;
        }
        true
    }

    pub fn exhausted(&self) -> bool {
        self.exhausted.get()
    }

    pub fn text(&self, n: Node<'_>) -> &'t str {
        self.src.get(n.byte_range()).unwrap_or("")
    }

    /// The qualified name an expression denotes (`o.system` → `os.system`), for pure chains of
    /// names and attributes rooted in a name, an import, or a `getattr` with a constant name.
    pub fn qualify(&self, node: Node<'_>) -> Option<Qual> {
        self.qualify_at(node, 0)
    }

    fn qualify_at(&self, node: Node<'_>, depth: u32) -> Option<Qual> {
        if depth > 6 || !self.tick() {
            return None;
        }
        let mut attrs: Vec<&str> = Vec::new();
        let mut base = node;
        while base.kind_name() == "attribute" {
            if attrs.len() >= MAX_CHAIN {
                return None;
            }
            attrs.push(self.text(base.field(Field::Attribute)?));
            base = base.field(Field::Object)?;
        }
        // `self.send(…)` where a method bound `self.send = requests.get`, or the class body
        // `send = requests.get`.
        if base.kind_name() == "identifier"
            && matches!(self.text(base), "self" | "cls")
            && let Some(first) = attrs.pop()
        {
            let bound = self
                .assigned
                .get(&format!("self.{first}"))
                .or_else(|| self.assigned.get(&format!("cls.{first}")))
                .or_else(|| self.assigned.get(first))
                .copied();
            let mut q = match bound {
                Some(rhs) => self.qualify_at(rhs, depth + 1)?,
                None => Qual {
                    name: format!("{}.{first}", self.text(base)),
                    obfuscated: false,
                },
            };
            for a in attrs.iter().rev() {
                q.name.push('.');
                q.name.push_str(a);
            }
            return Some(q);
        }
        let mut q = match base.kind_name() {
            "identifier" => self.resolve_ident(self.text(base), depth),
            "subscript" => self.qualify_subscript(base, depth)?,
            "parenthesized_expression" if attrs.is_empty() => {
                return self.qualify_at(base.named_child(0)?, depth + 1);
            }
            "parenthesized_expression" => self.qualify_at(base.named_child(0)?, depth + 1)?,
            "call" => self.qualify_call_result(base, depth)?,
            _ => return None,
        };
        for a in attrs.iter().rev() {
            q.name.push('.');
            q.name.push_str(a);
        }
        Some(q)
    }

    fn resolve_ident(&self, name: &str, depth: u32) -> Qual {
        if let Some(a) = self.aliases.get(name) {
            return Qual {
                name: a.clone(),
                obfuscated: false,
            };
        }
        if let Some(rhs) = self.assigned.get(name)
            && let Some(q) = self.qualify_at(*rhs, depth + 1)
        {
            return q;
        }
        for m in &self.wildcard {
            let candidate = format!("{m}.{name}");
            if classify(&candidate).is_some() || is_environ(&candidate) {
                return Qual {
                    name: candidate,
                    obfuscated: false,
                };
            }
        }
        Qual {
            name: name.to_owned(),
            obfuscated: false,
        }
    }

    /// A namespace looked up with a constant key: `sys.modules["os"]` (the module),
    /// `vars(os)["environ"]` and `os.__dict__["environ"]` (`os.environ`), `globals()["requests"]`
    /// (the name), `__builtins__["exec"]` (`exec`).
    fn qualify_subscript(&self, node: Node<'_>, depth: u32) -> Option<Qual> {
        let value = node.field(Field::Value)?;
        let (key, plain) = self.const_str(node.field(Field::Subscript)?)?;
        if key.is_empty() || key.len() > 256 {
            return None;
        }
        // `globals()[k]`, `vars()[k]`: the file's own name `k`; `vars(m)[k]`: `m.k`.
        if value.kind_name() == "call"
            && let Some(f) = value.field(Field::Function)
            && f.kind_name() == "identifier"
            && is_namespace_call(self.text(f))
            && !self.aliases.contains_key(self.text(f))
        {
            let mut q = match positional_args(value).first() {
                Some(obj) if self.text(f) == "vars" => {
                    let mut q = self.qualify_at(*obj, depth + 1)?;
                    q.name = format!("{}.{key}", q.name);
                    q
                }
                _ => self.resolve_ident(&key, depth + 1),
            };
            q.obfuscated |= !plain;
            return Some(q);
        }
        let base = self.qualify_at(value, depth + 1)?;
        let name = if is_module_table(&base.name) {
            key
        } else if let Some(obj) = base.name.strip_suffix(DICT_ATTR) {
            format!("{obj}{key}")
        } else if is_builtins(&base.name) {
            format!("{}.{key}", base.name)
        } else {
            return None;
        };
        Some(Qual {
            name,
            obfuscated: base.obfuscated || !plain,
        })
    }

    /// `__import__("os")`, `importlib.import_module("os")`, `getattr(os, "system")`.
    fn qualify_call_result(&self, call: Node<'_>, depth: u32) -> Option<Qual> {
        let f = self.qualify_at(call.field(Field::Function)?, depth + 1)?;
        let args = positional_args(call);
        match classify(&f.name)? {
            Kind::Import => {
                let (mut name, plain) = self.const_str(*args.first()?)?;
                // `__import__("urllib.request")` returns `urllib` (and `.request.urlopen` is
                // then the function); `import_module` returns the named module.
                if matches!(
                    super::names::normalise(&f.name),
                    "__import__" | "importlib.__import__"
                ) && let Some((top, _)) = name.split_once('.')
                {
                    name = top.to_owned();
                }
                Some(Qual {
                    name,
                    obfuscated: f.obfuscated || !plain,
                })
            }
            Kind::Getattr => {
                let obj = self.qualify_at(*args.first()?, depth + 1)?;
                let (attr, plain) = self.const_str(*args.get(1)?)?;
                Some(Qual {
                    name: format!("{}.{attr}", obj.name),
                    obfuscated: obj.obfuscated || f.obfuscated || !plain,
                })
            }
            _ => None,
        }
    }

    /// The value of a string built from literals only, and whether it is one plain literal.
    pub fn const_str(&self, node: Node<'_>) -> Option<(String, bool)> {
        self.const_at(node, 0)
    }

    fn const_at(&self, node: Node<'_>, depth: u32) -> Option<(String, bool)> {
        if depth > MAX_DEPTH || !self.tick() {
            return None;
        }
        let out = match node.kind_name() {
            "string" => (self.literal(node)?, true),
            "concatenated_string" => {
                let mut s = String::new();
                let mut c = node.walk();
                for part in node.named_children(&mut c) {
                    s.push_str(&self.literal(part)?);
                }
                (s, true)
            }
            "parenthesized_expression" => self.const_at(node.named_child(0)?, depth + 1)?,
            "identifier" => self.const_at(*self.consts.get(self.text(node))?, depth + 1)?,
            "binary_operator" => {
                if self.text(node.field(Field::Operator)?) != "+" {
                    return None;
                }
                let (l, _) = self.const_at(node.field(Field::Left)?, depth + 1)?;
                let (r, _) = self.const_at(node.field(Field::Right)?, depth + 1)?;
                (l + &r, false)
            }
            "subscript" => {
                // "so"[::-1]
                let slice = node.field(Field::Subscript)?;
                if slice.kind_name() != "slice" || self.text(slice).replace(' ', "") != "::-1" {
                    return None;
                }
                let (s, _) = self.const_at(node.field(Field::Value)?, depth + 1)?;
                (s.chars().rev().collect(), false)
            }
            "call" => {
                let f = node.field(Field::Function)?;
                let args = positional_args(node);
                if f.kind_name() == "identifier" && self.text(f) == "chr" && args.len() == 1 {
                    let n = parse_int(self.text(args[0]))?;
                    (char::from_u32(n)?.to_string(), false)
                } else if f.kind_name() == "attribute"
                    && self.text(f.field(Field::Attribute)?) == "join"
                    && args.len() == 1
                {
                    let (sep, _) = self.const_at(f.field(Field::Object)?, depth + 1)?;
                    let parts = match args[0].kind_name() {
                        "list" | "tuple" => {
                            let mut parts = Vec::new();
                            let mut c = args[0].walk();
                            for item in args[0].named_children(&mut c) {
                                parts.push(self.const_at(item, depth + 1)?.0);
                            }
                            parts
                        }
                        _ => self.chr_comprehension(args[0])?,
                    };
                    (parts.join(&sep), false)
                } else {
                    return None;
                }
            }
            _ => return None,
        };
        (out.0.len() <= MAX_CONST_LEN).then_some(out)
    }

    /// `chr(c) for c in [115, 117, …]` (a generator or list comprehension) and
    /// `map(chr, [115, 117, …])`: the characters.
    fn chr_comprehension(&self, node: Node<'_>) -> Option<Vec<String>> {
        let ints = match node.kind_name() {
            "generator_expression" | "list_comprehension" => {
                let body = node.field(Field::Body)?;
                let var = positional_args(body).first().map(|a| self.text(*a))?;
                if body.kind_name() != "call"
                    || body.field(Field::Function).map(|f| self.text(f)) != Some("chr")
                {
                    return None;
                }
                let mut c = node.walk();
                let clauses: Vec<Node<'_>> = node
                    .named_children(&mut c)
                    .filter(|n| matches!(n.kind_name(), "for_in_clause" | "if_clause"))
                    .collect();
                let [clause] = clauses.as_slice() else {
                    return None;
                };
                if clause.kind_name() != "for_in_clause"
                    || clause.field(Field::Left).map(|l| self.text(l)) != Some(var)
                {
                    return None;
                }
                clause.field(Field::Right)?
            }
            "call" => {
                let args = positional_args(node);
                if node.field(Field::Function).map(|f| self.text(f)) != Some("map")
                    || args.len() != 2
                    || self.text(args[0]) != "chr"
                {
                    return None;
                }
                args[1]
            }
            _ => return None,
        };
        if !matches!(ints.kind_name(), "list" | "tuple") || ints.named_child_count() > MAX_CONST_LEN
        {
            return None;
        }
        let mut c = ints.walk();
        ints.named_children(&mut c)
            .map(|i| {
                let n = parse_int(self.text(i))?;
                Some(char::from_u32(n)?.to_string())
            })
            .collect()
    }

    /// The value of one string literal without interpolations (escapes decoded unless raw).
    pub fn literal(&self, node: Node<'_>) -> Option<String> {
        if node.kind_name() != "string" {
            return None;
        }
        let mut raw = false;
        let mut s = String::new();
        let mut c = node.walk();
        for part in node.children(&mut c) {
            match part.kind_name() {
                "string_start" => raw = self.text(part).chars().any(|c| c == 'r' || c == 'R'),
                "string_content" => s.push_str(self.text(part)),
                "interpolation" => return None,
                _ => {}
            }
        }
        Some(if raw { s } else { unescape(&s) })
    }

    /// The literal text of a string node, interpolations left out (for pattern tests on
    /// f-strings too).
    pub fn string_text(&self, node: Node<'_>) -> String {
        let mut s = String::new();
        let mut c = node.walk();
        for part in node.children(&mut c) {
            if part.kind_name() == "string_content" {
                s.push_str(self.text(part));
            } else if part.kind_name() == "interpolation" {
                s.push('{');
            }
        }
        s
    }

    /// The labels the value of `node` carries, given the scope's assigned names.
    pub fn labels(&self, node: Node<'_>, taints: &Taints) -> u16 {
        let mut out = 0u16;
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            if !self.tick() {
                break;
            }
            match n.kind_name() {
                "identifier" => {
                    let t = self.text(n);
                    out |= taints.get(t).copied().unwrap_or(0);
                    if (self.aliases.contains_key(t) || self.assigned.contains_key(t))
                        && let Some(q) = self.qualify(n)
                    {
                        out |= env_labels(&q.name);
                    }
                }
                "attribute" => match self.qualify(n) {
                    Some(q) => {
                        out |= env_labels(&q.name);
                        let text = self.text(n);
                        let mut parts = text.splitn(3, '.');
                        if let Some(root) = parts.next() {
                            out |= taints.get(root.trim()).copied().unwrap_or(0);
                            if let Some(second) = parts.next() {
                                let key = format!("{}.{}", root.trim(), second.trim());
                                out |= taints.get(&key).copied().unwrap_or(0);
                            }
                        }
                    }
                    None => stack.extend(n.field(Field::Object)),
                },
                "subscript" => {
                    let value = n.field(Field::Value);
                    let env = value
                        .and_then(|v| self.qualify(v))
                        .is_some_and(|q| is_environ(&q.name));
                    // `vars(os)["environ"]`, `sys.modules["os"].__dict__["environ"]`.
                    let whole = if env {
                        0
                    } else {
                        self.qualify_subscript(n, 0)
                            .map_or(0, |q| env_labels(&q.name))
                    };
                    if env {
                        out |= ENV;
                    } else if whole != 0 {
                        out |= whole;
                    } else {
                        stack.extend(value);
                    }
                    let mut c = n.walk();
                    stack.extend(n.fields(Field::Subscript, &mut c));
                }
                "call" => {
                    let f = n.field(Field::Function);
                    let kind = f
                        .and_then(|f| self.qualify(f))
                        .and_then(|q| classify(&q.name));
                    let args = n.field(Field::Arguments);
                    match kind {
                        Some(Kind::Decode | Kind::Marshal) => {
                            out |= DECODED;
                            stack.extend(args);
                        }
                        Some(Kind::Encode) => {
                            out |= ENCODED;
                            stack.extend(args);
                        }
                        Some(Kind::EnvGet) => out |= ENV,
                        Some(Kind::Network | Kind::Download) => out |= NETDATA,
                        Some(Kind::NetClient) => out |= NETOBJ,
                        Some(Kind::Image) => {
                            out |= IMAGE;
                            stack.extend(args);
                        }
                        _ => {
                            out |= f.map_or(0, |f| self.returned(f));
                            stack.extend(f);
                            stack.extend(args);
                        }
                    }
                }
                "string" => {
                    let s = self.string_text(n);
                    if is_credential_path(&s) {
                        out |= CRED;
                    }
                    if is_image_marker(&s) {
                        out |= IMAGE;
                    }
                    let mut c = n.walk();
                    stack.extend(
                        n.named_children(&mut c)
                            .filter(|c| c.kind_name() == "interpolation"),
                    );
                }
                "keyword_argument" => stack.extend(n.field(Field::Value)),
                "comment" | "lambda" => {}
                _ => {
                    let mut c = n.walk();
                    stack.extend(n.named_children(&mut c));
                }
            }
        }
        out
    }

    /// The names an assignment target binds: `x`, `self.x`, `d` for `d[k]`, each of a tuple.
    pub fn target_names(&self, target: Node<'_>) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![target];
        while let Some(n) = stack.pop() {
            if out.len() > 64 || !self.tick() {
                break;
            }
            match n.kind_name() {
                "identifier" => out.push(self.text(n).to_owned()),
                "attribute" => {
                    let text: String = self
                        .text(n)
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .collect();
                    let key: Vec<&str> = text.splitn(3, '.').take(2).collect();
                    out.push(key.join("."));
                }
                "subscript" => stack.extend(n.field(Field::Value)),
                "pattern_list"
                | "tuple_pattern"
                | "list_pattern"
                | "tuple"
                | "list"
                | "expression_list"
                | "parenthesized_expression"
                | "list_splat_pattern"
                | "as_pattern_target" => {
                    let mut c = n.walk();
                    stack.extend(n.named_children(&mut c));
                }
                _ => {}
            }
        }
        out
    }
}

/// `os.environ` read whole → ENV|BULK; one variable (`os.environ.get`) → ENV.
fn env_labels(q: &str) -> u16 {
    if is_environ(q) {
        return ENV | BULK;
    }
    match q.rsplit_once('.') {
        Some((m, attr)) if is_environ(m) => match attr {
            "get" | "setdefault" | "pop" | "__getitem__" => ENV,
            _ => ENV | BULK,
        },
        _ => 0,
    }
}

/// PNG bytes or the `IEND` chunk name in a literal.
pub(super) fn is_image_marker(s: &str) -> bool {
    s.contains("IEND") || s.contains("\\x89PNG") || s.starts_with("\u{89}PNG")
}

/// The positional arguments of a call (keyword and splat arguments left out).
pub(super) fn positional_args<'a>(call: Node<'a>) -> Vec<Node<'a>> {
    let Some(args) = call.field(Field::Arguments) else {
        return Vec::new();
    };
    if args.kind_name() == "generator_expression" {
        return vec![args];
    }
    let mut c = args.walk();
    args.named_children(&mut c)
        .filter(|a| {
            !matches!(
                a.kind_name(),
                "keyword_argument" | "list_splat" | "dictionary_splat" | "comment"
            )
        })
        .collect()
}

/// The keyword arguments of a call, by name.
pub(super) fn keyword_args<'a>(ctx: &Ctx<'_>, call: Node<'a>) -> Vec<(String, Node<'a>)> {
    let Some(args) = call.field(Field::Arguments) else {
        return Vec::new();
    };
    let mut c = args.walk();
    args.named_children(&mut c)
        .filter(|a| a.kind_name() == "keyword_argument")
        .filter_map(|a| {
            let name = a.field(Field::Name)?;
            Some((ctx.text(name).to_owned(), a.field(Field::Value)?))
        })
        .collect()
}

fn parse_int(s: &str) -> Option<u32> {
    let s = s.trim().replace('_', "");
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else if let Some(o) = s.strip_prefix("0o").or_else(|| s.strip_prefix("0O")) {
        u32::from_str_radix(o, 8).ok()
    } else {
        s.parse().ok()
    }
}

/// Decode the common escapes of a Python string literal (`\xNN`, `\uNNNN`, `\n`, `\\`, quotes).
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some(q @ ('\\' | '\'' | '"')) => out.push(q),
            Some(k @ ('x' | 'u')) => {
                let len = if k == 'x' { 2 } else { 4 };
                let hex: String = chars.by_ref().take(len).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) if hex.len() == len => out.push(ch),
                    _ => {
                        out.push('\\');
                        out.push(k);
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}
