//! What the image proxy serves an image as: one of a closed list of raster types, proven by the
//! image's own first bytes, never the type the origin declared. The origin's `Content-Type` only
//! gates the fetch (one `image/*` type other than SVG, or nothing is read), so a list such as
//! `image/png, text/html`, which a browser reads as its last type, is refused, and HTML labelled
//! `image/png` is refused because its bytes are not a PNG.

/// The raster formats the proxy passes on, each served under exactly one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageKind {
    Png,
    Jpeg,
    Gif,
    Webp,
    Avif,
    Icon,
}

impl ImageKind {
    /// The one `Content-Type` the proxy answers with for this format.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            ImageKind::Png => "image/png",
            ImageKind::Jpeg => "image/jpeg",
            ImageKind::Gif => "image/gif",
            ImageKind::Webp => "image/webp",
            ImageKind::Avif => "image/avif",
            ImageKind::Icon => "image/x-icon",
        }
    }

    /// The format `body` is, from its signature (magic numbers); `None` for anything else,
    /// whatever the origin called it.
    pub(crate) fn sniff(body: &[u8]) -> Option<ImageKind> {
        if body.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageKind::Png)
        } else if body.starts_with(&[0xff, 0xd8, 0xff]) {
            Some(ImageKind::Jpeg)
        } else if body.starts_with(b"GIF87a") || body.starts_with(b"GIF89a") {
            Some(ImageKind::Gif)
        } else if body.len() >= 16
            && body.starts_with(b"RIFF")
            && &body[8..12] == b"WEBP"
            && matches!(&body[12..16], b"VP8 " | b"VP8L" | b"VP8X")
        {
            Some(ImageKind::Webp)
        } else if is_avif(body) {
            Some(ImageKind::Avif)
        } else if is_icon(body) {
            Some(ImageKind::Icon)
        } else {
            None
        }
    }
}

/// An ISO base media file whose first box is `ftyp` naming the AVIF brand (`avif`, or `avis`
/// for a sequence) as its major or one of its compatible brands.
fn is_avif(body: &[u8]) -> bool {
    let Some(size) = body
        .get(..4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    else {
        return false;
    };
    let size = size as usize;
    if body.get(4..8) != Some(b"ftyp") || size < 16 || size > body.len() || !size.is_multiple_of(4)
    {
        return false;
    }
    let major = &body[8..12];
    let compatible = body[16..size].chunks_exact(4);
    std::iter::once(major)
        .chain(compatible)
        .any(|brand| brand == b"avif" || brand == b"avis")
}

/// A Windows icon: reserved 0, type 1, at least one image and room for its directory entry.
fn is_icon(body: &[u8]) -> bool {
    body.len() >= 6 + 16
        && body.starts_with(&[0, 0, 1, 0])
        && u16::from_le_bytes([body[4], body[5]]) >= 1
}

/// Whether the origin's `Content-Type` values declare one raster image: exactly one header
/// holding one media type (no list), `image/<subtype>` in any case with any parameters, and not
/// SVG (which can carry script). Anything else is refused before the body is read.
pub(crate) fn declared_image<'a>(mut values: impl Iterator<Item = &'a [u8]>) -> bool {
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    if value.contains(',') {
        return false;
    }
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((top, sub)) = essence.split_once('/') else {
        return false;
    };
    top.eq_ignore_ascii_case("image")
        && !sub.is_empty()
        && sub.bytes().all(is_token_byte)
        && !sub.to_ascii_lowercase().contains("svg")
}

/// RFC 9110's `tchar`: what a media subtype is made of.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

    fn declared(values: &[&str]) -> bool {
        declared_image(values.iter().map(|v| v.as_bytes()))
    }

    #[test]
    fn one_image_type_is_declared_or_nothing_is_read() {
        for ok in [
            "image/png",
            "IMAGE/PNG",
            "image/jpeg; charset=binary",
            "  image/webp ;q=1",
            "image/x-icon",
            // the declared subtype need not be the served one: the bytes decide
            "image/x-foo",
        ] {
            assert!(declared(&[ok]), "{ok}");
        }
        for refused in [
            "image/png, text/html",
            "image/png,text/html",
            "text/html, image/png",
            "text/html",
            "image/svg+xml",
            "image/SVG+XML; charset=utf-8",
            "image/",
            "image",
            "",
            "image/png text/html",
            "application/octet-stream",
        ] {
            assert!(!declared(&[refused]), "{refused}");
        }
        // none, or two headers (which would be joined into a list), is refused
        assert!(!declared(&[]));
        assert!(!declared(&["image/png", "text/html"]));
        assert!(!declared_image([&b"image/png\xff"[..]].into_iter()));
    }

    #[test]
    fn the_bytes_decide_the_served_type() {
        let cases: [(&[u8], ImageKind); 7] = [
            (PNG, ImageKind::Png),
            (b"\xff\xd8\xff\xe0\0\x10JFIF\0", ImageKind::Jpeg),
            (b"GIF89a\x01\0\x01\0", ImageKind::Gif),
            (b"GIF87a\x01\0\x01\0", ImageKind::Gif),
            (b"RIFF\x24\0\0\0WEBPVP8 \x18\0\0\0", ImageKind::Webp),
            (
                b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miafMA1B",
                ImageKind::Avif,
            ),
            (
                b"\0\0\x01\0\x01\0\x10\x10\0\0\x01\0\x20\0\x68\x04\0\0\x16\0\0\0",
                ImageKind::Icon,
            ),
        ];
        for (bytes, kind) in cases {
            assert_eq!(ImageKind::sniff(bytes), Some(kind), "{bytes:?}");
        }
        // AVIF as a compatible brand only
        assert_eq!(
            ImageKind::sniff(b"\0\0\0\x18ftypmif1\0\0\0\0mif1avif"),
            Some(ImageKind::Avif)
        );
        assert_eq!(ImageKind::Png.content_type(), "image/png");
        assert_eq!(ImageKind::Icon.content_type(), "image/x-icon");
    }

    #[test]
    fn html_and_other_bytes_are_refused_whatever_their_label() {
        for refused in [
            &b"<!doctype html><title>Sign in</title><form>"[..],
            b"<html><body>image/png</body></html>",
            b"  \x89PNG\r\n\x1a\n",
            b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
            b"%PDF-1.7",
            b"",
            b"\x89PNG\r\n",
            b"GIF90a",
            b"RIFF\x24\0\0\0WAVEfmt ",
            b"RIFF\x24\0\0\0WEBP<htm",
            // an MP4, and an ftyp box whose size runs past the body
            b"\0\0\0\x18ftypisom\0\0\0\0isommp42",
            b"\0\0\x01\0ftypavif\0\0\0\0",
            // an icon header with no image in it
            b"\0\0\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
        ] {
            assert_eq!(ImageKind::sniff(refused), None, "{refused:?}");
        }
    }
}
