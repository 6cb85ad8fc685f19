//! The ES5 delivery: the contract between the SM-SR's procedures and the card channel.
//!
//! Procedures hand an [`Es5Job`] to an [`Es5Executor`] and await its [`Es5Outcome`]. The
//! executor persists the job in the eUICC's command queue (`esim_store::QueueStore`) before
//! anything is sent, so jobs reach a card in order and one at a time, survive a restart, are
//! retried with back-off and expire with their ValidityPeriod. A job is keyed by its operation
//! and `step`: executing the same (operation, step) again — e.g. after the SM-SR restarted in
//! the middle of it — attaches to the queued command instead of queueing a second one.
//!
//! The implementation: [`Delivery`] ([`engine`]) with its settings ([`DeliveryConfig`],
//! [`config`]), the SCP81 side (trigger, PSK store, administration logic; `https`), and the
//! ISD-R keys read from the sealed keysets of [`crate::keys`] ([`keys`]). Choices where SGP.02
//! is silent: docs/spec-choices.md rows 66–68.

pub mod config;
pub mod engine;
mod https;
pub mod keys;

pub use config::{DeliveryConfig, HttpsSettings, SmppSettings, TransportKind};
pub use engine::{Delivery, DeliveryListeners, RunError, confirmation_job, run};

use async_trait::async_trait;
use esim_apdu::apdu::ResponseApdu;
use esim_apdu::gp::sgp02::Notification;
use esim_codec::{Aid, Eid};
use esim_store::{OperationId, StoreError, Timestamp};
use serde::{Deserialize, Serialize};

/// Where a job goes (digest §2.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobTarget {
    /// The ISD-R.
    IsdR,
    /// An ISD-P (SCP03t data from the SM-DP, or a `3A07` script).
    IsdP(Aid),
}

/// What a job carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobPayload {
    /// C-APDUs (hex each), sent as a TS 102 226 expanded command script; the outcome holds one
    /// response per executed command.
    Apdus(Vec<String>),
    /// Bytes (hex) passed through as they are (SCP03t TLVs for an ISD-P, or an expanded
    /// command script the SM-DP built); the outcome holds the raw answer.
    Raw(String),
}

/// One ES5 unit of work for one eUICC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Es5Job {
    /// The target security domain.
    pub target: JobTarget,
    /// The content.
    pub payload: JobPayload,
    /// The step of the operation this job belongs to (e.g. `"enable"`, `"senddata-3"`); with
    /// the operation id it identifies the job across restarts.
    pub step: String,
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Es5Outcome {
    /// Every command ran (the last status word may still be an error: see `responses`).
    Completed {
        /// The response APDUs (empty for [`JobPayload::Raw`]).
        responses: Vec<ResponseApdu>,
        /// The raw answer (response script, or the ISD-P's SCP03t responses).
        data: Vec<u8>,
    },
    /// The card answered with an error status word (responses up to it included).
    CardError {
        /// Responses received, the failing one last.
        responses: Vec<ResponseApdu>,
        /// The failing status word.
        sw: u16,
    },
    /// The card could not be reached or did not answer after every attempt, or the answer was
    /// unusable; `reason` says which (never key material).
    Unreachable {
        /// What happened.
        reason: String,
    },
    /// The ValidityPeriod ran out before the job completed (SGP.02 `Expired`).
    Expired,
}

/// Errors of the executor itself (not of the card).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The store failed.
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    /// The eUICC has no usable ISD-R keyset for the transport.
    #[error("no usable ISD-R keyset for {0}")]
    NoKeyset(Eid),
    /// The job could not be encoded (bad hex, command too long for the transport).
    #[error("bad job: {0}")]
    BadJob(String),
    /// The executor is shutting down.
    #[error("shutting down")]
    Shutdown,
}

/// Runs ES5 jobs (see the module documentation).
#[async_trait]
pub trait Es5Executor: Send + Sync + std::fmt::Debug {
    /// Queues `job` for `eid` (unless the same operation and step is already queued) and waits
    /// for its outcome. `deadline` is the end of the ValidityPeriod.
    async fn execute(
        &self,
        eid: &Eid,
        operation: &OperationId,
        job: Es5Job,
        deadline: Timestamp,
    ) -> Result<Es5Outcome, DeliveryError>;
}

/// Receives the notifications cards send (digest §3.3) once they are verified. The delivery
/// queues the `3A08` confirmation after `on_notification` returns `Ok` (so a notification the
/// SM-SR could not record is not confirmed, and the card sends it again).
#[async_trait]
pub trait NotificationSink: Send + Sync + std::fmt::Debug {
    /// A notification from `eid` with sequence number `seq`.
    async fn on_notification(
        &self,
        eid: &Eid,
        notification: Notification,
        seq: u16,
    ) -> Result<(), DeliveryError>;
}

/// Ends every command still queued for `eid` (Failed, with `reason` as its error) and returns
/// how many: after an SM-SR change the old SM-SR has no keys for the eUICC any more, so its
/// queued commands could never be sent; whoever waits for one (an operation's
/// [`Es5Executor::execute`]) gets [`Es5Outcome::Unreachable`] with `reason`
/// (docs/spec-choices.md). A command that ended meanwhile is left as it is.
pub async fn end_queue(
    store: &dyn esim_store::Store,
    eid: &Eid,
    reason: &str,
) -> Result<usize, StoreError> {
    let mut ended = 0;
    for c in store.pending_commands(eid).await? {
        match store.fail(c.id, reason).await {
            Ok(()) => ended += 1,
            Err(StoreError::InvalidState { .. } | StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ended)
}
