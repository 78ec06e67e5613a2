//! [`limit_connections`]: caps the client connections open at once.
//!
//! Each accepted connection holds one permit of a semaphore for as long as it is open. A
//! connection accepted while none is left is *rejected*: it is served just long enough
//! ([`REJECT_LINGER`]) for its calls to be answered `RESOURCE_EXHAUSTED` ("max_connections
//! reached"), by [`CallLayer`](crate::layer::CallLayer) which looks its peer up in
//! [`RejectedPeers`], and then closed by reporting end-of-stream to the HTTP/2 server. So a
//! client learns why it was refused (as Redis answers "max number of clients reached"
//! before closing) instead of seeing a bare reset or hanging in the listen backlog, and the
//! server's memory and file descriptors stay bounded whatever clients do.

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::{Connected, TcpConnectInfo, TcpIncoming};

/// How long a rejected connection stays open so that its first calls get an answer.
pub(crate) const REJECT_LINGER: Duration = Duration::from_millis(500);

/// The peers of the rejected connections currently open.
#[derive(Debug, Default)]
pub(crate) struct RejectedPeers {
    /// `peers.len()`, read without the lock on every call.
    count: AtomicUsize,
    peers: Mutex<HashSet<SocketAddr>>,
}

impl RejectedPeers {
    /// True when calls from `peer` must be refused.
    pub(crate) fn contains(&self, peer: Option<SocketAddr>) -> bool {
        self.count.load(Ordering::Acquire) > 0 && peer.is_some_and(|p| self.peers.lock().contains(&p))
    }

    fn insert(&self, peer: SocketAddr) {
        let mut peers = self.peers.lock();
        peers.insert(peer);
        self.count.store(peers.len(), Ordering::Release);
    }

    fn remove(&self, peer: SocketAddr) {
        let mut peers = self.peers.lock();
        peers.remove(&peer);
        self.count.store(peers.len(), Ordering::Release);
    }
}

/// What makes a connection a rejected one.
#[derive(Debug)]
struct Rejection {
    peers: Arc<RejectedPeers>,
    /// `None` when the peer has no address to recognise its calls by: closed at once.
    peer: Option<SocketAddr>,
    /// When it passes, reads report end-of-stream and the connection closes.
    close_at: Pin<Box<Sleep>>,
}

impl Drop for Rejection {
    fn drop(&mut self) {
        if let Some(peer) = self.peer {
            self.peers.remove(peer);
        }
    }
}

/// An accepted connection: with the permit it holds until it closes, or rejected.
#[derive(Debug)]
pub(crate) struct LimitedConn {
    inner: TcpStream,
    _permit: Option<OwnedSemaphorePermit>,
    rejection: Option<Rejection>,
}

/// The connections of `incoming`, each taking a permit of `permits`; when none is left the
/// connection is rejected as the module documentation describes.
pub(crate) fn limit_connections(
    incoming: TcpIncoming,
    permits: Arc<Semaphore>,
    rejected: Arc<RejectedPeers>,
) -> impl Stream<Item = io::Result<LimitedConn>> {
    incoming.map(move |conn| {
        let inner = conn?;
        if let Ok(permit) = permits.clone().try_acquire_owned() {
            return Ok(LimitedConn { inner, _permit: Some(permit), rejection: None });
        }
        let peer = inner.peer_addr().ok();
        tracing::warn!(?peer, "max_connections reached: refusing a new connection");
        let linger = match peer {
            Some(p) => {
                rejected.insert(p);
                REJECT_LINGER
            }
            None => Duration::ZERO,
        };
        let close_at = Box::pin(tokio::time::sleep(linger));
        Ok(LimitedConn { inner, _permit: None, rejection: Some(Rejection { peers: rejected.clone(), peer, close_at }) })
    })
}

impl Connected for LimitedConn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.inner.connect_info()
    }
}

impl AsyncRead for LimitedConn {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if let Some(r) = &mut self.rejection {
            if r.close_at.as_mut().poll(cx).is_ready() {
                // End of stream: the HTTP/2 server closes the connection.
                return Poll::Ready(Ok(()));
            }
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for LimitedConn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
