//! Persisted operations of the SM-DP (DESIGN §4): the serialized step, saving it before each
//! ES3 call with a renewed lease, and finishing with the SGP.02 response (stored as the
//! operation's result and as the idempotency answer, audited, called back).

use std::sync::Arc;

use esim_codec::{Aid, Iccid};
use esim_proto::common::FunctionExecutionStatus;
use esim_proto::{AnyRequest, Function, HexBytes, RequestHeader};
use esim_service::{Callback, ClientError};
use esim_store::{AuditEntry, Operation, OperationStatus, OperationUpdate, StoreError, Timestamp};
use serde::{Deserialize, Serialize};

use crate::service::Inner;

/// The transport error of an ES3 call whose operation another replica took over.
pub(crate) const TAKEN_OVER: &str = "the operation was taken over by another replica";

/// Prefix of the operation kinds of the SM-DP (the store may be shared with an SM-SR).
pub(crate) const KIND_PREFIX: &str = "SM-DP/";

/// Where an operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Phase {
    /// Nothing done yet (download: the inventory is being allocated).
    Start,
    /// Download: a Profile is allocated; GetEIS and CreateISDP not sent yet.
    Allocated,
    /// Download: ES3.CreateISDP sent (an ISD-P may exist).
    CreatingIsdp,
    /// Download: key establishment / SCP03t in progress (crypto session in memory only).
    Downloading,
    /// Download: deleting the ISD-P after a failure.
    CleaningUp,
    /// Download: the card installed the Profile; ProfileDownloadCompleted to send.
    Installed,
    /// Download: ProfileDownloadCompleted done; EnableProfile to send (if asked).
    Reported,
    /// A forwarded function: the ES3 call is being made.
    Forwarding,
}

/// The serialized step of an operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OpState {
    /// The function.
    pub function: Function,
    /// The request JSON as received.
    pub request: String,
    /// `ProcessingStart` (ms).
    pub processing_start: i64,
    /// Where it is.
    pub phase: Phase,
    /// The Profile (download: once allocated).
    pub iccid: Option<Iccid>,
    /// The ISD-P (download: once CreateISDP answered).
    pub isdp_aid: Option<Aid>,
    /// Number of SendData calls made (download).
    pub sends: u32,
    /// The last card response of the download (`EuiccResponseData`).
    pub euicc_response_data: Option<HexBytes>,
    /// Why a download is being cleaned up.
    pub failure: Option<FunctionExecutionStatus>,
}

impl OpState {
    pub(crate) fn new(function: Function, request: String, start: Timestamp) -> Self {
        OpState {
            function,
            request,
            processing_start: start.0,
            phase: Phase::Start,
            iccid: None,
            isdp_aid: None,
            sends: 0,
            euicc_response_data: None,
            failure: None,
        }
    }
}

/// Why a driver stopped without finishing (the operation is recovered later).
#[derive(Debug, thiserror::Error)]
pub(crate) enum DriverError {
    /// The store failed, or the lease was lost to another replica.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The stored step could not be read.
    #[error("corrupt operation state: {0}")]
    Corrupt(String),
    /// The SM-SR could not be reached for a step that must happen (the clean-up of a failed
    /// download): the operation stays where it is and is taken up again by the recovery loop
    /// once its lease has run out.
    #[error("SM-SR unreachable: {0}")]
    Unreachable(String),
}

/// A running operation.
pub(crate) struct Run {
    pub inner: Arc<Inner>,
    pub op: Operation,
    pub st: OpState,
    pub request: AnyRequest,
    pub header: RequestHeader,
}

impl Run {
    pub(crate) fn load(inner: Arc<Inner>, op: Operation) -> Result<Self, DriverError> {
        let st: OpState = serde_json::from_value(op.state.clone())
            .map_err(|e| DriverError::Corrupt(e.to_string()))?;
        let request = esim_proto::decode_request(st.function, &st.request)
            .map_err(|e| DriverError::Corrupt(e.to_string()))?;
        let header =
            crate::service::header_of(&request).map_err(|e| DriverError::Corrupt(e.to_string()))?;
        Ok(Run {
            inner,
            op,
            st,
            request,
            header,
        })
    }

    /// Renews the lease and saves the step (before an external call).
    pub(crate) async fn save(&mut self) -> Result<(), DriverError> {
        let now = esim_service::now();
        let store = &self.inner.store;
        let claimed = store
            .claim_operation(
                &self.op.id,
                &self.inner.config.holder,
                now,
                now.plus_ms(self.inner.config.lease_ms()),
            )
            .await?;
        let state =
            serde_json::to_value(&self.st).map_err(|e| DriverError::Corrupt(e.to_string()))?;
        self.op = store
            .save_step(
                &claimed.id,
                claimed.version,
                &OperationUpdate {
                    state,
                    status: OperationStatus::Runnable,
                    wake_at: None,
                    result: None,
                    release_lease: false,
                    now,
                },
            )
            .await?;
        Ok(())
    }

    /// A call identifier for an ES3 call of this operation, stable across restarts.
    pub(crate) fn call_id(&self, step: &str) -> String {
        format!("{}.{step}", self.op.id)
    }

    /// Calls the SM-SR `smsr_id` (ES3). A transport failure (the SM-SR restarting, a broken
    /// connection) is retried with the same request — the same `FunctionCallIdentifier`, which
    /// the SM-SR answers without executing twice — with back-off until
    /// [`crate::SmdpConfig::es3_timeout`] has passed; the lease is renewed between attempts.
    pub(crate) async fn es3(
        &self,
        smsr_id: &str,
        request: &AnyRequest,
    ) -> Result<serde_json::Value, ClientError> {
        let deadline = tokio::time::Instant::now() + self.inner.config.es3_timeout;
        let mut delay = std::time::Duration::from_millis(250);
        loop {
            match self.es3_once(smsr_id, request).await {
                Err(ClientError::Transport(m))
                    if m != TAKEN_OVER && tokio::time::Instant::now() + delay < deadline =>
                {
                    tracing::warn!(
                        op = %self.op.id,
                        function = request.function().name(),
                        "ES3 call failed ({m}); repeating it in {delay:?}"
                    );
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(std::time::Duration::from_secs(5));
                    let now = esim_service::now();
                    match self
                        .inner
                        .store
                        .claim_operation(
                            &self.op.id,
                            &self.inner.config.holder,
                            now,
                            now.plus_ms(self.inner.config.lease_ms()),
                        )
                        .await
                    {
                        Ok(_) => {}
                        Err(StoreError::InvalidState { .. }) => {
                            return Err(ClientError::Transport(TAKEN_OVER.into()));
                        }
                        Err(e) => tracing::warn!(op = %self.op.id, "renewing the lease: {e}"),
                    }
                }
                other => return other,
            }
        }
    }

    /// One attempt of [`Run::es3`], renewing the lease while the SM-SR works.
    async fn es3_once(
        &self,
        smsr_id: &str,
        request: &AnyRequest,
    ) -> Result<serde_json::Value, ClientError> {
        let client = self
            .inner
            .smsrs
            .get(smsr_id)
            .ok_or_else(|| ClientError::Refused {
                status: 0,
                message: format!("no ES3 client for SM-SR {smsr_id:?}"),
            })?;
        tracing::debug!(op = %self.op.id, function = request.function().name(), "ES3 call");
        // The lease is renewed while the SM-SR works (ES5 over SMS can take minutes); a lost
        // lease (another replica took the operation over) abandons the call.
        let call = client.call(request, self.inner.config.es3_timeout);
        tokio::pin!(call);
        let period = (self.inner.config.lease / 3).max(std::time::Duration::from_millis(10));
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        loop {
            tokio::select! {
                r = &mut call => return r,
                _ = tick.tick() => {
                    let now = esim_service::now();
                    let renewed = self
                        .inner
                        .store
                        .claim_operation(
                            &self.op.id,
                            &self.inner.config.holder,
                            now,
                            now.plus_ms(self.inner.config.lease_ms()),
                        )
                        .await;
                    match renewed {
                        Ok(_) => {}
                        Err(StoreError::InvalidState { .. }) => {
                            return Err(ClientError::Transport(TAKEN_OVER.into()));
                        }
                        Err(e) => tracing::warn!(op = %self.op.id, "renewing the lease: {e}"),
                    }
                }
            }
        }
    }

    /// Ends the operation with `status` (and `body` if executed): stores the response as the
    /// result and the idempotency answer, audits, calls back the requester.
    pub(crate) async fn finish(
        mut self,
        status: FunctionExecutionStatus,
        body: Option<serde_json::Value>,
    ) -> Result<(), DriverError> {
        let now = esim_service::now();
        let executed = status.is_executed();
        let response = esim_service::response(
            Timestamp(self.st.processing_start),
            now,
            status.clone(),
            body,
        );
        let state =
            serde_json::to_value(&self.st).map_err(|e| DriverError::Corrupt(e.to_string()))?;
        let store = self.inner.store.clone();
        // The lease may have expired while waiting for the SM-SR: take it again first.
        let claimed = store
            .claim_operation(
                &self.op.id,
                &self.inner.config.holder,
                now,
                now.plus_ms(self.inner.config.lease_ms()),
            )
            .await?;
        self.op = store
            .save_step(
                &claimed.id,
                claimed.version,
                &OperationUpdate {
                    state,
                    status: if executed {
                        OperationStatus::Succeeded
                    } else {
                        OperationStatus::Failed
                    },
                    wake_at: None,
                    result: Some(response.clone()),
                    release_lease: true,
                    now,
                },
            )
            .await?;
        let fcid = self.header.function_call_identifier.as_str().to_owned();
        let bytes = serde_json::to_vec(&response).unwrap_or_default();
        match store
            .complete_call(&self.op.owner, &fcid, &bytes, now)
            .await
        {
            Ok(_) | Err(StoreError::InvalidState { .. }) => {}
            Err(e) => tracing::warn!(op = %self.op.id, "idempotency record: {e}"),
        }
        self.inner
            .audit(AuditEntry {
                id: 0,
                at: now,
                eid: self.op.eid.clone(),
                iccid: self.st.iccid.clone(),
                isd_p_aid: self.st.isdp_aid.clone(),
                operator: Some(self.op.owner.clone()),
                function: format!("ES2.{}", self.st.function.name()),
                function_call_id: Some(fcid.clone()),
                status: status_text(&status),
                detail: serde_json::json!({
                    "operation": self.op.id.as_str(),
                    "status": status,
                }),
            })
            .await;
        // A call still waiting returns the result as `Done`: no callback then (row 78).
        let call_back = self.inner.waiting.should_call_back(&self.op.id);
        if self.st.function != Function::Es2GetEis && call_back {
            let cb = Callback::Result {
                function: self.st.function,
                operation_id: self.op.id.clone(),
                function_call_id: fcid,
                response,
            };
            if let Err(e) = self.inner.callbacks.deliver(&self.op.owner, cb).await {
                tracing::warn!(op = %self.op.id, "result callback to {}: {e}", self.op.owner);
            }
        }
        self.inner.done.notify_waiters();
        Ok(())
    }
}

/// The `Status` text of a status (for the audit trail).
pub(crate) fn status_text(s: &FunctionExecutionStatus) -> String {
    serde_json::to_value(s.status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
