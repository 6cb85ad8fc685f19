//! [`HttpCallbacks`]: [`Callbacks`] over the JSON binding, with retries in the background.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use esim_service::{Callback, Callbacks, ClientError};
use tokio::sync::mpsc;

use crate::names::function_path;
use crate::server::CallbackResult;
use crate::tls::{TlsOptions, http_client};

/// A party's endpoint: the base URL of its server speaking this binding and the bearer token
/// this server presents to it.
#[derive(Clone)]
pub struct Endpoint {
    /// `http://host:port`.
    pub base_url: String,
    /// Bearer token (never logged).
    pub token: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// How deliveries are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per message before it is dropped (logged as an error).
    pub max_attempts: u32,
    /// Delay after the first failure; doubled after each further one.
    pub base_delay: Duration,
    /// Longest delay between attempts.
    pub max_delay: Duration,
    /// Messages queued per party; [`Callbacks::deliver`] refuses more.
    pub queue_capacity: usize,
    /// Time limit of one attempt.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(300),
            queue_capacity: 1024,
            attempt_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    fn delay(&self, failures: u32) -> Duration {
        let factor = 1u32
            .checked_shl(failures.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }
}

/// Counters of an [`HttpCallbacks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallbackStats {
    /// Messages the receiver accepted (2xx).
    pub delivered: u64,
    /// Attempts that failed (transport error, 408, 429 or 5xx) and were retried or gave up.
    pub failed_attempts: u64,
    /// Messages given up (attempts exhausted, refused with another 4xx, or unknown party).
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    failed_attempts: AtomicU64,
    dropped: AtomicU64,
}

/// One message ready to send.
struct Outgoing {
    path: String,
    body: String,
    what: String,
}

/// Delivers [`Callback`]s to parties over the JSON binding. A
/// [`Callback::Notification`] is `POST {base}/api/v1/{iface}/{function}` (the receiving party
/// serves the notification functions in this binding); a [`Callback::Result`] is
/// `POST {base}/api/v1/callbacks` with a [`CallbackResult`]. Each party has its own bounded
/// queue and background task, so its messages are delivered in order and a party that is
/// down delays only its own; failed attempts are retried with exponential back-off. Messages
/// for a party with no configured endpoint are logged and dropped.
#[derive(Clone)]
pub struct HttpCallbacks {
    parties: Arc<HashMap<String, Endpoint>>,
    policy: RetryPolicy,
    http: reqwest::Client,
    queues: Arc<Mutex<HashMap<String, mpsc::Sender<Outgoing>>>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for HttpCallbacks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpCallbacks")
            .field("parties", &self.parties)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl HttpCallbacks {
    /// Callbacks to the parties of `parties` (party id → endpoint); `https` endpoints are
    /// checked against the system trust store.
    pub fn new(
        parties: HashMap<String, Endpoint>,
        policy: RetryPolicy,
    ) -> Result<Self, ClientError> {
        Self::with_tls(parties, policy, &TlsOptions::default())
    }

    /// Like [`HttpCallbacks::new`], with extra trust anchors and/or a client certificate.
    pub fn with_tls(
        parties: HashMap<String, Endpoint>,
        policy: RetryPolicy,
        tls: &TlsOptions,
    ) -> Result<Self, ClientError> {
        let http = http_client(tls)?;
        Ok(HttpCallbacks {
            parties: Arc::new(parties),
            policy,
            http,
            queues: Arc::new(Mutex::new(HashMap::new())),
            counters: Arc::new(Counters::default()),
        })
    }

    /// The counters so far.
    pub fn stats(&self) -> CallbackStats {
        CallbackStats {
            delivered: self.counters.delivered.load(Ordering::Relaxed),
            failed_attempts: self.counters.failed_attempts.load(Ordering::Relaxed),
            dropped: self.counters.dropped.load(Ordering::Relaxed),
        }
    }

    fn queue_for(&self, party: &str, endpoint: &Endpoint) -> mpsc::Sender<Outgoing> {
        let mut queues = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = queues.get(party).filter(|q| !q.is_closed()) {
            return q.clone();
        }
        let (tx, rx) = mpsc::channel(self.policy.queue_capacity.max(1));
        tokio::spawn(worker(
            party.to_owned(),
            endpoint.clone(),
            self.policy,
            self.http.clone(),
            Arc::clone(&self.counters),
            rx,
        ));
        queues.insert(party.to_owned(), tx.clone());
        tx
    }
}

#[async_trait]
impl Callbacks for HttpCallbacks {
    async fn deliver(&self, party: &str, message: Callback) -> Result<(), ClientError> {
        let Some(endpoint) = self.parties.get(party) else {
            tracing::warn!(party, "callback for a party with no endpoint dropped");
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let out = match message {
            Callback::Notification(req) => Outgoing {
                path: format!("{}?wait=0", function_path(req.function())),
                what: crate::names::qualified_name(req.function()),
                body: req
                    .to_json()
                    .map_err(|e| ClientError::BadAnswer(format!("encoding: {e}")))?,
            },
            Callback::Result {
                function,
                operation_id,
                function_call_id,
                response,
            } => Outgoing {
                path: "/api/v1/callbacks".into(),
                what: format!("result of {}", crate::names::qualified_name(function)),
                body: serde_json::to_string(&CallbackResult {
                    function,
                    operation_id,
                    function_call_id,
                    response,
                })
                .map_err(|e| ClientError::BadAnswer(format!("encoding: {e}")))?,
            },
        };
        self.queue_for(party, endpoint)
            .try_send(out)
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => {
                    ClientError::Transport(format!("callback queue of {party} is full"))
                }
                mpsc::error::TrySendError::Closed(_) => {
                    ClientError::Transport(format!("callback queue of {party} is closed"))
                }
            })
    }
}

/// Sends the queued messages of one party in order.
async fn worker(
    party: String,
    endpoint: Endpoint,
    policy: RetryPolicy,
    http: reqwest::Client,
    counters: Arc<Counters>,
    mut rx: mpsc::Receiver<Outgoing>,
) {
    let base = endpoint.base_url.trim_end_matches('/').to_owned();
    while let Some(msg) = rx.recv().await {
        let url = format!("{base}{}", msg.path);
        let mut failures = 0u32;
        loop {
            let attempt = http
                .post(&url)
                .bearer_auth(&endpoint.token)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(msg.body.clone())
                .timeout(policy.attempt_timeout)
                .send()
                .await;
            let retry = match attempt {
                Ok(r) if r.status().is_success() => {
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(party = %party, what = %msg.what, "callback delivered");
                    break;
                }
                Ok(r) => {
                    let s = r.status().as_u16();
                    let retry = s == 408 || s == 429 || s >= 500;
                    tracing::warn!(party = %party, what = %msg.what, status = s, retry, "callback refused");
                    retry
                }
                Err(e) => {
                    tracing::warn!(party = %party, what = %msg.what, error = %e.without_url(), "callback not delivered");
                    true
                }
            };
            counters.failed_attempts.fetch_add(1, Ordering::Relaxed);
            failures += 1;
            if !retry || failures >= policy.max_attempts {
                counters.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(party = %party, what = %msg.what, attempts = failures, "callback given up");
                break;
            }
            tokio::time::sleep(policy.delay(failures)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        assert_eq!(p.delay(1), Duration::from_millis(100));
        assert_eq!(p.delay(2), Duration::from_millis(200));
        assert_eq!(p.delay(4), Duration::from_millis(800));
        assert_eq!(p.delay(5), Duration::from_secs(1));
        assert_eq!(p.delay(100), Duration::from_secs(1));
    }
}
