//! The scanner's per-member results (`scan_member_cache`, migration 0029) on both engines: a
//! remembered result reads back, a repeated key keeps its first result, used keys are kept
//! over unused ones when the row bound prunes.

use super::backends;

fn key(n: u32) -> String {
    format!("{n:0>64x}")
}

#[tokio::test]
async fn results_read_back_and_the_least_recently_used_go_first() {
    for (name, db, _d) in backends().await {
        assert_eq!(
            db.scan_cache_get(&key(1)).await.expect("get"),
            None,
            "{name}"
        );
        db.scan_cache_put(&[], &[], 1, 10).await.expect("nothing");
        let new: Vec<(String, String)> = (1..=4)
            .map(|n| (key(n), format!("{{\"n\":{n}}}")))
            .collect();
        db.scan_cache_put(&new, &[], 100, 10).await.expect("put");
        assert_eq!(
            db.scan_cache_get(&key(2)).await.expect("get").as_deref(),
            Some("{\"n\":2}"),
            "{name}"
        );
        // The same key again: the result stays what scanning those bytes first gave.
        db.scan_cache_put(&[(key(2), "{\"other\":1}".into())], &[], 200, 10)
            .await
            .expect("again");
        assert_eq!(
            db.scan_cache_get(&key(2)).await.expect("get").as_deref(),
            Some("{\"n\":2}"),
            "{name}"
        );
        // key 1 used later than 3 and 4; two new rows over a bound of 4: 3 and 4 go.
        db.scan_cache_put(
            &[(key(5), "{}".into()), (key(6), "{}".into())],
            &[key(1)],
            300,
            4,
        )
        .await
        .expect("prune");
        assert_eq!(db.scan_cache_rows().await.expect("rows"), 4, "{name}");
        for (n, kept) in [
            (1, true),
            (2, true),
            (3, false),
            (4, false),
            (5, true),
            (6, true),
        ] {
            assert_eq!(
                db.scan_cache_get(&key(n)).await.expect("get").is_some(),
                kept,
                "{name}: key {n}"
            );
        }
    }
}
