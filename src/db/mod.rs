//! Database access: the throwaway cluster, connecting, the harness marker and migrations.

pub mod cluster;
pub mod marker;
pub mod target;

pub use cluster::{Cluster, ClusterError, PgBinaries};
pub use marker::{DbState, MarkerError};
pub use target::{ConnectOpts, Target};
