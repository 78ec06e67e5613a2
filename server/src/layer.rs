//! [`CallLayer`]: the tower layer around every call, for deadlines and status fix-ups.
//!
//! * **Deadlines.** A unary call (and a stream's first response) gets the server's
//!   `request_timeout_ms`, or the client's `grpc-timeout` when that is shorter; when it passes,
//!   the handler's future is dropped (which trips its cancel token, so long loops stop) and
//!   the call fails with `DEADLINE_EXCEEDED`. The client's deadline is also put in the
//!   request's extensions as a [`Deadline`], so a scan stops streaming when it passes. (When
//!   the client's own deadline fires first, tonic's transport may report it as `CANCELLED`.)
//!   The long-running admin calls in [`LONG_RUNNING`] get only the client's deadline.
//! * **Rejected connections.** Calls arriving on a connection accepted beyond
//!   `max_connections` (see [`crate::incoming`]) are answered `RESOURCE_EXHAUSTED` at once.
//! * **Oversized requests.** tonic rejects a message over the decoding limit with
//!   `OUT_OF_RANGE`; gRPC's convention, and this server's contract, is `RESOURCE_EXHAUSTED`,
//!   so the layer rewrites that status.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tonic::body::Body;
use tonic::codegen::http::{HeaderMap, HeaderValue, Request, Response};
use tonic::transport::server::TcpConnectInfo;
use tonic::Code;
use tower::{Layer, Service};

use crate::incoming::RejectedPeers;
use crate::status::{exhausted, status, ErrorKind, ERROR_KIND_KEY};

/// Calls that may legitimately run longer than `request_timeout_ms` (a compaction of the
/// whole database, a checkpoint's flush, an index build over a whole namespace); only the
/// client's `grpc-timeout` bounds them.
pub(crate) const LONG_RUNNING: [&str; 3] =
    ["/kvd.v1.Admin/CompactRange", "/kvd.v1.Admin/Checkpoint", "/kvd.v1.Query/CreateIndex"];

/// The instant by which the client wants its call finished, from `grpc-timeout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Deadline(pub Instant);

/// Applies deadlines, refuses calls of rejected connections and fixes the status of
/// oversized requests; see the module docs.
#[derive(Debug, Clone)]
pub(crate) struct CallLayer {
    pub request_timeout: Option<Duration>,
    pub rejected: Arc<RejectedPeers>,
    pub max_connections: usize,
}

impl<S> Layer<S> for CallLayer {
    type Service = CallService<S>;

    fn layer(&self, inner: S) -> CallService<S> {
        CallService { inner, config: self.clone() }
    }
}

/// The service [`CallLayer`] makes.
#[derive(Debug, Clone)]
pub(crate) struct CallService<S> {
    inner: S,
    config: CallLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<Request<B>> for CallService<S>
where
    S: Service<Request<B>, Response = Response<Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let peer = req.extensions().get::<TcpConnectInfo>().and_then(TcpConnectInfo::remote_addr);
        if self.config.rejected.contains(peer) {
            let n = self.config.max_connections;
            let s = exhausted(format!("the server has max_connections ({n}) connections open; retry later"));
            return Box::pin(async move { Ok(s.into_http()) });
        }
        let client = parse_grpc_timeout(req.headers());
        if let Some(d) = client {
            req.extensions_mut().insert(Deadline(Instant::now() + d));
        }
        let server = if LONG_RUNNING.contains(&req.uri().path()) { None } else { self.config.request_timeout };
        let timeout = match (client, server) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = match timeout {
                None => fut.await?,
                Some(d) => match tokio::time::timeout(d, fut).await {
                    Ok(r) => r?,
                    Err(_) => {
                        let s =
                            status(ErrorKind::DeadlineExceeded, format!("deadline of {} ms exceeded", d.as_millis()));
                        return Ok(s.into_http());
                    }
                },
            };
            Ok(fix_oversized(resp))
        })
    }
}

/// Rewrites tonic's `OUT_OF_RANGE` for a too-large message to `RESOURCE_EXHAUSTED`.
fn fix_oversized(mut resp: Response<Body>) -> Response<Body> {
    let headers = resp.headers_mut();
    let out_of_range =
        headers.get("grpc-status").and_then(|v| v.to_str().ok()) == Some(&(Code::OutOfRange as i32).to_string());
    let too_large = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|m| m.contains("message%20length%20too%20large") || m.contains("message length too large"));
    if out_of_range && too_large {
        headers.insert("grpc-status", HeaderValue::from(Code::ResourceExhausted as i32));
        headers.insert(ERROR_KIND_KEY, HeaderValue::from_static(ErrorKind::ResourceExhausted.as_str()));
    }
    resp
}

/// The `grpc-timeout` header: up to 8 digits and a unit (H, M, S, m, u, n).
pub(crate) fn parse_grpc_timeout(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get("grpc-timeout")?.to_str().ok()?;
    if v.len() < 2 || v.len() > 9 {
        return None;
    }
    let (digits, unit) = v.split_at(v.len() - 1);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeout(v: &str) -> Option<Duration> {
        let mut h = HeaderMap::new();
        h.insert("grpc-timeout", HeaderValue::from_str(v).unwrap());
        parse_grpc_timeout(&h)
    }

    #[test]
    fn grpc_timeouts_parse() {
        assert_eq!(timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(timeout("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for bad in ["S", "5", "5x", "123456789S", "-5S"] {
            assert_eq!(timeout(bad), None, "{bad}");
        }
    }

    #[test]
    fn oversized_status_is_rewritten() {
        let mut resp =
            tonic::Status::out_of_range("Error, decoded message length too large: found 9 bytes").into_http::<Body>();
        resp = fix_oversized(resp);
        assert_eq!(resp.headers()["grpc-status"], "8");
        let other = fix_oversized(tonic::Status::out_of_range("index").into_http::<Body>());
        assert_eq!(other.headers()["grpc-status"], "11");
    }
}
