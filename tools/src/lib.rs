//! `kvd-tools`: the operator tools of kvd, as a library the thin binaries call.
//!
//! * [`sst_dump`]: everything `kvd-sst-dump` shows about a table file (footer, properties,
//!   index, bloom filter, entries) and its `--verify`.
//! * [`admin`]: what `kvd-admin` does: [`admin::verify`] a database directory, dump its
//!   write-ahead logs ([`admin::wal_dump`]) and manifest ([`admin::manifest_dump`]), and keep
//!   incremental backups ([`admin::store`], [`admin::backup`], [`admin::restore`]).
//! * [`progress`]: progress bars (bytes and rate) that vanish when output is not a terminal.
//!
//! Exit codes shared by the binaries: [`EXIT_OK`], [`EXIT_CORRUPT`], [`EXIT_USAGE`].
//!
//! Dependencies: this crate may use `kvd`, `kvd-lsm` and `kvd-server` only (the base and
//! log crates are reached through `kvd::base` and `kvd::wal`); nothing depends on it.
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admin;
pub mod bytes;
mod error;
pub mod fileio;
pub mod progress;
pub mod sst_dump;

pub use error::{Error, Result, EXIT_CORRUPT, EXIT_OK, EXIT_USAGE};

/// The file system every tool reads and writes through: the operating system's.
pub fn std_fs() -> kvd::base::fs::FsRef {
    std::sync::Arc::new(kvd::base::fs::StdFs)
}
