//! PEP 503 HTML project pages, read with html5ever's tokenizer (a browser's reading of tags,
//! attributes and character references; `<script>`, `<style>`, `<title>` and the like are raw
//! text, so a link inside them is no link). What pip reads is read: every `<a href>` (first
//! `<base href>` honoured), `data-requires-python`, `data-yanked`, `data-core-metadata` (or
//! the older `data-dist-info-metadata`), `data-provenance`, and the `pypi:*` meta tags.

use std::cell::RefCell;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, CharacterTokens, StartTag, Tag, TagToken, Token, TokenSink, TokenSinkResult,
    Tokenizer, TokenizerOpts,
};

use super::fields::{self, MAX_FILES, RawFile};
use super::{ReadError, UpstreamPage, UpstreamStatus, check_api_version, check_name};
use crate::name::NormalizedName;

/// The text of `<title>`/`<h1>` kept for the name check (more is not a project name).
const MAX_HEADING_BYTES: usize = 512;

#[derive(Default)]
struct State {
    max_files: usize,
    base: Option<String>,
    anchors: Vec<RawFile>,
    too_many: bool,
    repository_version: Option<String>,
    status: Option<String>,
    status_reason: Option<String>,
    /// Collecting the text of `<title>` or `<h1>` right now.
    heading: Option<String>,
    /// The finished texts of the first `<title>` and `<h1>`.
    title: Option<String>,
    h1: Option<String>,
}

struct Sink(RefCell<State>);

fn attr<'a>(tag: &'a Tag, name: &str) -> Option<&'a str> {
    tag.attrs
        .iter()
        .find(|a| &*a.name.local == name)
        .map(|a| &*a.value)
}

fn anchor(tag: &Tag) -> Option<RawFile> {
    let href = attr(tag, "href")?;
    if href.is_empty() {
        return None;
    }
    // PEP 714: `data-core-metadata`, falling back to the older name when it is absent.
    let metadata = attr(tag, "data-core-metadata").or_else(|| attr(tag, "data-dist-info-metadata"));
    Some(RawFile {
        filename: None,
        href: href.to_owned(),
        sha256: None,
        requires_python: attr(tag, "data-requires-python").map(str::to_owned),
        yanked: attr(tag, "data-yanked").map(str::to_owned),
        // Not in PEP 700 (which leaves HTML out), but written by some indexes and read by uv.
        size: attr(tag, "data-size").and_then(|s| s.trim().parse().ok()),
        upload_time: attr(tag, "data-upload-time").map(str::to_owned),
        core_metadata: metadata.and_then(html_metadata),
        provenance: attr(tag, "data-provenance").map(str::to_owned),
    })
}

/// `data-core-metadata`: `"true"` = advertised without hashes; `"false"` = not advertised
/// (uv's reading); `sha256=<hex>` = with a hash; another algorithm or an unreadable value =
/// advertised without a usable hash (pip's reading).
fn html_metadata(value: &str) -> Option<Option<String>> {
    match value.trim() {
        "false" => None,
        "true" => Some(None),
        other => Some(fields::named_sha256(other)),
    }
}

impl State {
    fn start(&mut self, tag: &Tag) -> TokenSinkResult<()> {
        match &*tag.name {
            "a" => {
                if let Some(file) = anchor(tag) {
                    if self.anchors.len() == self.max_files {
                        self.too_many = true;
                    } else {
                        self.anchors.push(file);
                    }
                }
            }
            "base" if self.base.is_none() => {
                self.base = attr(tag, "href").map(str::to_owned);
            }
            "meta" => {
                let (Some(name), Some(content)) = (attr(tag, "name"), attr(tag, "content")) else {
                    return TokenSinkResult::Continue;
                };
                let slot = match name {
                    "pypi:repository-version" => &mut self.repository_version,
                    "pypi:project-status" => &mut self.status,
                    "pypi:project-status-reason" => &mut self.status_reason,
                    _ => return TokenSinkResult::Continue,
                };
                if slot.is_none() {
                    *slot = Some(fields::reason(content.to_owned()));
                }
            }
            "title" => {
                self.heading = self.title.is_none().then(String::new);
                return TokenSinkResult::RawData(RawKind::Rcdata);
            }
            "h1" => self.heading = self.h1.is_none().then(String::new),
            "textarea" => return TokenSinkResult::RawData(RawKind::Rcdata),
            "style" | "xmp" | "iframe" | "noembed" | "noframes" => {
                return TokenSinkResult::RawData(RawKind::Rawtext);
            }
            "script" => return TokenSinkResult::RawData(RawKind::ScriptData),
            "plaintext" => return TokenSinkResult::Plaintext,
            _ => {}
        }
        TokenSinkResult::Continue
    }

    fn end(&mut self, tag: &Tag) {
        let slot = match &*tag.name {
            "title" => &mut self.title,
            "h1" => &mut self.h1,
            _ => return,
        };
        if let Some(text) = self.heading.take()
            && slot.is_none()
        {
            *slot = Some(text);
        }
    }

    fn text(&mut self, text: &str) {
        if let Some(heading) = &mut self.heading
            && heading.len() + text.len() <= MAX_HEADING_BYTES
        {
            heading.push_str(text);
        }
    }
}

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut state = self.0.borrow_mut();
        match token {
            TagToken(tag) if tag.kind == StartTag => state.start(&tag),
            TagToken(tag) => {
                state.end(&tag);
                TokenSinkResult::Continue
            }
            CharacterTokens(text) => {
                state.text(&text);
                TokenSinkResult::Continue
            }
            _ => TokenSinkResult::Continue,
        }
    }
}

/// The page's input in pieces a tendril holds (its length is a `u32`), cut on char boundaries.
fn chunks(text: &str) -> impl Iterator<Item = &str> {
    const CHUNK: usize = 1 << 20;
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut end = rest.len().min(CHUNK);
        while !rest.is_char_boundary(end) {
            end += 1;
        }
        let (head, tail) = rest.split_at(end);
        rest = tail;
        Some(head)
    })
}

/// "Links for NAME", the heading PEP 503 pages carry by convention.
fn heading_name(text: &str) -> Option<&str> {
    text.trim().strip_prefix("Links for ").map(str::trim)
}

fn status_from_meta(value: Option<&str>) -> UpstreamStatus {
    value.map_or(UpstreamStatus::Active, super::status_from_str)
}

pub(super) fn parse(
    asked: &NormalizedName,
    body: &[u8],
    page_url: &str,
) -> Result<UpstreamPage, ReadError> {
    parse_with_limit(asked, body, page_url, MAX_FILES)
}

/// [`parse`] with another limit on the number of links (tests).
pub(super) fn parse_with_limit(
    asked: &NormalizedName,
    body: &[u8],
    page_url: &str,
    max_files: usize,
) -> Result<UpstreamPage, ReadError> {
    let page = fields::page_base(page_url)?;
    let text = String::from_utf8_lossy(body);
    let state = State {
        max_files,
        ..State::default()
    };
    let tokenizer = Tokenizer::new(Sink(RefCell::new(state)), TokenizerOpts::default());
    let input = BufferQueue::default();
    for chunk in chunks(&text) {
        input.push_back(StrTendril::from_slice(chunk));
        let _ = tokenizer.feed(&input);
    }
    tokenizer.end();
    let state = tokenizer.sink.0.into_inner();
    if state.too_many {
        return Err(ReadError::malformed(format!(
            "more than {max_files} links on the page"
        )));
    }
    if let Some(version) = &state.repository_version {
        check_api_version(version)?;
    }
    // The page names its project only by convention ("Links for NAME"); when it does, the
    // name must be the one asked for.
    for heading in [&state.title, &state.h1].into_iter().flatten() {
        if let Some(name) = heading_name(heading) {
            check_name(asked, name)?;
        }
    }
    // Links resolve against the first `<base href>`, itself resolved against the page's URL.
    let base = state
        .base
        .as_deref()
        .and_then(|href| fields::resolve(&page, href))
        .unwrap_or(page);
    let files = state
        .anchors
        .into_iter()
        .filter_map(|raw| fields::finish(asked, &base, raw))
        .collect();
    Ok(UpstreamPage {
        name: asked.as_str().to_owned(),
        status: status_from_meta(state.status.as_deref()),
        status_reason: state.status_reason,
        versions: Vec::new(),
        files,
    })
}
