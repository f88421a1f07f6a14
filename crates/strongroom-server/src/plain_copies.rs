//! The plain bytes of packed pages (kept by the cache only as gzip, `packed`), held for the
//! clients that ask without compression: bounded in bytes ([`PLAIN_MAX`] in all, outside the
//! cache's own budget), in shards that each evict by CLOCK (second chance). A page asked for
//! again since the hand last passed stays; a spread of pages asked once passes through (a
//! page is kept from its second decoding on). The
//! copies were first kept for the first pages asked, for as long as those pages lived: after
//! a spread over every project had filled the bound, the page asked a hundred thousand times a
//! second was inflated for each request (a fifth of the server's time on it).
//!
//! A copy is found by the address of the gzip bytes it was made from, and holds those bytes:
//! while it is kept no other buffer can have that address, so a copy never answers for a
//! page it was not made from (a changed page has new gzip bytes, and so a new address).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::packed::gunzip_own;

/// The most bytes all copies (and the gzip bytes they hold) take together.
pub(crate) const PLAIN_MAX: usize = 2 * 1024 * 1024;
const SHARDS: usize = 8;
/// What a copy costs besides its two buffers: its slot, its index entry, the shared headers.
const ENTRY_COST: usize = 96;

struct Slot {
    gz: Bytes,
    plain: Bytes,
    referenced: bool,
}

impl Slot {
    fn cost(&self) -> usize {
        cost(&self.gz, &self.plain)
    }
}

fn cost(gz: &Bytes, plain: &Bytes) -> usize {
    gz.len() + plain.len() + ENTRY_COST
}

fn key(gz: &Bytes) -> usize {
    gz.as_ptr() as usize
}

/// Keys of pages decoded once and not kept, per shard (direct-mapped: a later key in the same
/// place takes it).
const SEEN: usize = 256;

/// Hashes an address (the index's only key) with one multiplication: SipHash's resistance
/// to chosen keys is not needed for addresses no client chooses.
#[derive(Default, Clone, Copy)]
struct AddressHasher(u64);

impl std::hash::Hasher for AddressHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64 >> 4).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

type AddressMap = HashMap<usize, usize, std::hash::BuildHasherDefault<AddressHasher>>;

/// One shard: the copies, their index by key, the CLOCK's hand, the bytes held, and the pages
/// decoded once (a page is kept from its second decoding on, so a spread of pages each asked
/// once does not turn the copies over for nothing).
struct Shard {
    index: AddressMap,
    slots: Vec<Slot>,
    hand: usize,
    bytes: usize,
    seen: [usize; SEEN],
}

impl Default for Shard {
    fn default() -> Shard {
        Shard {
            index: AddressMap::default(),
            slots: Vec::new(),
            hand: 0,
            bytes: 0,
            seen: [0; SEEN],
        }
    }
}

impl Shard {
    fn get(&mut self, gz: &Bytes) -> Option<Bytes> {
        let &i = self.index.get(&key(gz))?;
        let slot = self.slots.get_mut(i)?;
        slot.referenced = true;
        Some(slot.plain.clone())
    }

    /// Whether `gz` was decoded before (and if not, remember that it now was).
    fn seen_before(&mut self, gz: &Bytes) -> bool {
        let k = key(gz);
        let at = &mut self.seen[(k >> 4) % SEEN];
        let before = *at == k;
        *at = k;
        before
    }

    /// Keep `plain` for `gz` within `budget`, making room by CLOCK (nothing kept if the copy
    /// alone is over it).
    fn insert(&mut self, gz: Bytes, plain: Bytes, budget: usize) {
        let cost = cost(&gz, &plain);
        if gz.is_empty() || cost > budget || self.index.contains_key(&key(&gz)) {
            return;
        }
        while self.bytes + cost > budget && !self.slots.is_empty() {
            self.evict_one();
        }
        self.index.insert(key(&gz), self.slots.len());
        self.slots.push(Slot {
            gz,
            plain,
            referenced: false,
        });
        self.bytes += cost;
    }

    /// Pass the hand over the slots, clearing the marks of those asked for since it last
    /// passed, and drop the first unmarked one (within two turns).
    fn evict_one(&mut self) {
        loop {
            if self.hand >= self.slots.len() {
                self.hand = 0;
            }
            let Some(slot) = self.slots.get_mut(self.hand) else {
                return;
            };
            if slot.referenced {
                slot.referenced = false;
                self.hand += 1;
                continue;
            }
            let gone = self.slots.swap_remove(self.hand);
            self.index.remove(&key(&gone.gz));
            self.bytes -= gone.cost();
            if let Some(moved) = self.slots.get(self.hand) {
                self.index.insert(key(&moved.gz), self.hand);
            }
            return;
        }
    }
}

static KEPT: LazyLock<[Mutex<Shard>; SHARDS]> =
    LazyLock::new(|| std::array::from_fn(|_| Mutex::new(Shard::default())));

fn shard(gz: &Bytes) -> MutexGuard<'static, Shard> {
    // allocations are at least 16-byte aligned: mix the bits above that
    let k = key(gz) >> 4;
    let i = (k ^ (k >> 7) ^ (k >> 17)) % SHARDS;
    KEPT[i].lock().unwrap_or_else(PoisonError::into_inner)
}

/// The plain bytes of the gzip copy `gz` this process made (`packed::gunzip_own`), from
/// the kept copies or decoded now and kept.
pub(crate) fn plain_of(gz: &Bytes) -> Option<Bytes> {
    let keep = {
        let mut s = shard(gz);
        if let Some(plain) = s.get(gz) {
            return Some(plain);
        }
        s.seen_before(gz)
    };
    let plain = Bytes::from(gunzip_own(gz)?);
    if keep {
        shard(gz).insert(gz.clone(), plain.clone(), PLAIN_MAX / SHARDS);
    }
    Some(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(i: usize, n: usize) -> (Bytes, Bytes) {
        let plain = Bytes::from(format!("{i:08}").repeat(n));
        (Bytes::from(format!("gz{i}").into_bytes()), plain)
    }

    /// Within its budget whatever is asked, and a page asked for again while others pass
    /// through once stays kept (the hot page of a Zipf spread beside a uniform one).
    #[test]
    fn a_page_asked_again_stays_while_pages_asked_once_pass_through_the_bound() {
        let budget = 10 * (ENTRY_COST + 4 + 800);
        let mut s = Shard::default();
        let (hot_gz, hot) = page(0, 100);
        s.insert(hot_gz.clone(), hot.clone(), budget);
        for i in 1..1_000 {
            assert_eq!(s.get(&hot_gz).as_deref(), Some(&hot[..]), "round {i}");
            let (gz, plain) = page(i, 100);
            s.insert(gz.clone(), plain.clone(), budget);
            assert!(s.bytes <= budget, "{} over {budget}", s.bytes);
            assert_eq!(s.bytes, s.slots.iter().map(Slot::cost).sum::<usize>());
            // kept (not asked for again: that would mark it as hot as the hot page)
            assert!(s.index.contains_key(&key(&gz)));
            drop(plain);
        }
        assert_eq!(s.index.len(), s.slots.len());
        assert!(s.slots.len() > 5, "{}", s.slots.len());
        // every index entry names the slot that holds its key
        for (k, &i) in &s.index {
            assert_eq!(key(&s.slots[i].gz), *k);
        }
        // a copy larger than the whole budget is not kept
        let (gz, plain) = page(5_000, 2_000);
        s.insert(gz.clone(), plain, budget);
        assert!(s.get(&gz).is_none());
    }

    /// A page decoded once is only remembered as seen; the second time, it is kept.
    #[test]
    fn a_page_is_kept_from_its_second_decoding_on() {
        let mut s = Shard::default();
        let (gz, _) = page(1, 10);
        assert!(!s.seen_before(&gz));
        assert!(s.seen_before(&gz));
        let (other, _) = page(2, 10);
        assert!(!s.seen_before(&other));
    }

    /// A copy answers only for the gzip bytes it was made from: the same content in another
    /// buffer is another page (made at another serial), and is decoded and kept on its own.
    #[test]
    fn a_copy_answers_for_its_own_gzip_bytes_only() {
        let body = Bytes::from("<a href=\"x\">x</a>\n".repeat(200));
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &body).expect("gzip");
        let gz = Bytes::from(enc.finish().expect("gzip"));
        let first = plain_of(&gz).expect("decoded");
        assert_eq!(first, body);
        // kept from the second decoding on
        let first = plain_of(&gz).expect("decoded");
        assert_eq!(first, body);
        let again = plain_of(&gz).expect("kept");
        assert_eq!(
            again.as_ptr(),
            first.as_ptr(),
            "decoded again instead of kept"
        );
        let other = Bytes::copy_from_slice(&gz);
        let _ = plain_of(&other);
        let theirs = plain_of(&other).expect("decoded");
        assert_eq!(theirs, body);
        assert_ne!(theirs.as_ptr(), first.as_ptr());
        assert!(plain_of(&Bytes::from_static(b"not gzip")).is_none());
    }
}
