//! [`HttpFunctionClient`]: a [`FunctionClient`] over the JSON binding.

use std::time::Duration;

use async_trait::async_trait;
use esim_proto::function::AnyRequest;
use esim_service::{ClientError, FunctionClient};
use tokio::time::Instant;

use crate::names::function_path;
use crate::server::{ErrorBody, PendingBody};
use crate::tls::{TlsOptions, http_client};

/// The largest `wait` the server honours (seconds).
const MAX_WAIT_S: u64 = 300;
/// Extra time given to a request beyond its `wait` before it counts as a transport failure.
const SLACK: Duration = Duration::from_secs(30);
/// Shortest interval between two polls of a pending operation.
const POLL_GAP: Duration = Duration::from_millis(200);

/// Calls another server's functions over the JSON binding: `POST {base}/api/v1/{iface}/{fn}`
/// with `?wait=`, then, on `202`, `GET` of the `Location` with `?wait=` until the response or
/// the limit. Transport failures and 502/503/504 answers are [`ClientError::Transport`]; retry
/// with the same `FunctionCallIdentifier` (the server never executes a call twice). Other
/// refusals are [`ClientError::Refused`] with the HTTP status.
#[derive(Clone)]
pub struct HttpFunctionClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for HttpFunctionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never printed.
        f.debug_struct("HttpFunctionClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl HttpFunctionClient {
    /// A client of the server at `base_url` (`http://host:port` or `https://host:port`, no
    /// trailing path) that authenticates with the bearer `token`; `https` peers are checked
    /// against the system trust store.
    pub fn new(base_url: &str, token: &str) -> Result<Self, ClientError> {
        Self::with_tls(base_url, token, &TlsOptions::default())
    }

    /// Like [`HttpFunctionClient::new`], with extra trust anchors and/or a client certificate.
    pub fn with_tls(base_url: &str, token: &str, tls: &TlsOptions) -> Result<Self, ClientError> {
        Ok(HttpFunctionClient {
            base: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: http_client(tls)?,
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }
}

/// Seconds to ask the server to wait, given the time left.
fn wait_secs(left: Duration) -> u64 {
    left.as_secs().min(MAX_WAIT_S)
}

/// Reads an answer: the final response, a pending operation's Location, or an error.
pub(crate) async fn read_answer(
    r: reqwest::Response,
) -> Result<Result<serde_json::Value, String>, ClientError> {
    let status = r.status();
    let bytes = r
        .bytes()
        .await
        .map_err(|e| ClientError::Transport(format!("reading the answer: {e}")))?;
    match status.as_u16() {
        200 => serde_json::from_slice(&bytes)
            .map(Ok)
            .map_err(|e| ClientError::BadAnswer(format!("200 body: {e}"))),
        202 => {
            let p: PendingBody = serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::BadAnswer(format!("202 body: {e}")))?;
            if !p.location.starts_with("/api/v1/operations/") {
                return Err(ClientError::BadAnswer(format!(
                    "unexpected Location {:?}",
                    p.location.chars().take(200).collect::<String>()
                )));
            }
            Ok(Err(p.location))
        }
        code => {
            let message = serde_json::from_slice::<ErrorBody>(&bytes)
                .map(|e| format!("{}: {}", e.kind, e.error))
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(500).collect());
            if matches!(code, 502..=504) {
                // The peer (or a proxy before it) is unavailable: as retryable as a broken
                // connection.
                return Err(ClientError::Transport(format!("HTTP {code}: {message}")));
            }
            Err(ClientError::Refused {
                status: code,
                message,
            })
        }
    }
}

fn transport(e: reqwest::Error) -> ClientError {
    ClientError::Transport(e.without_url().to_string())
}

#[async_trait]
impl FunctionClient for HttpFunctionClient {
    async fn call(
        &self,
        request: &AnyRequest,
        limit: Duration,
    ) -> Result<serde_json::Value, ClientError> {
        let deadline = Instant::now() + limit;
        let body = request
            .to_json()
            .map_err(|e| ClientError::BadAnswer(format!("encoding the request: {e}")))?;
        let wait = wait_secs(limit);
        let url = format!("{}{}", self.base, function_path(request.function()));
        let r = self
            .http
            .post(format!("{url}?wait={wait}"))
            .bearer_auth(&self.token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(Duration::from_secs(wait) + SLACK)
            .send()
            .await
            .map_err(transport)?;
        let mut answer = read_answer(r).await?;
        loop {
            let location = match answer {
                Ok(v) => return Ok(v),
                Err(location) => location,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ClientError::Timeout(limit));
            }
            let wait = wait_secs(left);
            let asked = Instant::now();
            tracing::debug!(%location, wait, "following a pending operation");
            let r = self
                .http
                .get(format!("{}{location}?wait={wait}", self.base))
                .bearer_auth(&self.token)
                .timeout(Duration::from_secs(wait) + SLACK)
                .send()
                .await
                .map_err(transport)?;
            answer = read_answer(r).await?;
            if answer.is_err() && asked.elapsed() < POLL_GAP {
                // Still pending and answered at once (less than a second left, or a server
                // that does not wait): do not spin.
                let left = deadline.saturating_duration_since(Instant::now());
                tokio::time::sleep(left.min(POLL_GAP)).await;
            }
        }
    }
}
