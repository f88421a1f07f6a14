//! The bounds every description is held to, and the typed reason ([`Exceeded`]) a description
//! that passes one of them is shown as escaped text instead. The reasoning behind each number
//! is in the crate documentation.

use std::fmt;

/// Longest description rendered as markup (bytes); longer ones are shown as text.
pub const MAX_INPUT: usize = 512 * 1024;

/// Most block containers (block quotes and list items) a Markdown line may open or continue,
/// counted before parsing.
pub const MAX_BLOCK_NESTING: usize = 32;

/// Most elements open at once in the rendered output (block and inline), counted while the
/// parser's events stream out, before any HTML is built.
pub const MAX_ELEMENT_NESTING: usize = 128;

/// Most nested indented blocks in reStructuredText (each level is one block quote).
pub const MAX_INDENT_NESTING: usize = 32;

/// Largest rendered HTML (bytes) handed to the sanitiser, and the most escaped text a fallback
/// shows (a sanitised rendering may reach twice this, as the sanitiser writes U+00A0 as
/// `&nbsp;`). What a page view sends is bounded by it.
pub const MAX_HTML: usize = 1024 * 1024;

/// Longest attribute value kept (link and image URLs, titles, image alt text, code languages);
/// a longer one is dropped (the link text stays).
pub const MAX_ATTRIBUTE: usize = 2048;

/// Longest run of text between two tags handed to the sanitiser in one piece; longer runs are
/// cut by empty comments, which the sanitiser removes (see the crate docs for why).
pub const MAX_TEXT_RUN: usize = 256;

/// Why a description is shown as escaped text instead of rendered markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exceeded {
    /// Longer than [`MAX_INPUT`] bytes.
    Size { len: usize },
    /// A Markdown line nests more than [`MAX_BLOCK_NESTING`] block quotes or list items.
    BlockNesting { line: usize },
    /// More than [`MAX_ELEMENT_NESTING`] elements would be open at once.
    ElementNesting,
    /// reStructuredText indented more than [`MAX_INDENT_NESTING`] levels deep.
    IndentNesting,
    /// The rendered HTML would be larger than [`MAX_HTML`] bytes.
    Output,
    /// The reStructuredText renderer failed (a bug; the text is shown as it is).
    RendererFailed,
}

impl fmt::Display for Exceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exceeded::Size { len } => write!(
                f,
                "it is {} KiB long, more than the {} KiB rendered as markup",
                len / 1024,
                MAX_INPUT / 1024
            ),
            Exceeded::BlockNesting { line } => write!(
                f,
                "line {line} nests block quotes or lists more than {MAX_BLOCK_NESTING} levels deep"
            ),
            Exceeded::ElementNesting => write!(
                f,
                "its markup nests more than {MAX_ELEMENT_NESTING} elements deep"
            ),
            Exceeded::IndentNesting => write!(
                f,
                "its indentation nests more than {MAX_INDENT_NESTING} levels deep"
            ),
            Exceeded::Output => write!(
                f,
                "its rendered form would be larger than {} KiB",
                MAX_HTML / 1024
            ),
            Exceeded::RendererFailed => write!(f, "its markup could not be rendered"),
        }
    }
}
