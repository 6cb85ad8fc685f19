//! The server side of the binding (axum): routing, authentication, authorization of the
//! requester, decoding, dispatch to the [`FunctionService`]s, status mapping, audit, metrics.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use esim_codec::ids::{Eid, Iccid};
use esim_proto::function::{Function, decode_request};
use esim_service::{CallOutcome, Caller, FunctionService, ServiceError, role, status_of};
use esim_store::{AuditEntry, OperationId, Store, hash_token};
use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use crate::names::{function_from_path, qualified_name};
use crate::tls_server::{TlsConnection, check_client_identity};

/// Settings of the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// How long a call waits for a long function when the request has no `wait` (30 s).
    pub default_wait: Duration,
    /// The largest `wait` honoured (300 s); larger values are lowered to it.
    pub max_wait: Duration,
    /// Largest request body accepted, in bytes (1 MiB, as `decode_request`).
    pub body_limit: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            default_wait: Duration::from_secs(30),
            max_wait: Duration::from_secs(300),
            body_limit: 1 << 20,
        }
    }
}

/// The JSON error body of every refusal: `{"error": "…", "kind": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong (never a token, a key or a request body).
    pub error: String,
    /// A stable name of the refusal (`Unauthenticated`, `Forbidden`, `NotServed`,
    /// `BadRequest`, `PayloadTooLarge`, `Conflict`, `UnknownOperation`, `Unavailable`,
    /// `Internal`).
    pub kind: String,
}

/// The body of a `202 Accepted`: the operation that will produce the response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingBody {
    /// The operation.
    #[serde(rename = "OperationId")]
    pub operation_id: String,
    /// The function, `ES2.DownloadProfile`.
    #[serde(rename = "Function")]
    pub function: String,
    /// Where to ask for the outcome: `/api/v1/operations/{OperationId}`.
    #[serde(rename = "Location")]
    pub location: String,
}

/// The final response of a long function, as delivered to `POST /api/v1/callbacks` by
/// [`crate::HttpCallbacks`]: `{"Function": "ES2.DownloadProfile", "OperationId": …,
/// "FunctionCallIdentifier": …, "Response": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackResult {
    /// The function, `ES2.DownloadProfile`.
    #[serde(rename = "Function", with = "qualified_serde")]
    pub function: Function,
    /// The operation that ran it.
    #[serde(rename = "OperationId")]
    pub operation_id: OperationId,
    /// The `FunctionCallIdentifier` of the call.
    #[serde(rename = "FunctionCallIdentifier")]
    pub function_call_id: String,
    /// The SGP.02 response (`{"Header": …, "Body": …}`).
    #[serde(rename = "Response")]
    pub response: serde_json::Value,
}

mod qualified_serde {
    use esim_proto::function::Function;

    pub(super) fn serialize<S: serde::Serializer>(f: &Function, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::names::qualified_name(*f))
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Function, D::Error> {
        let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
        crate::names::function_from_qualified(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown function {:?}",
                s.chars().take(100).collect::<String>()
            ))
        })
    }
}

/// Receives the results of long functions posted to `POST /api/v1/callbacks` (e.g. `esim mno`
/// prints them).
#[async_trait]
pub trait CallbackSink: Send + Sync + fmt::Debug {
    /// One result from the authenticated party `from`.
    async fn result(&self, from: &Caller, result: CallbackResult) -> Result<(), ServiceError>;
}

/// Everything the handlers share; cheap to clone.
#[derive(Clone)]
pub struct HttpState {
    config: HttpConfig,
    by_function: Arc<HashMap<Function, Arc<dyn FunctionService>>>,
    services: Arc<Vec<Arc<dyn FunctionService>>>,
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    openapi: Arc<serde_json::Value>,
    sink: Option<Arc<dyn CallbackSink>>,
}

impl fmt::Debug for HttpState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpState")
            .field("config", &self.config)
            .field("services", &self.services)
            .field("functions", &self.by_function.len())
            .field("sink", &self.sink)
            .finish_non_exhaustive()
    }
}

impl HttpState {
    /// The state of a server answering the functions of `services` (the first service that
    /// lists a function answers it), with operators, tokens and the audit trail in `store`.
    pub fn new(
        config: HttpConfig,
        services: Vec<Arc<dyn FunctionService>>,
        store: Arc<dyn Store>,
    ) -> Self {
        let mut by_function: HashMap<Function, Arc<dyn FunctionService>> = HashMap::new();
        for s in &services {
            for f in s.functions() {
                by_function.entry(f).or_insert_with(|| Arc::clone(s));
            }
        }
        let mut served: Vec<Function> = by_function.keys().copied().collect();
        served.sort_by_key(|f| Function::ALL.iter().position(|g| g == f));
        let openapi = crate::openapi::openapi_document(&served);
        HttpState {
            config,
            by_function: Arc::new(by_function),
            services: Arc::new(services),
            store,
            metrics: Arc::new(Metrics::default()),
            openapi: Arc::new(openapi),
            sink: None,
        }
    }

    /// Accepts `POST /api/v1/callbacks` for `sink` (without one that route answers 404).
    pub fn with_callback_sink(mut self, sink: Arc<dyn CallbackSink>) -> Self {
        self.sink = Some(sink);
        self
    }
}

/// The routes of the binding (see the crate README for the URL scheme).
pub fn router(state: HttpState) -> Router {
    let limit = state.config.body_limit;
    Router::new()
        .route("/api/v1/{interface}/{function}", post(call_function))
        .route("/api/v1/operations/{id}", get(get_operation))
        .route("/api/v1/callbacks", post(post_callback))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/health", get(health))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

/// Serves the binding for `services` on `listener` until `shutdown` completes (then finishes
/// the calls in progress).
pub async fn run(
    config: HttpConfig,
    listener: tokio::net::TcpListener,
    services: Vec<Arc<dyn FunctionService>>,
    store: Arc<dyn Store>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve(HttpState::new(config, services, store), listener, shutdown).await
}

/// Serves [`router`]`(state)` on `listener` until `shutdown` completes.
pub async fn serve(
    state: HttpState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "JSON binding listening");
    }
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A refusal with its status.
struct Refusal {
    status: StatusCode,
    kind: &'static str,
    message: String,
}

impl Refusal {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Refusal {
            status,
            kind,
            message: message.into(),
        }
    }

    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            axum::Json(ErrorBody {
                error: self.message,
                kind: self.kind.to_owned(),
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        r
    }
}

impl From<ServiceError> for Refusal {
    fn from(e: ServiceError) -> Self {
        use ServiceError as E;
        match e {
            E::Unauthenticated(_) => {
                Refusal::new(StatusCode::UNAUTHORIZED, "Unauthenticated", e.to_string())
            }
            E::Forbidden(_) => Refusal::new(StatusCode::FORBIDDEN, "Forbidden", e.to_string()),
            E::NotServed(_) => Refusal::new(StatusCode::NOT_FOUND, "NotServed", e.to_string()),
            E::BadRequest(_) => Refusal::new(StatusCode::BAD_REQUEST, "BadRequest", e.to_string()),
            E::Conflict(_) => Refusal::new(StatusCode::CONFLICT, "Conflict", e.to_string()),
            E::UnknownOperation(_) => {
                Refusal::new(StatusCode::NOT_FOUND, "UnknownOperation", e.to_string())
            }
            E::Store(ref s) => {
                tracing::warn!(error = %s, "storage error answered 503");
                Refusal::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "storage unavailable; retry with the same FunctionCallIdentifier",
                )
            }
            other => {
                tracing::warn!(error = %other, "service error answered 500");
                Refusal::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Internal",
                    "internal error",
                )
            }
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WaitQuery {
    /// Seconds.
    wait: Option<u64>,
}

impl HttpState {
    fn wait(&self, q: Result<Query<WaitQuery>, QueryRejection>) -> Result<Duration, Refusal> {
        let q = q.map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("query: {}", e.body_text()),
            )
        })?;
        Ok(q.0
            .wait
            .map(Duration::from_secs)
            .unwrap_or(self.config.default_wait)
            .min(self.config.max_wait))
    }

    /// `Authorization: Bearer <token>` → the operator holding that token.
    async fn authenticate(&self, headers: &HeaderMap) -> Result<Caller, Refusal> {
        let unauth = |m: &str| Refusal::new(StatusCode::UNAUTHORIZED, "Unauthenticated", m);
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
            Err(e) => Err(ServiceError::Store(e).into()),
        }
    }

    /// [`HttpState::authenticate`], then the mutual-TLS rule: a verified client certificate
    /// must name the caller ([`check_client_identity`]; 403 `Forbidden` otherwise).
    async fn authenticate_on(
        &self,
        headers: &HeaderMap,
        conn: Option<&TlsConnection>,
    ) -> Result<Caller, Refusal> {
        let caller = self.authenticate(headers).await?;
        check_client_identity(conn, &caller.id)
            .map_err(|m| Refusal::new(StatusCode::FORBIDDEN, "Forbidden", m))?;
        Ok(caller)
    }

    async fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(error = %e, function = %entry.function, "audit entry not written");
        }
    }
}

/// What the audit trail and the logs learn about a call, filled in as it proceeds.
#[derive(Default)]
struct CallFacts {
    operator: Option<String>,
    requester: Option<String>,
    call_id: Option<String>,
    eid: Option<Eid>,
    iccid: Option<Iccid>,
    operation: Option<String>,
}

impl CallFacts {
    /// Reads the header and body identifiers of a body that is JSON (whether or not it is a
    /// valid request).
    fn read_json(&mut self, v: &serde_json::Value) {
        let s = |p: &[&str]| -> Option<String> {
            let mut cur = v;
            for k in p {
                cur = cur.get(k)?;
            }
            cur.as_str().map(|s| s.chars().take(256).collect())
        };
        self.call_id = s(&["Header", "FunctionCallIdentifier"]);
        // Compared in full with the caller id (never truncated).
        self.requester = v
            .get("Header")
            .and_then(|h| h.get("FunctionRequesterIdentifier"))
            .and_then(|r| r.as_str())
            .map(str::to_owned);
        self.eid = s(&["Body", "Eid"]).and_then(|e| Eid::parse(&e).ok());
        self.iccid = s(&["Body", "Iccid"])
            .or_else(|| s(&["Body", "Profile", "Iccid"]))
            .and_then(|i| Iccid::parse(&i).ok());
    }
}

async fn call_function(
    State(st): State<HttpState>,
    path: Result<Path<(String, String)>, PathRejection>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    conn: Option<Extension<TlsConnection>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let conn = conn.map(|Extension(c)| c);
    let function = path
        .ok()
        .and_then(|Path((i, f))| function_from_path(&i, &f))
        .filter(|f| st.by_function.contains_key(f));
    // The call runs in its own task: a client that disconnects while waiting neither cancels
    // the service's work half-way nor loses the audit entry, and a panicking service is a 500.
    let task = tokio::spawn(run_call(st, started, function, query, conn, headers, body));
    task.await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "function call task failed");
        Refusal::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal",
            "internal error",
        )
        .into_response()
    })
}

async fn run_call(
    st: HttpState,
    started: Instant,
    function: Option<Function>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    conn: Option<TlsConnection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let label = function.map(qualified_name);
    let mut facts = CallFacts::default();
    let result = handle_call(
        &st,
        function,
        query,
        conn.as_ref(),
        &headers,
        body,
        &mut facts,
    )
    .await;
    let (response, status_text, code) = match result {
        Ok((response, status_text)) => {
            let code = response.status();
            (response, status_text, code)
        }
        Err(r) => {
            let (code, kind) = (r.status, r.kind);
            (r.into_response(), kind.to_owned(), code)
        }
    };
    let elapsed = started.elapsed();
    let metric_label = label.clone().unwrap_or_else(|| "unknown".into());
    st.metrics.record(&metric_label, code.as_u16(), elapsed);
    tracing::info!(
        function = %metric_label,
        caller = facts.operator.as_deref().unwrap_or("-"),
        call_id = facts.call_id.as_deref().unwrap_or("-"),
        status = code.as_u16(),
        outcome = %status_text,
        elapsed_ms = elapsed.as_millis() as u64,
        "function call"
    );
    // Unknown paths are not audited under a caller-chosen name.
    st.audit(AuditEntry {
        id: 0,
        at: esim_service::now(),
        eid: facts.eid,
        iccid: facts.iccid,
        isd_p_aid: None,
        operator: facts.operator,
        function: label.unwrap_or_else(|| "unknown".into()),
        function_call_id: facts.call_id,
        status: status_text,
        detail: serde_json::json!({
            "binding": "json",
            "http_status": code.as_u16(),
            "operation_id": facts.operation,
            "transport": TlsConnection::audit_detail(conn.as_ref()),
        }),
    })
    .await;
    response
}

/// Runs one call; `Ok` carries the response and the audit status (the SGP.02
/// `FunctionExecutionStatus.Status`, or `Pending`).
async fn handle_call(
    st: &HttpState,
    function: Option<Function>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    conn: Option<&TlsConnection>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    facts: &mut CallFacts,
) -> Result<(Response, String), Refusal> {
    // The audit trail records what a refused body claimed too.
    if let Ok(v) = body
        .as_ref()
        .map_err(|_| ())
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).map_err(|_| ()))
    {
        facts.read_json(&v);
    }
    let caller = st.authenticate(headers).await?;
    facts.operator = Some(caller.id.clone());
    check_client_identity(conn, &caller.id)
        .map_err(|m| Refusal::new(StatusCode::FORBIDDEN, "Forbidden", m))?;
    let function = function.ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "NotServed",
            "no such function is served here",
        )
    })?;
    let service = st.by_function.get(&function).ok_or_else(|| {
        Refusal::new(
            StatusCode::NOT_FOUND,
            "NotServed",
            "no such function is served here",
        )
    })?;
    let wait = st.wait(query)?;
    let body = body.map_err(|e| {
        let status = e.status();
        let kind = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "PayloadTooLarge"
        } else {
            "BadRequest"
        };
        Refusal::new(status, kind, e.body_text())
    })?;
    let text = std::str::from_utf8(&body).map_err(|e| {
        Refusal::new(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            format!("body is not UTF-8 (at byte {})", e.valid_up_to()),
        )
    })?;
    let request = decode_request(function, text).map_err(ServiceError::BadRequest)?;
    let requester = facts.requester.clone().unwrap_or_default();
    if requester != caller.id && !caller.has_role(role::ADMIN) {
        return Err(Refusal::new(
            StatusCode::FORBIDDEN,
            "Forbidden",
            format!(
                "FunctionRequesterIdentifier {:?} is not the authenticated caller",
                requester.chars().take(100).collect::<String>()
            ),
        ));
    }
    let outcome = service.call(&caller, request, wait).await?;
    Ok(outcome_response(st, outcome, facts))
}

fn outcome_response(
    st: &HttpState,
    outcome: CallOutcome,
    facts: &mut CallFacts,
) -> (Response, String) {
    match outcome {
        CallOutcome::Done(v) => {
            let status = status_of(&v)
                .and_then(|s| serde_json::to_value(s.status).ok())
                .and_then(|s| s.as_str().map(str::to_owned))
                .unwrap_or_else(|| "Done".into());
            (axum::Json(v).into_response(), status)
        }
        CallOutcome::Pending {
            operation_id,
            function,
        } => {
            st.metrics.pending(operation_id.as_str());
            facts.operation = Some(operation_id.to_string());
            let location = format!("/api/v1/operations/{operation_id}");
            let body = PendingBody {
                operation_id: operation_id.to_string(),
                function: qualified_name(function),
                location: location.clone(),
            };
            let mut r = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
            if let Ok(h) = header::HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, h);
            }
            (r, "Pending".into())
        }
    }
}

async fn get_operation(
    State(st): State<HttpState>,
    Path(id): Path<String>,
    query: Result<Query<WaitQuery>, QueryRejection>,
    conn: Option<Extension<TlsConnection>>,
    headers: HeaderMap,
) -> Response {
    let started = Instant::now();
    let conn = conn.map(|Extension(c)| c);
    let mut operator: Option<String> = None;
    let result = async {
        let caller = st.authenticate_on(&headers, conn.as_ref()).await?;
        operator = Some(caller.id.clone());
        let wait = st.wait(query)?;
        let op = OperationId::parse(&id).map_err(|_| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                "UnknownOperation",
                "no such operation",
            )
        })?;
        for s in st.services.iter() {
            match s.outcome(&caller, &op, wait).await {
                Ok(outcome) => {
                    if matches!(outcome, CallOutcome::Done(_)) {
                        st.metrics.done(op.as_str());
                    }
                    let mut facts = CallFacts::default();
                    return Ok(outcome_response(&st, outcome, &mut facts));
                }
                Err(ServiceError::UnknownOperation(_)) => continue,
                Err(e) => return Err(Refusal::from(e)),
            }
        }
        Err(Refusal::new(
            StatusCode::NOT_FOUND,
            "UnknownOperation",
            "no such operation",
        ))
    }
    .await;
    let (response, status_text) = match result {
        Ok((response, text)) => (response, text),
        Err(r) => {
            let kind = r.kind.to_owned();
            (r.into_response(), kind)
        }
    };
    let code = response.status();
    st.metrics
        .record("operations", code.as_u16(), started.elapsed());
    // Polls are audited like calls (the operation id as given, at most 100 characters).
    st.audit(AuditEntry {
        id: 0,
        at: esim_service::now(),
        eid: None,
        iccid: None,
        isd_p_aid: None,
        operator,
        function: "GET operations".into(),
        function_call_id: None,
        status: status_text,
        detail: serde_json::json!({
            "binding": "json",
            "http_status": code.as_u16(),
            "operation_id": id.chars().take(100).collect::<String>(),
            "transport": TlsConnection::audit_detail(conn.as_ref()),
        }),
    })
    .await;
    response
}

async fn post_callback(
    State(st): State<HttpState>,
    conn: Option<Extension<TlsConnection>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let conn = conn.map(|Extension(c)| c);
    let mut audit: Option<AuditEntry> = None;
    let result = async {
        let caller = st.authenticate_on(&headers, conn.as_ref()).await?;
        let body = body.map_err(|e| Refusal::new(e.status(), "BadRequest", e.body_text()))?;
        let sink = st.sink.as_ref().ok_or_else(|| {
            Refusal::new(
                StatusCode::NOT_FOUND,
                "NotServed",
                "no callbacks are accepted here",
            )
        })?;
        let result: CallbackResult = serde_json::from_slice(&body).map_err(|e| {
            Refusal::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("callback: {e}"),
            )
        })?;
        audit = Some(AuditEntry {
            id: 0,
            at: esim_service::now(),
            eid: None,
            iccid: None,
            isd_p_aid: None,
            operator: Some(caller.id.clone()),
            function: qualified_name(result.function),
            function_call_id: Some(result.function_call_id.clone()),
            status: status_of(&result.response)
                .and_then(|s| serde_json::to_value(s.status).ok())
                .and_then(|s| s.as_str().map(str::to_owned))
                .unwrap_or_else(|| "Callback".into()),
            detail: serde_json::json!({
                "binding": "json",
                "callback": true,
                "operation_id": result.operation_id.as_str(),
            }),
        });
        sink.result(&caller, result).await?;
        Ok(StatusCode::NO_CONTENT.into_response())
    }
    .await;
    let response = result.unwrap_or_else(Refusal::into_response);
    if let Some(entry) = audit {
        st.audit(entry).await;
    }
    st.metrics
        .record("callbacks", response.status().as_u16(), started.elapsed());
    response
}

async fn openapi(State(st): State<HttpState>) -> Response {
    axum::Json(st.openapi.as_ref().clone()).into_response()
}

async fn metrics(State(st): State<HttpState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
        .into_response()
}

async fn health() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

async fn not_found() -> Response {
    Refusal::new(StatusCode::NOT_FOUND, "NotFound", "no such route").into_response()
}
