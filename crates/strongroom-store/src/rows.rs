//! Running a read and mapping its rows to model structs: the one shape every store reader shares.

use sqlx::any::{AnyArguments, AnyRow};
use sqlx::{Any, Executor};

use crate::StoreError;

/// A query over the `Any` driver with its parameters bound.
pub(crate) type AnyQuery<'q> = sqlx::query::Query<'q, Any, AnyArguments>;

/// Reads one row into a model struct.
pub(crate) type RowMap<T> = fn(&AnyRow) -> Result<T, sqlx::Error>;

/// A query from SQL text built at run time (column lists and filters are constants of the
/// store, never input; every value is a bound `$n` parameter).
pub(crate) fn query(sql: String) -> AnyQuery<'static> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
}

/// Every row the query returns, mapped.
pub(crate) async fn all<'c, E, T>(
    q: AnyQuery<'_>,
    exec: E,
    map: RowMap<T>,
) -> Result<Vec<T>, StoreError>
where
    E: Executor<'c, Database = Any>,
{
    let rows = q.fetch_all(exec).await?;
    Ok(rows.iter().map(map).collect::<Result<_, _>>()?)
}

/// The row the query returns, if any, mapped.
pub(crate) async fn optional<'c, E, T>(
    q: AnyQuery<'_>,
    exec: E,
    map: RowMap<T>,
) -> Result<Option<T>, StoreError>
where
    E: Executor<'c, Database = Any>,
{
    let row = q.fetch_optional(exec).await?;
    Ok(row.as_ref().map(map).transpose()?)
}
