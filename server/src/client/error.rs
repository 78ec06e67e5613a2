//! [`ClientError`]: what a failed call reports, mirroring `kvd::Error`.

use tonic::{Code, Status};

use crate::status::{kind_of, ErrorKind};

/// A failed call, by what went wrong. Mirrors `kvd::Error`'s kinds, plus the transport's.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The request was bad (empty or oversized key, oversized value, bad range, unknown field).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A named thing (a snapshot or transaction id) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A transaction lost to a conflicting commit; nothing was applied.
    #[error("transaction conflict: {0}")]
    Conflict(String),
    /// An interactive transaction outlived its timeout; nothing it wrote was applied.
    #[error("transaction expired: {0}")]
    TransactionExpired(String),
    /// A typed operation met a key holding another type; nothing was changed.
    #[error("wrong type: {0}")]
    WrongType(String),
    /// A document write would give two documents equal values in a unique index; nothing
    /// was written. The message names the index, the values and the document holding them.
    #[error("unique violation: {0}")]
    UniqueViolation(String),
    /// Something that must be new already exists (an index of that name); nothing was changed.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// A size or count limit was hit (message size, batch size, concurrent scans, snapshots).
    #[error("resource exhausted: {0}")]
    ResourceExhausted(String),
    /// The server's engine is closed.
    #[error("database is closed: {0}")]
    Closed(String),
    /// The server's engine refuses writes after a failure (a failed fsync); it needs a restart.
    #[error("database is poisoned: {0}")]
    Poisoned(String),
    /// A file on the server holds bad bytes; the message names the file.
    #[error("corruption: {0}")]
    Corruption(String),
    /// The server is shutting down, or cannot be reached; retrying elsewhere or later may work.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The call's deadline passed.
    #[error("deadline exceeded: {0}")]
    DeadlineExceeded(String),
    /// The call was cancelled.
    #[error("cancelled: {0}")]
    Cancelled(String),
    /// The server failed in a way not listed above (an I/O error, a bug).
    #[error("internal error: {0}")]
    Internal(String),
    /// Any other gRPC status.
    #[error("{code:?}: {message}")]
    Other {
        /// The gRPC code.
        code: Code,
        /// The server's message.
        message: String,
    },
    /// The connection could not be made.
    #[error("connecting: {0}")]
    Connect(#[from] tonic::transport::Error),
}

impl ClientError {
    /// The gRPC code the error arrived with (or would have, for connection failures).
    pub fn code(&self) -> Code {
        match self {
            ClientError::InvalidArgument(_) => Code::InvalidArgument,
            ClientError::NotFound(_) => Code::NotFound,
            ClientError::Conflict(_) | ClientError::TransactionExpired(_) => Code::Aborted,
            ClientError::WrongType(_) => Code::FailedPrecondition,
            ClientError::UniqueViolation(_) | ClientError::AlreadyExists(_) => Code::AlreadyExists,
            ClientError::ResourceExhausted(_) => Code::ResourceExhausted,
            ClientError::Closed(_) | ClientError::Unavailable(_) | ClientError::Connect(_) => Code::Unavailable,
            ClientError::Poisoned(_) | ClientError::Corruption(_) | ClientError::Internal(_) => Code::Internal,
            ClientError::DeadlineExceeded(_) => Code::DeadlineExceeded,
            ClientError::Cancelled(_) => Code::Cancelled,
            ClientError::Other { code, .. } => *code,
        }
    }

    /// True when the server reported bad bytes in a file.
    pub fn is_corruption(&self) -> bool {
        matches!(self, ClientError::Corruption(_))
    }
}

impl From<Status> for ClientError {
    fn from(s: Status) -> ClientError {
        let message = s.message().to_string();
        match kind_of(&s) {
            Some(ErrorKind::InvalidArgument) => ClientError::InvalidArgument(message),
            Some(ErrorKind::NotFound) => ClientError::NotFound(message),
            Some(ErrorKind::Conflict) => ClientError::Conflict(message),
            Some(ErrorKind::TransactionExpired) => ClientError::TransactionExpired(message),
            Some(ErrorKind::WrongType) => ClientError::WrongType(message),
            Some(ErrorKind::UniqueViolation) => ClientError::UniqueViolation(message),
            Some(ErrorKind::AlreadyExists) => ClientError::AlreadyExists(message),
            Some(ErrorKind::ResourceExhausted) => ClientError::ResourceExhausted(message),
            Some(ErrorKind::Closed) => ClientError::Closed(message),
            Some(ErrorKind::Poisoned) => ClientError::Poisoned(message),
            Some(ErrorKind::Corruption) => ClientError::Corruption(message),
            Some(ErrorKind::ShuttingDown) => ClientError::Unavailable(message),
            Some(ErrorKind::DeadlineExceeded) => ClientError::DeadlineExceeded(message),
            Some(ErrorKind::Io) => ClientError::Internal(message),
            _ => match s.code() {
                Code::Unavailable => ClientError::Unavailable(message),
                // tonic reports a connection the server closed (for example at its
                // max_connections) as UNKNOWN "transport error": the server is unavailable.
                Code::Unknown if message.contains("transport error") => ClientError::Unavailable(message),
                // tonic reports its own timers firing as CANCELLED "Timeout expired".
                Code::Cancelled if message.contains("Timeout expired") => ClientError::DeadlineExceeded(message),
                Code::Cancelled => ClientError::Cancelled(message),
                Code::Internal => ClientError::Internal(message),
                code => ClientError::Other { code, message },
            },
        }
    }
}

/// Result alias of the client.
pub type Result<T> = std::result::Result<T, ClientError>;
