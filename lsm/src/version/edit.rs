//! [`VersionEdit`]: one change to the set of live files, as logged in the manifest.
//!
//! Encoding (see `docs/format/manifest.md`): a sequence of fields, each a varint tag and its
//! payload. Unknown tags are corruption, so an old binary never misreads a newer manifest.

use kvd_base::coding::{put_bytes, put_varint, DecodeError, Decoder};

use super::file_meta::FileMeta;

const TAG_LOG_NUMBER: u64 = 1;
const TAG_NEXT_FILE_NUMBER: u64 = 2;
const TAG_LAST_SEQNO: u64 = 3;
const TAG_DELETED_FILE: u64 = 4;
const TAG_NEW_FILE: u64 = 5;
const TAG_HISTORY_FLOOR: u64 = 6;

/// A change to the live files and counters. Fields left `None` are unchanged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// Write-ahead logs numbered below this are fully flushed and may be deleted.
    pub log_number: Option<u64>,
    /// The next file number to allocate.
    pub next_file_number: Option<u64>,
    /// The largest sequence number known to be in a table or covered by the logs.
    pub last_seqno: Option<u64>,
    /// The history floor: compaction keeps every version newer than it.
    pub history_floor: Option<u64>,
    /// Files removed, as `(level, file number)`.
    pub deleted_files: Vec<(usize, u64)>,
    /// Files added, as `(level, metadata)`.
    pub new_files: Vec<(usize, FileMeta)>,
}

impl VersionEdit {
    /// Appends the encoding to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        for (tag, v) in [
            (TAG_LOG_NUMBER, self.log_number),
            (TAG_NEXT_FILE_NUMBER, self.next_file_number),
            (TAG_LAST_SEQNO, self.last_seqno),
            (TAG_HISTORY_FLOOR, self.history_floor),
        ] {
            if let Some(v) = v {
                put_varint(buf, tag);
                put_varint(buf, v);
            }
        }
        for (level, number) in &self.deleted_files {
            put_varint(buf, TAG_DELETED_FILE);
            put_varint(buf, *level as u64);
            put_varint(buf, *number);
        }
        for (level, f) in &self.new_files {
            put_varint(buf, TAG_NEW_FILE);
            put_varint(buf, *level as u64);
            put_varint(buf, f.number);
            put_varint(buf, f.file_size);
            put_bytes(buf, &f.smallest);
            put_bytes(buf, &f.largest);
            put_varint(buf, f.smallest_seqno);
            put_varint(buf, f.largest_seqno);
            put_varint(buf, f.num_entries);
            put_varint(buf, f.num_deletions);
            put_varint(buf, f.earliest_expiry);
        }
    }

    /// Decodes an edit; any malformed or unknown field is an error.
    pub fn decode(buf: &[u8]) -> Result<VersionEdit, DecodeError> {
        let mut d = Decoder::new(buf);
        let mut e = VersionEdit::default();
        while !d.is_empty() {
            let at = d.position();
            match d.varint("edit tag")? {
                TAG_LOG_NUMBER => e.log_number = Some(d.varint("log number")?),
                TAG_NEXT_FILE_NUMBER => e.next_file_number = Some(d.varint("next file number")?),
                TAG_LAST_SEQNO => e.last_seqno = Some(d.varint("last seqno")?),
                TAG_HISTORY_FLOOR => e.history_floor = Some(d.varint("history floor")?),
                TAG_DELETED_FILE => {
                    let level = level(&mut d)?;
                    e.deleted_files.push((level, d.varint("deleted file number")?));
                }
                TAG_NEW_FILE => {
                    let level = level(&mut d)?;
                    let f = FileMeta {
                        number: d.varint("file number")?,
                        file_size: d.varint("file size")?,
                        smallest: d.bytes("smallest key")?.to_vec(),
                        largest: d.bytes("largest key")?.to_vec(),
                        smallest_seqno: d.varint("smallest seqno")?,
                        largest_seqno: d.varint("largest seqno")?,
                        num_entries: d.varint("entry count")?,
                        num_deletions: d.varint("deletion count")?,
                        earliest_expiry: d.varint("earliest expiry")?,
                    };
                    e.new_files.push((level, f));
                }
                _ => return Err(DecodeError { offset: at, what: "known edit tag" }),
            }
        }
        Ok(e)
    }
}

fn level(d: &mut Decoder<'_>) -> Result<usize, DecodeError> {
    let at = d.position();
    let l = d.varint("level")?;
    if l >= super::NUM_LEVELS as u64 {
        return Err(DecodeError { offset: at, what: "level below NUM_LEVELS" });
    }
    Ok(l as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn roundtrip() {
        let e = VersionEdit {
            log_number: Some(4),
            next_file_number: Some(9),
            last_seqno: Some(1000),
            history_floor: None,
            deleted_files: vec![(0, 3)],
            new_files: vec![(
                1,
                FileMeta {
                    number: 8,
                    file_size: 4096,
                    smallest: b"a\0\0\0\0\0\0\0\0".to_vec(),
                    largest: b"z\0\0\0\0\0\0\0\0".to_vec(),
                    smallest_seqno: 1,
                    largest_seqno: 99,
                    num_entries: 10,
                    num_deletions: 2,
                    earliest_expiry: 0,
                },
            )],
        };
        let mut b = Vec::new();
        e.encode(&mut b);
        assert_eq!(VersionEdit::decode(&b).unwrap(), e);
    }

    proptest! {
        #[test]
        fn garbage_never_panics(b in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = VersionEdit::decode(&b);
        }
    }
}
