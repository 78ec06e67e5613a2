//! The map from engine errors to gRPC statuses, and the [`ErrorKind`] label that lets the
//! typed client recover the engine's error exactly.
//!
//! | engine error | gRPC code |
//! | --- | --- |
//! | `InvalidArgument` | `INVALID_ARGUMENT` |
//! | `NotFound` | `NOT_FOUND` |
//! | `Conflict` | `ABORTED` |
//! | `TransactionExpired` | `ABORTED` (run the transaction again; see `txn.proto`) |
//! | `WrongType` | `FAILED_PRECONDITION` |
//! | `UniqueViolation` (a unique index refused a document write) | `ALREADY_EXISTS` |
//! | `Closed` | `UNAVAILABLE` |
//! | `Locked` | `FAILED_PRECONDITION` (only at open) |
//! | `Poisoned` (a failed fsync or background error) | `INTERNAL`: the server needs a restart |
//! | corruption | `INTERNAL`, the message names the file and offset |
//! | other I/O | `INTERNAL` |
//!
//! Besides the code, every status the server makes carries the metadata key
//! [`ERROR_KIND_KEY`] whose value is an [`ErrorKind`] label.

use std::fmt;

use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

/// The metadata key holding the [`ErrorKind`] label of a failed call.
pub const ERROR_KIND_KEY: &str = "kvd-error";

/// What went wrong, finer than a gRPC code: the kinds of `kvd::Error` plus the server's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Bad input: empty or oversized key or value, bad range, unknown field.
    InvalidArgument,
    /// A named thing (a snapshot) does not exist.
    NotFound,
    /// A transaction lost to a conflicting commit.
    Conflict,
    /// A transaction outlived its timeout; nothing it wrote was applied.
    TransactionExpired,
    /// A typed operation met a key of another type.
    WrongType,
    /// A document write would give two documents equal values in a unique index.
    UniqueViolation,
    /// A name that must be new is taken (an index of that name exists).
    AlreadyExists,
    /// The engine is closed.
    Closed,
    /// The database directory is locked by another process.
    Locked,
    /// The engine refuses writes after a failure that may have lost data in flight.
    Poisoned,
    /// A file holds bad bytes.
    Corruption,
    /// Another I/O or engine failure.
    Io,
    /// A size or count limit was hit.
    ResourceExhausted,
    /// The server is shutting down and takes no new calls.
    ShuttingDown,
    /// The call's deadline passed.
    DeadlineExceeded,
}

impl ErrorKind {
    /// The label sent in [`ERROR_KIND_KEY`].
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Conflict => "conflict",
            ErrorKind::TransactionExpired => "transaction_expired",
            ErrorKind::WrongType => "wrong_type",
            ErrorKind::UniqueViolation => "unique_violation",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::Closed => "closed",
            ErrorKind::Locked => "locked",
            ErrorKind::Poisoned => "poisoned",
            ErrorKind::Corruption => "corruption",
            ErrorKind::Io => "io",
            ErrorKind::ResourceExhausted => "resource_exhausted",
            ErrorKind::ShuttingDown => "shutting_down",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
        }
    }

    /// The kind a label names, if any.
    pub fn parse(label: &str) -> Option<ErrorKind> {
        const ALL: [ErrorKind; 15] = [
            ErrorKind::InvalidArgument,
            ErrorKind::NotFound,
            ErrorKind::Conflict,
            ErrorKind::TransactionExpired,
            ErrorKind::WrongType,
            ErrorKind::UniqueViolation,
            ErrorKind::AlreadyExists,
            ErrorKind::Closed,
            ErrorKind::Locked,
            ErrorKind::Poisoned,
            ErrorKind::Corruption,
            ErrorKind::Io,
            ErrorKind::ResourceExhausted,
            ErrorKind::ShuttingDown,
            ErrorKind::DeadlineExceeded,
        ];
        ALL.into_iter().find(|k| k.as_str() == label)
    }

    /// The gRPC code this kind is sent with.
    pub fn code(self) -> Code {
        match self {
            ErrorKind::InvalidArgument => Code::InvalidArgument,
            ErrorKind::NotFound => Code::NotFound,
            ErrorKind::Conflict | ErrorKind::TransactionExpired => Code::Aborted,
            ErrorKind::WrongType | ErrorKind::Locked => Code::FailedPrecondition,
            ErrorKind::UniqueViolation | ErrorKind::AlreadyExists => Code::AlreadyExists,
            ErrorKind::Closed | ErrorKind::ShuttingDown => Code::Unavailable,
            ErrorKind::Poisoned | ErrorKind::Corruption | ErrorKind::Io => Code::Internal,
            ErrorKind::ResourceExhausted => Code::ResourceExhausted,
            ErrorKind::DeadlineExceeded => Code::DeadlineExceeded,
        }
    }

    /// The kind of an engine error.
    pub fn of(e: &kvd::Error) -> ErrorKind {
        if e.is_corruption() {
            return ErrorKind::Corruption;
        }
        match e {
            kvd::Error::InvalidArgument(_) => ErrorKind::InvalidArgument,
            kvd::Error::NotFound(_) => ErrorKind::NotFound,
            kvd::Error::Conflict(_) => ErrorKind::Conflict,
            kvd::Error::TransactionExpired(_) => ErrorKind::TransactionExpired,
            kvd::Error::WrongType(_) => ErrorKind::WrongType,
            kvd::Error::UniqueViolation { .. } => ErrorKind::UniqueViolation,
            kvd::Error::AlreadyExists(_) => ErrorKind::AlreadyExists,
            kvd::Error::Closed => ErrorKind::Closed,
            kvd::Error::Locked(_) => ErrorKind::Locked,
            kvd::Error::Poisoned(_) => ErrorKind::Poisoned,
            _ => ErrorKind::Io,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status of `kind` with `message`, labelled for the typed client.
pub fn status(kind: ErrorKind, message: impl Into<String>) -> Status {
    let mut s = Status::new(kind.code(), message);
    s.metadata_mut().insert(ERROR_KIND_KEY, MetadataValue::from_static(kind.as_str()));
    s
}

/// `INVALID_ARGUMENT` with `message`.
pub fn invalid(message: impl Into<String>) -> Status {
    status(ErrorKind::InvalidArgument, message)
}

/// `RESOURCE_EXHAUSTED` with `message`.
pub fn exhausted(message: impl Into<String>) -> Status {
    status(ErrorKind::ResourceExhausted, message)
}

/// `UNAVAILABLE`: the server is draining for shutdown.
pub fn shutting_down() -> Status {
    status(ErrorKind::ShuttingDown, "server is shutting down; retry on another server or after restart")
}

/// The status of an engine error; the message is the engine's (corruption names the file).
pub fn from_engine(e: &kvd::Error) -> Status {
    let kind = ErrorKind::of(e);
    if matches!(kind, ErrorKind::Corruption | ErrorKind::Poisoned | ErrorKind::Io) {
        tracing::error!(error = %e, kind = %kind, "engine error");
    }
    status(kind, e.to_string())
}

/// The kind carried by `s`, or the closest kind for its code when it has no label
/// (statuses made by the transport, not by the server's handlers).
pub fn kind_of(s: &Status) -> Option<ErrorKind> {
    if let Some(kind) = s.metadata().get(ERROR_KIND_KEY).and_then(|v| v.to_str().ok()).and_then(ErrorKind::parse) {
        return Some(kind);
    }
    match s.code() {
        Code::InvalidArgument => Some(ErrorKind::InvalidArgument),
        Code::NotFound => Some(ErrorKind::NotFound),
        Code::Aborted => Some(ErrorKind::Conflict),
        Code::FailedPrecondition => Some(ErrorKind::WrongType),
        Code::ResourceExhausted => Some(ErrorKind::ResourceExhausted),
        Code::DeadlineExceeded => Some(ErrorKind::DeadlineExceeded),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_map_to_the_briefs_codes() {
        let cases = [
            (kvd::Error::InvalidArgument("k".into()), Code::InvalidArgument),
            (kvd::Error::NotFound("k".into()), Code::NotFound),
            (kvd::Error::Conflict("k".into()), Code::Aborted),
            (kvd::Error::TransactionExpired("k".into()), Code::Aborted),
            (kvd::Error::WrongType("k".into()), Code::FailedPrecondition),
            (
                kvd::Error::UniqueViolation { index: "u.by_e".into(), value: "\"a\"".into(), existing: "u/1".into() },
                Code::AlreadyExists,
            ),
            (kvd::Error::AlreadyExists("index u.by_e already exists".into()), Code::AlreadyExists),
            (kvd::Error::Closed, Code::Unavailable),
            (kvd::Error::Poisoned("fsync".into()), Code::Internal),
        ];
        for (e, code) in cases {
            let s = from_engine(&e);
            assert_eq!(s.code(), code, "{e}");
            assert_eq!(kind_of(&s), Some(ErrorKind::of(&e)));
            assert!(s.message().contains(&e.to_string()));
        }
    }

    #[test]
    fn labels_round_trip() {
        for k in [
            ErrorKind::InvalidArgument,
            ErrorKind::UniqueViolation,
            ErrorKind::ShuttingDown,
            ErrorKind::Corruption,
            ErrorKind::DeadlineExceeded,
        ] {
            assert_eq!(ErrorKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ErrorKind::parse("nope"), None);
    }
}
