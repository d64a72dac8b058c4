//! What the load defers: foreign keys, primary keys, UNIQUE constraints and secondary indexes
//! (dropped before the COPY and restored after it, as pg_restore orders a restore), and the
//! id sequences (moved past the loaded ids).
//!
//! Like `pg_restore -j`, a table's keys and indexes are built, and the table vacuumed, as
//! soon as its own load has finished, while the other tables are still loading; a foreign
//! key is restored once both its tables are built.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sqlx::PgPool;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use super::{progress, sql, SeedError, TABLES};

/// Concurrent builds (keys, indexes, VACUUM, foreign keys): more would only queue on two
/// cores.
const CONCURRENT_BUILDS: usize = 4;

/// A foreign key: (table, constraint, definition, referenced table).
type ForeignKey = (String, String, String, String);

/// Foreign keys, primary keys, UNIQUE constraints and secondary indexes, dropped for the
/// load and restored after it, as pg_restore does: building an index once is far cheaper than
/// maintaining it row by row, and without foreign keys the tables load concurrently in any
/// order.
pub(super) struct Deferred {
    foreign_keys: Vec<ForeignKey>,
    /// Per table, in build order: (what is built, its statement) — keys first, so that the
    /// secondary indexes and foreign keys find them.
    builds: BTreeMap<String, Vec<(String, String)>>,
}

impl Deferred {
    pub(super) async fn take(pool: &PgPool) -> Result<Self, SeedError> {
        // Only the Intellacc tables' own: the harness's bookkeeping tables keep theirs.
        let foreign_keys: Vec<ForeignKey> = sqlx::query_as(
            "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid), \
             confrelid::regclass::text \
             FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace \
             AND conrelid = ANY($1::text[]::regclass[]) ORDER BY 1, 2",
        )
        .bind(TABLES)
        .fetch_all(pool)
        .await
        .map_err(sql("listing foreign keys"))?;
        let keys: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) \
             FROM pg_constraint WHERE contype IN ('p', 'u') \
             AND connamespace = 'public'::regnamespace \
             AND conrelid = ANY($1::text[]::regclass[]) ORDER BY 1, 2",
        )
        .bind(TABLES)
        .fetch_all(pool)
        .await
        .map_err(sql("listing keys"))?;
        let indexes: Vec<(String, String, String)> = sqlx::query_as(SECONDARY_INDEXES)
            .bind(TABLES)
            .fetch_all(pool)
            .await
            .map_err(sql("listing indexes"))?;

        let mut tx = pool.begin().await.map_err(sql("dropping constraints"))?;
        let drops = foreign_keys
            .iter()
            .map(|(table, name, _, _)| format!("ALTER TABLE {table} DROP CONSTRAINT {name}"))
            .chain(
                keys.iter()
                    .map(|(table, name, _)| format!("ALTER TABLE {table} DROP CONSTRAINT {name}")),
            )
            .chain(
                indexes
                    .iter()
                    .map(|(_, name, _)| format!("DROP INDEX {name}")),
            );
        for stmt in drops {
            sqlx::query(sqlx::AssertSqlSafe(stmt))
                .execute(&mut *tx)
                .await
                .map_err(sql("dropping constraints and indexes"))?;
        }
        tx.commit().await.map_err(sql("dropping constraints"))?;

        let mut builds: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (table, name, def) in keys {
            let stmt = format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}");
            builds.entry(table).or_default().push((name, stmt));
        }
        for (table, name, def) in indexes {
            builds.entry(table).or_default().push((name, def));
        }
        Ok(Self {
            foreign_keys,
            builds,
        })
    }

    /// Starts restoring: foreign-key tasks wait for their tables; call
    /// [`Restore::table_loaded`] as each table's load finishes.
    pub(super) fn start(self, pool: &PgPool, progress: &progress::Progress) -> Arc<Restore> {
        let gate = Arc::new(Semaphore::new(CONCURRENT_BUILDS));
        let mut built = BTreeMap::new();
        let mut watchers = BTreeMap::new();
        for &table in TABLES {
            let (tx, rx) = watch::channel(false);
            built.insert(table.to_string(), tx);
            watchers.insert(table.to_string(), rx);
        }
        let foreign_keys = self
            .foreign_keys
            .into_iter()
            .map(|(table, name, def, referenced)| {
                // Both tables are loaded tables (the constraints are listed for them only;
                // a referenced table outside the load would need no wait). The foreign keys
                // form an acyclic graph (every one points toward users, events or
                // mls_groups), so their locks (child, then parent) queue but cannot
                // deadlock.
                let waits: Vec<watch::Receiver<bool>> = [&table, &referenced]
                    .iter()
                    .filter_map(|t| watchers.get(t.as_str()).cloned())
                    .collect();
                let (pool, gate, progress) = (pool.clone(), Arc::clone(&gate), progress.clone());
                tokio::spawn(async move {
                    for mut w in waits {
                        if w.wait_for(|b| *b).await.is_err() {
                            // The table was never built: its own error is reported.
                            return Ok(());
                        }
                    }
                    let stmt = format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}");
                    run(&pool, &gate, &progress, Build::ForeignKey, &name, stmt).await
                })
            })
            .collect();
        Arc::new(Restore {
            pool: pool.clone(),
            progress: progress.clone(),
            gate,
            builds: Mutex::new(self.builds),
            built: Mutex::new(built),
            tables: Mutex::new(Vec::new()),
            foreign_keys: Mutex::new(foreign_keys),
        })
    }
}

/// The restore in progress, shared by the loaders.
pub(super) struct Restore {
    pool: PgPool,
    progress: progress::Progress,
    gate: Arc<Semaphore>,
    builds: Mutex<BTreeMap<String, Vec<(String, String)>>>,
    built: Mutex<BTreeMap<String, watch::Sender<bool>>>,
    tables: Mutex<Vec<JoinHandle<Result<(), SeedError>>>>,
    foreign_keys: Mutex<Vec<JoinHandle<Result<(), SeedError>>>>,
}

impl Restore {
    /// `table` is loaded: build its keys and indexes in order, then `VACUUM (ANALYZE)` it,
    /// so index-only scans work from the first query.
    pub(super) fn table_loaded(&self, table: &str) {
        let builds = lock(&self.builds).remove(table).unwrap_or_default();
        let done = lock(&self.built).remove(table);
        let (pool, gate, progress) = (
            self.pool.clone(),
            Arc::clone(&self.gate),
            self.progress.clone(),
        );
        let vacuum = format!("VACUUM (ANALYZE) {table}");
        let table = table.to_string();
        lock(&self.tables).push(tokio::spawn(async move {
            for (name, stmt) in builds {
                run(&pool, &gate, &progress, Build::Index, &name, stmt).await?;
            }
            run(&pool, &gate, &progress, Build::Vacuum, &table, vacuum).await?;
            if let Some(done) = done {
                let _ = done.send(true);
            }
            Ok(())
        }));
    }

    /// Waits for every build; the first error wins and stops the rest. Every table must
    /// have been loaded by then.
    pub(super) async fn finish(&self) -> Result<(), SeedError> {
        // Every loaded table took its sender out of `built`: what is left was never loaded.
        let unbuilt: Vec<String> = lock(&self.built).keys().cloned().collect();
        if !unbuilt.is_empty() {
            self.abort().await;
            return Err(SeedError::Generator(format!(
                "tables never loaded, so never rebuilt: {}",
                unbuilt.join(", ")
            )));
        }
        let mut handles = self.take_handles().into_iter();
        while let Some(h) = handles.next() {
            let outcome = h
                .await
                .map_err(|e| SeedError::Generator(e.to_string()))
                .and_then(|r| r);
            if let Err(e) = outcome {
                stop(handles.collect()).await;
                return Err(e);
            }
        }
        Ok(())
    }

    /// Stops every build task (after a failure elsewhere) and waits until they have stopped.
    /// A statement already sent runs on in the server until it ends (its connection is only
    /// returned to the pool then); the database stays marked `seeding` either way.
    pub(super) async fn abort(&self) {
        stop(self.take_handles()).await;
    }

    /// Every build task, tables' first; releases the foreign keys still waiting for a table.
    fn take_handles(&self) -> Vec<JoinHandle<Result<(), SeedError>>> {
        lock(&self.built).clear();
        let mut handles = std::mem::take(&mut *lock(&self.tables));
        handles.extend(std::mem::take(&mut *lock(&self.foreign_keys)));
        handles
    }
}

/// Aborts the tasks, then waits until every one has ended.
async fn stop(handles: Vec<JoinHandle<Result<(), SeedError>>>) {
    for h in &handles {
        h.abort();
    }
    for h in handles {
        let _ = h.await;
    }
}

/// What a build statement restores.
#[derive(Clone, Copy)]
enum Build {
    Index,
    Vacuum,
    ForeignKey,
}

impl Build {
    fn label(self) -> &'static str {
        match self {
            Self::Index => "index",
            Self::Vacuum => "vacuum",
            Self::ForeignKey => "foreign key",
        }
    }

    fn describe(self, name: &str) -> String {
        match self {
            Self::Index => format!("building key or index {name}"),
            Self::Vacuum => format!("VACUUM (ANALYZE) of {name}"),
            Self::ForeignKey => format!("restoring foreign key {name}"),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs one build statement under the gate and prints how long it took.
async fn run(
    pool: &PgPool,
    gate: &Semaphore,
    progress: &progress::Progress,
    what: Build,
    name: &str,
    stmt: String,
) -> Result<(), SeedError> {
    let _permit = gate
        .acquire()
        .await
        .map_err(|e| SeedError::Generator(e.to_string()))?;
    let started = Instant::now();
    sqlx::query(sqlx::AssertSqlSafe(stmt))
        .execute(pool)
        .await
        .map_err(|source| SeedError::Build {
            what: what.describe(name),
            source,
        })?;
    progress.println(&format!(
        "  {:<11} {name:<40} {:>6.2} s",
        what.label(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Secondary indexes (not backing a constraint) of the given tables: (table, name,
/// definition).
const SECONDARY_INDEXES: &str = "SELECT t.relname::text, ic.relname::text, \
     pg_get_indexdef(i.indexrelid) \
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
     JOIN pg_class t ON t.oid = i.indrelid \
     WHERE t.relnamespace = 'public'::regnamespace AND t.relname = ANY($1) \
     AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) \
     ORDER BY 1, 2";

/// Secondary indexes of the Intellacc tables: (name, definition), excluding those that back
/// a constraint (primary keys, UNIQUE), by name.
pub async fn secondary_indexes(pool: &PgPool) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(SECONDARY_INDEXES)
        .bind(TABLES)
        .fetch_all(pool)
        .await?;
    let mut indexes: Vec<(String, String)> =
        rows.into_iter().map(|(_, name, def)| (name, def)).collect();
    indexes.sort();
    Ok(indexes)
}

/// Points every id sequence past the loaded ids, so later INSERTs (trades, posted messages)
/// get fresh ids.
pub(super) async fn fix_sequences(pool: &PgPool) -> Result<(), SeedError> {
    for &table in TABLES {
        let stmt = format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT max(id) FROM {table}), 1), \
             (SELECT max(id) IS NOT NULL FROM {table}))"
        );
        sqlx::query(sqlx::AssertSqlSafe(stmt))
            .execute(pool)
            .await
            .map_err(sql("restoring sequences"))?;
    }
    Ok(())
}
