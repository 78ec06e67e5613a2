//! [`LogReader`]: reassembles the payloads of one log file and decides, by [`RecoveryMode`],
//! what damage means.

use std::path::Path;
use std::sync::Arc;

use kvd_base::fs::{Fs, RandomAccessFile};

use crate::format::{RecordType, BLOCK_SIZE, HEADER_SIZE};
use crate::record;
use crate::source::Source;
use crate::{file_header, resync, RecoveryMode, Result};

/// Reads the records of one log file, in the order they were added.
///
/// Payloads come back whole: the fragments of a payload are checked one by one and the payload
/// is returned only once its last fragment verifies, so a torn or damaged payload is dropped
/// whole, never returned in part. Damage is handled as [`RecoveryMode`] says; when the mode
/// ends the log early without error, [`tail_dropped`](Self::tail_dropped) says where and why.
///
/// The file header is read by the constructors: a file that is not a kvd log or is in a
/// format this build cannot read is a corruption error in every mode.
///
/// Never panics on any input. Reads one block (32 KiB) at a time, plus a forward scan of the
/// rest of the file when [`RecoveryMode::TolerateCorruptedTail`] meets damage.
pub struct LogReader {
    source: Source,
    file_name: String,
    mode: RecoveryMode,
    /// The current block's bytes, and which block it is.
    block: Vec<u8>,
    block_index: u64,
    /// Offset within `block` of the next record.
    pos: usize,
    log_number: Option<u64>,
    /// Fragments of the payload being reassembled.
    scratch: Vec<u8>,
    state: State,
    tail_dropped: Option<(u64, String)>,
    last_record_offset: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Reading,
    /// The log ended, cleanly or by a tolerated tail.
    Ended,
    /// Corruption was reported; it is reported again on every later call.
    Failed {
        offset: u64,
        reason: String,
    },
}

/// One step of the physical record scan.
enum Step {
    /// A valid record; its payload is `block[start..start + len]`.
    Record { ty: RecordType, offset: u64, start: usize, len: usize },
    /// The end of the file, at a record boundary.
    Eof,
    /// Bytes at `offset` that are not a valid record, and why.
    Invalid { offset: u64, reason: String },
}

/// What is known about valid records after a piece of damage.
enum After {
    /// The damage runs to the end of the file.
    Nothing,
    /// A valid record follows: the offending record is itself valid.
    Known,
    /// Unknown: scan from this offset.
    ScanFrom(u64),
}

impl std::fmt::Debug for LogReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogReader")
            .field("file_name", &self.file_name)
            .field("mode", &self.mode)
            .field("offset", &self.offset())
            .field("state", &self.state)
            .finish()
    }
}

impl LogReader {
    /// A reader over the bytes of a whole log file. `file_name` names it in errors.
    ///
    /// Fails when the file header is invalid: always for a wrong magic or format version, and
    /// as `mode` says for a damaged or missing header.
    pub fn new(data: Vec<u8>, file_name: impl Into<String>, mode: RecoveryMode) -> Result<Self> {
        Self::with_source(Source::Bytes(data), file_name.into(), mode)
    }

    /// A reader over an open file, read one block at a time. As [`new`](Self::new) otherwise.
    pub fn from_file(
        file: Arc<dyn RandomAccessFile>,
        file_name: impl Into<String>,
        mode: RecoveryMode,
    ) -> Result<Self> {
        Self::with_source(Source::File(file), file_name.into(), mode)
    }

    /// Opens `path` on `fs` and reads it as [`from_file`](Self::from_file) does.
    pub fn open(fs: &dyn Fs, path: &Path, mode: RecoveryMode) -> Result<Self> {
        Self::from_file(fs.open(path)?, path.display().to_string(), mode)
    }

    fn with_source(source: Source, file_name: String, mode: RecoveryMode) -> Result<Self> {
        let mut block = Vec::with_capacity(BLOCK_SIZE);
        source.read_block(0, &mut block)?;
        let mut r = LogReader {
            source,
            file_name,
            mode,
            block,
            block_index: 0,
            pos: 0,
            log_number: None,
            scratch: Vec::new(),
            state: State::Reading,
            tail_dropped: None,
            last_record_offset: None,
        };
        r.read_file_header()?;
        Ok(r)
    }

    /// The next whole payload, or `None` at the end of the log.
    ///
    /// After an error, every later call returns the same corruption error; after `None`,
    /// every later call returns `None`.
    pub fn next_record(&mut self) -> Result<Option<Vec<u8>>> {
        match &self.state {
            State::Reading => {}
            State::Ended => return Ok(None),
            State::Failed { offset, reason } => return Err(self.corruption(*offset, reason)),
        }
        self.scratch.clear();
        // Offset of the `First` fragment of the payload being reassembled, if any.
        let mut fragmented: Option<u64> = None;
        loop {
            let (ty, offset, start, len) = match self.next_physical()? {
                Step::Record { ty, offset, start, len } => (ty, offset, start, len),
                Step::Eof => {
                    let Some(first) = fragmented else {
                        self.state = State::Ended;
                        return Ok(None);
                    };
                    let reason = "fragmented record cut by end of file (no last fragment)";
                    return self.damage(first, first, reason.into(), After::Nothing);
                }
                Step::Invalid { offset, reason } => {
                    // Even a payload that seems cut by the end of the file is scanned past:
                    // its length field may be what is damaged, hiding good records after it.
                    let dropped_from = fragmented.unwrap_or(offset);
                    return self.damage(offset, dropped_from, reason, After::ScanFrom(offset + 1));
                }
            };
            let payload = &self.block[start..start + len];
            match (ty, fragmented) {
                (RecordType::Full, None) => {
                    self.last_record_offset = Some(offset);
                    return Ok(Some(payload.to_vec()));
                }
                (RecordType::First, None) => {
                    fragmented = Some(offset);
                    self.scratch.extend_from_slice(payload);
                }
                (RecordType::Middle, Some(_)) => self.scratch.extend_from_slice(payload),
                (RecordType::Last, Some(first)) => {
                    self.scratch.extend_from_slice(payload);
                    self.last_record_offset = Some(first);
                    return Ok(Some(std::mem::take(&mut self.scratch)));
                }
                // The writer never produces these sequences, and the offending record is
                // itself valid, so a valid record follows the damage by definition.
                (RecordType::FileHeader, _) => {
                    let reason = "file header record after the start of the log";
                    let dropped_from = fragmented.unwrap_or(offset);
                    return self.damage(offset, dropped_from, reason.into(), After::Known);
                }
                (RecordType::Full | RecordType::First, Some(first)) => {
                    let reason = format!(
                        "fragmented record at offset {first} has no last fragment before \
                         the record at offset {offset}"
                    );
                    return self.damage(offset, first, reason, After::Known);
                }
                (RecordType::Middle | RecordType::Last, None) => {
                    let reason = format!("{ty:?} fragment without a first fragment");
                    return self.damage(offset, offset, reason, After::Known);
                }
            }
        }
    }

    /// The log number in the file header; `None` when the header was missing or torn and the
    /// recovery mode tolerated it (the log then has no records). Recovery should check that
    /// it matches the number in the file's name: a mismatch means a renamed or copied log.
    pub fn log_number(&self) -> Option<u64> {
        self.log_number
    }

    /// When the mode ended the log early without an error, the offset of the first byte not
    /// recovered (the start of the dropped record) and the reason. `None` after a clean end.
    pub fn tail_dropped(&self) -> Option<(u64, &str)> {
        self.tail_dropped.as_ref().map(|(o, r)| (*o, r.as_str()))
    }

    /// File offset of the first fragment of the payload most recently returned, for naming
    /// it in errors (say, a batch in it that does not decode).
    pub fn last_record_offset(&self) -> Option<u64> {
        self.last_record_offset
    }

    /// The file name given at construction.
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// The recovery mode given at construction.
    pub fn mode(&self) -> RecoveryMode {
        self.mode
    }

    /// File offset of the next record to be read.
    fn offset(&self) -> u64 {
        self.block_index * BLOCK_SIZE as u64 + self.pos as u64
    }

    fn read_file_header(&mut self) -> Result<()> {
        if self.source.len() == 0 {
            // A crash between creating the file and syncing its header leaves this.
            let reason = "empty log file: no file header";
            self.damage(0, 0, reason.into(), After::Nothing)?;
            return Ok(());
        }
        match self.next_physical()? {
            Step::Record { ty: RecordType::FileHeader, start, len, .. } => {
                let payload = &self.block[start..start + len];
                match file_header::decode(payload) {
                    Ok(h) => self.log_number = Some(h.log_number),
                    Err(reason) => return Err(self.fail(0, reason)),
                }
            }
            Step::Record { ty, .. } => {
                let reason = format!("log starts with a {ty:?} record, not a file header");
                return Err(self.fail(0, reason));
            }
            Step::Eof => {
                // Only zeroes: space reserved for the log before its header reached the disk.
                let reason = "no file header: the file holds only reserved (zeroed) space";
                self.damage(0, 0, reason.into(), After::Nothing)?;
            }
            Step::Invalid { offset, reason } => {
                let reason = format!("file header: {reason}");
                self.damage(offset, offset, reason, After::ScanFrom(offset + 1))?;
            }
        }
        Ok(())
    }

    /// The next physical record, skipping block-tail padding.
    fn next_physical(&mut self) -> Result<Step> {
        loop {
            let left = self.block.len() - self.pos;
            let full = self.block.len() == BLOCK_SIZE;
            if !full && left == 0 {
                // Only the last block is short (or empty): this is the end of the file.
                return Ok(Step::Eof);
            }
            if full && left < HEADER_SIZE {
                // Padding (or nothing) to the end of a full block; records resume at the next.
                self.block_index += 1;
                self.source.read_block(self.block_index, &mut self.block)?;
                self.pos = 0;
                continue;
            }
            let offset = self.offset();
            if self.at_zeroed_header() {
                // A zeroed header is where a preallocated log's written part ends, if nothing
                // but zeroes follows. Anything else there is damage, classified as usual.
                let cached = (self.block_index, self.block.as_slice());
                if resync::first_nonzero_byte(&self.source, offset, cached)?.is_none() {
                    return Ok(Step::Eof);
                }
            }
            return Ok(match record::parse(&self.block, self.pos) {
                Ok(p) => {
                    self.pos = p.end();
                    Step::Record { ty: p.ty, offset, start: p.payload_start, len: p.payload_len }
                }
                Err(reason) => Step::Invalid { offset, reason },
            });
        }
    }

    /// True when the bytes where the next record header should be (as many as the block
    /// has) are all zeroes.
    fn at_zeroed_header(&self) -> bool {
        let end = (self.pos + HEADER_SIZE).min(self.block.len());
        self.pos < end && self.block[self.pos..end].iter().all(|&b| b == 0)
    }

    /// Applies the recovery mode to damage found at `offset`. `dropped_from` is where the
    /// records that would be lost begin (earlier than `offset` inside a fragmented payload).
    /// Returns `Ok(None)` when the mode ends the log there, or the corruption error.
    fn damage(&mut self, offset: u64, dropped_from: u64, reason: String, after: After) -> Result<Option<Vec<u8>>> {
        self.scratch.clear();
        let resume = match self.mode {
            RecoveryMode::AbsoluteConsistency => return Err(self.fail(offset, reason)),
            RecoveryMode::PointInTime => None,
            RecoveryMode::TolerateCorruptedTail => match after {
                After::Nothing => None,
                After::Known => return Err(self.fail(offset, reason)),
                After::ScanFrom(from) => {
                    let cached = (self.block_index, self.block.as_slice());
                    resync::find_valid_record(&self.source, from, cached)?
                }
            },
        };
        if let Some(at) = resume {
            let reason = format!("{reason}; a valid record follows at offset {at}, so this is not a torn tail");
            return Err(self.fail(offset, reason));
        }
        if dropped_from < self.source.len() {
            self.tail_dropped = Some((dropped_from, reason));
        }
        self.state = State::Ended;
        Ok(None)
    }

    fn fail(&mut self, offset: u64, reason: String) -> crate::Error {
        let err = self.corruption(offset, &reason);
        self.state = State::Failed { offset, reason };
        err
    }

    fn corruption(&self, offset: u64, reason: &str) -> crate::Error {
        kvd_base::Error::corruption(self.file_name.clone(), offset, reason).into()
    }
}

#[cfg(test)]
mod tests;
