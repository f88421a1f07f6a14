//! The two migration folders describe one schema: every migration of `migrations/sqlite` and of
//! `migrations/postgres` applied to a real database of each engine, then read back from the
//! engines' own catalogues (SQLite's `pragma_*`, PostgreSQL's `information_schema`/`pg_index`)
//! and compared: tables, columns, their types (through [`type_class`]), nullability, primary
//! keys and indexes (name, uniqueness, columns, partial or not).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::Db;
use crate::testing;

const SUITE: &str = "store schema parity (the two migration folders)";

/// Differences the engines force on us or that are known to be harmless, each with its reason:
/// `(table, subject, reason)` where `subject` is `column NAME`, `index NAME`, `primary key` or
/// `table`, as in the report. Keep it short: a new difference is a migration to fix.
const KNOWN_DIFFERENCES: &[(&str, &str, &str)] = &[
    (
        "owner_notices",
        "column immediate",
        "a 0/1 flag: 0016 declared it INTEGER on both, which PostgreSQL makes 32-bit; the values fit",
    ),
    (
        "release_search",
        "column document",
        "full-text search: PostgreSQL's weighted tsvector of the row's text, a stored generated \
         column computed once at write (0019); SQLite's FTS5 table release_search_fts holds it",
    ),
    (
        "release_search",
        "index release_search_document",
        "full-text search: PostgreSQL's GIN index on the stored column document; SQLite keeps the \
         same text in the FTS5 virtual table release_search_fts (0019), whose tables are not compared",
    ),
];

/// A column as both engines can say it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Column {
    class: String,
    nullable: bool,
}

/// An index, keyed by its name when a migration named it (`CREATE INDEX`) and by what it covers
/// when an engine made it for a `UNIQUE` constraint (the engines name those differently).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Index {
    unique: bool,
    columns: Vec<String>,
    partial: bool,
}

#[derive(Debug, Default, PartialEq, Eq)]
struct Table {
    columns: BTreeMap<String, Column>,
    primary_key: Vec<String>,
    indexes: BTreeMap<String, Index>,
}

type Schema = BTreeMap<String, Table>;

/// The type a column's declared type stands for, the same word on both engines where they mean
/// the same values; an unknown type comes back as `?<declared>` and so never matches.
fn type_class(declared: &str) -> String {
    let t = declared.trim().to_ascii_lowercase();
    let class = match t.as_str() {
        // SQLite stores every integer in up to 8 bytes: its INTEGER is PostgreSQL's BIGINT.
        "integer" | "bigint" | "int8" | "int" => "int64",
        "text" | "character varying" | "varchar" => "text",
        "blob" | "bytea" => "bytes",
        "boolean" | "bool" => "bool",
        "real" | "double precision" | "float8" => "float64",
        _ => return format!("?{declared}"),
    };
    class.to_owned()
}

/// On PostgreSQL `integer` is 4 bytes: a 64-bit SQLite column mapped onto it would overflow.
fn pg_type_class(data_type: &str) -> String {
    match data_type {
        "integer" => "int32".to_owned(),
        "smallint" => "int16".to_owned(),
        other => type_class(other),
    }
}

async fn sqlite_schema(db: &Db) -> Schema {
    let pool = &db.read;
    let tables: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    // Virtual tables (full-text search) and their shadow tables are engine machinery.
    let virtual_tables: Vec<&str> = tables
        .iter()
        .filter(|(_, sql)| {
            sql.as_deref()
                .is_some_and(|s| s.to_ascii_uppercase().starts_with("CREATE VIRTUAL TABLE"))
        })
        .map(|(n, _)| n.as_str())
        .collect();
    let mut schema = Schema::new();
    for (name, _) in &tables {
        if virtual_tables
            .iter()
            .any(|v| name == v || name.starts_with(&format!("{v}_")))
        {
            continue;
        }
        let mut table = Table::default();
        let cols: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?) ORDER BY cid",
        )
        .bind(name)
        .fetch_all(pool)
        .await
        .expect("columns");
        let mut pk: Vec<(i64, String)> = Vec::new();
        for (col, declared, notnull, pk_pos) in cols {
            if pk_pos > 0 {
                pk.push((pk_pos, col.clone()));
            }
            // A primary key column is NOT NULL on PostgreSQL whatever it declares; SQLite's
            // INTEGER PRIMARY KEY is the rowid, never NULL either.
            let nullable = notnull == 0 && pk_pos == 0;
            table.columns.insert(
                col,
                Column {
                    class: type_class(&declared),
                    nullable,
                },
            );
        }
        pk.sort();
        table.primary_key = pk.into_iter().map(|(_, c)| c).collect();
        let indexes: Vec<(String, i64, String, i64)> =
            sqlx::query_as("SELECT name, \"unique\", origin, partial FROM pragma_index_list(?)")
                .bind(name)
                .fetch_all(pool)
                .await
                .expect("indexes");
        for (index, unique, origin, partial) in indexes {
            if origin == "pk" {
                continue;
            }
            let columns: Vec<Option<String>> =
                sqlx::query_scalar("SELECT name FROM pragma_index_info(?) ORDER BY seqno")
                    .bind(&index)
                    .fetch_all(pool)
                    .await
                    .expect("index columns");
            let columns: Vec<String> = columns
                .into_iter()
                .map(|c| c.unwrap_or_else(|| "(expression)".to_owned()))
                .collect();
            let key = if origin == "c" {
                index
            } else {
                format!("unique({})", columns.join(","))
            };
            table.indexes.insert(
                key,
                Index {
                    unique: unique != 0,
                    columns,
                    partial: partial != 0,
                },
            );
        }
        schema.insert(name.clone(), table);
    }
    schema
}

async fn postgres_schema(db: &Db) -> Schema {
    let pool = &db.read;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS TEXT) FROM information_schema.tables \
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .expect("tables");
    let mut schema = Schema::new();
    for name in tables {
        let mut table = Table::default();
        let cols: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT CAST(column_name AS TEXT), CAST(data_type AS TEXT), CAST(is_nullable AS TEXT) \
             FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(&name)
        .fetch_all(pool)
        .await
        .expect("columns");
        for (col, data_type, nullable) in cols {
            table.columns.insert(
                col,
                Column {
                    class: pg_type_class(&data_type),
                    nullable: nullable == "YES",
                },
            );
        }
        let indexes: Vec<(String, bool, bool, bool, bool)> = sqlx::query_as(
            "SELECT CAST(c.relname AS TEXT), i.indisunique, i.indisprimary, i.indpred IS NOT NULL, \
                    EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) \
             FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
             WHERE i.indrelid = CAST($1 AS regclass)",
        )
        .bind(&name)
        .fetch_all(pool)
        .await
        .expect("indexes");
        for (index, unique, primary, partial, from_constraint) in indexes {
            let columns: Vec<String> = sqlx::query_scalar(
                "SELECT CAST(COALESCE(a.attname, '(expression)') AS TEXT) \
                 FROM pg_index i \
                 CROSS JOIN LATERAL unnest(CAST(i.indkey AS int2[])) WITH ORDINALITY AS k(attnum, n) \
                 LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
                 WHERE i.indexrelid = CAST($1 AS regclass) ORDER BY k.n",
            )
            .bind(&index)
            .fetch_all(pool)
            .await
            .expect("index columns");
            if primary {
                table.primary_key = columns;
                continue;
            }
            let key = if from_constraint {
                format!("unique({})", columns.join(","))
            } else {
                index
            };
            table.indexes.insert(
                key,
                Index {
                    unique,
                    columns,
                    partial,
                },
            );
        }
        schema.insert(name, table);
    }
    schema
}

/// One `(table, subject, detail)` per difference, in a stable order (`None`: not on that side).
fn differences(sqlite: &Schema, postgres: &Schema) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let names: BTreeSet<&String> = sqlite.keys().chain(postgres.keys()).collect();
    for name in names {
        let (s, p) = match (sqlite.get(name), postgres.get(name)) {
            (Some(s), Some(p)) => (s, p),
            (Some(_), None) => {
                out.push((
                    name.clone(),
                    "table".to_owned(),
                    "only on sqlite".to_owned(),
                ));
                continue;
            }
            (None, Some(_)) => {
                out.push((
                    name.clone(),
                    "table".to_owned(),
                    "only on postgres".to_owned(),
                ));
                continue;
            }
            (None, None) => continue,
        };
        let cols: BTreeSet<&String> = s.columns.keys().chain(p.columns.keys()).collect();
        for col in cols {
            match (s.columns.get(col), p.columns.get(col)) {
                (Some(a), Some(b)) if a == b => {}
                (a, b) => out.push((
                    name.clone(),
                    format!("column {col}"),
                    format!("sqlite {a:?}, postgres {b:?}"),
                )),
            }
        }
        if s.primary_key != p.primary_key {
            out.push((
                name.clone(),
                "primary key".to_owned(),
                format!("sqlite {:?}, postgres {:?}", s.primary_key, p.primary_key),
            ));
        }
        let indexes: BTreeSet<&String> = s.indexes.keys().chain(p.indexes.keys()).collect();
        for index in indexes {
            match (s.indexes.get(index), p.indexes.get(index)) {
                (Some(a), Some(b)) if a == b => {}
                (a, b) => out.push((
                    name.clone(),
                    format!("index {index}"),
                    format!("sqlite {a:?}, postgres {b:?}"),
                )),
            }
        }
    }
    out
}

#[tokio::test]
async fn both_migration_folders_make_the_same_schema() {
    let Some(pg) = testing::postgres(SUITE).await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = testing::sqlite(dir.path()).await;
    let (s, p) = (sqlite_schema(&sqlite).await, postgres_schema(&pg).await);
    // The readers see what they should, so an empty difference means something.
    for schema in [&s, &p] {
        let users = schema.get("users").expect("a users table");
        assert!(users.columns.contains_key("username"), "{users:?}");
        assert_eq!(users.primary_key, vec!["id".to_owned()]);
        assert!(
            schema.values().any(|t| !t.indexes.is_empty()),
            "indexes are read"
        );
        assert!(schema.contains_key("schema_migrations"));
    }
    let mut report = String::new();
    for (table, subject, detail) in differences(&s, &p) {
        let known = KNOWN_DIFFERENCES
            .iter()
            .any(|(t, w, _)| *t == table && *w == subject);
        if !known {
            let _ = writeln!(report, "  {table}: {subject}: {detail}");
        }
    }
    assert!(
        report.is_empty(),
        "the migration folders disagree (fix the migration, or add the difference an engine \
         forces to KNOWN_DIFFERENCES with its reason):\n{report}"
    );
}

#[test]
fn the_comparison_sees_a_changed_type_nullability_and_index() {
    let table = |class: &str, nullable: bool, unique: bool| Table {
        columns: [(
            "name".to_owned(),
            Column {
                class: class.to_owned(),
                nullable,
            },
        )]
        .into(),
        primary_key: vec!["id".into()],
        indexes: [(
            "by_name".to_owned(),
            Index {
                unique,
                columns: vec!["name".into()],
                partial: false,
            },
        )]
        .into(),
    };
    let one = |t: Table| Schema::from([("t".to_owned(), t)]);
    let base = one(table("text", false, true));
    assert!(differences(&base, &one(table("text", false, true))).is_empty());
    for other in [
        table("int64", false, true),
        table("text", true, true),
        table("text", false, false),
    ] {
        assert_eq!(differences(&base, &one(other)).len(), 1);
    }
    assert_eq!(type_class("INTEGER"), pg_type_class("bigint"));
    assert_ne!(type_class("INTEGER"), pg_type_class("integer"));
    assert!(type_class("JSONB").starts_with('?'));
}
