//! `kvd-admin query <address>` and `kvd-admin indexes <address>`: the same output as over a
//! database directory ([`query`](super::query)), through a running server's `kvd.v1.Query`
//! service, so the database can stay open and serving.

use kvd_server::client::{ClientError, KvdClient, QueryOptions};

use super::query::{output, IndexRow, IndexesOutput, QueryOutput};
use crate::{Error, Result};

/// Runs `f` with a client connected to `addr`, on a runtime of its own.
fn with_client<T>(
    addr: &str,
    what: &str,
    f: impl AsyncFnOnce(KvdClient) -> std::result::Result<T, ClientError>,
) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime
        .block_on(async {
            let client = KvdClient::connect(addr).await?;
            f(client).await
        })
        .map_err(|e| {
            let reason = format!("{what} through the server at {addr} failed: {e}");
            if e.is_corruption() {
                Error::Corrupt { file: format!("the server at {addr}"), reason }
            } else {
                Error::Usage(reason)
            }
        })
}

/// Runs `sql` on the server at `addr` (`host:port` or `http://host:port`); one page of at
/// most `page_size` rows when set, resuming after `continuation`.
pub fn run(addr: &str, sql: &str, page_size: Option<usize>, continuation: Option<String>) -> Result<QueryOutput> {
    let page_size = match page_size {
        None => 0,
        Some(0) => return Err(Error::Usage("--page-size must be at least 1".into())),
        Some(n) => u32::try_from(n).map_err(|_| Error::Usage(format!("--page-size {n} is too large")))?,
    };
    let mut opts = QueryOptions::new(sql).page_size(page_size);
    opts.continuation = continuation;
    let page = with_client(addr, "the query", async |c| c.query(opts).await?.collect_page().await)?;
    let columns = (!page.columns.is_empty()).then_some(page.columns);
    Ok(output(columns, page.keyed, page.rows, page.continuation))
}

/// Lists the indexes of the server at `addr` with their state and build progress.
/// Resuming builds and verifying indexes need the database directory.
pub fn indexes(addr: &str, resume: bool, verify: bool) -> Result<IndexesOutput> {
    if resume || verify {
        return Err(Error::Usage(
            "--resume and --verify need the database directory (stop the server first); a server address only \
             lists indexes"
                .into(),
        ));
    }
    let all = with_client(addr, "listing indexes", async |c| c.list_indexes(None).await)?;
    Ok(IndexesOutput { indexes: all.iter().map(IndexRow::from).collect(), resumed: Vec::new(), problems: None })
}
