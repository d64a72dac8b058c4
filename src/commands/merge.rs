//! `merge`: several runs' reports (e.g. from several load generators) into one.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::MergeArgs;
use crate::report::{merge, Report};

pub async fn run(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let reports: Vec<Report> = args
        .inputs
        .iter()
        .map(|p| {
            let path: PathBuf = if p.is_dir() {
                p.join("report.json")
            } else {
                p.clone()
            };
            Report::read(&path)
        })
        .collect::<anyhow::Result<_>>()?;
    let merged = merge::merge(&reports)?;
    super::load::finish(&merged, &args.out)
}
