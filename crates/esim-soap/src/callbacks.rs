//! [`SoapCallbacks`]: [`Callbacks`] over the SOAP binding (digest §2.1, §2.3 notification
//! handlers): notifications (`Handle…Notification`) are function calls on the party's SOAP
//! endpoint; results of long functions are response envelopes POSTed to the party's reply URL.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use esim_service::{Callback, Callbacks, ClientError, FunctionClient};

use crate::client::SoapFunctionClient;
use crate::codec::encode_response;
use crate::schema::response_action;
use crate::server::SOAP12_CONTENT_TYPE;

/// A party's SOAP endpoint.
#[derive(Clone)]
pub struct SoapEndpoint {
    /// `http(s)://host:port` of its SOAP server (notifications go to `/soap/{interface}`).
    pub base_url: String,
    /// Bearer token this server presents to it (never logged).
    pub token: String,
    /// Where results of long functions are POSTed as response envelopes; `None`: results are
    /// not delivered to this party (SOAP callers get them through `wsa:ReplyTo`).
    pub reply_url: Option<String>,
}

impl std::fmt::Debug for SoapEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoapEndpoint")
            .field("base_url", &self.base_url)
            .field("reply_url", &self.reply_url)
            .finish_non_exhaustive()
    }
}

/// Delivers [`Callback`]s to parties' SOAP endpoints in the background, retrying transport
/// failures (`attempts` times, `base_delay` doubling). A result's envelope carries
/// `wsa:RelatesTo` = `urn:esim:FunctionCallIdentifier:{id}` (the call's identifier; the
/// request's MessageID is not known when the call came over another binding).
#[derive(Debug, Clone)]
pub struct SoapCallbacks {
    endpoints: HashMap<String, SoapEndpoint>,
    http: reqwest::Client,
    /// Attempts per message.
    pub attempts: u32,
    /// Delay after the first failure.
    pub base_delay: Duration,
    /// Time limit of one attempt.
    pub attempt_timeout: Duration,
}

impl SoapCallbacks {
    /// Callbacks to the parties of `endpoints` (party identifier → endpoint).
    pub fn new(endpoints: HashMap<String, SoapEndpoint>) -> Self {
        SoapCallbacks {
            endpoints,
            http: reqwest::Client::new(),
            attempts: 5,
            base_delay: Duration::from_secs(1),
            attempt_timeout: Duration::from_secs(30),
        }
    }

    /// Uses `client` for all deliveries (trust anchors, client certificate).
    pub fn with_http_client(mut self, client: reqwest::Client) -> Self {
        self.http = client;
        self
    }
}

#[async_trait]
impl Callbacks for SoapCallbacks {
    async fn deliver(&self, party: &str, message: Callback) -> Result<(), ClientError> {
        let endpoint = self
            .endpoints
            .get(party)
            .cloned()
            .ok_or_else(|| ClientError::Refused {
                status: 0,
                message: format!(
                    "no SOAP endpoint for party {:?}",
                    party.chars().take(100).collect::<String>()
                ),
            })?;
        let this = self.clone();
        match message {
            Callback::Notification(request) => {
                let client = SoapFunctionClient::with_http_client(
                    &endpoint.base_url,
                    &endpoint.token,
                    this.http.clone(),
                );
                tokio::spawn(async move {
                    let mut pause = this.base_delay;
                    for attempt in 1..=this.attempts.max(1) {
                        match client.call(&request, this.attempt_timeout).await {
                            Ok(_) => {
                                tracing::info!(
                                    function = request.function().name(),
                                    attempt,
                                    "notification delivered"
                                );
                                return;
                            }
                            Err(ClientError::Refused { status, message }) => {
                                tracing::warn!(status, %message, "notification refused");
                                return;
                            }
                            Err(e) => {
                                tracing::warn!(error = %e, attempt, "notification not delivered")
                            }
                        }
                        tokio::time::sleep(pause).await;
                        pause = pause.saturating_mul(2);
                    }
                    tracing::error!(
                        function = request.function().name(),
                        "notification given up"
                    );
                });
                Ok(())
            }
            Callback::Result {
                function,
                function_call_id,
                response,
                ..
            } => {
                let Some(url) = endpoint.reply_url.clone() else {
                    return Err(ClientError::Refused {
                        status: 0,
                        message: "this party has no SOAP reply URL".into(),
                    });
                };
                let relates = format!("urn:esim:FunctionCallIdentifier:{function_call_id}");
                let xml = encode_response(function, &response, Some(&relates));
                let ct = format!(
                    "{SOAP12_CONTENT_TYPE}; action=\"{}\"",
                    response_action(function)
                );
                tokio::spawn(async move {
                    let mut pause = this.base_delay;
                    for attempt in 1..=this.attempts.max(1) {
                        let r = this
                            .http
                            .post(&url)
                            .bearer_auth(&endpoint.token)
                            .header(reqwest::header::CONTENT_TYPE, ct.as_str())
                            .timeout(this.attempt_timeout)
                            .body(xml.clone())
                            .send()
                            .await;
                        match r {
                            Ok(resp) if resp.status().is_success() => return,
                            Ok(resp)
                                if resp.status().is_client_error()
                                    && resp.status().as_u16() != 408
                                    && resp.status().as_u16() != 429 =>
                            {
                                tracing::warn!(status = resp.status().as_u16(), "result refused");
                                return;
                            }
                            Ok(resp) => tracing::warn!(
                                status = resp.status().as_u16(),
                                attempt,
                                "result not delivered"
                            ),
                            Err(e) => {
                                tracing::warn!(error = %e.without_url(), attempt, "result not delivered")
                            }
                        }
                        tokio::time::sleep(pause).await;
                        pause = pause.saturating_mul(2);
                    }
                    tracing::error!(function = function.name(), "result given up");
                });
                Ok(())
            }
        }
    }
}
