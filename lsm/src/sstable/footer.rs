//! The fixed-size footer at the end of every table: where the metadata blocks are.
//!
//! Format: `docs/format/sstable.md`, section "Footer". 68 bytes:
//!
//! ```text
//! 0   index handle       offset u64 LE, size u64 LE
//! 16  filter handle      offset u64 LE, size u64 LE   (0, 0 = no filter)
//! 32  properties handle  offset u64 LE, size u64 LE
//! 48  format version     u32 LE
//! 52  footer checksum    u64 LE = xxh3_64(bytes 0..52)
//! 60  magic              u64 LE = SST_MAGIC
//! ```
//!
//! Fixed widths (not varints) keep the footer at a known distance from the end, so a reader
//! finds it with one read. The magic comes last so that a file that is not a table at all is
//! reported as such before anything else is interpreted.

use kvd_base::checksum::checksum64;
use kvd_base::coding::{put_u32, put_u64, Decoder};
use kvd_base::format::{SST_FORMAT_VERSION, SST_MAGIC};
use kvd_base::fs::RandomAccessFile;

use super::BlockHandle;
use crate::{Error, Result};

/// Size of the footer in bytes.
pub const FOOTER_LEN: usize = 68;

/// Bytes covered by the footer checksum.
const CHECKSUMMED_LEN: usize = 52;

/// The decoded footer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footer {
    /// The index block.
    pub index: BlockHandle,
    /// The filter block, if the table has one.
    pub filter: Option<BlockHandle>,
    /// The properties block.
    pub properties: BlockHandle,
    /// Format version of the table; readers accept only versions they know.
    pub format_version: u32,
}

impl Footer {
    /// Appends the 68-byte encoding.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let start = buf.len();
        self.index.encode_fixed(buf);
        self.filter.unwrap_or_default().encode_fixed(buf);
        self.properties.encode_fixed(buf);
        put_u32(buf, self.format_version);
        let sum = checksum64(&buf[start..]);
        put_u64(buf, sum);
        put_u64(buf, SST_MAGIC);
    }

    /// Decodes the footer from the last [`FOOTER_LEN`] bytes of a file, which began at
    /// `offset`. Checks, in order: length, magic, checksum, version; each failure is a
    /// corruption error naming `file_name`.
    pub fn decode(buf: &[u8], file_name: &str, offset: u64) -> Result<Footer> {
        let bad = |at: usize, reason: String| Error::corruption(file_name, offset + at as u64, reason);
        if buf.len() != FOOTER_LEN {
            return Err(bad(0, format!("footer is {} bytes, expected {FOOTER_LEN}", buf.len())));
        }
        let magic = kvd_base::coding::read_u64_at(buf, 60).unwrap_or(0);
        if magic != SST_MAGIC {
            return Err(bad(60, format!("bad magic {magic:#018x}: not a kvd table")));
        }
        let stored = kvd_base::coding::read_u64_at(buf, CHECKSUMMED_LEN).unwrap_or(0);
        if stored != checksum64(&buf[..CHECKSUMMED_LEN]) {
            return Err(bad(CHECKSUMMED_LEN, "footer checksum mismatch".into()));
        }
        let mut d = Decoder::new(buf);
        let decode_err = |e: kvd_base::coding::DecodeError| Error::Base(e.in_file(file_name, offset));
        let index = BlockHandle::decode_fixed(&mut d).map_err(decode_err)?;
        let filter = BlockHandle::decode_fixed(&mut d).map_err(decode_err)?;
        let properties = BlockHandle::decode_fixed(&mut d).map_err(decode_err)?;
        let format_version = d.u32("format version").map_err(decode_err)?;
        if format_version != SST_FORMAT_VERSION {
            return Err(bad(48, format!("unsupported table format version {format_version}")));
        }
        let filter = (filter != BlockHandle::default()).then_some(filter);
        Ok(Footer { index, filter, properties, format_version })
    }

    /// Reads and decodes the footer of `file`; a file shorter than a footer is corruption.
    pub fn read(file: &dyn RandomAccessFile, file_name: &str) -> Result<Footer> {
        let len = file.len();
        if len < FOOTER_LEN as u64 {
            return Err(Error::corruption(
                file_name,
                0,
                format!("file of {len} bytes is too short to be a table (footer is {FOOTER_LEN})"),
            ));
        }
        let offset = len - FOOTER_LEN as u64;
        let buf = file.read_at(offset, FOOTER_LEN)?;
        Footer::decode(&buf, file_name, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Footer {
        Footer {
            index: BlockHandle::new(100, 20),
            filter: Some(BlockHandle::new(50, 41)),
            properties: BlockHandle::new(129, 60),
            format_version: SST_FORMAT_VERSION,
        }
    }

    #[test]
    fn roundtrip_and_layout() {
        let mut b = Vec::new();
        sample().encode(&mut b);
        assert_eq!(b.len(), FOOTER_LEN);
        assert_eq!(&b[60..], &SST_MAGIC.to_le_bytes());
        assert_eq!(Footer::decode(&b, "f", 0).unwrap(), sample());
        let mut none = Vec::new();
        Footer { filter: None, ..sample() }.encode(&mut none);
        assert_eq!(Footer::decode(&none, "f", 0).unwrap().filter, None);
    }

    #[test]
    fn every_flipped_byte_is_corruption() {
        let mut b = Vec::new();
        sample().encode(&mut b);
        for i in 0..FOOTER_LEN {
            let mut c = b.clone();
            c[i] ^= 1;
            let e = Footer::decode(&c, "table.sst", 0).unwrap_err();
            assert!(e.is_corruption() && e.to_string().contains("table.sst"), "{e}");
        }
        assert!(Footer::decode(&b[1..], "f", 0).is_err());
    }

    #[test]
    fn unknown_version_is_rejected() {
        let mut b = Vec::new();
        Footer { format_version: 99, ..sample() }.encode(&mut b);
        assert!(Footer::decode(&b, "f", 0).unwrap_err().to_string().contains("version 99"));
    }
}
