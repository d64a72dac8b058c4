//! intellacc-bench: a load-testing and benchmarking harness for the Intellacc PostgreSQL
//! schema (social feed, prediction markets, MLS group messaging).

pub mod cases;
pub mod cli;
pub mod commands;
pub mod db;
pub mod indexes;
pub mod lmsr;
pub mod load;
pub mod mls;
pub mod report;
pub mod seed;
pub mod server;
pub mod workload;

use std::process::ExitCode;

pub use cli::{Cli, Command};

/// Runs a parsed command line on a fresh multi-threaded runtime. Ctrl-C cancels the
/// command; the throwaway cluster (if any) is removed as its owner is dropped.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        tokio::select! {
            result = commands::dispatch(cli) => result,
            _ = tokio::signal::ctrl_c() => {
                eprintln!("interrupted: stopping and cleaning up");
                Ok(ExitCode::from(130))
            }
        }
    })
}
