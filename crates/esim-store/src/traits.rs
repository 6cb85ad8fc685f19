//! The store traits. Every backend implements all of them; [`Store`] bundles
//! them so services can hold an `Arc<dyn Store>` chosen at start-up.
//!
//! # Concurrency model
//!
//! All methods are atomic: either the whole change is visible or none of it.
//! What each backend guarantees for concurrent callers:
//!
//! - **memory**: one mutex around all state; every call is serializable.
//!   For tests and the sans-I/O core's simulations (one process).
//! - **SQLite**: one connection (a single writer, DESIGN §5); calls are
//!   serialized by the pool, and every read-modify-write runs in one
//!   transaction or one `UPDATE … RETURNING` statement. WAL journal, so other
//!   processes may read the file; only one process should serve from it.
//! - **PostgreSQL**: many replicas share the database. Claims use
//!   `SELECT … FOR UPDATE SKIP LOCKED` inside one `UPDATE … RETURNING`, so two
//!   replicas never claim the same operation or command; counters and queue
//!   sequence numbers are single-statement increments (row lock); state
//!   changes check the version in the `WHERE` clause (optimistic concurrency).
//!
//! Leases are times, not connections: a replica that dies leaves its lease to
//! expire, after which any replica may claim the work and continue from the
//! last saved step. Claims and every other change bump an operation's
//! `version`, so a replica that lost its lease gets
//! [`StoreError::VersionMismatch`](crate::StoreError::VersionMismatch) on its next save instead of overwriting
//! the new holder's progress.

use async_trait::async_trait;
use esim_codec::ids::{Eid, Iccid};

use crate::error::StoreResult;
use crate::model::SealedBlob;
use crate::model::{
    AuditEntry, AuditQuery, BeginOutcome, CreateOutcome, EisRecord, IdempotencyRecord,
    InventoryProfile, KeysetRecord, NewCommand, NewOperation, Operation, OperationId,
    OperationUpdate, OperatorRecord, ProfileRecord, ProfileState, QueuedCommand, Timestamp,
};

/// The SM-SR's EIS: eUICCs, their Profiles and ISD-R keysets (digest §4.1).
#[async_trait]
pub trait EisStore: Send + Sync {
    /// Registers an eUICC with its keysets and Profiles in one transaction
    /// (ES1.RegisterEIS, ES7 hand-over). The record's `version` is set to 1.
    /// [`StoreError::Duplicate`](crate::StoreError::Duplicate) if the EID is known.
    async fn register_eis(
        &self,
        eis: &EisRecord,
        keysets: &[KeysetRecord],
        profiles: &[ProfileRecord],
    ) -> StoreResult<()>;
    /// The eUICC's record.
    async fn get_eis(&self, eid: &Eid) -> StoreResult<EisRecord>;
    /// Replaces the record if its stored version is `eis.version`; returns the
    /// new version (`eis.version + 1`).
    async fn update_eis(&self, eis: &EisRecord) -> StoreResult<i64>;
    /// Deletes the eUICC with its Profiles and keysets (after an SM-SR change).
    async fn delete_eis(&self, eid: &Eid) -> StoreResult<()>;
    /// EIDs in ascending order, after `after`, at most `limit`.
    async fn list_eids(&self, after: Option<&Eid>, limit: u32) -> StoreResult<Vec<Eid>>;

    /// Adds a Profile (ES3.CreateISDP). Duplicate if the ICCID or ISD-P AID is
    /// already on this eUICC; NotFound if the eUICC is unknown.
    async fn insert_profile(&self, profile: &ProfileRecord) -> StoreResult<()>;
    /// Replaces a Profile (same EID and ICCID).
    async fn update_profile(&self, profile: &ProfileRecord) -> StoreResult<()>;
    /// One Profile.
    async fn get_profile(&self, eid: &Eid, iccid: &Iccid) -> StoreResult<ProfileRecord>;
    /// All Profiles of an eUICC, by ICCID.
    async fn profiles(&self, eid: &Eid) -> StoreResult<Vec<ProfileRecord>>;
    /// Sets a Profile's state. Setting [`ProfileState::Enabled`] disables the
    /// previously enabled Profile in the same transaction (one enabled Profile
    /// per eUICC, digest §4.1).
    async fn set_profile_state(
        &self,
        eid: &Eid,
        iccid: &Iccid,
        state: ProfileState,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Moves the fall-back attribute to this Profile (clears it elsewhere on the eUICC).
    async fn set_fallback(&self, eid: &Eid, iccid: &Iccid, now: Timestamp) -> StoreResult<()>;
    /// Removes a Profile (after DELETE).
    async fn delete_profile(&self, eid: &Eid, iccid: &Iccid) -> StoreResult<()>;

    /// Adds or replaces a keyset (same EID and KVN). Replacing keeps the larger
    /// of the stored and the given counter, so counters never go back.
    async fn put_keyset(&self, keyset: &KeysetRecord) -> StoreResult<()>;
    /// One keyset.
    async fn get_keyset(&self, eid: &Eid, kvn: u8) -> StoreResult<KeysetRecord>;
    /// All keysets of an eUICC, by KVN.
    async fn keysets(&self, eid: &Eid) -> StoreResult<Vec<KeysetRecord>>;
    /// Removes a keyset (the old SM-SR's keys after an SM-SR change).
    async fn delete_keyset(&self, eid: &Eid, kvn: u8) -> StoreResult<()>;
}

/// SCP80 counters (ETSI TS 102 225 CNTR, 5 bytes) per eUICC keyset.
///
/// Allocate-before-send: the counter is committed before the packet leaves,
/// so a crash after allocation wastes a value but never reuses one.
#[async_trait]
pub trait CounterStore: Send + Sync {
    /// Atomically allocates the next counter of keyset `kvn` and returns it
    /// (strictly greater than every value returned before, also across
    /// replicas and restarts). [`StoreError::Exhausted`](crate::StoreError::Exhausted)
    /// past `FF FF FF FF FF`.
    async fn allocate_counter(&self, eid: &Eid, kvn: u8) -> StoreResult<u64>;
    /// Raises the stored counter to at least `seen` (e.g. a counter the card
    /// reported in a PoR); never lowers it. Returns the stored value.
    async fn raise_counter(&self, eid: &Eid, kvn: u8, seen: u64) -> StoreResult<u64>;
}

/// Persisted operations (DESIGN §4) with leases.
#[async_trait]
pub trait OperationStore: Send + Sync {
    /// Creates an operation, or returns the existing one with the same owner and
    /// `FunctionCallIdentifier` ([`CreateOutcome::Existing`]): a repeated
    /// request is answered, not re-executed.
    async fn create_operation(&self, op: &NewOperation) -> StoreResult<CreateOutcome>;
    /// One operation.
    async fn get_operation(&self, id: &OperationId) -> StoreResult<Operation>;
    /// The operation started by `owner` with this `FunctionCallIdentifier`.
    async fn find_operation(
        &self,
        owner: &str,
        function_call_id: &str,
    ) -> StoreResult<Option<Operation>>;
    /// Saves the next step if the stored version is `expected_version`;
    /// returns the updated operation (version + 1). VersionMismatch otherwise
    /// (someone else claimed or changed it). Terminal operations cannot change
    /// (InvalidState).
    async fn save_step(
        &self,
        id: &OperationId,
        expected_version: i64,
        update: &OperationUpdate,
    ) -> StoreResult<Operation>;
    /// Claims up to `limit` runnable operations for `holder` until `lease_until`:
    /// status Runnable (with no `wake_at` or `wake_at <= now`) or Waiting with
    /// `wake_at <= now`, and no live lease (none, or `until <= now`). Oldest
    /// `wake_at`/creation first.
    /// No two concurrent callers get the same operation.
    async fn claim_runnable(
        &self,
        holder: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Operation>>;
    /// Claims one non-terminal operation regardless of status (to continue it
    /// on an external event). InvalidState if someone else holds a live lease
    /// or the operation is terminal.
    async fn claim_operation(
        &self,
        id: &OperationId,
        holder: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Operation>;
    /// Non-terminal operations whose lease expired before `now` (their holder
    /// probably died), oldest first: recovery resumes or rolls them back.
    async fn expired_leases(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Operation>>;
    /// Ends the leases `holder` holds on non-terminal operations (sets them to expire at
    /// `now`) and returns how many. For a replica with a stable holder name at start-up: what
    /// its previous incarnation held becomes claimable at once instead of after the lease.
    async fn release_leases(&self, holder: &str, now: Timestamp) -> StoreResult<u64>;
    /// Non-terminal operations on an eUICC (e.g. "nothing pending" before an
    /// SM-SR change), oldest first.
    async fn active_operations_for(&self, eid: &Eid) -> StoreResult<Vec<Operation>>;
}

/// One ordered command queue per eUICC (ES5 traffic), with retries, back-off
/// and ValidityPeriod expiry.
///
/// Only the head of a queue (its lowest non-terminal `seq`) is ever handed out,
/// so commands reach a card in order and one at a time.
#[async_trait]
pub trait QueueStore: Send + Sync {
    /// Appends a command; its `seq` is one more than the eUICC's last.
    async fn enqueue(&self, cmd: &NewCommand) -> StoreResult<QueuedCommand>;
    /// Claims the head of `eid`'s queue if it is sendable now: Pending with
    /// `not_before <= now`, or InFlight with an expired lease; and not past
    /// `expires_at`. Marks it InFlight with the lease and counts an attempt.
    async fn claim_next(
        &self,
        eid: &Eid,
        holder: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Option<QueuedCommand>>;
    /// Like [`QueueStore::claim_next`] over all eUICCs: claims up to `limit`
    /// sendable queue heads (at most one per eUICC).
    async fn claim_ready(
        &self,
        holder: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<QueuedCommand>>;
    /// Marks an in-flight command Done (only its lease holder may), keeping `result` (the
    /// card's answer, opaque to the store) for whoever waits for it, also after a restart.
    async fn ack(&self, id: i64, holder: &str, result: Option<&[u8]>) -> StoreResult<()>;
    /// Puts an in-flight command back to Pending until `not_before`
    /// (see [`crate::Backoff`]), recording the error.
    async fn retry(
        &self,
        id: i64,
        holder: &str,
        not_before: Timestamp,
        error: &str,
    ) -> StoreResult<()>;
    /// Marks a non-terminal command Failed.
    async fn fail(&self, id: i64, error: &str) -> StoreResult<()>;
    /// Marks every non-terminal command whose `expires_at` is at or before
    /// `now` (and which is not leased live) Expired, and returns them.
    async fn expire_due(&self, now: Timestamp) -> StoreResult<Vec<QueuedCommand>>;
    /// One command.
    async fn get_command(&self, id: i64) -> StoreResult<QueuedCommand>;
    /// Non-terminal commands of an eUICC in queue order.
    async fn pending_commands(&self, eid: &Eid) -> StoreResult<Vec<QueuedCommand>>;
    /// Every command of `operation`, finished or not, in the order they were queued.
    async fn operation_commands(&self, operation: &OperationId) -> StoreResult<Vec<QueuedCommand>>;
    /// Ends the leases `holder` holds on in-flight commands (they expire at `now`; the next
    /// claim sends them again) and returns how many. See [`OperationStore::release_leases`].
    async fn release_command_leases(&self, holder: &str, now: Timestamp) -> StoreResult<u64>;
}

/// The SM-DP's Profile inventory. An ICCID is imported once and never
/// returns to Available, so it is never issued twice.
#[async_trait]
pub trait InventoryStore: Send + Sync {
    /// Imports Profiles (state must be Available) in one transaction; returns
    /// how many. Duplicate if any ICCID was ever imported.
    async fn import_profiles(&self, profiles: &[InventoryProfile]) -> StoreResult<u64>;
    /// Atomically allocates the Available Profile of `owner` and
    /// `profile_type` with the smallest ICCID to `eid`. Exhausted if none.
    async fn allocate_by_type(
        &self,
        owner: &str,
        profile_type: &str,
        eid: &Eid,
        now: Timestamp,
    ) -> StoreResult<InventoryProfile>;
    /// Atomically allocates this ICCID to `eid` if it is Available
    /// (InvalidState otherwise).
    async fn allocate_iccid(
        &self,
        iccid: &Iccid,
        eid: &Eid,
        now: Timestamp,
    ) -> StoreResult<InventoryProfile>;
    /// Allocated → Installed.
    async fn mark_installed(&self, iccid: &Iccid, now: Timestamp) -> StoreResult<()>;
    /// Allocated or Installed → Released (final).
    async fn release(&self, iccid: &Iccid, now: Timestamp) -> StoreResult<()>;
    /// One inventory Profile.
    async fn get_inventory(&self, iccid: &Iccid) -> StoreResult<InventoryProfile>;
    /// Number of Available Profiles of `owner` and `profile_type`.
    async fn count_available(&self, owner: &str, profile_type: &str) -> StoreResult<u64>;
    /// The Profiles allocated (not yet installed or released) to `eid`, by ICCID: lets a
    /// download resumed after a crash find the Profile it allocated before it could record it.
    async fn allocated_to(&self, eid: &Eid) -> StoreResult<Vec<InventoryProfile>>;
    /// Stores the sealed Master Delete token key of an Allocated or Installed Profile (SGP.02
    /// §3.10: the ISD-P's static SCP03 Key-MAC, sealed by the SM-DP bound to the ICCID),
    /// replacing an earlier one. NotFound for an unknown ICCID, InvalidState otherwise.
    async fn put_token_key(
        &self,
        iccid: &Iccid,
        key: &SealedBlob,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// The sealed token key of a Profile, if stored (a released Profile has none: `release`
    /// erases it). NotFound for an unknown ICCID.
    async fn token_key(&self, iccid: &Iccid) -> StoreResult<Option<SealedBlob>>;
}

/// API clients and their token hashes.
#[async_trait]
pub trait OperatorStore: Send + Sync {
    /// Adds or replaces an operator.
    async fn put_operator(&self, op: &OperatorRecord) -> StoreResult<()>;
    /// One operator.
    async fn get_operator(&self, id: &str) -> StoreResult<OperatorRecord>;
    /// The operator with this token hash ([`crate::hash_token`]).
    async fn operator_by_token_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<OperatorRecord>>;
}

/// The audit trail of every call.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry (its `id` is ignored) and returns the assigned id.
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<i64>;
    /// Entries matching the query, oldest first.
    async fn query_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>>;
}

/// Idempotency keyed by caller and `FunctionCallIdentifier`.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Records the first sight of a call ([`BeginOutcome::New`]) or returns the
    /// existing record ([`BeginOutcome::Repeat`]).
    async fn begin_call(&self, rec: &IdempotencyRecord) -> StoreResult<BeginOutcome>;
    /// Stores the response of a call; a second completion is InvalidState (the
    /// first answer stands).
    async fn complete_call(
        &self,
        caller: &str,
        function_call_id: &str,
        response: &[u8],
        now: Timestamp,
    ) -> StoreResult<IdempotencyRecord>;
    /// The record of a call.
    async fn get_call(
        &self,
        caller: &str,
        function_call_id: &str,
    ) -> StoreResult<Option<IdempotencyRecord>>;
}

/// Everything a server needs; implemented by every backend.
pub trait Store:
    EisStore
    + CounterStore
    + OperationStore
    + QueueStore
    + InventoryStore
    + OperatorStore
    + AuditStore
    + IdempotencyStore
    + std::fmt::Debug
{
}

impl<T> Store for T where
    T: EisStore
        + CounterStore
        + OperationStore
        + QueueStore
        + InventoryStore
        + OperatorStore
        + AuditStore
        + IdempotencyStore
        + std::fmt::Debug
{
}
