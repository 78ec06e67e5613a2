//! [`LogWriter`]: frames payloads into one log file.

use kvd_base::fs::{Reserve, WritableFile};

use crate::format::{RecordType, BLOCK_SIZE, HEADER_SIZE};
use crate::{file_header, record, Error, Result};

/// Capacity above which the framing buffer is released after a record, so one huge batch
/// does not pin its size in memory for the life of the log.
const KEEP_BUFFER_CAPACITY: usize = 1 << 20;

/// Zeroes for block-tail padding.
const PADDING: [u8; HEADER_SIZE] = [0; HEADER_SIZE];

/// Appends records to one log file in the format of `docs/format/wal.md`.
///
/// Each [`add_record`](Self::add_record) frames the whole payload (every fragment and any
/// padding) into a reusable buffer and hands it to the file in a single `append`, so a crash
/// tears at most the record being written and a torn record can never be mistaken for a
/// complete one: every fragment carries its own checksum and a payload is only whole once its
/// `Last` (or `Full`) fragment verifies.
///
/// After any failed append, flush or sync the writer is poisoned and every later call returns
/// [`Error::Poisoned`]: its idea of the block offset no longer matches the file, and a failed
/// sync must not be retried as if it had worked.
///
/// Not thread-safe on its own; [`crate::Wal`] adds the locking.
pub struct LogWriter {
    file: Box<dyn WritableFile>,
    log_number: u64,
    /// Offset within the current block where the next record starts.
    block_offset: usize,
    /// Framing buffer, reused across records.
    buf: Vec<u8>,
    poisoned: bool,
    /// Space is reserved in steps of this many bytes; 0 = never.
    preallocate_step: u64,
    /// How space is reserved.
    reserve: Reserve,
    /// The file size reserved so far.
    reserved: u64,
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("log_number", &self.log_number)
            .field("size", &self.size())
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

impl LogWriter {
    /// Starts log `log_number` in `file` by appending the `FileHeader` record.
    ///
    /// REQUIRES: `file` is empty (a new file); the writer's block arithmetic starts at zero.
    /// The header is appended, not flushed or synced: the caller decides (see
    /// [`crate::Wal::create`], which syncs it before the file's directory entry).
    pub fn new(file: Box<dyn WritableFile>, log_number: u64) -> Result<LogWriter> {
        Self::with_preallocation(file, log_number, 0, Reserve::Allocate)
    }

    /// As [`new`](Self::new), and reserves file space `step` bytes at a time ahead of the
    /// appends (0 disables it). Appends into reserved space do not change the file's size, so
    /// each fsync writes data only instead of data plus a size change: on ext4 that halves
    /// the cost of a small synced append. The unwritten rest of the file reads as zeroes,
    /// which the reader takes as the end of the log (`docs/format/wal.md`). `reserve` says
    /// whether the zeroes are also written (worth it when every append is synced: see
    /// [`Reserve`]). Preallocation failures are ignored (the file then simply grows); the
    /// appends report real errors.
    pub fn with_preallocation(
        file: Box<dyn WritableFile>,
        log_number: u64,
        step: u64,
        reserve: Reserve,
    ) -> Result<LogWriter> {
        debug_assert!(file.is_empty(), "LogWriter needs an empty file");
        let mut w = LogWriter {
            file,
            log_number,
            block_offset: 0,
            buf: Vec::new(),
            poisoned: false,
            preallocate_step: step,
            reserve,
            reserved: 0,
        };
        w.frame(RecordType::FileHeader, &file_header::encode(log_number));
        w.write_buffer()?;
        Ok(w)
    }

    /// Appends `payload` as one logical record, split into fragments across blocks as needed.
    /// An empty payload is a valid record. The bytes may sit in a user-space buffer until
    /// [`flush`](Self::flush) or [`sync`](Self::sync).
    pub fn add_record(&mut self, payload: &[u8]) -> Result<()> {
        self.check_poisoned()?;
        self.frame(RecordType::Full, payload);
        self.write_buffer()
    }

    /// Hands buffered bytes to the operating system: they then survive a process crash
    /// (kill -9) but not a power loss.
    pub fn flush(&mut self) -> Result<()> {
        self.check_poisoned()?;
        let r = self.file.flush();
        self.poison_on_err(r)
    }

    /// Makes every record added so far durable (fdatasync).
    pub fn sync(&mut self) -> Result<()> {
        self.check_poisoned()?;
        let r = self.file.sync();
        self.poison_on_err(r)
    }

    /// Bytes appended to the file so far, header and framing included.
    pub fn size(&self) -> u64 {
        self.file.len()
    }

    /// The log number this file was created for.
    pub fn log_number(&self) -> u64 {
        self.log_number
    }

    /// True after a failed append, flush or sync.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned
    }

    /// Frames `payload` into `self.buf`, advancing the block offset. `kind` is `Full` for a
    /// logical record (fragmented as needed) or `FileHeader`, which always fits in one.
    fn frame(&mut self, kind: RecordType, payload: &[u8]) {
        self.buf.clear();
        let mut rest = payload;
        let mut is_first = true;
        loop {
            let left_in_block = BLOCK_SIZE - self.block_offset;
            if left_in_block < HEADER_SIZE {
                // No room for a header: pad the tail with zeroes and start a new block.
                self.buf.extend_from_slice(&PADDING[..left_in_block]);
                self.block_offset = 0;
            }
            // May be zero when exactly a header's worth is left: an empty First fragment.
            let avail = BLOCK_SIZE - self.block_offset - HEADER_SIZE;
            let n = rest.len().min(avail);
            let is_last = n == rest.len();
            let ty = match kind {
                RecordType::FileHeader => kind,
                _ => RecordType::for_fragment(is_first, is_last),
            };
            record::encode(&mut self.buf, ty, &rest[..n]);
            self.block_offset += HEADER_SIZE + n;
            rest = &rest[n..];
            is_first = false;
            if is_last {
                break;
            }
        }
    }

    fn write_buffer(&mut self) -> Result<()> {
        self.reserve_space();
        let r = self.file.append(&self.buf);
        if self.buf.capacity() > KEEP_BUFFER_CAPACITY {
            self.buf = Vec::new();
        }
        self.poison_on_err(r)
    }

    /// Extends the reserved space, whole steps at a time, to cover the buffered record.
    fn reserve_space(&mut self) {
        let end = self.file.len() + self.buf.len() as u64;
        if self.preallocate_step == 0 || end <= self.reserved {
            return;
        }
        let target = end.div_ceil(self.preallocate_step).saturating_mul(self.preallocate_step);
        match self.file.preallocate(target, self.reserve) {
            Ok(()) => self.reserved = target,
            Err(e) => {
                // Not fatal: without a reservation the file grows as appends land.
                tracing::debug!(error = %e, log = self.log_number, "log preallocation failed; not retrying");
                self.preallocate_step = 0;
            }
        }
    }

    fn check_poisoned(&self) -> Result<()> {
        if self.poisoned {
            return Err(Error::Poisoned);
        }
        Ok(())
    }

    fn poison_on_err(&mut self, r: kvd_base::Result<()>) -> Result<()> {
        if r.is_err() {
            self.poisoned = true;
        }
        Ok(r?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::MAX_FRAGMENT_LEN;
    use kvd_base::fs::{FaultFs, Fs, MemFs};
    use std::path::Path;
    use std::sync::Arc;

    /// The record types in the file, in order, walking it block by block.
    fn types(data: &[u8]) -> Vec<RecordType> {
        let mut out = Vec::new();
        for block in data.chunks(BLOCK_SIZE) {
            let mut pos = 0;
            while block.len() - pos >= HEADER_SIZE {
                let p = record::parse(block, pos).unwrap();
                out.push(p.ty);
                pos = p.end();
            }
            assert!(block[pos..].iter().all(|&b| b == 0), "padding must be zeroes");
        }
        out
    }

    fn written(f: impl FnOnce(&mut LogWriter)) -> Vec<u8> {
        let fs = MemFs::new();
        let path = Path::new("/1.log");
        let mut w = LogWriter::new(fs.create(path).unwrap(), 1).unwrap();
        f(&mut w);
        assert_eq!(w.size(), fs.file_size(path).unwrap());
        fs.read_all(path).unwrap()
    }

    #[test]
    fn fragments_a_multi_block_record() {
        use RecordType::*;
        let data = written(|w| w.add_record(&vec![7; 2 * BLOCK_SIZE]).unwrap());
        assert_eq!(types(&data), [FileHeader, First, Middle, Last]);
    }

    #[test]
    fn pads_a_short_tail_and_fills_an_exact_one() {
        use RecordType::*;
        let header_end = HEADER_SIZE + crate::format::FILE_HEADER_LEN;
        // Leave 3 bytes in block 0: they become padding and the next record starts block 1.
        let fill = BLOCK_SIZE - header_end - HEADER_SIZE - 3;
        let data = written(|w| {
            w.add_record(&vec![1; fill]).unwrap();
            w.add_record(b"next").unwrap();
        });
        assert_eq!(data.len(), BLOCK_SIZE + HEADER_SIZE + 4);
        assert_eq!(types(&data), [FileHeader, Full, Full]);
        // Leave exactly a header: an empty First fragment, then Last in block 1.
        let data = written(|w| {
            w.add_record(&vec![1; fill + 3 - HEADER_SIZE]).unwrap();
            w.add_record(b"next").unwrap();
        });
        assert_eq!(types(&data), [FileHeader, Full, First, Last]);
    }

    #[test]
    fn a_full_block_payload_takes_a_whole_block() {
        use RecordType::*;
        let data = written(|w| {
            w.add_record(&vec![3; MAX_FRAGMENT_LEN]).unwrap();
        });
        assert_eq!(types(&data), [FileHeader, First, Last]);
    }

    #[test]
    fn a_failed_sync_poisons_the_writer() {
        let fs = FaultFs::new(Arc::new(MemFs::new()));
        let mut w = LogWriter::new(fs.create(Path::new("/1.log")).unwrap(), 1).unwrap();
        w.add_record(b"a").unwrap();
        fs.fail_after(0, false);
        assert!(matches!(w.sync(), Err(Error::Base(e)) if e.is_injected()));
        // The fault was transient, but the writer must not pretend the sync can be retried.
        assert!(w.is_poisoned());
        assert!(matches!(w.sync(), Err(Error::Poisoned)));
        assert!(matches!(w.add_record(b"b"), Err(Error::Poisoned)));
    }

    #[test]
    fn preallocates_whole_steps_ahead_of_the_appends() {
        let fs = MemFs::new();
        let path = Path::new("/1.log");
        let step = 4096;
        let mut w = LogWriter::with_preallocation(fs.create(path).unwrap(), 1, step, Reserve::Allocate).unwrap();
        assert_eq!(fs.file_size(path).unwrap(), step);
        w.add_record(&[9; 5000]).unwrap();
        assert_eq!(fs.file_size(path).unwrap(), 2 * step);
        let data = fs.read_all(path).unwrap();
        let written = w.size() as usize;
        assert!(data[written..].iter().all(|&b| b == 0), "reserved space reads as zeroes");
        let mut expected = written_without_preallocation(&[&[9; 5000]]);
        expected.resize(2 * step as usize, 0);
        assert_eq!(data, expected, "same bytes as an unreserved log, then zeroes");
    }

    fn written_without_preallocation(records: &[&[u8]]) -> Vec<u8> {
        written(|w| records.iter().for_each(|r| w.add_record(r).unwrap()))
    }

    #[test]
    fn one_append_per_record() {
        let fs = FaultFs::new(Arc::new(MemFs::new()));
        let mut w = LogWriter::new(fs.create(Path::new("/1.log")).unwrap(), 1).unwrap();
        let before = fs.ops();
        w.add_record(&vec![0; 3 * BLOCK_SIZE]).unwrap();
        assert_eq!(fs.ops() - before, 1);
    }
}
