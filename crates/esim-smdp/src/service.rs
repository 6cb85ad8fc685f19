//! The SM-DP as an [`esim_service::FunctionService`]: ES2 functions for MNOs (digest §2.3) and
//! the ES3 notifications of the SM-SRs (digest §2.4), with authorization, idempotency by
//! `FunctionCallIdentifier`, an audit entry per call, and the recovery loop [`run`].

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use esim_codec::{Eid, Iccid};
use esim_proto::codes::{reason, subject};
use esim_proto::common::{FunctionExecutionStatus, Request};
use esim_proto::es2::ProfileNotification;
use esim_proto::{AnyRequest, Function, FunctionCallIdentifier, Interface, RequestHeader};
use esim_service::{
    CallOutcome, Callback, Callbacks, Caller, FunctionClient, FunctionService, ServiceError, role,
};
use esim_store::{
    AuditEntry, BeginOutcome, CreateOutcome, IdempotencyRecord, InventoryState, NewOperation,
    Operation, OperationId, OperationStatus, Sealer, Store, StoreError, Timestamp,
};

use crate::config::SmdpConfig;
use crate::inventory::Inventory;
use crate::ops::{DriverError, KIND_PREFIX, OpState, Run, status_text};

/// Shared state of an SM-DP instance.
pub(crate) struct Inner {
    pub config: SmdpConfig,
    pub store: Arc<dyn Store>,
    pub inventory: Inventory,
    /// Seals the ISD-Ps' token keys (Master Delete).
    pub sealer: Arc<dyn Sealer>,
    pub smsrs: HashMap<String, Arc<dyn FunctionClient>>,
    pub callbacks: Arc<dyn Callbacks>,
    /// Woken whenever an operation finishes.
    pub done: tokio::sync::Notify,
    /// Calls waiting for an operation's outcome: a caller who gets the result as `Done` is not
    /// sent it again as a callback (docs/spec-choices.md row 78).
    pub waiting: esim_service::Waiters,
    /// The previous run's leases released, once, before this instance starts or recovers any
    /// operation.
    pub released: tokio::sync::OnceCell<()>,
}

impl Inner {
    pub(crate) async fn audit(&self, entry: AuditEntry) {
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::warn!("audit trail: {e}");
        }
    }
}

/// The SM-DP service.
#[derive(Clone)]
pub struct Smdp {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Smdp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Smdp")
            .field("config", &self.inner.config)
            .field("smsrs", &self.inner.smsrs.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// The header of any request.
pub(crate) fn header_of(request: &AnyRequest) -> Result<RequestHeader, String> {
    let json = request.to_json().map_err(|e| e.to_string())?;
    let mut v: serde_json::Value = serde_json::from_str(&json).map_err(|e| e.to_string())?;
    serde_json::from_value(
        v.get_mut("Header")
            .map(serde_json::Value::take)
            .unwrap_or_default(),
    )
    .map_err(|e| e.to_string())
}

fn body_hash(request: &AnyRequest) -> Result<[u8; 32], ServiceError> {
    let json = request.to_json()?;
    let v: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let body = serde_json::to_vec(v.get("Body").unwrap_or(&serde_json::Value::Null))
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    Ok(esim_crypto::primitives::sha256(&body))
}

/// A fresh call identifier for a notification the SM-DP sends.
fn fresh_call_id() -> Option<FunctionCallIdentifier> {
    let id = OperationId::random().ok()?;
    FunctionCallIdentifier::new(&format!("ntf-{id}")).ok()
}

/// An ES2 `Handle…Notification` request of the SM-DP (digest §2.3).
pub(crate) fn profile_notification(
    inner: &Inner,
    function: Function,
    eid: &Eid,
    iccid: &Iccid,
) -> Option<AnyRequest> {
    let header = RequestHeader {
        function_requester_identifier: inner.config.smdp_id.clone(),
        function_call_identifier: fresh_call_id()?,
        validity_period: None,
        message_id: None,
        relates_to: None,
    };
    let r = Request {
        header,
        body: ProfileNotification {
            eid: eid.clone(),
            iccid: iccid.clone(),
            completion_time_stamp: esim_service::xs_datetime(esim_service::now()),
        },
    };
    Some(match function {
        Function::Es2HandleProfileEnabledNotification => {
            AnyRequest::Es2HandleProfileEnabledNotification(r)
        }
        Function::Es2HandleProfileDisabledNotification => {
            AnyRequest::Es2HandleProfileDisabledNotification(r)
        }
        Function::Es2HandleProfileDeletedNotification => {
            AnyRequest::Es2HandleProfileDeletedNotification(r)
        }
        _ => AnyRequest::Es2HandleProfileDownloadedNotification(r),
    })
}

/// The ES2 functions served as persisted operations.
const OPERATIONS: &[Function] = &[
    Function::Es2GetEis,
    Function::Es2DownloadProfile,
    Function::Es2EnableProfile,
    Function::Es2DisableProfile,
    Function::Es2DeleteProfile,
    Function::Es2UpdatePolicyRules,
    Function::Es2UpdateSubscriptionAddress,
];

/// The functions answered directly.
const DIRECT: &[Function] = &[
    Function::Es3GetDeleteToken,
    Function::Es3HandleProfileEnabledNotification,
    Function::Es3HandleProfileDisabledNotification,
    Function::Es3HandleProfileDeletedNotification,
    Function::Es3HandleSmsrChangeNotification,
];

/// The eUICC a request concerns.
fn eid_of(request: &AnyRequest) -> Option<Eid> {
    Some(match request {
        AnyRequest::Es2GetEis(r) => r.body.eid.clone(),
        AnyRequest::Es2DownloadProfile(r) => r.body.eid.clone(),
        AnyRequest::Es2EnableProfile(r)
        | AnyRequest::Es2DisableProfile(r)
        | AnyRequest::Es2DeleteProfile(r) => r.body.eid.clone(),
        AnyRequest::Es2UpdatePolicyRules(r) => r.body.eid.clone(),
        AnyRequest::Es2UpdateSubscriptionAddress(r) => r.body.eid.clone(),
        AnyRequest::Es3HandleProfileEnabledNotification(r)
        | AnyRequest::Es3HandleProfileDisabledNotification(r)
        | AnyRequest::Es3HandleProfileDeletedNotification(r) => r.body.eid.clone(),
        AnyRequest::Es3HandleSmsrChangeNotification(r) => r.body.eis.eid().clone(),
        AnyRequest::Es3GetDeleteToken(r) => r.body.eid.clone(),
        _ => return None,
    })
}

impl Smdp {
    /// An SM-DP over `store`, sealing inventory packages with `sealer`, reaching each SM-SR by
    /// its identifier through `smsrs` (ES3), delivering results and notifications to MNOs
    /// through `callbacks`.
    pub fn new(
        config: SmdpConfig,
        store: Arc<dyn Store>,
        sealer: Arc<dyn Sealer>,
        smsrs: HashMap<String, Arc<dyn FunctionClient>>,
        callbacks: Arc<dyn Callbacks>,
    ) -> Self {
        let inventory = Inventory::new(store.clone(), sealer.clone());
        Smdp {
            inner: Arc::new(Inner {
                config,
                store,
                inventory,
                sealer,
                smsrs,
                callbacks,
                done: tokio::sync::Notify::new(),
                waiting: esim_service::Waiters::default(),
                released: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// The Profile inventory.
    pub fn inventory(&self) -> &Inventory {
        &self.inner.inventory
    }

    /// The configuration.
    pub fn config(&self) -> &SmdpConfig {
        &self.inner.config
    }

    /// One recovery pass at `now`: every SM-DP operation whose lease expired (its replica
    /// died) is claimed and continued — a download interrupted before the card reported success
    /// is rolled back (ES3.DeleteISDP if an ISD-P may exist, inventory released, result
    /// `Failed`), later steps and forwarded functions are resumed. Returns how many were
    /// taken; they run in the background.
    pub async fn recover(&self, now: Timestamp) -> Result<usize, StoreError> {
        self.release_previous_run().await;
        let store = &self.inner.store;
        let expired = store.expired_leases(now, 64).await?;
        let mut n = 0;
        for op in expired {
            if !op.kind.starts_with(KIND_PREFIX) {
                continue;
            }
            let until = now.plus_ms(self.inner.config.lease_ms());
            let op = match store
                .claim_operation(&op.id, &self.inner.config.holder, now, until)
                .await
            {
                Ok(op) => op,
                Err(StoreError::InvalidState { .. } | StoreError::VersionMismatch { .. }) => {
                    continue;
                }
                Err(e) => return Err(e),
            };
            tracing::info!(op = %op.id, kind = %op.kind, "recovering operation");
            self.spawn(op, true);
            n += 1;
        }
        Ok(n)
    }

    /// Waits until operation `id` is terminal (its stored result) or `wait` passes (Pending).
    /// Woken by this instance's finishing operations, and polls the store for other replicas'.
    async fn wait_for(
        &self,
        id: &OperationId,
        function: Function,
        wait: Duration,
        waiter: esim_service::WaitGuard<'_>,
    ) -> Result<CallOutcome, ServiceError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.inner.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let op = self.inner.store.get_operation(id).await?;
            if op.status.is_terminal() {
                self.inner.waiting.answered(id);
                return Ok(CallOutcome::Done(op.result.unwrap_or_default()));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                // Leave, then a last look (see `esim_service::Waiters`).
                drop(waiter);
                let op = self.inner.store.get_operation(id).await?;
                if op.status.is_terminal() {
                    self.inner.waiting.answered(id);
                    return Ok(CallOutcome::Done(op.result.unwrap_or_default()));
                }
                return Ok(CallOutcome::Pending {
                    operation_id: id.clone(),
                    function,
                });
            }
            let slice = (deadline - now).min(Duration::from_millis(250));
            let _ = tokio::time::timeout(slice, notified).await;
        }
    }

    fn spawn(&self, op: Operation, recovered: bool) {
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let id = op.id.clone();
            let result = match Run::load(inner.clone(), op) {
                Ok(run) if run.st.function == Function::Es2DownloadProfile => {
                    crate::download::drive_download(run, recovered).await
                }
                Ok(run) => crate::download::drive_forward(run).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => {}
                Err(e @ (DriverError::Store(_) | DriverError::Unreachable(_))) => {
                    tracing::warn!(op = %id, "operation stopped (recovered later): {e}");
                }
                Err(e) => tracing::error!(op = %id, "operation stopped: {e}"),
            }
            inner.done.notify_waiters();
        });
    }

    async fn refuse_audit(&self, caller: &Caller, function: Function, why: &str) {
        self.inner
            .audit(AuditEntry {
                id: 0,
                at: esim_service::now(),
                eid: None,
                iccid: None,
                isd_p_aid: None,
                operator: Some(caller.id.clone()),
                function: format!("{:?}.{}", function.interface(), function.name()),
                function_call_id: None,
                status: "Refused".into(),
                detail: serde_json::json!({ "reason": why }),
            })
            .await;
    }

    fn authorize(&self, caller: &Caller, function: Function) -> Result<(), ServiceError> {
        let ok = match function.interface() {
            Interface::ES2 => caller.has_role(role::MNO) || caller.has_role(role::ADMIN),
            Interface::ES3 => caller.has_role(role::SM_SR),
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "{} may not call {:?}.{}",
                caller.id,
                function.interface(),
                function.name()
            )))
        }
    }

    async fn start_operation(
        &self,
        caller: &Caller,
        request: &AnyRequest,
        id: OperationId,
        fcid: &str,
        now: Timestamp,
    ) -> Result<Operation, ServiceError> {
        let function = request.function();
        let st = OpState::new(function, request.to_json()?, now);
        let new = NewOperation {
            id,
            kind: format!("{KIND_PREFIX}ES2.{}", function.name()),
            owner: caller.id.clone(),
            function_call_id: Some(fcid.to_owned()),
            eid: eid_of(request),
            state: serde_json::to_value(&st).map_err(|e| ServiceError::Internal(e.to_string()))?,
            status: OperationStatus::Runnable,
            wake_at: None,
            lease: Some(esim_store::Lease {
                holder: self.inner.config.holder.clone(),
                until: now.plus_ms(self.inner.config.lease_ms()),
            }),
            now,
        };
        match self.inner.store.create_operation(&new).await? {
            CreateOutcome::Created(op) => {
                self.spawn(op.clone(), false);
                Ok(op)
            }
            CreateOutcome::Existing(op) => Ok(op),
            _ => Err(ServiceError::Internal("unexpected create outcome".into())),
        }
    }

    /// Answers a function served directly (ES3 notifications, GetDeleteToken) with its status
    /// and response body.
    async fn direct(
        &self,
        caller: &Caller,
        request: &AnyRequest,
    ) -> (FunctionExecutionStatus, Option<serde_json::Value>) {
        if let AnyRequest::Es3GetDeleteToken(r) = request {
            return match crate::master_delete::delete_token(&self.inner, &r.body).await {
                Ok(body) => (
                    FunctionExecutionStatus::success(),
                    serde_json::to_value(body).ok(),
                ),
                Err(status) => (status, None),
            };
        }
        (self.notification(caller, request).await, None)
    }

    /// Answers an ES3 notification of the SM-SR.
    async fn notification(&self, caller: &Caller, request: &AnyRequest) -> FunctionExecutionStatus {
        let (function, body) = match request {
            AnyRequest::Es3HandleProfileEnabledNotification(r) => {
                (Function::Es2HandleProfileEnabledNotification, &r.body)
            }
            AnyRequest::Es3HandleProfileDisabledNotification(r) => {
                (Function::Es2HandleProfileDisabledNotification, &r.body)
            }
            AnyRequest::Es3HandleProfileDeletedNotification(r) => {
                (Function::Es2HandleProfileDeletedNotification, &r.body)
            }
            AnyRequest::Es3HandleSmsrChangeNotification(r) => {
                return self.smsr_change(&r.body).await;
            }
            other => {
                return FunctionExecutionStatus::failed(
                    subject::FUNCTION,
                    reason::UNSUPPORTED,
                    &format!("{} is not served", other.function().name()),
                );
            }
        };
        let _ = caller;
        let inv = match self.inner.store.get_inventory(&body.iccid).await {
            Ok(inv) if inv.eid.as_ref() == Some(&body.eid) => inv,
            Ok(_) | Err(StoreError::NotFound { .. }) => {
                return crate::download::unknown_iccid(&body.iccid);
            }
            Err(e) => {
                return FunctionExecutionStatus::failed(
                    subject::SM_DP,
                    reason::EXECUTION_ERROR,
                    &format!("storage: {e}"),
                );
            }
        };
        if function == Function::Es2HandleProfileDeletedNotification
            && matches!(
                inv.state,
                InventoryState::Allocated | InventoryState::Installed
            )
        {
            if let Err(e) = self
                .inner
                .store
                .release(&inv.iccid, esim_service::now())
                .await
            {
                tracing::warn!(iccid = inv.iccid.as_str(), "releasing: {e}");
            }
        }
        if let Some(n) = profile_notification(&self.inner, function, &body.eid, &body.iccid) {
            if let Err(e) = self
                .inner
                .callbacks
                .deliver(&inv.owner, Callback::Notification(n))
                .await
            {
                tracing::warn!("{} to {}: {e}", function.name(), inv.owner);
            }
        }
        FunctionExecutionStatus::success()
    }

    /// ES3.HandleSMSRChangeNotification: forwarded (ES2) to each MNO owning one of the eUICC's
    /// Profiles in this inventory.
    async fn smsr_change(
        &self,
        body: &esim_proto::es2::SmsrChangeNotification,
    ) -> FunctionExecutionStatus {
        let mut owners = std::collections::BTreeSet::new();
        for p in &body.eis.profiles {
            if let Ok(inv) = self.inner.store.get_inventory(&p.iccid).await {
                if inv.eid.as_ref() == Some(body.eis.eid()) {
                    owners.insert(inv.owner);
                }
            }
        }
        for owner in owners {
            let Some(fcid) = fresh_call_id() else {
                continue;
            };
            let n = AnyRequest::Es2HandleSmsrChangeNotification(Request {
                header: RequestHeader {
                    function_requester_identifier: self.inner.config.smdp_id.clone(),
                    function_call_identifier: fcid,
                    validity_period: None,
                    message_id: None,
                    relates_to: None,
                },
                body: body.clone(),
            });
            if let Err(e) = self
                .inner
                .callbacks
                .deliver(&owner, Callback::Notification(n))
                .await
            {
                tracing::warn!("HandleSMSRChangeNotification to {owner}: {e}");
            }
        }
        FunctionExecutionStatus::success()
    }
}

#[async_trait]
impl FunctionService for Smdp {
    fn functions(&self) -> Vec<Function> {
        OPERATIONS.iter().chain(DIRECT).copied().collect()
    }

    async fn call(
        &self,
        caller: &Caller,
        request: AnyRequest,
        wait: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        self.release_previous_run().await;
        let function = request.function();
        let is_op = OPERATIONS.contains(&function);
        if !is_op && !DIRECT.contains(&function) {
            return Err(ServiceError::NotServed(function.name()));
        }
        if let Err(e) = self.authorize(caller, function) {
            self.refuse_audit(caller, function, &e.to_string()).await;
            return Err(e);
        }
        let header = header_of(&request).map_err(ServiceError::Internal)?;
        if header.function_requester_identifier != caller.id {
            let e = ServiceError::Forbidden(format!(
                "FunctionRequesterIdentifier {:?} is not the caller {:?}",
                header.function_requester_identifier, caller.id
            ));
            self.refuse_audit(caller, function, &e.to_string()).await;
            return Err(e);
        }
        let fcid = header.function_call_identifier.as_str().to_owned();
        let hash = body_hash(&request)?;
        let now = esim_service::now();
        let op_id = if is_op {
            Some(OperationId::random()?)
        } else {
            None
        };
        let rec = IdempotencyRecord {
            caller: caller.id.clone(),
            function_call_id: fcid.clone(),
            function: function.name().to_owned(),
            request_hash: hash,
            operation_id: op_id.clone(),
            response: None,
            created_at: now,
            completed_at: None,
        };
        let op_id = match self.inner.store.begin_call(&rec).await? {
            BeginOutcome::New(_) => op_id,
            BeginOutcome::Repeat(prev) => {
                if prev.request_hash != hash || prev.function != function.name() {
                    return Err(ServiceError::Conflict(fcid));
                }
                if let Some(resp) = prev.response {
                    let v = serde_json::from_slice(&resp)
                        .map_err(|e| ServiceError::Internal(format!("stored answer: {e}")))?;
                    return Ok(CallOutcome::Done(v));
                }
                match prev.operation_id {
                    Some(id) => match self.inner.store.get_operation(&id).await {
                        Ok(_) => {
                            let waiter = self.inner.waiting.enter(&id);
                            return self.wait_for(&id, function, wait, waiter).await;
                        }
                        // Crashed between the two records: start it now.
                        Err(StoreError::NotFound { .. }) => Some(id),
                        Err(e) => return Err(e.into()),
                    },
                    // A direct function whose first execution did not record its answer
                    // (crashed, or running now): executing it again is harmless (it only
                    // forwards a notification and releases a Profile at most once, or computes
                    // the same Delete Token again).
                    None if !is_op => None,
                    None => {
                        return Err(ServiceError::Internal(
                            "the first call with this FunctionCallIdentifier has no operation"
                                .into(),
                        ));
                    }
                }
            }
            _ => return Err(ServiceError::Internal("unexpected begin outcome".into())),
        };
        match op_id {
            Some(id) => {
                // Counted as waiting before the operation can end (no callback for a result
                // this call returns).
                let waiter = self.inner.waiting.enter(&id);
                let op = self
                    .start_operation(caller, &request, id.clone(), &fcid, now)
                    .await?;
                if op.id != id {
                    drop(waiter);
                    let waiter = self.inner.waiting.enter(&op.id);
                    return self.wait_for(&op.id, function, wait, waiter).await;
                }
                self.wait_for(&op.id, function, wait, waiter).await
            }
            None => {
                let (status, body) = self.direct(caller, &request).await;
                let end = esim_service::now();
                let response = esim_service::response(now, end, status.clone(), body);
                let bytes = serde_json::to_vec(&response)
                    .map_err(|e| ServiceError::Internal(e.to_string()))?;
                match self
                    .inner
                    .store
                    .complete_call(&caller.id, &fcid, &bytes, end)
                    .await
                {
                    Ok(_) | Err(StoreError::InvalidState { .. }) => {}
                    Err(e) => return Err(e.into()),
                }
                self.inner
                    .audit(AuditEntry {
                        id: 0,
                        at: end,
                        eid: eid_of(&request),
                        iccid: None,
                        isd_p_aid: None,
                        operator: Some(caller.id.clone()),
                        function: format!("{:?}.{}", function.interface(), function.name()),
                        function_call_id: Some(fcid),
                        status: status_text(&status),
                        detail: serde_json::json!({ "status": status }),
                    })
                    .await;
                Ok(CallOutcome::Done(response))
            }
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
        if !op.kind.starts_with(KIND_PREFIX)
            || (op.owner != caller.id && !caller.has_role(role::ADMIN))
        {
            return Err(ServiceError::UnknownOperation(operation.to_string()));
        }
        let function = serde_json::from_value::<OpState>(op.state.clone())
            .map(|s| s.function)
            .unwrap_or(Function::Es2DownloadProfile);
        let waiter = self.inner.waiting.enter(operation);
        self.wait_for(operation, function, wait, waiter).await
    }
}

/// Runs the SM-DP's recovery loop until `shutdown` completes: every
/// [`SmdpConfig::poll_interval`], operations abandoned by a dead replica are recovered
/// ([`Smdp::recover`]). The service itself is served by adapters over [`Smdp`]; this returns
/// the instance it ran on once stopped.
pub async fn run(
    config: SmdpConfig,
    store: Arc<dyn Store>,
    sealer: Arc<dyn Sealer>,
    smsrs: HashMap<String, Arc<dyn FunctionClient>>,
    callbacks: Arc<dyn Callbacks>,
    shutdown: impl Future<Output = ()> + Send,
) -> Smdp {
    let smdp = Smdp::new(config, store, sealer, smsrs, callbacks);
    smdp.run_recovery(shutdown).await;
    smdp
}

impl Smdp {
    /// A stable replica name (see `SmdpConfig::holder`): what the previous incarnation held is
    /// recovered at once instead of after its lease. Runs once, before this instance starts or
    /// recovers any operation, so it never takes a lease from under one of its own running
    /// operations (which recovery would then roll back).
    async fn release_previous_run(&self) {
        let inner = &self.inner;
        inner
            .released
            .get_or_init(|| async {
                match inner
                    .store
                    .release_leases(&inner.config.holder, esim_service::now())
                    .await
                {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(n, "recovering the operations of the previous run"),
                    Err(e) => tracing::warn!("releasing the previous run's leases: {e}"),
                }
            })
            .await;
    }

    /// The recovery loop of [`run`] on this instance.
    pub async fn run_recovery(&self, shutdown: impl Future<Output = ()> + Send) {
        tokio::pin!(shutdown);
        self.release_previous_run().await;
        loop {
            if let Err(e) = self.recover(esim_service::now()).await {
                tracing::warn!("recovery pass: {e}");
            }
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(self.inner.config.poll_interval) => {}
            }
        }
    }
}
