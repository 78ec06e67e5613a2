//! Versioned reads, compare-and-swap puts and TTLs: the `KV` calls beyond plain gets and
//! puts.

use std::time::Duration;

use super::options::ttl_millis;
use super::{seqno, ClientError, KvdClient, ReadAt, Result, Served};
use crate::proto::{self, precondition};

/// A live value with its version (the sequence number of the write that set it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    /// The value.
    pub value: Vec<u8>,
    /// Its version; pass it to [`KvdClient::put_if_version`] for a compare-and-swap.
    pub version: u64,
}

/// The outcome of a conditional put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PutOutcome {
    /// True when the condition held and the value was written.
    pub applied: bool,
    /// When applied, the key's new version; otherwise the version the check saw (0 for an
    /// absent key), so a compare-and-swap loop can retry without reading again.
    pub version: u64,
    /// The sequence number the call was served at.
    pub seqno: u64,
}

impl KvdClient {
    /// The value and version of `key` read at `at`.
    pub async fn get_at(&self, key: impl AsRef<[u8]>, at: ReadAt) -> Result<Served<Option<Versioned>>> {
        let (snapshot_id, seqno_at) = at.fields();
        let req = proto::GetRequest { key: key.as_ref().to_vec(), snapshot_id, seqno: seqno_at };
        let r = self.kv.clone().get(self.request(req)).await?.into_inner();
        let value = r.found.then_some(Versioned { value: r.value, version: r.version });
        Ok(Served { value, seqno: seqno(&r.header) })
    }

    /// The values and versions of `keys`, in order, all read at `at`.
    pub async fn batch_get_at<K: AsRef<[u8]>>(&self, keys: &[K], at: ReadAt) -> Result<Served<Vec<Option<Versioned>>>> {
        let (snapshot_id, seqno_at) = at.fields();
        let keys = keys.iter().map(|k| k.as_ref().to_vec()).collect();
        let req = proto::BatchGetRequest { keys, snapshot_id, seqno: seqno_at };
        let r = self.kv.clone().batch_get(self.request(req)).await?.into_inner();
        let values = r
            .results
            .into_iter()
            .map(|g| g.found.then_some(Versioned { value: g.value, version: g.version }))
            .collect();
        Ok(Served { value: values, seqno: seqno(&r.header) })
    }

    async fn put_checked(
        &self,
        key: &[u8],
        value: &[u8],
        check: precondition::Check,
        ttl: Option<Duration>,
    ) -> Result<PutOutcome> {
        let req = proto::PutRequest {
            key: key.to_vec(),
            value: value.to_vec(),
            ttl_ms: ttl.map_or(0, ttl_millis),
            precondition: Some(proto::Precondition { check: Some(check) }),
            sync: false,
        };
        let r = self.kv.clone().put(self.request(req)).await?.into_inner();
        Ok(PutOutcome { applied: r.applied, version: r.version, seqno: seqno(&r.header) })
    }

    /// Sets `key` to `value` only if its current version is `version` (0: only if absent),
    /// atomically: a compare-and-swap against a [`KvdClient::get_at`].
    pub async fn put_if_version(
        &self,
        key: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
        version: u64,
    ) -> Result<PutOutcome> {
        self.put_checked(key.as_ref(), value.as_ref(), precondition::Check::VersionEquals(version), None).await
    }

    /// Sets `key` to `value` only if its current value is exactly `expected` (an absent key
    /// never matches), atomically.
    pub async fn put_if_value(
        &self,
        key: impl AsRef<[u8]>,
        expected: impl AsRef<[u8]>,
        value: impl AsRef<[u8]>,
    ) -> Result<PutOutcome> {
        let check = precondition::Check::ValueEquals(expected.as_ref().to_vec());
        self.put_checked(key.as_ref(), value.as_ref(), check, None).await
    }

    /// Remaining time to live of `key`: `None` when it never expires,
    /// [`ClientError::NotFound`] when it is missing or expired (as `kvd::Db::ttl`).
    pub async fn ttl(&self, key: impl AsRef<[u8]>) -> Result<Option<Duration>> {
        let key = key.as_ref();
        let req = proto::TtlRequest { key: key.to_vec() };
        let r = self.kv.clone().ttl(self.request(req)).await?.into_inner();
        if !r.found {
            return Err(ClientError::NotFound(format!("key {:?}", String::from_utf8_lossy(key))));
        }
        Ok((r.ttl_ms > 0).then(|| Duration::from_millis(r.ttl_ms)))
    }

    /// Makes `key` expire `ttl` from now, keeping its value; false if the key is missing.
    pub async fn expire(&self, key: impl AsRef<[u8]>, ttl: Duration) -> Result<bool> {
        let req = proto::ExpireRequest { key: key.as_ref().to_vec(), ttl_ms: ttl_millis(ttl), sync: false };
        Ok(self.kv.clone().expire(self.request(req)).await?.into_inner().found)
    }

    /// Removes `key`'s expiry, keeping its value; false if the key is missing.
    pub async fn persist(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let req = proto::PersistRequest { key: key.as_ref().to_vec(), sync: false };
        Ok(self.kv.clone().persist(self.request(req)).await?.into_inner().found)
    }
}
