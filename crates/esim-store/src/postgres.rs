//! PostgreSQL backend (replicas, DESIGN §5).
//!
//! Any number of replicas share one database. Work is claimed with
//! `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING *`, so two
//! replicas never claim the same operation, command or inventory Profile and
//! neither waits for the other; queue heads are locked with `FOR UPDATE` so
//! one eUICC's commands go out one at a time; per-eUICC Profile changes lock
//! the EIS row first; counters and queue sequence numbers are single-statement
//! increments under the row lock. Transactions run at READ COMMITTED.

use std::str::FromStr;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};

use crate::error::{StoreError, StoreResult};

/// The PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

fn check_schema(schema: &str) -> StoreResult<()> {
    let ok = !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "schema name {schema:?}: use 1-63 characters of [a-z0-9_], not starting with a digit"
        )))
    }
}

fn options(url: &str) -> StoreResult<PgConnectOptions> {
    // The parse error of sqlx may quote the URL: do not repeat it (password).
    PgConnectOptions::from_str(url)
        .map_err(|_| StoreError::Backend("PostgreSQL URL could not be parsed".into()))
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`) with up to 10
    /// connections and applies the migrations in the default schema.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(options(url)?, 10).await
    }

    /// Connects with the tables in `schema` (created if missing; the
    /// connections' `search_path`). Lets several stores (tenants, test runs)
    /// share a database.
    pub async fn connect_in_schema(url: &str, schema: &str) -> StoreResult<Self> {
        check_schema(schema)?;
        let opts = options(url)?;
        let mut conn = PgConnection::connect_with(&opts)
            .await
            .map_err(|e| StoreError::Backend(format!("PostgreSQL connect: {e}")))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS \"{schema}\""
        )))
        .execute(&mut conn)
        .await
        .map_err(|e| StoreError::Backend(format!("create schema: {e}")))?;
        conn.close().await.ok();
        Self::connect_with(opts.options([("search_path", schema)]), 10).await
    }

    /// Connects with explicit options and pool size, then migrates.
    pub async fn connect_with(opts: PgConnectOptions, max_connections: u32) -> StoreResult<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Backend(format!("PostgreSQL connect: {e}")))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(format!("PostgreSQL migration: {e}")))?;
        Ok(Self { pool })
    }

    /// Drops `schema` with everything in it (test clean-up).
    pub async fn drop_schema(url: &str, schema: &str) -> StoreResult<()> {
        check_schema(schema)?;
        let mut conn = PgConnection::connect_with(&options(url)?)
            .await
            .map_err(|e| StoreError::Backend(format!("PostgreSQL connect: {e}")))?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
        )))
        .execute(&mut conn)
        .await
        .map_err(|e| StoreError::Backend(format!("drop schema: {e}")))?;
        conn.close().await.ok();
        Ok(())
    }

    /// The connection pool, e.g. for inspection in tests.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

crate::sql::sql_backend!(
    PgStore,
    sqlx::Postgres,
    sqlx::postgres::PgRow,
    skip_locked = " FOR UPDATE SKIP LOCKED",
    for_update = " FOR UPDATE"
);
