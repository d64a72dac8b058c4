//! `serve`: the reference API on a loopback address, until Ctrl-C or `--for-secs`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use rand::RngExt;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;
use crate::db::marker::{self, DbState};
use crate::db::{ConnectOpts, Target};
use crate::server::{self, AppState};

pub async fn run(connect: &ConnectOpts, args: ServeArgs) -> anyhow::Result<ExitCode> {
    require_loopback(args.addr)?;
    let target = Target::open(connect).await?;
    let pool = target.pool(args.pool_size).await?;
    match marker::inspect(&pool).await? {
        DbState::Ours { seeded: true, .. } => {}
        _ if target.cluster.is_some() => {
            // Seeding wants a connection per table, whatever the server's pool size.
            let seed_pool = target.pool(super::seed::SEED_POOL).await?;
            super::seed::ensure_seeded(&seed_pool, &target.database, &args.data, false).await?;
            seed_pool.close().await;
        }
        other => bail!(
            "database `{}` is not seeded by intellacc-bench ({other:?}); run `intellacc-bench seed` first",
            target.database
        ),
    }
    let secret = match &args.jwt_secret {
        Some(s) => s.as_bytes().to_vec(),
        None => random_secret(),
    };
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("binding {}", args.addr))?;
    eprintln!(
        "serving the Intellacc reference API on http://{} (pool {} connections)",
        listener.local_addr()?,
        args.pool_size
    );
    let limit = args.for_secs;
    let shutdown = async move {
        match limit {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    let state = AppState::new(pool, &secret)
        .with_feed_variant(args.feed_variant)
        .with_debug_endpoints(args.debug_endpoints);
    server::serve(listener, state, shutdown).await?;
    Ok(ExitCode::SUCCESS)
}

/// A fresh 32-byte token secret.
pub fn random_secret() -> Vec<u8> {
    let mut rng = rand::rng();
    (0..32).map(|_| rng.random::<u8>()).collect()
}

/// The harness only listens on and sends load to loopback addresses.
pub fn require_loopback(addr: SocketAddr) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() {
        bail!("{addr} is not a loopback address: intellacc-bench only serves and loads on 127.0.0.0/8 or [::1]");
    }
    Ok(())
}
