//! Domain records kept by the SM-SR and the SM-DP (digest §3, §4.1).
//!
//! Identifiers are the codec newtypes ([`Eid`], [`Iccid`], [`Imsi`], [`Aid`]); times are
//! [`Timestamp`]s passed in by the caller (the store has no clock); secrets are
//! [`SealedBlob`]s produced by a [`crate::Sealer`] before they reach the store.

use std::collections::BTreeMap;
use std::fmt;

use esim_codec::ids::{Aid, Eid, Iccid, Imsi};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// Milliseconds since the Unix epoch (UTC). The store never reads a clock: every
/// time is given by the caller, so simulations can run on a virtual clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// `self` plus `ms` milliseconds (saturating).
    pub fn plus_ms(self, ms: i64) -> Self {
        Self(self.0.saturating_add(ms))
    }
}

/// A secret sealed by a [`crate::Sealer`]: the id of the sealing key and the
/// authenticated ciphertext. Opaque to the store; `Debug` shows only sizes.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedBlob {
    /// Identifier of the key that sealed the blob (for key rotation).
    pub key_id: String,
    /// Authenticated ciphertext (format in [`crate::seal::AesSealer`]).
    pub bytes: Vec<u8>,
}

impl fmt::Debug for SealedBlob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SealedBlob(key {}, {} bytes)",
            self.key_id,
            self.bytes.len()
        )
    }
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[non_exhaustive]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v),+
        }
        impl $name {
            /// The stored text form.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),+ }
            }
            /// Parses the stored text form.
            pub fn parse(s: &str) -> Result<Self, StoreError> {
                match s {
                    $($s => Ok(Self::$v),)+
                    other => Err(StoreError::Corrupt(format!(
                        concat!("unknown ", stringify!($name), " {:?}"), other
                    ))),
                }
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum! {
    /// State of a Profile in the EIS (digest §4.1 "Profile state values").
    ProfileState {
        /// ISD-P creation requested, not confirmed (hidden from GetEIS) [EK 05].
        InCreation = "In-Creation",
        /// ISD-P created (SELECTABLE / PERSONALIZED), download not completed.
        Created = "Created",
        /// Installed and disabled.
        Disabled = "Disabled",
        /// Installed and enabled (at most one per eUICC).
        Enabled = "Enabled",
    }
}

text_enum! {
    /// Keyset types of the ISD-R in the EIS (digest §4.1 `Keyset.Type`).
    KeysetKind {
        /// SCP80 (SMS, ETSI TS 102 225).
        Scp80 = "SCP80",
        /// SCP81 (PSK-TLS).
        Scp81 = "SCP81",
        /// SCP03.
        Scp03 = "SCP03",
        /// Delete-token generation.
        TokenGeneration = "TokenGeneration",
        /// Receipt verification.
        ReceiptVerification = "ReceiptVerification",
        /// CA keys.
        Ca = "CA",
    }
}

text_enum! {
    /// Status of a persisted [`Operation`].
    OperationStatus {
        /// Ready to run (from `wake_at`, if set); claimable by a worker.
        Runnable = "runnable",
        /// Waiting for an external event (a card response, a notification, an
        /// ES3 call); not claimed by the scheduler, continued by whoever
        /// receives the event ([`crate::OperationStore::claim_operation`]).
        /// A `wake_at` time makes it claimable again (timeouts).
        Waiting = "waiting",
        /// Finished successfully (terminal).
        Succeeded = "succeeded",
        /// Finished with an error, rolled back where possible (terminal).
        Failed = "failed",
    }
}

impl OperationStatus {
    /// Terminal statuses never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

text_enum! {
    /// Status of a [`QueuedCommand`].
    CommandStatus {
        /// Waiting to be sent (from `not_before`).
        Pending = "pending",
        /// Leased by a sender; not acknowledged yet.
        InFlight = "in_flight",
        /// Delivered and answered (terminal).
        Done = "done",
        /// Given up (terminal).
        Failed = "failed",
        /// Past its ValidityPeriod before delivery (terminal).
        Expired = "expired",
    }
}

impl CommandStatus {
    /// Terminal statuses never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Done | Self::Failed | Self::Expired)
    }
}

text_enum! {
    /// Life cycle of an SM-DP inventory Profile. Only forward moves exist:
    /// available → allocated → installed → released (allocated → released too).
    /// A released ICCID is never issued again.
    InventoryState {
        /// In stock.
        Available = "available",
        /// Reserved for one eUICC by a download.
        Allocated = "allocated",
        /// Installed on that eUICC.
        Installed = "installed",
        /// Deleted from the card or the download failed; never reused.
        Released = "released",
    }
}

/// The SM-SR's record of one eUICC (digest §4.1), without its Profiles and
/// keysets (kept as [`ProfileRecord`]s and [`KeysetRecord`]s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EisRecord {
    /// The EID.
    pub eid: Eid,
    /// EUM identifier.
    pub eum_id: String,
    /// The SM-SR currently managing this eUICC.
    pub smsr_id: String,
    /// Platform type (from the signed part, for eligibility queries).
    pub platform_type: String,
    /// Platform version.
    pub platform_version: String,
    /// The EUM-signed EIS document exactly as registered
    /// (`esim_crypto::pki::EisDocument` JSON), sealed because it carries the
    /// initial ISD-R keys. Kept verbatim so the signature can be re-verified
    /// and handed over on ES7.
    pub signed_eis: SealedBlob,
    /// Remaining memory (bytes).
    pub remaining_memory: u32,
    /// Memory available for Profiles (bytes).
    pub available_memory_for_profiles: u32,
    /// Time of the last audit.
    pub last_audit: Option<Timestamp>,
    /// Operation holding the eUICC locked (e.g. an SM-SR change, digest §3.6 step 2).
    pub locked_by: Option<OperationId>,
    /// `AdditionalProperties` (name → value).
    pub additional_properties: BTreeMap<String, String>,
    /// Optimistic concurrency version; the store sets it (1 on registration,
    /// +1 per update).
    pub version: i64,
    /// Registration time.
    pub registered_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// `SubscriptionAddress` of a Profile.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SubscriptionAddress {
    /// IMSI.
    pub imsi: Option<Imsi>,
    /// MSISDN (digits).
    pub msisdn: Option<String>,
}

/// One Profile of an eUICC in the EIS (digest §4.1 `ProfileInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileRecord {
    /// The eUICC.
    pub eid: Eid,
    /// ICCID (unique per eUICC).
    pub iccid: Iccid,
    /// AID of the ISD-P (unique per eUICC).
    pub isd_p_aid: Aid,
    /// Owning MNO.
    pub mno_id: String,
    /// SM-DP that installed it.
    pub smdp_id: String,
    /// Profile type.
    pub profile_type: String,
    /// State.
    pub state: ProfileState,
    /// Fall-back attribute (at most one per eUICC).
    pub fallback: bool,
    /// Subscription address.
    pub subscription_address: SubscriptionAddress,
    /// POL2 rules as the protocol layer serialises them (`None`: no POL2).
    pub pol2: Option<serde_json::Value>,
    /// Allocated memory (bytes).
    pub allocated_memory: u32,
    /// Free memory (bytes).
    pub free_memory: u32,
    /// Last change.
    pub updated_at: Timestamp,
}

/// An ISD-R keyset of an eUICC (digest §4.1 `Keyset`), keys sealed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysetRecord {
    /// The eUICC.
    pub eid: Eid,
    /// Key version number.
    pub kvn: u8,
    /// Keyset type.
    pub kind: KeysetKind,
    /// The keys (sealed; the protocol layer chooses the plaintext layout).
    pub keys: SealedBlob,
    /// PSK identity (SCP81).
    pub psk_identity: Option<Vec<u8>>,
    /// SCP80: the last counter value used (the next allocation returns a larger
    /// one; see [`crate::CounterStore`]). Initialised from the EIS `Cntr`.
    pub counter: u64,
    /// Creation time.
    pub created_at: Timestamp,
}

/// Identifier of an [`Operation`]: 32 lowercase hex digits (128 random bits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OperationId(String);

impl OperationId {
    /// A fresh random identifier.
    pub fn random() -> Result<Self, StoreError> {
        let b: [u8; 16] = esim_crypto::primitives::random_array()
            .map_err(|e| StoreError::Backend(format!("random operation id: {e}")))?;
        Ok(Self(esim_codec::hex::encode(&b).to_ascii_lowercase()))
    }

    /// Parses an identifier (1–64 characters of `[0-9A-Za-z_-]`).
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_string()))
        } else {
            Err(StoreError::Corrupt(format!("invalid operation id {s:?}")))
        }
    }

    /// The text form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for OperationId {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Self::parse(s)
    }
}

impl TryFrom<String> for OperationId {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, StoreError> {
        Self::parse(&s)
    }
}

impl From<OperationId> for String {
    fn from(id: OperationId) -> String {
        id.0
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A lease: who runs an operation (or sends a command) and until when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Worker / replica identifier.
    pub holder: String,
    /// The lease ends at this time unless renewed.
    pub until: Timestamp,
}

/// A persisted procedure (DESIGN §4): its state is saved before each external
/// step, so any replica can continue it after a crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// Identifier.
    pub id: OperationId,
    /// Procedure name, e.g. `"ES2.DownloadProfile"`.
    pub kind: String,
    /// The caller that started it (function requester / operator id).
    pub owner: String,
    /// `FunctionCallIdentifier` of the request (unique per owner).
    pub function_call_id: Option<String>,
    /// The eUICC it works on, if any.
    pub eid: Option<Eid>,
    /// The serialized step (the protocol core's state).
    pub state: serde_json::Value,
    /// Status.
    pub status: OperationStatus,
    /// Not claimable before this time (timers, back-off, timeouts).
    pub wake_at: Option<Timestamp>,
    /// Final result (response body) once terminal.
    pub result: Option<serde_json::Value>,
    /// Current lease.
    pub lease: Option<Lease>,
    /// Optimistic concurrency version; +1 on every change including claims.
    pub version: i64,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A new [`Operation`] (status and version are set by the store).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOperation {
    /// Identifier (e.g. [`OperationId::random`]).
    pub id: OperationId,
    /// Procedure name.
    pub kind: String,
    /// The caller.
    pub owner: String,
    /// `FunctionCallIdentifier`.
    pub function_call_id: Option<String>,
    /// The eUICC.
    pub eid: Option<Eid>,
    /// Initial step.
    pub state: serde_json::Value,
    /// Initial status (usually [`OperationStatus::Runnable`]).
    pub status: OperationStatus,
    /// Not claimable before.
    pub wake_at: Option<Timestamp>,
    /// If set, the creator holds the lease from the start (it runs the first
    /// step itself); otherwise a worker claims it.
    pub lease: Option<Lease>,
    /// Creation time.
    pub now: Timestamp,
}

/// Outcome of [`crate::OperationStore::create_operation`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreateOutcome {
    /// The operation was created.
    Created(Operation),
    /// An operation with the same owner and `FunctionCallIdentifier` exists:
    /// the request is a repeat; nothing was created.
    Existing(Operation),
}

impl CreateOutcome {
    /// The operation, new or existing.
    pub fn operation(&self) -> &Operation {
        match self {
            Self::Created(o) | Self::Existing(o) => o,
        }
    }
}

/// A step saved by [`crate::OperationStore::save_step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationUpdate {
    /// New serialized step.
    pub state: serde_json::Value,
    /// New status.
    pub status: OperationStatus,
    /// New wake time.
    pub wake_at: Option<Timestamp>,
    /// Result (set with a terminal status).
    pub result: Option<serde_json::Value>,
    /// Drop the lease (when handing over to an external event or finishing).
    pub release_lease: bool,
    /// Change time.
    pub now: Timestamp,
}

/// One command of a per-eUICC ordered queue (ES5 traffic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedCommand {
    /// Store-wide identifier.
    pub id: i64,
    /// The eUICC.
    pub eid: Eid,
    /// Position in the eUICC's queue (strictly increasing per eUICC, from 1).
    pub seq: i64,
    /// Operation that queued it.
    pub operation_id: Option<OperationId>,
    /// The bytes to send (e.g. a secured packet or a command script).
    pub payload: Vec<u8>,
    /// Delivery attempts so far (incremented on each claim).
    pub attempts: u32,
    /// Not sent before this time (back-off).
    pub not_before: Timestamp,
    /// End of the ValidityPeriod: not sent after this time.
    pub expires_at: Option<Timestamp>,
    /// Status.
    pub status: CommandStatus,
    /// Lease while in flight.
    pub lease: Option<Lease>,
    /// Last delivery error.
    pub last_error: Option<String>,
    /// Enqueue time.
    pub enqueued_at: Timestamp,
    /// The answer recorded by [`crate::QueueStore::ack`].
    #[serde(default)]
    pub result: Option<Vec<u8>>,
}

/// A new command for [`crate::QueueStore::enqueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCommand {
    /// The eUICC.
    pub eid: Eid,
    /// Operation that queues it.
    pub operation_id: Option<OperationId>,
    /// The bytes.
    pub payload: Vec<u8>,
    /// Not before.
    pub not_before: Timestamp,
    /// End of the ValidityPeriod.
    pub expires_at: Option<Timestamp>,
    /// Enqueue time.
    pub now: Timestamp,
}

/// A Profile of the SM-DP's inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryProfile {
    /// ICCID (never issued twice).
    pub iccid: Iccid,
    /// IMSI.
    pub imsi: Option<Imsi>,
    /// Profile type.
    pub profile_type: String,
    /// Owning MNO.
    pub owner: String,
    /// Template the package is generated from (if generated).
    pub template: Option<String>,
    /// Ki/OPc (and any other per-profile secrets, or the whole package), sealed.
    pub secrets: SealedBlob,
    /// State.
    pub state: InventoryState,
    /// The eUICC it is allocated to / installed on.
    pub eid: Option<Eid>,
    /// Import time.
    pub imported_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// An API client (MNO, M2M SP, EUM, peer SM-SR/SM-DP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperatorRecord {
    /// Identifier (MNO id / function requester id).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Roles (e.g. `"MNO"`, `"M2M-SP"`, `"EUM"`, `"SM-SR"`, `"SM-DP"`).
    pub roles: Vec<String>,
    /// SHA-256 of each accepted API token ([`crate::hash_token`]); tokens
    /// themselves are never stored.
    pub token_hashes: Vec<[u8; 32]>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// One audit-trail entry (digest §4.1 `AuditTrail`, extended to every call).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Store-assigned, increasing (0 in an entry not yet appended).
    pub id: i64,
    /// Operation date.
    pub at: Timestamp,
    /// The eUICC.
    pub eid: Option<Eid>,
    /// ICCID.
    pub iccid: Option<Iccid>,
    /// ISD-P AID.
    pub isd_p_aid: Option<Aid>,
    /// Requester (operator id).
    pub operator: Option<String>,
    /// Operation type (function name).
    pub function: String,
    /// `FunctionCallIdentifier`.
    pub function_call_id: Option<String>,
    /// Operation execution status (e.g. `"Executed-Success"`).
    pub status: String,
    /// Further details (never secrets).
    pub detail: serde_json::Value,
}

/// Filter for [`crate::AuditStore::query_audit`]; all set fields must match.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditQuery {
    /// Only this eUICC.
    pub eid: Option<Eid>,
    /// Only this requester.
    pub operator: Option<String>,
    /// Only entries at or after.
    pub since: Option<Timestamp>,
    /// Only entries before.
    pub until: Option<Timestamp>,
    /// Only entries with an id greater than this (paging).
    pub after_id: Option<i64>,
    /// At most this many (oldest first).
    pub limit: u32,
}

/// The stored answer to a request, keyed by caller and `FunctionCallIdentifier`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// The caller (function requester).
    pub caller: String,
    /// `FunctionCallIdentifier`.
    pub function_call_id: String,
    /// Function name.
    pub function: String,
    /// SHA-256 of the request body; a repeat with a different body is a conflict
    /// for the caller to report.
    pub request_hash: [u8; 32],
    /// Operation started for it.
    pub operation_id: Option<OperationId>,
    /// The stored response once complete (`None`: still being executed).
    pub response: Option<Vec<u8>>,
    /// First seen.
    pub created_at: Timestamp,
    /// Completion time.
    pub completed_at: Option<Timestamp>,
}

/// Outcome of [`crate::IdempotencyStore::begin_call`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BeginOutcome {
    /// First time this call is seen: execute it, then `complete_call`.
    New(IdempotencyRecord),
    /// A repeat: answer from this record (its response, or "in progress").
    Repeat(IdempotencyRecord),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_enums_round_trip() {
        for st in [
            ProfileState::InCreation,
            ProfileState::Created,
            ProfileState::Disabled,
            ProfileState::Enabled,
        ] {
            assert_eq!(ProfileState::parse(st.as_str()).expect("parse"), st);
            assert_eq!(
                serde_json::to_string(&st).expect("json"),
                format!("\"{}\"", st.as_str())
            );
        }
        assert_eq!(ProfileState::InCreation.as_str(), "In-Creation");
        assert!(matches!(
            CommandStatus::parse("bogus"),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn operation_id() {
        let a = OperationId::random().expect("random");
        let b = OperationId::random().expect("random");
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(OperationId::parse(a.as_str()).expect("parse"), a);
        for bad in ["", "a b", "x;DROP", &"x".repeat(65)] {
            assert!(OperationId::parse(bad).is_err(), "{bad:?}");
        }
        let json = serde_json::to_string(&a).expect("json");
        assert_eq!(serde_json::from_str::<OperationId>(&json).expect("back"), a);
        assert!(serde_json::from_str::<OperationId>("\"a b\"").is_err());
    }

    #[test]
    fn sealed_blob_debug_shows_no_bytes() {
        let b = SealedBlob {
            key_id: "k".into(),
            bytes: vec![0xAB; 40],
        };
        let d = format!("{b:?}");
        assert!(d.contains("40 bytes") && !d.contains("171") && !d.to_lowercase().contains("abab"));
    }
}
