//! `kvd-wal`: the write-ahead log of kvd.
//!
//! Record framing in fixed 32 KiB blocks ([`format`](mod@format), specified byte by byte in
//! `docs/format/wal.md`), the [`LogWriter`] that frames payloads into one file, the
//! thread-safe [`Wal`] handle with its [`SyncPolicy`], poisoning and rotation, and the
//! [`LogReader`] that recovers payloads under a [`RecoveryMode`].
//!
//! Payloads are opaque bytes (the engine's encoded write batches). This crate depends only on
//! `kvd-base`, and must never depend on `kvd-lsm`, the engine or anything above them: the
//! log is the floor recovery stands on, so it cannot know what it stores.
//!
//! ```
//! use std::path::Path;
//! use std::sync::Arc;
//! use kvd_base::file_names::wal_path;
//! use kvd_base::fs::{Fs, MemFs};
//! use kvd_wal::{LogReader, RecoveryMode, SyncPolicy, Wal};
//!
//! let fs = Arc::new(MemFs::new());
//! let dir = Path::new("/db");
//! fs.create_dir_all(dir)?;
//! let wal = Wal::create(fs.clone(), dir, 1, SyncPolicy::Always)?;
//! wal.append(b"batch one", false)?;
//! wal.append(b"batch two", false)?;
//! wal.close()?;
//!
//! let mut reader = LogReader::open(&*fs, &wal_path(dir, 1), RecoveryMode::default())?;
//! assert_eq!(reader.log_number(), Some(1));
//! assert_eq!(reader.next_record()?.as_deref(), Some(&b"batch one"[..]));
//! assert_eq!(reader.next_record()?.as_deref(), Some(&b"batch two"[..]));
//! assert_eq!(reader.next_record()?, None);
//! # Ok::<(), kvd_wal::Error>(())
//! ```
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod error;
mod file_header;
pub mod format;
mod reader;
mod record;
mod recovery_mode;
mod resync;
mod source;
mod sync_policy;
mod syncer;
mod wal;
mod writer;

pub use error::{Error, Result};
pub use reader::LogReader;
pub use recovery_mode::RecoveryMode;
pub use sync_policy::SyncPolicy;
pub use wal::{Wal, DEFAULT_PREALLOCATE_BYTES};
pub use writer::LogWriter;
