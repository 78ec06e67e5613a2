//! kvd: an LSM-tree persistent key-value store.
//!
//! Writes go to a write-ahead log and a concurrent skiplist memtable, which flushes to sorted
//! SSTables with bloom filters. Sequence numbers give snapshots; TTLs give expiring keys.
//! Open a [`Db`] with [`Options`], then `put`, `get`, `delete`, `write` a [`WriteBatch`],
//! iterate with [`Db::scan`] or [`Db::iter`], and read at a [`Snapshot`].
//!
//! ```
//! use kvd::{Db, Options, WriteBatch};
//! let dir = tempfile::tempdir().unwrap();
//! let db = Db::open(dir.path(), Options::default()).unwrap();
//! let mut batch = WriteBatch::new();
//! batch.put("user/1", "ada").put("user/2", "grace").delete("user/0");
//! db.write(batch).unwrap();
//! let snap = db.snapshot();
//! db.put(b"user/1", b"lovelace").unwrap();
//! let users: Vec<_> = db.prefix_scan(b"user/").map(|r| r.unwrap().1).collect();
//! assert_eq!(users, vec![b"lovelace".to_vec(), b"grace".to_vec()]);
//! let old = db.get_opt(b"user/1", &kvd::ReadOptions { snapshot: Some(&snap), ..Default::default() }).unwrap();
//! assert_eq!(old.as_deref(), Some(&b"ada"[..]));
//! ```
//!
//! The engine (`db`) never depends on the typed-value and transaction layers built above it.
#![deny(missing_docs)]

mod batch;
pub mod db;
mod error;
pub mod index;
pub mod model;
pub mod options;
pub mod query;
pub mod txn;

pub use batch::{decode_record, BatchOp, LoggedEntry, WriteBatch};
pub use db::{prefix_successor, Db, DbIterator, LevelStats, Precondition, Scan, Snapshot, Stats, VersionedValue};
pub use error::{Error, Result};
pub use index::{FieldType, IndexDef, IndexSpec, IndexState};
pub use model::ValueType;
pub use options::{Compression, Options, ReadOptions, RecoveryMode, SyncPolicy, TableOptions, WriteOptions};
pub use txn::{retry, Isolation, RetryOptions, Transaction, TxnOptions, TxnScan};

/// The base layer (byte coding, checksums, the `Fs` trait, internal keys, file names), for tools
/// that inspect files without depending on `kvd-base` directly.
pub use kvd_base as base;
/// The write-ahead log crate (its [`LogReader`](kvd_wal::LogReader)), for log inspection tools.
pub use kvd_wal as wal;
