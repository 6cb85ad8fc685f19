//! SM-SR change (SGP.02 §3.8, digest §3.6): an eUICC moves from this SM-SR to another one, or
//! from another one to this one.
//!
//! - At the new SM-SR (SM-SR2): `ES4.PrepareSMSRChange` records that the operator announced the
//!   change (`prepare`); `ES7.HandoverEUICC` from the current SM-SR (`handover`) verifies
//!   CERT.ECASD.ECKA against the EUM certificate and the CI, runs two ECKA key establishments
//!   with the card through SM-SR1 (`AuthenticateSMSR` + `CreateAdditionalKeySet`, one for a new
//!   SCP80 keyset, one for a new SCP81 PSK-TLS keyset), verifies each receipt, keeps the keys
//!   sealed in the operation state (**the commit point**), registers the EIS with its own
//!   keysets, deletes SM-SR1's keysets on the card through its new keys
//!   (`DELETE {D2 KVN}`; a failure there is a warning) and sends
//!   `HandleSMSRChangeNotification` to the MNOs (ES4) and SM-DPs (ES3) of the Profiles.
//! - At the current SM-SR (SM-SR1): `ES4.SMSRChange` (`smsr_change`) locks the eUICC (no other
//!   operation may be pending; others are refused while it is locked), hands the EIS over (with
//!   ISD-R keyset metadata, never key values), relays SM-SR2's key establishment to the card
//!   ([`crate::es7`]) and, once SM-SR2 answered, deletes its own copy of the EIS and keysets.
//!
//! A `HandoverEUICC` for an eUICC SM-SR2 already took over through a committed change is answered
//! `Executed-WithWarning` without touching the card (EK 07), and SM-SR1 then answers its
//! operator with the warning (e.g. a stale copy of the EIS restored at SM-SR1).
//!
//! # Interruptions (docs/spec-choices.md row 79)
//!
//! The invariant: whatever fails at whatever step — either SM-SR killed and restarted on its
//! store, an ES7 message or a card command lost before or after it was executed — exactly one
//! SM-SR ends up holding the EIS, and it reaches the card with its keys. How:
//!
//! - Every step is persisted; a restarted operation continues from its plan. Before the commit
//!   point a key establishment is run again from the start (fresh `3A01`; the card replaces a
//!   keyset of the same KVN); after it, SM-SR2 registers (idempotent), deletes (a `DELETE`
//!   answered `6A88` was done before) and notifies (once, recorded in the plan).
//! - SM-SR1 unlocks the eUICC only on SM-SR2's *final* answer: a failed or expired
//!   `HandoverEUICC` operation, which ends before the commit point and so never commits later.
//!   A lost request or answer, a time-out or an SM-SR2 restart is no answer: SM-SR1 sends the
//!   same request (same `FunctionCallIdentifier`) again until one comes (`handover_answer`),
//!   the eUICC staying locked meanwhile. SM-SR2 ends its operation before the commit point once
//!   the ValidityPeriod SM-SR1 gave it is over.
//! - SM-SR2 sends a relay request again with the same `FunctionCallIdentifier` when SM-SR1 did
//!   not answer (`relay`), so a restarted SM-SR1 answers from the relay it ran, without asking
//!   the card twice. A relay SM-SR1 answers with a failure (the card did not answer) fails the
//!   hand-over before the commit point; the card may then hold an unverified keyset of
//!   SM-SR2's KVN that nobody holds, replaced by the next attempt.
//! - SM-SR2 sends a `DELETE` of an old keyset again when the card's answer did not come
//!   (`delete_old_keyset`).
//! - Once SM-SR1 deleted its copy, commands still queued there for the eUICC end
//!   ([`crate::delivery::end_queue`]): they could only be sent with keys it no longer has.
//!
//! [`failpoints`] lets the tests (`tests/smsr_change.rs`, the interruption matrix) hold the
//! procedure at its steps to kill an SM-SR there.

use std::time::Duration;

use esim_codec::Eid;
use esim_crypto::cert::{Certificate, Date};
use esim_crypto::ec::KeyPair;
use esim_crypto::ecka::{KeyParams, Message2, OffCardAwaitingChallenge};
use esim_crypto::pki::{self, EisDocument, EisKey, EisKeyset, EisSecurityDomain, HexKey};
use esim_crypto::primitives::SecretKey;
use esim_proto::codes::{reason, subject};
use esim_proto::common::{Empty, FunctionExecutionStatus, HexBytes};
use esim_proto::eis::{Eis, ProfileState as EisProfileState};
use esim_proto::es2::SmsrChangeNotification;
use esim_proto::es4::{PrepareSmsrChangeRequest, SmsrChangeRequest};
use esim_proto::es7::{
    AuthenticateSmsrRequest, AuthenticateSmsrResponse, CreateAdditionalKeySetRequest,
    CreateAdditionalKeySetResponse, HandoverEuiccRequest,
};
use esim_proto::function::AnyRequest;
use esim_service::Callback;
use esim_store::{
    EisRecord, KeysetKind, KeysetRecord, OperationId, ProfileRecord, ProfileState, SealedBlob,
    StoreError, SubscriptionAddress, Timestamp,
};
use serde::{Deserialize, Serialize};

use crate::delivery::{Es5Outcome, JobTarget};
use crate::es7::{KEY_TYPE_SCP80, KEY_TYPE_SCP81, PeerErr, call_peer, request};
use crate::keys::{eis_aad, open_keyset, seal_keyset};
use crate::ops::{apdus, internal, plan_field, profile_info, respond, visible};
use crate::service::{Access, Inner, KIND_PREFIX, Run, RunErr, now};

type R = Result<serde_json::Value, RunErr>;

/// CERT.SR.ECDSA with SK.SR.ECDSA (SGP.02 §4.1.3; `esim_crypto::pki::TestPki::smsr` or a
/// certificate issued with `esim_crypto::pki::issue_gp_certificate`, type SM-SR).
#[derive(Clone)]
pub struct GpIdentity {
    /// CERT.SR.ECDSA (GP `7F21`, certificate type `02`), signed by the CI.
    pub certificate: Certificate,
    /// SK.SR.ECDSA.
    pub key: KeyPair,
}

impl std::fmt::Debug for GpIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpIdentity")
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

/// A `PrepareSMSRChange` still in force.
#[derive(Debug, Clone)]
struct Prepared {
    operator: String,
}

fn failed(subject: &str, reason: &str, id: &str, msg: &str) -> RunErr {
    respond(FunctionExecutionStatus::failed_for(
        subject, reason, id, msg,
    ))
}

/// `ES4.PrepareSMSRChange` at SM-SR2 (digest §3.6 step 1): nothing changes but a record that
/// a `HandoverEUICC` of `Eid` from `CurrentSMSRid` is expected until the request's
/// ValidityPeriod ends. Refused when the eUICC is already managed here, or comes from here.
pub(crate) async fn prepare(run: &mut Run, b: &PrepareSmsrChangeRequest) -> R {
    let inner = &run.inner;
    if b.current_smsr_id == inner.config.smsr_id {
        return Err(failed(
            subject::SM_SR,
            reason::INVALID_ASSOCIATION,
            &b.current_smsr_id,
            "CurrentSMSRid is this SM-SR",
        ));
    }
    match inner.store.get_eis(&b.eid).await {
        Ok(_) => {
            return Err(failed(
                subject::EID,
                reason::ALREADY_IN_USE,
                b.eid.as_str(),
                "the eUICC is already managed by this SM-SR",
            ));
        }
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    if inner.config.gp_identity.is_none() {
        return Err(failed(
            subject::SM_SR,
            reason::UNSUPPORTED,
            &inner.config.smsr_id,
            "this SM-SR has no certificate to take eUICCs over",
        ));
    }
    if !inner
        .peers
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .contains_key(&b.current_smsr_id)
    {
        return Err(failed(
            subject::SM_SR,
            reason::UNKNOWN,
            &b.current_smsr_id,
            "no ES7 link to the current SM-SR",
        ));
    }
    // The operation itself (with its audit-trail entry) is the record `handover` looks for.
    Ok(run.ok(Some(Empty {})))
}

/// The latest successful `PrepareSMSRChange` of `eid` from `current` whose ValidityPeriod has
/// not ended, found through the audit trail (its entry names the operation, whose state holds
/// the request and the deadline).
async fn prepared(inner: &Inner, eid: &Eid, current: &str) -> Result<Option<Prepared>, RunErr> {
    let t = now();
    let max = i64::from(inner.config.max_validity.seconds()) * 1000;
    let entries = inner
        .store
        .query_audit(&esim_store::AuditQuery {
            eid: Some(eid.clone()),
            operator: None,
            since: Some(Timestamp(t.0 - max - 60_000)),
            until: None,
            after_id: None,
            limit: 1000,
        })
        .await?;
    let wanted =
        crate::service::function_name(esim_proto::function::Function::Es4PrepareSmsrChange);
    for e in entries.iter().rev() {
        if e.function != wanted || e.status != "Executed-Success" {
            continue;
        }
        let Some(id) = e
            .detail
            .get("operation")
            .and_then(|o| o.as_str())
            .and_then(|o| serde_json::from_value::<OperationId>(o.into()).ok())
        else {
            continue;
        };
        let Ok(op) = inner.store.get_operation(&id).await else {
            continue;
        };
        let Ok(st) = serde_json::from_value::<crate::service::OpState>(op.state) else {
            continue;
        };
        let cur = st
            .request
            .get("Body")
            .and_then(|b| b.get("CurrentSMSRid"))
            .and_then(|c| c.as_str());
        if cur == Some(current) && st.deadline > t.0 {
            return Ok(Some(Prepared {
                operator: st.caller.id,
            }));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// SM-SR1: ES4.SMSRChange.

/// The EIS as handed over: the full record with ISD-R keyset metadata (versions, types,
/// counters, KCVs — never key values), all installed Profiles and the additional properties.
fn handover_eis(inner: &Inner, rec: &EisRecord, profiles: &[ProfileRecord]) -> Result<Eis, RunErr> {
    let plain = inner
        .sealer
        .open(&rec.signed_eis, &eis_aad(&rec.eid))
        .map_err(|e| internal("opening the stored EIS", e))?;
    let text = std::str::from_utf8(&plain).map_err(|e| internal("stored EIS", e))?;
    let doc = EisDocument::from_json(text).map_err(|e| internal("stored EIS", e))?;
    let mut e = Eis::from_document(&doc, &rec.smsr_id).map_err(|e| internal("stored EIS", e))?;
    e.remaining_memory = rec.remaining_memory;
    e.available_memory_for_profiles = rec.available_memory_for_profiles;
    e.last_audit_date = rec.last_audit.map(esim_service::xs_datetime);
    e.profiles = profiles
        .iter()
        .filter(|p| p.state != ProfileState::InCreation)
        .map(profile_info)
        .collect();
    e.additional_properties = rec
        .additional_properties
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(e)
}

async fn set_lock(
    inner: &Inner,
    eid: &Eid,
    from: Option<&OperationId>,
    to: Option<&OperationId>,
) -> Result<bool, RunErr> {
    for _ in 0..5 {
        let mut rec = match inner.store.get_eis(eid).await {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        if rec.locked_by.as_ref() != from {
            return Ok(rec.locked_by.as_ref() == to);
        }
        rec.locked_by = to.cloned();
        rec.updated_at = now();
        match inner.store.update_eis(&rec).await {
            Ok(_) => return Ok(true),
            Err(StoreError::VersionMismatch { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RunErr::Lost("the EIS keeps changing".into()))
}

fn remaining(run: &Run) -> Duration {
    Duration::from_millis(
        u64::try_from(run.state.deadline - now().0)
            .unwrap_or(0)
            .max(1000),
    )
}

/// `ES4.SMSRChange` at SM-SR1 (digest §3.6 steps 2, 3, 7).
pub(crate) async fn smsr_change(run: &mut Run, b: &SmsrChangeRequest) -> R {
    let eid = &b.eid;
    let inner = run.inner.clone();
    let target = &b.target_smsr_id;
    if plan_field::<bool>(run, "locked").is_none() {
        let (_, _) = visible(run, eid).await?;
        if *target == inner.config.smsr_id {
            return Err(failed(
                subject::SM_SR,
                reason::INVALID_ASSOCIATION,
                target,
                "Target-Smsr-id is this SM-SR",
            ));
        }
        if !inner
            .peers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(target)
        {
            return Err(failed(
                subject::SM_SR,
                reason::UNKNOWN,
                target,
                "no ES7 link to the target SM-SR",
            ));
        }
        // Nothing may be pending (digest §3.6 step 2): checked and locked under the eUICC's
        // mutex, which every card procedure of this instance holds while it runs.
        let mutex = inner.eid_lock(eid);
        let _g = mutex.lock().await;
        let pending = inner
            .store
            .active_operations_for(eid)
            .await?
            .into_iter()
            .any(|o| o.id != run.id && !o.status.is_terminal() && o.kind.starts_with(KIND_PREFIX));
        if pending {
            return Err(failed(
                subject::EID,
                reason::UNAVAILABLE,
                eid.as_str(),
                "another operation is pending on the eUICC",
            ));
        }
        if !set_lock(&inner, eid, None, Some(&run.id)).await? {
            return Err(failed(
                subject::EID,
                reason::UNAVAILABLE,
                eid.as_str(),
                "the eUICC is locked by an SM-SR change",
            ));
        }
        run.set_plan(serde_json::json!({ "locked": true })).await?;
    }
    failpoints::pause(&inner, eid, "locked").await;
    let outcome: Option<FunctionExecutionStatus> = plan_field(run, "handed_over");
    let status = match outcome {
        Some(s) => s,
        None => match handover_answer(run, eid, target).await? {
            Ok(status) => {
                let mut plan = run.state.plan.clone().unwrap_or_default();
                plan["handed_over"] =
                    serde_json::to_value(&status).map_err(|e| internal("plan", e))?;
                run.set_plan(plan).await?;
                status
            }
            Err(status) => {
                // SM-SR2's operation ended without taking the eUICC over (its answer is
                // final: it never commits later): the eUICC is unlocked and stays here.
                set_lock(&inner, eid, Some(&run.id), None).await?;
                return Err(respond(status));
            }
        },
    };
    failpoints::pause(&inner, eid, "handed-over").await;
    match inner.store.delete_eis(eid).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    // Commands still queued for the eUICC would be sent with keys this SM-SR no longer has:
    // they end now, and the operations waiting for them fail with the reason.
    let ended = crate::delivery::end_queue(
        inner.store.as_ref(),
        eid,
        &format!("the eUICC moved to SM-SR {target}"),
    )
    .await?;
    if ended > 0 {
        tracing::info!(%eid, ended, target = %target, "queued ES5 commands ended after the SM-SR change");
    }
    failpoints::pause(&inner, eid, "forgotten").await;
    Ok(match status.status_code_data {
        Some(d) if status.is_executed() => run.status(FunctionExecutionStatus::warning(
            &d.subject_code,
            &d.reason_code,
            &format!(
                "handed over to {target}: {}",
                d.message.as_deref().unwrap_or("warning")
            ),
        )),
        _ => run.ok(Some(Empty {})),
    })
}

/// Longest wait between two sends of the same `HandoverEUICC` while SM-SR2 does not answer.
const HANDOVER_RETRY_MAX: Duration = Duration::from_secs(5);

/// `ES7.HandoverEUICC` to `target` until SM-SR2 gives a final answer: `Ok` executed (the
/// eUICC is SM-SR2's), `Err` failed or expired (SM-SR2's operation ended before its commit
/// point). A lost request or answer, a time-out or an SM-SR2 restart is not an answer: the same
/// request (same `FunctionCallIdentifier`, so SM-SR2 attaches it to the operation it already
/// runs or answers from its result) is sent again, for as long as it takes — the eUICC stays
/// locked meanwhile, since only SM-SR2 knows whether it committed (docs/spec-choices.md).
async fn handover_answer(
    run: &mut Run,
    eid: &Eid,
    target: &str,
) -> Result<Result<FunctionExecutionStatus, FunctionExecutionStatus>, RunErr> {
    let inner = run.inner.clone();
    // The EIS as first sent is kept in the plan and sent again as it was: SM-SR2 answers a
    // repeated FunctionCallIdentifier only with the same body (the record can change meanwhile,
    // e.g. a card notification's sequence number).
    let eis: Eis = match plan_field(run, "handover_eis") {
        Some(e) => e,
        None => {
            let rec = inner.store.get_eis(eid).await?;
            let profiles = inner.store.profiles(eid).await?;
            let eis = handover_eis(&inner, &rec, &profiles)?;
            let mut plan = run.state.plan.clone().unwrap_or_default();
            plan["handover_eis"] = serde_json::to_value(&eis).map_err(|e| internal("plan", e))?;
            run.set_plan(plan).await?;
            eis
        }
    };
    let mut pause = Duration::from_millis(100);
    loop {
        let mut req = request(
            &inner,
            &format!("{}.handover", run.id.as_str()),
            HandoverEuiccRequest { eis: eis.clone() },
        )?;
        // SM-SR2 ends its operation when this one's ValidityPeriod ends (unless it committed);
        // once it has ended, a hand-over SM-SR2 has not started yet is not started any more
        // (ValidityPeriod 0: SM-SR2 answers Expired before the first key establishment).
        let left = u32::try_from((run.state.deadline - now().0).max(0) / 1000).unwrap_or(u32::MAX);
        req.header.validity_period = Some(esim_proto::common::ValidityPeriod(left));
        match call_peer(
            &inner,
            target,
            AnyRequest::Es7HandoverEuicc(req),
            remaining(run),
        )
        .await
        {
            Ok((status, _)) => return Ok(Ok(status)),
            Err(PeerErr::Status(s)) => return Ok(Err(s)),
            // Refused before it ran (no link, credentials, role): SM-SR2 did not and will not
            // take the eUICC over with this request, so SM-SR1 unlocks instead of asking again
            // forever (docs/spec-choices.md row 83).
            Err(PeerErr::Refused(m)) => {
                tracing::warn!(%eid, target, error = %m, "HandoverEUICC refused before it ran");
                return Ok(Err(FunctionExecutionStatus::failed_for(
                    subject::SM_SR,
                    reason::NOT_ALLOWED,
                    target,
                    &format!("the target SM-SR refused the hand-over: {m}"),
                )));
            }
            Err(PeerErr::Transport(m)) => {
                tracing::warn!(%eid, target, error = %m, "HandoverEUICC without an answer; sending it again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(HANDOVER_RETRY_MAX);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SM-SR2: ES7.HandoverEUICC.

/// A new ISD-R keyset as SM-SR2 keeps it in its plan between the commit point and the
/// registration: sealed like a [`KeysetRecord`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NewKeyset {
    kvn: u8,
    kind: KeysetKind,
    keys: SealedBlob,
    psk_identity: Option<Vec<u8>>,
    counter: u64,
}

fn eis_key(kind: &str, index: u8, key: &SecretKey) -> Result<EisKey, RunErr> {
    Ok(EisKey {
        index,
        kcv: esim_codec::hex::encode(&pki::aes_kcv(key).map_err(|e| internal("KCV", e))?),
        key_type: kind.into(),
        value: HexKey(key.clone()),
    })
}

fn verify_ecasd(inner: &Inner, eis: &Eis) -> Result<esim_crypto::ec::PublicKey, RunErr> {
    let eid = eis.eid();
    let bad = |m: String| {
        failed(
            subject::EUICC_CERTIFICATE,
            reason::VERIFICATION_FAILED,
            eid.as_str(),
            &m,
        )
    };
    let cert = Certificate::decode(eis.eum_signed_info.ecasd.certificate.as_bytes())
        .map_err(|e| bad(format!("CERT.ECASD.ECKA: {e}")))?;
    let today = Date::from_unix_days(now().0 / 86_400_000);
    let wanted = eis.eum_certificate_id.to_ascii_lowercase();
    let cfg = &inner.config;
    let eum = cfg.eum_certificates.iter().find(|c| {
        c.subject_key_id()
            .is_some_and(|k| esim_codec::hex::encode(&k).to_ascii_lowercase() == wanted)
    });
    let Some(eum) = eum else {
        return Err(failed(
            subject::EUM_CERTIFICATE,
            reason::VERIFICATION_FAILED,
            &eis.eum_certificate_id,
            "unknown EUM certificate",
        ));
    };
    pki::verify_ecasd_certificate(&cert, eum, &cfg.ci_certificate, Some(eid), today)
        .map_err(|e| bad(e.to_string()))
}

fn free_kvn(used: &[u8], range: std::ops::RangeInclusive<u8>) -> Option<u8> {
    range.into_iter().find(|k| !used.contains(k))
}

/// How often SM-SR2 sends one relay request (`AuthenticateSMSR`, `CreateAdditionalKeySet`)
/// when SM-SR1 does not answer.
const RELAY_ATTEMPTS: u32 = 6;

/// Calls SM-SR1 with a relay request, sending the same request (same
/// `FunctionCallIdentifier`: SM-SR1 attaches it to the relay it runs, or answers from its
/// result, so the card is not asked twice) again when no answer came — e.g. SM-SR1 restarted.
async fn relay(
    run: &Run,
    peer: &str,
    req: AnyRequest,
) -> Result<(FunctionExecutionStatus, serde_json::Value), PeerErr> {
    let mut pause = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match call_peer(&run.inner, peer, req.clone(), remaining(run)).await {
            Err(PeerErr::Transport(m)) if attempt < RELAY_ATTEMPTS => {
                tracing::warn!(peer, attempt, error = %m, "ES7 relay without an answer; sending it again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Key establishments tried per keyset when the card refuses the `3A02`.
const ESTABLISH_ATTEMPTS: u32 = 3;

/// One key establishment with the card through SM-SR1; returns the verified keyset. When the
/// card refuses the `CreateAdditionalKeySet` STORE DATA (subject `8.4`: typically `6985`, a
/// `3A02` SM-SR1 sent again after a restart for a challenge the card no longer holds), it is run
/// again from `AuthenticateSMSR` (a fresh challenge), up to [`ESTABLISH_ATTEMPTS`] times, while
/// the ValidityPeriod lasts (docs/spec-choices.md row 84). Before the commit point: nothing
/// is committed by a failed attempt.
async fn establish(
    run: &Run,
    peer: &str,
    eis: &Eis,
    ecasd_key: &esim_crypto::ec::PublicKey,
    params: KeyParams,
) -> Result<EisKeyset, RunErr> {
    let mut attempt = 1;
    loop {
        match establish_once(run, peer, eis, ecasd_key, params.clone()).await? {
            Ok(ks) => return Ok(ks),
            Err(refused) if attempt < ESTABLISH_ATTEMPTS && now().0 < run.state.deadline => {
                tracing::warn!(eid = %eis.eid().as_str(), kvn = params.kvn, attempt, "the card refused the key establishment; running it again from AuthenticateSMSR");
                attempt += 1;
                drop(refused);
            }
            Err(refused) => return Err(refused),
        }
    }
}

/// One attempt of [`establish`]: `Ok(Err(_))` when the card refused the keyset (worth a new
/// attempt), `Err(_)` for anything else.
async fn establish_once(
    run: &Run,
    peer: &str,
    eis: &Eis,
    ecasd_key: &esim_crypto::ec::PublicKey,
    params: KeyParams,
) -> Result<Result<EisKeyset, RunErr>, RunErr> {
    let inner = &run.inner;
    let eid = eis.eid().clone();
    let Some(id) = inner.config.gp_identity.clone() else {
        return Err(failed(
            subject::SM_SR,
            reason::UNSUPPORTED,
            &inner.config.smsr_id,
            "this SM-SR has no certificate to take eUICCs over",
        ));
    };
    let peer_err = |what: &str, e: PeerErr| match e {
        PeerErr::Status(s) => respond(s),
        PeerErr::Transport(m) => failed(
            subject::SM_SR,
            reason::INACCESSIBLE,
            peer,
            &format!("{what}: {m}"),
        ),
        PeerErr::Refused(m) => failed(
            subject::SM_SR,
            reason::NOT_ALLOWED,
            peer,
            &format!("{what}: {m}"),
        ),
    };
    // A fresh call identifier per attempt: a resumed establishment starts again at 3A01.
    let attempt = OperationId::random()?;
    let tag = format!(
        "{}.kvn{:02x}.{}",
        run.id.as_str(),
        params.kvn,
        &attempt.as_str()[..8]
    );
    let key_type = if params.key_type == esim_crypto::ecka::KEY_TYPE_PSK_TLS {
        KEY_TYPE_SCP81
    } else {
        KEY_TYPE_SCP80
    };
    let req = AnyRequest::Es7AuthenticateSmsr(request(
        inner,
        &format!("{tag}.auth"),
        AuthenticateSmsrRequest {
            eid: eid.clone(),
            smsr_certificate: HexBytes(id.certificate.encode()),
        },
    )?);
    let (_, body) = relay(run, peer, req)
        .await
        .map_err(|e| peer_err("AuthenticateSMSR", e))?;
    let rc: AuthenticateSmsrResponse =
        serde_json::from_value(body).map_err(|e| internal("AuthenticateSMSR answer", e))?;
    let state = OffCardAwaitingChallenge::new(id.key.clone(), ecasd_key.clone(), params.clone())
        .map_err(|e| internal("key establishment", e))?;
    let (awaiting, msg2) = state
        .handle(&esim_codec::ber::tlv(
            0x85u8,
            rc.random_challenge.as_bytes(),
        ))
        .map_err(|e| {
            failed(
                subject::EUICC,
                reason::VERIFICATION_FAILED,
                eid.as_str(),
                &format!("random challenge: {e}"),
            )
        })?;
    let m2 = Message2::parse(&msg2).map_err(|e| internal("message 2", e))?;
    let counter = params
        .initial_counter
        .iter()
        .fold(0u64, |a, &b| (a << 8) | u64::from(b));
    let req = AnyRequest::Es7CreateAdditionalKeySet(request(
        inner,
        &format!("{tag}.keyset"),
        CreateAdditionalKeySetRequest {
            eid: eid.clone(),
            key_version_number: params.kvn,
            initial_sequence_counter: u32::try_from(counter)
                .map_err(|e| internal("initial counter", e))?,
            ecc_key_length: "ECC-256".into(),
            scenario_parameter: params.scenario_parameters(),
            host_id: params.host_id.clone().map(HexBytes),
            ephemeral_public_key: HexBytes(m2.ephemeral_key.to_sec1().to_vec()),
            signature: HexBytes(m2.signature.to_vec()),
            key_type: Some(key_type.into()),
        },
    )?);
    let (_, body) = match relay(run, peer, req).await {
        Ok(x) => x,
        Err(PeerErr::Status(s))
            if s.status_code_data
                .as_ref()
                .is_some_and(|d| d.subject_code == subject::EUICC_EXECUTION) =>
        {
            return Ok(Err(respond(s)));
        }
        Err(e) => return Err(peer_err("CreateAdditionalKeySet", e)),
    };
    let answer: CreateAdditionalKeySetResponse =
        serde_json::from_value(body).map_err(|e| internal("CreateAdditionalKeySet answer", e))?;
    let mut bytes = Vec::new();
    if let Some(dr) = &answer.derivation_random {
        bytes.extend_from_slice(&esim_codec::ber::tlv(0x85u8, dr.as_bytes()));
    }
    bytes.extend_from_slice(&esim_codec::ber::tlv(0x86u8, answer.receipt.as_bytes()));
    let keys = awaiting.handle(&bytes).map_err(|e| {
        failed(
            subject::EUICC,
            reason::VERIFICATION_FAILED,
            eid.as_str(),
            &format!(
                "the card's receipt for keyset {:02X} was not verified: {e}",
                params.kvn
            ),
        )
    })?;
    let ks = if key_type == KEY_TYPE_SCP80 {
        let k = keys.scp80().map_err(|e| internal("SCP80 keys", e))?;
        EisKeyset {
            version: params.kvn,
            keyset_type: "SCP80".into(),
            cntr: Some(esim_codec::hex::encode(&k.initial_counter)),
            psk_identity: None,
            keys: vec![
                eis_key("AES", 1, &k.kic)?,
                eis_key("AES", 2, &k.kid)?,
                eis_key("AES", 3, &k.dek)?,
            ],
        }
    } else {
        let psk = keys.psk().map_err(|e| internal("PSK", e))?;
        EisKeyset {
            version: params.kvn,
            keyset_type: "SCP81".into(),
            cntr: None,
            psk_identity: Some(esim_codec::hex::encode(&pki::scp81_psk_identity(
                &eid, params.kvn, params.kid,
            ))),
            keys: vec![eis_key("PSK-TLS", params.kid, &psk)?],
        }
    };
    Ok(Ok(ks))
}

/// The EIS document SM-SR2 keeps: the handed-over EUM-signed information with the new ISD-R
/// keysets (key values included, sealed at rest). The EUM signature is kept as received; it
/// covered SM-SR1's initial keysets and cannot be re-verified (docs/spec-choices.md).
fn document(eis: &Eis, keysets: Vec<EisKeyset>) -> EisDocument {
    let s = &eis.eum_signed_info;
    let caps = &s.euicc_capabilities;
    let hex = |b: &[u8]| esim_codec::hex::encode_upper(b);
    EisDocument {
        eum_signed_info: pki::EumSignedInfo {
            eid: s.eid.as_str().to_owned(),
            eum_id: s.eum_id.clone(),
            production_date: s.production_date.clone(),
            platform_type: s.platform_type.clone(),
            platform_version: s.platform_version.clone(),
            isd_p_loadfile_aid: hex(s.isd_p_loadfile_aid.as_bytes()),
            isd_p_module_aid: hex(s.isd_p_module_aid.as_bytes()),
            ecasd: EisSecurityDomain {
                aid: hex(s.ecasd.aid.as_bytes()),
                tar: hex(&s.ecasd.tar.unwrap_or(esim_codec::Tar::ECASD).0),
                role: "ECASD".into(),
                certificate: Some(hex(s.ecasd.certificate.as_bytes())),
                keysets: Vec::new(),
            },
            isd_r: EisSecurityDomain {
                aid: hex(eis.isd_r.aid.as_bytes()),
                tar: hex(&eis.isd_r.tar.0),
                role: "ISD-R".into(),
                certificate: None,
                keysets,
            },
            euicc_capabilities: pki::EuiccCapabilities {
                cattp_support: caps.cattp_support,
                cattp_version: caps.cattp_version.clone(),
                http_support: caps.http_support,
                http_version: caps.http_version.clone(),
                secure_packet_version: caps.secure_packet_version.clone().unwrap_or_default(),
                remote_provisioning_version: caps
                    .remote_provisioning_version
                    .clone()
                    .unwrap_or_default(),
            },
            remaining_memory: eis.remaining_memory,
            available_memory_for_profiles: eis.available_memory_for_profiles,
        },
        signature_algorithm: pki::EIS_SIGNATURE_ALGORITHM.into(),
        eum_signature: esim_codec::hex::encode(eis.eum_signature.as_bytes()),
        eum_certificate_id: eis.eum_certificate_id.clone(),
    }
}

fn profile_record(eid: &Eid, p: &esim_proto::eis::ProfileInfo) -> ProfileRecord {
    let sa = p.subscription_address.clone();
    ProfileRecord {
        eid: eid.clone(),
        iccid: p.iccid.clone(),
        isd_p_aid: p.isd_p_aid.clone(),
        mno_id: p.mno_id.clone(),
        smdp_id: p.smdp_id.clone(),
        profile_type: p.profile_type.clone().unwrap_or_default(),
        state: match p.state {
            EisProfileState::Enabled => ProfileState::Enabled,
            EisProfileState::Disabled => ProfileState::Disabled,
            EisProfileState::Created => ProfileState::Created,
            EisProfileState::InCreation => ProfileState::InCreation,
        },
        fallback: p.fallback_attribute,
        subscription_address: SubscriptionAddress {
            imsi: sa.as_ref().and_then(|s| s.imsi.clone()),
            msisdn: sa.and_then(|s| s.msisdn),
        },
        pol2: serde_json::to_value(&p.pol2).ok(),
        allocated_memory: p.allocated_memory,
        free_memory: p.free_memory,
        updated_at: now(),
    }
}

/// Registers the taken-over eUICC with the keysets of the plan (idempotent).
async fn register(run: &Run, eis: &Eis, new: &[NewKeyset]) -> Result<(), RunErr> {
    let inner = &run.inner;
    let eid = eis.eid();
    let mut doc_keysets = Vec::new();
    let t = now();
    let mut records = Vec::new();
    for k in new {
        doc_keysets.push(
            open_keyset(inner.sealer.as_ref(), eid, k.kvn, &k.keys)
                .map_err(|e| internal("new keyset", e))?,
        );
        records.push(KeysetRecord {
            eid: eid.clone(),
            kvn: k.kvn,
            kind: k.kind,
            keys: k.keys.clone(),
            psk_identity: k.psk_identity.clone(),
            counter: k.counter,
            created_at: t,
        });
    }
    let doc = document(eis, doc_keysets);
    let json = doc.to_json().map_err(|e| internal("EIS document", e))?;
    let signed_eis = inner.sealer.seal(json.as_bytes(), &eis_aad(eid))?;
    let record = EisRecord {
        eid: eid.clone(),
        eum_id: eis.eum_signed_info.eum_id.clone(),
        smsr_id: inner.config.smsr_id.clone(),
        platform_type: eis.eum_signed_info.platform_type.clone(),
        platform_version: eis.eum_signed_info.platform_version.clone(),
        signed_eis,
        remaining_memory: eis.remaining_memory,
        available_memory_for_profiles: eis.available_memory_for_profiles,
        last_audit: None,
        locked_by: None,
        additional_properties: eis.additional_properties.iter().cloned().collect(),
        version: 0,
        registered_at: t,
        updated_at: t,
    };
    let profiles: Vec<ProfileRecord> = eis
        .profiles
        .iter()
        .filter(|p| p.state != EisProfileState::InCreation)
        .map(|p| profile_record(eid, p))
        .collect();
    match inner.store.register_eis(&record, &records, &profiles).await {
        Ok(()) | Err(StoreError::Duplicate { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `ES7.HandoverEUICC` at SM-SR2 (digest §3.6 steps 3–7).
pub(crate) async fn handover(run: &mut Run, b: &HandoverEuiccRequest) -> R {
    let inner = run.inner.clone();
    let eis = &b.eis;
    let eid = eis.eid().clone();
    let caller = run.state.caller.id.clone();
    let committed: Option<Vec<NewKeyset>> = plan_field(run, "keys");
    let keys = match committed {
        Some(k) => k,
        None => {
            if run.access() != Access::Admin && eis.smsr_id != caller {
                return Err(failed(
                    subject::REQUESTER,
                    reason::NOT_ALLOWED,
                    &caller,
                    "the EIS is managed by another SM-SR than the caller",
                ));
            }
            let Some(prep) = prepared(&inner, &eid, &eis.smsr_id).await? else {
                return Err(failed(
                    subject::EID,
                    reason::NOT_ALLOWED,
                    eid.as_str(),
                    "no PrepareSMSRChange for this eUICC from this SM-SR",
                ));
            };
            match inner.store.get_eis(&eid).await {
                Ok(rec) if rec.smsr_id == inner.config.smsr_id => {
                    // Already taken over (an earlier HandoverEUICC committed): not repeated.
                    return Ok(run.status(FunctionExecutionStatus::warning(
                        subject::EID,
                        reason::ALREADY_IN_USE,
                        "the eUICC is already managed by this SM-SR",
                    )));
                }
                Ok(_) => {
                    return Err(failed(
                        subject::EID,
                        reason::ALREADY_IN_USE,
                        eid.as_str(),
                        "the eUICC is already registered here",
                    ));
                }
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            failpoints::pause(&inner, &eid, "handover").await;
            let ecasd_key = verify_ecasd(&inner, eis)?;
            let used: Vec<u8> = eis.isd_r.keysets.iter().map(|k| k.version).collect();
            let (Some(kvn80), Some(kvn81)) =
                (free_kvn(&used, 0x01..=0x0F), free_kvn(&used, 0x40..=0x4F))
            else {
                return Err(failed(
                    subject::EUICC,
                    reason::UNAVAILABLE,
                    eid.as_str(),
                    "no free ISD-R key version number",
                ));
            };
            let mut new = Vec::new();
            for params in [
                KeyParams::isd_r_scp80(kvn80),
                KeyParams::isd_r_scp81_psk(kvn81),
            ] {
                // Before the commit point nothing is lost by stopping: SM-SR1 waits for this
                // final answer and keeps the eUICC.
                if now().0 >= run.state.deadline {
                    return Err(respond(FunctionExecutionStatus::expired(&format!(
                        "ValidityPeriod ended before the key establishment of keyset {:02X}",
                        params.kvn
                    ))));
                }
                let ks = establish(run, &eis.smsr_id, eis, &ecasd_key, params).await?;
                let (kind, psk_identity, counter) = if ks.keyset_type == "SCP81" {
                    let id = ks
                        .psk_identity
                        .as_deref()
                        .and_then(|h| esim_codec::hex::decode(h).ok());
                    (KeysetKind::Scp81, id, 0)
                } else {
                    (KeysetKind::Scp80, None, 0)
                };
                new.push(NewKeyset {
                    kvn: ks.version,
                    kind,
                    keys: seal_keyset(inner.sealer.as_ref(), &eid, &ks)?,
                    psk_identity,
                    counter,
                });
            }
            failpoints::pause(&inner, &eid, "verified").await;
            // The commit point (EK 07 step 23): from here on this SM-SR manages the card.
            let old: Vec<u8> = {
                let mut v = used.clone();
                v.sort_unstable();
                v.dedup();
                v
            };
            run.set_plan(serde_json::json!({
                "keys": new,
                "old": old,
                "operator": prep.operator,
            }))
            .await?;
            failpoints::pause(&inner, &eid, "committed").await;
            new
        }
    };
    register(run, eis, &keys).await?;
    failpoints::pause(&inner, &eid, "registered").await;
    // Step 6: SM-SR1's keysets are deleted through the new keys, one ES5 job per KVN (a card
    // stops a script at the first error, and each deletion must be tried).
    let old: Vec<u8> = plan_field(run, "old").unwrap_or_default();
    let mut failures = Vec::new();
    for kvn in old {
        if let Some(f) = delete_old_keyset(run, &eid, kvn).await? {
            failures.push(f);
        }
    }
    let warning = (!failures.is_empty()).then(|| {
        format!(
            "the previous SM-SR's keysets could not all be deleted from the card ({})",
            failures.join(", ")
        )
    });
    if plan_field::<bool>(run, "notified").is_none() {
        notify_operators(&inner, &eid).await;
        let mut plan = run.state.plan.clone().unwrap_or_default();
        plan["notified"] = serde_json::Value::Bool(true);
        run.set_plan(plan).await?;
    }
    failpoints::pause(&inner, &eid, "notified").await;
    Ok(match warning {
        Some(w) => run.status(FunctionExecutionStatus::warning(
            subject::EUICC_EXECUTION,
            reason::EXECUTION_ERROR,
            &w,
        )),
        None => run.ok(Some(Empty {})),
    })
}

/// How often SM-SR2 sends the `DELETE` of one of SM-SR1's keysets when the card does not
/// answer (each send is a job of its own: the card may have executed an earlier one).
const DELETE_ATTEMPTS: u32 = 3;

/// Step 6 for one of SM-SR1's keysets: `DELETE {D2 KVN}` through SM-SR2's keys, sent again
/// (as a new job) when the card's answer did not come (lost SMS, expiry). `6A88` (no such
/// keyset) counts as deleted: an earlier send whose answer was lost did it. Returns the
/// failure text, `None` when the keyset is gone.
async fn delete_old_keyset(run: &mut Run, eid: &Eid, kvn: u8) -> Result<Option<String>, RunErr> {
    let mut last = String::new();
    for attempt in 1..=DELETE_ATTEMPTS {
        let cmd = esim_apdu::apdu::CommandApdu::new(0x80, 0xE4, 0x00, 0x00)
            .with_data(vec![0xD2, 0x01, kvn]);
        let step = if attempt == 1 {
            format!("finalise-handover-{kvn:02x}")
        } else {
            format!("finalise-handover-{kvn:02x}.{attempt}")
        };
        let out = run.es5(eid, &step, JobTarget::IsdR, apdus(&[cmd])?).await;
        let sw = match &out {
            Ok(Es5Outcome::Completed { responses, .. }) => responses.last().map(|r| r.sw.to_u16()),
            Ok(Es5Outcome::CardError { sw, .. }) => Some(*sw),
            _ => None,
        };
        match (sw, out) {
            (Some(0x9000 | 0x6A88), _) => return Ok(None),
            (Some(sw), _) => return Ok(Some(format!("{kvn:02X}: SW {sw:04X}"))),
            (None, Ok(o)) => last = format!("{kvn:02X}: {o:?}"),
            (None, Err(RunErr::Respond(s))) => {
                // Refused before the card (no keyset, ValidityPeriod over): not sent again.
                return Ok(Some(format!(
                    "{kvn:02X}: {}",
                    s.status_code_data
                        .and_then(|d| d.message)
                        .unwrap_or_default()
                )));
            }
            (None, Err(e @ RunErr::Lost(_))) => return Err(e),
        }
    }
    Ok(Some(last))
}

/// `HandleSMSRChangeNotification` (the party's view of the EIS, with the new `Smsr-id`) to the
/// MNO (ES4) and the SM-DP (ES3) of every Profile on the eUICC.
async fn notify_operators(inner: &Inner, eid: &Eid) {
    let (rec, profiles) = match (
        inner.store.get_eis(eid).await,
        inner.store.profiles(eid).await,
    ) {
        (Ok(r), Ok(p)) => (r, p),
        _ => return,
    };
    let mut parties: Vec<(String, bool)> = profiles
        .iter()
        .flat_map(|p| [(p.mno_id.clone(), true), (p.smdp_id.clone(), false)])
        .filter(|(id, _)| !id.is_empty())
        .collect();
    parties.sort();
    parties.dedup();
    for (party, is_mno) in parties {
        let access = if is_mno {
            Access::Mno(party.clone())
        } else {
            Access::Smdp(party.clone())
        };
        let Ok(view) = crate::ops::eis_view(inner, &access, &rec, &profiles) else {
            return;
        };
        let Ok(id) = OperationId::random() else {
            return;
        };
        let Ok(r) = request(
            inner,
            &format!("{}-{}", inner.config.smsr_id, id.as_str()),
            SmsrChangeNotification {
                eis: view,
                completion_time_stamp: esim_service::xs_datetime(now()),
            },
        ) else {
            return;
        };
        let msg = Callback::Notification(if is_mno {
            AnyRequest::Es4HandleSmsrChangeNotification(r)
        } else {
            AnyRequest::Es3HandleSmsrChangeNotification(r)
        });
        if let Err(e) = inner.callbacks.deliver(&party, msg).await {
            tracing::warn!(party, error = %e, "SM-SR change notification failed");
        }
    }
}

/// Test hook for the SM-SR change's interruption tests (`tests/smsr_change.rs`): named points
/// of the procedure where a test holds it to kill an SM-SR exactly there. An SM-SR passes a
/// point at once unless a test armed it for this SM-SR and eUICC; then it reports the point
/// reached and waits until the test releases it (an SM-SR dropped meanwhile never continues).
/// Points: at SM-SR1 `locked`, `handed-over`, `forgotten`; at SM-SR2 `handover`, `verified`,
/// `committed`, `registered`, `notified` (see the module documentation).
#[doc(hidden)]
pub mod failpoints {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex, OnceLock};

    use esim_codec::Eid;
    use tokio::sync::watch;

    use crate::service::Inner;

    /// An armed point.
    #[derive(Debug)]
    pub struct Point {
        reached: watch::Sender<bool>,
        released: watch::Sender<bool>,
    }

    impl Point {
        /// Waits until an SM-SR reached the point.
        pub async fn reached(&self) {
            let mut rx = self.reached.subscribe();
            let _ = rx.wait_for(|r| *r).await;
        }

        /// Whether an SM-SR reached the point.
        pub fn was_reached(&self) -> bool {
            *self.reached.borrow()
        }

        /// Lets the SM-SR that reached the point continue.
        pub fn release(&self) {
            self.released.send_replace(true);
        }
    }

    type Key = (String, String, String);

    static ANY: AtomicBool = AtomicBool::new(false);

    fn points() -> &'static Mutex<HashMap<Key, Arc<Point>>> {
        static P: OnceLock<Mutex<HashMap<Key, Arc<Point>>>> = OnceLock::new();
        P.get_or_init(|| Mutex::new(HashMap::new()))
    }

    /// Arms `point` once for SM-SR `smsr_id` and eUICC `eid`.
    pub fn arm(smsr_id: &str, eid: &Eid, point: &str) -> Arc<Point> {
        let p = Arc::new(Point {
            reached: watch::channel(false).0,
            released: watch::channel(false).0,
        });
        points().lock().unwrap_or_else(|e| e.into_inner()).insert(
            (smsr_id.into(), eid.as_str().into(), point.into()),
            p.clone(),
        );
        ANY.store(true, Ordering::SeqCst);
        p
    }

    /// Passes `point` (held there while a test armed it).
    pub(crate) async fn pause(inner: &Inner, eid: &Eid, point: &str) {
        if !ANY.load(Ordering::Relaxed) {
            return;
        }
        let key = (
            inner.config.smsr_id.clone(),
            eid.as_str().to_owned(),
            point.to_owned(),
        );
        let armed = points()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&key);
        if let Some(p) = armed {
            let mut rx = p.released.subscribe();
            p.reached.send_replace(true);
            let _ = rx.wait_for(|r| *r).await;
        }
    }
}
