//! The upstream generation (migration 0020): a counter bumped in every transaction that changes
//! what the gateway may serve (upstream rules, advisory imports), read with each upstream page,
//! so no server serves a cached upstream page or JSON document built before such a change.

use sqlx::AnyConnection;

use crate::{Db, StoreError};

impl Db {
    /// The current generation.
    pub async fn upstream_generation(&self) -> Result<i64, StoreError> {
        let g: Option<i64> =
            sqlx::query_scalar("SELECT generation FROM upstream_generation WHERE id = 1")
                .fetch_optional(&self.read)
                .await?;
        Ok(g.unwrap_or(0))
    }

    /// Bump the generation on its own (a change made outside a store transaction).
    pub async fn bump_upstream_generation(&self) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        let g = bump_upstream_generation_in(&mut tx).await?;
        tx.commit().await?;
        Ok(g)
    }
}

/// Bump the generation inside the caller's transaction; returns the new value.
pub(crate) async fn bump_upstream_generation_in(
    conn: &mut AnyConnection,
) -> Result<i64, StoreError> {
    let g: i64 = sqlx::query_scalar(
        "UPDATE upstream_generation SET generation = generation + 1 WHERE id = 1 RETURNING generation",
    )
    .fetch_one(&mut *conn)
    .await?;
    crate::change_feed::generation_bumped(conn, g).await?;
    Ok(g)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn the_generation_counts_up_on_every_backend() {
        for (name, db, _dir) in crate::conformance::backends().await {
            assert_eq!(db.upstream_generation().await.expect("read"), 0, "{name}");
            assert_eq!(
                db.bump_upstream_generation().await.expect("bump"),
                1,
                "{name}"
            );
            assert_eq!(
                db.bump_upstream_generation().await.expect("bump"),
                2,
                "{name}"
            );
            assert_eq!(db.upstream_generation().await.expect("read"), 2, "{name}");
        }
    }
}
