//! Physical blocks: optional compression plus the 9-byte trailer, written and verified.
//!
//! Format: `docs/format/sstable.md`, section "Block trailer". On disk a block is
//! `stored bytes | compression type u8 | xxh3-64 u64 LE`, where the checksum covers the stored
//! bytes and the compression byte (so a flipped type byte is caught too). Compressed contents
//! are `varint uncompressed_len | zstd frame`; the length lets the reader reject a frame that
//! decompresses to anything else and cap how much it will inflate.

use std::io::Read;

use kvd_base::checksum::checksum64;
use kvd_base::coding::{put_u64, put_varint, Decoder};
use kvd_base::fs::{RandomAccessFile, WritableFile};

use super::{BlockHandle, Compression};
use crate::{Error, Result};

/// Bytes after every block: compression type (1) and checksum (8).
pub const BLOCK_TRAILER_LEN: usize = 9;

/// Compression type byte: stored as is.
pub(crate) const TYPE_NONE: u8 = 0;
/// Compression type byte: `varint uncompressed_len | zstd frame`.
pub(crate) const TYPE_ZSTD: u8 = 1;

/// Largest uncompressed block a reader accepts: restart offsets are u32, so no valid block is
/// larger, and the cap bounds what a crafted frame can make us allocate.
const MAX_UNCOMPRESSED: u64 = u32::MAX as u64;

/// Writes `raw` as one block at `*offset` of `file`, compressing it per `compression` when that
/// saves at least 1/8 of its size, and advances `*offset`. Returns the block's handle.
pub(crate) fn write_block(
    file: &mut dyn WritableFile,
    file_name: &str,
    offset: &mut u64,
    raw: &[u8],
    compression: Compression,
) -> Result<BlockHandle> {
    let mut out = Vec::new();
    let mut kind = TYPE_NONE;
    if let Compression::Zstd { level } = compression {
        let frame = zstd::bulk::compress(raw, level)
            .map_err(|e| Error::Base(kvd_base::Error::io("zstd compress", file_name, e)))?;
        put_varint(&mut out, raw.len() as u64);
        out.extend_from_slice(&frame);
        // Below a 12.5% saving, decompression cost on every read outweighs the space.
        if out.len() < raw.len() - raw.len() / 8 {
            kind = TYPE_ZSTD;
        } else {
            out.clear();
        }
    }
    if kind == TYPE_NONE {
        out.reserve(raw.len() + BLOCK_TRAILER_LEN);
        out.extend_from_slice(raw);
    }
    let handle = BlockHandle::new(*offset, out.len() as u64);
    out.push(kind);
    let sum = checksum64(&out);
    put_u64(&mut out, sum);
    file.append(&out)?;
    *offset += out.len() as u64;
    Ok(handle)
}

/// Reads the block at `handle`, verifies its checksum and returns its uncompressed contents.
///
/// `limit` is the offset where blocks end (the footer's start): a handle reaching past it is
/// corruption, detected before any read. Every failure names `file_name` and the block offset.
pub(crate) fn read_block(
    file: &dyn RandomAccessFile,
    file_name: &str,
    handle: BlockHandle,
    limit: u64,
) -> Result<Vec<u8>> {
    let bad = |reason: String| Error::corruption(file_name, handle.offset, reason);
    match handle.end_with_trailer() {
        Some(end) if end <= limit => {}
        _ => return Err(bad(format!("block handle {handle:?} reaches past the blocks' end {limit}"))),
    }
    let size = usize::try_from(handle.size).map_err(|_| bad("block too large".into()))?;
    let mut buf = file.read_at(handle.offset, size + BLOCK_TRAILER_LEN)?;
    let expected = kvd_base::coding::read_u64_at(&buf, size + 1).unwrap_or(0);
    let actual = checksum64(&buf[..size + 1]);
    if expected != actual {
        return Err(bad(format!("block checksum mismatch: stored {expected:#018x}, computed {actual:#018x}")));
    }
    match buf[size] {
        TYPE_NONE => {
            buf.truncate(size);
            Ok(buf)
        }
        TYPE_ZSTD => decompress(&buf[..size]).map_err(|reason| bad(format!("zstd block: {reason}"))),
        t => Err(bad(format!("unknown compression type {t}"))),
    }
}

/// Inflates `varint len | zstd frame`, insisting on exactly `len` bytes.
fn decompress(stored: &[u8]) -> std::result::Result<Vec<u8>, String> {
    let mut d = Decoder::new(stored);
    let len = d.varint("uncompressed length").map_err(|e| e.to_string())?;
    if len > MAX_UNCOMPRESSED {
        return Err(format!("uncompressed length {len} too large"));
    }
    let decoder = zstd::stream::read::Decoder::new(d.rest()).map_err(|e| e.to_string())?;
    // Grow as bytes arrive rather than trusting `len` for one big allocation; read one byte
    // past `len` to notice a frame that inflates to more.
    let mut out = Vec::with_capacity(len.min(1 << 20) as usize);
    decoder.take(len + 1).read_to_end(&mut out).map_err(|e| e.to_string())?;
    if out.len() as u64 != len {
        return Err(format!("decompressed to {} bytes, expected {len}", out.len()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kvd_base::fs::{Fs, MemFs};
    use std::path::Path;

    fn roundtrip(raw: &[u8], c: Compression) -> (BlockHandle, u8) {
        let fs = MemFs::new();
        let p = Path::new("/t");
        let mut f = fs.create(p).unwrap();
        let mut off = 0;
        let h = write_block(&mut *f, "t", &mut off, raw, c).unwrap();
        assert_eq!(off, h.size + BLOCK_TRAILER_LEN as u64);
        let r = fs.open(p).unwrap();
        assert_eq!(read_block(&*r, "t", h, off).unwrap(), raw);
        let kind = r.read_at(h.size, 1).unwrap()[0];
        (h, kind)
    }

    #[test]
    fn compresses_only_when_worth_it() {
        let compressible = vec![7u8; 4096];
        assert_eq!(roundtrip(&compressible, Compression::Zstd { level: 3 }).1, TYPE_ZSTD);
        assert_eq!(roundtrip(&compressible, Compression::None).1, TYPE_NONE);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let random: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let (_, kind) = roundtrip(&random, Compression::Zstd { level: 3 });
        assert_eq!(kind, TYPE_NONE);
        assert_eq!(roundtrip(&[], Compression::Zstd { level: 1 }).1, TYPE_NONE);
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let fs = MemFs::new();
        let p = Path::new("/t");
        let mut f = fs.create(p).unwrap();
        let mut off = 0;
        let h = write_block(&mut *f, "t", &mut off, &[5u8; 300], Compression::Zstd { level: 1 }).unwrap();
        for i in 0..off as usize {
            fs.mutate_byte(p, i, |b| b ^ 0x10).unwrap();
            let e = read_block(&*fs.open(p).unwrap(), "t", h, off).unwrap_err();
            assert!(e.is_corruption() && e.to_string().contains("t"), "{e}");
            fs.mutate_byte(p, i, |b| b ^ 0x10).unwrap();
        }
        let e = read_block(&*fs.open(p).unwrap(), "t", h, off - 1).unwrap_err();
        assert!(e.is_corruption());
    }

    #[test]
    fn bad_frames_are_rejected() {
        assert!(decompress(&[]).is_err());
        assert!(decompress(&[10, 1, 2, 3]).is_err());
        let mut s = Vec::new();
        put_varint(&mut s, 5);
        s.extend_from_slice(&zstd::bulk::compress(b"123456", 1).unwrap());
        assert!(decompress(&s).is_err());
    }
}
