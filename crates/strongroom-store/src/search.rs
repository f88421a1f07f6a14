//! Full-text search over projects' names, summaries and descriptions (SQLite FTS5, PostgreSQL
//! text search), and the project list's cards. Each release gets one `release_search` row when it
//! is published; a search only ever returns projects and releases the public filters of
//! `crate::visibility` admit, applied at query time, so quarantine, removal and holds need no
//! index update and cannot leave a hidden project findable.
//!
//! A search's cost is bounded on both engines: the document is computed once, when the row is
//! written (FTS5's index; PostgreSQL's stored `document` column with its GIN index), never per
//! row at query time; only the first [`MAX_INDEXED_DESCRIPTION`] characters of a description are
//! indexed; and on PostgreSQL one search may use the database for at most
//! [`SEARCH_STATEMENT_TIMEOUT_MS`] (a slower one is cancelled: [`StoreError::is_statement_timeout`]).

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};
use strongroom_protocol::metadata::CoreMetadata;

use crate::visibility::{PUBLIC_PROJECT, PUBLIC_RELEASE};
use crate::{Db, Dialect, StoreError};

/// A search query's text is cut to this many characters before it is parsed.
pub const MAX_QUERY_CHARS: usize = 200;
/// At most this many words of a query are searched for (all of them must match).
pub const MAX_TERMS: usize = 8;
/// At most this many projects a page.
pub const MAX_PAGE_SIZE: u32 = 100;
/// Results beyond this position are not served (pages past it are empty).
pub const MAX_OFFSET: u32 = 10_000;
/// At most this many characters of a description are indexed (the start of a description says
/// what the project is; the rest would only make every search and every index row dearer).
const MAX_INDEXED_DESCRIPTION: usize = 8 * 1024;
/// PostgreSQL: the most database time one search may take (`SET LOCAL statement_timeout`) before
/// it is cancelled, so no search holds a pooled connection for long.
pub const SEARCH_STATEMENT_TIMEOUT_MS: u32 = 2_000;
/// Words shorter than this match whole words only; longer ones also match as prefixes.
const MIN_PREFIX_CHARS: usize = 3;

/// PostgreSQL's document: the stored column of migration 0019 (the weighted `tsvector` of name,
/// summary and description, computed once when the row is written) that the GIN index
/// `release_search_document` covers. Never an expression here: that would be evaluated per row.
const PG_DOCUMENT: &str = "s.document";

/// A parsed search: the words to find and the text to compare with names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    terms: Vec<String>,
    name_needle: String,
}

impl SearchQuery {
    /// Parse what a user typed: at most [`MAX_QUERY_CHARS`] characters, split into
    /// alphanumeric words (everything else separates them; no query syntax reaches the engine),
    /// at most [`MAX_TERMS`] of them, lowercased.
    pub fn parse(text: &str) -> SearchQuery {
        let text: String = text.chars().take(MAX_QUERY_CHARS).collect();
        let mut terms: Vec<String> = Vec::new();
        for word in text.split(|c: char| !c.is_alphanumeric()) {
            let word = word.to_lowercase();
            if !word.is_empty() && !terms.contains(&word) && terms.len() < MAX_TERMS {
                terms.push(word);
            }
        }
        let normalized = strongroom_protocol::name::normalize(text.trim());
        // only the characters a normalised name holds: nothing LIKE would take as a wildcard
        let name_needle = if !normalized.is_empty()
            && normalized
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            normalized
        } else {
            String::new()
        };
        SearchQuery { terms, name_needle }
    }

    /// Nothing to search for: the list shows every public project.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.name_needle.is_empty()
    }

    /// The FTS5 query: every word quoted (so none is an operator), longer ones as prefixes.
    fn fts5(&self) -> String {
        self.terms
            .iter()
            .map(|t| {
                if t.chars().count() >= MIN_PREFIX_CHARS {
                    format!("\"{t}\"*")
                } else {
                    format!("\"{t}\"")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The `to_tsquery` text: alphanumeric words joined by `&`, longer ones as prefixes.
    fn tsquery(&self) -> String {
        self.terms
            .iter()
            .map(|t| {
                if t.chars().count() >= MIN_PREFIX_CHARS {
                    format!("{t}:*")
                } else {
                    t.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" & ")
    }
}

/// One project found (or listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectHit {
    /// `projects.id`.
    pub project_id: i64,
    /// The display name.
    pub name: String,
    /// The normalised name.
    pub normalized_name: String,
}

/// One page of projects and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPage {
    /// This page's projects: best match first, or by name when nothing was searched for.
    pub hits: Vec<ProjectHit>,
    /// Every project found (or listed), across the pages served (at most [`MAX_OFFSET`] more
    /// than the page's start).
    pub total: i64,
}

/// A public release of a listed project, for its card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardRelease {
    /// `projects.id`.
    pub project_id: i64,
    /// The version as uploaded.
    pub version: String,
    /// When it was published (µs).
    pub created_at: i64,
    /// Whether it is yanked.
    pub yanked: bool,
    /// Its summary ("" when it has none).
    pub summary: String,
}

/// The searchable text of a release: (summary, description), from its core metadata.
fn release_text(core_metadata: &str) -> (String, String) {
    let meta = CoreMetadata::parse(core_metadata.as_bytes()).unwrap_or_default();
    let summary = meta.summary.unwrap_or_default();
    let description: String = meta
        .description
        .unwrap_or_default()
        .chars()
        .take(MAX_INDEXED_DESCRIPTION)
        .collect();
    (summary, description)
}

/// Index one release (inside the transaction that creates it).
pub(crate) async fn index_release(
    tx: &mut Transaction<'_, Any>,
    release_id: i64,
    project_id: i64,
    project_name: &str,
    core_metadata: &str,
) -> Result<(), StoreError> {
    let (summary, description) = release_text(core_metadata);
    sqlx::query(
        "INSERT INTO release_search (release_id, project_id, name, summary, description) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(release_id)
    .bind(project_id)
    .bind(project_name.to_owned())
    .bind(summary)
    .bind(description)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn hit_from_row(r: &AnyRow) -> Result<(ProjectHit, i64), sqlx::Error> {
    Ok((
        ProjectHit {
            project_id: r.try_get(0)?,
            name: r.try_get(1)?,
            normalized_name: r.try_get(2)?,
        },
        r.try_get(3)?,
    ))
}

impl Db {
    /// The public projects matching `query` (all of them, by name, when it is empty), one page:
    /// an exact name first, then the projects one of whose public releases holds every word
    /// (name before summary before description), then the names containing the query.
    pub async fn search_projects(
        &self,
        query: &SearchQuery,
        offset: u32,
        limit: u32,
    ) -> Result<ProjectPage, StoreError> {
        let limit = i64::from(limit.clamp(1, MAX_PAGE_SIZE));
        if offset > MAX_OFFSET {
            return Ok(ProjectPage {
                hits: Vec::new(),
                total: 0,
            });
        }
        let offset = i64::from(offset);
        let (sql, binds) = self.search_sql(query);
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(b);
        }
        let q = q.bind(limit).bind(offset);
        let rows = match self.dialect {
            Dialect::Sqlite => q.fetch_all(&self.read).await?,
            Dialect::Postgres => {
                // bounded: a search never holds a pooled connection for long
                let mut tx = self.read.begin().await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SET LOCAL statement_timeout = {SEARCH_STATEMENT_TIMEOUT_MS}"
                )))
                .execute(&mut *tx)
                .await?;
                let rows = q.fetch_all(&mut *tx).await?;
                tx.commit().await?;
                rows
            }
        };
        let mut hits = Vec::with_capacity(rows.len());
        let mut total = 0;
        for r in &rows {
            let (hit, n) = hit_from_row(r)?;
            total = n;
            hits.push(hit);
        }
        if hits.is_empty() && offset > 0 {
            // past the last page: count on the first
            total = Box::pin(self.search_projects(query, 0, 1)).await?.total;
        }
        Ok(ProjectPage { hits, total })
    }

    /// A search's SQL and its text parameters; the page's limit and offset are the next two.
    pub(crate) fn search_sql(&self, query: &SearchQuery) -> (String, Vec<String>) {
        // Parameters are numbered as they are used: PostgreSQL refuses one it cannot type.
        let mut binds: Vec<String> = Vec::new();
        let mut param = |value: String| {
            binds.push(value);
            format!("${}", binds.len())
        };
        let matches = if query.terms.is_empty() {
            // a query without words (punctuation only) matches names alone
            "SELECT 0 AS project_id, 0.0 AS score WHERE 1 = 0".to_owned()
        } else {
            match self.dialect {
                Dialect::Sqlite => {
                    let q = param(query.fts5());
                    format!(
                        "SELECT s.project_id AS project_id, MIN(m.rank) AS score \
                         FROM (SELECT rowid AS release_id, rank FROM release_search_fts WHERE release_search_fts MATCH {q}) m \
                         JOIN release_search s ON s.release_id = m.release_id JOIN releases r ON r.id = s.release_id \
                         WHERE {PUBLIC_RELEASE} GROUP BY s.project_id"
                    )
                }
                Dialect::Postgres => {
                    let q = param(query.tsquery());
                    format!(
                        "SELECT s.project_id AS project_id, MIN(-ts_rank({PG_DOCUMENT}, to_tsquery('english'::regconfig, {q}))) AS score \
                         FROM release_search s JOIN releases r ON r.id = s.release_id \
                         WHERE {PG_DOCUMENT} @@ to_tsquery('english'::regconfig, {q}) AND {PUBLIC_RELEASE} GROUP BY s.project_id"
                    )
                }
            }
        };
        let (filter, order) = if query.is_empty() {
            ("1 = 1".to_owned(), "p.normalized_name".to_owned())
        } else if query.name_needle.is_empty() {
            (
                "h.project_id IS NOT NULL".to_owned(),
                "h.score, p.normalized_name".to_owned(),
            )
        } else {
            let like = param(format!("%{}%", query.name_needle));
            let exact = param(query.name_needle.clone());
            (
                format!("(h.project_id IS NOT NULL OR p.normalized_name LIKE {like})"),
                format!(
                    "CASE WHEN p.normalized_name = {exact} THEN 0 WHEN h.project_id IS NOT NULL THEN 1 ELSE 2 END, \
                     COALESCE(h.score, 0), p.normalized_name"
                ),
            )
        };
        let n = binds.len();
        let sql = format!(
            "WITH hits AS ({matches}) \
             SELECT p.id, p.name, p.normalized_name, COUNT(*) OVER () AS total \
             FROM projects p LEFT JOIN hits h ON h.project_id = p.id \
             WHERE {PUBLIC_PROJECT} AND {filter} ORDER BY {order} LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        (sql, binds)
    }

    /// The public releases of these projects (none of a project the public does not see) with
    /// their summaries, for the list's cards (newest first within a project).
    pub async fn card_releases(&self, project_ids: &[i64]) -> Result<Vec<CardRelease>, StoreError> {
        if project_ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = project_ids
            .iter()
            .take(MAX_PAGE_SIZE as usize)
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT r.project_id, r.version, r.created_at, r.yanked_at, COALESCE(s.summary, '') \
             FROM releases r JOIN projects p ON p.id = r.project_id LEFT JOIN release_search s ON s.release_id = r.id \
             WHERE r.project_id IN ({ids}) AND {PUBLIC_PROJECT} AND {PUBLIC_RELEASE} ORDER BY r.project_id, r.created_at DESC, r.id DESC"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.read)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(CardRelease {
                    project_id: r.try_get(0)?,
                    version: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                    yanked: r.try_get::<Option<i64>, _>(3)?.is_some(),
                    summary: r.try_get(4)?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_carry_no_engine_syntax_and_are_bounded() {
        let q = SearchQuery::parse("  NEAR(\"x\" OR y*) -- ' ; drop");
        assert_eq!(q.terms, ["near", "x", "or", "y", "drop"]);
        assert_eq!(q.fts5(), "\"near\"* \"x\" \"or\" \"y\" \"drop\"*");
        assert_eq!(q.tsquery(), "near:* & x & or & y & drop:*");
        assert_eq!(q.name_needle, "");
        let long = "word ".repeat(1000) + &"a b c d e f g h i j k ".repeat(10);
        let q = SearchQuery::parse(&long);
        assert!(q.terms.len() <= MAX_TERMS);
        assert!(SearchQuery::parse(&"x".repeat(10_000)).terms[0].len() <= MAX_QUERY_CHARS);
        let q = SearchQuery::parse("Django_REST.framework");
        assert_eq!(q.name_needle, "django-rest-framework");
        assert_eq!(q.terms, ["django", "rest", "framework"]);
        assert!(SearchQuery::parse(" ;; ").is_empty());
        assert_eq!(SearchQuery::parse("100%").name_needle, "");
    }

    #[test]
    fn descriptions_are_indexed_up_to_a_bound() {
        let body = "y".repeat(MAX_INDEXED_DESCRIPTION + 10);
        let meta = format!("Metadata-Version: 2.1\nName: x\nVersion: 1\nSummary: S\n\n{body}");
        let (summary, description) = release_text(&meta);
        assert_eq!(summary, "S");
        assert_eq!(description.len(), MAX_INDEXED_DESCRIPTION);
    }
}
