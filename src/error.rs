//! The one error type of the crate: a variant per failure domain, hand-written
//! `Display`, and the two questions the daemon asks of every error: is it
//! transient (retry later) and which exit code does it map to.
//!
//! Messages are lowercase, without a trailing period, and name the offending
//! key, value, file, endpoint or flag. They never contain secrets: nothing in
//! this file formats a mnemonic or a key, and callers pass only redacted text.

use std::fmt;

/// Every failure the worker knows about.
#[derive(Debug)]
pub enum Error {
    /// Bad command line (unknown flag, missing value). Exit 2, nothing written.
    Usage(String),
    /// A configuration key with a bad value. Exit 2 at start-up, nothing written.
    Config { key: String, problem: String },
    /// The mnemonic or key file is unusable (missing, unreadable, bad checksum,
    /// unsafe permissions). Exit 2. The message never echoes any word.
    Wallet(String),
    /// A file or directory operation failed. `what` names the path and the action.
    /// Transient: the daemon retries (disk full, a full log dir).
    Io {
        what: String,
        source: std::io::Error,
    },
    /// An endpoint failed (connect, timeout, HTTP status, not JSON). Transient:
    /// the endpoint list fails over and cools the endpoint down.
    Http {
        endpoint: String,
        path: String,
        problem: String,
    },
    /// An HTTP call was not started, or was cut short: the loop step's
    /// budget (one call bound + a slack, `io::http`) is spent. Transient, and no endpoint's fault:
    /// nothing cools down, nothing reached a node; the step runs again at
    /// the next turn.
    StepBudget {
        path: String,
        budget_ms: u64,
        /// The call was started and the budget cut it short.
        started: bool,
    },
    /// The chain answered but refused (CheckTx / DeliverTx code, query error).
    /// Whether it is transient depends on (codespace, code); see `logic::chain_json`.
    Chain {
        codespace: String,
        code: u32,
        log: String,
    },
    /// A value we were asked to encode cannot be encoded (NaN, out-of-range decimal,
    /// nonce ≤ 0, topic 0). Exit 2 on the command line; a skipped window in the daemon.
    Encode(String),
    /// Bytes or JSON from outside did not decode (truncated protobuf, unknown field,
    /// malformed response). Never a panic.
    Decode(String),
    /// A signature or a transaction failed verification.
    Verify(String),
    /// Market data unusable (stale, gaps, rate limit, bad CSV row). The window is
    /// skipped with this reason; the daemon retries the fetch later.
    Data(String),
    /// The model could not be trained, loaded or used. The window is skipped.
    Model(String),
    /// Another worker already holds the machine-wide claim on this key:
    /// exit 1, naming its pid and data dir.
    Running(String),
    /// The operator asked us to stop (SIGINT/SIGTERM).
    Shutdown,
}

impl Error {
    /// Shorthand for a configuration error.
    pub fn config(key: &str, problem: impl Into<String>) -> Error {
        Error::Config {
            key: key.to_string(),
            problem: problem.into(),
        }
    }

    /// Shorthand for an I/O error with the path and action it concerns.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// True when retrying later can succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Io { .. } | Error::Http { .. } | Error::StepBudget { .. } | Error::Data(_) => {
                true
            }
            Error::Chain {
                codespace, code, ..
            } => {
                // sdk 19 (in mempool), 20 (mempool full), 32 (sequence), 13 (fee)
                codespace == "sdk" && matches!(code, 13 | 19 | 20 | 32)
            }
            _ => false,
        }
    }

    /// The process exit code for this error when it ends a command.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Config { .. } | Error::Wallet(_) | Error::Encode(_) => 2,
            Error::Shutdown => 0,
            _ => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "{m}"),
            Error::Config { key, problem } => write!(f, "config {key}: {problem}"),
            Error::Wallet(m) => write!(f, "wallet: {m}"),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
            Error::Http {
                endpoint,
                path,
                problem,
            } => write!(f, "{endpoint}{path}: {problem}"),
            Error::StepBudget {
                path,
                budget_ms,
                started,
            } => write!(
                f,
                "{path}: {}, the step budget of {budget_ms} ms is spent; \
                 the rest of this step is retried at the next turn",
                if *started { "cut short" } else { "not started" }
            ),
            Error::Chain {
                codespace,
                code,
                log,
            } => {
                write!(f, "chain rejected ({codespace}/{code}): {log}")
            }
            Error::Encode(m) => write!(f, "cannot encode: {m}"),
            Error::Decode(m) => write!(f, "cannot decode: {m}"),
            Error::Verify(m) => write!(f, "verification failed: {m}"),
            Error::Data(m) => write!(f, "market data: {m}"),
            Error::Model(m) => write!(f, "model: {m}"),
            Error::Running(m) => write!(f, "{m}"),
            Error::Shutdown => write!(f, "shutting down"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<lexopt::Error> for Error {
    fn from(e: lexopt::Error) -> Error {
        Error::Usage(e.to_string())
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
