//! The SM-SR as an [`esim_service::FunctionService`] (SGP.02 §5.2–5.5; DESIGN §4 "every
//! procedure is a persisted operation").
//!
//! Every call becomes an [`esim_store::Operation`] keyed by (caller, `FunctionCallIdentifier`)
//! before anything is done, so a repeated request is answered from the stored result or
//! attached to the running operation, never executed twice. Functions that reach the card save
//! their progress before each ES5 step (step names are stable, so
//! [`Es5Executor::execute`] attaches to the same queued job after a restart) and hold a lease
//! they renew while running; [`Smsr::resume_once`] (called in a loop by [`run`]) claims
//! operations whose holder died and continues them.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use esim_codec::{Eid, Iccid};
use esim_crypto::x509::X509Certificate;
use esim_proto::codes::{reason, subject};
use esim_proto::common::{FunctionExecutionStatus, RequestHeader, Status, ValidityPeriod};
use esim_proto::function::{AnyRequest, Function, Interface, decode_request};
use esim_service::{
    CallOutcome, Callback, Callbacks, Caller, FunctionService, ServiceError, response, role,
};
use esim_store::{
    AuditEntry, CreateOutcome, Lease, NewOperation, Operation, OperationId, OperationStatus,
    OperationUpdate, Sealer, Store, StoreError, Timestamp,
};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::delivery::{DeliveryError, Es5Executor, Es5Job, Es5Outcome, JobPayload, JobTarget};

/// Configuration of the SM-SR's functions.
#[derive(Debug, Clone)]
pub struct SmsrConfig {
    /// This SM-SR's identifier (`Smsr-id`, written into the EIS).
    pub smsr_id: String,
    /// ValidityPeriod applied when a request carries none (seconds).
    pub default_validity: ValidityPeriod,
    /// Longest ValidityPeriod granted; longer requests are shortened to it (seconds).
    pub max_validity: ValidityPeriod,
    /// The trusted CI root certificate (ES1: the EUM certificate must chain to it).
    pub ci_certificate: X509Certificate,
    /// EUM certificates accepted for ES1.RegisterEIS, matched by the EIS `eumCertificateId`
    /// (subject key identifier).
    pub eum_certificates: Vec<X509Certificate>,
    /// Lease of a running operation (ms); renewed every third of it while running. A killed
    /// SM-SR's operations are resumed by another instance once their lease has run out.
    pub lease_ms: i64,
    /// How often [`run`] looks for operations to resume.
    pub poll_interval: Duration,
    /// Largest STORE DATA block (bytes) of the ES5 commands the SM-SR builds.
    pub max_block: usize,
    /// CERT.SR.ECDSA and SK.SR.ECDSA: what this SM-SR presents to a card when it takes the
    /// eUICC over in an SM-SR change (digest §3.6); without it, ES7.HandoverEUICC is refused.
    pub gp_identity: Option<crate::smsr_change::GpIdentity>,
    /// This instance's lease holder name; `None`: a random one. With a stable name (one per
    /// replica), a restarted instance ends the leases of its previous incarnation at start
    /// ([`Smsr::run_until`]) and resumes its operations at once instead of after the lease.
    pub holder: Option<String>,
}

impl SmsrConfig {
    /// A configuration with defaults: ValidityPeriod 1 h (maximum 24 h), lease 30 s, resume
    /// poll every second, STORE DATA blocks of 255 bytes.
    pub fn new(
        smsr_id: &str,
        ci_certificate: X509Certificate,
        eum_certificates: Vec<X509Certificate>,
    ) -> Self {
        SmsrConfig {
            smsr_id: smsr_id.to_owned(),
            default_validity: ValidityPeriod(3600),
            max_validity: ValidityPeriod(86_400),
            ci_certificate,
            eum_certificates,
            lease_ms: 30_000,
            poll_interval: Duration::from_secs(1),
            max_block: 255,
            gp_identity: None,
            holder: None,
        }
    }
}

/// The functions this SM-SR serves.
pub const SERVED: &[Function] = &[
    Function::Es1RegisterEis,
    Function::Es3GetEis,
    Function::Es3AuditEis,
    Function::Es3CreateIsdp,
    Function::Es3SendData,
    Function::Es3ProfileDownloadCompleted,
    Function::Es3EnableProfile,
    Function::Es3DisableProfile,
    Function::Es3DeleteIsdp,
    Function::Es3UpdatePolicyRules,
    Function::Es3UpdateConnectivityParameters,
    Function::Es3UpdateSubscriptionAddress,
    Function::Es4GetEis,
    Function::Es4AuditEis,
    Function::Es4EnableProfile,
    Function::Es4DisableProfile,
    Function::Es4DeleteProfile,
    Function::Es4UpdatePolicyRules,
    Function::Es4SetFallbackAttribute,
    Function::Es4MasterDelete,
    Function::Es4PrepareSmsrChange,
    Function::Es4SmsrChange,
    Function::Es7HandoverEuicc,
    Function::Es7AuthenticateSmsr,
    Function::Es7CreateAdditionalKeySet,
];

/// Prefix of the `kind` of the SM-SR's operations in a store shared with other services
/// (`SM-SR/ES4.EnableProfile`).
pub const KIND_PREFIX: &str = "SM-SR/";

/// `ES4.EnableProfile`: the name of a function in operation kinds and the audit trail.
pub fn function_name(f: Function) -> String {
    format!("{:?}.{}", f.interface(), f.name())
}

/// Functions answered without a card exchange (run inline by `call`).
pub(crate) fn is_quick(f: Function) -> bool {
    matches!(
        f,
        Function::Es1RegisterEis
            | Function::Es3GetEis
            | Function::Es4GetEis
            | Function::Es3ProfileDownloadCompleted
            | Function::Es3UpdatePolicyRules
            | Function::Es4UpdatePolicyRules
            | Function::Es3UpdateSubscriptionAddress
            | Function::Es4PrepareSmsrChange
    )
}

/// The persisted state of an operation (`Operation::state`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OpState {
    /// The function.
    pub function: Function,
    /// The request JSON (`{"Header":…,"Body":…}`).
    pub request: serde_json::Value,
    /// SHA-256 (hex) of the request body, to detect a reused `FunctionCallIdentifier`.
    pub request_hash: String,
    /// Who called.
    pub caller: Caller,
    /// End of the ValidityPeriod (ms since the epoch).
    pub deadline: i64,
    /// Decisions taken before the first ES5 step (checks passed, chosen AID, …).
    #[serde(default)]
    pub plan: Option<serde_json::Value>,
    /// The last ES5 step started.
    #[serde(default)]
    pub step: Option<String>,
    /// Whether the result goes to the caller as a callback too.
    #[serde(default)]
    pub callback: bool,
}

/// Why a running operation stopped without an answer of its own.
#[derive(Debug)]
pub(crate) enum RunErr {
    /// Answer with this (failed / expired) status.
    Respond(FunctionExecutionStatus),
    /// The operation is no longer ours (lease lost, store unavailable, shutting down): leave it
    /// for the resumer.
    Lost(String),
}

impl From<StoreError> for RunErr {
    fn from(e: StoreError) -> Self {
        RunErr::Lost(e.to_string())
    }
}

/// Who is calling, as the authorisation rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    /// Role ADMIN: sees and acts on everything.
    Admin,
    /// An EUM (ES1).
    Eum(String),
    /// An MNO or M2M SP (ES4).
    Mno(String),
    /// An SM-DP (ES3).
    Smdp(String),
}

impl Access {
    fn of(caller: &Caller, interface: Interface) -> Self {
        if caller.has_role(role::ADMIN) {
            return Access::Admin;
        }
        match interface {
            Interface::ES1 => Access::Eum(caller.id.clone()),
            Interface::ES3 => Access::Smdp(caller.id.clone()),
            _ => Access::Mno(caller.id.clone()),
        }
    }
}

pub(crate) struct Inner {
    pub config: SmsrConfig,
    pub store: Arc<dyn Store>,
    pub sealer: Arc<dyn Sealer>,
    pub executor: Arc<dyn Es5Executor>,
    pub callbacks: Arc<dyn Callbacks>,
    /// Lease holder name of this instance.
    pub holder: String,
    done: tokio::sync::Notify,
    /// Calls waiting for an operation's outcome in [`Smsr::wait_outcome`]: a caller who gets the
    /// result as `Done` is not sent it again as a callback.
    waiting: esim_service::Waiters,
    /// The previous run's leases (same stable holder) released, once, before this instance
    /// starts or resumes any operation (never under one of its own running operations).
    released: tokio::sync::OnceCell<()>,
    running: Mutex<HashSet<OperationId>>,
    eid_locks: Mutex<HashMap<Eid, Arc<tokio::sync::Mutex<()>>>>,
    tasks: Mutex<JoinSet<()>>,
    pub delete_tokens: std::sync::RwLock<Option<Arc<dyn crate::master_delete::DeleteTokenSource>>>,
    /// Peer SM-SRs (ES7) by `Smsr-id`.
    pub peers: std::sync::RwLock<HashMap<String, Arc<dyn esim_service::FunctionClient>>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smsr")
            .field("smsr_id", &self.config.smsr_id)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The SM-SR's functions (ES1, ES3, ES4), POL2, EIS upkeep, notifications and callbacks.
///
/// Dropping it aborts the operations it is running (they stay persisted and are resumed by
/// another instance on the same store).
#[derive(Debug)]
pub struct Smsr {
    pub(crate) inner: Arc<Inner>,
}

impl Drop for Smsr {
    fn drop(&mut self) {
        lock(&self.inner.tasks).abort_all();
    }
}

/// Current time.
pub(crate) fn now() -> Timestamp {
    esim_service::now()
}

/// The text form of a status (`Executed-Success`, …).
pub(crate) fn status_text(s: &FunctionExecutionStatus) -> String {
    serde_json::to_value(s.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Smsr {
    /// An SM-SR over `store`, sealing secrets with `sealer`, reaching cards through `executor`
    /// and sending results and notifications through `callbacks`.
    pub fn new(
        config: SmsrConfig,
        store: Arc<dyn Store>,
        sealer: Arc<dyn Sealer>,
        executor: Arc<dyn Es5Executor>,
        callbacks: Arc<dyn Callbacks>,
    ) -> Result<Self, ServiceError> {
        let holder = match &config.holder {
            Some(h) => h.clone(),
            None => format!("{}/{}", config.smsr_id, OperationId::random()?.as_str()),
        };
        Ok(Smsr {
            inner: Arc::new(Inner {
                config,
                store,
                sealer,
                executor,
                callbacks,
                holder,
                done: tokio::sync::Notify::new(),
                waiting: esim_service::Waiters::default(),
                released: tokio::sync::OnceCell::new(),
                running: Mutex::new(HashSet::new()),
                eid_locks: Mutex::new(HashMap::new()),
                tasks: Mutex::new(JoinSet::new()),
                delete_tokens: std::sync::RwLock::new(None),
                peers: std::sync::RwLock::new(HashMap::new()),
            }),
        })
    }

    /// Sets where Master Delete tokens come from (the SM-DPs; SGP.02 §3.10).
    pub fn set_delete_token_source(
        &self,
        source: Arc<dyn crate::master_delete::DeleteTokenSource>,
    ) {
        *self
            .inner
            .delete_tokens
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(source);
    }

    /// Sets the peer SM-SRs reachable over ES7 (SM-SR change, digest §3.6), by `Smsr-id`;
    /// each client calls the peer as this SM-SR (role SM-SR there).
    pub fn set_peer_smsrs(&self, peers: HashMap<String, Arc<dyn esim_service::FunctionClient>>) {
        *self.inner.peers.write().unwrap_or_else(|e| e.into_inner()) = peers;
    }

    /// The configuration.
    pub fn config(&self) -> &SmsrConfig {
        &self.inner.config
    }

    /// With a stable holder (`SmsrConfig::holder`): releases the leases the previous run of this
    /// replica held, so its operations resume at once instead of after the lease. Runs once, and
    /// before this instance creates or resumes any operation, so it never takes a lease from
    /// under one of its own running operations.
    async fn release_previous_run(&self) {
        let inner = &self.inner;
        inner
            .released
            .get_or_init(|| async {
                if inner.config.holder.is_none() {
                    return;
                }
                match inner.store.release_leases(&inner.holder, now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(n, "resuming the operations of the previous run"),
                    Err(e) => tracing::warn!(error = %e, "releasing the previous run's leases"),
                }
            })
            .await;
    }

    /// Claims the SM-SR's operations whose lease ran out (their holder died or lost the store)
    /// and continues them in the background from their last saved step. Operations of other
    /// services sharing the store (kind not starting with [`KIND_PREFIX`]) are left alone.
    /// Returns how many were started.
    pub async fn resume_once(&self) -> Result<usize, ServiceError> {
        self.release_previous_run().await;
        let inner = &self.inner;
        let t = now();
        let until = t.plus_ms(inner.config.lease_ms);
        let mut started = 0;
        for op in inner.store.expired_leases(t, 256).await? {
            if !op.kind.starts_with(KIND_PREFIX) || lock(&inner.running).contains(&op.id) {
                continue;
            }
            match inner
                .store
                .claim_operation(&op.id, &inner.holder, t, until)
                .await
            {
                Ok(op) => {
                    if inner.spawn_op(op) {
                        started += 1;
                    }
                }
                Err(StoreError::InvalidState { .. } | StoreError::VersionMismatch { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(started)
    }

    /// Runs the resumer until `shutdown` completes (see [`run`]).
    pub async fn run_until(&self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        self.release_previous_run().await;
        loop {
            if let Err(e) = self.resume_once().await {
                tracing::warn!(error = %e, "resuming operations");
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(self.inner.config.poll_interval) => {}
            }
        }
    }

    /// Appends a call refused before it became an operation (wrong role, requester
    /// identifier not the caller) to the audit trail, status `Forbidden`.
    async fn audit_refusal(
        &self,
        caller: &Caller,
        function: Function,
        eid: Option<Eid>,
        why: &str,
    ) {
        let entry = AuditEntry {
            id: 0,
            at: now(),
            eid,
            iccid: None,
            isd_p_aid: None,
            operator: Some(caller.id.clone()),
            function: function_name(function),
            function_call_id: None,
            status: "Forbidden".into(),
            detail: serde_json::json!({ "reason": why }),
        };
        if let Err(e) = self.inner.store.append_audit(&entry).await {
            tracing::warn!(error = %e, "audit trail append failed");
        }
    }

    async fn wait_outcome(
        &self,
        id: &OperationId,
        function: Function,
        wait: Duration,
        waiter: esim_service::WaitGuard<'_>,
    ) -> Result<CallOutcome, ServiceError> {
        let start = tokio::time::Instant::now();
        loop {
            let notified = self.inner.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let op = self.inner.store.get_operation(id).await?;
            if op.status.is_terminal() {
                self.inner.waiting.answered(id);
                return Ok(CallOutcome::Done(
                    op.result.unwrap_or(serde_json::Value::Null),
                ));
            }
            let elapsed = start.elapsed();
            if elapsed >= wait {
                // No longer waiting, then a last look: an operation that ended in between either
                // saw this call waiting (and sent no callback: the result is returned here) or
                // saw it gone (and sends the callback).
                drop(waiter);
                let op = self.inner.store.get_operation(id).await?;
                if op.status.is_terminal() {
                    self.inner.waiting.answered(id);
                    return Ok(CallOutcome::Done(
                        op.result.unwrap_or(serde_json::Value::Null),
                    ));
                }
                return Ok(CallOutcome::Pending {
                    operation_id: id.clone(),
                    function,
                });
            }
            let slice = (wait - elapsed).min(Duration::from_millis(200));
            let _ = tokio::time::timeout(slice, notified).await;
        }
    }
}

/// Runs the SM-SR's operation resumer until `shutdown` completes: operations whose holder died
/// (lease expired) are claimed and continued. The functions themselves are served by the
/// [`Smsr`] the adapters call; this loop is what makes a killed SM-SR's work finish.
pub async fn run(
    config: SmsrConfig,
    store: Arc<dyn Store>,
    sealer: Arc<dyn Sealer>,
    executor: Arc<dyn Es5Executor>,
    callbacks: Arc<dyn Callbacks>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServiceError> {
    let smsr = Smsr::new(config, store, sealer, executor, callbacks)?;
    smsr.run_until(shutdown).await;
    Ok(())
}

fn body_hash(v: &serde_json::Value) -> String {
    let body = v.get("Body").map(|b| b.to_string()).unwrap_or_default();
    esim_codec::hex::encode(&esim_store::hash_token(&body)).to_ascii_lowercase()
}

/// The EID a request concerns, if any.
fn request_eid(v: &serde_json::Value) -> Option<Eid> {
    let body = v.get("Body")?;
    let s = body
        .get("Eid")
        .and_then(|e| e.as_str())
        .or_else(|| body.get("Eis")?.get("eumSignedInfo")?.get("eid")?.as_str())
        // ES7.HandoverEUICC carries the protocol EIS (digest §4.1 names).
        .or_else(|| body.get("Eis")?.get("EumSignedInfo")?.get("Eid")?.as_str())?;
    Eid::parse(s).ok()
}

fn required_roles(f: Function) -> &'static [&'static str] {
    match f.interface() {
        Interface::ES1 => &[role::EUM],
        Interface::ES3 => &[role::SM_DP],
        Interface::ES4 => &[role::MNO, role::M2M_SP],
        Interface::ES7 => &[role::SM_SR],
        _ => &[],
    }
}

#[async_trait]
impl FunctionService for Smsr {
    fn functions(&self) -> Vec<Function> {
        SERVED.to_vec()
    }

    async fn call(
        &self,
        caller: &Caller,
        request: AnyRequest,
        wait: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        self.release_previous_run().await;
        let inner = &self.inner;
        let function = request.function();
        if !SERVED.contains(&function) {
            return Err(ServiceError::NotServed(function.name()));
        }
        if !caller.has_role(role::ADMIN)
            && !required_roles(function).iter().any(|r| caller.has_role(r))
        {
            let why = format!(
                "{} needs role {}",
                function.name(),
                required_roles(function).join(" or ")
            );
            self.audit_refusal(caller, function, None, &why).await;
            return Err(ServiceError::Forbidden(why));
        }
        let json = request.to_json()?;
        let v: serde_json::Value = serde_json::from_str(&json)
            .map_err(|e| ServiceError::Internal(format!("request JSON: {e}")))?;
        let header: RequestHeader =
            serde_json::from_value(v.get("Header").cloned().unwrap_or(serde_json::Value::Null))
                .map_err(|e| ServiceError::Internal(format!("request header: {e}")))?;
        if header.function_requester_identifier != caller.id {
            let why = "FunctionRequesterIdentifier is not the authenticated caller";
            self.audit_refusal(caller, function, request_eid(&v), why)
                .await;
            return Err(ServiceError::Forbidden(why.into()));
        }
        let t = now();
        let validity = header
            .validity_period
            .unwrap_or(inner.config.default_validity)
            .min(inner.config.max_validity);
        let deadline = t.plus_ms(i64::from(validity.seconds()) * 1000).0;
        let request_hash = body_hash(&v);
        // The EIS of RegisterEIS carries the initial ISD-R keys: the stored request is sealed.
        let stored = if function == Function::Es1RegisterEis {
            seal_request(inner.sealer.as_ref(), &v)?
        } else {
            v.clone()
        };
        let state = OpState {
            function,
            request: stored,
            request_hash: request_hash.clone(),
            caller: caller.clone(),
            deadline,
            plan: None,
            step: None,
            callback: !is_quick(function),
        };
        let new = NewOperation {
            id: OperationId::random()?,
            kind: format!("{KIND_PREFIX}{}", function_name(function)),
            owner: caller.id.clone(),
            function_call_id: Some(header.function_call_identifier.as_str().to_owned()),
            eid: request_eid(&v),
            state: serde_json::to_value(&state)
                .map_err(|e| ServiceError::Internal(format!("operation state: {e}")))?,
            status: OperationStatus::Runnable,
            wake_at: None,
            lease: Some(Lease {
                holder: inner.holder.clone(),
                until: t.plus_ms(inner.config.lease_ms),
            }),
            now: t,
        };
        match inner.store.create_operation(&new).await? {
            CreateOutcome::Created(op) => {
                let id = op.id.clone();
                // Counted as waiting before the operation can end (no callback for a result
                // this call returns).
                let waiter = self.inner.waiting.enter(&id);
                if is_quick(function) {
                    lock(&inner.running).insert(id.clone());
                    inner.clone().run_op(op).await;
                } else {
                    inner.spawn_op(op);
                }
                self.wait_outcome(&id, function, wait, waiter).await
            }
            CreateOutcome::Existing(op) => {
                let prior: Option<OpState> = serde_json::from_value(op.state.clone()).ok();
                if prior.is_none_or(|p| p.request_hash != request_hash || p.function != function) {
                    return Err(ServiceError::Conflict(
                        header.function_call_identifier.as_str().to_owned(),
                    ));
                }
                if op.status.is_terminal() {
                    return Ok(CallOutcome::Done(
                        op.result.unwrap_or(serde_json::Value::Null),
                    ));
                }
                let waiter = self.inner.waiting.enter(&op.id);
                self.wait_outcome(&op.id, function, wait, waiter).await
            }
            _ => Err(ServiceError::Internal("unexpected create outcome".into())),
        }
    }

    async fn outcome(
        &self,
        caller: &Caller,
        operation: &OperationId,
        wait: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        let op = match self.inner.store.get_operation(operation).await {
            Ok(op) => op,
            Err(StoreError::NotFound { .. }) => {
                return Err(ServiceError::UnknownOperation(operation.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        if op.owner != caller.id && !caller.has_role(role::ADMIN) {
            return Err(ServiceError::UnknownOperation(operation.to_string()));
        }
        let st: OpState = serde_json::from_value(op.state.clone())
            .map_err(|e| ServiceError::Internal(format!("operation state: {e}")))?;
        if op.status.is_terminal() {
            return Ok(CallOutcome::Done(
                op.result.unwrap_or(serde_json::Value::Null),
            ));
        }
        let waiter = self.inner.waiting.enter(operation);
        self.wait_outcome(operation, st.function, wait, waiter)
            .await
    }
}

/// A running operation: its persisted record, state and helpers for ES5 steps.
pub(crate) struct Run {
    pub inner: Arc<Inner>,
    pub op: Arc<tokio::sync::Mutex<Operation>>,
    pub id: OperationId,
    pub state: OpState,
    pub started: Timestamp,
}

impl Run {
    /// Who is calling.
    pub fn access(&self) -> Access {
        Access::of(&self.state.caller, self.state.function.interface())
    }

    /// A successful response with `body`.
    pub fn ok<B: Serialize>(&self, body: Option<B>) -> serde_json::Value {
        response(
            self.started,
            now(),
            FunctionExecutionStatus::success(),
            body,
        )
    }

    /// A response with only a status.
    pub fn status(&self, status: FunctionExecutionStatus) -> serde_json::Value {
        response::<()>(self.started, now(), status, None)
    }

    /// Saves the state (still running, lease kept).
    pub async fn save(&mut self) -> Result<(), RunErr> {
        let state = serde_json::to_value(&self.state)
            .map_err(|e| RunErr::Lost(format!("operation state: {e}")))?;
        let mut op = self.op.lock().await;
        let updated = self
            .inner
            .store
            .save_step(
                &self.id,
                op.version,
                &OperationUpdate {
                    state,
                    status: OperationStatus::Runnable,
                    wake_at: None,
                    result: None,
                    release_lease: false,
                    now: now(),
                },
            )
            .await?;
        *op = updated;
        Ok(())
    }

    /// Records the plan (decisions taken before the first card step) and saves.
    pub async fn set_plan(&mut self, plan: serde_json::Value) -> Result<(), RunErr> {
        self.state.plan = Some(plan);
        self.save().await
    }

    /// Runs one ES5 step: checks the ValidityPeriod, saves the step name, hands the job to the
    /// executor and waits for its outcome.
    pub async fn es5(
        &mut self,
        eid: &Eid,
        step: &str,
        target: JobTarget,
        payload: JobPayload,
    ) -> Result<Es5Outcome, RunErr> {
        // A step started before a restart is attached to even past the deadline: the card may
        // have executed it, and only the executor knows (it reports Expired otherwise).
        let resumed = self.state.step.as_deref() == Some(step);
        if !resumed && now().0 >= self.state.deadline {
            return Err(RunErr::Respond(FunctionExecutionStatus::expired(&format!(
                "ValidityPeriod ended before step {step}"
            ))));
        }
        if !resumed {
            self.state.step = Some(step.to_owned());
            self.save().await?;
        }
        let job = Es5Job {
            target,
            payload,
            step: step.to_owned(),
        };
        match self
            .inner
            .executor
            .execute(eid, &self.id, job, Timestamp(self.state.deadline))
            .await
        {
            Ok(o) => Ok(o),
            Err(DeliveryError::NoKeyset(e)) => {
                Err(RunErr::Respond(FunctionExecutionStatus::failed_for(
                    subject::EUICC,
                    reason::INACCESSIBLE,
                    e.as_str(),
                    "no usable ISD-R keyset to reach the eUICC",
                )))
            }
            Err(DeliveryError::BadJob(m)) => Err(RunErr::Respond(FunctionExecutionStatus::failed(
                subject::EUICC_EXECUTION,
                reason::EXECUTION_ERROR,
                &format!("{step}: {m}"),
            ))),
            Err(e) => Err(RunErr::Lost(e.to_string())),
        }
    }
}

impl Inner {
    /// Starts `op` in the background unless it already runs here. Returns whether it started.
    pub(crate) fn spawn_op(self: &Arc<Self>, op: Operation) -> bool {
        if !lock(&self.running).insert(op.id.clone()) {
            return false;
        }
        let me = self.clone();
        let mut tasks = lock(&self.tasks);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(async move { me.run_op(op).await });
        true
    }

    pub(crate) fn eid_lock(&self, eid: &Eid) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.eid_locks)
            .entry(eid.clone())
            .or_default()
            .clone()
    }

    /// Runs an operation to its end (or until it is lost), then records the result, appends the
    /// audit trail, sends the callback and wakes the waiters.
    pub(crate) async fn run_op(self: Arc<Self>, op: Operation) {
        let id = op.id.clone();
        self.run_op_inner(op).await;
        lock(&self.running).remove(&id);
        self.done.notify_waiters();
    }

    async fn run_op_inner(self: &Arc<Self>, op: Operation) {
        let id = op.id.clone();
        let state: OpState = match serde_json::from_value(op.state.clone()) {
            Ok(s) => s,
            Err(e) => {
                let status = FunctionExecutionStatus::failed(
                    subject::SM_SR,
                    reason::EXECUTION_ERROR,
                    &format!("unreadable operation state: {e}"),
                );
                let res = response::<()>(op.created_at, now(), status, None);
                let _ = self
                    .store
                    .save_step(
                        &id,
                        op.version,
                        &OperationUpdate {
                            state: op.state.clone(),
                            status: OperationStatus::Failed,
                            wake_at: None,
                            result: Some(res),
                            release_lease: true,
                            now: now(),
                        },
                    )
                    .await;
                return;
            }
        };
        let eid = op.eid.clone();
        let started = op.created_at;
        let mut run = Run {
            inner: self.clone(),
            op: Arc::new(tokio::sync::Mutex::new(op)),
            id: id.clone(),
            state,
            started,
        };
        // ES4.SMSRChange locks the eUICC in its EIS record instead (its ES7 relays run as
        // separate operations on the same eUICC while it waits for SM-SR2).
        let guard_lock = match (&eid, is_quick(run.state.function)) {
            (Some(e), false) if run.state.function != Function::Es4SmsrChange => {
                Some(self.eid_lock(e))
            }
            _ => None,
        };
        let renew = {
            let me = self.clone();
            let opm = run.op.clone();
            let id = id.clone();
            async move {
                let every = Duration::from_millis(
                    u64::try_from(me.config.lease_ms / 3)
                        .unwrap_or(1000)
                        .max(10),
                );
                loop {
                    tokio::time::sleep(every).await;
                    let mut op = opm.lock().await;
                    let t = now();
                    match me
                        .store
                        .claim_operation(&id, &me.holder, t, t.plus_ms(me.config.lease_ms))
                        .await
                    {
                        Ok(o) => *op = o,
                        Err(e) => {
                            tracing::warn!(operation = %id, error = %e, "lease renewal failed");
                        }
                    }
                }
            }
        };
        let work = async {
            let _guard = match &guard_lock {
                Some(l) => Some(l.lock().await),
                None => None,
            };
            crate::ops::dispatch(&mut run).await
        };
        let outcome = tokio::select! {
            r = work => r,
            _ = renew => Err(RunErr::Lost("lease renewal ended".into())),
        };
        let result = match outcome {
            Ok(v) => v,
            Err(RunErr::Respond(s)) => run.status(s),
            Err(RunErr::Lost(why)) => {
                tracing::info!(operation = %id, why, "operation left for resumption");
                return;
            }
        };
        let status = esim_service::status_of(&result);
        let executed = status.as_ref().is_some_and(|s| s.is_executed());
        let state_json = serde_json::to_value(&run.state).unwrap_or(serde_json::Value::Null);
        let saved = {
            let op = run.op.lock().await;
            self.store
                .save_step(
                    &id,
                    op.version,
                    &OperationUpdate {
                        state: state_json,
                        status: if executed {
                            OperationStatus::Succeeded
                        } else {
                            OperationStatus::Failed
                        },
                        wake_at: None,
                        result: Some(result.clone()),
                        release_lease: true,
                        now: now(),
                    },
                )
                .await
        };
        let op = match saved {
            Ok(op) => op,
            Err(e) => {
                tracing::warn!(operation = %id, error = %e, "could not record the result");
                return;
            }
        };
        let status_str = status.as_ref().map(status_text).unwrap_or_default();
        let iccid = run
            .state
            .request
            .get("Body")
            .and_then(|b| b.get("Iccid"))
            .and_then(|i| i.as_str())
            .and_then(|s| Iccid::parse(s).ok());
        let entry = AuditEntry {
            id: 0,
            at: now(),
            eid: eid.clone(),
            iccid,
            isd_p_aid: run
                .state
                .plan
                .as_ref()
                .and_then(|p| p.get("aid"))
                .and_then(|a| serde_json::from_value(a.clone()).ok()),
            operator: Some(run.state.caller.id.clone()),
            function: function_name(run.state.function),
            function_call_id: op.function_call_id.clone(),
            status: status_str,
            detail: serde_json::json!({ "operation": id.as_str(), "step": run.state.step }),
        };
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::warn!(operation = %id, error = %e, "audit trail append failed");
        }
        // The result is final in the store now: a call still waiting returns it as `Done`;
        // only a caller that was answered `Pending` (or whose call is gone) gets the callback
        // (docs/spec-choices.md row 78).
        let call_back = self.waiting.should_call_back(&id);
        if run.state.callback
            && call_back
            && !run.state.caller.id.is_empty()
            && run.state.caller.id != self.config.smsr_id
        {
            let msg = Callback::Result {
                function: run.state.function,
                operation_id: id.clone(),
                function_call_id: op.function_call_id.clone().unwrap_or_default(),
                response: result,
            };
            if let Err(e) = self.callbacks.deliver(&run.state.caller.id, msg).await {
                tracing::warn!(operation = %id, error = %e, "result callback failed");
            }
        }
    }

    /// Starts an operation of the SM-SR itself (e.g. a POL2 auto-delete after a notification),
    /// idempotent by `call_id`.
    pub(crate) async fn start_internal(
        self: &Arc<Self>,
        function: Function,
        request: AnyRequest,
        eid: &Eid,
        call_id: &str,
    ) -> Result<(), StoreError> {
        let json = request
            .to_json()
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let v: serde_json::Value =
            serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let t = now();
        let caller = Caller {
            id: self.config.smsr_id.clone(),
            roles: vec![role::ADMIN.to_owned()],
        };
        let state = OpState {
            function,
            request_hash: body_hash(&v),
            request: v,
            caller: caller.clone(),
            deadline: t
                .plus_ms(i64::from(self.config.default_validity.seconds()) * 1000)
                .0,
            plan: None,
            step: None,
            callback: false,
        };
        let new = NewOperation {
            id: OperationId::random()?,
            kind: format!("{KIND_PREFIX}{}", function_name(function)),
            owner: caller.id,
            function_call_id: Some(call_id.to_owned()),
            eid: Some(eid.clone()),
            state: serde_json::to_value(&state).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            status: OperationStatus::Runnable,
            wake_at: None,
            lease: Some(Lease {
                holder: self.holder.clone(),
                until: t.plus_ms(self.config.lease_ms),
            }),
            now: t,
        };
        if let CreateOutcome::Created(op) = self.store.create_operation(&new).await? {
            self.spawn_op(op);
        }
        Ok(())
    }
}

const SEALED_REQUEST_AAD: &[u8] = b"operation-request";

fn sealed_err(e: &dyn std::fmt::Display) -> RunErr {
    RunErr::Respond(FunctionExecutionStatus::failed(
        subject::SM_SR,
        reason::EXECUTION_ERROR,
        &format!("the stored request could not be opened: {e}"),
    ))
}

/// `{"Header": …, "SealedBody": <sealed body JSON>}`.
fn seal_request(
    sealer: &dyn Sealer,
    v: &serde_json::Value,
) -> Result<serde_json::Value, ServiceError> {
    let body = zeroize::Zeroizing::new(v.get("Body").map(|b| b.to_string()).unwrap_or_default());
    let blob = sealer.seal(body.as_bytes(), SEALED_REQUEST_AAD)?;
    Ok(serde_json::json!({
        "Header": v.get("Header").cloned().unwrap_or(serde_json::Value::Null),
        "SealedBody": blob,
    }))
}

/// Decodes the request of a running operation (opening a sealed body).
pub(crate) fn decode(run: &Run) -> Result<AnyRequest, RunErr> {
    let req = &run.state.request;
    let text = match req.get("SealedBody") {
        Some(sealed) => {
            let blob: esim_store::SealedBlob =
                serde_json::from_value(sealed.clone()).map_err(|e| sealed_err(&e))?;
            let body = run
                .inner
                .sealer
                .open(&blob, SEALED_REQUEST_AAD)
                .map_err(|e| sealed_err(&e))?;
            let body = std::str::from_utf8(&body).map_err(|e| sealed_err(&e))?;
            let header = req.get("Header").map(|h| h.to_string()).unwrap_or_default();
            zeroize::Zeroizing::new(format!("{{\"Header\":{header},\"Body\":{body}}}"))
        }
        None => zeroize::Zeroizing::new(req.to_string()),
    };
    decode_request(run.state.function, &text).map_err(|e| {
        RunErr::Respond(FunctionExecutionStatus::failed(
            subject::REQUEST_FIELD,
            reason::INVALID_FORMAT,
            &e.to_string(),
        ))
    })
}

/// Whether a response JSON is executed (success or warning).
pub fn is_executed(response: &serde_json::Value) -> bool {
    esim_service::status_of(response).is_some_and(|s| {
        matches!(
            s.status,
            Status::ExecutedSuccess | Status::ExecutedWithWarning
        )
    })
}
