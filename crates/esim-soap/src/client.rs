//! [`SoapFunctionClient`]: an [`esim_service::FunctionClient`] over the SOAP binding (digest
//! §2.1), the twin of `esim_http::HttpFunctionClient`.

use std::time::Duration;

use async_trait::async_trait;
use esim_proto::function::AnyRequest;
use esim_service::{ClientError, FunctionClient};
use tokio::time::Instant;

use crate::codec::{DecodedResponse, decode_response_envelope, encode_request, new_message_id};
use crate::envelope::Addressing;
use crate::schema::interface_name;
use crate::server::SOAP12_CONTENT_TYPE;

/// Extra time given to a request beyond the caller's limit before it counts as a transport
/// failure.
const SLACK: Duration = Duration::from_secs(30);
/// Pause before repeating a request whose function is still running.
const REPEAT_GAP: Duration = Duration::from_millis(200);

/// Calls another server's functions over the SOAP binding: `POST {base}/soap/{interface}` with
/// an anonymous reply (the response comes back on the HTTP response). A `Receiver`/`Pending`
/// fault (the function is still running) is answered by repeating the request with the same
/// `FunctionCallIdentifier` until the limit (the server never executes a call twice).
/// Transport failures and 502/503/504 answers are [`ClientError::Transport`]; other faults are
/// [`ClientError::Refused`] with the HTTP status and `subcode: reason`.
#[derive(Clone)]
pub struct SoapFunctionClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for SoapFunctionClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is a credential: never printed.
        f.debug_struct("SoapFunctionClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl SoapFunctionClient {
    /// A client of the server at `base_url` (`http(s)://host:port`, no trailing path) that
    /// authenticates with the bearer `token`.
    pub fn new(base_url: &str, token: &str) -> Self {
        Self::with_http_client(base_url, token, reqwest::Client::new())
    }

    /// Like [`SoapFunctionClient::new`] with a configured HTTP client (trust anchors, client
    /// certificate).
    pub fn with_http_client(base_url: &str, token: &str, http: reqwest::Client) -> Self {
        SoapFunctionClient {
            base: base_url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http,
        }
    }
}

fn transport(e: reqwest::Error) -> ClientError {
    ClientError::Transport(e.without_url().to_string())
}

#[async_trait]
impl FunctionClient for SoapFunctionClient {
    async fn call(
        &self,
        request: &AnyRequest,
        limit: Duration,
    ) -> Result<serde_json::Value, ClientError> {
        let deadline = Instant::now() + limit;
        let f = request.function();
        let url = format!("{}/soap/{}", self.base, interface_name(f.interface()));
        let content_type = format!("{SOAP12_CONTENT_TYPE}; action=\"{}\"", f.action());
        loop {
            let addressing = Addressing {
                message_id: Some(new_message_id()),
                to: Some(url.clone()),
                ..Addressing::default()
            };
            let xml = encode_request(request, &addressing)
                .map_err(|e| ClientError::BadAnswer(format!("encoding the request: {e}")))?;
            let left = deadline.saturating_duration_since(Instant::now());
            let r = self
                .http
                .post(&url)
                .bearer_auth(&self.token)
                .header(reqwest::header::CONTENT_TYPE, content_type.as_str())
                .body(xml)
                .timeout(left + SLACK)
                .send()
                .await
                .map_err(transport)?;
            let status = r.status().as_u16();
            let bytes = r
                .bytes()
                .await
                .map_err(|e| ClientError::Transport(format!("reading the answer: {e}")))?;
            let decoded = decode_response_envelope(&bytes);
            match decoded {
                Ok(DecodedResponse::Response { json, .. }) if status == 200 => return Ok(json),
                Ok(DecodedResponse::Fault { fault, .. }) if fault.subcode == "Pending" => {
                    if Instant::now() + REPEAT_GAP >= deadline {
                        return Err(ClientError::Timeout(limit));
                    }
                    tracing::debug!(function = f.name(), "still running; repeating the request");
                    tokio::time::sleep(REPEAT_GAP).await;
                }
                Ok(DecodedResponse::Fault { fault, .. }) => {
                    let message = format!("{}: {}", fault.subcode, fault.reason);
                    if matches!(status, 502..=504) {
                        return Err(ClientError::Transport(format!("HTTP {status}: {message}")));
                    }
                    return Err(ClientError::Refused { status, message });
                }
                Ok(DecodedResponse::Response { .. }) => {
                    return Err(ClientError::BadAnswer(format!(
                        "a response with HTTP status {status}"
                    )));
                }
                Err(e) if matches!(status, 502..=504) => {
                    return Err(ClientError::Transport(format!("HTTP {status}: {e}")));
                }
                Err(e) => {
                    return Err(ClientError::BadAnswer(format!("HTTP {status}: {e}")));
                }
            }
        }
    }
}
