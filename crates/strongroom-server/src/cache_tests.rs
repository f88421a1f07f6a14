//! The page cache's unit tests: budget, eviction, tickets, invalidation and dirty projects.

use std::hash::BuildHasher;

use super::key::SHORT_NAME;
use super::page::{GZIP_MIN, OFF_LANE_MIN, ZSTD_MIN, gzip_of};
use super::*;
use crate::packed::{PACKED_MAX, gunzip_own};
use axum::http::HeaderValue;
use bytes::Bytes;

fn key(p: &str) -> PageKey {
    PageKey::Simple {
        project: p.into(),
        json: false,
    }
}

fn page(serial: i64, len: usize) -> CachedPage {
    // letters from a small LCG: deterministic, and the gzip copy is not nothing
    let mut x: u32 = 12_345;
    let body: String = (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            char::from(b'a' + u8::try_from((x >> 16) % 26).unwrap_or(0))
        })
        .collect();
    CachedPage::new(serial, "html", body)
}

#[test]
fn pages_are_valid_for_one_serial_only() {
    let c = PageCache::new(1 << 20);
    c.put(key("a"), CachedPage::new(5, "html", "x".repeat(2000)));
    assert!(c.get(&key("a"), 5).is_some());
    assert!(c.get(&key("a"), 6).is_none());
    let p = c.get(&key("a"), 5).expect("cached");
    assert!(p.gzip.as_ref().is_some_and(|g| g.len() < 100));
    c.put(key("a"), CachedPage::new(6, "html", "y".repeat(2000)));
    assert!(c.get(&key("a"), 5).is_none());
    assert_eq!(c.len(), 1, "a new serial replaces the entry");
}

#[test]
fn a_borrowed_simple_key_finds_its_page_and_no_other() {
    let c = PageCache::new(1 << 20);
    c.put(key("sr-demo"), page(3, 100));
    c.put(
        PageKey::Simple {
            project: "sr-demo".into(),
            json: true,
        },
        page(4, 100),
    );
    // the same name under every other kind of key
    c.put(json_key("sr-demo", None), page(5, 100));
    c.put(
        PageKey::Upstream {
            project: "sr-demo".into(),
            json: false,
            doc: None,
            generation: 0,
            hour: 0,
        },
        page(6, 100),
    );
    c.put(PageKey::download("sr-demo", false), page(7, 100));
    let serial = |project: &str, json: bool| c.peek(&SimpleKey { project, json }).map(|p| p.serial);
    assert_eq!(serial("sr-demo", false), Some(3));
    assert_eq!(serial("sr-demo", true), Some(4));
    assert_eq!(serial("sr-dem", false), None);
    assert_eq!(serial("sr-demo2", false), None);
    // hashed as the key it stands for, with the map's own hasher
    let build = hashbrown::DefaultHashBuilder::default();
    for (project, json) in [("sr-demo", false), ("a", true), ("", false)] {
        assert_eq!(
            build.hash_one(SimpleKey { project, json }),
            build.hash_one(PageKey::Simple {
                project: project.into(),
                json
            }),
            "{project} {json}"
        );
    }
    // names past what the map's slot holds of them: alike in their first bytes, or longer
    // than a slot can say
    let long = "a-project-name-longer-than-the-slot-holds";
    let longer = format!("{long}-x");
    let alike = long.replace("holds", "holdz");
    let huge = "h".repeat(300);
    for (i, name) in [long, longer.as_str(), huge.as_str()]
        .into_iter()
        .enumerate()
    {
        c.put(key(name), page(10 + i64::try_from(i).unwrap_or(0), 100));
    }
    assert_eq!(serial(long, false), Some(10));
    assert_eq!(serial(&longer, false), Some(11));
    assert_eq!(serial(&huge, false), Some(12));
    assert_eq!(serial(&alike, false), None);
    assert_eq!(serial(long, true), None);
    assert_eq!(serial(&huge[1..], false), None);
    assert_eq!(serial(&long[..SHORT_NAME], false), None);
    // once invalidated, neither form finds it
    c.invalidate_project("sr-demo");
    assert_eq!(serial("sr-demo", false), None);
    assert!(c.peek(&key("sr-demo")).is_none());
}

#[test]
fn a_borrowed_simple_key_is_equivalent_to_its_own_key_only() {
    use hashbrown::Equivalent;
    let held = |project: &str, json: bool| {
        MapKey::new(Arc::new(PageKey::Simple {
            project: project.into(),
            json,
        }))
    };
    let asks = |project: &str, json: bool, k: &MapKey| SimpleKey { project, json }.equivalent(k);
    let long = "a-project-name-longer-than-the-slot-holds";
    // the same length, the same first bytes as the slot holds them, another tail
    let tail = long.replace("holds", "holdz");
    // the same length, another byte within the slot's bytes
    let head = long.replacen('a', "b", 1);
    let huge = "h".repeat(300);
    let huge_other = format!("{}i", "h".repeat(299));
    for (name, json) in [
        ("sr-demo", false),
        ("sr-demo", true),
        ("", false),
        (long, true),
    ] {
        assert!(asks(name, json, &held(name, json)), "{name} {json}");
        assert!(!asks(name, !json, &held(name, json)), "{name} {json}");
    }
    assert!(asks(&huge, false, &held(&huge, false)));
    assert!(!asks(&huge_other, false, &held(&huge, false)));
    assert!(!asks(&tail, false, &held(long, false)));
    assert!(!asks(&head, false, &held(long, false)));
    assert!(!asks("sr-demo", false, &held("sr-dem0", false)));
    assert!(!asks("sr-demo", false, &held("sr-demo-", false)));
    assert!(!asks("", false, &held("a", false)));
    // never another kind of key under the same name
    for other in [
        PageKey::PypiJson {
            project: "sr-demo".into(),
            version: None,
            generation: 0,
        },
        PageKey::download("sr-demo", false),
        PageKey::Index { json: false },
    ] {
        assert!(!asks("sr-demo", false, &MapKey::new(Arc::new(other))));
    }
}

#[test]
fn the_budget_counts_bytes_not_entries() {
    let max = 100_000;
    let c = PageCache::new(max);
    let one = page(1, 10_000);
    let cost = one.cost(&key("p0"));
    assert!(
        cost > 10_000 + 256,
        "body, gzip copy and overhead all count: {cost}"
    );
    for i in 0..1_000 {
        c.put(key(&format!("p{i}")), page(1, 10_000));
        assert!(
            c.bytes() <= usize::try_from(max).unwrap_or(0),
            "over budget after {i}"
        );
    }
    let per = usize::try_from(max).unwrap_or(0) / cost;
    assert!(
        c.len() <= per && c.len() + 1 >= per,
        "{} pages of {cost} in {max}",
        c.len()
    );
    // never flushed at once: the newest pages are all still there
    for i in 1_000 - c.len()..1_000 {
        assert!(
            c.get(&key(&format!("p{i}")), 1).is_some(),
            "p{i} evicted early"
        );
    }
}

#[test]
fn a_page_larger_than_the_budget_is_not_kept() {
    let c = PageCache::new(50_000);
    c.put(key("small"), page(1, 1_000));
    c.put(key("big"), page(1, 60_000));
    assert!(c.get(&key("big"), 1).is_none());
    assert!(c.get(&key("small"), 1).is_some(), "others stay");
    // a page that grew past the budget drops its older copy
    c.put(key("small"), page(2, 60_000));
    assert!(c.get(&key("small"), 1).is_none());
    assert_eq!((c.len(), c.bytes()), (0, 0));
}

#[test]
fn eviction_spares_pages_read_since_the_hand_passed() {
    let one = page(1, 1_000).cost(&key("k0"));
    // room for exactly four pages
    let c = PageCache::new(u64::try_from(one * 4 + one / 2).unwrap_or(0));
    for k in ["a", "b", "c", "d"] {
        c.put(key(k), page(1, 1_000));
    }
    // the first insert beyond the budget evicts the oldest unread page: a
    c.put(key("e"), page(1, 1_000));
    assert!(
        c.get(&key("a"), 1).is_none(),
        "oldest unread page goes first"
    );
    // b is read again; c is not: the next eviction skips b and takes c
    assert!(c.get(&key("b"), 1).is_some());
    c.put(key("f"), page(1, 1_000));
    assert!(c.get(&key("c"), 1).is_none(), "unread c evicted");
    assert!(c.get(&key("b"), 1).is_some(), "read b kept");
    for k in ["d", "e", "f"] {
        assert!(c.get(&key(k), 1).is_some(), "{k} kept");
    }
    assert_eq!(c.len(), 4);
}

#[test]
fn a_scan_of_cold_pages_does_not_push_out_a_hot_one() {
    let one = page(1, 1_000).cost(&key("k0"));
    let c = PageCache::new(u64::try_from(one * 8).unwrap_or(0));
    c.put(key("hot"), page(1, 1_000));
    for i in 0..200 {
        assert!(c.get(&key("hot"), 1).is_some(), "hot page lost at {i}");
        c.put(key(&format!("cold{i}")), page(1, 1_000));
    }
}

#[test]
fn a_list_of_entries_is_answered_from_any_entry_on() {
    let p = CachedPage::with_rows(
        9,
        "t",
        "<a>3</a><a>5</a><a>8</a>".into(),
        vec![(3, 0), (5, 8), (8, 16)],
    );
    let text = |after, upto| {
        let (b, n, last) = p.rows_between(after, upto);
        (String::from_utf8_lossy(&b).into_owned(), n, last)
    };
    assert_eq!(text(0, 99), ("<a>3</a><a>5</a><a>8</a>".into(), 3, Some(8)));
    assert_eq!(text(3, 99), ("<a>5</a><a>8</a>".into(), 2, Some(8)));
    assert_eq!(text(4, 7), ("<a>5</a>".into(), 1, Some(5)));
    assert_eq!(text(0, 5), ("<a>3</a><a>5</a>".into(), 2, Some(5)));
    assert_eq!(text(8, 99), (String::new(), 0, None));
    assert_eq!(text(5, 7), (String::new(), 0, None));
    assert!(p.cost(&PageKey::Changelog { block: 0 }) > 24 + 3 * 16);
}

#[test]
fn base_slots_are_filled_per_request_and_never_stored() {
    let marker = "MARKERxyz";
    let body = format!("{{\"url\":\"{marker}/packages/a\",\"b\":\"{marker}/project/x/\"}}");
    let p = CachedPage::with_base_slots(3, "pypi-json", &body, marker);
    assert!(p.gzip.is_none());
    assert!(!String::from_utf8_lossy(&p.body).contains(marker));
    assert_eq!(
        p.body_for("http://h1:8080").expect("body"),
        "{\"url\":\"http://h1:8080/packages/a\",\"b\":\"http://h1:8080/project/x/\"}"
    );
    assert_eq!(
        p.body_for("https://h2").expect("body"),
        "{\"url\":\"https://h2/packages/a\",\"b\":\"https://h2/project/x/\"}"
    );
    let plain = CachedPage::with_base_slots(3, "t", "no links", marker);
    assert_eq!(plain.body_for("http://x").expect("body"), "no links");
}

fn json_key(p: &str, v: Option<&str>) -> PageKey {
    PageKey::PypiJson {
        project: p.into(),
        version: v.map(str::to_owned),
        generation: 0,
    }
}

#[test]
fn invalidating_a_project_drops_its_pages_and_the_lists_only() {
    let c = PageCache::new(1 << 20);
    let t = c.ticket();
    for k in [
        key("a"),
        key("b"),
        json_key("a", None),
        json_key("a", Some("1.0")),
        PageKey::Index { json: true },
    ] {
        assert!(c.put_fresh(k, page(1, 100), t));
    }
    let before = c.bytes();
    c.invalidate_project("a");
    assert!(c.get_fresh(&key("a")).is_none());
    assert!(c.get_fresh(&json_key("a", None)).is_none());
    assert!(c.get_fresh(&json_key("a", Some("1.0"))).is_none());
    assert!(c.get_fresh(&PageKey::Index { json: true }).is_none());
    assert!(
        c.get_fresh(&key("b")).is_some(),
        "another project's page stays"
    );
    assert!(c.bytes() < before, "an invalidated page's bytes are freed");
    // a new rendering takes the tombstone's place
    assert!(c.put_fresh(key("a"), page(2, 100), c.ticket()));
    assert_eq!(c.get_fresh(&key("a")).map(|p| p.serial), Some(2));
    assert_eq!(c.len(), 5);
}

#[test]
fn a_download_is_found_by_its_blob_key_and_goes_with_its_project() {
    let c = PageCache::new(1 << 20);
    let kept = |project: &str, blob: &str, metadata: bool| PageKey::Download {
        blob_key: blob.into(),
        metadata,
        project: Rider(project.into()),
    };
    let facts = |project: &str| {
        Arc::new(strongroom_store::model::PublicDownload {
            file: strongroom_store::model::DistFile {
                id: 1,
                release_id: 1,
                project_id: 1,
                filename: "a-1.0-py3-none-any.whl".into(),
                packagetype: "bdist_wheel".into(),
                python_version: "py3".into(),
                size: 10,
                md5: String::new(),
                sha256: "ab".repeat(32),
                blake2_256: "cd".repeat(32),
                blob_key: "ab/cd/ef/a-1.0-py3-none-any.whl".into(),
                metadata_sha256: None,
                comment_text: None,
                uploaded_at: 0,
            },
            project: project.into(),
            version: "1.0".into(),
        })
    };
    let etag = HeaderValue::from_static("\"ab\"");
    let t = c.ticket();
    for (project, blob, metadata, body) in [
        ("a", "ab/cd/ef/a-1.0.whl", false, ""),
        ("a", "ab/cd/ef/a-1.0.whl", true, "Metadata-Version: 2.1"),
        ("b", "ab/cd/ef/b-1.0.whl", false, ""),
    ] {
        let page = CachedPage::of_download(facts(project), etag.clone(), Bytes::from(body));
        assert!(c.put_fresh(kept(project, blob, metadata), page, t));
    }
    // found knowing only the path; the file and its PEP 658 file are two entries
    let file = c.get_fresh(&PageKey::download("ab/cd/ef/a-1.0.whl", false));
    assert_eq!(
        file.and_then(|p| p.download().cloned())
            .map(|d| d.project.clone()),
        Some("a".into())
    );
    let metadata = c.get_fresh(&PageKey::download("ab/cd/ef/a-1.0.whl", true));
    assert_eq!(
        metadata.map(|p| p.body.clone()),
        Some(Bytes::from("Metadata-Version: 2.1"))
    );
    assert!(
        c.get_fresh(&PageKey::download("ab/cd/ef/c-1.0.whl", false))
            .is_none()
    );
    // the facts and the bytes are counted against the budget
    assert!(
        c.bytes()
            > 3 * (ENTRY_OVERHEAD + std::mem::size_of::<strongroom_store::model::PublicDownload>())
    );
    c.invalidate_project("a");
    assert!(
        c.get_fresh(&PageKey::download("ab/cd/ef/a-1.0.whl", false))
            .is_none()
    );
    assert!(
        c.get_fresh(&PageKey::download("ab/cd/ef/a-1.0.whl", true))
            .is_none()
    );
    assert!(
        c.get_fresh(&PageKey::download("ab/cd/ef/b-1.0.whl", false))
            .is_some(),
        "another project's download stays"
    );
    // the same blob key kept again under another project name (a removed project's names
    // are freed by renaming them): indexed under the new name only, counted once
    let before = c.bytes();
    let t = c.ticket();
    let page = CachedPage::of_download(facts("a-renamed"), etag.clone(), Bytes::new());
    assert!(c.put_fresh(kept("a-renamed", "ab/cd/ef/b-1.0.whl", false), page, t));
    assert!(c.bytes() <= before + 64, "{} after {before}", c.bytes());
    c.invalidate_project("b");
    assert!(
        c.get_fresh(&PageKey::download("ab/cd/ef/b-1.0.whl", false))
            .is_some(),
        "no longer b's"
    );
    c.invalidate_project("a-renamed");
    assert!(
        c.get_fresh(&PageKey::download("ab/cd/ef/b-1.0.whl", false))
            .is_none(),
        "goes with the project it is kept under now"
    );
    // looked up across an invalidation of its project: not kept
    let t = c.ticket();
    c.invalidate_project("b");
    let page = CachedPage::of_download(facts("b"), etag, Bytes::new());
    assert!(!c.put_fresh(kept("b", "ab/cd/ef/b-1.0.whl", false), page, t));
}

#[test]
fn a_page_rendered_across_an_invalidation_is_not_kept() {
    let c = PageCache::new(1 << 20);
    let t = c.ticket();
    c.invalidate_project("a");
    assert!(
        !c.put_fresh(key("a"), page(1, 100), t),
        "read before the change"
    );
    assert!(c.get_fresh(&key("a")).is_none());
    assert!(
        !c.put_fresh(PageKey::Index { json: false }, page(1, 100), t),
        "the list of every project changed too"
    );
    assert!(c.put_fresh(key("b"), page(1, 100), t), "b did not change");
    c.invalidate_all();
    assert!(c.get_fresh(&key("b")).is_none());
    assert!(!c.put_fresh(key("b"), page(1, 100), t));
    assert!(c.put_fresh(key("b"), page(1, 100), c.ticket()));
}

#[test]
fn a_ticket_older_than_the_log_is_refused() {
    let c = PageCache::new(1 << 20);
    let t = c.ticket();
    for i in 0..INVALIDATION_LOG {
        c.invalidate_project(&format!("other{i}"));
    }
    assert!(
        c.put_fresh(key("a"), page(1, 100), t),
        "the log still reaches t"
    );
    c.invalidate_project("one-more");
    assert!(
        !c.put_fresh(key("z"), page(1, 100), t),
        "cannot tell any more"
    );
}

#[test]
fn a_project_written_here_is_not_kept_until_the_write_is_seen_committed() {
    let c = PageCache::new(1 << 20);
    assert!(c.put_fresh(key("a"), page(1, 100), c.ticket()));
    c.mark_dirty("a", 7);
    assert!(c.get_fresh(&key("a")).is_none(), "dropped at once");
    assert!(
        !c.put_fresh(key("a"), page(1, 100), c.ticket()),
        "uncommitted"
    );
    assert!(
        !c.put_fresh(PageKey::Index { json: true }, page(1, 100), c.ticket()),
        "the list waits as well"
    );
    assert!(c.put_fresh(key("b"), page(1, 100), c.ticket()));
    let t = c.ticket();
    c.settle(6);
    assert!(
        !c.put_fresh(key("a"), page(1, 100), c.ticket()),
        "7 not seen"
    );
    c.settle(7);
    assert!(
        !c.put_fresh(key("a"), page(1, 100), t),
        "read before the commit was seen"
    );
    assert!(c.put_fresh(key("a"), page(2, 100), c.ticket()));
    assert!(c.put_fresh(PageKey::Index { json: true }, page(2, 100), c.ticket()));
    // a write rolled back (never committed) stops holding the project after DIRTY_TTL
    c.mark_dirty("b", 99);
    c.settle(7);
    assert!(!c.put_fresh(key("b"), page(1, 100), c.ticket()));
    c.settle_at(7, std::time::Instant::now() + DIRTY_TTL * 2);
    assert!(c.put_fresh(key("b"), page(1, 100), c.ticket()));
}

#[test]
fn a_spread_load_over_pages_all_read_evicts_only_what_it_must() {
    let one = page(1, 1_000).cost(&key("k0"));
    let c = PageCache::new(u64::try_from(one * 100).unwrap_or(0));
    for i in 0..100 {
        c.put(key(&format!("p{i}")), page(1, 1_000));
    }
    let full = c.len();
    for round in 0..5 {
        // every page is read (all referenced), then a few new ones come
        for i in 0..100 {
            let _ = c.get(&key(&format!("p{i}")), 1);
        }
        for j in 0..10 {
            c.put(key(&format!("new{round}-{j}")), page(1, 1_000));
            assert!(c.len() + 1 >= full, "emptied: {} of {full}", c.len());
        }
    }
}

#[test]
fn a_big_page_keeps_a_zstd_copy_that_decodes_to_its_body_and_is_counted() {
    let small = CachedPage::new(1, "html", "<a>x</a>\n".repeat(ZSTD_MIN / 9 - 1));
    assert!(
        small.zstd().is_none(),
        "{:?} bytes",
        small.body().map(|b| b.len())
    );
    let big = CachedPage::new(1, "html", "<a href=\"x\">x</a>\n".repeat(ZSTD_MIN / 8));
    let z = big.zstd().expect("a zstd copy");
    assert!(
        z.len() < big.body.len() / 10,
        "{} of {}",
        z.len(),
        big.body.len()
    );
    let back = zstd::bulk::decompress(z, big.body.len()).expect("decodes");
    assert_eq!(back, big.body.as_ref());
    let key = key("big");
    assert_eq!(
        big.cost(&key),
        key_cost(&key)
            + heap_alloc(big.etag.as_ref().map_or(0, HeaderValue::len))
            + heap_alloc(big.body.len())
            + heap_alloc(big.gzip.as_ref().map_or(0, Bytes::len))
            + heap_alloc(std::mem::size_of::<super::page::Rare>())
            + heap_alloc(z.len())
    );
}

#[test]
fn a_small_page_is_kept_only_compressed_and_decodes_to_what_was_rendered() {
    let html = |n: usize| {
        (0..n)
            .map(|i| format!("<a href=\"../../packages/x-{i}.whl#sha256=ab\">x-{i}.whl</a><br/>\n"))
            .collect::<String>()
    };
    let rendered = html(40);
    assert!(rendered.len() > 1_000 && rendered.len() < PACKED_MAX);
    let small = CachedPage::new(1, "html", rendered.clone());
    assert!(small.unpacked().is_none() && small.body.is_empty());
    assert_eq!(small.body().expect("decodes"), rendered.as_bytes());
    assert_eq!(
        small.body_for("http://h").expect("decodes"),
        rendered.as_bytes()
    );
    // counted without the plain body it no longer holds
    let k = key("small");
    let gz = small.gzip.as_ref().expect("gzip").len();
    assert!(gz < rendered.len() / 3, "{gz} of {}", rendered.len());
    assert_eq!(
        small.cost(&k),
        key_cost(&k) + heap_alloc(small.etag.as_ref().map_or(0, HeaderValue::len)) + heap_alloc(gz)
    );
    // too small to compress (one segment with its headers either way): kept as it is, with
    // no gzip copy, up to GZIP_MIN bytes; one byte more is packed
    let tiny = CachedPage::new(1, "html", "<a>x</a>".into());
    assert_eq!(tiny.unpacked().map(|b| b.len()), Some(8));
    let one_file = "x".repeat(GZIP_MIN);
    let at_bound = CachedPage::new(1, "html", one_file.clone());
    assert!(at_bound.gzip.is_none());
    assert_eq!(
        at_bound.unpacked().map(|b| &b[..]),
        Some(one_file.as_bytes())
    );
    let over = CachedPage::new(1, "html", format!("{one_file}x"));
    assert!(over.gzip.is_some() && over.unpacked().is_none());
    // a big page keeps its plain body: no decompression per request for a client without gzip
    let big_text = html(PACKED_MAX / 40);
    assert!(big_text.len() >= PACKED_MAX);
    let big = CachedPage::new(1, "html", big_text.clone());
    assert_eq!(big.unpacked().map(|b| b.len()), Some(big_text.len()));
    assert_eq!(big.body().expect("body"), big_text.as_bytes());
}

#[test]
fn only_this_process_s_own_gzip_copies_are_unpacked() {
    let text = "<a href=\"x\">x</a>\n".repeat(100);
    let body = Bytes::from(text.clone());
    let gz = gzip_of(&body).expect("gzip");
    assert_eq!(gunzip_own(&gz).as_deref(), Some(text.as_bytes()));
    // again on the same thread: the inflater is reset between pages
    assert_eq!(gunzip_own(&gz).as_deref(), Some(text.as_bytes()));
    // cut short, a length that does not match, a header with a file name, not gzip at all
    assert_eq!(gunzip_own(&gz[..gz.len() - 9]), None);
    let mut longer = gz.to_vec();
    let n = longer.len();
    longer[n - 4] ^= 1;
    assert_eq!(gunzip_own(&longer), None);
    let mut named = gz.to_vec();
    named[3] = 8;
    assert_eq!(gunzip_own(&named), None);
    assert_eq!(gunzip_own(b"plain"), None);
    assert_eq!(gunzip_own(&[]), None);
}

/// `cargo test --profile quick -p strongroom-server --lib unpack_cost -- --ignored --nocapture`
#[test]
#[ignore = "a measurement, not a check"]
fn unpack_cost() {
    let page: String = (0..10)
        .map(|i| {
            format!(
                "<a href=\"../../packages/ab/cd/{:064x}/benchpkg_{i:05}-1.0.{i}-py3-none-any.whl#sha256={:064x}\" data-requires-python=\"&gt;=3.8\" data-dist-info-metadata=\"sha256={:064x}\" data-core-metadata=\"sha256={:064x}\">benchpkg_{i:05}-1.0.{i}-py3-none-any.whl</a><br />\n",
                i * 7919 + 13, i * 104_729 + 1, i * 1_299_709 + 3, i * 1_299_709 + 3
            )
        })
        .collect();
    let body = Bytes::from(page.clone());
    let gz = gzip_of(&body).expect("gzip");
    let z = zstd::bulk::compress(&body, ZSTD_LEVEL).expect("zstd");
    let n = 200_000;
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(gunzip_own(std::hint::black_box(&gz)));
    }
    let inflate = t.elapsed() / n;
    let mut d = zstd::bulk::Decompressor::new().expect("dctx");
    let t = std::time::Instant::now();
    for _ in 0..n {
        std::hint::black_box(
            d.decompress(std::hint::black_box(&z), page.len())
                .expect("z"),
        );
    }
    let unz = t.elapsed() / n;
    println!(
        "page {} B, gzip {} B, zstd {} B; inflate {inflate:?}, zstd {unz:?} per page",
        page.len(),
        gz.len(),
        z.len()
    );
}

#[test]
fn a_packed_page_asked_for_plain_keeps_its_plain_bytes() {
    let text: String = (0..60)
        .map(|i| format!("<a href=\"x-{i}.whl\">x-{i}.whl</a>\n"))
        .collect();
    let page = CachedPage::new(1, "html", text.clone());
    assert!(page.packed && page.body.is_empty());
    // kept from the second time on: later plain answers share those bytes (other tests
    // decode pages through the same shards meanwhile, so keeping is awaited)
    let mut last = page.body().expect("inflated");
    assert_eq!(last, text.as_bytes());
    let shared = (0..100).any(|_| {
        let next = page.body().expect("body");
        assert_eq!(next, text.as_bytes());
        std::mem::replace(&mut last, next).as_ptr() == last.as_ptr()
    });
    assert!(shared, "inflated every time");
    // the same page rendered again (a new serial) is decoded from its own gzip bytes
    let next = CachedPage::new(2, "html", text.replace("x-1", "y-1"));
    assert_eq!(
        next.body().expect("inflated"),
        text.replace("x-1", "y-1").as_bytes()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_page_made_for_a_request_is_the_page_whichever_thread_compressed_it() {
    let small = "<a href=\"x\">x</a>\n".repeat(OFF_LANE_MIN / 18 - 1);
    let big = "<a href=\"y\">y</a>\n".repeat(OFF_LANE_MIN / 18 + 1);
    assert!(small.len() < OFF_LANE_MIN && big.len() >= OFF_LANE_MIN);
    for body in [small, big] {
        let made = CachedPage::made(7, "html", body.clone())
            .await
            .expect("made");
        let new = CachedPage::new(7, "html", body.clone());
        assert_eq!(made.etag, new.etag);
        assert_eq!(made.gzip, new.gzip);
        assert_eq!(made.zstd(), new.zstd());
        assert_eq!(made.body_for("").as_deref(), Some(body.as_bytes()));
        assert!(made.gzip.is_some(), "compressed");
    }
}

#[test]
fn a_block_is_counted_at_the_allocators_size_class() {
    let classes = [
        (0, 0),
        (1, 8),
        (8, 8),
        (9, 16),
        (100, 112),
        (128, 128),
        (129, 160),
        (160, 160),
        (161, 192),
        (256, 256),
        (257, 320),
        (1_000, 1_024),
        (2_100, 2_560),
        (4_097, 5_120),
    ];
    for (len, class) in classes {
        assert_eq!(heap_alloc(len), class, "{len} bytes");
    }
    // never less than asked, and never a fifth more past the small classes
    for len in 129..100_000 {
        let c = heap_alloc(len);
        assert!(c >= len && c * 4 < len * 5 + 4 * 8, "{len} -> {c}");
    }
}

#[test]
fn a_project_page_carries_no_room_for_what_only_other_pages_have() {
    // a project's simple page: body and gzip only, nothing out of line
    let common = CachedPage::new(7, "html", "<a href=\"x\">x</a>\n".repeat(100));
    assert!(common.zstd().is_none() && common.upstream().is_none());
    assert!(common.download().is_none());
    assert_eq!(common.cost(&key("p")), page_cost_without_rare(&common));
    // tens of thousands of these are kept: the page and its `Arc` fit the allocator's 160-byte
    // class (256 while the rare fields sat in line)
    assert!(
        super::heap_alloc(std::mem::size_of::<CachedPage>() + 16) <= 160,
        "{} bytes",
        std::mem::size_of::<CachedPage>()
    );
    // a page with one of them pays for the box and what it holds
    let mut upstream = common.clone();
    upstream.set_upstream(super::UpstreamStamp {
        confirmed_at: 1,
        fresh_until: 2,
    });
    assert_eq!(upstream.upstream().map(|s| s.fresh_until), Some(2));
    assert!(upstream.cost(&key("p")) > common.cost(&key("p")));
    let rows = CachedPage::with_rows(3, "t", "ab".into(), vec![(1, 0), (2, 1)]);
    assert_eq!(rows.rows_between(0, 2).1, 2);
    assert!(
        rows.cost(&key("p"))
            >= page_cost_without_rare(&rows) + 2 * std::mem::size_of::<(i64, usize)>()
    );
}

/// What a page costs counting only its key, ETag, body and gzip copy.
fn page_cost_without_rare(p: &CachedPage) -> usize {
    use super::heap_alloc;
    super::key_cost(&key("p"))
        + heap_alloc(p.etag.as_ref().map_or(0, HeaderValue::len))
        + heap_alloc(p.body.len())
        + heap_alloc(p.gzip.as_ref().map_or(0, Bytes::len))
}
