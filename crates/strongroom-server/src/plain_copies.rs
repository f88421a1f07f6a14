//! The plain bytes of packed pages (kept by the cache only as gzip, `packed`), held for the
//! clients that ask without compression: bounded in bytes ([`PLAIN_MAX`] in all, the copies
//! and the gzip bytes they hold, outside the cache's own budget), in shards that each evict by
//! CLOCK (second chance). A page is kept once it was decoded twice in a while (a spread of
//! pages each asked once passes through without turning the copies over); a kept page asked
//! for again before the hand comes round stays. The copies were first kept for the first pages
//! asked, for as long as those pages lived: after a spread over every project had filled the
//! bound, the page asked a hundred thousand times a second was inflated for each request (a
//! fifth of the server's time on it).
//!
//! A copy is found by the address and length of the gzip bytes it was made from, and holds
//! those bytes: while it is kept no other buffer can start at that address with that length,
//! so a copy never answers for a page it was not made from (a changed page has new gzip
//! bytes). A copy can outlive its page (until the hand takes it), holding its gzip bytes.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;

use crate::cache::heap_alloc;
use crate::packed::gunzip_own;

/// The most bytes all copies (and the gzip bytes they hold) take together.
pub(crate) const PLAIN_MAX: usize = 2 * 1024 * 1024;
const SHARDS: usize = 8;
/// Pages decoded once and not kept, remembered per shard (direct-mapped: a later page in the
/// same place takes it).
const SEEN: usize = 256;
/// What a copy costs besides its two buffers: its slot, its index entry, the shared headers.
const ENTRY_COST: usize = 96;

/// What a copy is found by: the gzip bytes' address and length.
type Key = (usize, usize);

fn key(gz: &Bytes) -> Key {
    (gz.as_ptr() as usize, gz.len())
}

/// One multiply, folded: spreads an address's bits (allocations sit at multiples of 16 to
/// 4096, so the low bits alone would put most keys in a few places).
fn mix(h: u64, n: u64) -> u64 {
    let m = u128::from(h ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    // the two halves of the product, folded: the wrapping truncations are the point
    #[allow(clippy::cast_possible_truncation)]
    let folded = (m as u64) ^ ((m >> 64) as u64);
    folded
}

fn hash(k: Key) -> u64 {
    mix(mix(0, k.0 as u64), k.1 as u64)
}

/// Hashes a [`Key`] with [`mix`]: no client chooses an address, so SipHash's resistance to
/// chosen keys is not needed.
#[derive(Default, Clone, Copy)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0, u64::from(b));
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = mix(self.0, n as u64);
    }
}

type Index = HashMap<Key, usize, std::hash::BuildHasherDefault<KeyHasher>>;

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
    heap_alloc(gz.len()) + heap_alloc(plain.len()) + ENTRY_COST
}

/// One shard: the copies in their frames (a frame freed by the hand takes the next copy, just
/// behind the hand, so a new copy has a whole turn before it is looked at), their index, the
/// hand, the bytes held, and the pages decoded once.
struct Shard {
    index: Index,
    frames: Vec<Option<Slot>>,
    free: Vec<usize>,
    hand: usize,
    bytes: usize,
    seen: [u64; SEEN],
}

impl Default for Shard {
    fn default() -> Shard {
        Shard {
            index: Index::default(),
            frames: Vec::new(),
            free: Vec::new(),
            hand: 0,
            bytes: 0,
            seen: [0; SEEN],
        }
    }
}

impl Shard {
    fn get(&mut self, gz: &Bytes) -> Option<Bytes> {
        let &i = self.index.get(&key(gz))?;
        let slot = self.frames.get_mut(i)?.as_mut()?;
        slot.referenced = true;
        Some(slot.plain.clone())
    }

    /// Whether `gz` was decoded before (and if not, remember that it now was).
    fn seen_before(&mut self, gz: &Bytes) -> bool {
        let h = hash(key(gz));
        // the top byte picks the place, the whole hash marks it
        let at = &mut self.seen[usize::from((h >> 56) as u8) % SEEN];
        let before = *at == h;
        *at = h;
        before
    }

    /// Keep `plain` for `gz` within `budget`, making room by CLOCK (nothing kept if the copy
    /// alone is over it).
    fn insert(&mut self, gz: Bytes, plain: Bytes, budget: usize) {
        let cost = cost(&gz, &plain);
        if gz.is_empty() || cost > budget || self.index.contains_key(&key(&gz)) {
            return;
        }
        while self.bytes + cost > budget && self.evict_one() {}
        let k = key(&gz);
        let slot = Some(Slot {
            gz,
            plain,
            referenced: false,
        });
        let at = match self.free.pop() {
            Some(at) => {
                self.frames[at] = slot;
                at
            }
            None => {
                self.frames.push(slot);
                self.frames.len() - 1
            }
        };
        self.index.insert(k, at);
        self.bytes += cost;
    }

    /// Move the hand over the frames, clearing the marks of copies asked for since it last
    /// passed, and drop the first unmarked copy (within two turns); `false` when none is kept.
    fn evict_one(&mut self) -> bool {
        if self.index.is_empty() {
            return false;
        }
        loop {
            if self.hand >= self.frames.len() {
                self.hand = 0;
            }
            let at = self.hand;
            self.hand += 1;
            let Some(frame) = self.frames.get_mut(at) else {
                return false;
            };
            match frame {
                Some(slot) if slot.referenced => slot.referenced = false,
                Some(_) => {
                    if let Some(gone) = frame.take() {
                        self.index.remove(&key(&gone.gz));
                        self.bytes -= gone.cost();
                        self.free.push(at);
                    }
                    return true;
                }
                None => {}
            }
        }
    }
}

static KEPT: LazyLock<[Mutex<Shard>; SHARDS]> =
    LazyLock::new(|| std::array::from_fn(|_| Mutex::new(Shard::default())));

fn shard(gz: &Bytes) -> MutexGuard<'static, Shard> {
    let i = usize::from((hash(key(gz)) >> 48) as u8) % SHARDS;
    KEPT[i].lock().unwrap_or_else(PoisonError::into_inner)
}

/// The plain bytes of the gzip copy `gz` this process made (`packed::gunzip_own`), from
/// the kept copies or decoded now (and kept if decoded before).
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

    fn check(s: &Shard, budget: usize) {
        assert!(s.bytes <= budget, "{} over {budget}", s.bytes);
        let live: Vec<&Slot> = s.frames.iter().flatten().collect();
        assert_eq!(s.bytes, live.iter().map(|l| l.cost()).sum::<usize>());
        assert_eq!(s.index.len(), live.len());
        assert_eq!(s.frames.len(), live.len() + s.free.len());
        for (k, &i) in &s.index {
            let slot = s.frames[i]
                .as_ref()
                .expect("an index entry names a live frame");
            assert_eq!(key(&slot.gz), *k);
        }
    }

    /// Within its budget whatever is asked, and a page asked for again while others pass
    /// through once stays kept (the hot page of a Zipf spread beside a uniform one).
    #[test]
    fn a_page_asked_again_stays_while_pages_asked_once_pass_through_the_bound() {
        let (_, sample) = page(0, 100);
        let budget = 10 * cost(&Bytes::from_static(b"gz0000"), &sample);
        let mut s = Shard::default();
        let (hot_gz, hot) = page(0, 100);
        s.insert(hot_gz.clone(), hot.clone(), budget);
        for i in 1..1_000 {
            assert_eq!(s.get(&hot_gz).as_deref(), Some(&hot[..]), "round {i}");
            let (gz, plain) = page(i, 100);
            s.insert(gz.clone(), plain, budget);
            // kept (not asked for again: that would mark it as hot as the hot page)
            assert!(s.index.contains_key(&key(&gz)));
            check(&s, budget);
        }
        assert!(s.index.len() > 5, "{}", s.index.len());
        // a copy larger than the whole budget is not kept
        let (gz, plain) = page(5_000, 2_000);
        s.insert(gz.clone(), plain, budget);
        assert!(s.get(&gz).is_none());
        check(&s, budget);
    }

    /// A new copy gets a whole turn of the hand: copies come in where the hand freed a frame,
    /// so the oldest copies nobody asked for go first, never the ones just kept.
    #[test]
    fn new_copies_outlive_older_ones_nobody_asked_for() {
        let (_, sample) = page(0, 100);
        let budget = 4 * cost(&Bytes::from_static(b"gz0000"), &sample);
        let mut s = Shard::default();
        let old: Vec<(Bytes, Bytes)> = (0..4).map(|i| page(i, 100)).collect();
        for (gz, plain) in &old {
            s.insert(gz.clone(), plain.clone(), budget);
        }
        let mut new = Vec::new();
        for i in 4..8 {
            let (gz, plain) = page(i, 100);
            s.insert(gz.clone(), plain, budget);
            new.push(gz);
            for gz in &new {
                assert!(
                    s.index.contains_key(&key(gz)),
                    "a new copy evicted by page {i}"
                );
            }
            check(&s, budget);
        }
        for (gz, _) in &old {
            assert!(!s.index.contains_key(&key(gz)));
        }
    }

    /// A page decoded once is only remembered as seen; the second time, it is kept.
    #[test]
    fn a_page_is_kept_from_its_second_decoding_on() {
        let mut s = Shard::default();
        let (gz, _) = page(1, 10);
        assert!(!s.seen_before(&gz));
        assert!(s.seen_before(&gz));
        // addresses one allocation apart land in different places
        let places: std::collections::HashSet<u8> = (0..64usize)
            .map(|i| (hash((0x7f00_0000_0000 + i * 4096, 700)) >> 56) as u8)
            .collect();
        assert!(places.len() > 40, "{} places for 64 pages", places.len());
    }

    /// A copy answers only for the gzip bytes it was made from: the same content in another
    /// buffer is another page (made at another serial), decoded and kept on its own. (Other
    /// tests decode pages through the same shards meanwhile, so keeping is awaited.)
    #[test]
    fn a_copy_answers_for_its_own_gzip_bytes_only() {
        let body = Bytes::from("<a href=\"x\">x</a>\n".repeat(200));
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut enc, &body).expect("gzip");
        let gz = Bytes::from(enc.finish().expect("gzip"));
        let kept = |gz: &Bytes| {
            let mut last = plain_of(gz).expect("decoded");
            for _ in 0..100 {
                let next = plain_of(gz).expect("decoded");
                assert_eq!(next, body);
                if next.as_ptr() == last.as_ptr() {
                    return next;
                }
                last = next;
            }
            panic!("never kept");
        };
        let mine = kept(&gz);
        let other = Bytes::copy_from_slice(&gz);
        let theirs = kept(&other);
        assert_ne!(theirs.as_ptr(), mine.as_ptr());
        assert!(plain_of(&Bytes::from_static(b"not gzip")).is_none());
    }
}
