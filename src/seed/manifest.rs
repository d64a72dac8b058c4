//! The data manifest: seed, scale, server version and, per table, its row count and a
//! checksum of its contents, computed by Postgres from what was actually stored.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// The ten tables of the Intellacc schema, parents before children.
pub const TABLES: &[&str] = &[
    "users",
    "events",
    "user_shares",
    "posts",
    "follows",
    "mls_key_packages",
    "mls_groups",
    "mls_group_members",
    "mls_group_messages",
    "mls_welcome_messages",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableManifest {
    pub name: String,
    pub rows: i64,
    /// Sum over rows of the first 60 bits of md5(row as text), in decimal. The row text
    /// includes its id, so the checksum pins every row's contents to its position.
    pub checksum: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub generator_version: u32,
    pub seed: u64,
    pub scale: f64,
    pub postgres_version: String,
    pub tables: Vec<TableManifest>,
    /// How the rows were shaped: the generator parameters in force.
    pub shape: serde_json::Value,
    /// Sizes and cohorts of interest for benches and load (user ids).
    pub cohorts: serde_json::Value,
}

impl Manifest {
    pub fn table(&self, name: &str) -> Option<&TableManifest> {
        self.tables.iter().find(|t| t.name == name)
    }
}

/// Row count and checksum of each table, with text output settings pinned so the row text
/// (and so the checksum) does not depend on session defaults.
pub async fn checksums(pool: &PgPool) -> Result<Vec<TableManifest>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    sqlx::raw_sql(
        "SET DateStyle = 'ISO, MDY'; SET bytea_output = 'hex'; SET extra_float_digits = 1",
    )
    .execute(&mut *conn)
    .await?;
    let mut out = Vec::with_capacity(TABLES.len());
    for &table in TABLES {
        let sql = format!(
            "SELECT count(*)::int8, coalesce(sum(('x' || substr(md5(t::text), 1, 15))::bit(60)::int8), 0)::text \
             FROM {table} t"
        );
        let (rows, checksum): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await?;
        out.push(TableManifest {
            name: table.to_string(),
            rows,
            checksum,
        });
    }
    Ok(out)
}

/// The manifest stored by the last complete seeding run, if any.
pub async fn stored(pool: &PgPool) -> Result<Option<Manifest>, sqlx::Error> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'intellacc_bench_manifest' AND relkind = 'r')",
    )
    .fetch_one(pool)
    .await?;
    if !exists {
        return Ok(None);
    }
    let value: Option<serde_json::Value> = sqlx::query_scalar(
        "SELECT manifest FROM intellacc_bench_manifest WHERE id = 1 AND state = 'complete'",
    )
    .fetch_optional(pool)
    .await?
    .flatten();
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}
