//! SQLite backend (the embedded default, DESIGN §5).
//!
//! A file in WAL mode with `synchronous = FULL` (a committed counter or step
//! survives a crash or power loss), foreign keys on and a busy timeout for
//! other processes reading the file. The pool has exactly one connection: the
//! single writer of DESIGN §5. Every call therefore runs alone, which makes
//! claims exclusive and read-modify-write transactions serializable without
//! row locks. Serve one file from one process; use PostgreSQL for replicas.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::{StoreError, StoreResult};

/// The SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) and migrates the database at `url`:
    /// `sqlite:<path>`, `sqlite://<path>` or `sqlite::memory:`.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let opts = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Backend(format!("SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            // An in-memory database lives as long as its connection.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Backend(format!("SQLite connect: {e}")))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("SQLite migration: {e}")))?;
        Ok(Self { pool })
    }

    /// The connection pool (one connection), e.g. for inspection in tests.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes the pool (waits for the connection to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

crate::sql::sql_backend!(
    SqliteStore,
    sqlx::Sqlite,
    sqlx::sqlite::SqliteRow,
    skip_locked = "",
    for_update = ""
);
