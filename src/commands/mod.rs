//! One module per subcommand; `dispatch` routes a parsed command line to it.

pub mod indexes;
pub mod load;
pub mod merge;
pub mod run;
pub mod seed;
pub mod serve;
pub mod verify;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Seed(args) => seed::run(&cli.connect, args).await,
        Command::Serve(args) => serve::run(&cli.connect, args).await,
        Command::Load(args) => load::run(args).await,
        Command::Run(args) => run::run(&cli.connect, args).await,
        Command::Verify(args) => verify::run(&cli.connect, args).await,
        Command::Indexes(args) => indexes::run(&cli.connect, args).await,
        Command::Merge(args) => merge::run(args).await,
    }
}
