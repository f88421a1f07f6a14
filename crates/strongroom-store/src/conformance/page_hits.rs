//! The impact report's counts (`page_hits`, `download_kinds`, `download_addresses`, migration
//! 0028) on both engines: counts added at each flush grow the day's row, downloads per client
//! kind go in with their rows, per-file-per-day counts span rows and folded days, and the
//! distinct addresses of a folded day are counted once, exactly, across fold batches.

use super::backends;
use crate::download_log::{DAY_US, DownloadRecord, Origin};
use crate::page_hits::{DownloadKindCount, PageHitCount};

fn hit(project: &str, day: i64, kind: &str, count: i64) -> PageHitCount {
    PageHitCount {
        project: project.into(),
        day,
        client_kind: kind.into(),
        count,
    }
}

fn dl(filename: &str, at: i64, ip: &str) -> DownloadRecord {
    DownloadRecord {
        origin: Origin::Local,
        project: "ctx".into(),
        version: "0.2.2".into(),
        filename: filename.into(),
        sha256: format!("{:0>64}", filename.len()),
        at,
        ip: Some(ip.into()),
        user_agent: Some("pip/25.0".into()),
    }
}

fn kinds(filename: &str, day: i64, kind: &str, count: i64) -> DownloadKindCount {
    DownloadKindCount {
        origin: Origin::Local,
        project: "ctx".into(),
        version: "0.2.2".into(),
        filename: filename.into(),
        sha256: format!("{:0>64}", filename.len()),
        day,
        client_kind: kind.into(),
        count,
    }
}

#[tokio::test]
async fn page_hits_add_up_per_project_day_and_kind() {
    for (name, db, _d) in backends().await {
        let day1 = 20_000 * DAY_US;
        let day2 = day1 + DAY_US;
        db.add_page_hits(&[]).await.expect("empty");
        // Two flushes of the same day and kind add up; a time inside a day counts for the day.
        db.add_page_hits(&[
            hit("ctx", day1 + 5, "pip", 3),
            hit("ctx", day1, "uv", 2),
            hit("other", day1, "pip", 7),
        ])
        .await
        .expect("first flush");
        db.add_page_hits(&[
            hit("ctx", day1 + 99, "pip", 4),
            hit("ctx", day2, "bandersnatch", 1),
        ])
        .await
        .expect("second flush");
        // More rows than one statement holds.
        let many: Vec<_> = (0..250)
            .map(|i| hit(&format!("p{i}"), day1, "other", 1))
            .collect();
        db.add_page_hits(&many).await.expect("many");

        let got = db.page_hits_of("ctx", 0).await.expect("read");
        assert_eq!(
            got,
            [
                hit("ctx", day1, "pip", 7),
                hit("ctx", day1, "uv", 2),
                hit("ctx", day2, "bandersnatch", 1),
            ],
            "{name}"
        );
        assert_eq!(
            db.page_hits_of("ctx", day2 + 10)
                .await
                .expect("since")
                .len(),
            1,
            "{name}: since a time inside a day includes that day"
        );
        assert_eq!(
            db.page_hits_of("p249", 0).await.expect("p249"),
            [hit("p249", day1, "other", 1)],
            "{name}"
        );
    }
}

#[tokio::test]
async fn downloads_per_kind_file_day_and_distinct_addresses() {
    for (name, db, _d) in backends().await {
        let day1 = 20_000 * DAY_US;
        let day2 = day1 + DAY_US;
        let whl = "ctx-0.2.2-py3-none-any.whl";
        let sdist = "ctx-0.2.2.tar.gz";
        // Day 1: three addresses (one twice) download the wheel; day 2: one the sdist.
        let batch = vec![
            dl(whl, day1 + 1, "10.0.0.1"),
            dl(whl, day1 + 2, "10.0.0.2"),
            dl(whl, day1 + 3, "10.0.0.1"),
            dl(whl, day1 + 4, "10.0.0.3"),
            dl(sdist, day2 + 1, "10.0.0.9"),
        ];
        let counted = [kinds(whl, day1, "pip", 3), kinds(whl, day1, "uv", 1)];
        assert_eq!(
            db.insert_downloads_counted(&batch, &counted)
                .await
                .expect("insert"),
            5,
            "{name}"
        );
        // A second flush of the same day and kind adds to the count.
        db.insert_downloads_counted(
            &[],
            &[
                kinds(sdist, day2, "bandersnatch", 1),
                kinds(whl, day1, "pip", 1),
            ],
        )
        .await
        .expect("counts only");
        let got: Vec<(i64, String, String, i64)> = db
            .download_kinds_of("ctx", 0)
            .await
            .expect("kinds")
            .into_iter()
            .map(|k| (k.day, k.filename, k.client_kind, k.count))
            .collect();
        assert_eq!(
            got,
            [
                (day1, whl.to_owned(), "pip".to_owned(), 4),
                (day1, whl.to_owned(), "uv".to_owned(), 1),
                (day2, sdist.to_owned(), "bandersnatch".to_owned(), 1),
            ],
            "{name}"
        );

        // Addresses on record: listed per release, counted distinct.
        let clients = db.download_clients_of("ctx", 0, 10).await.expect("clients");
        assert_eq!(clients.len(), 4, "{name}");
        assert_eq!(
            (
                clients[0].ip.as_str(),
                clients[0].downloads,
                clients[0].first,
                clients[0].last
            ),
            ("10.0.0.1", 2, day1 + 1, day1 + 3),
            "{name}"
        );
        assert_eq!(
            db.distinct_clients_of("ctx", 0).await.expect("distinct"),
            [("0.2.2".to_owned(), 4)],
            "{name}"
        );
        assert_eq!(
            db.distinct_clients_of("ctx", day2).await.expect("since"),
            [("0.2.2".to_owned(), 1)],
            "{name}"
        );

        // Fold day 1 two rows at a time: its distinct addresses are counted once, exactly.
        let before = day2;
        assert_eq!(
            db.fold_downloads(before, 2).await.expect("fold"),
            2,
            "{name}"
        );
        assert_eq!(
            db.fold_downloads(before, 2).await.expect("fold"),
            2,
            "{name}"
        );
        assert_eq!(
            db.fold_downloads(before, 2).await.expect("fold"),
            0,
            "{name}"
        );
        let addresses = db.address_counts_of("ctx", 0).await.expect("addresses");
        assert_eq!(addresses.len(), 1, "{name}");
        assert_eq!(
            (
                addresses[0].day,
                addresses[0].version.as_str(),
                addresses[0].addresses
            ),
            (day1, "0.2.2", 3),
            "{name}"
        );
        // Per file per day spans the folded day and the rows still on record.
        let per_day: Vec<(i64, String, i64)> = db
            .downloads_per_file_day("ctx", 0)
            .await
            .expect("per day")
            .into_iter()
            .map(|f| (f.day, f.filename, f.count))
            .collect();
        assert_eq!(
            per_day,
            [(day1, whl.to_owned(), 4), (day2, sdist.to_owned(), 1)],
            "{name}"
        );
        assert_eq!(
            db.downloads_per_file_day("ctx", day2 + 5)
                .await
                .expect("since")
                .len(),
            0,
            "{name}: rows before `since` are left out"
        );
    }
}
