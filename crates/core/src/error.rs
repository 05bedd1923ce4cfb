//! Typed errors and their rendering as SQLite error text and result codes.
//!
//! SDKs match on these texts and codes, so the templates follow docs/sql-functions.md, "Conventions" exactly.

use std::fmt;

use rusqlite::ffi;

/// What went wrong, which decides the message template and the result code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// `invalid argument: <desc>. cause: <cause>` (3091)
    InvalidArgument { desc: String, cause: Option<String> },
    /// `invalid state: <desc>` (21)
    InvalidState(String),
    /// `This function may only be called in transactions.` (21)
    NotInTransaction,
    /// `No client_id found in ps_kv` (4)
    MissingClientId,
    /// `Sync protocol error: <desc>. cause: <cause>` (4)
    SyncProtocol { desc: String, cause: Option<String> },
    /// `Down migration failed - version not updated from <n>` (4)
    DownMigrationStuck(i64),
    /// The SQLite library is older than our floor (4); the full text is pre-rendered.
    SqliteTooOld(String),
    /// `invalid local data: cause: <cause>` (11)
    InvalidLocalData(String),
    /// `Internal PowerSync error. cause: <cause>` (2)
    Internal(String),
    /// `Allocating c string: <detail>` (24)
    NulInString(String),
    /// `[statement <sql>: ]internal SQLite call returned <CODE>[: <errmsg>]` (the original code)
    Sqlite {
        sql: Option<String>,
        code: i32,
        message: Option<String>,
    },
    /// A message used verbatim with an explicit code; `prefixed` says whether a function's error
    /// text starts with `<function name>: ` (`Unknown operation` of update_hooks has none).
    Plain { message: String, code: i32, prefixed: bool },
}

/// An error with optional contexts, rendered `<inner> (context: <context>)`, innermost first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsError {
    pub kind: ErrorKind,
    pub contexts: Vec<String>,
}

pub type PsResult<T> = Result<T, PsError>;

/// Not in the 3.34 bindings the non-bundled builds use (added to SQLite in 3.37).
pub const SQLITE_CONSTRAINT_DATATYPE: i32 = 3091;

impl PsError {
    pub fn new(kind: ErrorKind) -> Self {
        PsError {
            kind,
            contexts: Vec::new(),
        }
    }

    pub fn invalid_argument(desc: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument {
            desc: desc.into(),
            cause: None,
        })
    }

    /// A JSON argument that failed to parse: the description is empty, the cause is serde's text.
    pub fn json_argument(err: &serde_json::Error) -> Self {
        Self::new(ErrorKind::InvalidArgument {
            desc: String::new(),
            cause: Some(err.to_string()),
        })
    }

    pub fn sync_protocol(desc: impl Into<String>, cause: Option<String>) -> Self {
        Self::new(ErrorKind::SyncProtocol {
            desc: desc.into(),
            cause,
        })
    }

    pub fn invalid_state(desc: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidState(desc.into()))
    }

    pub fn internal(cause: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal(cause.into()))
    }

    /// A verbatim message with its code, reported without the function-name prefix.
    pub fn plain(message: impl Into<String>, code: i32) -> Self {
        Self::new(ErrorKind::Plain {
            message: message.into(),
            code,
            prefixed: false,
        })
    }

    /// Makes a plain message take the `<function name>: ` prefix after all.
    pub fn with_function_prefix(mut self) -> Self {
        if let ErrorKind::Plain { prefixed, .. } = &mut self.kind {
            *prefixed = true;
        }
        self
    }

    /// Wraps a rusqlite error raised while running `sql`.
    pub fn sqlite(sql: Option<&str>, err: rusqlite::Error) -> Self {
        match err {
            rusqlite::Error::SqliteFailure(e, message) => Self::new(ErrorKind::Sqlite {
                sql: sql.map(str::to_owned),
                code: e.extended_code,
                message,
            }),
            rusqlite::Error::NulError(e) => Self::new(ErrorKind::NulInString(e.to_string())),
            other => Self::internal(other.to_string()),
        }
    }

    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.contexts.push(context.into());
        self
    }

    /// The SQLite result code reported with this error.
    pub fn code(&self) -> i32 {
        match &self.kind {
            ErrorKind::InvalidArgument { .. } => SQLITE_CONSTRAINT_DATATYPE,
            ErrorKind::InvalidState(_) | ErrorKind::NotInTransaction => ffi::SQLITE_MISUSE,
            ErrorKind::MissingClientId
            | ErrorKind::SyncProtocol { .. }
            | ErrorKind::DownMigrationStuck(_)
            | ErrorKind::SqliteTooOld(_) => ffi::SQLITE_ABORT,
            ErrorKind::InvalidLocalData(_) => ffi::SQLITE_CORRUPT,
            ErrorKind::Internal(_) => ffi::SQLITE_INTERNAL,
            ErrorKind::NulInString(_) => ffi::SQLITE_FORMAT,
            ErrorKind::Sqlite { code, .. } => *code,
            ErrorKind::Plain { code, .. } => *code,
        }
    }

    /// Whether a function's error text gets the `<function name>: ` prefix.
    pub fn takes_function_prefix(&self) -> bool {
        !matches!(self.kind, ErrorKind::Plain { prefixed: false, .. })
    }
}

fn cause_text(cause: &Option<String>) -> &str {
    cause.as_deref().unwrap_or("unknown")
}

impl fmt::Display for PsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::InvalidArgument { desc, cause } => {
                write!(f, "invalid argument: {desc}. cause: {}", cause_text(cause))?
            }
            ErrorKind::InvalidState(desc) => write!(f, "invalid state: {desc}")?,
            ErrorKind::NotInTransaction => f.write_str("This function may only be called in transactions.")?,
            ErrorKind::MissingClientId => f.write_str("No client_id found in ps_kv")?,
            ErrorKind::SyncProtocol { desc, cause } => {
                write!(f, "Sync protocol error: {desc}. cause: {}", cause_text(cause))?
            }
            ErrorKind::DownMigrationStuck(v) => write!(f, "Down migration failed - version not updated from {v}")?,
            ErrorKind::SqliteTooOld(text) => f.write_str(text)?,
            ErrorKind::InvalidLocalData(cause) => write!(f, "invalid local data: cause: {cause}")?,
            ErrorKind::Internal(cause) => write!(f, "Internal PowerSync error. cause: {cause}")?,
            ErrorKind::NulInString(detail) => write!(f, "Allocating c string: {detail}")?,
            ErrorKind::Sqlite { sql, code, message } => {
                if let Some(sql) = sql {
                    write!(f, "statement {sql}: ")?;
                }
                write!(f, "internal SQLite call returned {}", code_name(*code))?;
                if let Some(message) = message {
                    write!(f, ": {message}")?;
                }
            }
            ErrorKind::Plain { message, .. } => f.write_str(message)?,
        }
        for context in &self.contexts {
            write!(f, " (context: {context})")?;
        }
        Ok(())
    }
}

impl std::error::Error for PsError {}

/// Lets `?` wrap rusqlite errors that carry no statement text.
impl From<rusqlite::Error> for PsError {
    fn from(err: rusqlite::Error) -> Self {
        PsError::sqlite(None, err)
    }
}

/// The symbolic name of a (possibly extended) SQLite result code, without `SQLITE_`.
pub fn code_name(code: i32) -> String {
    let name = match code {
        0 => "OK",
        1 => "ERROR",
        2 => "INTERNAL",
        3 => "PERM",
        4 => "ABORT",
        5 => "BUSY",
        6 => "LOCKED",
        7 => "NOMEM",
        8 => "READONLY",
        9 => "INTERRUPT",
        10 => "IOERR",
        11 => "CORRUPT",
        12 => "NOTFOUND",
        13 => "FULL",
        14 => "CANTOPEN",
        15 => "PROTOCOL",
        16 => "EMPTY",
        17 => "SCHEMA",
        18 => "TOOBIG",
        19 => "CONSTRAINT",
        20 => "MISMATCH",
        21 => "MISUSE",
        22 => "NOLFS",
        23 => "AUTH",
        24 => "FORMAT",
        25 => "RANGE",
        26 => "NOTADB",
        27 => "NOTICE",
        28 => "WARNING",
        100 => "ROW",
        101 => "DONE",
        257 => "ERROR_MISSING_COLLSEQ",
        513 => "ERROR_RETRY",
        769 => "ERROR_SNAPSHOT",
        262 => "LOCKED_SHAREDCACHE",
        517 => "BUSY_SNAPSHOT",
        261 => "BUSY_RECOVERY",
        264 => "READONLY_RECOVERY",
        520 => "READONLY_CANTLOCK",
        776 => "READONLY_ROLLBACK",
        1032 => "READONLY_DBMOVED",
        267 => "CORRUPT_VTAB",
        516 => "ABORT_ROLLBACK",
        275 => "CONSTRAINT_CHECK",
        531 => "CONSTRAINT_COMMITHOOK",
        787 => "CONSTRAINT_FOREIGNKEY",
        1043 => "CONSTRAINT_FUNCTION",
        1299 => "CONSTRAINT_NOTNULL",
        1555 => "CONSTRAINT_PRIMARYKEY",
        1811 => "CONSTRAINT_TRIGGER",
        2067 => "CONSTRAINT_UNIQUE",
        2323 => "CONSTRAINT_VTAB",
        2579 => "CONSTRAINT_ROWID",
        2835 => "CONSTRAINT_PINNED",
        3091 => "CONSTRAINT_DATATYPE",
        _ => return format!("UNKNOWN_CODE_{code}"),
    };
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_argument_with_period_renders_two_periods() {
        let e = PsError::invalid_argument("Table noid has no id column.");
        assert_eq!(
            e.to_string(),
            "invalid argument: Table noid has no id column.. cause: unknown"
        );
        assert_eq!(e.code(), 3091);
    }

    #[test]
    fn wrapped_sqlite_error_with_statement_and_context() {
        let e = PsError::new(ErrorKind::Sqlite {
            sql: Some("DELETE FROM nonexistent".into()),
            code: 1,
            message: Some("no such table: nonexistent".into()),
        })
        .with_context("Clearing raw table user_rows");
        assert_eq!(
            e.to_string(),
            "statement DELETE FROM nonexistent: internal SQLite call returned ERROR: no such table: nonexistent (context: Clearing raw table user_rows)"
        );
        assert_eq!(e.code(), 1);
    }

    #[test]
    fn extended_code_names() {
        assert_eq!(code_name(1299), "CONSTRAINT_NOTNULL");
        assert_eq!(code_name(1), "ERROR");
    }
}
