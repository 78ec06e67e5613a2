//! Conversions between engine values and `kvd.v1` messages. Proto types stop here: the
//! engine crate never sees them.

use crate::proto;

/// The header of a response served at `seqno`.
pub(crate) fn header(seqno: u64) -> Option<proto::ResponseHeader> {
    Some(proto::ResponseHeader { seqno })
}

/// The engine's statistics as a `StatsResponse`.
pub(crate) fn stats(s: &kvd::Stats, server_snapshots: usize) -> proto::StatsResponse {
    proto::StatsResponse {
        header: header(s.sequence),
        memtable_bytes: s.memtable_bytes,
        immutable_memtables: s.immutable_memtables as u64,
        levels: s
            .levels
            .iter()
            .enumerate()
            .map(|(i, l)| proto::LevelStats {
                level: i as u32,
                files: l.files as u64,
                bytes: l.bytes,
                read_bytes: l.read_bytes,
                written_bytes: l.written_bytes,
            })
            .collect(),
        writes: s.writes,
        write_groups: s.write_groups,
        wal_bytes: s.wal_bytes,
        wal_syncs: s.wal_syncs,
        flushes: s.flushes,
        flush_bytes: s.flush_bytes,
        stall_slowdowns: s.stall_slowdowns,
        stall_stops: s.stall_stops,
        stall_micros: s.stall_micros,
        gets: s.gets,
        block_cache_hits: s.block_cache_hits,
        block_cache_misses: s.block_cache_misses,
        live_snapshots: s.live_snapshots as u64,
        server_snapshots: server_snapshots as u64,
        compactions: s.compactions,
        trivial_moves: s.trivial_moves,
        write_amplification: s.write_amplification,
        pending_compaction_bytes: s.pending_compaction_bytes,
        history_floor: None,
        open_transactions: 0,
        open_connections: 0,
        immutable_memtable_bytes: s.immutable_memtable_bytes,
        block_cache_bytes: s.block_cache_bytes,
        table_reader_bytes: s.table_reader_bytes,
    }
}

/// A key for an error message: printable ASCII as is, otherwise hex, cut at 64 bytes.
pub(crate) fn show_key(key: &[u8]) -> String {
    const MAX: usize = 64;
    let shown = &key[..key.len().min(MAX)];
    let mut s = if shown.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(shown))
    } else {
        let hex: String = shown.iter().map(|b| format!("{b:02x}")).collect();
        format!("0x{hex}")
    };
    if key.len() > MAX {
        s.push_str(&format!("... ({} bytes)", key.len()));
    }
    s
}

/// The wire form of an index field's declared type (client requests and server answers).
pub(crate) fn field_type(t: kvd::index::FieldType) -> proto::FieldType {
    use kvd::index::FieldType;
    match t {
        FieldType::Any => proto::FieldType::Any,
        FieldType::Int => proto::FieldType::Int,
        FieldType::Float => proto::FieldType::Float,
        FieldType::String => proto::FieldType::String,
        FieldType::Bool => proto::FieldType::Bool,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_show_readably() {
        assert_eq!(show_key(b"user/1"), "\"user/1\"");
        assert_eq!(show_key(&[0, 255]), "0x00ff");
        assert!(show_key(&[b'a'; 100]).ends_with("... (100 bytes)"));
    }

    #[test]
    fn stats_keep_levels_in_order() {
        let s = kvd::Stats {
            levels: vec![
                kvd::LevelStats { files: 2, bytes: 10, ..Default::default() },
                kvd::LevelStats { files: 1, bytes: 5, ..Default::default() },
            ],
            ..Default::default()
        };
        let p = stats(&s, 3);
        assert_eq!(p.levels[1].level, 1);
        assert_eq!(p.levels[0].files, 2);
        assert_eq!(p.server_snapshots, 3);
    }
}
