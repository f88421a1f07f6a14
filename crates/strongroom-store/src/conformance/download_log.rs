//! The download log (`download_log`, `download_counts`, migration 0023) on both engines: batches
//! written, read back per project and time, and older rows folded into daily counts exactly once.

use super::backends;
use crate::download_log::{DAY_US, DownloadRecord, Origin, day_of};

fn dl(origin: Origin, project: &str, filename: &str, at: i64, ip: &str) -> DownloadRecord {
    DownloadRecord {
        origin,
        project: project.into(),
        version: "0.2.2".into(),
        filename: filename.into(),
        sha256: format!("{:0>64}", filename.len()),
        at,
        ip: Some(ip.into()),
        user_agent: Some("pip/25.0".into()),
    }
}

#[tokio::test]
async fn downloads_are_written_in_batches_and_read_back_per_project() {
    for (name, db, _d) in backends().await {
        assert_eq!(db.insert_downloads(&[]).await.expect("empty"), 0, "{name}");
        // More than one INSERT statement's worth, to cover the chunking.
        let mut batch: Vec<DownloadRecord> = (0..450)
            .map(|i| dl(Origin::Local, "alpha", "alpha-1.whl", 1_000 + i, "10.0.0.1"))
            .collect();
        batch.push(dl(
            Origin::Upstream,
            "ctx",
            "ctx-0.2.2.tar.gz",
            5_000,
            "10.0.0.7",
        ));
        batch.push(DownloadRecord {
            ip: None,
            user_agent: None,
            ..dl(Origin::Upstream, "ctx", "ctx-0.2.2.tar.gz", 6_000, "")
        });
        assert_eq!(
            db.insert_downloads(&batch).await.expect("insert"),
            452,
            "{name}"
        );

        let ctx = db.downloads_of("ctx", 0, 100).await.expect("read");
        assert_eq!(ctx.len(), 2, "{name}");
        assert_eq!(ctx[0].at, 6_000, "{name}: newest first");
        assert_eq!(ctx[0].ip, None, "{name}");
        assert_eq!(ctx[1], batch[450], "{name}: read back as written");
        assert_eq!(ctx[1].origin, Origin::Upstream, "{name}");
        assert_eq!(
            db.downloads_of("ctx", 5_500, 100)
                .await
                .expect("since")
                .len(),
            1,
            "{name}"
        );
        assert_eq!(
            db.downloads_of("alpha", 0, 10).await.expect("limit").len(),
            10,
            "{name}"
        );
        assert!(
            db.downloads_of("nobody", 0, 10)
                .await
                .expect("none")
                .is_empty(),
            "{name}"
        );
    }
}

#[tokio::test]
async fn old_downloads_are_folded_into_daily_counts_once() {
    for (name, db, _d) in backends().await {
        let day1 = 20_000 * DAY_US;
        let day2 = day1 + DAY_US;
        let mut batch = Vec::new();
        for i in 0..5 {
            batch.push(dl(
                Origin::Upstream,
                "ctx",
                "ctx-0.2.2.tar.gz",
                day1 + 10 + i,
                "10.0.0.7",
            ));
        }
        for i in 0..3 {
            batch.push(dl(
                Origin::Upstream,
                "ctx",
                "ctx-0.2.2.tar.gz",
                day2 + 10 + i,
                "10.0.0.8",
            ));
        }
        batch.push(dl(
            Origin::Local,
            "ctx",
            "ctx-0.2.2-py3-none-any.whl",
            day2 + 99,
            "10.0.0.9",
        ));
        let recent = day2 + 5 * DAY_US;
        batch.push(dl(
            Origin::Upstream,
            "ctx",
            "ctx-0.2.2.tar.gz",
            recent,
            "10.0.0.10",
        ));
        db.insert_downloads(&batch).await.expect("insert");

        // Bounded steps: four rows at a time, until less than a full step is left.
        let before = day2 + 2 * DAY_US;
        let mut folded = Vec::new();
        loop {
            let n = db.fold_downloads(before, 4).await.expect("fold");
            folded.push(n);
            if n < 4 {
                break;
            }
        }
        assert_eq!(folded, [4, 4, 1], "{name}");
        assert_eq!(
            db.fold_downloads(before, 4).await.expect("again"),
            0,
            "{name}"
        );

        let left = db.downloads_of("ctx", 0, 100).await.expect("left");
        assert_eq!(
            left.len(),
            1,
            "{name}: only the recent row keeps its address"
        );
        assert_eq!(left[0].ip.as_deref(), Some("10.0.0.10"), "{name}");

        let counts = db.download_counts_of("ctx", 0, 100).await.expect("counts");
        let got: Vec<(i64, &str, Origin, i64)> = counts
            .iter()
            .map(|c| (c.day, c.filename.as_str(), c.origin, c.count))
            .collect();
        assert_eq!(
            got,
            [
                (day2, "ctx-0.2.2-py3-none-any.whl", Origin::Local, 1),
                (day2, "ctx-0.2.2.tar.gz", Origin::Upstream, 3),
                (day1, "ctx-0.2.2.tar.gz", Origin::Upstream, 5),
            ],
            "{name}"
        );
        assert_eq!(
            db.download_counts_of("ctx", day2 + 7, 100)
                .await
                .expect("since")
                .len(),
            2,
            "{name}: --since a time inside a day includes that day's counts"
        );

        // A later fold of the same day adds to its count instead of a second row.
        db.insert_downloads(&[dl(
            Origin::Upstream,
            "ctx",
            "ctx-0.2.2.tar.gz",
            day1 + 50,
            "10.0.0.7",
        )])
        .await
        .expect("late");
        assert_eq!(
            db.fold_downloads(before, 100).await.expect("fold"),
            1,
            "{name}"
        );
        let counts = db
            .download_counts_of("ctx", day1, 100)
            .await
            .expect("counts");
        assert_eq!(counts.last().map(|c| c.count), Some(6), "{name}");

        // First seen and totals span rows and counts.
        let files = db.downloaded_files("ctx").await.expect("files");
        let got: Vec<(&str, Origin, i64, i64)> = files
            .iter()
            .map(|f| (f.filename.as_str(), f.origin, f.first_seen, f.downloads))
            .collect();
        assert_eq!(
            got,
            [
                ("ctx-0.2.2.tar.gz", Origin::Upstream, day_of(day1), 10),
                ("ctx-0.2.2-py3-none-any.whl", Origin::Local, day2, 1),
            ],
            "{name}"
        );
    }
}
