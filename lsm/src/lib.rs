//! `kvd-lsm`: the structures of the LSM tree.
//!
//! The memtable, the SSTable format (builder, reader, blocks, bloom filter, properties,
//! footer), the block cache, versions and the manifest (a log of version edits), and the
//! internal iterators that merge them.
//!
//! This crate depends only on `kvd-base`. It must never depend on `kvd-wal`,
//! `kvd-compaction` or the engine: compaction policy sits above it and drives it.
#![deny(missing_docs)]

pub mod cache;
mod error;
pub mod iter;
pub mod manifest;
pub mod memtable;
pub mod sstable;
pub mod version;

pub use error::{Error, Result};
/// The shared floor, re-exported so the layers above `lsm` (compaction) reach keys, coding
/// and the file system through it, keeping the dependency graph of `design.md`.
pub use kvd_base as base;
