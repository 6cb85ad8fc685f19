//! The SOAP server (axum): `POST /soap/{interface}` runs the SGP.02 function a request envelope
//! names on the [`FunctionService`] that serves it; `GET /soap/{interface}?wsdl` and
//! `GET /wsdl/{interface}.wsdl` serve the WSDL. Authentication (Bearer token → operator),
//! requester check and audit are those of the JSON binding (`esim-http`); only the encoding
//! differs (DESIGN §3.4; digest §2.1).
//!
//! Replies (WS-Addressing 1.0): without `wsa:ReplyTo` or with the anonymous address, the
//! response is the HTTP response (a long function is waited for up to
//! [`SoapConfig::sync_wait`]); with another address the server answers `202 Accepted` at once
//! and POSTs the response envelope to that address later, with `wsa:RelatesTo` the request's
//! `wsa:MessageID`; with the `none` address it answers 202 and sends nothing.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use esim_codec::ids::{Eid, Iccid};
use esim_http::{TlsConnection, check_client_identity};
use esim_proto::function::{Function, Interface};
use esim_service::{CallOutcome, Caller, FunctionService, ServiceError, role, status_of};
use esim_store::{AuditEntry, OperationId, Store, hash_token};
use serde_json::Value;

use crate::codec::{DecodedRequest, decode_request_envelope, encode_fault, encode_response};
use crate::envelope::{Fault, FaultCode, WSA_NONE};
use crate::schema::{interface_name, response_action};

/// The media type of SOAP 1.2 messages.
pub const SOAP12_CONTENT_TYPE: &str = "application/soap+xml; charset=utf-8";

/// Settings of the SOAP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapConfig {
    /// How long a request with an anonymous reply waits for a long function (60 s); still
    /// running after it, the answer is a `Receiver`/`Pending` fault naming the operation (repeat
    /// the request with the same `FunctionCallIdentifier`, or use `wsa:ReplyTo`).
    pub sync_wait: Duration,
    /// How long the server follows a long function whose reply goes to `wsa:ReplyTo` (1 h).
    pub async_limit: Duration,
    /// Time limit of one POST of a reply to `wsa:ReplyTo` (30 s).
    pub reply_timeout: Duration,
    /// Attempts to deliver a reply to `wsa:ReplyTo` (3, 1 s apart, doubling).
    pub reply_attempts: u32,
    /// Largest request body accepted, in bytes (1 MiB).
    pub body_limit: usize,
    /// The public base URL written as the endpoint into the WSDL (`https://smdp.example:8443`);
    /// `None`: the request's `Host`, with `https://` when the request came over TLS
    /// (`esim_http::serve_tls_router`), else `http://`.
    pub public_base_url: Option<String>,
    /// Where replies may be posted (`wsa:ReplyTo`); by default nowhere but the anonymous
    /// address, so that a caller cannot make the server send requests to arbitrary hosts.
    pub reply_to: ReplyToPolicy,
}

/// The `wsa:ReplyTo` addresses a server posts replies to (docs/spec-choices.md row 82).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ReplyToPolicy {
    /// Only the anonymous and none addresses: every reply comes back on the HTTP response.
    #[default]
    AnonymousOnly,
    /// Also http(s) addresses under one of these base URLs (same scheme, host and port; path
    /// under the base's path), e.g. the operators' configured callback endpoints.
    Allowed(Vec<String>),
    /// Any http(s) address (closed test networks only).
    Any,
}

impl ReplyToPolicy {
    /// Whether replies may be posted to `address` (an http(s) URL).
    pub fn allows(&self, address: &str) -> bool {
        match self {
            ReplyToPolicy::AnonymousOnly => false,
            ReplyToPolicy::Any => true,
            ReplyToPolicy::Allowed(bases) => {
                let Ok(a) = reqwest::Url::parse(address) else {
                    return false;
                };
                bases.iter().any(|b| {
                    reqwest::Url::parse(b).is_ok_and(|b| {
                        b.scheme() == a.scheme()
                            && b.host_str() == a.host_str()
                            && b.port_or_known_default() == a.port_or_known_default()
                            && a.path().starts_with(b.path().trim_end_matches('/'))
                            && a.username().is_empty()
                            && a.password().is_none()
                    })
                })
            }
        }
    }
}

impl Default for SoapConfig {
    fn default() -> Self {
        SoapConfig {
            sync_wait: Duration::from_secs(60),
            async_limit: Duration::from_secs(3600),
            reply_timeout: Duration::from_secs(30),
            reply_attempts: 3,
            body_limit: crate::codec::MAX_MESSAGE,
            public_base_url: None,
            reply_to: ReplyToPolicy::default(),
        }
    }
}

/// Everything the handlers share; cheap to clone.
#[derive(Clone)]
pub struct SoapState {
    config: SoapConfig,
    by_function: Arc<HashMap<Function, Arc<dyn FunctionService>>>,
    store: Arc<dyn Store>,
    http: reqwest::Client,
}

impl fmt::Debug for SoapState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SoapState")
            .field("config", &self.config)
            .field("functions", &self.by_function.len())
            .finish_non_exhaustive()
    }
}

impl SoapState {
    /// The state of a server answering the functions of `services` (the first service that
    /// lists a function answers it), with operators, tokens and the audit trail in `store`.
    pub fn new(
        config: SoapConfig,
        services: Vec<Arc<dyn FunctionService>>,
        store: Arc<dyn Store>,
    ) -> Self {
        let mut by_function: HashMap<Function, Arc<dyn FunctionService>> = HashMap::new();
        for s in &services {
            for f in s.functions() {
                by_function.entry(f).or_insert_with(|| Arc::clone(s));
            }
        }
        SoapState {
            config,
            by_function: Arc::new(by_function),
            store,
            http: reqwest::Client::new(),
        }
    }

    /// Posts replies to `wsa:ReplyTo` with `client` (e.g. one with private trust anchors or a
    /// client certificate for https reply addresses).
    pub fn with_reply_client(mut self, client: reqwest::Client) -> Self {
        self.http = client;
        self
    }

    /// The served functions of `interface`, in [`Function::ALL`] order.
    pub fn served(&self, interface: Interface) -> Vec<Function> {
        Function::ALL
            .iter()
            .copied()
            .filter(|f| f.interface() == interface && self.by_function.contains_key(f))
            .collect()
    }

    /// `Authorization: Bearer <token>` → the operator holding that token.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Fault> {
        let unauth = |m: &str| Fault::sender("Unauthenticated", m);
        let value = headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauth("missing Authorization: Bearer <token>"))?;
        let text = value
            .to_str()
            .map_err(|_| unauth("Authorization header is not ASCII"))?;
        let token = text
            .strip_prefix("Bearer ")
            .or_else(|| text.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauth("Authorization is not a Bearer token"))?;
        match self.store.operator_by_token_hash(&hash_token(token)).await {
            Ok(Some(op)) => Ok(Caller {
                id: op.id,
                roles: op.roles,
            }),
            Ok(None) => Err(unauth("unknown token")),
            Err(e) => Err(service_fault(ServiceError::Store(e))),
        }
    }

    async fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(error = %e, function = %entry.function, "audit entry not written");
        }
    }
}

/// The routes of the binding with a fault as the answer to unknown paths.
pub fn router(state: SoapState) -> Router {
    routes(state).fallback(not_found)
}

/// The routes of the binding without a fallback, to be merged with other routers (e.g. the
/// JSON binding's `esim_http::router`, which has its own fallback) on one listener.
pub fn routes(state: SoapState) -> Router {
    let limit = state.config.body_limit;
    Router::new()
        .route("/soap/{interface}", post(call_function).get(get_wsdl))
        .route("/wsdl/{file}", get(get_wsdl_file))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Serves the binding for `services` on `listener` until `shutdown` completes (then finishes
/// the calls in progress).
pub async fn run(
    config: SoapConfig,
    listener: tokio::net::TcpListener,
    services: Vec<Arc<dyn FunctionService>>,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve(SoapState::new(config, services, store), listener, shutdown).await
}

/// Serves [`router`]`(state)` on `listener` until `shutdown` completes.
pub async fn serve(
    state: SoapState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "SOAP binding listening");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// The HTTP status of a fault (SOAP 1.2 Part 2 §7.5.1: Sender 400, others 500; refinements
/// for authentication, authorization, size, conflicts and storage).
fn fault_status(f: &Fault) -> StatusCode {
    match (f.code, f.subcode) {
        (_, "Unauthenticated") => StatusCode::UNAUTHORIZED,
        (_, "Forbidden") => StatusCode::FORBIDDEN,
        (_, "NotServed") => StatusCode::NOT_FOUND,
        (_, "PayloadTooLarge") => StatusCode::PAYLOAD_TOO_LARGE,
        (_, "Conflict") => StatusCode::CONFLICT,
        (_, "Unavailable") => StatusCode::SERVICE_UNAVAILABLE,
        (FaultCode::Sender, _) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn service_fault(e: ServiceError) -> Fault {
    use ServiceError as E;
    match e {
        E::Unauthenticated(_) => Fault::sender("Unauthenticated", e.to_string()),
        E::Forbidden(_) => Fault::sender("Forbidden", e.to_string()),
        E::NotServed(_) => Fault::sender("NotServed", e.to_string()),
        E::BadRequest(_) => Fault::sender("BadRequest", e.to_string()),
        E::Conflict(_) => Fault::sender("Conflict", e.to_string()),
        E::UnknownOperation(_) => Fault::sender("BadRequest", e.to_string()),
        E::Store(ref s) => {
            tracing::warn!(error = %s, "storage error answered with a fault");
            Fault::receiver(
                "Unavailable",
                "storage unavailable; retry with the same FunctionCallIdentifier",
            )
        }
        other => {
            tracing::warn!(error = %other, "service error answered with a fault");
            Fault::receiver("Internal", "internal error")
        }
    }
}

fn soap_response(status: StatusCode, xml: String, action: Option<&str>) -> Response {
    let ct = match action {
        Some(a) => format!("{SOAP12_CONTENT_TYPE}; action=\"{a}\""),
        None => SOAP12_CONTENT_TYPE.to_owned(),
    };
    let mut r = (status, xml).into_response();
    if let Ok(v) = HeaderValue::from_str(&ct) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

fn fault_response(f: &Fault, function: Option<Function>, relates_to: Option<&str>) -> Response {
    soap_response(fault_status(f), encode_fault(f, function, relates_to), None)
}

/// The `action` parameter of a `Content-Type: application/soap+xml; action="…"`.
pub fn content_type_action(headers: &HeaderMap) -> Option<String> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        (k.trim().eq_ignore_ascii_case("action")).then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn interface_of(name: &str) -> Option<Interface> {
    [
        Interface::ES1,
        Interface::ES2,
        Interface::ES3,
        Interface::ES4,
        Interface::ES7,
    ]
    .into_iter()
    .find(|i| interface_name(*i) == name)
}

/// What the audit trail learns about a call.
#[derive(Default)]
struct CallFacts {
    function: Option<Function>,
    operator: Option<String>,
    call_id: Option<String>,
    eid: Option<Eid>,
    iccid: Option<Iccid>,
    operation: Option<String>,
    message_id: Option<String>,
    reply_to: Option<String>,
}

impl CallFacts {
    fn read(&mut self, d: &DecodedRequest) {
        let s = |p: &[&str]| -> Option<String> {
            let mut cur = &d.json;
            for k in p {
                cur = cur.get(k)?;
            }
            cur.as_str().map(|s| s.chars().take(256).collect())
        };
        self.call_id = s(&["Header", "FunctionCallIdentifier"]);
        self.eid = s(&["Body", "Eid"]).and_then(|e| Eid::parse(&e).ok());
        self.iccid = s(&["Body", "Iccid"])
            .or_else(|| s(&["Body", "Profile", "Iccid"]))
            .and_then(|i| Iccid::parse(&i).ok());
    }
}

async fn call_function(
    State(st): State<SoapState>,
    path: Result<Path<String>, PathRejection>,
    conn: Option<Extension<TlsConnection>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let conn = conn.map(|Extension(c)| c);
    // Each call runs in its own task: a client that disconnects cancels neither the service's
    // work nor the audit entry, and a panicking service is a Receiver fault.
    let task = tokio::spawn(call_task(st, path, conn, headers, body));
    match task.await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "SOAP call task failed");
            fault_response(&Fault::receiver("Internal", "internal error"), None, None)
        }
    }
}

async fn call_task(
    st: SoapState,
    path: Result<Path<String>, PathRejection>,
    conn: Option<TlsConnection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let mut facts = CallFacts::default();
    let result = handle_call(&st, path, conn.as_ref(), &headers, body, &mut facts).await;
    let (response, status_text) = match result {
        Ok(ok) => ok,
        Err(f) => {
            let text = f.subcode.to_owned();
            (
                fault_response(&f, facts.function, facts.message_id.as_deref()),
                text,
            )
        }
    };
    let code = response.status();
    let label = facts
        .function
        .map(|f| format!("{}.{}", interface_name(f.interface()), f.name()))
        .unwrap_or_else(|| "unknown".into());
    tracing::info!(
        function = %label,
        caller = facts.operator.as_deref().unwrap_or("-"),
        call_id = facts.call_id.as_deref().unwrap_or("-"),
        status = code.as_u16(),
        outcome = %status_text,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "SOAP function call"
    );
    st.audit(AuditEntry {
        id: 0,
        at: esim_service::now(),
        eid: facts.eid,
        iccid: facts.iccid,
        isd_p_aid: None,
        operator: facts.operator,
        function: label,
        function_call_id: facts.call_id,
        status: status_text,
        detail: serde_json::json!({
            "binding": "soap",
            "http_status": code.as_u16(),
            "operation_id": facts.operation,
            "message_id": facts.message_id,
            "reply_to": facts.reply_to,
            "transport": TlsConnection::audit_detail(conn.as_ref()),
        }),
    })
    .await;
    response
}

fn status_text(v: &Value) -> String {
    status_of(v)
        .and_then(|s| serde_json::to_value(s.status).ok())
        .and_then(|s| s.as_str().map(str::to_owned))
        .unwrap_or_else(|| "Done".into())
}

/// Runs one call; `Ok` carries the response and the audit status.
async fn handle_call(
    st: &SoapState,
    path: Result<Path<String>, PathRejection>,
    conn: Option<&TlsConnection>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    facts: &mut CallFacts,
) -> Result<(Response, String), Fault> {
    let caller = st.authenticate(headers).await?;
    facts.operator = Some(caller.id.clone());
    // Mutual TLS: a verified client certificate must name the caller (Sender/Forbidden, 403).
    check_client_identity(conn, &caller.id).map_err(|m| Fault::sender("Forbidden", m))?;
    let interface = path
        .ok()
        .and_then(|Path(i)| interface_of(&i))
        .ok_or_else(|| Fault::sender("NotServed", "no such interface (ES1, ES2, ES3, ES4, ES7)"))?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Fault::sender(
                "PayloadTooLarge",
                format!("body exceeds {} bytes", st.config.body_limit),
            )
        } else {
            Fault::sender("MalformedEnvelope", e.body_text())
        }
    })?;
    let decoded = match decode_request_envelope(&body, content_type_action(headers).as_deref()) {
        Ok(d) => d,
        Err(rf) => {
            facts.function = rf.function;
            facts.message_id = rf.addressing.and_then(|a| a.message_id);
            return Err(rf.fault);
        }
    };
    facts.function = Some(decoded.function);
    facts.message_id = decoded.addressing.message_id.clone();
    facts.read(&decoded);
    let function = decoded.function;
    if function.interface() != interface {
        return Err(Fault::sender(
            "NotServed",
            format!(
                "{} belongs to {}, not to /soap/{}",
                function.action(),
                interface_name(function.interface()),
                interface_name(interface)
            ),
        ));
    }
    let service = st.by_function.get(&function).cloned().ok_or_else(|| {
        Fault::sender(
            "NotServed",
            format!("{} is not served here", function.action()),
        )
    })?;
    let requester = decoded
        .json
        .get("Header")
        .and_then(|h| h.get("FunctionRequesterIdentifier"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if requester != caller.id && !caller.has_role(role::ADMIN) {
        return Err(Fault::sender(
            "Forbidden",
            format!(
                "FunctionRequesterIdentifier {:?} is not the authenticated caller",
                requester.chars().take(100).collect::<String>()
            ),
        ));
    }
    let reply = decoded.addressing.reply_address().map(str::to_owned);
    facts.reply_to = reply.clone();
    let relates = decoded.addressing.message_id.clone();
    match reply {
        None => {
            let outcome = service
                .call(&caller, decoded.request, st.config.sync_wait)
                .await
                .map_err(service_fault)?;
            match outcome {
                CallOutcome::Done(v) => {
                    let text = status_text(&v);
                    let action = response_action(function);
                    Ok((
                        soap_response(
                            StatusCode::OK,
                            encode_response(function, &v, relates.as_deref()),
                            Some(&action),
                        ),
                        text,
                    ))
                }
                CallOutcome::Pending { operation_id, .. } => {
                    facts.operation = Some(operation_id.to_string());
                    Err(Fault::receiver(
                        "Pending",
                        format!(
                            "still running as operation {operation_id}; repeat the request with the same FunctionCallIdentifier, or send wsa:ReplyTo"
                        ),
                    ))
                }
            }
        }
        Some(address) => {
            let none = address == WSA_NONE;
            if !(none || address.starts_with("http://") || address.starts_with("https://")) {
                return Err(Fault::sender(
                    "InvalidAddressingHeader",
                    "wsa:ReplyTo/wsa:Address must be an http(s) URL, the anonymous or the none address",
                ));
            }
            if !none && !st.config.reply_to.allows(&address) {
                return Err(Fault::sender(
                    "InvalidAddressingHeader",
                    format!(
                        "wsa:ReplyTo/wsa:Address {:?} is not an address this server replies to (the anonymous address is; others must be configured, e.g. as the operator's callback endpoint)",
                        address.chars().take(200).collect::<String>()
                    ),
                ));
            }
            let outcome = service
                .call(&caller, decoded.request, Duration::ZERO)
                .await
                .map_err(service_fault)?;
            if let CallOutcome::Pending { operation_id, .. } = &outcome {
                facts.operation = Some(operation_id.to_string());
            }
            if !none {
                let st = st.clone();
                tokio::spawn(async move {
                    deliver(st, caller, function, outcome, address, relates).await;
                });
            }
            Ok((StatusCode::ACCEPTED.into_response(), "Accepted".into()))
        }
    }
}

/// Follows a long function and POSTs its response to `address`.
async fn deliver(
    st: SoapState,
    caller: Caller,
    function: Function,
    mut outcome: CallOutcome,
    address: String,
    relates: Option<String>,
) {
    let started = Instant::now();
    let response = loop {
        match outcome {
            CallOutcome::Done(v) => break v,
            CallOutcome::Pending { operation_id, .. } => {
                let left = st.config.async_limit.saturating_sub(started.elapsed());
                if left.is_zero() {
                    tracing::warn!(operation = %operation_id, "reply not sent: operation still running at the limit");
                    return;
                }
                let Some(service) = st.by_function.get(&function) else {
                    return;
                };
                match service
                    .outcome(&caller, &operation_id, left.min(Duration::from_secs(60)))
                    .await
                {
                    Ok(o) => outcome = o,
                    Err(e) => {
                        tracing::warn!(operation = %operation_id, error = %e, "reply not sent");
                        return;
                    }
                }
            }
        }
    };
    let xml = encode_response(function, &response, relates.as_deref());
    post_reply(&st, &address, response_action(function), xml).await;
}

async fn post_reply(st: &SoapState, address: &str, action: String, xml: String) {
    let ct = format!("{SOAP12_CONTENT_TYPE}; action=\"{action}\"");
    let mut pause = Duration::from_secs(1);
    for attempt in 1..=st.config.reply_attempts.max(1) {
        let r = st
            .http
            .post(address)
            .header(header::CONTENT_TYPE, ct.as_str())
            .timeout(st.config.reply_timeout)
            .body(xml.clone())
            .send()
            .await;
        match r {
            Ok(resp) if resp.status().is_success() => {
                tracing::info!(%action, attempt, "reply delivered to wsa:ReplyTo");
                return;
            }
            Ok(resp) => {
                tracing::warn!(
                    status = resp.status().as_u16(),
                    attempt,
                    "wsa:ReplyTo refused the reply"
                );
            }
            Err(e) => tracing::warn!(error = %e, attempt, "wsa:ReplyTo unreachable"),
        }
        tokio::time::sleep(pause).await;
        pause = pause.saturating_mul(2);
    }
}

async fn get_wsdl(
    State(st): State<SoapState>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
    conn: Option<Extension<TlsConnection>>,
    headers: HeaderMap,
) -> Response {
    let tls = conn.is_some();
    let wants_wsdl = q.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|p| p.eq_ignore_ascii_case("wsdl") || p.to_ascii_lowercase().starts_with("wsdl="))
    });
    if !wants_wsdl {
        return not_found().await;
    }
    match path.ok().and_then(|Path(i)| interface_of(&i)) {
        Some(i) => wsdl_response(&st, i, &headers, tls),
        None => not_found().await,
    }
}

async fn get_wsdl_file(
    State(st): State<SoapState>,
    path: Result<Path<String>, PathRejection>,
    conn: Option<Extension<TlsConnection>>,
    headers: HeaderMap,
) -> Response {
    let tls = conn.is_some();
    match path
        .ok()
        .and_then(|Path(f)| f.strip_suffix(".wsdl").and_then(interface_of))
    {
        Some(i) => wsdl_response(&st, i, &headers, tls),
        None => not_found().await,
    }
}

/// The WSDL of `i`; its endpoint is `https://` when the request came over TLS.
fn wsdl_response(st: &SoapState, i: Interface, headers: &HeaderMap, tls: bool) -> Response {
    let served = st.served(i);
    if served.is_empty() {
        return fault_response(
            &Fault::sender("NotServed", "no function of this interface is served here"),
            None,
            None,
        );
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("localhost");
    let location = match &st.config.public_base_url {
        Some(base) => format!("{}/soap/{}", base.trim_end_matches('/'), interface_name(i)),
        None => format!(
            "{}://{host}/soap/{}",
            if tls { "https" } else { "http" },
            interface_name(i)
        ),
    };
    let doc = crate::wsdl::wsdl(i, &served, &location);
    let mut r = (StatusCode::OK, doc).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    r
}

async fn not_found() -> Response {
    fault_response(&Fault::sender("NotServed", "no such route"), None, None)
}

/// The operation of a `Pending` fault reason (clients).
pub fn pending_operation(reason: &str) -> Option<OperationId> {
    let rest = reason.split("operation ").nth(1)?;
    OperationId::parse(rest.split(';').next()?.trim()).ok()
}

#[cfg(test)]
mod reply_to_tests {
    use super::ReplyToPolicy;

    #[test]
    fn allowed_reply_addresses() {
        let p = ReplyToPolicy::Allowed(vec!["https://mno-a.example:9443/soap/replies".into()]);
        assert!(p.allows("https://mno-a.example:9443/soap/replies"));
        assert!(p.allows("https://mno-a.example:9443/soap/replies/es2"));
        for bad in [
            "http://mno-a.example:9443/soap/replies",
            "https://mno-a.example:9444/soap/replies",
            "https://mno-a.example.evil:9443/soap/replies",
            "https://evil@mno-a.example:9443/soap/replies",
            "https://mno-a.example:9443/other",
            "https://169.254.169.254/latest",
            "not a url",
        ] {
            assert!(!p.allows(bad), "{bad}");
        }
        assert!(!ReplyToPolicy::AnonymousOnly.allows("https://mno-a.example:9443/"));
        assert!(ReplyToPolicy::Any.allows("http://127.0.0.1:1/"));
        let default_port = ReplyToPolicy::Allowed(vec!["https://h.example/".into()]);
        assert!(default_port.allows("https://h.example:443/x"));
    }
}
