//! The rules over one file's collected scopes: capabilities, then M1–M10 findings (M2 for
//! `setup.py`, M5 for a `.pth` line), with the benign look-alikes (B1, B3, B5, B6) kept below
//! Medium. Data flow is per scope and simple: names assigned from environment reads, decodes,
//! credential paths or network clients carry those labels into the calls they reach.

use std::collections::{HashMap, HashSet};

use super::node::{Field, NodeExt};
use tree_sitter::{Node, Tree};

use super::collect::{Collected, Scope, collect_imports, collect_scopes};
use super::names::{Kind, classify, is_credential_path, is_test_or_doc_path, shady_endpoint};
use super::resolve::{Ctx, Qual, Taints, is_image_marker, keyword_args, label::*, positional_args};
use super::{Out, SourceRole};
use crate::model::{Capability, Rule, Severity};

/// Keyword arguments of an HTTP call that configure the client rather than carry data (B3:
/// proxies and CA bundles read from the environment are not exfiltration).
const CONFIG_KEYWORDS: [&str; 16] = [
    "proxies",
    "proxy",
    "verify",
    "cert",
    "timeout",
    "allow_redirects",
    "stream",
    "auth",
    "trust_env",
    "cafile",
    "capath",
    "context",
    "ssl",
    "ssl_context",
    "follow_redirects",
    "source_address",
];

/// One call with its resolved target.
pub(super) struct Call<'t> {
    pub node: Node<'t>,
    pub qual: Option<Qual>,
    pub kind: Option<Kind>,
    /// A function of this file that sends (some of) its arguments over the network.
    pub sink: Option<Sink>,
}

/// A function that sends arguments over the network: which (bit `i` for parameter `i`, the
/// eighth bit for any after it), and its parameter names (for keyword arguments).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Sink {
    pub mask: u8,
    pub params: Vec<String>,
}

pub(super) type Sinks = HashMap<String, Sink>;

/// The labels a function's parameters carry while its summary is computed: parameter `i` has
/// bit `8 + min(i, 7)`. The package pass (`flow.rs`) reads the same bits in a call's arguments.
pub(super) const ARGS: u16 = 0xFF00;

pub(super) fn arg_bit(i: usize) -> u16 {
    1 << (8 + i.min(7))
}

/// The labels of the arguments a sink sends.
fn sink_payload(ctx: &Ctx<'_>, taints: &Taints, call: Node<'_>, sink: &Sink) -> u16 {
    let Some(args) = call.field(Field::Arguments) else {
        return 0;
    };
    let sent = |i: usize| sink.mask & (1 << i.min(7)) != 0;
    let mut out = 0;
    let mut c = args.walk();
    for (i, a) in args.named_children(&mut c).enumerate() {
        let take = match a.kind_name() {
            "keyword_argument" => {
                let name = a.field(Field::Name).map_or("", |n| ctx.text(n));
                sink.params.iter().position(|p| p == name).is_some_and(sent)
            }
            "list_splat" | "dictionary_splat" => true,
            _ => sent(i),
        };
        if take {
            out |= ctx.labels(a, taints);
        }
    }
    out
}
/// The most rounds of the file's function summaries (each is one pass over its functions).
const SUMMARY_ROUNDS: usize = 4;

/// What a scope does, from its calls and strings.
#[derive(Default)]
struct Flags {
    network: bool,
    exec: bool,
    image: bool,
}

/// Analyse the tree into `out`; true when the work budget ran out.
pub(super) fn analyse(
    tree: &Tree,
    src: &str,
    role: SourceRole,
    max_visits: u64,
    budget: crate::budget::Budget,
    out: &mut Out<'_>,
) -> bool {
    let mut ctx = Ctx::new(src, max_visits, budget);
    collect_imports(&mut ctx, tree);
    let col = collect_scopes(&ctx, tree, role);
    let (sinks, self_attrs) = summarise(&ctx, &col);
    let taints = scope_taints(&ctx, &col, &self_attrs);
    let calls: Vec<Vec<Call<'_>>> = col
        .scopes
        .iter()
        .zip(&taints)
        .map(|(s, t)| resolve_calls(&ctx, s, t, &sinks))
        .collect();
    let path = out.path().to_owned();
    out.summary = super::summary::summary(&ctx, &col, &calls, &taints, sinks, &path);
    let texts: Vec<Vec<String>> = col
        .scopes
        .iter()
        .map(|s| s.strings.iter().map(|n| ctx.string_text(*n)).collect())
        .collect();
    let flags: Vec<Flags> = calls
        .iter()
        .zip(&texts)
        .map(|(c, t)| scope_flags(&ctx, c, t))
        .collect();
    let file_network = flags.iter().any(|f| f.network);
    for (i, scope) in col.scopes.iter().enumerate() {
        let env = ScopeEnv {
            ctx: &ctx,
            scope,
            calls: &calls[i],
            taints: &taints[i],
            flags: &flags[i],
            texts: &texts[i],
            role,
        };
        env.capabilities(out);
        env.exfiltration(out);
        env.dynamic_code(out);
        env.download_execute(out);
        env.endpoints_and_credentials(out, file_network);
        env.silent_process(out);
        env.obfuscation(out);
    }
    super::decorators::decorated_senders(&ctx, &col, &calls, out);
    if role == SourceRole::SetupPy {
        super::hooks::install_hooks(&ctx, &col, &calls, out);
    }
    if role == SourceRole::PthLine {
        super::hooks::pth_line(&ctx, &col, tree, out);
    }
    ctx.exhausted()
}

/// The file's function summaries, to a fixed point within [`SUMMARY_ROUNDS`]: what each
/// function returns (set on `ctx`, so `data = collect()` carries it), and the functions that
/// send an argument over the network, directly or through another such function (returned).
/// Also gives the labels of the `self.x` attributes the methods assign (their last round).
fn summarise(ctx: &Ctx<'_>, col: &Collected<'_>) -> (Sinks, Taints) {
    let mut returns: HashMap<String, u16> = HashMap::new();
    let mut sinks = Sinks::new();
    let mut self_attrs = Taints::new();
    let Some(module) = col.scopes.first() else {
        return (sinks, Taints::new());
    };
    for _ in 0..SUMMARY_ROUNDS {
        let module_taints = taints_of(ctx, module, &Taints::new());
        let mut new_returns: HashMap<String, u16> = HashMap::new();
        let mut new_sinks = sinks.clone();
        self_attrs.clear();
        for scope in col.scopes.iter().skip(1) {
            let mut base = module_taints.clone();
            for (i, p) in scope.params.iter().enumerate() {
                base.insert(p.clone(), arg_bit(i));
            }
            let t = taints_of(ctx, scope, &base);
            let l = scope.returns.iter().fold(0, |l, r| l | ctx.labels(*r, &t)) & !ARGS;
            if l != 0 {
                *new_returns.entry(scope.name.clone()).or_default() |= l;
            }
            for (k, v) in t.iter().filter(|(k, _)| k.starts_with("self.")) {
                let v = *v & !ARGS;
                if v != 0 {
                    *self_attrs.entry(k.clone()).or_default() |= v;
                }
            }
            if scope.params.is_empty() {
                continue; // Nothing of a caller's can be sent.
            }
            let sent = resolve_calls(ctx, scope, &t, &sinks)
                .iter()
                .map(|c| match (&c.sink, c.kind) {
                    (Some(sink), _) => sink_payload(ctx, &t, c.node, sink),
                    (None, Some(Kind::Network | Kind::NetClient)) => {
                        payload_labels(ctx, &t, c.node)
                    }
                    _ => 0,
                })
                .fold(0, |a, l| a | l);
            let mask = ((sent & ARGS) >> 8) as u8;
            if mask != 0 {
                let e = new_sinks.entry(scope.name.clone()).or_insert(Sink {
                    mask: 0,
                    params: scope.params.clone(),
                });
                e.mask |= mask;
            }
        }
        let stable = new_returns == returns && new_sinks == sinks;
        returns = new_returns;
        sinks = new_sinks;
        ctx.set_returns(returns.clone());
        if stable || ctx.exhausted() {
            break;
        }
    }
    (sinks, self_attrs)
}

/// The labels of each scope's names: the module's first (functions see them), then each
/// function's, with `self.x` attributes shared across the class's methods. The functions'
/// return labels are already on `ctx` ([`summarise`]).
fn scope_taints(ctx: &Ctx<'_>, col: &Collected<'_>, self_attrs: &Taints) -> Vec<Taints> {
    let Some(module) = col.scopes.first() else {
        return Vec::new();
    };
    let module_taints = taints_of(ctx, module, &Taints::new());
    let mut base = module_taints.clone();
    for (k, v) in self_attrs {
        *base.entry(k.clone()).or_default() |= *v;
    }
    let mut all = vec![module_taints];
    all.extend(col.scopes.iter().skip(1).map(|s| taints_of(ctx, s, &base)));
    all
}

fn taints_of(ctx: &Ctx<'_>, scope: &Scope<'_>, base: &Taints) -> Taints {
    let mut t = base.clone();
    // Twice when the first pass labelled anything, so a name assigned in a loop body from a
    // later name is seen.
    for _ in 0..2 {
        let mut changed = false;
        for (target, value) in &scope.assigns {
            let l = ctx.labels(*value, &t);
            if l == 0 {
                continue;
            }
            for name in ctx.target_names(*target) {
                let e = t.entry(name).or_default();
                changed |= *e | l != *e;
                *e |= l;
            }
        }
        if !changed {
            break;
        }
    }
    t
}

fn resolve_calls<'t>(
    ctx: &Ctx<'t>,
    scope: &Scope<'t>,
    taints: &Taints,
    sinks: &Sinks,
) -> Vec<Call<'t>> {
    scope
        .calls
        .iter()
        .map(|&node| {
            let f = node.field(Field::Function);
            let qual = f.and_then(|f| ctx.qualify(f));
            let mut kind = qual.as_ref().and_then(|q| classify(&q.name));
            // A method of a client or socket made in this scope: `s = requests.Session(); s.post(…)`.
            if kind.is_none()
                && let Some(obj) = f
                    .filter(|f| f.kind_name() == "attribute")
                    .and_then(|f| f.field(Field::Object))
                && matches!(obj.kind_name(), "identifier" | "attribute")
                && ctx.labels(obj, taints) & NETOBJ != 0
            {
                kind = Some(Kind::Network);
            }
            let sink = if kind.is_none() && !sinks.is_empty() {
                f.and_then(|f| ctx.local_function(f))
                    .and_then(|name| sinks.get(name))
                    .cloned()
            } else {
                None
            };
            Call {
                node,
                qual,
                kind,
                sink,
            }
        })
        .collect()
}

/// The labels of what a network call sends: its arguments except client configuration.
fn payload_labels(ctx: &Ctx<'_>, taints: &Taints, call: Node<'_>) -> u16 {
    let Some(args) = call.field(Field::Arguments) else {
        return 0;
    };
    let mut out = 0;
    let mut c = args.walk();
    for a in args.named_children(&mut c) {
        if a.kind_name() == "keyword_argument" {
            let name = a.field(Field::Name).map_or("", |n| ctx.text(n));
            if CONFIG_KEYWORDS.contains(&name) {
                continue;
            }
        }
        out |= ctx.labels(a, taints);
    }
    out
}

fn scope_flags(ctx: &Ctx<'_>, calls: &[Call<'_>], texts: &[String]) -> Flags {
    let mut f = Flags::default();
    for c in calls {
        match c.kind {
            Some(Kind::Network | Kind::NetClient | Kind::Download) => f.network = true,
            Some(Kind::Exec | Kind::Marshal | Kind::Loader) => f.exec = true,
            Some(Kind::Image) => f.image = true,
            _ => {}
        }
        if method_name(ctx, c.node) == Some("getpixel") {
            f.image = true;
        }
    }
    f.image |= texts.iter().any(|t| is_image_marker(t));
    f
}

/// `x.name(…)` → `name`.
fn method_name<'t>(ctx: &Ctx<'t>, call: Node<'_>) -> Option<&'t str> {
    let f = call.field(Field::Function)?;
    if f.kind_name() != "attribute" {
        return None;
    }
    Some(ctx.text(f.field(Field::Attribute)?))
}

struct ScopeEnv<'a, 't> {
    ctx: &'a Ctx<'t>,
    scope: &'a Scope<'t>,
    calls: &'a [Call<'t>],
    taints: &'a Taints,
    flags: &'a Flags,
    /// The text of each of the scope's strings (as `scope.strings`).
    texts: &'a [String],
    role: SourceRole,
}

impl ScopeEnv<'_, '_> {
    fn first_arg_labels(&self, call: Node<'_>) -> u16 {
        positional_args(call)
            .first()
            .map_or(0, |a| self.ctx.labels(*a, self.taints))
    }

    fn payload_labels(&self, call: Node<'_>) -> u16 {
        payload_labels(self.ctx, self.taints, call)
    }

    fn capabilities(&self, out: &mut Out<'_>) {
        if !self.scope.env_refs.is_empty() {
            out.capability(Capability::EnvironmentRead);
        }
        if self.texts.iter().any(|t| is_credential_path(t)) {
            out.capability(Capability::CredentialFileRead);
        }
        for c in self.calls {
            let Some(kind) = c.kind else {
                if matches!(
                    method_name(self.ctx, c.node),
                    Some("write_bytes" | "write_text")
                ) {
                    out.capability(Capability::FileWrite);
                }
                continue;
            };
            match kind {
                Kind::Network | Kind::NetClient => out.capability(Capability::Network),
                Kind::Download => {
                    out.capability(Capability::Network);
                    out.capability(Capability::FileWrite);
                }
                Kind::Process => out.capability(Capability::ProcessSpawn),
                Kind::EnvGet => out.capability(Capability::EnvironmentRead),
                Kind::Decode | Kind::Encode | Kind::Unpickle => {
                    out.capability(Capability::Encoding)
                }
                Kind::Loader => {
                    out.capability(Capability::DynamicCode);
                    self.loaded_files(c.node, out);
                }
                Kind::Chmod => out.capability(Capability::FileWrite),
                Kind::Open if open_writes(self.ctx, c.node) => {
                    out.capability(Capability::FileWrite)
                }
                Kind::Marshal => out.capability(Capability::DynamicCode),
                Kind::Exec => {
                    // B1: setup.py exec-ing its own version file is not dynamic code to report.
                    let benign = self.role == SourceRole::SetupPy
                        && self.first_arg_labels(c.node) & (DECODED | NETDATA | ENV | IMAGE) == 0;
                    if !benign {
                        out.capability(Capability::DynamicCode);
                    }
                }
                Kind::Import => {
                    let plain = positional_args(c.node)
                        .first()
                        .and_then(|a| self.ctx.const_str(*a))
                        .is_some_and(|(_, plain)| plain);
                    if !plain {
                        out.capability(Capability::DynamicCode);
                    }
                }
                Kind::Getattr => {
                    let args = positional_args(c.node);
                    let plain_attr = args
                        .get(1)
                        .and_then(|a| self.ctx.const_str(*a))
                        .is_some_and(|(_, p)| p);
                    if !plain_attr && args.first().is_some_and(|o| self.is_module(*o)) {
                        out.capability(Capability::DynamicCode);
                    }
                }
                Kind::Open | Kind::Image => {}
            }
        }
    }

    /// The files a loader call names (string literals among its arguments, `cfg.dat` of
    /// `runpy.run_path(os.path.join(here, "cfg.dat"))`): the archive reads those members as
    /// Python source whatever their extension.
    fn loaded_files(&self, call: Node<'_>, out: &mut Out<'_>) {
        let Some(args) = call.field(Field::Arguments) else {
            return;
        };
        // The arguments, and the values this scope assigns to names they use (`p = join(d,
        // "cfg.dat"); run_path(p)`).
        let mut stack = vec![args];
        let mut seen = 0usize;
        while let Some(n) = stack.pop() {
            seen += 1;
            if seen > 512 || !self.ctx.tick() {
                break;
            }
            match n.kind_name() {
                "string" => {
                    if let Some(s) = self.ctx.literal(n) {
                        let last = s.rsplit(['/', '\\']).next().unwrap_or("");
                        if !last.is_empty() && last.len() <= 255 {
                            out.loaded_file(last);
                        }
                    }
                }
                "identifier" => {
                    let name = self.ctx.text(n);
                    stack.extend(
                        self.scope
                            .assigns
                            .iter()
                            .filter(|(t, _)| self.ctx.text(*t) == name)
                            .map(|(_, v)| *v)
                            .take(4),
                    );
                }
                _ => {
                    let mut c = n.walk();
                    stack.extend(n.named_children(&mut c));
                }
            }
        }
    }

    /// Whether an expression denotes a module: an imported name or an `__import__(…)` call.
    fn is_module(&self, node: Node<'_>) -> bool {
        match node.kind_name() {
            "identifier" => self
                .ctx
                .aliases
                .get(self.ctx.text(node))
                .is_some_and(|target| classify(target).is_none()),
            "call" => node
                .field(Field::Function)
                .and_then(|f| self.ctx.qualify(f))
                .is_some_and(|q| classify(&q.name) == Some(Kind::Import)),
            _ => false,
        }
    }

    /// M1 (environment data encoded or bulk-read, sent) and M7 (credential data sent).
    fn exfiltration(&self, out: &mut Out<'_>) {
        let mut m1 = false;
        for c in self
            .calls
            .iter()
            .filter(|c| matches!(c.kind, Some(Kind::Network | Kind::NetClient)))
        {
            let l = self.payload_labels(c.node);
            if l & ENV != 0 && l & (ENCODED | BULK) != 0 {
                m1 = true;
                let how = if l & ENCODED != 0 { ", encoded" } else { "" };
                out.finding(
                    Rule::EnvExfiltration,
                    Severity::High,
                    c.node,
                    format!("environment values are sent over the network{how}"),
                );
            }
            if l & CRED != 0 {
                out.finding(
                    Rule::CredentialTheft,
                    Severity::High,
                    c.node,
                    "the content or path of a credential file is sent over the network".into(),
                );
            }
        }
        // A function of this file that sends its argument: the flow crosses functions.
        for (c, sink) in self
            .calls
            .iter()
            .filter_map(|c| c.sink.as_ref().map(|s| (c, s)))
        {
            let l = sink_payload(self.ctx, self.taints, c.node, sink);
            let Some(severity) = exfiltration_severity(l) else {
                continue;
            };
            let callee = c.qual.as_ref().map_or("a function", |q| q.name.as_str());
            let how = if severity == Severity::High {
                m1 = true;
                "environment values are"
            } else {
                "an environment value is"
            };
            out.finding(
                Rule::EnvExfiltration,
                severity,
                c.node,
                format!("{how} passed to `{callee}`, which sends its argument over the network"),
            );
            if l & CRED != 0 {
                out.finding(
                    Rule::CredentialTheft,
                    Severity::High,
                    c.node,
                    "the content or path of a credential file is sent over the network".into(),
                );
            }
        }
        if !m1 && self.flags.network {
            for c in self.calls.iter().filter(|c| c.kind == Some(Kind::Encode)) {
                if self.ctx.labels(c.node, self.taints) & ENV != 0 {
                    out.finding(
                        Rule::EnvExfiltration,
                        Severity::Medium,
                        c.node,
                        "environment values are encoded in code that uses the network".into(),
                    );
                }
            }
        }
    }

    /// M3 (decoded data executed), M4 (fetched code executed), M9 (image data executed).
    fn dynamic_code(&self, out: &mut Out<'_>) {
        for c in self.calls.iter().filter(|c| c.kind == Some(Kind::Exec)) {
            let l = self.first_arg_labels(c.node);
            let name = c
                .qual
                .as_ref()
                .map_or("exec", |q| super::names::normalise(&q.name));
            if l & DECODED != 0 {
                out.capability(Capability::DecodeToCode);
                out.finding(
                    Rule::DecodeExec,
                    Severity::High,
                    c.node,
                    format!("decoded data (base64, hex, zlib or marshal) is passed to {name}()"),
                );
            }
            // What a socket or client gives (`s.recv(…)`) carries its label too.
            if l & (NETDATA | NETOBJ) != 0 {
                let severity = if super::names::is_legacy_bootstrap(out.path()) {
                    Severity::Medium
                } else {
                    Severity::High
                };
                out.finding(
                    Rule::DownloadExecute,
                    severity,
                    c.node,
                    format!("data fetched over the network is passed to {name}()"),
                );
            }
            if l & IMAGE != 0 || self.flags.image {
                out.finding(
                    Rule::Steganography,
                    Severity::High,
                    c.node,
                    format!("image data is read in the same scope as {name}()"),
                );
            }
        }
        // Objects (pickle) or code objects (marshal) made from decoded bytes run code as exec()
        // of them does.
        for c in self
            .calls
            .iter()
            .filter(|c| matches!(c.kind, Some(Kind::Marshal | Kind::Unpickle)))
        {
            let decoded = positional_args(c.node)
                .first()
                .is_some_and(|a| self.decoded_here(*a));
            if decoded {
                let name = c.qual.as_ref().map_or("loads", |q| q.name.as_str());
                out.capability(Capability::DecodeToCode);
                out.capability(Capability::DynamicCode);
                out.finding(
                    Rule::DecodeExec,
                    Severity::High,
                    c.node,
                    format!("decoded data (base64, hex or zlib) is passed to {name}()"),
                );
            }
        }
        if self.flags.image {
            for c in self.calls.iter().filter(|c| c.kind == Some(Kind::Marshal)) {
                out.finding(
                    Rule::Steganography,
                    Severity::High,
                    c.node,
                    "image data is read in the same scope as marshal.loads()".into(),
                );
            }
        }
    }

    /// Whether `arg` decodes (base64, hex, zlib) right there, or is a name this scope assigns
    /// from such a decoding: `pickle.loads(b64decode(x))`, `d = b64decode(x); pickle.loads(d)`.
    /// Labels are not enough here: `res = pickle.loads(res)` would label itself.
    fn decoded_here(&self, arg: Node<'_>) -> bool {
        let decodes = |n: Node<'_>| {
            let mut stack = vec![n];
            let mut seen = 0;
            while let Some(n) = stack.pop() {
                seen += 1;
                if seen > 256 || !self.ctx.tick() {
                    return false;
                }
                if n.kind_name() == "call"
                    && n.field(Field::Function)
                        .and_then(|f| self.ctx.qualify(f))
                        .is_some_and(|q| classify(&q.name) == Some(Kind::Decode))
                {
                    return true;
                }
                if n.kind_name() != "lambda" {
                    let mut c = n.walk();
                    stack.extend(n.named_children(&mut c));
                }
            }
            false
        };
        if decodes(arg) {
            return true;
        }
        arg.kind_name() == "identifier"
            && self
                .scope
                .assigns
                .iter()
                .filter(|(t, _)| self.ctx.text(*t) == self.ctx.text(arg))
                .take(8)
                .any(|(_, v)| decodes(*v))
    }

    /// M4: a file downloaded (or written from the network) is made executable or started.
    fn download_execute(&self, out: &mut Out<'_>) {
        let mut targets: HashSet<String> = HashSet::new();
        for c in self.calls {
            match c.kind {
                Some(Kind::Download) => {
                    let kw = keyword_args(self.ctx, c.node);
                    let target = positional_args(c.node).get(1).copied().or_else(|| {
                        kw.iter()
                            .find(|(k, _)| k == "filename" || k == "out")
                            .map(|(_, v)| *v)
                    });
                    targets.extend(target.and_then(|t| self.key_of(t)));
                }
                Some(Kind::Open) if self.flags.network && open_writes(self.ctx, c.node) => {
                    targets.extend(
                        positional_args(c.node)
                            .first()
                            .and_then(|t| self.key_of(*t)),
                    );
                }
                _ => {}
            }
        }
        if targets.is_empty() {
            return;
        }
        for c in self
            .calls
            .iter()
            .filter(|c| matches!(c.kind, Some(Kind::Process | Kind::Chmod)))
        {
            let Some(args) = c.node.field(Field::Arguments) else {
                continue;
            };
            if self.mentions(args).iter().any(|k| targets.contains(k)) {
                let what = if c.kind == Some(Kind::Chmod) {
                    "made executable"
                } else {
                    "started"
                };
                out.finding(
                    Rule::DownloadExecute,
                    Severity::High,
                    c.node,
                    format!("a file downloaded in this scope is {what}"),
                );
            }
        }
    }

    /// A name or literal that identifies a path: `p`, `self.p`, `"/tmp/x"`.
    fn key_of(&self, node: Node<'_>) -> Option<String> {
        match node.kind_name() {
            "identifier" | "attribute" => Some(self.ctx.text(node).to_owned()),
            "string" => self.ctx.literal(node),
            _ => None,
        }
    }

    /// The names and literals mentioned under `node`.
    fn mentions(&self, node: Node<'_>) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![node];
        while let Some(n) = stack.pop() {
            if out.len() > 256 || !self.ctx.tick() {
                break;
            }
            match n.kind_name() {
                "identifier" | "attribute" => out.push(self.ctx.text(n).to_owned()),
                "string" => out.extend(self.ctx.literal(n)),
                _ => {}
            }
            if n.kind_name() != "string" {
                let mut c = n.walk();
                stack.extend(n.named_children(&mut c));
            }
        }
        out
    }

    /// M6 (shady endpoints in code) and M7 (credential paths).
    fn endpoints_and_credentials(&self, out: &mut Out<'_>, file_network: bool) {
        let test_code = is_test_or_doc_path(out.path());
        let network = self.flags.network || (self.scope.is_module() && file_network);
        for (s, text) in self.scope.strings.iter().zip(self.texts) {
            if let Some((why, bare)) = shady_endpoint(text)
                && (!bare || self.flags.network)
            {
                // A messaging platform's API beside network code is Medium (bot clients are
                // legitimate integrations, tqdm.contrib.telegram); environment or credential
                // data flowing into the call is M1 or M7 at High anyway.
                let severity = if test_code {
                    Severity::Low
                } else if network && !super::names::is_platform_api(text) {
                    Severity::High
                } else {
                    Severity::Medium
                };
                let beside = if network {
                    " in code that uses the network"
                } else {
                    ""
                };
                out.finding(
                    Rule::ShadyEndpoint,
                    severity,
                    *s,
                    format!("a string literal {why}{beside}"),
                );
            }
            if is_credential_path(text) {
                let (severity, beside) = if self.flags.network && !self.scope.is_module() {
                    (Severity::Medium, " in a function that uses the network")
                } else {
                    (Severity::Low, "")
                };
                out.finding(
                    Rule::CredentialTheft,
                    severity,
                    *s,
                    format!("a string literal names a credential file{beside}"),
                );
            }
        }
    }

    /// M8: a process started with its output discarded and detached from this one.
    fn silent_process(&self, out: &mut Out<'_>) {
        for c in self.calls.iter().filter(|c| c.kind == Some(Kind::Process)) {
            let kw = keyword_args(self.ctx, c.node);
            let text = |name: &str| {
                kw.iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| self.ctx.text(*v))
            };
            let devnull = ["stdout", "stderr"]
                .iter()
                .any(|k| text(k).is_some_and(|t| t.to_ascii_lowercase().contains("devnull")));
            let detached = text("creationflags")
                .is_some_and(|t| t.contains("DETACHED_PROCESS") || t.contains("CREATE_NO_WINDOW"))
                || text("start_new_session").is_some_and(|t| t.trim() == "True")
                || text("preexec_fn").is_some_and(|t| t.contains("setsid"));
            if !(devnull && detached) {
                continue;
            }
            // Top-level code runs on import (of `__init__.py`: of the package); setup.py and
            // .pth lines run at install or interpreter start.
            let at_import = self.role != SourceRole::Module || self.scope.is_module();
            let (severity, when) = if at_import {
                (Severity::High, " at install or import time")
            } else {
                (Severity::Medium, "")
            };
            out.finding(
                Rule::SilentProcess,
                severity,
                c.node,
                format!("a process is started detached with its output discarded{when}"),
            );
        }
    }

    /// M10: API names computed from pieces (`getattr(__import__("o"+"s"), "sys"+"tem")`) and long
    /// `chr()` chains.
    fn obfuscation(&self, out: &mut Out<'_>) {
        for c in self.calls {
            let mut hidden: Option<String> = None;
            if let Some(q) = c.qual.as_ref().filter(|q| q.obfuscated) {
                hidden = Some(q.name.clone());
            }
            match c.kind {
                Some(Kind::Import) => {
                    if let Some((name, false)) = positional_args(c.node)
                        .first()
                        .and_then(|a| self.ctx.const_str(*a))
                    {
                        hidden = Some(name);
                    }
                }
                Some(Kind::Getattr) => {
                    let args = positional_args(c.node);
                    if let (Some(obj), Some((attr, false))) = (
                        args.first(),
                        args.get(1).and_then(|a| self.ctx.const_str(*a)),
                    ) && self.is_module(*obj)
                    {
                        let base = self
                            .ctx
                            .qualify(*obj)
                            .map_or_else(|| "a module".to_owned(), |q| q.name);
                        hidden = Some(format!("{base}.{attr}"));
                    }
                }
                _ => {}
            }
            if let Some(name) = hidden {
                let dangerous = matches!(
                    classify(&name),
                    Some(
                        Kind::Process
                            | Kind::Exec
                            | Kind::Marshal
                            | Kind::Loader
                            | Kind::Network
                            | Kind::NetClient
                            | Kind::Download
                            | Kind::Decode
                            | Kind::EnvGet
                    )
                ) || matches!(
                    name.as_str(),
                    "os" | "subprocess"
                        | "socket"
                        | "builtins"
                        | "base64"
                        | "marshal"
                        | "urllib.request"
                );
                let severity = if dangerous || self.flags.exec {
                    Severity::High
                } else {
                    Severity::Medium
                };
                out.finding(
                    Rule::Obfuscation,
                    severity,
                    c.node,
                    format!("the name `{}` is computed from pieces", truncate(&name, 60)),
                );
            }
            if method_name(self.ctx, c.node) == Some("join")
                && let Some(args) = c.node.field(Field::Arguments)
            {
                let n = self.chr_count(args);
                if n >= 8 {
                    self.chr_finding(out, c.node, n);
                }
            }
        }
        for chain in &self.scope.plus_chains {
            let n = self.chr_in_chain(*chain);
            if n >= 8 {
                self.chr_finding(out, *chain, n);
            }
        }
    }

    fn chr_finding(&self, out: &mut Out<'_>, node: Node<'_>, n: usize) {
        let severity = if self.flags.exec {
            Severity::High
        } else {
            Severity::Medium
        };
        out.finding(
            Rule::Obfuscation,
            severity,
            node,
            format!("a string is built from {n} chr() values"),
        );
    }

    /// `"".join(chr(c) for c in [..])`, `"".join(map(chr, [..]))`: the chr calls or the longest
    /// list of integers beside a use of chr.
    fn chr_count(&self, args: Node<'_>) -> usize {
        let (mut chr_calls, mut longest, mut uses_chr) = (0usize, 0usize, false);
        let mut stack = vec![args];
        while let Some(n) = stack.pop() {
            if !self.ctx.tick() {
                break;
            }
            match n.kind_name() {
                "identifier" if self.ctx.text(n) == "chr" => uses_chr = true,
                "call"
                    if n.field(Field::Function)
                        .is_some_and(|f| self.ctx.text(f) == "chr") =>
                {
                    chr_calls += 1;
                }
                "list" | "tuple" => {
                    let mut c = n.walk();
                    longest = longest.max(
                        n.named_children(&mut c)
                            .filter(|i| i.kind_name() == "integer")
                            .count(),
                    );
                }
                _ => {}
            }
            let mut c = n.walk();
            stack.extend(n.named_children(&mut c));
        }
        if uses_chr { chr_calls.max(longest) } else { 0 }
    }

    fn chr_in_chain(&self, chain: Node<'_>) -> usize {
        let mut count = 0;
        let mut stack = vec![chain];
        while let Some(n) = stack.pop() {
            if !self.ctx.tick() {
                break;
            }
            match n.kind_name() {
                "binary_operator" => {
                    stack.extend(n.field(Field::Left));
                    stack.extend(n.field(Field::Right));
                }
                "parenthesized_expression" => stack.extend(n.named_child(0)),
                "call"
                    if n.field(Field::Function)
                        .is_some_and(|f| self.ctx.text(f) == "chr") =>
                {
                    count += 1;
                }
                _ => {}
            }
        }
        count
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

/// Whether `open(…)` opens for writing (its mode literal has w, a, x or +).
fn open_writes(ctx: &Ctx<'_>, call: Node<'_>) -> bool {
    let mode = positional_args(call).get(1).copied().or_else(|| {
        keyword_args(ctx, call)
            .into_iter()
            .find(|(k, _)| k == "mode")
            .map(|(_, v)| v)
    });
    mode.and_then(|m| ctx.const_str(m))
        .is_some_and(|(m, _)| m.contains(['w', 'a', 'x', '+']))
}
