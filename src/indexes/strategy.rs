//! Index strategies: SQL files of `CREATE INDEX` statements (`migrations/strategies/*.sql`),
//! each the complete set of secondary indexes of the ten tables. Applying one drops every
//! index that does not back a constraint, builds the strategy's (timing each), then runs
//! `VACUUM (ANALYZE)` and records the sizes.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use sqlx::PgPool;

use crate::seed::secondary_indexes;

/// Where the shipped strategies live.
pub const DEFAULT_DIR: &str = "migrations/strategies";

#[derive(Debug, thiserror::Error)]
pub enum StrategyError {
    #[error("unknown strategy `{name}`: no {path} (available: {available})")]
    Unknown {
        name: String,
        path: PathBuf,
        available: String,
    },
    #[error("cannot read strategy file {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, statement {index} (`{statement}`): only CREATE [UNIQUE] INDEX statements are allowed in a strategy")]
    NotAnIndex {
        path: PathBuf,
        index: usize,
        statement: String,
    },
    #[error("{path}, statement {index} (`{statement}`) failed")]
    Statement {
        path: PathBuf,
        index: usize,
        statement: String,
        source: sqlx::Error,
    },
    #[error("applying strategy {name}")]
    Sql { name: String, source: sqlx::Error },
}

/// A strategy file, parsed into statements.
#[derive(Debug, Clone, Serialize)]
pub struct Strategy {
    pub name: String,
    pub path: PathBuf,
    #[serde(skip)]
    pub statements: Vec<String>,
}

/// An index as built by a strategy.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct BuiltIndex {
    pub name: String,
    pub table: String,
    pub definition: String,
    pub size_bytes: i64,
    pub build_ms: f64,
}

/// What applying a strategy did.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Applied {
    pub strategy: String,
    pub file: String,
    pub indexes: Vec<BuiltIndex>,
    pub total_size_bytes: i64,
    pub build_seconds: f64,
    pub vacuum_seconds: f64,
}

/// Names of the strategy files in `dir`.
pub fn available(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "sql").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    names.sort();
    names
}

/// Splits SQL text into statements, dropping `--` comments.
fn statements(text: &str) -> Vec<String> {
    let without_comments: String = text
        .lines()
        .map(|l| l.split_once("--").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

impl Strategy {
    /// Loads `<dir>/<name>.sql`.
    pub fn load(dir: &Path, name: &str) -> Result<Self, StrategyError> {
        let path = dir.join(format!("{name}.sql"));
        if !path.is_file() || name.contains('/') || name.is_empty() {
            return Err(StrategyError::Unknown {
                name: name.to_string(),
                path,
                available: available(dir).join(", "),
            });
        }
        Self::from_file(name, &path)
    }

    pub fn from_file(name: &str, path: &Path) -> Result<Self, StrategyError> {
        let text = std::fs::read_to_string(path).map_err(|source| StrategyError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let statements = statements(&text);
        for (i, s) in statements.iter().enumerate() {
            let upper = s.to_ascii_uppercase();
            if !(upper.starts_with("CREATE INDEX") || upper.starts_with("CREATE UNIQUE INDEX")) {
                return Err(StrategyError::NotAnIndex {
                    path: path.to_path_buf(),
                    index: i + 1,
                    statement: s.clone(),
                });
            }
        }
        Ok(Self {
            name: name.to_string(),
            path: path.to_path_buf(),
            statements,
        })
    }

    /// Replaces the secondary indexes with this strategy's, in one transaction (a failing
    /// statement leaves the previous indexes in place), then VACUUM (ANALYZE).
    pub async fn apply(&self, pool: &PgPool) -> Result<Applied, StrategyError> {
        let sql_err = |source| StrategyError::Sql {
            name: self.name.clone(),
            source,
        };
        let existing = secondary_indexes(pool).await.map_err(sql_err)?;
        let mut tx = pool.begin().await.map_err(sql_err)?;
        for (name, _) in &existing {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX {name}")))
                .execute(&mut *tx)
                .await
                .map_err(sql_err)?;
        }
        let started = Instant::now();
        let mut timings = Vec::new();
        for (i, s) in self.statements.iter().enumerate() {
            let t = Instant::now();
            sqlx::query(sqlx::AssertSqlSafe(s.clone()))
                .execute(&mut *tx)
                .await
                .map_err(|source| StrategyError::Statement {
                    path: self.path.clone(),
                    index: i + 1,
                    statement: s.clone(),
                    source,
                })?;
            timings.push((s.clone(), t.elapsed().as_secs_f64() * 1000.0));
        }
        tx.commit().await.map_err(sql_err)?;
        let build_seconds = started.elapsed().as_secs_f64();
        let v = Instant::now();
        sqlx::query("VACUUM (ANALYZE)")
            .execute(pool)
            .await
            .map_err(sql_err)?;
        let vacuum_seconds = v.elapsed().as_secs_f64();
        let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT ic.relname::text, t.relname::text, pg_get_indexdef(i.indexrelid), pg_relation_size(i.indexrelid) \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid \
             WHERE t.relnamespace = 'public'::regnamespace AND t.relname = ANY($1) \
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) ORDER BY 1",
        )
        .bind(crate::seed::TABLES)
        .fetch_all(pool)
        .await
        .map_err(sql_err)?;
        let indexes: Vec<BuiltIndex> = rows
            .into_iter()
            .map(|(name, table, definition, size_bytes)| {
                let build_ms = timings
                    .iter()
                    .find(|(s, _)| s.contains(&format!(" {name} ")))
                    .map_or(0.0, |(_, ms)| *ms);
                BuiltIndex {
                    name,
                    table,
                    definition,
                    size_bytes,
                    build_ms,
                }
            })
            .collect();
        Ok(Applied {
            strategy: self.name.clone(),
            file: self.path.display().to_string(),
            total_size_bytes: indexes.iter().map(|i| i.size_bytes).sum(),
            indexes,
            build_seconds,
            vacuum_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_and_drops_comments() {
        let s = statements(
            "-- a; comment\nCREATE INDEX a ON t(x); -- trailing\n\nCREATE INDEX b\n  ON t(y);\n",
        );
        assert_eq!(s, vec!["CREATE INDEX a ON t(x)", "CREATE INDEX b ON t(y)"]);
    }
}
