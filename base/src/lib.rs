//! `kvd-base`: the shared floor of kvd.
//!
//! Byte coding (fixed little-endian widths and varints with bounds-checked decodes), checksums,
//! the [`Fs`](fs::Fs) file-system trait with its real, in-memory and fault-injecting
//! implementations, internal keys and sequence numbers, file names, format versions and the
//! injectable clock.
//!
//! This crate must never depend on any other kvd crate: everything else stands on it.
#![deny(missing_docs)]

pub mod checksum;
pub mod clock;
pub mod coding;
pub mod compare;
mod error;
pub mod file_names;
pub mod format;
pub mod fs;
pub mod key;
pub mod key_head;

pub use error::{Error, Result};
pub use key::{InternalKey, SeqNo, ValueKind, MAX_SEQNO};
