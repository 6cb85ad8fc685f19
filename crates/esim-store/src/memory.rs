//! In-memory backend: for tests and the sans-I/O core's simulations.
//!
//! One mutex around all state; every call takes it once and never awaits while
//! holding it, so every call is atomic and calls are serializable. Nothing
//! survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use esim_codec::ids::{Eid, Iccid};

use crate::error::{StoreError, StoreResult};
use crate::model::*;
use crate::traits::*;

/// Largest SCP80 counter (5 bytes).
pub(crate) const COUNTER_MAX: u64 = 0xFF_FFFF_FFFF;

#[derive(Debug, Default)]
struct State {
    eis: BTreeMap<Eid, EisRecord>,
    profiles: BTreeMap<(Eid, Iccid), ProfileRecord>,
    keysets: BTreeMap<(Eid, u8), KeysetRecord>,
    ops: BTreeMap<OperationId, Operation>,
    op_calls: HashMap<(String, String), OperationId>,
    commands: BTreeMap<i64, QueuedCommand>,
    next_command_id: i64,
    queue_seq: HashMap<Eid, i64>,
    inventory: BTreeMap<Iccid, InventoryProfile>,
    token_keys: BTreeMap<Iccid, SealedBlob>,
    operators: BTreeMap<String, OperatorRecord>,
    audit: Vec<AuditEntry>,
    calls: BTreeMap<(String, String), IdempotencyRecord>,
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> StoreResult<MutexGuard<'_, State>> {
        self.state
            .lock()
            .map_err(|_| StoreError::Backend("memory store mutex poisoned".into()))
    }
}

fn lease_free(lease: &Option<Lease>, now: Timestamp) -> bool {
    lease.as_ref().is_none_or(|l| l.until <= now)
}

fn op_schedulable(op: &Operation, now: Timestamp) -> bool {
    let due = match op.status {
        OperationStatus::Runnable => op.wake_at.is_none_or(|w| w <= now),
        OperationStatus::Waiting => op.wake_at.is_some_and(|w| w <= now),
        _ => false,
    };
    due && lease_free(&op.lease, now)
}

fn op_order_key(op: &Operation) -> (Timestamp, Timestamp, OperationId) {
    (
        op.wake_at.unwrap_or(op.created_at),
        op.created_at,
        op.id.clone(),
    )
}

fn cmd_sendable(c: &QueuedCommand, now: Timestamp) -> bool {
    let ready = match c.status {
        CommandStatus::Pending => c.not_before <= now,
        CommandStatus::InFlight => lease_free(&c.lease, now),
        _ => false,
    };
    ready && c.expires_at.is_none_or(|e| e > now)
}

impl State {
    fn eis_exists(&self, eid: &Eid) -> StoreResult<()> {
        if self.eis.contains_key(eid) {
            Ok(())
        } else {
            Err(StoreError::not_found("eis", eid))
        }
    }

    fn head_of(&self, eid: &Eid) -> Option<i64> {
        self.commands
            .values()
            .filter(|c| &c.eid == eid && !c.status.is_terminal())
            .min_by_key(|c| c.seq)
            .map(|c| c.id)
    }

    fn claim_cmd(&mut self, id: i64, holder: &str, until: Timestamp) -> Option<QueuedCommand> {
        let c = self.commands.get_mut(&id)?;
        c.status = CommandStatus::InFlight;
        c.attempts = c.attempts.saturating_add(1);
        c.lease = Some(Lease {
            holder: holder.to_string(),
            until,
        });
        Some(c.clone())
    }

    fn leased_cmd(&mut self, id: i64, holder: &str) -> StoreResult<&mut QueuedCommand> {
        let c = self
            .commands
            .get_mut(&id)
            .ok_or_else(|| StoreError::not_found("command", id))?;
        let held = c.status == CommandStatus::InFlight
            && c.lease.as_ref().is_some_and(|l| l.holder == holder);
        if !held {
            return Err(StoreError::invalid(
                "command",
                id,
                format!("not in flight for {holder} (status {})", c.status),
            ));
        }
        Ok(c)
    }
}

#[async_trait]
impl EisStore for MemoryStore {
    async fn register_eis(
        &self,
        eis: &EisRecord,
        keysets: &[KeysetRecord],
        profiles: &[ProfileRecord],
    ) -> StoreResult<()> {
        let mut s = self.lock()?;
        if s.eis.contains_key(&eis.eid) {
            return Err(StoreError::duplicate("eis", &eis.eid));
        }
        let mut seen_aid = Vec::new();
        for p in profiles {
            if p.eid != eis.eid {
                return Err(StoreError::invalid(
                    "profile",
                    &p.iccid,
                    "belongs to another EID",
                ));
            }
            if seen_aid.contains(&&p.isd_p_aid) {
                return Err(StoreError::duplicate("profile", &p.iccid));
            }
            seen_aid.push(&p.isd_p_aid);
        }
        let mut e = eis.clone();
        e.version = 1;
        let mut new_profiles = BTreeMap::new();
        for p in profiles {
            if new_profiles
                .insert((p.eid.clone(), p.iccid.clone()), p.clone())
                .is_some()
            {
                return Err(StoreError::duplicate("profile", &p.iccid));
            }
        }
        let mut new_keysets = BTreeMap::new();
        for k in keysets {
            if k.eid != eis.eid {
                return Err(StoreError::invalid(
                    "keyset",
                    k.kvn,
                    "belongs to another EID",
                ));
            }
            if new_keysets
                .insert((k.eid.clone(), k.kvn), k.clone())
                .is_some()
            {
                return Err(StoreError::duplicate("keyset", k.kvn));
            }
        }
        s.eis.insert(e.eid.clone(), e);
        s.profiles.extend(new_profiles);
        s.keysets.extend(new_keysets);
        Ok(())
    }

    async fn get_eis(&self, eid: &Eid) -> StoreResult<EisRecord> {
        let s = self.lock()?;
        s.eis
            .get(eid)
            .cloned()
            .ok_or_else(|| StoreError::not_found("eis", eid))
    }

    async fn update_eis(&self, eis: &EisRecord) -> StoreResult<i64> {
        let mut s = self.lock()?;
        let cur = s
            .eis
            .get_mut(&eis.eid)
            .ok_or_else(|| StoreError::not_found("eis", &eis.eid))?;
        if cur.version != eis.version {
            return Err(StoreError::VersionMismatch {
                what: "eis",
                key: eis.eid.to_string(),
                expected: eis.version,
            });
        }
        let mut e = eis.clone();
        e.version += 1;
        e.registered_at = cur.registered_at;
        *cur = e;
        Ok(cur.version)
    }

    async fn delete_eis(&self, eid: &Eid) -> StoreResult<()> {
        let mut s = self.lock()?;
        if s.eis.remove(eid).is_none() {
            return Err(StoreError::not_found("eis", eid));
        }
        s.profiles.retain(|(e, _), _| e != eid);
        s.keysets.retain(|(e, _), _| e != eid);
        Ok(())
    }

    async fn list_eids(&self, after: Option<&Eid>, limit: u32) -> StoreResult<Vec<Eid>> {
        let s = self.lock()?;
        Ok(s.eis
            .keys()
            .filter(|e| after.is_none_or(|a| *e > a))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn insert_profile(&self, p: &ProfileRecord) -> StoreResult<()> {
        let mut s = self.lock()?;
        s.eis_exists(&p.eid)?;
        let clash = s
            .profiles
            .values()
            .any(|q| q.eid == p.eid && (q.iccid == p.iccid || q.isd_p_aid == p.isd_p_aid));
        if clash {
            return Err(StoreError::duplicate("profile", &p.iccid));
        }
        s.profiles
            .insert((p.eid.clone(), p.iccid.clone()), p.clone());
        Ok(())
    }

    async fn update_profile(&self, p: &ProfileRecord) -> StoreResult<()> {
        let mut s = self.lock()?;
        let aid_clash = s
            .profiles
            .values()
            .any(|q| q.eid == p.eid && q.iccid != p.iccid && q.isd_p_aid == p.isd_p_aid);
        if aid_clash {
            return Err(StoreError::duplicate("profile", &p.isd_p_aid));
        }
        let cur = s
            .profiles
            .get_mut(&(p.eid.clone(), p.iccid.clone()))
            .ok_or_else(|| StoreError::not_found("profile", &p.iccid))?;
        *cur = p.clone();
        Ok(())
    }

    async fn get_profile(&self, eid: &Eid, iccid: &Iccid) -> StoreResult<ProfileRecord> {
        let s = self.lock()?;
        s.profiles
            .get(&(eid.clone(), iccid.clone()))
            .cloned()
            .ok_or_else(|| StoreError::not_found("profile", iccid))
    }

    async fn profiles(&self, eid: &Eid) -> StoreResult<Vec<ProfileRecord>> {
        let s = self.lock()?;
        Ok(s.profiles
            .values()
            .filter(|p| &p.eid == eid)
            .cloned()
            .collect())
    }

    async fn set_profile_state(
        &self,
        eid: &Eid,
        iccid: &Iccid,
        state: ProfileState,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut s = self.lock()?;
        if !s.profiles.contains_key(&(eid.clone(), iccid.clone())) {
            return Err(StoreError::not_found("profile", iccid));
        }
        for p in s.profiles.values_mut().filter(|p| &p.eid == eid) {
            if &p.iccid == iccid {
                p.state = state;
                p.updated_at = now;
            } else if state == ProfileState::Enabled && p.state == ProfileState::Enabled {
                p.state = ProfileState::Disabled;
                p.updated_at = now;
            }
        }
        Ok(())
    }

    async fn set_fallback(&self, eid: &Eid, iccid: &Iccid, now: Timestamp) -> StoreResult<()> {
        let mut s = self.lock()?;
        if !s.profiles.contains_key(&(eid.clone(), iccid.clone())) {
            return Err(StoreError::not_found("profile", iccid));
        }
        for p in s.profiles.values_mut().filter(|p| &p.eid == eid) {
            let want = &p.iccid == iccid;
            if p.fallback != want {
                p.fallback = want;
                p.updated_at = now;
            }
        }
        Ok(())
    }

    async fn delete_profile(&self, eid: &Eid, iccid: &Iccid) -> StoreResult<()> {
        let mut s = self.lock()?;
        s.profiles
            .remove(&(eid.clone(), iccid.clone()))
            .map(|_| ())
            .ok_or_else(|| StoreError::not_found("profile", iccid))
    }

    async fn put_keyset(&self, k: &KeysetRecord) -> StoreResult<()> {
        let mut s = self.lock()?;
        s.eis_exists(&k.eid)?;
        let key = (k.eid.clone(), k.kvn);
        let counter = s
            .keysets
            .get(&key)
            .map_or(k.counter, |old| old.counter.max(k.counter));
        let mut new = k.clone();
        new.counter = counter;
        s.keysets.insert(key, new);
        Ok(())
    }

    async fn get_keyset(&self, eid: &Eid, kvn: u8) -> StoreResult<KeysetRecord> {
        let s = self.lock()?;
        s.keysets
            .get(&(eid.clone(), kvn))
            .cloned()
            .ok_or_else(|| StoreError::not_found("keyset", format!("{eid}/{kvn}")))
    }

    async fn keysets(&self, eid: &Eid) -> StoreResult<Vec<KeysetRecord>> {
        let s = self.lock()?;
        Ok(s.keysets
            .values()
            .filter(|k| &k.eid == eid)
            .cloned()
            .collect())
    }

    async fn delete_keyset(&self, eid: &Eid, kvn: u8) -> StoreResult<()> {
        let mut s = self.lock()?;
        s.keysets
            .remove(&(eid.clone(), kvn))
            .map(|_| ())
            .ok_or_else(|| StoreError::not_found("keyset", format!("{eid}/{kvn}")))
    }
}

#[async_trait]
impl CounterStore for MemoryStore {
    async fn allocate_counter(&self, eid: &Eid, kvn: u8) -> StoreResult<u64> {
        let mut s = self.lock()?;
        let k = s
            .keysets
            .get_mut(&(eid.clone(), kvn))
            .ok_or_else(|| StoreError::not_found("keyset", format!("{eid}/{kvn}")))?;
        if k.counter >= COUNTER_MAX {
            return Err(StoreError::Exhausted(format!(
                "SCP80 counter of keyset {eid}/{kvn} is at its maximum"
            )));
        }
        k.counter += 1;
        Ok(k.counter)
    }

    async fn raise_counter(&self, eid: &Eid, kvn: u8, seen: u64) -> StoreResult<u64> {
        check_counter(eid, kvn, seen)?;
        let mut s = self.lock()?;
        let k = s
            .keysets
            .get_mut(&(eid.clone(), kvn))
            .ok_or_else(|| StoreError::not_found("keyset", format!("{eid}/{kvn}")))?;
        k.counter = k.counter.max(seen);
        Ok(k.counter)
    }
}

pub(crate) fn check_counter(eid: &Eid, kvn: u8, seen: u64) -> StoreResult<()> {
    if seen > COUNTER_MAX {
        Err(StoreError::invalid(
            "keyset",
            format!("{eid}/{kvn}"),
            format!("counter {seen:#x} does not fit in 5 bytes"),
        ))
    } else {
        Ok(())
    }
}

#[async_trait]
impl OperationStore for MemoryStore {
    async fn create_operation(&self, n: &NewOperation) -> StoreResult<CreateOutcome> {
        let mut s = self.lock()?;
        if let Some(fcid) = &n.function_call_id {
            if let Some(id) = s.op_calls.get(&(n.owner.clone(), fcid.clone())) {
                let op = s
                    .ops
                    .get(id)
                    .cloned()
                    .ok_or_else(|| StoreError::Backend("dangling call index".into()))?;
                return Ok(CreateOutcome::Existing(op));
            }
        }
        if s.ops.contains_key(&n.id) {
            return Err(StoreError::duplicate("operation", &n.id));
        }
        let op = Operation {
            id: n.id.clone(),
            kind: n.kind.clone(),
            owner: n.owner.clone(),
            function_call_id: n.function_call_id.clone(),
            eid: n.eid.clone(),
            state: n.state.clone(),
            status: n.status,
            wake_at: n.wake_at,
            result: None,
            lease: n.lease.clone(),
            version: 1,
            created_at: n.now,
            updated_at: n.now,
        };
        if let Some(fcid) = &n.function_call_id {
            s.op_calls
                .insert((n.owner.clone(), fcid.clone()), n.id.clone());
        }
        s.ops.insert(n.id.clone(), op.clone());
        Ok(CreateOutcome::Created(op))
    }

    async fn get_operation(&self, id: &OperationId) -> StoreResult<Operation> {
        let s = self.lock()?;
        s.ops
            .get(id)
            .cloned()
            .ok_or_else(|| StoreError::not_found("operation", id))
    }

    async fn find_operation(
        &self,
        owner: &str,
        function_call_id: &str,
    ) -> StoreResult<Option<Operation>> {
        let s = self.lock()?;
        Ok(s.op_calls
            .get(&(owner.to_string(), function_call_id.to_string()))
            .and_then(|id| s.ops.get(id))
            .cloned())
    }

    async fn save_step(
        &self,
        id: &OperationId,
        expected_version: i64,
        u: &OperationUpdate,
    ) -> StoreResult<Operation> {
        let mut s = self.lock()?;
        let op = s
            .ops
            .get_mut(id)
            .ok_or_else(|| StoreError::not_found("operation", id))?;
        if op.status.is_terminal() {
            return Err(StoreError::invalid(
                "operation",
                id,
                format!("already {}", op.status),
            ));
        }
        if op.version != expected_version {
            return Err(StoreError::VersionMismatch {
                what: "operation",
                key: id.to_string(),
                expected: expected_version,
            });
        }
        op.state = u.state.clone();
        op.status = u.status;
        op.wake_at = u.wake_at;
        op.result = u.result.clone();
        if u.release_lease {
            op.lease = None;
        }
        op.version += 1;
        op.updated_at = u.now;
        Ok(op.clone())
    }

    async fn claim_runnable(
        &self,
        holder: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<Operation>> {
        let mut s = self.lock()?;
        let mut ids: Vec<_> = s
            .ops
            .values()
            .filter(|o| op_schedulable(o, now))
            .map(op_order_key)
            .collect();
        ids.sort();
        let mut out = Vec::new();
        for (_, _, id) in ids.into_iter().take(limit as usize) {
            if let Some(op) = s.ops.get_mut(&id) {
                op.lease = Some(Lease {
                    holder: holder.to_string(),
                    until: lease_until,
                });
                op.version += 1;
                op.updated_at = now;
                out.push(op.clone());
            }
        }
        Ok(out)
    }

    async fn claim_operation(
        &self,
        id: &OperationId,
        holder: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Operation> {
        let mut s = self.lock()?;
        let op = s
            .ops
            .get_mut(id)
            .ok_or_else(|| StoreError::not_found("operation", id))?;
        if op.status.is_terminal() {
            return Err(StoreError::invalid(
                "operation",
                id,
                format!("already {}", op.status),
            ));
        }
        let mine = op.lease.as_ref().is_some_and(|l| l.holder == holder);
        if !mine && !lease_free(&op.lease, now) {
            return Err(StoreError::invalid(
                "operation",
                id,
                "leased by another holder",
            ));
        }
        op.lease = Some(Lease {
            holder: holder.to_string(),
            until: lease_until,
        });
        op.version += 1;
        op.updated_at = now;
        Ok(op.clone())
    }

    async fn release_leases(&self, holder: &str, now: Timestamp) -> StoreResult<u64> {
        let mut s = self.lock()?;
        let mut n = 0;
        for o in s.ops.values_mut() {
            if o.status.is_terminal() {
                continue;
            }
            if let Some(l) = o.lease.as_mut()
                && l.holder == holder
                && l.until > now
            {
                l.until = now;
                o.version += 1;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn expired_leases(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Operation>> {
        let s = self.lock()?;
        let mut v: Vec<_> = s
            .ops
            .values()
            .filter(|o| !o.status.is_terminal() && o.lease.as_ref().is_some_and(|l| l.until <= now))
            .cloned()
            .collect();
        v.sort_by_key(|o| {
            (
                o.lease.as_ref().map(|l| l.until),
                o.created_at,
                o.id.clone(),
            )
        });
        v.truncate(limit as usize);
        Ok(v)
    }

    async fn active_operations_for(&self, eid: &Eid) -> StoreResult<Vec<Operation>> {
        let s = self.lock()?;
        let mut v: Vec<_> = s
            .ops
            .values()
            .filter(|o| !o.status.is_terminal() && o.eid.as_ref() == Some(eid))
            .cloned()
            .collect();
        v.sort_by_key(|o| (o.created_at, o.id.clone()));
        Ok(v)
    }
}

#[async_trait]
impl QueueStore for MemoryStore {
    async fn enqueue(&self, n: &NewCommand) -> StoreResult<QueuedCommand> {
        let mut s = self.lock()?;
        s.next_command_id += 1;
        let id = s.next_command_id;
        let seq = {
            let e = s.queue_seq.entry(n.eid.clone()).or_insert(0);
            *e += 1;
            *e
        };
        let c = QueuedCommand {
            id,
            eid: n.eid.clone(),
            seq,
            operation_id: n.operation_id.clone(),
            payload: n.payload.clone(),
            attempts: 0,
            not_before: n.not_before,
            expires_at: n.expires_at,
            status: CommandStatus::Pending,
            lease: None,
            last_error: None,
            enqueued_at: n.now,
            result: None,
        };
        s.commands.insert(id, c.clone());
        Ok(c)
    }

    async fn claim_next(
        &self,
        eid: &Eid,
        holder: &str,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Option<QueuedCommand>> {
        let mut s = self.lock()?;
        let Some(head) = s.head_of(eid) else {
            return Ok(None);
        };
        let sendable = s.commands.get(&head).is_some_and(|c| cmd_sendable(c, now));
        if !sendable {
            return Ok(None);
        }
        Ok(s.claim_cmd(head, holder, lease_until))
    }

    async fn claim_ready(
        &self,
        holder: &str,
        now: Timestamp,
        lease_until: Timestamp,
        limit: u32,
    ) -> StoreResult<Vec<QueuedCommand>> {
        let mut s = self.lock()?;
        let mut heads: BTreeMap<&Eid, &QueuedCommand> = BTreeMap::new();
        for c in s.commands.values().filter(|c| !c.status.is_terminal()) {
            let e = heads.entry(&c.eid).or_insert(c);
            if c.seq < e.seq {
                *e = c;
            }
        }
        let mut ready: Vec<(Timestamp, i64)> = heads
            .values()
            .filter(|c| cmd_sendable(c, now))
            .map(|c| (c.not_before, c.id))
            .collect();
        ready.sort();
        let mut out = Vec::new();
        for (_, id) in ready.into_iter().take(limit as usize) {
            if let Some(c) = s.claim_cmd(id, holder, lease_until) {
                out.push(c);
            }
        }
        Ok(out)
    }

    async fn ack(&self, id: i64, holder: &str, result: Option<&[u8]>) -> StoreResult<()> {
        let mut s = self.lock()?;
        let c = s.leased_cmd(id, holder)?;
        c.status = CommandStatus::Done;
        c.lease = None;
        c.result = result.map(<[u8]>::to_vec);
        Ok(())
    }

    async fn retry(
        &self,
        id: i64,
        holder: &str,
        not_before: Timestamp,
        error: &str,
    ) -> StoreResult<()> {
        let mut s = self.lock()?;
        let c = s.leased_cmd(id, holder)?;
        c.status = CommandStatus::Pending;
        c.lease = None;
        c.not_before = not_before;
        c.last_error = Some(error.to_string());
        Ok(())
    }

    async fn fail(&self, id: i64, error: &str) -> StoreResult<()> {
        let mut s = self.lock()?;
        let c = s
            .commands
            .get_mut(&id)
            .ok_or_else(|| StoreError::not_found("command", id))?;
        if c.status.is_terminal() {
            return Err(StoreError::invalid(
                "command",
                id,
                format!("already {}", c.status),
            ));
        }
        c.status = CommandStatus::Failed;
        c.lease = None;
        c.last_error = Some(error.to_string());
        Ok(())
    }

    async fn expire_due(&self, now: Timestamp) -> StoreResult<Vec<QueuedCommand>> {
        let mut s = self.lock()?;
        let mut out = Vec::new();
        for c in s.commands.values_mut() {
            // An in-flight command is not expired under a live sender.
            let sender_live = c.status == CommandStatus::InFlight && !lease_free(&c.lease, now);
            let due =
                !c.status.is_terminal() && c.expires_at.is_some_and(|e| e <= now) && !sender_live;
            if due {
                c.status = CommandStatus::Expired;
                c.lease = None;
                out.push(c.clone());
            }
        }
        Ok(out)
    }

    async fn get_command(&self, id: i64) -> StoreResult<QueuedCommand> {
        let s = self.lock()?;
        s.commands
            .get(&id)
            .cloned()
            .ok_or_else(|| StoreError::not_found("command", id))
    }

    async fn release_command_leases(&self, holder: &str, now: Timestamp) -> StoreResult<u64> {
        let mut s = self.lock()?;
        let mut n = 0;
        for c in s.commands.values_mut() {
            if c.status != CommandStatus::InFlight {
                continue;
            }
            if let Some(l) = c.lease.as_mut()
                && l.holder == holder
                && l.until > now
            {
                l.until = now;
                n += 1;
            }
        }
        Ok(n)
    }

    async fn pending_commands(&self, eid: &Eid) -> StoreResult<Vec<QueuedCommand>> {
        let s = self.lock()?;
        let mut v: Vec<_> = s
            .commands
            .values()
            .filter(|c| &c.eid == eid && !c.status.is_terminal())
            .cloned()
            .collect();
        v.sort_by_key(|c| c.seq);
        Ok(v)
    }

    async fn operation_commands(&self, operation: &OperationId) -> StoreResult<Vec<QueuedCommand>> {
        let s = self.lock()?;
        let mut v: Vec<_> = s
            .commands
            .values()
            .filter(|c| c.operation_id.as_ref() == Some(operation))
            .cloned()
            .collect();
        v.sort_by_key(|c| c.id);
        Ok(v)
    }
}

#[async_trait]
impl InventoryStore for MemoryStore {
    async fn import_profiles(&self, profiles: &[InventoryProfile]) -> StoreResult<u64> {
        let mut s = self.lock()?;
        let mut batch = BTreeMap::new();
        for p in profiles {
            if p.state != InventoryState::Available {
                return Err(StoreError::invalid(
                    "inventory",
                    &p.iccid,
                    format!("imported as {}, must be available", p.state),
                ));
            }
            if s.inventory.contains_key(&p.iccid)
                || batch.insert(p.iccid.clone(), p.clone()).is_some()
            {
                return Err(StoreError::duplicate("inventory", &p.iccid));
            }
        }
        let n = batch.len() as u64;
        s.inventory.extend(batch);
        Ok(n)
    }

    async fn allocate_by_type(
        &self,
        owner: &str,
        profile_type: &str,
        eid: &Eid,
        now: Timestamp,
    ) -> StoreResult<InventoryProfile> {
        let mut s = self.lock()?;
        let p = s
            .inventory
            .values_mut()
            .find(|p| {
                p.state == InventoryState::Available
                    && p.owner == owner
                    && p.profile_type == profile_type
            })
            .ok_or_else(|| {
                StoreError::Exhausted(format!(
                    "no available profile of type {profile_type:?} for {owner:?}"
                ))
            })?;
        p.state = InventoryState::Allocated;
        p.eid = Some(eid.clone());
        p.updated_at = now;
        Ok(p.clone())
    }

    async fn allocate_iccid(
        &self,
        iccid: &Iccid,
        eid: &Eid,
        now: Timestamp,
    ) -> StoreResult<InventoryProfile> {
        let mut s = self.lock()?;
        let p = s
            .inventory
            .get_mut(iccid)
            .ok_or_else(|| StoreError::not_found("inventory", iccid))?;
        if p.state != InventoryState::Available {
            return Err(StoreError::invalid(
                "inventory",
                iccid,
                format!("is {}, not available", p.state),
            ));
        }
        p.state = InventoryState::Allocated;
        p.eid = Some(eid.clone());
        p.updated_at = now;
        Ok(p.clone())
    }

    async fn mark_installed(&self, iccid: &Iccid, now: Timestamp) -> StoreResult<()> {
        let mut s = self.lock()?;
        let p = s
            .inventory
            .get_mut(iccid)
            .ok_or_else(|| StoreError::not_found("inventory", iccid))?;
        if p.state != InventoryState::Allocated {
            return Err(StoreError::invalid(
                "inventory",
                iccid,
                format!("is {}, not allocated", p.state),
            ));
        }
        p.state = InventoryState::Installed;
        p.updated_at = now;
        Ok(())
    }

    async fn release(&self, iccid: &Iccid, now: Timestamp) -> StoreResult<()> {
        let mut s = self.lock()?;
        let p = s
            .inventory
            .get_mut(iccid)
            .ok_or_else(|| StoreError::not_found("inventory", iccid))?;
        if !matches!(
            p.state,
            InventoryState::Allocated | InventoryState::Installed
        ) {
            return Err(StoreError::invalid(
                "inventory",
                iccid,
                format!("is {}, not allocated or installed", p.state),
            ));
        }
        p.state = InventoryState::Released;
        p.updated_at = now;
        s.token_keys.remove(iccid);
        Ok(())
    }

    async fn get_inventory(&self, iccid: &Iccid) -> StoreResult<InventoryProfile> {
        let s = self.lock()?;
        s.inventory
            .get(iccid)
            .cloned()
            .ok_or_else(|| StoreError::not_found("inventory", iccid))
    }

    async fn count_available(&self, owner: &str, profile_type: &str) -> StoreResult<u64> {
        let s = self.lock()?;
        Ok(s.inventory
            .values()
            .filter(|p| {
                p.state == InventoryState::Available
                    && p.owner == owner
                    && p.profile_type == profile_type
            })
            .count() as u64)
    }

    async fn allocated_to(&self, eid: &Eid) -> StoreResult<Vec<InventoryProfile>> {
        let s = self.lock()?;
        let mut v: Vec<InventoryProfile> = s
            .inventory
            .values()
            .filter(|p| p.state == InventoryState::Allocated && p.eid.as_ref() == Some(eid))
            .cloned()
            .collect();
        v.sort_by(|a, b| a.iccid.as_str().cmp(b.iccid.as_str()));
        Ok(v)
    }

    async fn put_token_key(
        &self,
        iccid: &Iccid,
        key: &SealedBlob,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut s = self.lock()?;
        let p = s
            .inventory
            .get_mut(iccid)
            .ok_or_else(|| StoreError::not_found("inventory", iccid))?;
        if !matches!(
            p.state,
            InventoryState::Allocated | InventoryState::Installed
        ) {
            return Err(StoreError::invalid(
                "inventory",
                iccid,
                format!("is {}, not allocated or installed", p.state),
            ));
        }
        p.updated_at = now;
        s.token_keys.insert(iccid.clone(), key.clone());
        Ok(())
    }

    async fn token_key(&self, iccid: &Iccid) -> StoreResult<Option<SealedBlob>> {
        let s = self.lock()?;
        if !s.inventory.contains_key(iccid) {
            return Err(StoreError::not_found("inventory", iccid));
        }
        Ok(s.token_keys.get(iccid).cloned())
    }
}

#[async_trait]
impl OperatorStore for MemoryStore {
    async fn put_operator(&self, op: &OperatorRecord) -> StoreResult<()> {
        let mut s = self.lock()?;
        let clash = s
            .operators
            .values()
            .any(|o| o.id != op.id && o.token_hashes.iter().any(|h| op.token_hashes.contains(h)));
        if clash {
            return Err(StoreError::duplicate("operator token", &op.id));
        }
        s.operators.insert(op.id.clone(), op.clone());
        Ok(())
    }

    async fn get_operator(&self, id: &str) -> StoreResult<OperatorRecord> {
        let s = self.lock()?;
        s.operators
            .get(id)
            .cloned()
            .ok_or_else(|| StoreError::not_found("operator", id))
    }

    async fn operator_by_token_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<OperatorRecord>> {
        let s = self.lock()?;
        Ok(s.operators
            .values()
            .find(|o| o.token_hashes.contains(hash))
            .cloned())
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_audit(&self, entry: &AuditEntry) -> StoreResult<i64> {
        let mut s = self.lock()?;
        let id = s.audit.len() as i64 + 1;
        let mut e = entry.clone();
        e.id = id;
        s.audit.push(e);
        Ok(id)
    }

    async fn query_audit(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEntry>> {
        let s = self.lock()?;
        let limit = if q.limit == 0 {
            usize::MAX
        } else {
            q.limit as usize
        };
        Ok(s.audit
            .iter()
            .filter(|e| {
                q.eid.as_ref().is_none_or(|x| e.eid.as_ref() == Some(x))
                    && q.operator
                        .as_ref()
                        .is_none_or(|x| e.operator.as_ref() == Some(x))
                    && q.since.is_none_or(|t| e.at >= t)
                    && q.until.is_none_or(|t| e.at < t)
                    && q.after_id.is_none_or(|i| e.id > i)
            })
            .take(limit)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn begin_call(&self, rec: &IdempotencyRecord) -> StoreResult<BeginOutcome> {
        let mut s = self.lock()?;
        let key = (rec.caller.clone(), rec.function_call_id.clone());
        if let Some(existing) = s.calls.get(&key) {
            return Ok(BeginOutcome::Repeat(existing.clone()));
        }
        let mut r = rec.clone();
        r.response = None;
        r.completed_at = None;
        s.calls.insert(key, r.clone());
        Ok(BeginOutcome::New(r))
    }

    async fn complete_call(
        &self,
        caller: &str,
        function_call_id: &str,
        response: &[u8],
        now: Timestamp,
    ) -> StoreResult<IdempotencyRecord> {
        let mut s = self.lock()?;
        let r = s
            .calls
            .get_mut(&(caller.to_string(), function_call_id.to_string()))
            .ok_or_else(|| StoreError::not_found("call", function_call_id))?;
        if r.response.is_some() {
            return Err(StoreError::invalid(
                "call",
                function_call_id,
                "already completed",
            ));
        }
        r.response = Some(response.to_vec());
        r.completed_at = Some(now);
        Ok(r.clone())
    }

    async fn get_call(
        &self,
        caller: &str,
        function_call_id: &str,
    ) -> StoreResult<Option<IdempotencyRecord>> {
        let s = self.lock()?;
        Ok(s.calls
            .get(&(caller.to_string(), function_call_id.to_string()))
            .cloned())
    }
}
