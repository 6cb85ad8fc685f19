//! The procedures behind the ES3/ES4 functions (SGP.02 §3.1–3.10, §5.4, §5.5; digest §3):
//! authorisation, POL2 (digest §4.3), the ES5 commands (digest §2.7) and EIS upkeep.

use esim_apdu::apdu::{CommandApdu, ResponseApdu};
use esim_apdu::etsi102226::CommandScript;
use esim_apdu::gp::delete::Delete;
use esim_apdu::gp::get_data::{CardResources, GetData, TAG_CARD_RESOURCES};
use esim_apdu::gp::install::{CreateIsdp, Install};
use esim_apdu::gp::life_cycle;
use esim_apdu::gp::sgp02::{self, Es5Command};
use esim_apdu::gp::status::{GetStatus, RegistryEntry, StatusSubset, parse_entries};
use esim_apdu::gp::store_data::{StoreDataP1, split};
use esim_codec::{Aid, Eid, Iccid, Tar};
use esim_crypto::pki::EisDocument;
use esim_proto::codes::{reason, subject};
use esim_proto::common::{Empty, FunctionExecutionStatus, HexBytes};
use esim_proto::eis::{self, Eis, ProfileInfo};
use esim_proto::es2::GetEisResponse;
use esim_proto::es3::{
    AuditEisResponse, CreateIsdpRequest, CreateIsdpResponse, SendDataRequest, SendDataResponse,
};
use esim_proto::function::AnyRequest;
use esim_proto::pol2::{Decision, Operation as Pol2Op, Pol2};
use esim_store::{EisRecord, ProfileRecord, ProfileState, StoreError, SubscriptionAddress};

use crate::delivery::{Es5Outcome, JobPayload, JobTarget};
use crate::keys::eis_aad;
use crate::notify;
use crate::service::{Access, Inner, Run, RunErr, decode, now};

/// TAR `000010` is the bootstrap ISD-P's (`esim_euicc` `BOOTSTRAP_TAR`); new ISD-Ps get the
/// lowest free TAR from `000011` (docs/spec-choices.md).
const FIRST_TAR: u32 = 0x11;

type R = Result<serde_json::Value, RunErr>;

pub(crate) fn respond(s: FunctionExecutionStatus) -> RunErr {
    RunErr::Respond(s)
}

pub(crate) fn internal(what: &str, e: impl std::fmt::Display) -> RunErr {
    RunErr::Respond(FunctionExecutionStatus::failed(
        subject::SM_SR,
        reason::EXECUTION_ERROR,
        &format!("{what}: {e}"),
    ))
}

/// Runs the function of `run`.
pub(crate) async fn dispatch(run: &mut Run) -> R {
    let req = decode(run)?;
    match req {
        AnyRequest::Es1RegisterEis(r) => {
            let extra = match crate::es1::Registration::from_request(&r.body) {
                Ok(x) => x,
                Err(st) => return Err(respond(st)),
            };
            let st = crate::es1::register(&run.inner, &run.access(), &r.body.eis, &extra).await?;
            Ok(if st.is_executed() {
                run.ok(Some(Empty {}))
            } else {
                run.status(st)
            })
        }
        AnyRequest::Es3GetEis(r) | AnyRequest::Es4GetEis(r) => get_eis(run, &r.body.eid).await,
        AnyRequest::Es3AuditEis(r) | AnyRequest::Es4AuditEis(r) => {
            audit(run, &r.body.eid, &r.body.iccids).await
        }
        AnyRequest::Es3CreateIsdp(r) => create_isdp(run, &r.body).await,
        AnyRequest::Es3SendData(r) => send_data(run, &r.body).await,
        AnyRequest::Es3ProfileDownloadCompleted(r) => {
            let b = &r.body;
            let (_, profiles) = visible(run, &b.eid).await?;
            let mut p = owned(run, &profiles, &b.iccid)?;
            if !matches!(p.state, ProfileState::Created | ProfileState::InCreation) {
                return Err(respond(FunctionExecutionStatus::failed_for(
                    subject::ICCID,
                    reason::INVALID_TRANSITION,
                    b.iccid.as_str(),
                    "the Profile's download was already completed",
                )));
            }
            p.state = ProfileState::Disabled;
            if let Some(t) = &b.profile_type {
                p.profile_type = t.clone();
            }
            p.subscription_address = SubscriptionAddress {
                imsi: b.subscription_address.imsi.clone(),
                msisdn: b.subscription_address.msisdn.clone(),
            };
            p.pol2 = serde_json::to_value(&b.pol2).ok();
            p.updated_at = now();
            run.inner.store.update_profile(&p).await?;
            Ok(run.ok(Some(Empty {})))
        }
        AnyRequest::Es3EnableProfile(r) | AnyRequest::Es4EnableProfile(r) => {
            enable(run, &r.body.eid, &r.body.iccid).await
        }
        AnyRequest::Es3DisableProfile(r) | AnyRequest::Es4DisableProfile(r) => {
            disable(run, &r.body.eid, &r.body.iccid).await
        }
        AnyRequest::Es3DeleteIsdp(r) | AnyRequest::Es4DeleteProfile(r) => {
            delete(run, &r.body.eid, &r.body.iccid).await
        }
        AnyRequest::Es3UpdatePolicyRules(r) | AnyRequest::Es4UpdatePolicyRules(r) => {
            let b = &r.body;
            let (_, profiles) = visible(run, &b.eid).await?;
            let mut p = owned(run, &profiles, &b.iccid)?;
            p.pol2 = serde_json::to_value(&b.pol2).ok();
            p.updated_at = now();
            run.inner.store.update_profile(&p).await?;
            Ok(run.ok(Some(Empty {})))
        }
        AnyRequest::Es3UpdateSubscriptionAddress(r) => {
            // The Profile's SM-DP relays ES2.UpdateSubscriptionAddress (SGP.02 §5.4): the EIS
            // takes the new address; nothing is sent to the card (docs/spec-choices.md).
            let b = &r.body;
            let (_, profiles) = visible(run, &b.eid).await?;
            let mut p = owned(run, &profiles, &b.iccid)?;
            p.subscription_address = SubscriptionAddress {
                imsi: b.subscription_address.imsi.clone(),
                msisdn: b.subscription_address.msisdn.clone(),
            };
            p.updated_at = now();
            run.inner.store.update_profile(&p).await?;
            Ok(run.ok(Some(Empty {})))
        }
        AnyRequest::Es3UpdateConnectivityParameters(r) => {
            let b = &r.body;
            let (_, profiles) = visible(run, &b.eid).await?;
            let p = owned(run, &profiles, &b.iccid)?;
            let data = b.connectivity_parameters.as_bytes();
            let framed =
                if data.starts_with(&sgp02::TAG_UPDATE_CONNECTIVITY_PARAMETERS.to_be_bytes()) {
                    data.to_vec()
                } else {
                    sgp02::frame(sgp02::TAG_UPDATE_CONNECTIVITY_PARAMETERS, data)
                };
            let mut cmds = vec![Install::for_personalization(&p.isd_p_aid)];
            cmds.extend(
                split(
                    StoreDataP1::sgp02_last(),
                    &framed,
                    run.inner.config.max_block,
                )
                .map_err(|e| internal("building 3A07", e))?,
            );
            let out = run
                .es5(&b.eid, "connectivity", JobTarget::IsdR, apdus(&cmds)?)
                .await?;
            check(out, "UpdateConnectivityParameters", Some(&b.iccid))?;
            Ok(run.ok(Some(Empty {})))
        }
        AnyRequest::Es4SetFallbackAttribute(r) => {
            set_fallback(run, &r.body.eid, &r.body.iccid).await
        }
        AnyRequest::Es4MasterDelete(r) => master_delete(run, &r.body.eid, &r.body.iccid).await,
        AnyRequest::Es4PrepareSmsrChange(r) => crate::smsr_change::prepare(run, &r.body).await,
        AnyRequest::Es4SmsrChange(r) => crate::smsr_change::smsr_change(run, &r.body).await,
        AnyRequest::Es7HandoverEuicc(r) => crate::smsr_change::handover(run, &r.body).await,
        AnyRequest::Es7AuthenticateSmsr(r) => crate::es7::authenticate(run, &r.body).await,
        AnyRequest::Es7CreateAdditionalKeySet(r) => crate::es7::create_keyset(run, &r.body).await,
        other => Err(respond(FunctionExecutionStatus::failed(
            subject::FUNCTION,
            reason::UNSUPPORTED,
            &format!("{} is not served by the SM-SR", other.function().name()),
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Authorisation and EIS views.

fn eid_refused(access: &Access, eid: &Eid, exists: bool) -> RunErr {
    respond(if exists || *access != Access::Admin {
        FunctionExecutionStatus::failed_for(
            subject::EID,
            reason::NOT_ALLOWED,
            eid.as_str(),
            "EID not allowed for this caller",
        )
    } else {
        FunctionExecutionStatus::failed_for(
            subject::EID,
            reason::UNKNOWN,
            eid.as_str(),
            "unknown EID",
        )
    })
}

/// The eUICC if the caller may see it: an ADMIN always, an SM-DP always (it downloads to
/// eUICCs on which it has no Profile yet), an MNO when it owns a Profile on it, an EUM when it
/// made it. Unknown and not visible look the same to non-administrators.
pub(crate) async fn visible(
    run: &Run,
    eid: &Eid,
) -> Result<(EisRecord, Vec<ProfileRecord>), RunErr> {
    let access = run.access();
    let eis = match run.inner.store.get_eis(eid).await {
        Ok(e) => e,
        Err(StoreError::NotFound { .. }) => return Err(eid_refused(&access, eid, false)),
        Err(e) => return Err(e.into()),
    };
    let profiles = run.inner.store.profiles(eid).await?;
    let ok = match &access {
        Access::Admin | Access::Smdp(_) => true,
        Access::Mno(id) => profiles.iter().any(|p| &p.mno_id == id),
        Access::Eum(id) => &eis.eum_id == id,
    };
    if !ok {
        return Err(eid_refused(&access, eid, true));
    }
    // An eUICC locked by an SM-SR change (digest §3.6 step 2) takes no card procedure.
    if let Some(by) = &eis.locked_by
        && *by != run.id
        && !crate::service::is_quick(run.state.function)
    {
        return Err(respond(FunctionExecutionStatus::failed_for(
            subject::EID,
            reason::UNAVAILABLE,
            eid.as_str(),
            "the eUICC is locked by an SM-SR change",
        )));
    }
    Ok((eis, profiles))
}

fn may_act(access: &Access, p: &ProfileRecord) -> bool {
    match access {
        Access::Admin => true,
        Access::Mno(id) => &p.mno_id == id,
        Access::Smdp(id) => &p.smdp_id == id,
        Access::Eum(_) => false,
    }
}

/// The Profile if the caller owns it (MNO: `Mno-id`; SM-DP: the one that created it).
pub(crate) fn owned(
    run: &Run,
    profiles: &[ProfileRecord],
    iccid: &Iccid,
) -> Result<ProfileRecord, RunErr> {
    let access = run.access();
    match profiles.iter().find(|p| &p.iccid == iccid) {
        Some(p) if may_act(&access, p) => Ok(p.clone()),
        None if access == Access::Admin => Err(respond(FunctionExecutionStatus::failed_for(
            subject::ICCID,
            reason::UNKNOWN,
            iccid.as_str(),
            "unknown ICCID on this eUICC",
        ))),
        _ => Err(respond(FunctionExecutionStatus::failed_for(
            subject::ICCID,
            reason::NOT_ALLOWED,
            iccid.as_str(),
            "Profile not allowed for this caller",
        ))),
    }
}

pub(crate) fn pol2_of(p: &ProfileRecord) -> Pol2 {
    p.pol2
        .clone()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default()
}

fn eis_state(s: ProfileState) -> eis::ProfileState {
    match s {
        ProfileState::Enabled => eis::ProfileState::Enabled,
        ProfileState::Disabled => eis::ProfileState::Disabled,
        ProfileState::Created => eis::ProfileState::Created,
        _ => eis::ProfileState::InCreation,
    }
}

pub(crate) fn profile_info(p: &ProfileRecord) -> ProfileInfo {
    let sa = &p.subscription_address;
    ProfileInfo {
        iccid: p.iccid.clone(),
        isd_p_aid: p.isd_p_aid.clone(),
        mno_id: p.mno_id.clone(),
        fallback_attribute: p.fallback,
        subscription_address: (sa.imsi.is_some() || sa.msisdn.is_some()).then(|| {
            eis::SubscriptionAddress {
                imsi: sa.imsi.clone(),
                msisdn: sa.msisdn.clone(),
            }
        }),
        state: eis_state(p.state),
        smdp_id: p.smdp_id.clone(),
        profile_type: (!p.profile_type.is_empty()).then(|| p.profile_type.clone()),
        allocated_memory: p.allocated_memory,
        free_memory: p.free_memory,
        pol2: pol2_of(p),
    }
}

/// The public EIS (GetEIS view, digest §4.1) with the Profiles the caller may see: all for an
/// ADMIN, its own for an MNO or SM-DP, none for an EUM. In-Creation Profiles are hidden.
pub(crate) fn eis_view(
    inner: &Inner,
    access: &Access,
    rec: &EisRecord,
    profiles: &[ProfileRecord],
) -> Result<Eis, RunErr> {
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
        .filter(|p| p.state != ProfileState::InCreation && may_act(access, p))
        .map(profile_info)
        .collect();
    e.additional_properties = rec
        .additional_properties
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(e.redacted())
}

async fn get_eis(run: &mut Run, eid: &Eid) -> R {
    let (rec, profiles) = visible(run, eid).await?;
    let eis = eis_view(&run.inner, &run.access(), &rec, &profiles)?;
    Ok(run.ok(Some(GetEisResponse { eis })))
}

// ---------------------------------------------------------------------------------------------
// Card answers.

pub(crate) fn apdus(cmds: &[CommandApdu]) -> Result<JobPayload, RunErr> {
    cmds.iter()
        .map(|c| {
            c.encode()
                .map(|b| esim_codec::hex::encode_upper(&b))
                .map_err(|e| internal("encoding a command", e))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(JobPayload::Apdus)
}

fn sw_status(sw: u16, what: &str, iccid: Option<&Iccid>) -> FunctionExecutionStatus {
    let id = iccid.map(Iccid::as_str);
    match sw {
        0x69E1 => FunctionExecutionStatus::failed_for(
            subject::PROFILE,
            reason::REFUSED,
            id.unwrap_or(""),
            &format!("{what}: refused by the POL1 of the Profile (SW 69E1)"),
        ),
        0x6A84 => FunctionExecutionStatus::failed(
            subject::EUICC,
            reason::INSUFFICIENT_MEMORY,
            &format!("{what}: not enough memory on the eUICC (SW 6A84)"),
        ),
        _ => FunctionExecutionStatus::failed(
            subject::EUICC_EXECUTION,
            reason::EXECUTION_ERROR,
            &format!("{what}: the eUICC answered SW {sw:04X}"),
        ),
    }
}

fn not_card(out: &Es5Outcome, what: &str) -> FunctionExecutionStatus {
    match out {
        Es5Outcome::Expired => {
            FunctionExecutionStatus::expired(&format!("{what}: ValidityPeriod ended"))
        }
        Es5Outcome::Unreachable { reason: why } => FunctionExecutionStatus::failed(
            subject::EUICC,
            reason::INACCESSIBLE,
            &format!("{what}: eUICC not reachable ({why})"),
        ),
        _ => FunctionExecutionStatus::failed(
            subject::EUICC_EXECUTION,
            reason::EXECUTION_ERROR,
            &format!("{what}: unexpected outcome"),
        ),
    }
}

/// Checks that every command ran with a success (or warning) status word.
pub(crate) fn check(
    out: Es5Outcome,
    what: &str,
    iccid: Option<&Iccid>,
) -> Result<Vec<ResponseApdu>, RunErr> {
    match out {
        Es5Outcome::Completed { responses, .. } => {
            match responses
                .iter()
                .find(|r| !(r.sw.is_success() || r.sw.is_warning()))
            {
                Some(bad) => Err(respond(sw_status(bad.sw.to_u16(), what, iccid))),
                None => Ok(responses),
            }
        }
        Es5Outcome::CardError { sw, .. } => Err(respond(sw_status(sw, what, iccid))),
        other => Err(respond(not_card(&other, what))),
    }
}

/// The last status word of an outcome, if the card answered at all.
fn last_sw(out: &Es5Outcome) -> Option<u16> {
    match out {
        Es5Outcome::Completed { responses, .. } => responses.last().map(|r| r.sw.to_u16()),
        Es5Outcome::CardError { sw, .. } => Some(*sw),
        _ => None,
    }
}

pub(crate) fn plan_field<T: serde::de::DeserializeOwned>(run: &Run, key: &str) -> Option<T> {
    run.state
        .plan
        .as_ref()
        .and_then(|p| p.get(key))
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

/// Keeps `AvailableMemoryForProfiles` in step with what the SM-SR granted and freed (AuditEIS
/// replaces it with the card's figure).
async fn adjust_memory(run: &Run, eid: &Eid, delta: i64) -> Result<(), RunErr> {
    for _ in 0..3 {
        let mut rec = run.inner.store.get_eis(eid).await?;
        let v = i64::from(rec.available_memory_for_profiles).saturating_add(delta);
        rec.available_memory_for_profiles = u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        rec.updated_at = now();
        match run.inner.store.update_eis(&rec).await {
            Ok(_) => return Ok(()),
            Err(StoreError::VersionMismatch { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ES3.CreateISDP and SendData.

fn next_free_aid(profiles: &[ProfileRecord]) -> Option<Aid> {
    let used: Vec<Tar> = profiles
        .iter()
        .filter_map(|p| p.isd_p_aid.sgp02_tar())
        .collect();
    (FIRST_TAR..=0xFFFF)
        .map(|n| Tar([0, (n >> 8) as u8, (n & 0xFF) as u8]))
        .find(|t| !used.contains(t))
        .map(Aid::isd_p)
}

async fn create_isdp(run: &mut Run, b: &CreateIsdpRequest) -> R {
    let aid: Aid = match plan_field(run, "aid") {
        Some(a) => a,
        None => {
            let (rec, profiles) = visible(run, &b.eid).await?;
            if profiles.iter().any(|p| p.iccid == b.iccid) {
                return Err(respond(FunctionExecutionStatus::failed_for(
                    subject::ICCID,
                    reason::ALREADY_IN_USE,
                    b.iccid.as_str(),
                    "a Profile with this ICCID is already on the eUICC",
                )));
            }
            if b.required_memory > rec.available_memory_for_profiles {
                return Err(respond(FunctionExecutionStatus::failed_for(
                    subject::EUICC,
                    reason::INSUFFICIENT_MEMORY,
                    b.eid.as_str(),
                    &format!(
                        "RequiredMemory {} exceeds the {} bytes available for Profiles",
                        b.required_memory, rec.available_memory_for_profiles
                    ),
                )));
            }
            let Some(aid) = next_free_aid(&profiles) else {
                return Err(respond(FunctionExecutionStatus::failed(
                    subject::ISD_P,
                    reason::UNAVAILABLE,
                    "no free ISD-P AID",
                )));
            };
            run.set_plan(serde_json::json!({ "aid": aid })).await?;
            let smdp_id = run.state.caller.id.clone();
            let p = ProfileRecord {
                eid: b.eid.clone(),
                iccid: b.iccid.clone(),
                isd_p_aid: aid.clone(),
                mno_id: b.mno_id.clone(),
                smdp_id,
                profile_type: String::new(),
                state: ProfileState::InCreation,
                fallback: false,
                subscription_address: SubscriptionAddress::default(),
                pol2: None,
                allocated_memory: b.required_memory,
                free_memory: b.required_memory,
                updated_at: now(),
            };
            match run.inner.store.insert_profile(&p).await {
                Ok(()) | Err(StoreError::Duplicate { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            aid
        }
    };
    let required = (b.required_memory > 0).then_some(b.required_memory);
    let cmd = CreateIsdp::new(aid.clone(), required)
        .to_command()
        .map_err(|e| internal("building CreateISDP", e))?;
    let out = run
        .es5(&b.eid, "create-isdp", JobTarget::IsdR, apdus(&[cmd])?)
        .await?;
    let created = (&b.eid, &aid, "create-isdp", life_cycle::SELECTABLE);
    match check_or_done(run, out, "CreateISDP", &b.iccid, created).await {
        Ok(responses) => {
            run.inner
                .store
                .set_profile_state(&b.eid, &b.iccid, ProfileState::Created, now())
                .await?;
            adjust_memory(run, &b.eid, -i64::from(b.required_memory)).await?;
            let raw = responses.last().map(ResponseApdu::encode);
            Ok(run.ok(Some(CreateIsdpResponse {
                isd_p_aid: aid,
                euicc_response_data: raw.map(HexBytes),
            })))
        }
        Err(e) => {
            run.inner.store.delete_profile(&b.eid, &b.iccid).await.ok();
            Err(e)
        }
    }
}

/// Whether the card already shows the ISD-P at `aid` in life cycle `wanted` (the result of a
/// command this operation sent), read with `GET STATUS` (P1 `40`, AID filter).
///
/// A command can reach the card while its answer is lost (the SM-SR killed before the PoR came
/// back, an SMS-MO dropped); sent again after a restart, the card refuses what it already did
/// (`6A80` for an existing AID, `6985` for a Profile already enabled). When the card is in the
/// state the command leads to, the operation completes instead of failing over a change the
/// EIS would then not know (docs/spec-choices.md row 77).
async fn already_done(
    run: &mut Run,
    eid: &Eid,
    aid: &Aid,
    step: &str,
    wanted: u8,
) -> Result<bool, RunErr> {
    let cmd = GetStatus::for_aid(StatusSubset::Applications, aid).to_command();
    let out = run
        .es5(
            eid,
            &format!("{step}-check"),
            JobTarget::IsdR,
            apdus(&[cmd])?,
        )
        .await?;
    let Some(r) = (match &out {
        Es5Outcome::Completed { responses, .. } | Es5Outcome::CardError { responses, .. } => {
            responses.last()
        }
        _ => None,
    }) else {
        return Ok(false);
    };
    if !r.is_success() {
        return Ok(false);
    }
    let entries = parse_entries(&r.data).map_err(|e| internal("GET STATUS", e))?;
    let done = entries
        .iter()
        .any(|e| e.aid == *aid && e.life_cycle & !life_cycle::LOCKED_BIT == wanted);
    if done {
        tracing::info!(eid = %eid.as_str(), aid = %aid, step, "the card did it already: an earlier send's answer was lost");
    }
    Ok(done)
}

/// [`check`], but a card error after which the card shows the ISD-P in life cycle `wanted`
/// counts as done ([`already_done`]).
async fn check_or_done(
    run: &mut Run,
    out: Es5Outcome,
    what: &str,
    iccid: &Iccid,
    target: (&Eid, &Aid, &str, u8),
) -> Result<Vec<ResponseApdu>, RunErr> {
    let (eid, aid, step, wanted) = target;
    match check(out, what, Some(iccid)) {
        Ok(r) => Ok(r),
        Err(e) if already_done(run, eid, aid, step, wanted).await? => {
            drop(e);
            Ok(Vec::new())
        }
        Err(e) => Err(e),
    }
}

fn refuse_script(msg: &str) -> RunErr {
    respond(FunctionExecutionStatus::failed(
        subject::REQUEST_FIELD,
        reason::NOT_ALLOWED,
        msg,
    ))
}

/// SendData to the ISD-R may only carry what a download needs (docs/spec-choices.md row 58):
/// INSTALL [for personalization] of one of the caller's ISD-Ps being created, and STORE DATA
/// blocks whose `3Axx` payloads are key establishment (`3A01`, `3A02`).
fn check_isd_r_script(data: &[u8], mine: &[Aid]) -> Result<(), RunErr> {
    let script = CommandScript::decode(data)
        .map_err(|e| refuse_script(&format!("Data is not an expanded command script: {e}")))?;
    for c in script.apdus() {
        match (c.ins, c.p1) {
            (0xE6, 0x20) => match Install::parse(c) {
                Ok(Install::ForPersonalization { application }) if mine.contains(&application) => {}
                _ => {
                    return Err(refuse_script(
                        "INSTALL [for personalization] of an ISD-P the caller is not creating",
                    ));
                }
            },
            (0xE2, _) => {
                if c.data.first() == Some(&0x3A)
                    && !matches!(c.data.get(1), Some(0x01) | Some(0x02))
                {
                    return Err(refuse_script(
                        "STORE DATA to the ISD-R other than key establishment",
                    ));
                }
            }
            _ => {
                return Err(refuse_script(&format!(
                    "command INS {:02X} not allowed in SendData to the ISD-R",
                    c.ins
                )));
            }
        }
    }
    Ok(())
}

async fn send_data(run: &mut Run, b: &SendDataRequest) -> R {
    let (_, profiles) = visible(run, &b.eid).await?;
    let access = run.access();
    let target = if b.sd_aid == Aid::isd_r() {
        let mine: Vec<Aid> = profiles
            .iter()
            .filter(|p| {
                may_act(&access, p)
                    && matches!(p.state, ProfileState::InCreation | ProfileState::Created)
            })
            .map(|p| p.isd_p_aid.clone())
            .collect();
        check_isd_r_script(b.data.as_bytes(), &mine)?;
        JobTarget::IsdR
    } else {
        match profiles.iter().find(|p| p.isd_p_aid == b.sd_aid) {
            Some(p) if may_act(&access, p) => JobTarget::IsdP(p.isd_p_aid.clone()),
            _ => {
                return Err(respond(FunctionExecutionStatus::failed_for(
                    subject::ISD_P,
                    reason::NOT_ALLOWED,
                    &b.sd_aid.to_string(),
                    "ISD-P not allowed for this caller",
                )));
            }
        }
    };
    let payload = JobPayload::Raw(esim_codec::hex::encode_upper(b.data.as_bytes()));
    let out = run.es5(&b.eid, "send-data", target, payload).await?;
    match out {
        Es5Outcome::Completed { data, .. } => Ok(run.ok(Some(SendDataResponse {
            euicc_response_data: HexBytes(data),
        }))),
        Es5Outcome::CardError { sw, .. } => Err(respond(sw_status(sw, "SendData", None))),
        other => Err(respond(not_card(&other, "SendData"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Enable, disable, delete, fall-back.

fn pol2_check(p: &ProfileRecord, op: Pol2Op) -> Result<bool, RunErr> {
    match pol2_of(p).evaluate(op, p.iccid.as_str()) {
        Decision::Allowed {
            auto_delete_after_disable,
        } => Ok(auto_delete_after_disable),
        Decision::Refused(s) => Err(respond(s)),
    }
}

fn wrong_state(iccid: &Iccid, msg: &str) -> RunErr {
    respond(FunctionExecutionStatus::failed_for(
        subject::ICCID,
        reason::INVALID_TRANSITION,
        iccid.as_str(),
        msg,
    ))
}

async fn enable(run: &mut Run, eid: &Eid, iccid: &Iccid) -> R {
    let aid: Aid = match plan_field(run, "aid") {
        Some(a) => a,
        None => {
            let (_, profiles) = visible(run, eid).await?;
            let p = owned(run, &profiles, iccid)?;
            if p.state != ProfileState::Disabled {
                return Err(wrong_state(iccid, "only a disabled Profile can be enabled"));
            }
            pol2_check(&p, Pol2Op::Enable)?;
            let previous = profiles.iter().find(|q| q.state == ProfileState::Enabled);
            if let Some(cur) = previous {
                pol2_check(cur, Pol2Op::EnableOther)?;
            }
            run.set_plan(serde_json::json!({
                "aid": p.isd_p_aid,
                "previous": previous.map(|q| q.iccid.clone()),
            }))
            .await?;
            p.isd_p_aid
        }
    };
    let cmds = Es5Command::EnableProfile {
        isdp_aid: aid.clone(),
    }
    .to_commands(run.inner.config.max_block)
    .map_err(|e| internal("building 3A03", e))?;
    let out = run
        .es5(eid, "enable", JobTarget::IsdR, apdus(&cmds)?)
        .await?;
    let enabled = (eid, &aid, "enable", life_cycle::ENABLED);
    check_or_done(run, out, "EnableProfile", iccid, enabled).await?;
    let store = &run.inner.store;
    store
        .set_profile_state(eid, iccid, ProfileState::Enabled, now())
        .await?;
    let caller = run.state.caller.id.clone();
    if let Ok(p) = store.get_profile(eid, iccid).await {
        notify::profile_event(&run.inner, notify::Event::Enabled, &p, Some(&caller)).await;
    }
    let previous: Option<Iccid> = plan_field(run, "previous");
    if let Some(prev) = previous
        && let Ok(p) = run.inner.store.get_profile(eid, &prev).await
    {
        notify::profile_event(&run.inner, notify::Event::Disabled, &p, Some(&caller)).await;
        run.inner
            .auto_delete_if_pol2(eid, &p, run.id.as_str())
            .await?;
    }
    Ok(run.ok(Some(Empty {})))
}

async fn disable(run: &mut Run, eid: &Eid, iccid: &Iccid) -> R {
    let aid: Aid = match plan_field(run, "aid") {
        Some(a) => a,
        None => {
            let (_, profiles) = visible(run, eid).await?;
            let p = owned(run, &profiles, iccid)?;
            if p.state != ProfileState::Enabled {
                return Err(wrong_state(
                    iccid,
                    "only the enabled Profile can be disabled",
                ));
            }
            if p.fallback {
                return Err(wrong_state(
                    iccid,
                    "the Profile holds the Fall-back Attribute and cannot be disabled",
                ));
            }
            pol2_check(&p, Pol2Op::Disable)?;
            run.set_plan(serde_json::json!({ "aid": p.isd_p_aid }))
                .await?;
            p.isd_p_aid
        }
    };
    let cmds = Es5Command::DisableProfile {
        isdp_aid: aid.clone(),
    }
    .to_commands(run.inner.config.max_block)
    .map_err(|e| internal("building 3A04", e))?;
    let out = run
        .es5(eid, "disable", JobTarget::IsdR, apdus(&cmds)?)
        .await?;
    let disabled = (eid, &aid, "disable", life_cycle::DISABLED);
    check_or_done(run, out, "DisableProfile", iccid, disabled).await?;
    let store = &run.inner.store;
    store
        .set_profile_state(eid, iccid, ProfileState::Disabled, now())
        .await?;
    // The card enables the Fall-back Profile (digest §3.4).
    if let Some(fb) = store
        .profiles(eid)
        .await?
        .into_iter()
        .find(|q| q.fallback && q.iccid != *iccid)
    {
        store
            .set_profile_state(eid, &fb.iccid, ProfileState::Enabled, now())
            .await?;
        notify::profile_event(&run.inner, notify::Event::Enabled, &fb, None).await;
    }
    if let Ok(p) = store.get_profile(eid, iccid).await {
        let caller = run.state.caller.id.clone();
        notify::profile_event(&run.inner, notify::Event::Disabled, &p, Some(&caller)).await;
        run.inner
            .auto_delete_if_pol2(eid, &p, run.id.as_str())
            .await?;
    }
    Ok(run.ok(Some(Empty {})))
}

async fn delete(run: &mut Run, eid: &Eid, iccid: &Iccid) -> R {
    let (aid, installed): (Aid, bool) = match (plan_field(run, "aid"), plan_field(run, "installed"))
    {
        (Some(a), Some(i)) => (a, i),
        _ => {
            let (_, profiles) = visible(run, eid).await?;
            let p = owned(run, &profiles, iccid)?;
            if p.state == ProfileState::Enabled {
                return Err(wrong_state(iccid, "the enabled Profile cannot be deleted"));
            }
            if p.fallback {
                return Err(wrong_state(
                    iccid,
                    "the Profile holds the Fall-back Attribute and cannot be deleted",
                ));
            }
            let installed = p.state == ProfileState::Disabled;
            if installed {
                pol2_check(&p, Pol2Op::Delete)?;
            }
            run.set_plan(serde_json::json!({ "aid": p.isd_p_aid, "installed": installed }))
                .await?;
            (p.isd_p_aid, installed)
        }
    };
    let cmd = Delete::new(aid.clone(), true).to_command();
    let out = run
        .es5(eid, "delete", JobTarget::IsdR, apdus(&[cmd])?)
        .await?;
    // Already gone from the card (6A88): the EIS follows the card.
    if last_sw(&out) != Some(0x6A88) {
        check(out, "DeleteProfile", Some(iccid))?;
    }
    let prior = run.inner.store.get_profile(eid, iccid).await.ok();
    match run.inner.store.delete_profile(eid, iccid).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(p) = &prior {
        adjust_memory(run, eid, i64::from(p.allocated_memory)).await?;
    }
    if installed && let Some(p) = prior {
        notify::profile_event(
            &run.inner,
            notify::Event::Deleted,
            &p,
            Some(&run.state.caller.id),
        )
        .await;
    }
    Ok(run.ok(Some(Empty {})))
}

async fn set_fallback(run: &mut Run, eid: &Eid, iccid: &Iccid) -> R {
    let aid: Aid = match plan_field(run, "aid") {
        Some(a) => a,
        None => {
            let (_, profiles) = visible(run, eid).await?;
            let p = owned(run, &profiles, iccid)?;
            if !matches!(p.state, ProfileState::Enabled | ProfileState::Disabled) {
                return Err(wrong_state(iccid, "the Profile is not installed"));
            }
            run.set_plan(serde_json::json!({ "aid": p.isd_p_aid }))
                .await?;
            p.isd_p_aid
        }
    };
    let payload = sgp02::frame(
        crate::TAG_SET_FALLBACK,
        &esim_codec::ber::tlv(0x4Fu8, aid.as_bytes()),
    );
    let cmds = split(
        StoreDataP1::sgp02_last(),
        &payload,
        run.inner.config.max_block,
    )
    .map_err(|e| internal("building 3A05", e))?;
    let out = run
        .es5(eid, "set-fallback", JobTarget::IsdR, apdus(&cmds)?)
        .await?;
    check(out, "SetFallbackAttribute", Some(iccid))?;
    run.inner.store.set_fallback(eid, iccid, now()).await?;
    Ok(run.ok(Some(Empty {})))
}

// ---------------------------------------------------------------------------------------------
// AuditEIS.

fn state_of(lc: u8) -> Option<ProfileState> {
    match lc & !life_cycle::LOCKED_BIT {
        life_cycle::ENABLED => Some(ProfileState::Enabled),
        life_cycle::DISABLED => Some(ProfileState::Disabled),
        life_cycle::SELECTABLE | life_cycle::PERSONALIZED | life_cycle::INSTALLED => {
            Some(ProfileState::Created)
        }
        _ => None,
    }
}

async fn audit(run: &mut Run, eid: &Eid, iccids: &[Iccid]) -> R {
    visible(run, eid).await?;
    let cmds = [
        GetData::new(TAG_CARD_RESOURCES).to_command(),
        GetStatus::all(StatusSubset::Applications).to_command(),
    ];
    let out = run
        .es5(eid, "audit", JobTarget::IsdR, apdus(&cmds)?)
        .await?;
    let responses = match out {
        Es5Outcome::Completed { responses, .. } | Es5Outcome::CardError { responses, .. } => {
            responses
        }
        other => return Err(respond(not_card(&other, "AuditEIS"))),
    };
    let resources = match responses.first() {
        Some(r) if r.is_success() => {
            CardResources::decode(&r.data).map_err(|e| internal("AuditEIS: card resources", e))?
        }
        Some(r) => return Err(respond(sw_status(r.sw.to_u16(), "AuditEIS GET DATA", None))),
        None => return Err(respond(sw_status(0, "AuditEIS GET DATA", None))),
    };
    let mut entries: Vec<RegistryEntry> = Vec::new();
    let mut last = responses.get(1).cloned();
    let mut round = 1;
    loop {
        match &last {
            Some(r) if r.is_success() || r.sw.to_u16() == 0x6310 => {
                entries.extend(
                    parse_entries(&r.data).map_err(|e| internal("AuditEIS: GET STATUS", e))?,
                );
                if r.sw.to_u16() != 0x6310 || round >= 16 {
                    break;
                }
                round += 1;
                let next = GetStatus::all(StatusSubset::Applications)
                    .next()
                    .to_command();
                let out = run
                    .es5(
                        eid,
                        &format!("audit-{round}"),
                        JobTarget::IsdR,
                        apdus(&[next])?,
                    )
                    .await?;
                last = match out {
                    Es5Outcome::Completed { responses, .. }
                    | Es5Outcome::CardError { responses, .. } => responses.last().cloned(),
                    other => return Err(respond(not_card(&other, "AuditEIS"))),
                };
            }
            // No ISD-P at all.
            Some(r) if r.sw.to_u16() == 0x6A88 => break,
            Some(r) => {
                return Err(respond(sw_status(
                    r.sw.to_u16(),
                    "AuditEIS GET STATUS",
                    None,
                )));
            }
            None => break,
        }
    }
    let store = &run.inner.store;
    let t = now();
    let profiles = store.profiles(eid).await?;
    let mut enabled_last = None;
    for p in profiles
        .iter()
        .filter(|p| iccids.is_empty() || iccids.contains(&p.iccid))
    {
        match entries.iter().find(|e| e.aid == p.isd_p_aid) {
            None => {
                tracing::info!(eid = %eid.as_str(), iccid = %p.iccid.as_str(), "audit: Profile not on the card, removed from the EIS");
                store.delete_profile(eid, &p.iccid).await?;
            }
            Some(e) => {
                let mut q = p.clone();
                if let Some(s) = state_of(e.life_cycle) {
                    q.state = s;
                }
                q.fallback = e.is_fallback();
                if let Some(g) = e.granted_memory {
                    q.allocated_memory = g;
                }
                if let Some(f) = e.remaining_memory {
                    q.free_memory = f;
                }
                q.updated_at = t;
                if q.state == ProfileState::Enabled {
                    enabled_last = Some(q);
                } else if q != *p {
                    store.update_profile(&q).await?;
                }
            }
        }
    }
    if let Some(q) = enabled_last {
        store.update_profile(&q).await?;
        store
            .set_profile_state(eid, &q.iccid, ProfileState::Enabled, t)
            .await?;
    }
    let mut rec = store.get_eis(eid).await?;
    rec.remaining_memory = resources.free_non_volatile;
    rec.available_memory_for_profiles = resources.free_non_volatile;
    rec.last_audit = Some(t);
    rec.updated_at = t;
    store.update_eis(&rec).await?;
    let (rec, profiles) = visible(run, eid).await?;
    let eis = eis_view(&run.inner, &run.access(), &rec, &profiles)?;
    // ISD-Ps the card has but the EIS does not know (no ICCID to record them under) are
    // reported to an administrator as a warning.
    let unknown: Vec<String> = entries
        .iter()
        .filter(|e| sgp02::is_isdp(e) && !profiles.iter().any(|p| p.isd_p_aid == e.aid))
        .map(|e| e.aid.to_string())
        .collect();
    if !unknown.is_empty() && run.access() == Access::Admin {
        return Ok(esim_service::response(
            run.started,
            now(),
            FunctionExecutionStatus::warning(
                subject::ISD_P,
                reason::UNKNOWN,
                &format!(
                    "ISD-Ps on the eUICC unknown to the EIS: {}",
                    unknown.join(", ")
                ),
            ),
            Some(AuditEisResponse { eis }),
        ));
    }
    Ok(run.ok(Some(AuditEisResponse { eis })))
}

// ---------------------------------------------------------------------------------------------
// Master Delete.

async fn master_delete(run: &mut Run, eid: &Eid, iccid: &Iccid) -> R {
    let plan: Option<(Aid, HexBytes, bool)> = match (
        plan_field(run, "aid"),
        plan_field(run, "token"),
        plan_field(run, "installed"),
    ) {
        (Some(a), Some(t), Some(i)) => Some((a, t, i)),
        _ => None,
    };
    let crt = crate::master_delete::token_crt(eid);
    let (aid, token, installed) = match plan {
        Some(p) => p,
        None => {
            let (_, profiles) = visible(run, eid).await?;
            let p = owned(run, &profiles, iccid)?;
            if p.state == ProfileState::Enabled {
                return Err(wrong_state(iccid, "the enabled Profile cannot be deleted"));
            }
            if p.fallback {
                return Err(wrong_state(
                    iccid,
                    "the Fall-back Profile cannot be master-deleted",
                ));
            }
            let source = run
                .inner
                .delete_tokens
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let Some(source) = source else {
                return Err(respond(FunctionExecutionStatus::failed_for(
                    subject::SM_DP,
                    reason::UNAVAILABLE,
                    iccid.as_str(),
                    "no Delete Token source is configured for Master Delete",
                )));
            };
            let cmd = Delete::new(p.isd_p_aid.clone(), true).to_command();
            let request = crate::master_delete::DeleteTokenRequest {
                smdp_id: p.smdp_id.clone(),
                eid: eid.clone(),
                iccid: iccid.clone(),
                isdp_aid: p.isd_p_aid.clone(),
                p1: cmd.p1,
                p2: cmd.p2,
                crt: crt.clone(),
            };
            let token = source.delete_token(&request).await.map_err(|why| {
                respond(FunctionExecutionStatus::failed_for(
                    subject::SM_DP,
                    reason::REFUSED,
                    iccid.as_str(),
                    &format!("the SM-DP gave no Delete Token: {why}"),
                ))
            })?;
            let installed = p.state == ProfileState::Disabled;
            // The token is one-time: kept in the plan so a resumed operation sends the same one.
            run.set_plan(serde_json::json!({
                "aid": p.isd_p_aid,
                "token": HexBytes(token.clone()),
                "installed": installed,
            }))
            .await?;
            (p.isd_p_aid, HexBytes(token), installed)
        }
    };
    let mut d = Delete::new(aid, true);
    d.token_crt = Some(crt);
    d.token = Some(token.0);
    let out = run
        .es5(
            eid,
            "master-delete",
            JobTarget::IsdR,
            apdus(&[d.to_command()])?,
        )
        .await?;
    check(out, "MasterDelete", Some(iccid))?;
    let prior = run.inner.store.get_profile(eid, iccid).await.ok();
    match run.inner.store.delete_profile(eid, iccid).await {
        Ok(()) | Err(StoreError::NotFound { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    if let Some(p) = &prior {
        adjust_memory(run, eid, i64::from(p.allocated_memory)).await?;
    }
    if installed && let Some(p) = prior {
        let caller = run.state.caller.id.clone();
        notify::profile_event(&run.inner, notify::Event::Deleted, &p, Some(&caller)).await;
    }
    Ok(run.ok(Some(Empty {})))
}

#[cfg(test)]
mod tests {
    use super::*;
    use esim_apdu::gp::store_data::command;

    fn record(tar: u8) -> ProfileRecord {
        ProfileRecord {
            eid: Eid::from_body("890490320000000000000000000001").expect("eid"),
            iccid: Iccid::parse("89019990001234567893").expect("iccid"),
            isd_p_aid: Aid::isd_p(Tar([0, 0, tar])),
            mno_id: "m".into(),
            smdp_id: "d".into(),
            profile_type: String::new(),
            state: ProfileState::Disabled,
            fallback: false,
            subscription_address: SubscriptionAddress::default(),
            pol2: None,
            allocated_memory: 0,
            free_memory: 0,
            updated_at: esim_store::Timestamp(0),
        }
    }

    #[test]
    fn next_free_aid_skips_the_bootstrap_and_used_tars() {
        assert_eq!(next_free_aid(&[]), Some(Aid::isd_p(Tar([0, 0, 0x11]))));
        let used = [record(0x10), record(0x11), record(0x13)];
        assert_eq!(next_free_aid(&used), Some(Aid::isd_p(Tar([0, 0, 0x12]))));
    }

    #[test]
    fn isd_r_script_guard() {
        let mine = Aid::isd_p(Tar([0, 0, 0x11]));
        let other = Aid::isd_p(Tar([0, 0, 0x12]));
        let ok = CommandScript::of_apdus([
            Install::for_personalization(&mine),
            command(
                StoreDataP1::sgp02_more_with_response(),
                0,
                vec![0x3A, 0x01, 0x00],
            ),
        ])
        .encode()
        .expect("script");
        assert!(check_isd_r_script(&ok, std::slice::from_ref(&mine)).is_ok());
        let foreign = CommandScript::of_apdus([Install::for_personalization(&other)])
            .encode()
            .expect("script");
        assert!(check_isd_r_script(&foreign, std::slice::from_ref(&mine)).is_err());
        let enable = CommandScript::of_apdus(
            Es5Command::EnableProfile {
                isdp_aid: mine.clone(),
            }
            .to_commands(255)
            .expect("commands"),
        )
        .encode()
        .expect("script");
        assert!(check_isd_r_script(&enable, std::slice::from_ref(&mine)).is_err());
        let delete = CommandScript::of_apdus([Delete::new(other, true).to_command()])
            .encode()
            .expect("script");
        assert!(check_isd_r_script(&delete, std::slice::from_ref(&mine)).is_err());
        assert!(check_isd_r_script(&[0x01, 0x02], std::slice::from_ref(&mine)).is_err());
    }

    #[test]
    fn life_cycle_to_eis_state() {
        assert_eq!(state_of(0x3F), Some(ProfileState::Enabled));
        assert_eq!(state_of(0x1F), Some(ProfileState::Disabled));
        assert_eq!(state_of(0x07), Some(ProfileState::Created));
        assert_eq!(state_of(0x0F), Some(ProfileState::Created));
        assert_eq!(state_of(0x9F), Some(ProfileState::Disabled));
        assert_eq!(state_of(0x55), None);
    }

    #[test]
    fn status_words_map_to_codes() {
        let iccid = Iccid::parse("89019990001234567893").expect("iccid");
        let s = sw_status(0x69E1, "x", Some(&iccid));
        let d = s.status_code_data.expect("codes");
        assert_eq!(
            (d.subject_code.as_str(), d.reason_code.as_str()),
            ("8.2", "3.8")
        );
        assert_eq!(d.subject_identifier.as_deref(), Some(iccid.as_str()));
        let d = sw_status(0x6A84, "x", None)
            .status_code_data
            .expect("codes");
        assert_eq!(d.reason_code, "4.8");
        let d = sw_status(0x6985, "x", None)
            .status_code_data
            .expect("codes");
        assert_eq!(
            (d.subject_code.as_str(), d.reason_code.as_str()),
            ("8.4", "4.2")
        );
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The SendData guard never panics on arbitrary bytes.
        #[test]
        fn isd_r_guard_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mine = [Aid::isd_p(Tar([0, 0, 0x11]))];
            let _ = check_isd_r_script(&data, &mine);
        }

        /// Nor on arbitrary scripts of arbitrary commands; anything outside INSTALL [for
        /// personalization] and STORE DATA is refused.
        #[test]
        fn isd_r_guard_refuses_other_instructions(
            cmds in proptest::collection::vec(
                (any::<u8>(), any::<u8>(), any::<u8>(), proptest::collection::vec(any::<u8>(), 0..40)),
                1..5,
            )
        ) {
            let apdus: Vec<CommandApdu> = cmds
                .iter()
                .map(|(ins, p1, p2, data)| {
                    CommandApdu::new(0x80, *ins, *p1, *p2).with_data(data.clone())
                })
                .collect();
            let allowed = apdus.iter().all(|c| c.ins == 0xE6 || c.ins == 0xE2);
            if let Ok(script) = CommandScript::of_apdus(apdus).encode() {
                let r = check_isd_r_script(&script, &[Aid::isd_p(Tar([0, 0, 0x11]))]);
                if !allowed {
                    prop_assert!(r.is_err());
                }
            }
        }
    }
}
