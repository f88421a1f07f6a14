//! The gateway's hot-path read (issue 12's performance bar): what `/simple/<p>/`,
//! `/pypi/<p>/json` and `/upstream/files/…` need to know about a name, in one query: the local
//! project of that name (any state), whether a prohibited name matches it or its skeleton, the
//! upstream generation (rules and advisories), whether the name has upstream rules or
//! advisories at all (so a name with neither needs no further read to be filtered), the stored
//! upstream page's stamp (no page body) and, for a file, the kept copy and the metadata kept on
//! its own. A local page costs one read; so does a cached upstream one.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::model::Project;
use crate::states::ProjectStatus;
use crate::{Db, StoreError, UpstreamFileRow, UpstreamMetadataRow};

/// The stored upstream page without its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageStamp {
    pub upstream_url: String,
    pub found: bool,
    pub confirmed_at: i64,
    pub revision: i64,
    pub last_used_at: i64,
}

/// Everything the hot path asks about one name, read at once.
#[derive(Debug, Clone)]
pub struct GatewayLookup {
    /// The local project of that name, in any state.
    pub project: Option<Project>,
    /// A prohibited name equals the name or its skeleton.
    pub prohibited: bool,
    /// `upstream_generation` (bumped by rules and advisory imports).
    pub generation: i64,
    /// The stored upstream page, when there is one.
    pub page: Option<PageStamp>,
    /// The kept upstream file asked about (by sha256), when asked and kept.
    pub kept: Option<UpstreamFileRow>,
    /// The metadata kept on its own for the file asked about, when asked and kept so.
    pub lone_metadata: Option<UpstreamMetadataRow>,
    /// An upstream rule (allow or block) names the project.
    pub has_rules: bool,
    /// An advisory (of any kind, withdrawn or not) names the project.
    pub has_advisories: bool,
}

const SQL: &str = "SELECT pr.id AS id, pr.name AS name, pr.normalized_name AS normalized_name, \
     pr.created_at AS created_at, pr.status AS status, pr.last_serial AS last_serial, \
     pr.total_size AS total_size, pr.status_reason AS status_reason, \
     CASE WHEN EXISTS (SELECT 1 FROM prohibited_names \
        WHERE normalized_name = $1 OR ultranormalized_name = $2) THEN 1 ELSE 0 END AS prohibited, \
     COALESCE((SELECT generation FROM upstream_generation WHERE id = 1), 0) AS generation, \
     CASE WHEN EXISTS (SELECT 1 FROM upstream_rules WHERE project = $1) THEN 1 ELSE 0 END AS has_rules, \
     CASE WHEN EXISTS (SELECT 1 FROM advisories WHERE project = $1) THEN 1 ELSE 0 END AS has_advisories, \
     up.upstream_url AS up_url, up.found AS up_found, up.confirmed_at AS up_confirmed, \
     up.revision AS up_revision, up.last_used_at AS up_used, \
     uf.sha256 AS f_sha256, uf.blob_key AS f_blob_key, uf.project AS f_project, \
     uf.version AS f_version, uf.filename AS f_filename, uf.size AS f_size, \
     uf.upstream_url AS f_upstream_url, uf.first_seen_at AS f_first_seen, \
     uf.last_download_at AS f_last_download, uf.metadata_sha256 AS f_metadata_sha256, \
     uf.has_metadata AS f_has_metadata, \
     um.sha256 AS m_sha256, um.blob_key AS m_blob_key, um.project AS m_project, \
     um.filename AS m_filename, um.metadata_sha256 AS m_metadata_sha256, um.size AS m_size, \
     um.first_seen_at AS m_first_seen, um.last_download_at AS m_last_download \
     FROM (SELECT 1 AS one) o \
     LEFT JOIN projects pr ON pr.normalized_name = $1 \
     LEFT JOIN upstream_pages up ON up.project = $1 \
     LEFT JOIN upstream_files uf ON uf.sha256 = $3 \
     LEFT JOIN upstream_metadata um ON um.sha256 = $3";

fn lookup_from_row(r: &AnyRow) -> Result<GatewayLookup, sqlx::Error> {
    let project = match r.try_get::<Option<i64>, _>("id")? {
        Some(id) => Some(Project {
            id,
            name: r.try_get("name")?,
            normalized_name: r.try_get("normalized_name")?,
            created_at: r.try_get("created_at")?,
            status: ProjectStatus::decode("projects.status", &r.try_get::<String, _>("status")?)?,
            last_serial: r.try_get("last_serial")?,
            total_size: r.try_get("total_size")?,
            status_reason: r.try_get("status_reason")?,
        }),
        None => None,
    };
    let page = match r.try_get::<Option<String>, _>("up_url")? {
        Some(upstream_url) => Some(PageStamp {
            upstream_url,
            found: r.try_get::<i64, _>("up_found")? != 0,
            confirmed_at: r.try_get("up_confirmed")?,
            revision: r.try_get("up_revision")?,
            last_used_at: r.try_get("up_used")?,
        }),
        None => None,
    };
    let kept = match r.try_get::<Option<String>, _>("f_sha256")? {
        Some(sha256) => {
            let has_metadata = r.try_get::<i64, _>("f_has_metadata")? != 0;
            Some(UpstreamFileRow {
                sha256,
                blob_key: r.try_get("f_blob_key")?,
                project: r.try_get("f_project")?,
                version: r.try_get("f_version")?,
                filename: r.try_get("f_filename")?,
                size: r.try_get("f_size")?,
                upstream_url: r.try_get("f_upstream_url")?,
                first_seen_at: r.try_get("f_first_seen")?,
                last_download_at: r.try_get("f_last_download")?,
                metadata_sha256: if has_metadata {
                    r.try_get("f_metadata_sha256")?
                } else {
                    None
                },
            })
        }
        None => None,
    };
    let lone_metadata = match r.try_get::<Option<String>, _>("m_sha256")? {
        Some(sha256) => Some(UpstreamMetadataRow {
            sha256,
            blob_key: r.try_get("m_blob_key")?,
            project: r.try_get("m_project")?,
            filename: r.try_get("m_filename")?,
            metadata_sha256: r.try_get("m_metadata_sha256")?,
            size: r.try_get("m_size")?,
            first_seen_at: r.try_get("m_first_seen")?,
            last_download_at: r.try_get("m_last_download")?,
        }),
        None => None,
    };
    Ok(GatewayLookup {
        project,
        prohibited: r.try_get::<i64, _>("prohibited")? != 0,
        generation: r.try_get("generation")?,
        page,
        kept,
        lone_metadata,
        has_rules: r.try_get::<i64, _>("has_rules")? != 0,
        has_advisories: r.try_get::<i64, _>("has_advisories")? != 0,
    })
}

impl Db {
    /// The hot-path read of `normalized` (its confusable `skeleton` for the prohibited names)
    /// and, when `kept_sha256` is given, of the kept upstream file (or its metadata kept on
    /// its own) with that sha256.
    pub async fn gateway_lookup(
        &self,
        normalized: &str,
        skeleton: &str,
        kept_sha256: Option<&str>,
    ) -> Result<GatewayLookup, StoreError> {
        let r = sqlx::query(SQL)
            .bind(normalized.to_owned())
            .bind(skeleton.to_owned())
            .bind(kept_sha256.unwrap_or("").to_owned())
            .fetch_one(&self.read)
            .await?;
        Ok(lookup_from_row(&r)?)
    }
}
