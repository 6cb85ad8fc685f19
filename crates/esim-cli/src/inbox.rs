//! An operator's notification endpoint: the ES2 (from its SM-DPs) and ES4 (from its SM-SRs)
//! `Handle…Notification` functions (SGP.02 §5.3.5–5.3.9, §5.5.x; digest §3.3, §3.6), answered
//! `Executed-Success` and kept in order. `esim scenario export` runs one for operator A and
//! checks that the SM-SR change reached it over both interfaces.

use async_trait::async_trait;
use esim_proto::common::FunctionExecutionStatus;
use esim_proto::function::{AnyRequest, Function};
use esim_service::{CallOutcome, Caller, FunctionService, ServiceError};
use esim_store::OperationId;
use std::sync::Mutex;
use std::time::Duration;

/// The notification functions an operator answers.
const SERVED: [Function; 9] = [
    Function::Es2HandleProfileEnabledNotification,
    Function::Es2HandleProfileDisabledNotification,
    Function::Es2HandleProfileDeletedNotification,
    Function::Es2HandleProfileDownloadedNotification,
    Function::Es2HandleSmsrChangeNotification,
    Function::Es4HandleProfileEnabledNotification,
    Function::Es4HandleProfileDisabledNotification,
    Function::Es4HandleProfileDeletedNotification,
    Function::Es4HandleSmsrChangeNotification,
];

/// One notification received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The function, e.g. `Es2HandleSmsrChangeNotification`.
    pub function: Function,
    /// The authenticated sender (an SM-DP or SM-SR identifier).
    pub from: String,
    /// The eUICC.
    pub eid: String,
    /// The Profile (`Handle…Profile…Notification`) or the new `Smsr-id`
    /// (`HandleSMSRChangeNotification`).
    pub subject: String,
}

/// The endpoint: a [`FunctionService`] to serve with `esim_http`.
#[derive(Debug, Default)]
pub struct Inbox {
    received: Mutex<Vec<Received>>,
}

impl Inbox {
    /// Everything received so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .map(|r| r.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn push(&self, r: Received) {
        match self.received.lock() {
            Ok(mut v) => v.push(r),
            Err(p) => p.into_inner().push(r),
        }
    }
}

#[async_trait]
impl FunctionService for Inbox {
    fn functions(&self) -> Vec<Function> {
        SERVED.to_vec()
    }

    async fn call(
        &self,
        caller: &Caller,
        request: AnyRequest,
        _wait: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        let function = request.function();
        let (eid, subject) = match &request {
            AnyRequest::Es2HandleProfileEnabledNotification(r)
            | AnyRequest::Es2HandleProfileDisabledNotification(r)
            | AnyRequest::Es2HandleProfileDeletedNotification(r)
            | AnyRequest::Es2HandleProfileDownloadedNotification(r)
            | AnyRequest::Es4HandleProfileEnabledNotification(r)
            | AnyRequest::Es4HandleProfileDisabledNotification(r)
            | AnyRequest::Es4HandleProfileDeletedNotification(r) => {
                (r.body.eid.to_string(), r.body.iccid.as_str().to_owned())
            }
            AnyRequest::Es2HandleSmsrChangeNotification(r)
            | AnyRequest::Es4HandleSmsrChangeNotification(r) => {
                (r.body.eis.eid().to_string(), r.body.eis.smsr_id.clone())
            }
            _ => return Err(ServiceError::NotServed(function.name())),
        };
        tracing::info!(function = function.name(), from = %caller.id, eid, subject, "notification received");
        self.push(Received {
            function,
            from: caller.id.clone(),
            eid,
            subject,
        });
        let t = esim_service::now();
        Ok(CallOutcome::Done(esim_service::response::<()>(
            t,
            t,
            FunctionExecutionStatus::success(),
            None,
        )))
    }

    async fn outcome(
        &self,
        _caller: &Caller,
        operation: &OperationId,
        _wait: Duration,
    ) -> Result<CallOutcome, ServiceError> {
        Err(ServiceError::UnknownOperation(operation.to_string()))
    }
}
