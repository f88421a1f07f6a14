//! Refusals counted per bucket per window (`refusal_windows`, migration 0017): the first is
//! logged, the rest counted, the closed window summarised once, on both engines.

use super::backends;
use crate::NewEvent;
use crate::refusal_windows::{RefusalCounted, RefusalWindow};

fn refusal(at: i64) -> NewEvent {
    NewEvent {
        at,
        action: "token:use:refused".into(),
        subject_kind: "user".into(),
        subject_id: Some(7),
        subject_name: Some("alice".into()),
        details: serde_json::json!({"token_id": 3}),
        ..NewEvent::default()
    }
}

fn summary(w: &RefusalWindow, first: Option<&crate::model::Event>) -> NewEvent {
    NewEvent {
        at: w.last_at,
        action: "refusal:counted".into(),
        subject_kind: first.map_or("site".into(), |e| e.subject_kind.clone()),
        subject_name: first.and_then(|e| e.subject_name.clone()),
        details: serde_json::json!({"action": w.action, "count": w.count, "first_seq": w.first_seq}),
        ..NewEvent::default()
    }
}

#[tokio::test]
async fn refusals_are_logged_once_per_window_and_counted() {
    for (name, db, _d) in backends().await {
        let window = 100;
        let mut logged = Vec::new();
        for at in 1..=40 {
            let out = db
                .count_refusal("b1", "token:3", &refusal(at), at, at - window, &summary)
                .await
                .expect("count");
            if let RefusalCounted::Logged { seq } = out {
                logged.push(seq);
            }
        }
        assert_eq!(logged.len(), 1, "{name}: one event for forty refusals");
        // Another bucket has its own window.
        let other = db
            .count_refusal("b2", "token:4", &refusal(41), 41, 41 - window, &summary)
            .await
            .expect("count");
        assert!(matches!(other, RefusalCounted::Logged { .. }), "{name}");
        let open = db.open_refusal_windows().await.expect("open");
        assert_eq!(
            open.iter()
                .map(|w| (w.bucket.as_str(), w.count))
                .collect::<Vec<_>>(),
            [("b1", 40), ("b2", 1)],
            "{name}"
        );
        assert_eq!(open[0].last_at, 40, "{name}");
        // Closing: b1 (opened at 1) closes with its summary, b2 (opened at 41) stays open.
        let closed = db.close_refusal_windows(30, &summary).await.expect("close");
        assert_eq!(closed.len(), 1, "{name}");
        assert_eq!(closed[0].count, 40, "{name}");
        let events = db.events(0, 100).await.expect("events");
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["token:use:refused", "token:use:refused", "refusal:counted"],
            "{name}"
        );
        let d: serde_json::Value = serde_json::from_str(&events[2].details).expect("json");
        assert_eq!(d["count"], 40, "{name}");
        assert_eq!(d["first_seq"], logged[0], "{name}");
        assert_eq!(events[2].subject_name.as_deref(), Some("alice"), "{name}");
        // Closing again changes nothing; a window of one leaves no summary.
        assert!(
            db.close_refusal_windows(30, &summary)
                .await
                .expect("again")
                .is_empty()
        );
        db.close_refusal_windows(1000, &summary)
            .await
            .expect("close b2");
        assert_eq!(db.events(0, 100).await.expect("events").len(), 3, "{name}");
        // A refusal after its bucket's window expired (not yet closed by the job) closes it
        // with its summary and opens a new one.
        for at in [500, 510, 520] {
            db.count_refusal(
                "b3",
                "ip:192.0.2.1",
                &refusal(at),
                at,
                at - window,
                &summary,
            )
            .await
            .expect("count");
        }
        let out = db
            .count_refusal(
                "b3",
                "ip:192.0.2.1",
                &refusal(700),
                700,
                700 - window,
                &summary,
            )
            .await
            .expect("count");
        assert!(matches!(out, RefusalCounted::Logged { .. }), "{name}");
        let events = db.events(3, 100).await.expect("events");
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            ["token:use:refused", "refusal:counted", "token:use:refused"],
            "{name}"
        );
        assert!(
            db.verify_events().await.expect("verify").is_none(),
            "{name}"
        );
    }
}
