//! `indexes`: every strategy applied in turn to the same seeded data; per statement and
//! cohort, latency percentiles with a statistical verdict against the baseline, the plan
//! that explains it, and the cost side (index sizes, build time, write latency).

pub mod html;
pub mod measure;
pub mod plan;
pub mod report;
pub mod stats;
pub mod strategy;

pub use report::IndexReport;
pub use strategy::{Strategy, StrategyError};
