//! The confusable skeleton of a project name: one key under which names that read alike collide.
//!
//! Every name check that asks "is this too similar" compares skeletons: prohibited names, the
//! names of removed projects, and existing projects when a new one is created. The steps:
//!
//! 1. Letters that look like Latin ones in other scripts (a small Cyrillic and Greek table) become
//!    the Latin letter; then lowercase; then NFKD with combining marks dropped (`é` → `e`,
//!    fullwidth `ａ` → `a`). Valid project names are ASCII, so this only matters for callers that
//!    fold text that was not validated; the skeleton is defined for every string.
//! 2. The separators `-`, `_`, `.` are deleted (`acme-utils`, `acme_utils`, `ACME.utils` are one).
//! 3. Single look-alikes: `0` → `o`; `1`, `i` → `l`.
//! 4. Pairs that read as one letter, left to right after step 3: `rn` → `m`, `vv` → `w`,
//!    `cl` → `d` (so `c1` and `ci` read as `d` too, as `cl` reads as `c1` already).

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Letters of other scripts that look like a Latin letter, and that letter (lowercase).
const HOMOGLYPHS: &[(char, char)] = &[
    // Cyrillic, lowercase
    ('а', 'a'),
    ('е', 'e'),
    ('о', 'o'),
    ('р', 'p'),
    ('с', 'c'),
    ('у', 'y'),
    ('х', 'x'),
    ('ѕ', 's'),
    ('і', 'i'),
    ('ј', 'j'),
    ('ԁ', 'd'),
    ('һ', 'h'),
    ('ӏ', 'l'),
    ('ԛ', 'q'),
    ('ԝ', 'w'),
    ('ү', 'y'),
    // Cyrillic, uppercase (their lowercase forms do not look Latin)
    ('А', 'a'),
    ('В', 'b'),
    ('Е', 'e'),
    ('К', 'k'),
    ('М', 'm'),
    ('Н', 'h'),
    ('О', 'o'),
    ('Р', 'p'),
    ('С', 'c'),
    ('Т', 't'),
    ('Х', 'x'),
    ('У', 'y'),
    ('Ѕ', 's'),
    ('І', 'i'),
    ('Ј', 'j'),
    ('Ӏ', 'l'),
    // Greek, lowercase
    ('α', 'a'),
    ('ο', 'o'),
    ('ρ', 'p'),
    ('ι', 'i'),
    ('κ', 'k'),
    ('ν', 'v'),
    ('υ', 'u'),
    ('χ', 'x'),
    // Greek, uppercase
    ('Α', 'a'),
    ('Β', 'b'),
    ('Ε', 'e'),
    ('Ζ', 'z'),
    ('Η', 'h'),
    ('Ι', 'i'),
    ('Κ', 'k'),
    ('Μ', 'm'),
    ('Ν', 'n'),
    ('Ο', 'o'),
    ('Ρ', 'p'),
    ('Τ', 't'),
    ('Υ', 'y'),
    ('Χ', 'x'),
    // Latin letters without a decomposition
    ('ı', 'i'),
];

/// Pairs that read as one letter (applied after the single look-alikes).
const PAIRS: &[(&str, char)] = &[("rn", 'm'), ("vv", 'w'), ("cl", 'd')];

fn homoglyph(c: char) -> Option<char> {
    HOMOGLYPHS
        .iter()
        .find(|(from, _)| *from == c)
        .map(|&(_, to)| to)
}

/// Step 1 once: script look-alikes, lowercase, NFKD without combining marks.
fn fold_letters(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if let Some(latin) = homoglyph(c) {
            out.push(latin);
            continue;
        }
        for lower in c.to_lowercase() {
            for d in std::iter::once(lower).nfkd() {
                if is_combining_mark(d) {
                    continue;
                }
                out.push(homoglyph(d).unwrap_or(d));
            }
        }
    }
    out
}

/// The confusable skeleton of `name` (see the module documentation). Two names with the same
/// skeleton are too similar to coexist. Idempotent: `skeleton(&skeleton(x)) == skeleton(x)`.
pub fn skeleton(name: &str) -> String {
    // Lowercasing can expose a decomposable letter and NFKD a letter with a lowercase form:
    // fold until nothing changes (two rounds for every real letter; bounded for odd input).
    let mut letters = fold_letters(name);
    for _ in 0..8 {
        let again = fold_letters(&letters);
        if again == letters {
            break;
        }
        letters = again;
    }
    let singles: Vec<char> = letters
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .map(|c| match c {
            '0' => 'o',
            '1' | 'i' => 'l',
            other => other,
        })
        .collect();
    let mut out = String::with_capacity(singles.len());
    let mut i = 0;
    while i < singles.len() {
        let pair = singles.get(i..i + 2).and_then(|two| {
            PAIRS
                .iter()
                .find(|(from, _)| from.chars().eq(two.iter().copied()))
                .map(|&(_, to)| to)
        });
        match pair {
            Some(one) => {
                out.push(one);
                i += 2;
            }
            None => {
                out.push(singles[i]);
                i += 1;
            }
        }
    }
    out
}
