//! Administration through the client: range compaction, checkpoints, the history floor.

use super::{KvdClient, Result};
use crate::proto;

impl KvdClient {
    /// Compacts every key in `[start, end)` (an empty bound is open; both empty: the whole
    /// key space) down to the last level. Waits for the compaction: give the client a
    /// [`ClientOptions::request_timeout`](super::ClientOptions::request_timeout) long enough.
    pub async fn compact_range(&self, start: impl AsRef<[u8]>, end: impl AsRef<[u8]>) -> Result<()> {
        let req =
            proto::CompactRangeRequest { start: start.as_ref().to_vec(), end: end.as_ref().to_vec(), prefix: vec![] };
        self.admin.clone().compact_range(self.request(req)).await?;
        Ok(())
    }

    /// Writes a checkpoint of the server's database into `dir` on the server's host (an
    /// absolute path that does not exist yet or is an empty directory); returns its sequence
    /// number and file list.
    pub async fn checkpoint(&self, dir: impl Into<String>) -> Result<proto::CheckpointResponse> {
        let req = proto::CheckpointRequest { dir: dir.into() };
        Ok(self.admin.clone().checkpoint(self.request(req)).await?.into_inner())
    }

    /// Keeps every version from `seqno` up (0: from the latest seqno now) so reads at those
    /// sequence numbers keep working; returns the floor in force.
    pub async fn set_history_floor(&self, seqno: u64) -> Result<u64> {
        let req = proto::SetHistoryFloorRequest { seqno, clear: false };
        let r = self.admin.clone().set_history_floor(self.request(req)).await?.into_inner();
        Ok(r.history_floor.unwrap_or(0))
    }

    /// Stops keeping history.
    pub async fn clear_history_floor(&self) -> Result<()> {
        let req = proto::SetHistoryFloorRequest { seqno: 0, clear: true };
        self.admin.clone().set_history_floor(self.request(req)).await?;
        Ok(())
    }
}
