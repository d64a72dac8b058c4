//! The data manifest: seed, scale, server version and, per table, its row count and a
//! checksum of the COPY stream that loaded it.

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
    /// First 128 bits of the SHA-256 of the table's COPY text stream, in hex. Rows carry
    /// their ids, so it pins every row's contents and position.
    pub checksum: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub generator_version: u32,
    pub seed: u64,
    pub scale: f64,
    pub postgres_version: String,
    pub tables: Vec<TableManifest>,
    /// The 32-bit transaction id of the end of seeding: rows written later have a younger
    /// `xmin` (see [`modified_since`]).
    #[serde(default)]
    pub seeded_xid: Option<String>,
    /// The cluster's `system_identifier`: `seeded_xid` only means something there (a dump
    /// restored elsewhere has other transaction ids).
    #[serde(default)]
    pub cluster_id: Option<String>,
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

/// The cluster's `system_identifier`, when this role may read it.
pub async fn cluster_id(pool: &PgPool) -> Option<String> {
    sqlx::query_scalar("SELECT system_identifier::text FROM pg_control_system()")
        .fetch_one(pool)
        .await
        .ok()
}

/// Whether any table changed since seeding: a different row count, or a row whose
/// `xmin` is younger than the manifest's `seeded_xid` (inserted or updated later). A
/// sequential scan per table, without reading the TOASTed MLS payloads.
///
/// The `xmin` test needs the cluster that seeded (same `cluster_id`) and fewer than 2^31
/// transactions since (`age()` is 32-bit); otherwise, and for manifests without
/// `seeded_xid`, only row counts are compared.
pub async fn modified_since(pool: &PgPool, m: &Manifest) -> Result<bool, sqlx::Error> {
    let same_cluster = m.cluster_id.is_some() && cluster_id(pool).await == m.cluster_id;
    let xid = if same_cluster {
        m.seeded_xid.as_deref()
    } else {
        None
    };
    for t in &m.tables {
        if !TABLES.contains(&t.name.as_str()) {
            continue;
        }
        let sql = format!(
            "SELECT count(*)::int8, count(*) FILTER (WHERE $1::text IS NOT NULL \
             AND age(xmin) < age($1::text::xid))::int8 FROM {}",
            t.name
        );
        let (rows, newer): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(xid)
            .fetch_one(pool)
            .await?;
        if rows != t.rows || newer > 0 {
            return Ok(true);
        }
    }
    Ok(false)
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
