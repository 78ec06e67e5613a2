//! Human-readable rendering of a [`TableDump`] and its entries.

use std::io::{self, Write};

use super::{EntryDump, KeyDump, TableDump, VerifyDump};

fn key(k: &KeyDump) -> String {
    format!("'{}' @{} {}", k.user_key, k.seq, k.kind)
}

fn opt_key(k: &Option<KeyDump>) -> String {
    k.as_ref().map_or_else(|| "-".to_string(), key)
}

/// Writes the metadata sections present in `d`.
pub fn write_sections(out: &mut dyn Write, d: &TableDump) -> io::Result<()> {
    writeln!(out, "file: {} ({} bytes)", d.file, d.file_size)?;
    if let Some(f) = &d.footer {
        writeln!(out, "footer:")?;
        writeln!(out, "  format version: {}", f.format_version)?;
        writeln!(out, "  index block:      offset {} size {}", f.index.offset, f.index.size)?;
        match &f.filter {
            Some(h) => writeln!(out, "  filter block:     offset {} size {}", h.offset, h.size)?,
            None => writeln!(out, "  filter block:     none")?,
        }
        writeln!(out, "  properties block: offset {} size {}", f.properties.offset, f.properties.size)?;
    }
    if let Some(p) = &d.properties {
        writeln!(out, "properties:")?;
        writeln!(out, "  entries: {} (deletions {}, expiring {})", p.entries, p.deletions, p.expiring)?;
        let expiry = p.earliest_expiry_ms.map_or_else(|| "none".to_string(), |e| format!("{e} ms"));
        writeln!(out, "  earliest expiry: {expiry}")?;
        writeln!(out, "  key range: {} .. {}", opt_key(&p.smallest_key), opt_key(&p.largest_key))?;
        writeln!(out, "  seqno range: {} .. {}", p.smallest_seqno, p.largest_seqno)?;
        writeln!(out, "  compression: {}", p.compression)?;
        writeln!(
            out,
            "  raw sizes: keys {} + values {} = {} bytes",
            p.raw_key_bytes,
            p.raw_value_bytes,
            p.raw_key_bytes + p.raw_value_bytes
        )?;
        writeln!(
            out,
            "  on disk: data {} ({} blocks), index {}, filter {}, file {} bytes",
            p.data_bytes, p.data_blocks, p.index_bytes, p.filter_bytes, p.file_bytes
        )?;
        writeln!(out, "  created at: {} ms", p.created_at_ms)?;
    }
    if let Some(index) = &d.index {
        writeln!(out, "index: {} data blocks", index.len())?;
        for (i, e) in index.iter().enumerate() {
            writeln!(out, "  [{i}] offset {} size {} separator {}", e.block.offset, e.block.size, key(&e.separator))?;
        }
    }
    if let Some(b) = &d.bloom {
        if b.present {
            writeln!(
                out,
                "bloom filter: {} bits, {} hashes, {} bytes ({} bits/key configured)",
                b.bits, b.hashes, b.bytes, b.bits_per_key
            )?;
        } else {
            writeln!(out, "bloom filter: none")?;
        }
    }
    Ok(())
}

/// Writes one entry line, cutting the value at `max_value` characters of its rendering
/// (0: whole).
pub fn write_entry(out: &mut dyn Write, e: &EntryDump, max_value: usize) -> io::Result<()> {
    write!(out, "  '{}' @{} {}", e.key, e.seq, e.kind)?;
    if let Some(x) = e.expires_at_ms {
        write!(out, " expires {x} ms")?;
    }
    if let Some(v) = &e.value {
        let shown = cut(v, max_value);
        write!(out, " => '{shown}' ({} bytes)", e.value_len)?;
    }
    writeln!(out)
}

/// Cuts a rendered value after `max` characters (0: never), marking the cut with `...`.
fn cut(v: &str, max: usize) -> String {
    if max == 0 || v.chars().count() <= max {
        return v.to_string();
    }
    let mut s: String = v.chars().take(max).collect();
    s.push_str("...");
    s
}

/// Writes the result of a successful `--verify`.
pub fn write_verified(out: &mut dyn Write, v: &VerifyDump) -> io::Result<()> {
    writeln!(
        out,
        "{}: OK ({} blocks checked, {} data blocks, {} entries in order, {} bytes read)",
        v.file, v.blocks_checked, v.data_blocks, v.entries, v.bytes_read
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_marks_long_values() {
        assert_eq!(cut("abcdef", 3), "abc...");
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcdef", 0), "abcdef");
    }
}
