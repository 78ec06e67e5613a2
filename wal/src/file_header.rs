//! The payload of the `FileHeader` record that opens every log file.
//!
//! It names the format (so a future reader can refuse or convert an old file instead of
//! misparsing it) and the log number (so recovery can check it replays the file it meant to:
//! a renamed or copied log would otherwise be replayed under the wrong number).

use kvd_base::coding::{put_u32, put_u64, Decoder};

use crate::format::{FILE_HEADER_LEN, WAL_FORMAT_VERSION, WAL_MAGIC};

/// The decoded file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileHeader {
    /// Format version the file was written with.
    pub version: u32,
    /// The log number the file was created for.
    pub log_number: u64,
}

/// The header payload for a new file in the current format.
pub(crate) fn encode(log_number: u64) -> Vec<u8> {
    let mut buf = Vec::with_capacity(FILE_HEADER_LEN);
    put_u64(&mut buf, WAL_MAGIC);
    put_u32(&mut buf, WAL_FORMAT_VERSION);
    put_u64(&mut buf, log_number);
    buf
}

/// Decodes and validates a header payload. The error is a reason for a corruption error.
///
/// These failures are never treated as crash damage (the record's checksum verified): a wrong
/// magic means this is not a kvd log, a newer version means it must not be guessed at.
pub(crate) fn decode(payload: &[u8]) -> Result<FileHeader, String> {
    if payload.len() != FILE_HEADER_LEN {
        return Err(format!("file header payload is {} bytes, expected {FILE_HEADER_LEN}", payload.len()));
    }
    let mut d = Decoder::new(payload);
    let field = |e: kvd_base::coding::DecodeError| e.to_string();
    let magic = d.u64("WAL magic").map_err(field)?;
    if magic != WAL_MAGIC {
        return Err(format!("bad WAL magic {magic:#018x}: not a kvd write-ahead log"));
    }
    let version = d.u32("WAL format version").map_err(field)?;
    if version == 0 || version > WAL_FORMAT_VERSION {
        return Err(format!("unsupported WAL format version {version} (this build reads 1..={WAL_FORMAT_VERSION})"));
    }
    let log_number = d.u64("log number").map_err(field)?;
    Ok(FileHeader { version, log_number })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let h = decode(&encode(42)).unwrap();
        assert_eq!(h, FileHeader { version: WAL_FORMAT_VERSION, log_number: 42 });
    }

    #[test]
    fn rejects_wrong_magic_version_and_length() {
        let mut b = encode(1);
        b[0] ^= 1;
        assert!(decode(&b).unwrap_err().contains("magic"));
        let mut b = encode(1);
        b[8..12].copy_from_slice(&(WAL_FORMAT_VERSION + 1).to_le_bytes());
        assert!(decode(&b).unwrap_err().contains("version"));
        b[8..12].copy_from_slice(&0u32.to_le_bytes());
        assert!(decode(&b).unwrap_err().contains("version"));
        assert!(decode(&encode(1)[..19]).unwrap_err().contains("19 bytes"));
    }
}
