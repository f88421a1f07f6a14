//! Stored confusable skeletons kept in step with the one fold in `strongroom-protocol`: a database
//! written by an older fold has its projects' and prohibited names' skeletons re-folded on migrate.

use sqlx::{Any, Row, Transaction};
use strongroom_protocol::name::skeleton;

use crate::StoreError;

/// The fold `strongroom_protocol::name::skeleton` implements: raise it whenever that function
/// changes what it returns for any name, and `migrate` re-folds the stored skeletons once
/// (migration 0014 records the fold they were made with; 0 = the older l/i/1, o/0 fold).
pub(crate) const FOLD_VERSION: i64 = 1;

/// Re-fold every stored skeleton that differs from today's fold of its name; returns how many
/// rows changed. Projects whose names were moved out of the way (`~removed~`) are left alone.
/// Projects are re-folded oldest first; one whose new skeleton another project already holds
/// keeps its old one (the holder already refuses the skeleton; both existed before the fold grew).
pub(crate) async fn refold(tx: &mut Transaction<'static, Any>) -> Result<u64, StoreError> {
    let mut changed = 0;
    let rows = sqlx::query("SELECT id, name, ultranormalized_name FROM projects ORDER BY id")
        .fetch_all(&mut **tx)
        .await?;
    for r in &rows {
        let (id, name, stored): (i64, String, String) = (
            r.try_get("id")?,
            r.try_get("name")?,
            r.try_get("ultranormalized_name")?,
        );
        let folded = skeleton(&name);
        if stored == folded || stored.contains("~removed~") {
            continue;
        }
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM projects WHERE ultranormalized_name = $1")
                .bind(folded.clone())
                .fetch_optional(&mut **tx)
                .await?;
        if let Some(other) = taken {
            tracing::warn!(project = %name, other_project = other, skeleton = %folded,
                "two existing projects share a confusable skeleton: this one keeps its old one");
            continue;
        }
        sqlx::query("UPDATE projects SET ultranormalized_name = $1 WHERE id = $2")
            .bind(folded)
            .bind(id)
            .execute(&mut **tx)
            .await?;
        changed += 1;
    }
    let rows =
        sqlx::query("SELECT normalized_name, name, ultranormalized_name FROM prohibited_names")
            .fetch_all(&mut **tx)
            .await?;
    for r in &rows {
        let (key, name, stored): (String, String, String) = (
            r.try_get("normalized_name")?,
            r.try_get("name")?,
            r.try_get("ultranormalized_name")?,
        );
        let folded = skeleton(&name);
        if stored != folded {
            sqlx::query(
                "UPDATE prohibited_names SET ultranormalized_name = $1 WHERE normalized_name = $2",
            )
            .bind(folded)
            .bind(key)
            .execute(&mut **tx)
            .await?;
            changed += 1;
        }
    }
    Ok(changed)
}
