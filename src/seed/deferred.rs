//! What the load defers: foreign keys and secondary indexes (dropped before the COPY and
//! restored after it), and the id sequences (moved past the loaded ids).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::{progress, sql, SeedError, TABLES};

/// Concurrent index builds after the load.
const INDEX_BUILDS: usize = 4;

/// Foreign keys and secondary (non-constraint) indexes, dropped for the load and restored
/// after it, as pg_restore does: building an index once is far cheaper than maintaining it
/// row by row, and foreign keys let the tables load concurrently in any order.
pub(super) struct Deferred {
    foreign_keys: Vec<(String, String, String)>,
    indexes: Vec<(String, String)>,
}

impl Deferred {
    pub(super) async fn take(pool: &PgPool) -> Result<Self, SeedError> {
        let foreign_keys: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) \
             FROM pg_constraint WHERE contype = 'f' AND connamespace = 'public'::regnamespace \
             ORDER BY conrelid::regclass::text, conname",
        )
        .fetch_all(pool)
        .await
        .map_err(sql("listing foreign keys"))?;
        let indexes = secondary_indexes(pool)
            .await
            .map_err(sql("listing indexes"))?;
        let mut tx = pool.begin().await.map_err(sql("dropping constraints"))?;
        for (table, name, _) in &foreign_keys {
            let stmt = format!("ALTER TABLE {table} DROP CONSTRAINT {name}");
            sqlx::query(sqlx::AssertSqlSafe(stmt))
                .execute(&mut *tx)
                .await
                .map_err(sql("dropping foreign keys"))?;
        }
        for (name, _) in &indexes {
            let stmt = format!("DROP INDEX {name}");
            sqlx::query(sqlx::AssertSqlSafe(stmt))
                .execute(&mut *tx)
                .await
                .map_err(sql("dropping indexes"))?;
        }
        tx.commit().await.map_err(sql("dropping constraints"))?;
        Ok(Self {
            foreign_keys,
            indexes,
        })
    }

    pub(super) async fn restore(
        self,
        pool: &PgPool,
        progress: &progress::Progress,
    ) -> Result<(), SeedError> {
        // Indexes a few at a time (more would only queue on two cores and could exhaust the
        // pool), then foreign keys, which validate against the now-built unique indexes.
        let gate = Arc::new(tokio::sync::Semaphore::new(INDEX_BUILDS));
        let mut handles = Vec::new();
        for (name, def) in self.indexes {
            let pool = pool.clone();
            let gate = Arc::clone(&gate);
            handles.push(tokio::spawn(async move {
                let _permit = gate.acquire_owned().await;
                let started = Instant::now();
                sqlx::query(sqlx::AssertSqlSafe(def))
                    .execute(&pool)
                    .await
                    .map(|_| (name, started.elapsed()))
            }));
        }
        for h in handles {
            let (name, took): (String, Duration) = h
                .await
                .map_err(|e| SeedError::Generator(e.to_string()))?
                .map_err(sql("building indexes"))?;
            progress.println(&format!(
                "  index  {name:<28} built in {:>6.2} s",
                took.as_secs_f64()
            ));
        }
        for (table, name, def) in self.foreign_keys {
            let stmt = format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def}");
            sqlx::query(sqlx::AssertSqlSafe(stmt))
                .execute(pool)
                .await
                .map_err(sql("restoring foreign keys"))?;
        }
        Ok(())
    }
}

/// Secondary indexes of the Intellacc tables: (name, definition), excluding those that back
/// a constraint (primary keys, UNIQUE).
pub async fn secondary_indexes(pool: &PgPool) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT ic.relname::text, pg_get_indexdef(i.indexrelid) \
         FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_class t ON t.oid = i.indrelid \
         WHERE t.relnamespace = 'public'::regnamespace AND t.relname = ANY($1) \
         AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) \
         ORDER BY 1",
    )
    .bind(TABLES)
    .fetch_all(pool)
    .await
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
