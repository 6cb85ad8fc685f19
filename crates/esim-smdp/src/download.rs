//! The drivers of the SM-DP's operations: `ES2.DownloadProfile` over ES3 (digest §3.1 steps
//! 1–12, §3.2) and the ES2 functions forwarded to one ES3 call.
//!
//! Download, step by step (state saved before each ES3 call):
//! allocate the Profile → ES3.GetEIS (CERT.ECASD.ECKA verified against the CI, PK.ECASD taken)
//! → ES3.CreateISDP (the SM-SR chooses the ISD-P AID) → [`esim_proto::smdp`] from that AID:
//! SendData to the ISD-R (expanded command scripts) and to the ISD-P (SCP03t) → on failure
//! ES3.DeleteISDP → on success ES3.ProfileDownloadCompleted → ES3.EnableProfile if asked.

use esim_apdu::apdu::ResponseApdu;
use esim_codec::{Aid, Eid, Iccid};
use esim_crypto::cert::{Certificate, Date};
use esim_proto::codes::{reason, subject};
use esim_proto::common::FunctionExecutionStatus;
use esim_proto::eis::{Eis, SubscriptionAddress};
use esim_proto::es2::{self, ProfileSelector};
use esim_proto::es3;
use esim_proto::pol2::Pol2;
use esim_proto::smdp::{AwaitingIsdpCreated, DownloadParams, Next, Outgoing};
use esim_proto::{AnyRequest, HexBytes};
use esim_store::{InventoryProfile, InventoryState, StoreError};

use crate::es3::{
    Answer, answer, header, install_response, isd_r_responses, isd_r_script, request,
};
use crate::ops::{DriverError, Phase, Run};
use esim_service::ClientError;

type Step<T> = Result<T, DriverError>;

fn req_header(run: &Run, step: &str) -> Step<esim_proto::RequestHeader> {
    header(
        &run.inner.config.smdp_id,
        &run.call_id(step),
        run.inner.config.validity_period,
    )
    .map_err(DriverError::Corrupt)
}

/// `Expired` once the request's `ValidityPeriod` has passed since `ProcessingStart`
/// (digest §2.1); checked before each ES3 call that creates or changes something on the card.
fn expiry(run: &Run) -> Option<FunctionExecutionStatus> {
    let period = run.header.validity_period?;
    let end = run.st.processing_start + i64::from(period.seconds()) * 1000;
    (esim_service::now().0 >= end).then(|| {
        FunctionExecutionStatus::expired(&format!(
            "ValidityPeriod of {} s passed during the download",
            period.seconds()
        ))
    })
}

fn rolled_back() -> FunctionExecutionStatus {
    FunctionExecutionStatus::failed(
        subject::SM_DP,
        reason::EXECUTION_ERROR,
        "the SM-DP restarted during the download; the download was rolled back",
    )
}

/// Runs (or continues after a restart, `recovered`) a DownloadProfile operation.
pub(crate) async fn drive_download(mut run: Run, recovered: bool) -> Step<()> {
    let AnyRequest::Es2DownloadProfile(req) = run.request.clone() else {
        return Err(DriverError::Corrupt("not a DownloadProfile".into()));
    };
    let body = req.body;
    if recovered {
        match run.st.phase {
            Phase::Start => {}
            Phase::Allocated => {
                release(&run).await;
                return run.finish(rolled_back(), None).await;
            }
            Phase::CreatingIsdp | Phase::Downloading | Phase::CleaningUp => {
                run.st.failure = Some(rolled_back());
                return clean_up(run, &body, None).await;
            }
            Phase::Installed | Phase::Reported => return after_install(run, &body).await,
            Phase::Forwarding => return Err(DriverError::Corrupt("phase".into())),
        }
    }
    // 1. Allocate.
    let inv = match allocate(&run, &body, recovered).await? {
        Ok(inv) => inv,
        Err(status) => return run.finish(status, None).await,
    };
    run.st.iccid = Some(inv.iccid.clone());
    run.st.phase = Phase::Allocated;
    run.save().await?;
    let package = match run.inner.inventory.open_package(&inv) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(iccid = inv.iccid.as_str(), "opening the package: {e}");
            release(&run).await;
            let s = FunctionExecutionStatus::failed_for(
                subject::PROFILE,
                reason::EXECUTION_ERROR,
                inv.iccid.as_str(),
                "the Profile package could not be opened",
            );
            return run.finish(s, None).await;
        }
    };
    // 2. GetEIS and the ECASD key.
    let ecasd_key = match ecasd_key(&run, &body.smsr_id, &body.eid).await? {
        Ok(k) => k,
        Err(status) => {
            release(&run).await;
            return run.finish(status, None).await;
        }
    };
    // 3. CreateISDP.
    let mut dl_config = run.inner.config.download.clone();
    let required = dl_config.required_memory.unwrap_or_else(|| {
        u32::try_from(package.len() + package.len() / 4 + 1024).unwrap_or(u32::MAX)
    });
    dl_config.required_memory = Some(required);
    if let Some(status) = expiry(&run) {
        release(&run).await;
        return run.finish(status, None).await;
    }
    run.st.phase = Phase::CreatingIsdp;
    run.save().await?;
    let create = AnyRequest::Es3CreateIsdp(request(
        req_header(&run, "create")?,
        es3::CreateIsdpRequest {
            eid: body.eid.clone(),
            iccid: inv.iccid.clone(),
            mno_id: run.op.owner.clone(),
            required_memory: required,
            more_to_do: true,
        },
    ));
    let created = match run.es3(&body.smsr_id, &create).await {
        Ok(json) => answer::<es3::CreateIsdpResponse>(&json),
        Err(e) => {
            // Whether the ISD-P exists is unknown: delete it to be sure.
            run.st.failure = Some(crate::es3::smsr_failure("ES3.CreateISDP", &e.to_string()));
            return clean_up(run, &body, None).await;
        }
    };
    let (aid, install) = match created {
        Answer::Executed(_, Some(r)) => {
            match install_response(r.euicc_response_data.as_ref().map(HexBytes::as_bytes)) {
                Ok(resp) => (r.isd_p_aid, resp),
                Err(e) => {
                    run.st.isdp_aid = Some(r.isd_p_aid);
                    run.st.failure = Some(crate::es3::smsr_failure(
                        "ES3.CreateISDP EuiccResponseData",
                        &e,
                    ));
                    return clean_up(run, &body, None).await;
                }
            }
        }
        Answer::Executed(_, None) => {
            run.st.failure = Some(crate::es3::smsr_failure(
                "ES3.CreateISDP",
                "executed without Isd-p-aid",
            ));
            return clean_up(run, &body, None).await;
        }
        Answer::NotExecuted(status) => {
            release(&run).await;
            return run.finish(status, None).await;
        }
    };
    run.st.isdp_aid = Some(aid.clone());
    run.st.phase = Phase::Downloading;
    run.save().await?;
    // 4. The download machine, from the SM-SR's AID (its CreateISDP is already done).
    let params = DownloadParams {
        isdp_aid: aid.clone(),
        iccid: inv.iccid.clone(),
        signing_key: run.inner.config.signing_key.clone(),
        certificate: run.inner.config.certificate.clone(),
        ecasd_key,
        package: zeroize::Zeroizing::new(package.to_vec()),
        config: dl_config,
    };
    drop(package);
    let next = AwaitingIsdpCreated::start(params)
        .and_then(|(state, _create)| state.handle(&aid, &install));
    let mut next = match next {
        Ok(n) => n,
        Err(e) => {
            run.st.failure = Some(FunctionExecutionStatus::failed(
                subject::SM_DP,
                reason::EXECUTION_ERROR,
                &format!("download set-up: {e}"),
            ));
            return clean_up(run, &body, None).await;
        }
    };
    loop {
        let result = match next {
            Next::AwaitingChallenge(s, Outgoing::IsdRApdus(cmds)) => {
                match send_isd_r(&mut run, &body, &cmds).await? {
                    Ok(rs) => s.handle(&rs),
                    Err(f) => return fail_download(run, &body, f).await,
                }
            }
            Next::AwaitingReceipt(s, Outgoing::IsdRApdus(cmds)) => {
                match send_isd_r(&mut run, &body, &cmds).await? {
                    Ok(rs) => s.handle(&rs),
                    Err(f) => return fail_download(run, &body, f).await,
                }
            }
            Next::AwaitingInitUpdate(s, Outgoing::IsdPData { isdp_aid, data }) => {
                match send_isd_p(&mut run, &body, &isdp_aid, data).await? {
                    Ok(r) => s.handle(&r),
                    Err(f) => return fail_download(run, &body, f).await,
                }
            }
            Next::Downloading(s, Outgoing::IsdPData { isdp_aid, data }) => {
                match send_isd_p(&mut run, &body, &isdp_aid, data).await? {
                    Ok(r) => {
                        run.st.euicc_response_data = Some(HexBytes(r.clone()));
                        s.handle(&r)
                    }
                    Err(f) => return fail_download(run, &body, f).await,
                }
            }
            Next::CleaningUp(s, Outgoing::DeleteIsdp(_cmd)) => {
                run.st.failure = Some(s.reason().clone());
                return clean_up(run, &body, Some(s)).await;
            }
            Next::Completed(c) => {
                tracing::info!(iccid = c.iccid.as_str(), isdp = %c.isdp_aid, "profile installed");
                // The Master Delete token key is kept before the SM-SR learns of the Profile
                // (a failure here leaves the operation to the recovery, which rolls it back).
                crate::master_delete::save_token_key(
                    &run.inner,
                    &c.iccid,
                    &c.isdp_aid,
                    c.token_key(),
                )
                .await?;
                run.st.phase = Phase::Installed;
                run.save().await?;
                return after_install(run, &body).await;
            }
            Next::Failed(f) => {
                // CreateISDP refused: nothing left on the card.
                release(&run).await;
                return run.finish(f.reason, None).await;
            }
            other => {
                run.st.failure = Some(FunctionExecutionStatus::failed(
                    subject::SM_DP,
                    reason::EXECUTION_ERROR,
                    &format!("unexpected download step {other:?}"),
                ));
                return clean_up(run, &body, None).await;
            }
        };
        next = match result {
            Ok(n) => n,
            Err(e) => {
                run.st.failure = Some(FunctionExecutionStatus::failed(
                    subject::SM_DP,
                    reason::EXECUTION_ERROR,
                    &format!("download: {e}"),
                ));
                return clean_up(run, &body, None).await;
            }
        };
    }
}

async fn fail_download(
    mut run: Run,
    body: &es2::DownloadProfileRequest,
    failure: FunctionExecutionStatus,
) -> Step<()> {
    run.st.failure = Some(failure);
    clean_up(run, body, None).await
}

/// Allocates the requested Profile to the eUICC; `Err(status)` when the request cannot be
/// served (unknown or foreign ICCID, none of the type left).
async fn allocate(
    run: &Run,
    body: &es2::DownloadProfileRequest,
    recovered: bool,
) -> Step<Result<InventoryProfile, FunctionExecutionStatus>> {
    let store = &run.inner.store;
    let owner = &run.op.owner;
    let now = esim_service::now();
    if !run.inner.smsrs.contains_key(&body.smsr_id) {
        return Ok(Err(unknown_smsr(&body.smsr_id)));
    }
    match &body.profile {
        ProfileSelector::Iccid(iccid) => {
            let inv = match store.get_inventory(iccid).await {
                Ok(inv) if &inv.owner == owner => inv,
                Ok(_) => return Ok(Err(not_owned(iccid))),
                Err(StoreError::NotFound { .. }) => return Ok(Err(unknown_iccid(iccid))),
                Err(e) => return Err(e.into()),
            };
            // Resumed after a restart in this step: the allocation may be ours already.
            if recovered
                && inv.state == InventoryState::Allocated
                && inv.eid.as_ref() == Some(&body.eid)
            {
                return Ok(Ok(inv));
            }
            match store.allocate_iccid(iccid, &body.eid, now).await {
                Ok(inv) => Ok(Ok(inv)),
                Err(StoreError::InvalidState { .. }) => {
                    Ok(Err(FunctionExecutionStatus::failed_for(
                        subject::ICCID,
                        reason::ALREADY_IN_USE,
                        iccid.as_str(),
                        "the Profile is not available",
                    )))
                }
                Err(e) => Err(e.into()),
            }
        }
        ProfileSelector::ProfileType(t) => {
            // Resumed after a restart in this step: a Profile of this type may have been
            // allocated to this eUICC before the allocation could be recorded.
            if recovered
                && let Some(inv) = store
                    .allocated_to(&body.eid)
                    .await?
                    .into_iter()
                    .find(|p| &p.owner == owner && &p.profile_type == t)
            {
                return Ok(Ok(inv));
            }
            match store.allocate_by_type(owner, t, &body.eid, now).await {
                Ok(inv) => Ok(Ok(inv)),
                Err(StoreError::Exhausted(_) | StoreError::NotFound { .. }) => {
                    Ok(Err(FunctionExecutionStatus::failed_for(
                        subject::PROFILE_TYPE,
                        reason::UNAVAILABLE,
                        t,
                        "no Profile of this type available",
                    )))
                }
                Err(e) => Err(e.into()),
            }
        }
    }
}

pub(crate) fn unknown_smsr(smsr_id: &str) -> FunctionExecutionStatus {
    FunctionExecutionStatus::failed_for(
        subject::SM_SR,
        reason::UNKNOWN,
        smsr_id,
        "no ES3 connection to this SM-SR",
    )
}

pub(crate) fn unknown_iccid(iccid: &Iccid) -> FunctionExecutionStatus {
    FunctionExecutionStatus::failed_for(
        subject::ICCID,
        reason::UNKNOWN,
        iccid.as_str(),
        "unknown ICCID",
    )
}

pub(crate) fn not_owned(iccid: &Iccid) -> FunctionExecutionStatus {
    FunctionExecutionStatus::failed_for(
        subject::ICCID,
        reason::NOT_ALLOWED,
        iccid.as_str(),
        "the Profile does not belong to the requester",
    )
}

/// Releases the operation's Profile (download failed or rolled back).
async fn release(run: &Run) {
    if let Some(iccid) = &run.st.iccid {
        match run.inner.store.release(iccid, esim_service::now()).await {
            Ok(()) | Err(StoreError::InvalidState { .. }) => {}
            Err(e) => tracing::warn!(iccid = iccid.as_str(), "releasing: {e}"),
        }
    }
}

/// ES3.GetEIS, then CERT.ECASD.ECKA verified against the EUM and CI certificates.
async fn ecasd_key(
    run: &Run,
    smsr_id: &str,
    eid: &Eid,
) -> Step<Result<esim_crypto::ec::PublicKey, FunctionExecutionStatus>> {
    let req = AnyRequest::Es3GetEis(request(
        req_header(run, "geteis")?,
        es3::EidRequest { eid: eid.clone() },
    ));
    let eis = match run.es3(smsr_id, &req).await {
        Err(e) => return Ok(Err(crate::es3::smsr_failure("ES3.GetEIS", &e.to_string()))),
        Ok(json) => match answer::<es2::GetEisResponse>(&json) {
            Answer::Executed(_, Some(r)) => r.eis,
            Answer::Executed(_, None) => {
                return Ok(Err(crate::es3::smsr_failure(
                    "ES3.GetEIS",
                    "no Eis in the answer",
                )));
            }
            Answer::NotExecuted(s) => return Ok(Err(s)),
        },
    };
    Ok(verify_ecasd(run, &eis, eid))
}

fn verify_ecasd(
    run: &Run,
    eis: &Eis,
    eid: &Eid,
) -> Result<esim_crypto::ec::PublicKey, FunctionExecutionStatus> {
    let bad = |m: String| {
        FunctionExecutionStatus::failed_for(
            subject::EUICC_CERTIFICATE,
            reason::VERIFICATION_FAILED,
            eid.as_str(),
            &m,
        )
    };
    if eis.eid() != eid {
        return Err(bad("the SM-SR returned the EIS of another eUICC".into()));
    }
    let cert = Certificate::decode(eis.eum_signed_info.ecasd.certificate.as_bytes())
        .map_err(|e| bad(format!("CERT.ECASD.ECKA: {e}")))?;
    let days = esim_service::now().0 / 86_400_000;
    let today = Date::from_unix_days(days);
    let cfg = &run.inner.config;
    let wanted = eis.eum_certificate_id.to_ascii_lowercase();
    let mut eums: Vec<_> = cfg
        .eum_certificates
        .iter()
        .filter(|c| {
            c.subject_key_id()
                .is_some_and(|k| esim_codec::hex::encode(&k).to_ascii_lowercase() == wanted)
        })
        .collect();
    if eums.is_empty() {
        eums = cfg.eum_certificates.iter().collect();
    }
    let mut last = "no EUM certificate configured".to_owned();
    for eum in eums {
        match esim_crypto::pki::verify_ecasd_certificate(
            &cert,
            eum,
            &cfg.ci_certificate,
            Some(eid),
            today,
        ) {
            Ok(k) => return Ok(k),
            Err(e) => last = e.to_string(),
        }
    }
    Err(bad(format!("CERT.ECASD.ECKA not verified: {last}")))
}

/// ES3.SendData to the ISD-R; `Ok(Err(status))` when the SM-SR or the framing failed.
async fn send_isd_r(
    run: &mut Run,
    body: &es2::DownloadProfileRequest,
    cmds: &[esim_apdu::apdu::CommandApdu],
) -> Step<Result<Vec<ResponseApdu>, FunctionExecutionStatus>> {
    let data = match isd_r_script(cmds) {
        Ok(d) => d,
        Err(e) => {
            return Ok(Err(FunctionExecutionStatus::failed(
                subject::SM_DP,
                reason::EXECUTION_ERROR,
                &format!("command script: {e}"),
            )));
        }
    };
    Ok(match send_data(run, body, &Aid::isd_r(), data).await? {
        Ok(r) => isd_r_responses(&r).map_err(|e| crate::es3::smsr_failure("SendData", &e)),
        Err(s) => Err(s),
    })
}

async fn send_isd_p(
    run: &mut Run,
    body: &es2::DownloadProfileRequest,
    aid: &Aid,
    data: Vec<u8>,
) -> Step<Result<Vec<u8>, FunctionExecutionStatus>> {
    send_data(run, body, aid, data).await
}

/// One ES3.SendData, its step saved first.
async fn send_data(
    run: &mut Run,
    body: &es2::DownloadProfileRequest,
    aid: &Aid,
    data: Vec<u8>,
) -> Step<Result<Vec<u8>, FunctionExecutionStatus>> {
    if let Some(status) = expiry(run) {
        return Ok(Err(status));
    }
    run.st.sends += 1;
    run.save().await?;
    let req = AnyRequest::Es3SendData(request(
        req_header(run, &format!("send{}", run.st.sends))?,
        es3::SendDataRequest {
            eid: body.eid.clone(),
            sd_aid: aid.clone(),
            data: HexBytes(data),
            more_to_do: true,
        },
    ));
    Ok(match run.es3(&body.smsr_id, &req).await {
        Err(e) => Err(crate::es3::smsr_failure("ES3.SendData", &e.to_string())),
        Ok(json) => match answer::<es3::SendDataResponse>(&json) {
            Answer::Executed(_, Some(r)) => Ok(r.euicc_response_data.0),
            Answer::Executed(_, None) => Err(crate::es3::smsr_failure(
                "ES3.SendData",
                "executed without EuiccResponseData",
            )),
            Answer::NotExecuted(s) => Err(s),
        },
    })
}

/// Deletes the ISD-P (ES3.DeleteISDP), releases the Profile and ends Failed with
/// `run.st.failure`. With the machine's [`esim_proto::smdp::CleaningUp`], its verdict on the
/// DELETE is used.
async fn clean_up(
    mut run: Run,
    body: &es2::DownloadProfileRequest,
    machine: Option<esim_proto::smdp::CleaningUp>,
) -> Step<()> {
    run.st.phase = Phase::CleaningUp;
    run.save().await?;
    let failure = run.st.failure.clone().unwrap_or_else(rolled_back);
    let Some(iccid) = run.st.iccid.clone() else {
        return run.finish(failure, None).await;
    };
    let req = AnyRequest::Es3DeleteIsdp(request(
        req_header(&run, "delete")?,
        es3::EidIccidRequest {
            eid: body.eid.clone(),
            iccid,
        },
    ));
    let (sw, note) = match run.es3(&body.smsr_id, &req).await {
        Ok(json) => match answer::<serde_json::Value>(&json) {
            Answer::Executed(..) => (0x9000u16, None),
            Answer::NotExecuted(s) => (
                0x6985,
                Some(format!(
                    "; ES3.DeleteISDP failed: {}",
                    s.status_code_data
                        .and_then(|d| d.message)
                        .unwrap_or_default()
                )),
            ),
        },
        // The SM-SR is down (after the retries of `Run::es3`): the ISD-P may exist, so the
        // roll-back is not over; the recovery loop tries again once the lease has run out.
        Err(e @ (ClientError::Transport(_) | ClientError::Timeout(_))) if !matches!(&e, ClientError::Transport(m) if m == crate::ops::TAKEN_OVER) =>
        {
            return Err(DriverError::Unreachable(format!("ES3.DeleteISDP: {e}")));
        }
        Err(e) => (0x6985, Some(format!("; ES3.DeleteISDP failed: {e}"))),
    };
    let mut status = match machine {
        Some(m) => match m.handle(&ResponseApdu::new(Vec::new(), sw)) {
            Ok(Next::Failed(f)) => f.reason,
            _ => failure,
        },
        None => failure,
    };
    if let (Some(n), Some(d)) = (note, status.status_code_data.as_mut()) {
        if !d
            .message
            .as_deref()
            .unwrap_or_default()
            .contains("ES3.DeleteISDP")
        {
            d.message = Some(d.message.take().unwrap_or_default() + &n);
        }
    }
    release(&run).await;
    run.finish(status, None).await
}

/// ProfileDownloadCompleted, then EnableProfile if asked; the inventory Profile is Installed.
async fn after_install(mut run: Run, body: &es2::DownloadProfileRequest) -> Step<()> {
    let Some(iccid) = run.st.iccid.clone() else {
        return Err(DriverError::Corrupt("installed without ICCID".into()));
    };
    let inv = run.inner.store.get_inventory(&iccid).await?;
    if run.st.phase == Phase::Installed {
        let req = AnyRequest::Es3ProfileDownloadCompleted(request(
            req_header(&run, "completed")?,
            es3::ProfileDownloadCompletedRequest {
                eid: body.eid.clone(),
                iccid: iccid.clone(),
                profile_type: Some(inv.profile_type.clone()),
                subscription_address: SubscriptionAddress {
                    imsi: inv.imsi.clone(),
                    msisdn: None,
                },
                pol2: Pol2::default(),
            },
        ));
        let failure = match run.es3(&body.smsr_id, &req).await {
            Ok(json) => match answer::<serde_json::Value>(&json) {
                Answer::Executed(..) => None,
                Answer::NotExecuted(s) => Some(s),
            },
            Err(e) => Some(crate::es3::smsr_failure(
                "ES3.ProfileDownloadCompleted",
                &e.to_string(),
            )),
        };
        if let Some(f) = failure {
            run.st.failure = Some(f);
            return clean_up(run, body, None).await;
        }
        match run
            .inner
            .store
            .mark_installed(&iccid, esim_service::now())
            .await
        {
            Ok(()) | Err(StoreError::InvalidState { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        run.st.phase = Phase::Reported;
        run.save().await?;
    }
    let mut status = FunctionExecutionStatus::success();
    if body.enable_profile {
        let req = AnyRequest::Es3EnableProfile(request(
            req_header(&run, "enable")?,
            es3::EidIccidRequest {
                eid: body.eid.clone(),
                iccid: iccid.clone(),
            },
        ));
        let failure = match run.es3(&body.smsr_id, &req).await {
            Ok(json) => match answer::<serde_json::Value>(&json) {
                Answer::Executed(..) => None,
                Answer::NotExecuted(s) => Some(s),
            },
            Err(e) => Some(crate::es3::smsr_failure(
                "ES3.EnableProfile",
                &e.to_string(),
            )),
        };
        if let Some(f) = failure {
            // The Profile is installed (disabled): a warning, not a failure.
            let d = f.status_code_data.unwrap_or(esim_proto::StatusCodeData {
                subject_code: subject::PROFILE.into(),
                reason_code: reason::EXECUTION_ERROR.into(),
                subject_identifier: None,
                message: None,
            });
            status = FunctionExecutionStatus::warning(
                &d.subject_code,
                &d.reason_code,
                &format!(
                    "installed but not enabled: {}",
                    d.message.unwrap_or_default()
                ),
            );
        }
    }
    let notification = crate::service::profile_notification(
        &run.inner,
        esim_proto::Function::Es2HandleProfileDownloadedNotification,
        &body.eid,
        &iccid,
    );
    let response = es2::DownloadProfileResponse {
        iccid,
        euicc_response_data: run.st.euicc_response_data.clone(),
    };
    let owner = run.op.owner.clone();
    let inner = run.inner.clone();
    run.finish(status, serde_json::to_value(response).ok())
        .await?;
    if let Some(n) = notification {
        if let Err(e) = inner
            .callbacks
            .deliver(&owner, esim_service::Callback::Notification(n))
            .await
        {
            tracing::warn!("HandleProfileDownloadedNotification to {owner}: {e}");
        }
    }
    Ok(())
}

/// Runs (or resumes) an ES2 function forwarded to one ES3 call (GetEIS, Enable, Disable,
/// Delete, UpdatePolicyRules, UpdateSubscriptionAddress). The ES3 call identifier is fixed per operation, so a resumed
/// call is answered by the SM-SR, not executed twice.
pub(crate) async fn drive_forward(mut run: Run) -> Step<()> {
    let (smsr_id, es3_req, iccid) = match forward_request(&run)? {
        Ok(x) => x,
        Err(status) => return run.finish(status, None).await,
    };
    if let Some(iccid) = &iccid {
        let check = match run.inner.store.get_inventory(iccid).await {
            Ok(inv) if inv.owner != run.op.owner => Some(not_owned(iccid)),
            Ok(inv)
                if inv.eid.as_ref() != run.op.eid.as_ref()
                    || inv.state != InventoryState::Installed =>
            {
                Some(FunctionExecutionStatus::failed_for(
                    subject::ICCID,
                    reason::INVALID_ASSOCIATION,
                    iccid.as_str(),
                    "the Profile is not installed on this eUICC",
                ))
            }
            Ok(_) => None,
            Err(StoreError::NotFound { .. }) => Some(unknown_iccid(iccid)),
            Err(e) => return Err(e.into()),
        };
        if let Some(status) = check {
            return run.finish(status, None).await;
        }
        run.st.iccid = Some(iccid.clone());
    }
    if !run.inner.smsrs.contains_key(&smsr_id) {
        return run.finish(unknown_smsr(&smsr_id), None).await;
    }
    run.st.phase = Phase::Forwarding;
    run.save().await?;
    let json = match run.es3(&smsr_id, &es3_req).await {
        Ok(j) => j,
        Err(e) => {
            let s = crate::es3::smsr_failure(es3_req.function().name(), &e.to_string());
            return run.finish(s, None).await;
        }
    };
    match answer::<serde_json::Value>(&json) {
        Answer::NotExecuted(s) => run.finish(s, None).await,
        Answer::Executed(status, body) => {
            if run.st.function == esim_proto::Function::Es2DeleteProfile {
                release(&run).await;
            }
            let body = if run.st.function == esim_proto::Function::Es2GetEis {
                body.and_then(|b| own_profiles_only(b, &run.op.owner))
            } else {
                None
            };
            run.finish(status, body).await
        }
    }
}

type Forward = (String, AnyRequest, Option<Iccid>);

/// The EIS of an ES3.GetEIS answer as the MNO may see it: the SM-SR cannot tell which MNO
/// asked (the SM-DP is its caller), so the SM-DP keeps only the requester's own Profiles.
fn own_profiles_only(body: serde_json::Value, owner: &str) -> Option<serde_json::Value> {
    let mut r: es2::GetEisResponse = serde_json::from_value(body).ok()?;
    r.eis.profiles.retain(|p| p.mno_id == owner);
    serde_json::to_value(r).ok()
}

fn forward_request(run: &Run) -> Step<Result<Forward, FunctionExecutionStatus>> {
    let h = req_header(run, "es3")?;
    Ok(Ok(match &run.request {
        AnyRequest::Es2GetEis(r) => (
            r.body.smsr_id.clone(),
            AnyRequest::Es3GetEis(request(
                h,
                es3::EidRequest {
                    eid: r.body.eid.clone(),
                },
            )),
            None,
        ),
        AnyRequest::Es2EnableProfile(r) => (
            r.body.smsr_id.clone(),
            AnyRequest::Es3EnableProfile(request(h, eid_iccid(&r.body))),
            Some(r.body.iccid.clone()),
        ),
        AnyRequest::Es2DisableProfile(r) => (
            r.body.smsr_id.clone(),
            AnyRequest::Es3DisableProfile(request(h, eid_iccid(&r.body))),
            Some(r.body.iccid.clone()),
        ),
        AnyRequest::Es2DeleteProfile(r) => (
            r.body.smsr_id.clone(),
            AnyRequest::Es3DeleteIsdp(request(h, eid_iccid(&r.body))),
            Some(r.body.iccid.clone()),
        ),
        AnyRequest::Es2UpdatePolicyRules(r) => (
            r.body.smsr_id.clone(),
            AnyRequest::Es3UpdatePolicyRules(request(
                h,
                es3::UpdatePolicyRulesRequest {
                    eid: r.body.eid.clone(),
                    iccid: r.body.iccid.clone(),
                    pol2: r.body.pol2.clone(),
                },
            )),
            Some(r.body.iccid.clone()),
        ),
        AnyRequest::Es2UpdateSubscriptionAddress(r) => (
            r.body.smsr_id.clone(),
            AnyRequest::Es3UpdateSubscriptionAddress(request(
                h,
                es3::UpdateSubscriptionAddressRequest {
                    eid: r.body.eid.clone(),
                    iccid: r.body.iccid.clone(),
                    subscription_address: r.body.subscription_address.clone(),
                },
            )),
            Some(r.body.iccid.clone()),
        ),
        other => {
            return Ok(Err(FunctionExecutionStatus::failed(
                subject::FUNCTION,
                reason::UNSUPPORTED,
                &format!("{} is not forwarded over ES3", other.function().name()),
            )));
        }
    }))
}

fn eid_iccid(r: &es2::ProfileRequest) -> es3::EidIccidRequest {
    es3::EidIccidRequest {
        eid: r.eid.clone(),
        iccid: r.iccid.clone(),
    }
}
