//! Storage of the M2M eSIM servers (DESIGN §4 "storage", §5; issue 4).
//!
//! What is kept:
//! - the SM-SR's EIS per eUICC ([`EisRecord`], [`ProfileRecord`], [`KeysetRecord`]; digest §4.1),
//! - SCP80 counters per eUICC keyset, allocated before sending ([`CounterStore`]),
//! - persisted operations with leases, so any replica continues a procedure
//!   another one started and a killed server resumes ([`OperationStore`]),
//! - one ordered ES5 command queue per eUICC with back-off and ValidityPeriod
//!   expiry ([`QueueStore`]),
//! - the SM-DP's Profile inventory, never issuing an ICCID twice ([`InventoryStore`]),
//! - operators with hashed API tokens ([`OperatorStore`]), the audit trail
//!   ([`AuditStore`]) and responses keyed by `FunctionCallIdentifier`
//!   ([`IdempotencyStore`]).
//!
//! Backends: [`MemoryStore`], [`SqliteStore`] (default; a file in WAL mode),
//! [`PgStore`] (replicas). All pass the same conformance suite
//! (`tests/conformance.rs`). The concurrency guarantees of each backend are
//! described in [`traits`]. Secrets reach the store only sealed ([`Sealer`],
//! [`AesSealer`]).

pub mod error;
pub mod memory;
pub mod model;
pub mod postgres;
pub mod seal;
mod sql;
pub mod sqlite;
pub mod traits;

use std::sync::Arc;

pub use error::{StoreError, StoreResult};
pub use memory::MemoryStore;
pub use model::*;
pub use postgres::PgStore;
pub use seal::{AesSealer, Sealer, hash_token};
pub use sqlite::SqliteStore;
pub use traits::{
    AuditStore, CounterStore, EisStore, IdempotencyStore, InventoryStore, OperationStore,
    OperatorStore, QueueStore, Store,
};

/// Exponential back-off for command retries: `base · 2^(attempts-1)`, capped
/// at `max` (milliseconds). Deterministic (no jitter) so simulations repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Delay after the first attempt (ms).
    pub base_ms: i64,
    /// Largest delay (ms).
    pub max_ms: i64,
}

impl Backoff {
    /// Delay after `attempts` failed attempts (1 → `base_ms`).
    pub fn delay_ms(&self, attempts: u32) -> i64 {
        let shift = attempts.saturating_sub(1).min(40);
        self.base_ms
            .saturating_mul(1i64 << shift)
            .min(self.max_ms)
            .max(0)
    }

    /// The `not_before` of the next attempt.
    pub fn next_attempt(&self, now: Timestamp, attempts: u32) -> Timestamp {
        now.plus_ms(self.delay_ms(attempts))
    }
}

/// Takes a `schema=NAME` query parameter out of a PostgreSQL URL (the store's own parameter:
/// the tables live in that schema, so several stores — the SM-SR's and the SM-DP's, or test
/// runs — can share one database).
fn split_schema(url: &str) -> (String, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None);
    };
    let mut schema = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("schema=") {
            Some(v) => {
                schema = Some(v.to_string());
                false
            }
            None => true,
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, schema)
}

/// Opens a store by URL: `memory:`, `sqlite:<path>` / `sqlite::memory:`, or
/// `postgres://…` / `postgresql://…` (with `?schema=NAME` for the tables in their own schema).
/// SQL backends are migrated on connect.
pub async fn connect(url: &str) -> StoreResult<Arc<dyn Store>> {
    if url == "memory:" {
        Ok(Arc::new(MemoryStore::new()))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        match split_schema(url) {
            (base, Some(schema)) => Ok(Arc::new(PgStore::connect_in_schema(&base, &schema).await?)),
            (base, None) => Ok(Arc::new(PgStore::connect(&base).await?)),
        }
    } else {
        Err(StoreError::Backend(format!(
            "unsupported store URL scheme in {:?} (memory:, sqlite:, postgres://)",
            url.split(':').next().unwrap_or("")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_parameter_is_taken_out() {
        assert_eq!(
            split_schema("postgres://u@h/db?schema=smsr"),
            ("postgres://u@h/db".to_string(), Some("smsr".to_string()))
        );
        assert_eq!(
            split_schema("postgres://u@h/db?sslmode=disable&schema=a_b&x=1"),
            (
                "postgres://u@h/db?sslmode=disable&x=1".to_string(),
                Some("a_b".to_string())
            )
        );
        assert_eq!(
            split_schema("postgres://u@h/db"),
            ("postgres://u@h/db".to_string(), None)
        );
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let b = Backoff {
            base_ms: 1000,
            max_ms: 60_000,
        };
        assert_eq!(b.delay_ms(1), 1000);
        assert_eq!(b.delay_ms(2), 2000);
        assert_eq!(b.delay_ms(6), 32_000);
        assert_eq!(b.delay_ms(7), 60_000);
        assert_eq!(b.delay_ms(u32::MAX), 60_000);
        assert_eq!(b.next_attempt(Timestamp(5), 1), Timestamp(1005));
    }
}
