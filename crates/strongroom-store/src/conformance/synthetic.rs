//! Synthetic data cases (`store::synthetic`): the bulk rows are consistent on every backend:
//! each project has the files asked, serials and event sequence numbers follow on without gaps
//! (the event chain verifies), an append continues them, and the samples are newest wheels.

use std::collections::BTreeMap;

use sqlx::Row;

use super::backends;
use crate::synthetic::{SYNTHETIC_USER_AGENT, SyntheticBlob, SyntheticPlan, synthetic_name};

/// A sampler recording what it was asked and giving made-up digests (distinct per file).
fn sampler(
    asked: &mut Vec<i64>,
) -> impl FnMut(&crate::synthetic::SyntheticSample) -> SyntheticBlob + '_ {
    |s| {
        asked.push(s.file_id);
        let h = format!("{:064x}", s.file_id + 0xabc);
        SyntheticBlob {
            size: 1234,
            md5: "1".repeat(32),
            sha256: h.clone(),
            blake2_256: h.clone(),
            blob_key: format!("{}/{}/{}/{}", &h[0..2], &h[2..4], &h[4..], s.filename),
        }
    }
}

fn plan(projects: u64, files: u32, sample: u64) -> SyntheticPlan {
    SyntheticPlan {
        projects,
        files_per_project: files,
        sample,
        seed: 7,
        description_renderer: 3,
        now: 1_767_225_600_000_000,
    }
}

#[test]
fn synthetic_names_are_valid_and_their_skeletons_unique() {
    let mut seen = std::collections::HashSet::new();
    for i in 1..20_000 {
        let n = synthetic_name(7, i);
        assert!(strongroom_protocol::ProjectName::new(&n).is_ok(), "{n}");
        assert!(seen.insert(strongroom_protocol::name::skeleton(&n)), "{n}");
    }
}

#[tokio::test]
async fn generated_rows_are_consistent_and_an_append_continues_them() {
    for (name, db, _d) in backends().await {
        let mut told = Vec::new();
        let mut asked = Vec::new();
        let r = db
            .generate_synthetic(&plan(7, 5, 2), &mut sampler(&mut asked), |n| told.push(n))
            .await
            .expect("generate");
        assert_eq!(told, [7], "{name}");
        assert_eq!(
            (r.projects, r.releases, r.files, r.journal_entries, r.events),
            (7, 21, 35, 63, 42),
            "{name}"
        );
        assert_eq!(db.project_count().await.expect("count"), 7, "{name}");
        // every project has the files asked, each with its own release's version in its name
        let rows = sqlx::query(
            "SELECT p.normalized_name, p.last_serial, p.total_size, COUNT(f.id), CAST(SUM(f.size) AS BIGINT) FROM projects p \
             JOIN files f ON f.project_id = p.id GROUP BY p.id, p.normalized_name, p.last_serial, p.total_size",
        )
        .fetch_all(&db.read)
        .await
        .expect("rows");
        assert_eq!(rows.len(), 7, "{name}");
        let journal = db.journal_since(0, 1_000).await.expect("journal");
        let serials: Vec<i64> = journal.iter().map(|e| e.serial).collect();
        assert_eq!(serials, (1..=63).collect::<Vec<_>>(), "{name}");
        let mut last: BTreeMap<String, i64> = BTreeMap::new();
        for e in &journal {
            last.insert(
                strongroom_protocol::name::normalize(&e.project_name),
                e.serial,
            );
        }
        for r in &rows {
            let p: String = r.get(0);
            assert_eq!(r.get::<i64, _>(3), 5, "{name} {p}");
            assert_eq!(r.get::<i64, _>(2), r.get::<i64, _>(4), "{name} {p}");
            assert_eq!(Some(&r.get::<i64, _>(1)), last.get(&p), "{name} {p}");
            let project = db.project_by_normalized(&p).await.expect("p").expect("p");
            let files = db.files_of(project.id).await.expect("files");
            let releases = db.releases_of(project.id).await.expect("releases");
            assert_eq!((files.len(), releases.len()), (5, 3), "{name} {p}");
            assert_eq!(
                files.iter().filter(|f| f.packagetype == "sdist").count(),
                2,
                "{name} {p}"
            );
        }
        assert_eq!(db.verify_events().await.expect("verify"), None, "{name}");
        assert_eq!(r.samples.len(), 2, "{name}");
        for s in &r.samples {
            assert!(s.filename.ends_with("-py3-none-any.whl"), "{name} {s:?}");
            let p = db
                .project_by_normalized(&s.normalized_name)
                .await
                .expect("p")
                .expect("p");
            let newest = db.releases_of(p.id).await.expect("r");
            assert!(
                newest.iter().all(|r| r.created_at
                    <= newest
                        .iter()
                        .find(|x| x.version == s.version)
                        .expect("v")
                        .created_at),
                "{name} {s:?}"
            );
        }

        // the sampler's digests are the sampled files' own
        assert_eq!(
            asked,
            r.samples.iter().map(|s| s.file_id).collect::<Vec<_>>(),
            "{name}"
        );
        for s in &r.samples {
            let h = format!("{:064x}", s.file_id + 0xabc);
            let key = format!("{}/{}/{}/{}", &h[0..2], &h[2..4], &h[4..], s.filename);
            let f = db.file_blob_by_key(&key).await.expect("k").expect("k");
            assert_eq!(
                (f.id, f.sha256.as_str(), f.size),
                (s.file_id, h.as_str(), 1234),
                "{name}"
            );
        }

        // an append continues serials, sequence numbers and ids, with new names
        let r2 = db
            .generate_synthetic(&plan(3, 1, 0), &mut sampler(&mut Vec::new()), |_| {})
            .await
            .expect("append");
        assert_eq!(
            (r2.files, r2.journal_entries, r2.samples.len()),
            (3, 9, 0),
            "{name}"
        );
        assert_eq!(db.project_count().await.expect("count"), 10, "{name}");
        let more = db.journal_since(63, 100).await.expect("journal");
        assert_eq!(
            more.iter().map(|e| e.serial).collect::<Vec<_>>(),
            (64..=72).collect::<Vec<_>>(),
            "{name}"
        );
        assert_eq!(db.verify_events().await.expect("verify"), None, "{name}");
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM files WHERE user_agent = $1")
            .bind(SYNTHETIC_USER_AGENT)
            .fetch_one(&db.read)
            .await
            .expect("n");
        assert_eq!(n, 38, "{name}");
    }
}
