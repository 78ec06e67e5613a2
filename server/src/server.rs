//! [`Server`]: opens the engine, binds the listener, serves `kvd.v1` with health checking and
//! reflection, and shuts down cleanly.
//!
//! Services: `kvd.v1.KV`, `kvd.v1.Txn`, `kvd.v1.Types`, `kvd.v1.Query`, `kvd.v1.Admin`,
//! `grpc.health.v1` and reflection. At most `max_connections` client connections are open at once (more are
//! answered `RESOURCE_EXHAUSTED`, then closed), each with at most `max_concurrent_streams`
//! calls in flight.
//! Expired server-side snapshots and transactions are released by a sweep every second.
//!
//! Shutdown, once the future given to [`Server::serve`] completes: new calls get
//! `UNAVAILABLE` and health turns `NOT_SERVING`; the listener closes and connections get an
//! HTTP/2 GOAWAY; calls in flight run to completion for up to the grace period, after which
//! the rest are cut; then the write-ahead log is synced and the engine closed. Every write
//! acknowledged before that is durable whatever the sync policy.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;

use crate::codec::FILE_DESCRIPTOR_SET;
use crate::config::Config;
use crate::incoming::limit_connections;
use crate::layer::CallLayer;
use crate::proto::admin_server::AdminServer;
use crate::proto::kv_server::KvServer;
use crate::proto::query_server::QueryServer;
use crate::proto::txn_server::TxnServer;
use crate::proto::types_server::TypesServer;
use crate::service::admin::AdminService;
use crate::service::kv::KvService;
use crate::service::query::QueryService;
use crate::service::txn::TxnService;
use crate::service::types::TypesService;
use crate::service::Shared;

/// The `kvd.v1` services health checking reports on, besides the server as a whole (`""`).
pub const SERVICES: [&str; 5] = ["kvd.v1.KV", "kvd.v1.Txn", "kvd.v1.Types", "kvd.v1.Query", "kvd.v1.Admin"];

/// How often expired server-side snapshots and transactions are released.
const SWEEP_PERIOD: Duration = Duration::from_secs(1);
/// HTTP/2 pings that find dead peers, so their streams and snapshots are freed.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);

/// Why the server could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A setting is invalid; the message names it.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The database could not be opened (for example, another process holds it).
    #[error("opening the database in {dir}: {source}")]
    Open {
        /// The data directory.
        dir: PathBuf,
        /// The engine's error.
        source: kvd::Error,
    },
    /// The listen address could not be bound.
    #[error("listening on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The socket error.
        source: std::io::Error,
    },
    /// The gRPC transport failed.
    #[error("grpc transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The reflection service could not be built from the descriptors.
    #[error("building the reflection service: {0}")]
    Reflection(String),
    /// A blocking task of the server panicked.
    #[error("server task failed: {0}")]
    Task(String),
    /// Syncing or closing the engine at shutdown failed.
    #[error("closing the database: {0}")]
    Close(kvd::Error),
}

/// A kvd server with its engine open and its socket bound, ready to [`Server::serve`].
pub struct Server {
    shared: Arc<Shared>,
    listener: TcpListener,
}

impl Server {
    /// Validates `config`, opens (creating if needed) the database in `config.data_dir` and
    /// binds `config.listen` (port 0 picks a free port; see [`Server::local_addr`]).
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        config.validate().map_err(ServerError::Config)?;
        let dir = config.data_dir.clone();
        let opts = config.engine_options();
        let open_dir = dir.clone();
        let db = tokio::task::spawn_blocking(move || kvd::Db::open(&open_dir, opts))
            .await
            .map_err(|e| ServerError::Task(e.to_string()))?
            .map_err(|source| ServerError::Open { dir, source })?;
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServerError::Bind { addr: config.listen, source })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Bind { addr: config.listen, source })?;
        let db = Arc::new(db);
        resume_index_builds(&db);
        let shared = Shared::new(db, config, local_addr)
            .map_err(|e| ServerError::Task(format!("starting the committer: {e}")))?;
        Ok(Server { shared: Arc::new(shared), listener })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// The effective configuration.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Serves until `shutdown` completes, then drains and closes as the module docs describe.
    /// Returns once the engine is closed.
    pub async fn serve<F>(self, shutdown: F) -> Result<(), ServerError>
    where
        F: Future<Output = ()> + Send,
    {
        let Server { shared, listener } = self;
        let config = shared.config.clone();
        let max = config.max_message_bytes;

        let (health, health_service) = tonic_health::server::health_reporter();
        for service in SERVICES {
            health.set_service_status(service, ServingStatus::Serving).await;
        }
        let reflection_v1 = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;
        let reflection_v1alpha = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| ServerError::Reflection(e.to_string()))?;
        let kv =
            KvServer::new(KvService::new(shared.clone())).max_decoding_message_size(max).max_encoding_message_size(max);
        let admin = AdminServer::new(AdminService::new(shared.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let txn = TxnServer::new(TxnService::new(shared.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let types = TypesServer::new(TypesService::new(shared.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);
        let query = QueryServer::new(QueryService::new(shared.clone()))
            .max_decoding_message_size(max)
            .max_encoding_message_size(max);

        let sweeper = tokio::spawn({
            let shared = shared.clone();
            async move {
                let mut tick = tokio::time::interval(SWEEP_PERIOD);
                loop {
                    tick.tick().await;
                    let n = shared.snapshots.sweep();
                    if n > 0 {
                        tracing::debug!(released = n, "expired snapshots released");
                    }
                    // Dropping a transaction only releases its snapshot and buffer: cheap.
                    let n = shared.txns.sweep();
                    if n > 0 {
                        tracing::info!(released = n, "expired transactions discarded");
                    }
                }
            }
        });

        let (drain_tx, drain_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = {
            let shared = shared.clone();
            let health = health.clone();
            async move {
                shutdown.await;
                tracing::info!(grace_ms = config.grace_period_ms, "shutdown requested: draining in-flight calls");
                shared.begin_drain();
                for service in std::iter::once("").chain(SERVICES) {
                    health.set_service_status(service, ServingStatus::NotServing).await;
                }
                let _ = drain_tx.send(());
            }
        };

        let incoming = limit_connections(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shared.connections.clone(),
            shared.rejected.clone(),
        );
        let router = tonic::transport::Server::builder()
            .max_concurrent_streams(config.max_concurrent_streams)
            .http2_keepalive_interval(Some(KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(KEEPALIVE_TIMEOUT))
            .layer(CallLayer {
                request_timeout: config.request_timeout(),
                rejected: shared.rejected.clone(),
                max_connections: config.max_connections,
            })
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(kv)
            .add_service(txn)
            .add_service(types)
            .add_service(query)
            .add_service(admin);
        tracing::info!(addr = %shared.local_addr, "serving kvd.v1");
        let mut serving = Box::pin(router.serve_with_incoming_shutdown(incoming, signal));
        let grace = config.grace_period();
        let result = tokio::select! {
            r = &mut serving => r.map_err(ServerError::from),
            () = async {
                if drain_rx.await.is_err() {
                    std::future::pending::<()>().await;
                }
                tokio::time::sleep(grace).await;
            } => {
                tracing::warn!(grace_ms = config.grace_period_ms, "grace period over: cutting the calls still running");
                Ok(())
            }
        };
        drop(serving);
        sweeper.abort();
        shared.snapshots.clear();
        let open = shared.txns.len();
        if open > 0 {
            tracing::info!(open, "discarding open transactions (nothing of them is applied)");
        }
        shared.txns.clear();

        let db = shared.db.clone();
        let closed = tokio::task::spawn_blocking(move || {
            if let Err(e) = db.sync_wal() {
                tracing::error!(error = %e, "syncing the write-ahead log at shutdown");
            }
            db.close()
        })
        .await
        .map_err(|e| ServerError::Task(e.to_string()))?;
        match closed {
            Err(e) => {
                tracing::error!(error = %e, "closing the database");
                result.and(Err(ServerError::Close(e)))
            }
            Ok(()) => {
                tracing::info!("database closed; server stopped");
                result
            }
        }
    }
}

/// Binds per `config` and serves until `shutdown` completes; see [`Server::serve`].
pub async fn serve<F>(config: Config, shutdown: F) -> Result<(), ServerError>
where
    F: Future<Output = ()> + Send,
{
    Server::bind(config).await?.serve(shutdown).await
}

/// Finishes, in the background, index builds a crash interrupted (they stay `building`, and
/// unused by queries, until then), so a restarted server needs no offline `kvd-admin` step.
/// Requests are served meanwhile; a failure is logged and the index stays `building`.
fn resume_index_builds(db: &Arc<kvd::Db>) {
    let db = db.clone();
    let spawned =
        std::thread::Builder::new().name("kvd-index-resume".into()).spawn(move || match db.resume_index_builds() {
            Ok(done) if done.is_empty() => {}
            Ok(done) => {
                let names: Vec<String> = done.iter().map(|d| format!("{}/{}", d.namespace, d.name)).collect();
                tracing::info!(indexes = ?names, "finished index builds interrupted by a restart");
            }
            Err(e) => tracing::warn!(error = %e, "resuming interrupted index builds failed; they stay building"),
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not start the index-resume thread");
    }
}
