//! The harness's ownership marker and seeding state. The harness only migrates an empty
//! database or one carrying its marker, and only resets one carrying its marker.

use sqlx::PgPool;

/// Migrations of the Intellacc seed schema plus the harness's own bookkeeping table.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    #[error(
        "database `{database}` holds objects that intellacc-bench did not create ({tables}); \
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
    #[error(
        "database `{database}` carries the intellacc-bench marker but also holds objects the \
         harness did not create ({objects}); it will not reset or re-seed it. Remove them or \
         seed another database"
    )]
    Extras { database: String, objects: String },
    #[error(
        "database `{database}`: the harness creates its tables in schema `public`, but the \
         connection's current schema is `{schema}`; reset search_path or use another database"
    )]
    Schema { database: String, schema: String },
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error("migrating the schema: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// What the harness finds in a database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbState {
    /// No tables, views, sequences, functions or types at all: safe to take.
    Empty,
    /// Marked as ours; `seeded` says whether a seeding run completed. `extras` lists what
    /// it holds beyond what the harness creates (someone's own tables, another schema):
    /// such a database is still read, never reset or re-seeded.
    Ours {
        seeded: bool,
        state: String,
        extras: Vec<String>,
    },
    /// Objects present, no marker: never touched.
    Foreign(Vec<String>),
}

const MARKER_TABLE: &str = "intellacc_bench_marker";

/// Every relation the harness's migrations create, in the `public` schema; a reset drops
/// exactly these (their indexes, constraints and serial sequences go with them).
pub const OWN_TABLES: &[&str] = &[
    "mls_welcome_messages",
    "mls_group_messages",
    "mls_group_members",
    "mls_groups",
    "mls_key_packages",
    "follows",
    "posts",
    "user_shares",
    "events",
    "users",
    "intellacc_bench_manifest",
    "_sqlx_migrations",
    MARKER_TABLE,
];

/// User objects of the database (extension members excluded): `(schema, name, ours)`,
/// where `ours` means one of [`OWN_TABLES`] in `public` or a sequence owned by one.
async fn objects(pool: &PgPool) -> Result<Vec<(String, String, bool)>, MarkerError> {
    let rows: Vec<(String, String, bool)> = sqlx::query_as(
        "WITH obj AS ( \
           SELECT n.nspname::text AS nsp, c.relname::text AS name, c.oid, 'pg_class'::regclass AS cls, \
                  (n.nspname = 'public' AND c.relkind = 'r' AND c.relname = ANY($1)) AS own \
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
           WHERE c.relkind IN ('r','p','v','m','S','f','c') \
           UNION ALL \
           SELECT n.nspname::text, p.proname::text || '()', p.oid, 'pg_proc'::regclass, false \
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
           UNION ALL \
           SELECT n.nspname::text, t.typname::text || ' (type)', t.oid, 'pg_type'::regclass, false \
           FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
           WHERE t.typtype IN ('c','e','d','r','m') AND t.typrelid = 0 \
         ) \
         SELECT o.nsp, o.name, o.own OR EXISTS ( \
                  SELECT 1 FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid \
                  JOIN pg_namespace tn ON tn.oid = t.relnamespace \
                  WHERE d.classid = 'pg_class'::regclass AND d.objid = o.oid AND d.deptype IN ('a','i') \
                    AND tn.nspname = 'public' AND t.relname = ANY($1)) \
         FROM obj o \
         WHERE o.nsp NOT IN ('pg_catalog','information_schema') AND o.nsp NOT LIKE 'pg_toast%' \
           AND o.nsp NOT LIKE 'pg_temp%' \
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = o.cls AND d.objid = o.oid AND d.deptype = 'e') \
         ORDER BY 1, 2",
    )
    .bind(OWN_TABLES)
    .fetch_all(pool)
    .await?;
    Ok(rows)
}

fn qualified(nsp: &str, name: &str) -> String {
    if nsp == "public" {
        name.to_string()
    } else {
        format!("{nsp}.{name}")
    }
}

pub async fn inspect(pool: &PgPool) -> Result<DbState, MarkerError> {
    let objects = objects(pool).await?;
    if objects.is_empty() {
        return Ok(DbState::Empty);
    }
    let has = |t: &str| {
        objects
            .iter()
            .any(|(n, name, own)| *own && n == "public" && name == t)
    };
    if !has(MARKER_TABLE) {
        return Ok(DbState::Foreign(
            objects
                .iter()
                .map(|(n, name, _)| qualified(n, name))
                .collect(),
        ));
    }
    let extras = objects
        .iter()
        .filter(|(_, _, own)| !own)
        .map(|(n, name, _)| qualified(n, name))
        .collect();
    let state: Option<String> = if has("intellacc_bench_manifest") {
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
        extras,
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
            let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
                .fetch_one(pool)
                .await?;
            if schema.as_deref() != Some("public") {
                return Err(MarkerError::Schema {
                    database: database.into(),
                    schema: schema.unwrap_or_else(|| "none".into()),
                });
            }
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
        DbState::Ours { extras, .. } if !extras.is_empty() => {
            return Err(MarkerError::Extras {
                database: database.into(),
                objects: summarize(extras),
            })
        }
        DbState::Ours { .. } => {}
    }
    MIGRATOR.run(pool).await?;
    inspect(pool).await
}

/// Drops what the harness created in a database that carries its marker (the tables of
/// [`OWN_TABLES`], with their indexes, constraints and sequences), leaving it empty. A
/// database holding anything else is refused and left as it is.
pub async fn reset(pool: &PgPool, database: &str) -> Result<(), MarkerError> {
    match inspect(pool).await? {
        DbState::Ours { extras, .. } if extras.is_empty() => {}
        DbState::Ours { extras, .. } => {
            return Err(MarkerError::Extras {
                database: database.into(),
                objects: summarize(&extras),
            })
        }
        DbState::Empty => return Ok(()),
        DbState::Foreign(objects) => {
            return Err(MarkerError::Foreign {
                database: database.into(),
                tables: summarize(&objects),
            })
        }
    }
    let tables = OWN_TABLES
        .iter()
        .map(|t| format!("public.{t}"))
        .collect::<Vec<_>>()
        .join(", ");
    // One statement, one transaction: all of it goes or none. No CASCADE: anything else
    // depending on these tables was refused above, and a late arrival makes this fail.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS {tables}"
    )))
    .execute(pool)
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
