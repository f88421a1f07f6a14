//! Project descriptions: rendered to sanitised HTML once, when a release is published (on a
//! blocking thread, never on the async runtime), stored with the release, and rendered again by
//! the periodic job for releases stored before that or by an older renderer. Pages only read the
//! stored HTML; a release not rendered yet shows its text escaped, which is cheap.

use std::time::{Duration, Instant};

use strongroom_protocol::metadata::CoreMetadata;
use strongroom_store::RenderedDescription;

pub use strongroom_render::RENDERER_VERSION;
/// External images in stored descriptions, rewritten when a page is built (the server's image
/// proxy signs them, or they become links).
pub use strongroom_render::images;

use crate::{CoreError, Services};

/// Releases read per batch by the re-render job ...
const JOB_BATCH: i64 = 50;
/// ... holding at most this much core metadata together (each release's may be up to the
/// upload's 8 MiB: fifty of those would be 400 MiB at once).
const JOB_BATCH_BYTES: usize = 16 * 1024 * 1024;
/// At most this many batches per pass of the periodic jobs ...
const JOB_MAX_BATCHES: usize = 20;
/// ... and no new batch after this long (each render is bounded, see strongroom-render).
const JOB_PASS_BUDGET: Duration = Duration::from_secs(20);

/// Render a description (blocking: call it on a blocking thread).
pub fn render(description: Option<&str>, content_type: Option<&str>) -> RenderedDescription {
    RenderedDescription {
        html: strongroom_render::render(description.unwrap_or(""), content_type).html,
        renderer: RENDERER_VERSION,
    }
}

/// Render the description of a release's stored core metadata (blocking). Metadata that no
/// longer parses has no description to show.
pub fn render_metadata(core_metadata: &str) -> RenderedDescription {
    let meta = CoreMetadata::parse(core_metadata.as_bytes()).unwrap_or_default();
    render(
        meta.description.as_deref(),
        meta.description_content_type.as_deref(),
    )
}

/// [`render`] on a blocking thread.
pub(crate) async fn render_blocking(
    description: Option<String>,
    content_type: Option<String>,
) -> Result<RenderedDescription, CoreError> {
    tokio::task::spawn_blocking(move || render(description.as_deref(), content_type.as_deref()))
        .await
        .map_err(|e| CoreError::Internal(format!("rendering the description failed: {e}")))
}

impl Services {
    /// The HTML a page shows for a release's description: the stored rendering, or (for a
    /// release the job has not reached yet) `description` escaped in a `<pre>`. Never renders.
    pub async fn description_html(
        &self,
        release_id: i64,
        description: Option<&str>,
    ) -> Result<String, CoreError> {
        Ok(match self.db.release_description(release_id).await? {
            Some(stored) => stored.html,
            None => strongroom_render::unrendered(description.unwrap_or("")),
        })
    }

    /// The periodic job: render the descriptions of releases stored without one (before
    /// rendering at publish existed) or by an older renderer, in bounded batches per pass.
    /// Idempotent, and safe on several servers at once: a row is written only while it is still
    /// older than this renderer.
    pub(crate) async fn description_job(&self) -> Result<Vec<String>, CoreError> {
        let started = Instant::now();
        let mut after = 0;
        let mut rendered = 0usize;
        for _ in 0..JOB_MAX_BATCHES {
            if started.elapsed() > JOB_PASS_BUDGET {
                break;
            }
            let batch = self
                .db
                .releases_to_render(RENDERER_VERSION, after, JOB_BATCH, JOB_BATCH_BYTES)
                .await?;
            let Some(&(last, _)) = batch.last() else {
                break;
            };
            after = last;
            let done = tokio::task::spawn_blocking(move || {
                batch
                    .into_iter()
                    .map(|(id, core_metadata)| (id, render_metadata(&core_metadata)))
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(|e| CoreError::Internal(format!("rendering descriptions failed: {e}")))?;
            for (id, description) in done {
                if self.db.set_release_description(id, &description).await? {
                    rendered += 1;
                }
            }
        }
        Ok(if rendered == 0 {
            Vec::new()
        } else {
            vec![format!(
                "rendered the descriptions of {rendered} releases (renderer {RENDERER_VERSION})"
            )]
        })
    }
}

#[cfg(test)]
mod tests {
    use strongroom_store::RenderedDescription;

    use crate::RequestMeta;
    use crate::test_harness::{Harness, PW, T0, sdist};

    /// Publish `project` 1.0 straight to the store with `description` in its metadata and no
    /// rendering (as releases stored before rendering at publish); its release id.
    async fn stored_unrendered(h: &Harness, project: &str, description: &str) -> i64 {
        let u = match h.s.db.user_by_name("owner").await.expect("user") {
            Some(u) => u,
            None => {
                h.s.create_user(
                    "owner",
                    "owner@example.org",
                    PW,
                    false,
                    &RequestMeta::default(),
                )
                .await
                .expect("user")
            }
        };
        let mut f = sdist(
            project,
            "1.0",
            &u,
            T0,
            format!("{project}-1.0.tar.gz"),
            project,
        );
        f.core_metadata = format!(
            "Metadata-Version: 2.1\nName: {project}\nVersion: 1.0\nDescription-Content-Type: text/markdown\n\n{description}"
        );
        h.s.db.publish_file(&f).await.expect("publish");
        let p =
            h.s.db
                .project_by_normalized(project)
                .await
                .expect("project")
                .expect("exists");
        h.s.db.releases_of(p.id).await.expect("releases")[0].id
    }

    #[tokio::test]
    async fn the_job_renders_what_publish_did_not_and_what_an_older_renderer_did() {
        let h = Harness::new().await;
        let old = stored_unrendered(&h, "old", "# Old\n\n<script>x</script>").await;
        let stale = stored_unrendered(&h, "stale", "# Stale").await;
        let deep = stored_unrendered(&h, "deep", &">".repeat(100_000)).await;
        h.s.db
            .set_release_description(
                stale,
                &RenderedDescription {
                    html: "<p>from renderer 0</p>".into(),
                    renderer: 0,
                },
            )
            .await
            .expect("set");

        // until the job runs: the text escaped, or the older rendering; nothing is rendered
        let page = |id: i64, d: &'static str| {
            let s = h.s.clone();
            async move { s.description_html(id, Some(d)).await.expect("html") }
        };
        let before = page(old, "# Old\n\n<script>x</script>").await;
        assert!(
            before.starts_with("<pre class=\"description-plain\"># Old"),
            "{before}"
        );
        assert!(before.contains("&lt;script&gt;"), "{before}");
        assert_eq!(page(stale, "# Stale").await, "<p>from renderer 0</p>");

        let report = h.s.run_jobs().await.expect("jobs");
        assert!(report.failures.is_empty(), "{:?}", report.failures);
        assert!(
            report
                .lines
                .iter()
                .any(|l| l.contains("rendered the descriptions of 3 releases")),
            "{:?}",
            report.lines
        );
        let after = page(old, "").await;
        assert!(after.contains("<h1>Old</h1>"), "{after}");
        // Markdown's raw HTML went through the allow-list: the script is gone
        assert!(
            !after.contains("script") && !after.contains("x</"),
            "{after}"
        );
        assert_eq!(page(stale, "").await, "<h1>Stale</h1>\n");
        let deep_html = page(deep, "").await;
        assert!(
            deep_html.contains("description-note") && deep_html.contains("description-plain"),
            "{}",
            &deep_html[..200]
        );

        // idempotent: nothing left to do
        let again = h.s.run_jobs().await.expect("jobs");
        assert!(
            !again.lines.iter().any(|l| l.contains("descriptions")),
            "{:?}",
            again.lines
        );
        assert!(
            h.s.db
                .releases_to_render(super::RENDERER_VERSION, 0, 10, usize::MAX)
                .await
                .expect("todo")
                .is_empty()
        );
    }
}
