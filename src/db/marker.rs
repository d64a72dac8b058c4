//! The harness's ownership marker and seeding state. The harness only migrates an empty
//! database or one carrying its marker, and only resets one carrying its marker.

use sqlx::{PgConnection, PgPool};

/// Migrations of the Intellacc seed schema plus the harness's own bookkeeping table.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error(
        "database `{database}` holds tables that intellacc-bench did not create ({tables}); \
         it will not migrate, seed, truncate or drop it. Point --database-url at an empty \
         database or omit it to use a throwaway cluster"
    )]
    Foreign { database: String, tables: String },
    #[error(
        "database `{database}` already holds intellacc-bench data (state: {state}); \
         pass --reset to drop it and seed again"
    )]
    AlreadySeeded { database: String, state: String },
    #[error(
        "database `{database}` is a maintenance database of the server: the harness does not \
         take it over; create one for it (e.g. `createdb bench`) and point the URL there"
    )]
    Maintenance { database: String },
    #[error(
        "database `{database}` has no seeded data (state: {state}); run `intellacc-bench seed` first"
    )]
    NotSeeded { database: String, state: String },
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("migrating the schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// What the harness finds in a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbState {
    /// No tables at all: safe to take.
    Empty,
    /// Marked as ours; `seeded` says whether a seeding run completed.
    Ours { seeded: bool, state: String },
    /// Tables present, no marker: never touched.
    Foreign(Vec<String>),
}

const MARKER_TABLE: &str = "intellacc_bench_marker";

pub async fn inspect(pool: &PgPool) -> Result<DbState, MarkerError> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r','p','v','m','S') AND n.nspname NOT IN ('pg_catalog','information_schema') \
         AND n.nspname NOT LIKE 'pg_toast%' \
         UNION ALL SELECT p.proname::text || '()' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname NOT IN ('pg_catalog','information_schema') \
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e') ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    if tables.is_empty() {
        return Ok(DbState::Empty);
    }
    if !tables.iter().any(|t| t == MARKER_TABLE) {
        return Ok(DbState::Foreign(tables));
    }
    let state: Option<String> = if tables.iter().any(|t| t == "intellacc_bench_manifest") {
        sqlx::query_scalar("SELECT state FROM intellacc_bench_manifest WHERE id = 1")
            .fetch_optional(pool)
            .await?
    } else {
        None
    };
    let state = state.unwrap_or_else(|| "migrated".into());
    Ok(DbState::Ours {
        seeded: state == "complete",
        state,
    })
}

/// Marks an empty database as ours and migrates it; migrates one that is already ours.
/// Refuses a database holding anything else.
pub async fn claim_and_migrate(pool: &PgPool, database: &str) -> Result<DbState, MarkerError> {
    let state = inspect(pool).await?;
    match &state {
        DbState::Foreign(tables) => {
            return Err(MarkerError::Foreign {
                database: database.into(),
                tables: summarize(tables),
            })
        }
        DbState::Empty => {
            let current: String = sqlx::query_scalar("SELECT current_database()::text")
                .fetch_one(pool)
                .await?;
            if matches!(current.as_str(), "postgres" | "template0" | "template1") {
                return Err(MarkerError::Maintenance { database: current });
            }
            sqlx::query(
                "CREATE TABLE intellacc_bench_marker (created_at TIMESTAMPTZ NOT NULL DEFAULT now(), \
                 tool_version TEXT NOT NULL)",
            )
            .execute(pool)
            .await?;
            sqlx::query("INSERT INTO intellacc_bench_marker (tool_version) VALUES ($1)")
                .bind(env!("CARGO_PKG_VERSION"))
                .execute(pool)
                .await?;
        }
        DbState::Ours { .. } => {}
    }
    MIGRATOR.run(pool).await?;
    inspect(pool).await
}

/// Drops everything in a database that carries our marker, leaving it empty.
pub async fn reset(conn: &mut PgConnection, database: &str) -> Result<(), MarkerError> {
    let marked: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = 'intellacc_bench_marker' AND relkind = 'r')",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !marked {
        return Err(MarkerError::Foreign {
            database: database.into(),
            tables: "no intellacc-bench marker".into(),
        });
    }
    sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn summarize(tables: &[String]) -> String {
    let mut s = tables
        .iter()
        .take(5)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if tables.len() > 5 {
        s.push_str(&format!(" and {} more", tables.len() - 5));
    }
    s
}
