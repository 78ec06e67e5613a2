//! `kvd-compaction`: levelled compaction, RocksDB-style.
//!
//! - [`pick`] is a pure function of a [`Version`](kvd_lsm::version::Version) and a
//!   [`CompactionConfig`]: it returns a [`CompactionTask`] describing what to merge, or a
//!   trivial move, and does no I/O (so it is tested with golden cases and a simulator).
//! - [`retention`] decides which versions, tombstones and expired entries an output keeps.
//! - [`execute`] turns a task's merged input into new table files; the engine then lands them
//!   as one `VersionEdit`.
//!
//! This crate depends on `kvd-lsm` only (reaching `kvd-base` through `kvd_lsm::base`, as
//! design.md draws the graph); it must never depend on the engine
//! (`kvd`), the write-ahead log or the server.
#![deny(missing_docs)]

mod config;
mod error;
mod executor;
mod level_targets;
mod output_cutter;
mod picker;
pub mod retention;
mod task;

pub use config::CompactionConfig;
pub use error::{Error, Result};
pub use executor::{execute, CompactionOutput, ExecuteParams};
pub use level_targets::{pending_compaction_bytes, LevelTargets};
pub use picker::{max_compaction_bytes, pick, pick_manual, PickContext};
pub use task::{CompactionReason, CompactionTask};
