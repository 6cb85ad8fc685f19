//! ES1.RegisterEIS (SGP.02 §5.2, digest §3.7): verify the EUM-signed EIS and store it.

use std::collections::BTreeMap;

use esim_crypto::pki::{EisDocument, PkiError, verify_eis};
use esim_proto::codes::{reason, subject};
use esim_proto::common::FunctionExecutionStatus;
use esim_proto::eis::Eis;
use esim_store::{
    EisRecord, KeysetKind, KeysetRecord, ProfileRecord, ProfileState, StoreError,
    SubscriptionAddress,
};

use crate::keys::{eis_aad, seal_keyset};
use crate::service::{Access, Inner, now};

/// What the EUM (or an administrator) may add to a registration beyond the signed EIS
/// document, which carries neither Profiles nor additional properties.
#[derive(Debug, Clone, Default)]
pub struct Registration {
    /// MSISDN of the eUICC for SMS (stored as the additional property `msisdn`).
    pub msisdn: Option<String>,
    /// Other additional properties.
    pub additional_properties: BTreeMap<String, String>,
    /// Profiles present at manufacture (e.g. the bootstrap Profile), stored as they are.
    pub profiles: Vec<ProfileRecord>,
}

impl Registration {
    /// The extras of an `ES1.RegisterEIS` request received over the protocol: its `ProfileInfo`
    /// list (e.g. the bootstrap Profile with its `SubscriptionAddress`, so the MSISDN the ES5
    /// delivery sends SMS to is known) and its `AdditionalProperties` (digest §4.1;
    /// docs/spec-choices.md, RegisterEIS extras row). The Profiles are refused (`Err`: a Failed
    /// status, request field / invalid format) when one is In-Creation, two share an ICCID or
    /// an ISD-P AID, or more than one is Enabled or has the Fall-back Attribute.
    pub fn from_request(
        r: &esim_proto::es1::RegisterEisRequest,
    ) -> Result<Self, FunctionExecutionStatus> {
        let bad = |msg: String| {
            failed(
                subject::REQUEST_FIELD,
                reason::INVALID_FORMAT,
                "ProfileInfo",
                &msg,
            )
        };
        let t = now();
        let eid = match r.profiles.is_empty() {
            true => None,
            false => Some(
                esim_codec::Eid::parse(&r.eis.eum_signed_info.eid).map_err(|e| {
                    failed(subject::EID, reason::INVALID_FORMAT, "eid", &e.to_string())
                })?,
            ),
        };
        let mut profiles = Vec::with_capacity(r.profiles.len());
        let mut iccids = std::collections::BTreeSet::new();
        let mut aids = std::collections::BTreeSet::new();
        for p in &r.profiles {
            let state = match p.state {
                esim_proto::eis::ProfileState::Enabled => ProfileState::Enabled,
                esim_proto::eis::ProfileState::Disabled => ProfileState::Disabled,
                esim_proto::eis::ProfileState::Created => ProfileState::Created,
                esim_proto::eis::ProfileState::InCreation => {
                    return Err(bad(format!(
                        "Profile {} is In-Creation; only installed Profiles can be registered",
                        p.iccid
                    )));
                }
            };
            if !iccids.insert(p.iccid.clone()) {
                return Err(bad(format!("ICCID {} appears twice", p.iccid)));
            }
            if !aids.insert(p.isd_p_aid.to_string()) {
                return Err(bad(format!("ISD-P {} appears twice", p.isd_p_aid)));
            }
            let sa =
                p.subscription_address
                    .clone()
                    .unwrap_or(esim_proto::eis::SubscriptionAddress {
                        imsi: None,
                        msisdn: None,
                    });
            let Some(eid) = &eid else { break };
            profiles.push(ProfileRecord {
                eid: eid.clone(),
                iccid: p.iccid.clone(),
                isd_p_aid: p.isd_p_aid.clone(),
                mno_id: p.mno_id.clone(),
                smdp_id: p.smdp_id.clone(),
                profile_type: p.profile_type.clone().unwrap_or_default(),
                state,
                fallback: p.fallback_attribute,
                subscription_address: SubscriptionAddress {
                    imsi: sa.imsi,
                    msisdn: sa.msisdn,
                },
                pol2: serde_json::to_value(&p.pol2).ok(),
                allocated_memory: p.allocated_memory,
                free_memory: p.free_memory,
                updated_at: t,
            });
        }
        if profiles
            .iter()
            .filter(|p| p.state == ProfileState::Enabled)
            .count()
            > 1
        {
            return Err(bad("more than one Profile is Enabled".into()));
        }
        if profiles.iter().filter(|p| p.fallback).count() > 1 {
            return Err(bad(
                "more than one Profile has the Fall-back Attribute".into()
            ));
        }
        Ok(Registration {
            msisdn: None,
            additional_properties: r.additional_properties.clone(),
            profiles,
        })
    }
}

fn failed(subject: &str, reason: &str, id: &str, msg: &str) -> FunctionExecutionStatus {
    FunctionExecutionStatus::failed_for(subject, reason, id, msg)
}

/// Verifies and stores an EIS. Returns the status to answer with.
pub(crate) async fn register(
    inner: &Inner,
    access: &Access,
    doc: &EisDocument,
    extra: &Registration,
) -> Result<FunctionExecutionStatus, StoreError> {
    let info = &doc.eum_signed_info;
    let eid_text = info.eid.as_str();
    if let Access::Eum(id) = access
        && *id != info.eum_id
    {
        return Ok(failed(
            subject::REQUESTER,
            reason::NOT_ALLOWED,
            id,
            "the EIS belongs to another EUM",
        ));
    }
    let eum_cert = inner.config.eum_certificates.iter().find(|c| {
        c.subject_key_id().is_some_and(|ski| {
            doc.eum_certificate_id
                .eq_ignore_ascii_case(&esim_codec::hex::encode(&ski))
        })
    });
    let Some(eum_cert) = eum_cert else {
        return Ok(failed(
            subject::EUM_CERTIFICATE,
            reason::VERIFICATION_FAILED,
            &doc.eum_certificate_id,
            "unknown EUM certificate",
        ));
    };
    let verified = match verify_eis(doc, eum_cert, &inner.config.ci_certificate) {
        Ok(v) => v,
        Err(e) => {
            let (s, r) = match &e {
                PkiError::X509(_) | PkiError::EisSignature => {
                    (subject::EUM_CERTIFICATE, reason::VERIFICATION_FAILED)
                }
                PkiError::EisMismatch(m) if m.contains("eumCertificateId") => {
                    (subject::EUM_CERTIFICATE, reason::VERIFICATION_FAILED)
                }
                PkiError::EisMismatch(_) | PkiError::Cert(_) => {
                    (subject::EUICC_CERTIFICATE, reason::VERIFICATION_FAILED)
                }
                PkiError::Id(_) => (subject::EID, reason::INVALID_FORMAT),
                _ => (subject::REQUEST_FIELD, reason::INVALID_FORMAT),
            };
            return Ok(failed(s, r, eid_text, &e.to_string()));
        }
    };
    let eid = verified.eid;
    // The SM-SR's view must build from the document (AIDs, TARs, keyset types).
    if let Err(e) = Eis::from_document(doc, &inner.config.smsr_id) {
        return Ok(failed(
            subject::REQUEST_FIELD,
            reason::INVALID_FORMAT,
            eid_text,
            &e.to_string(),
        ));
    }
    let t = now();
    let json = doc
        .to_json()
        .map_err(|e| StoreError::Corrupt(format!("EIS document: {e}")))?;
    let signed_eis = inner.sealer.seal(json.as_bytes(), &eis_aad(&eid))?;
    let mut props = extra.additional_properties.clone();
    if let Some(m) = &extra.msisdn {
        props.insert("msisdn".into(), m.clone());
    }
    let record = EisRecord {
        eid: eid.clone(),
        eum_id: info.eum_id.clone(),
        smsr_id: inner.config.smsr_id.clone(),
        platform_type: info.platform_type.clone(),
        platform_version: info.platform_version.clone(),
        signed_eis,
        remaining_memory: info.remaining_memory,
        available_memory_for_profiles: info.available_memory_for_profiles,
        last_audit: None,
        locked_by: None,
        additional_properties: props,
        version: 0,
        registered_at: t,
        updated_at: t,
    };
    let mut keysets = Vec::new();
    for k in &info.isd_r.keysets {
        let kind = match KeysetKind::parse(&k.keyset_type) {
            Ok(kind) => kind,
            Err(_) => {
                return Ok(failed(
                    subject::REQUEST_FIELD,
                    reason::INVALID_FORMAT,
                    eid_text,
                    &format!("unknown keyset type {:?}", k.keyset_type),
                ));
            }
        };
        let psk_identity = match k.psk_identity.as_deref().map(esim_codec::hex::decode) {
            Some(Ok(v)) => Some(v),
            Some(Err(_)) => {
                return Ok(failed(
                    subject::REQUEST_FIELD,
                    reason::INVALID_FORMAT,
                    eid_text,
                    "pskIdentity is not hex",
                ));
            }
            None => None,
        };
        let counter = match k.cntr.as_deref().map(esim_codec::hex::decode) {
            Some(Ok(v)) if v.len() <= 8 => v.iter().fold(0u64, |a, &b| (a << 8) | u64::from(b)),
            Some(_) => {
                return Ok(failed(
                    subject::REQUEST_FIELD,
                    reason::INVALID_FORMAT,
                    eid_text,
                    "cntr is not a hex counter",
                ));
            }
            None => 0,
        };
        keysets.push(KeysetRecord {
            eid: eid.clone(),
            kvn: k.version,
            kind,
            keys: seal_keyset(inner.sealer.as_ref(), &eid, k)?,
            psk_identity,
            counter,
            created_at: t,
        });
    }
    let profiles: Vec<ProfileRecord> = extra
        .profiles
        .iter()
        .filter(|p| p.eid == eid)
        .cloned()
        .collect();
    match inner.store.register_eis(&record, &keysets, &profiles).await {
        Ok(()) => Ok(FunctionExecutionStatus::success()),
        Err(StoreError::Duplicate { .. }) => Ok(failed(
            subject::EID,
            reason::ALREADY_IN_USE,
            eid_text,
            "eUICC already registered",
        )),
        Err(e) => Err(e),
    }
}

impl crate::Smsr {
    /// ES1.RegisterEIS with what the signed document cannot carry (MSISDN, bootstrap Profiles):
    /// for EUM tooling and administrators. `caller` must be the EUM of the EIS or an ADMIN.
    pub async fn register_eis_with(
        &self,
        caller: &esim_service::Caller,
        doc: &EisDocument,
        extra: &Registration,
    ) -> Result<FunctionExecutionStatus, esim_service::ServiceError> {
        let access = if caller.has_role(esim_service::role::ADMIN) {
            Access::Admin
        } else if caller.has_role(esim_service::role::EUM) {
            Access::Eum(caller.id.clone())
        } else {
            return Err(esim_service::ServiceError::Forbidden(
                "RegisterEIS needs role EUM".into(),
            ));
        };
        Ok(register(&self.inner, &access, doc, extra).await?)
    }
}

impl crate::Smsr {
    /// Sets (or with `None` removes) an `AdditionalProperties` entry of an eUICC (digest §4.1),
    /// e.g. `msisdn`, the number the ES5 delivery sends SMS to when no Profile has one. For an
    /// ADMIN or the eUICC's EUM; anyone else, and an unknown EID, get `Forbidden` (the EID's
    /// existence is not revealed).
    pub async fn set_additional_property(
        &self,
        caller: &esim_service::Caller,
        eid: &esim_codec::Eid,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), esim_service::ServiceError> {
        let store = &self.inner.store;
        let forbidden =
            || esim_service::ServiceError::Forbidden(format!("EID {} not allowed", eid.as_str()));
        let mut rec = match store.get_eis(eid).await {
            Ok(r) => r,
            Err(StoreError::NotFound { .. }) => return Err(forbidden()),
            Err(e) => return Err(e.into()),
        };
        let allowed = caller.has_role(esim_service::role::ADMIN)
            || (caller.has_role(esim_service::role::EUM) && caller.id == rec.eum_id);
        if !allowed {
            return Err(forbidden());
        }
        match value {
            Some(v) => {
                rec.additional_properties
                    .insert(name.to_owned(), v.to_owned());
            }
            None => {
                rec.additional_properties.remove(name);
            }
        }
        rec.updated_at = now();
        store.update_eis(&rec).await?;
        Ok(())
    }
}
