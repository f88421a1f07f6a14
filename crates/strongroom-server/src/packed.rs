//! Small pages kept only as their gzip copy: the bound on what is packed and the reused
//! inflater that makes a packed page's plain bytes (kept, within a bound, by `plain_copies`).

/// The largest page kept only as its gzip copy. Clients that take gzip (pip, uv, browsers,
/// mirrors) are nearly all of them, and a page of a project's few files is 1 to 3 KB, about
/// three times its gzip copy: keeping both made most of a full cache's bytes. Pages above this
/// keep their plain body too, so a client that takes no compression never costs the server
/// a decompression of a large page per request.
pub(crate) const PACKED_MAX: usize = 16 * 1024;

thread_local! {
    /// One inflater per thread, reset for each packed page decoded: a fresh one would
    /// allocate and clear its 32 KiB window on every request.
    static INFLATE: std::cell::RefCell<flate2::Decompress> =
        std::cell::RefCell::new(flate2::Decompress::new(false));
}

/// The bytes of a gzip copy this process made (`cache::gzip_of`: a 10-byte header with no optional
/// fields, the deflate stream, then CRC-32 and length), in an allocation of exactly their
/// size; `None` for anything else or a page over [`PACKED_MAX`]. The CRC is not checked: the
/// copy never left this process's memory.
pub(crate) fn gunzip_own(gz: &[u8]) -> Option<Vec<u8>> {
    let (head, rest) = gz.split_at_checked(10)?;
    let (deflate, trailer) = rest.split_at_checked(rest.len().checked_sub(8)?)?;
    if head[..4] != [0x1f, 0x8b, 8, 0] {
        return None;
    }
    let len = usize::try_from(u32::from_le_bytes(trailer[4..].try_into().ok()?)).ok()?;
    if len > PACKED_MAX {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    INFLATE.with(|cell| {
        let mut d = cell.try_borrow_mut().ok()?;
        d.reset(false);
        match d.decompress_vec(deflate, &mut out, flate2::FlushDecompress::Finish) {
            Ok(flate2::Status::StreamEnd) => Some(()),
            _ => None,
        }
    })?;
    (out.len() == len).then_some(out)
}
