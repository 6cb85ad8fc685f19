//! The contract between the servers (SM-SR, SM-DP) and their adapters (DESIGN §4: services
//! and adapters), kept in one small crate so that the JSON binding (`esim-http`), a future SOAP
//! binding, in-process callers (tests, `esim demo`) and the servers agree on it:
//!
//! - [`FunctionService`]: a server as a set of SGP.02 functions. A call is authenticated before
//!   it reaches the service (the adapter turns a token or a client certificate into a
//!   [`Caller`]); the service authorizes it (an operator sees and acts on its own eUICCs and
//!   Profiles only), runs it, and answers with the SGP.02 `Response` (header with
//!   `FunctionExecutionStatus`, body) as JSON — or, for a long function that has not finished
//!   within the caller's `wait`, with the persisted operation that will produce it
//!   ([`CallOutcome::Pending`]).
//! - [`FunctionClient`]: the other direction — one server calling another (the SM-DP calling the
//!   SM-SR's ES3) through whatever binding connects them.
//! - [`Callbacks`]: results of long functions and notifications (`Handle…Notification`) sent to
//!   the party that asked for them, by its identifier.
//!
//! Everything here is I/O-free; time is passed in ([`now`] is for binaries and services only).

use std::time::Duration;

use async_trait::async_trait;
use esim_proto::common::{
    FunctionExecutionStatus, ProtoError, ResponseHeader, Timestamp as XsDateTime,
};
use esim_proto::function::{AnyRequest, Function};
use esim_store::{OperationId, StoreError, Timestamp};
use serde::{Deserialize, Serialize};

/// An authenticated caller, as the adapter established it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// The operator / entity identifier (`OperatorRecord::id`); must equal the request's
    /// `FunctionRequesterIdentifier`.
    pub id: String,
    /// Its roles (`MNO`, `M2M-SP`, `EUM`, `SM-SR`, `SM-DP`, `ADMIN`).
    pub roles: Vec<String>,
}

impl Caller {
    /// Whether the caller holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Role names used in [`Caller::roles`] and operator configuration.
pub mod role {
    /// Mobile network operator (ES2, ES4).
    pub const MNO: &str = "MNO";
    /// M2M service provider (ES4).
    pub const M2M_SP: &str = "M2M-SP";
    /// eUICC manufacturer (ES1).
    pub const EUM: &str = "EUM";
    /// A peer SM-SR (ES7).
    pub const SM_SR: &str = "SM-SR";
    /// An SM-DP (ES3).
    pub const SM_DP: &str = "SM-DP";
    /// Administrator of this server (sees everything).
    pub const ADMIN: &str = "ADMIN";
}

/// What a call produced.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The SGP.02 response (`{"Header": …, "Body": …}`), final: success, warning, failure or
    /// expiry.
    Done(serde_json::Value),
    /// Still running: the persisted operation that will produce the response; ask again with
    /// [`FunctionService::outcome`] (or repeat the request with the same
    /// `FunctionCallIdentifier`), or wait for the callback.
    Pending {
        /// The operation.
        operation_id: OperationId,
        /// The function.
        function: Function,
    },
}

/// Errors that prevent a call from being answered with an SGP.02 response at all. Everything
/// the spec has a status for (unknown EID, refused by POL2, card error, …) is a `Done` response
/// with `Failed` and subject/reason codes instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The caller could not be authenticated (HTTP 401).
    #[error("not authenticated: {0}")]
    Unauthenticated(String),
    /// The caller may not call this function at all (HTTP 403): wrong role, or the request's
    /// `FunctionRequesterIdentifier` is not the caller.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// This server does not implement the function (HTTP 404).
    #[error("function {0} is not served here")]
    NotServed(&'static str),
    /// The request could not be decoded (HTTP 400; the message names the field/position).
    #[error("bad request: {0}")]
    BadRequest(#[from] ProtoError),
    /// The same `FunctionCallIdentifier` was used before with a different request (HTTP 409).
    #[error("FunctionCallIdentifier {0:?} was already used for a different request")]
    Conflict(String),
    /// No such operation for this caller (HTTP 404).
    #[error("unknown operation {0}")]
    UnknownOperation(String),
    /// Storage failed (HTTP 503); nothing was changed or the change is recoverable.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// Anything else on the server side (HTTP 500). Never contains key material.
    #[error("internal: {0}")]
    Internal(String),
}

/// A server as a set of SGP.02 functions.
#[async_trait]
pub trait FunctionService: Send + Sync + std::fmt::Debug {
    /// The functions this server answers (others are [`ServiceError::NotServed`]).
    fn functions(&self) -> Vec<Function>;

    /// Runs `request` for `caller`, waiting at most `wait` for a long function to finish.
    /// A repeat of a request (same caller and `FunctionCallIdentifier`) returns the stored
    /// answer or the running operation; it is never executed twice.
    async fn call(
        &self,
        caller: &Caller,
        request: AnyRequest,
        wait: Duration,
    ) -> Result<CallOutcome, ServiceError>;

    /// The outcome of an operation started by `caller`, waiting at most `wait` for it.
    async fn outcome(
        &self,
        caller: &Caller,
        operation: &OperationId,
        wait: Duration,
    ) -> Result<CallOutcome, ServiceError>;
}

/// Why a [`FunctionClient`] call did not produce a response.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The peer could not be reached or the connection broke (retry with the same
    /// `FunctionCallIdentifier`: the peer never executes a call twice).
    #[error("transport: {0}")]
    Transport(String),
    /// The peer refused the call without an SGP.02 response (status and text).
    #[error("refused by the peer ({status}): {message}")]
    Refused {
        /// HTTP status (or 0).
        status: u16,
        /// What the peer said.
        message: String,
    },
    /// The answer could not be decoded.
    #[error("bad answer: {0}")]
    BadAnswer(String),
    /// The peer did not finish within the client's time limit.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// A client of another server's functions (e.g. the SM-DP's ES3 client to the SM-SR).
#[async_trait]
pub trait FunctionClient: Send + Sync + std::fmt::Debug {
    /// Sends `request` and returns the final SGP.02 response JSON, following up on a pending
    /// operation until it completes or `limit` passes.
    async fn call(
        &self,
        request: &AnyRequest,
        limit: Duration,
    ) -> Result<serde_json::Value, ClientError>;
}

/// A [`FunctionClient`] that calls a [`FunctionService`] in the same process as a fixed
/// caller (tests, `esim demo`, `esim serve` with both servers in one process).
#[derive(Debug, Clone)]
pub struct LocalClient<S> {
    service: S,
    caller: Caller,
}

impl<S> LocalClient<S> {
    /// Calls `service` as `caller`.
    pub fn new(service: S, caller: Caller) -> Self {
        LocalClient { service, caller }
    }
}

#[async_trait]
impl<S> FunctionClient for LocalClient<S>
where
    S: std::ops::Deref + Send + Sync + std::fmt::Debug,
    S::Target: FunctionService,
{
    async fn call(
        &self,
        request: &AnyRequest,
        limit: Duration,
    ) -> Result<serde_json::Value, ClientError> {
        let refused = |e: ServiceError| ClientError::Refused {
            status: 0,
            message: e.to_string(),
        };
        let mut outcome = self
            .service
            .call(&self.caller, request.clone(), limit)
            .await
            .map_err(refused)?;
        // `outcome` waits up to `limit` each time; a service that keeps answering Pending after
        // that has not finished in time.
        for _ in 0..2 {
            match outcome {
                CallOutcome::Done(v) => return Ok(v),
                CallOutcome::Pending { operation_id, .. } => {
                    outcome = self
                        .service
                        .outcome(&self.caller, &operation_id, limit)
                        .await
                        .map_err(refused)?;
                }
            }
        }
        match outcome {
            CallOutcome::Done(v) => Ok(v),
            CallOutcome::Pending { .. } => Err(ClientError::Timeout(limit)),
        }
    }
}

/// What is delivered to a party by [`Callbacks::deliver`].
// A request is larger than a result; callbacks are few and short-lived, so boxing buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Callback {
    /// The final response of a long function the party called.
    Result {
        /// The function.
        function: Function,
        /// The operation that ran it.
        operation_id: OperationId,
        /// The call's `FunctionCallIdentifier`.
        function_call_id: String,
        /// The SGP.02 response JSON.
        response: serde_json::Value,
    },
    /// A notification function (`HandleProfileEnabledNotification`, …) addressed to the party.
    Notification(AnyRequest),
}

/// Delivers [`Callback`]s to parties by identifier (an operator, an SM-DP, a peer SM-SR). An
/// implementation retries on its own; `deliver` returns once the message is handed over or
/// queued.
#[async_trait]
pub trait Callbacks: Send + Sync + std::fmt::Debug {
    /// Sends `message` to `party`.
    async fn deliver(&self, party: &str, message: Callback) -> Result<(), ClientError>;
}

/// [`Callbacks`] that only log (parties with no endpoint configured).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCallbacks;

#[async_trait]
impl Callbacks for NoCallbacks {
    async fn deliver(&self, _party: &str, _message: Callback) -> Result<(), ClientError> {
        Ok(())
    }
}

/// The current time as a store [`Timestamp`] (milliseconds since the Unix epoch). For services
/// and binaries; the protocol core never reads a clock.
pub fn now() -> Timestamp {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Timestamp(ms)
}

/// A store [`Timestamp`] as an xs:dateTime (`2026-11-25T22:43:35.123Z`), UTC.
pub fn xs_datetime(t: Timestamp) -> XsDateTime {
    XsDateTime::from_unix_millis(t.0)
}

/// Builds the SGP.02 response JSON `{"Header": …, "Body": …}`; the body is kept only when the
/// status is executed (success or warning).
pub fn response<B: Serialize>(
    processing_start: Timestamp,
    processing_end: Timestamp,
    status: FunctionExecutionStatus,
    body: Option<B>,
) -> serde_json::Value {
    let header = ResponseHeader {
        processing_start: xs_datetime(processing_start),
        processing_end: xs_datetime(processing_end),
        acceptable_validity_period: None,
        function_execution_status: status,
    };
    let executed = header.function_execution_status.is_executed();
    let mut v = serde_json::json!({ "Header": header });
    if executed && let Some(b) = body {
        if let (Some(obj), Ok(bv)) = (v.as_object_mut(), serde_json::to_value(b)) {
            obj.insert("Body".into(), bv);
        }
    }
    v
}

/// The `FunctionExecutionStatus` of a response JSON, if it has one.
pub fn status_of(response: &serde_json::Value) -> Option<FunctionExecutionStatus> {
    serde_json::from_value(
        response
            .get("Header")?
            .get("FunctionExecutionStatus")?
            .clone(),
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use esim_proto::common::Status;

    #[test]
    fn xs_datetime_known_instants() {
        assert_eq!(
            xs_datetime(Timestamp(0)).as_str(),
            "1970-01-01T00:00:00.000Z"
        );
        // 2026-11-25T22:43:35.123Z
        assert_eq!(
            xs_datetime(Timestamp(1_795_646_615_123)).as_str(),
            "2026-11-25T22:43:35.123Z"
        );
        // Leap day.
        assert_eq!(
            xs_datetime(Timestamp(951_782_400_000)).as_str(),
            "2000-02-29T00:00:00.000Z"
        );
    }

    #[test]
    fn response_drops_body_unless_executed() {
        let ok = response(
            Timestamp(0),
            Timestamp(1),
            FunctionExecutionStatus::success(),
            Some(serde_json::json!({"Iccid": "x"})),
        );
        assert_eq!(ok["Body"]["Iccid"], "x");
        assert_eq!(
            status_of(&ok).map(|s| s.status),
            Some(Status::ExecutedSuccess)
        );
        let failed = response(
            Timestamp(0),
            Timestamp(1),
            FunctionExecutionStatus::failed("8.1.1", "3.9", "unknown EID"),
            Some(serde_json::json!({"Iccid": "x"})),
        );
        assert!(failed.get("Body").is_none());
        assert_eq!(status_of(&failed).map(|s| s.status), Some(Status::Failed));
    }

    #[test]
    fn caller_roles() {
        let c = Caller {
            id: "mno1".into(),
            roles: vec![role::MNO.into()],
        };
        assert!(c.has_role(role::MNO) && !c.has_role(role::ADMIN));
    }
}

/// The calls waiting right now for operations' outcomes (in a server's `call`/`outcome`), and
/// the operations whose result a call returned.
///
/// A long function's result goes to its caller as a callback only when no call is waiting for
/// it and none returned it (docs/spec-choices.md row 78): a caller whose call returns the
/// result as [`CallOutcome::Done`] is not sent it again. The server stores the result first,
/// then asks [`Waiters::should_call_back`]; a waiting call marks [`Waiters::answered`] before
/// it stops waiting. A call that gives up waiting stops first ([`WaitGuard`] dropped) and then
/// reads the operation once more, so a result stored in between reaches it one way or the
/// other (possibly both).
#[derive(Debug, Default)]
pub struct Waiters {
    inner: std::sync::Mutex<WaitersInner>,
}

#[derive(Debug, Default)]
struct WaitersInner {
    waiting: std::collections::HashMap<OperationId, usize>,
    answered: std::collections::HashSet<OperationId>,
    /// `answered` in insertion order, to bound it.
    order: std::collections::VecDeque<OperationId>,
}

/// How many answered operations are remembered (an entry is normally taken at once).
const ANSWERED_KEPT: usize = 4096;

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, WaitersInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A call starts waiting for `id`; it stops when the guard is dropped.
    pub fn enter(&self, id: &OperationId) -> WaitGuard<'_> {
        *self.lock().waiting.entry(id.clone()).or_insert(0) += 1;
        WaitGuard {
            waiters: self,
            id: id.clone(),
        }
    }

    /// A call returns the final result of `id` (call it before the call's guard is dropped).
    pub fn answered(&self, id: &OperationId) {
        let mut m = self.lock();
        if m.answered.insert(id.clone()) {
            m.order.push_back(id.clone());
            while m.order.len() > ANSWERED_KEPT {
                if let Some(old) = m.order.pop_front() {
                    m.answered.remove(&old);
                }
            }
        }
    }

    /// After the result of `id` is stored: whether it must go to the caller as a callback (no
    /// call is waiting for it and none returned it).
    pub fn should_call_back(&self, id: &OperationId) -> bool {
        let mut m = self.lock();
        let waited = m.waiting.get(id).is_some_and(|n| *n > 0);
        let answered = m.answered.remove(id);
        if answered {
            m.order.retain(|o| o != id);
        }
        !(waited || answered)
    }
}

/// One waiting call ([`Waiters::enter`]).
#[derive(Debug)]
pub struct WaitGuard<'a> {
    waiters: &'a Waiters,
    id: OperationId,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        let mut m = self.waiters.lock();
        if let Some(n) = m.waiting.get_mut(&self.id) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.waiting.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod waiters_tests {
    use super::*;

    #[test]
    fn a_result_returned_or_awaited_is_not_called_back() {
        let w = Waiters::default();
        let (a, b, c) = (
            OperationId::random().unwrap(),
            OperationId::random().unwrap(),
            OperationId::random().unwrap(),
        );
        // Nobody waits: call back.
        assert!(w.should_call_back(&a));
        // A call is waiting: it will return the result.
        let g = w.enter(&b);
        assert!(!w.should_call_back(&b));
        drop(g);
        assert!(w.should_call_back(&b));
        // A call returned it and left before the server looked.
        let g = w.enter(&c);
        w.answered(&c);
        drop(g);
        assert!(!w.should_call_back(&c));
        // Taken once: a later result (another run) is called back.
        assert!(w.should_call_back(&c));
        // Bounded memory.
        for _ in 0..(ANSWERED_KEPT + 10) {
            w.answered(&OperationId::random().unwrap());
        }
        assert!(w.lock().answered.len() <= ANSWERED_KEPT);
        assert!(w.lock().waiting.is_empty());
    }
}
