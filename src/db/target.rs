//! Which server the harness talks to: `--database-url` / `DATABASE_URL`, or a throwaway
//! cluster it starts itself.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::Context;
use serde::Serialize;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use super::cluster::{Cluster, PgBinaries};

/// Connection options shared by every subcommand that touches a database.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ConnectOpts {
    /// Database to use. Without it (and without DATABASE_URL) a throwaway cluster is started
    /// from local PostgreSQL binaries and removed on exit.
    #[arg(long, env = "DATABASE_URL", global = true)]
    pub database_url: Option<String>,
    /// Directory holding initdb/pg_ctl/postgres for the throwaway cluster (any major, 15-18).
    #[arg(long, env = "INTELLACC_PG_BIN", global = true)]
    pub pg_bin: Option<PathBuf>,
}

/// A resolved database: its URL and, for a throwaway one, the cluster that owns it.
pub struct Target {
    pub url: String,
    pub database: String,
    pub cluster: Option<Cluster>,
}

/// What reports say about the database server.
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub kind: &'static str,
    pub url: String,
    pub version: String,
    pub binaries: Option<PgBinaries>,
    pub settings: Vec<(String, String)>,
}

pub const THROWAWAY_DB: &str = "intellacc_bench";

impl Target {
    /// Uses the given URL, or starts a throwaway cluster with an empty database.
    pub async fn open(opts: &ConnectOpts) -> anyhow::Result<Self> {
        if let Some(url) = &opts.database_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                anyhow::bail!(
                    "invalid database URL `{}`: expected postgres://user@host:port/database",
                    redact(url)
                );
            }
            let parsed = PgConnectOptions::from_str(url)
                .with_context(|| format!("invalid database URL `{}`", redact(url)))?;
            let database = parsed.get_database().unwrap_or("postgres").to_string();
            return Ok(Self {
                url: url.clone(),
                database,
                cluster: None,
            });
        }
        let binaries = PgBinaries::locate(opts.pg_bin.as_deref())?;
        let cluster = tokio::task::spawn_blocking(move || Cluster::start(binaries, &[]))
            .await
            .context("starting the throwaway cluster")??;
        let admin = PgConnectOptions::from_str(&cluster.url("postgres"))?
            .connect()
            .await
            .context("connecting to the throwaway cluster")?;
        let mut admin = admin;
        sqlx::query("CREATE DATABASE intellacc_bench")
            .execute(&mut admin)
            .await?;
        Ok(Self {
            url: cluster.url(THROWAWAY_DB),
            database: THROWAWAY_DB.into(),
            cluster: Some(cluster),
        })
    }

    /// A pool of `size` connections to the target database.
    pub async fn pool(&self, size: u32) -> anyhow::Result<PgPool> {
        pool(&self.url, size).await
    }

    pub async fn info(&self, pool: &PgPool) -> anyhow::Result<ServerInfo> {
        let version: String = sqlx::query_scalar("SELECT version()")
            .fetch_one(pool)
            .await?;
        Ok(ServerInfo {
            kind: if self.cluster.is_some() {
                "throwaway"
            } else {
                "external"
            },
            url: redact(&self.url),
            version,
            binaries: self.cluster.as_ref().map(|c| c.binaries.clone()),
            settings: self
                .cluster
                .as_ref()
                .map(|c| c.settings.clone())
                .unwrap_or_default(),
        })
    }
}

/// Connects a pool; connection failures name the (password-free) URL.
pub async fn pool(url: &str, size: u32) -> anyhow::Result<PgPool> {
    let opts = PgConnectOptions::from_str(url)
        .with_context(|| format!("invalid database URL `{}`", redact(url)))?
        .log_statements(log::LevelFilter::Off);
    // One direct connection first: a refused or unknown database fails now, not after the
    // pool's acquire timeout.
    let probe = tokio::time::timeout(std::time::Duration::from_secs(15), opts.connect())
        .await
        .with_context(|| format!("connecting to {}: timed out", redact(url)))?
        .with_context(|| format!("connecting to {}", redact(url)))?;
    let _ = sqlx::Connection::close(probe).await;
    PgPoolOptions::new()
        .max_connections(size.max(1))
        .acquire_timeout(std::time::Duration::from_secs(30))
        .connect_with(opts)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))
}

/// The URL with any password replaced, for messages and reports.
pub fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((creds, host)) => {
                let user = creds.split(':').next().unwrap_or("");
                if creds.contains(':') {
                    format!("{scheme}://{user}:***@{host}")
                } else {
                    format!("{scheme}://{creds}@{host}")
                }
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}
