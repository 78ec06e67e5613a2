//! The MANIFEST: an append-only log of [`VersionEdit`]s, and `CURRENT`, which names it.
//!
//! Layout (see `docs/format/manifest.md`): a 12-byte header (magic u64, format version u32),
//! then records of `length u32 | checksum u32 (xxh3 low 32 bits of payload) | payload`, each
//! payload an encoded edit. The first edit is a full snapshot of the live state. Every edit is
//! synced before the engine acts on it, so the only damage recovery tolerates is a torn final
//! record; a bad record followed by more bytes is corruption.

mod reader;
mod writer;

pub use reader::{recover, ManifestState};
pub use writer::ManifestWriter;

const HEADER_LEN: usize = 12;
const RECORD_HEADER_LEN: usize = 8;
