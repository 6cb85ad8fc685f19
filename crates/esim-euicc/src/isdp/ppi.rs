//! The Profile Package Interpreter of the ISD-P (SGP.02 §2.2.1, §3.1.3 "Profile Download and
//! Installation"; digest §6 "Segmentation in SGP.02"; TCA SAIP v3.3.1 §8 and §9 "EUICCResponse").
//!
//! The interpreter takes the deciphered SCP03t segments in order ([`Interpreter::push`]); a
//! [`esim_saip::PeStreamDecoder`] reassembles the Profile Elements across segment boundaries and
//! each complete PE is checked and applied to a **staged** profile:
//! * the first PE must be `header`, the last `end` (TCA SAIP §8.1); anything else is
//!   `invalid-request-format`;
//! * every PE's DER size counts against the ISD-P memory quota (`not-enough-memory`);
//! * values are checked as a card checks them before storing them (`bad-values`, naming the PE's
//!   `identification`): EF content larger than the file, K/OPc sizes per algorithm, PIN/PUK sizes,
//!   key sizes per key type, ICCID coding, duplicate `identification` numbers, unknown parent DFs;
//! * PE types without a model here are `pe-not-supported`; an unknown `algorithmID`
//!   `feature-not-supported`; an unsupported SAIP major version `unsupported-profile-version`.
//!
//! Nothing is visible until `end` arrives and every check passed: then [`Interpreter::push`]
//! returns [`PpiStep::Installed`] with the [`Profile`] and the DER `EUICCResponse`. The first
//! failure returns [`PpiStep::Failed`] with an `EUICCResponse` whose last `PEStatus` names the
//! failing PE and which has `profileInstallationAborted`; the staged profile is dropped, so an
//! aborted or failed download leaves nothing half-installed.
//!
//! `EUICCResponse.peStatus` lists one `PEStatus` per processed PE in order (`ok` for each accepted
//! PE; for the failing one its code, `identification` and the PE's byte `offset` in the package);
//! see docs/spec-choices.md.

use super::profile::{
    AkaParams, AppInstanceRecord, ApplicationRecord, FID_MF, FileKind, FileSystem, OpaqueRecord,
    PinRecord, Profile, ProfileFile, PukRecord, RfmRecord, SdKey, Secret, SecurityDomainRecord,
    path_string,
};
use crate::policy::Pol1;
use esim_saip::access::{
    AkaAlgorithm, AkaView, PinView, PukView, SdKeyView, file_content, file_fcp,
    iccid_from_header_bcd, template_files,
};
use esim_saip::{LocatedElement, PeStreamDecoder, ProfileElement, RawReason, SaipError, asn1};
use std::collections::BTreeSet;

/// `PEStatus.status` codes (TCA SAIP v3.3.1 §9, `EUICCResponse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeStatusCode {
    /// `ok(0)`.
    Ok,
    /// `pe-not-supported(1)`.
    PeNotSupported,
    /// `memory-failure(2)`.
    MemoryFailure,
    /// `bad-values(3)`.
    BadValues,
    /// `not-enough-memory(4)`.
    NotEnoughMemory,
    /// `invalid-request-format(5)`.
    InvalidRequestFormat,
    /// `invalid-parameter(6)`.
    InvalidParameter,
    /// `runtime-not-supported(7)`.
    RuntimeNotSupported,
    /// `lib-not-supported(8)`.
    LibNotSupported,
    /// `template-not-supported(9)`.
    TemplateNotSupported,
    /// `feature-not-supported(10)`.
    FeatureNotSupported,
    /// `pin-code-missing(11)`.
    PinCodeMissing,
    /// `unsupported-profile-version(31)`.
    UnsupportedProfileVersion,
}

impl PeStatusCode {
    /// The integer of the ASN.1 `status` field.
    pub fn code(self) -> u8 {
        match self {
            PeStatusCode::Ok => 0,
            PeStatusCode::PeNotSupported => 1,
            PeStatusCode::MemoryFailure => 2,
            PeStatusCode::BadValues => 3,
            PeStatusCode::NotEnoughMemory => 4,
            PeStatusCode::InvalidRequestFormat => 5,
            PeStatusCode::InvalidParameter => 6,
            PeStatusCode::RuntimeNotSupported => 7,
            PeStatusCode::LibNotSupported => 8,
            PeStatusCode::TemplateNotSupported => 9,
            PeStatusCode::FeatureNotSupported => 10,
            PeStatusCode::PinCodeMissing => 11,
            PeStatusCode::UnsupportedProfileVersion => 31,
        }
    }

    /// From the integer; `None` for a value SAIP 3.3.1 does not define.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => PeStatusCode::Ok,
            1 => PeStatusCode::PeNotSupported,
            2 => PeStatusCode::MemoryFailure,
            3 => PeStatusCode::BadValues,
            4 => PeStatusCode::NotEnoughMemory,
            5 => PeStatusCode::InvalidRequestFormat,
            6 => PeStatusCode::InvalidParameter,
            7 => PeStatusCode::RuntimeNotSupported,
            8 => PeStatusCode::LibNotSupported,
            9 => PeStatusCode::TemplateNotSupported,
            10 => PeStatusCode::FeatureNotSupported,
            11 => PeStatusCode::PinCodeMissing,
            31 => PeStatusCode::UnsupportedProfileVersion,
            _ => return None,
        })
    }

    /// The ASN.1 name.
    pub fn name(self) -> &'static str {
        match self {
            PeStatusCode::Ok => "ok",
            PeStatusCode::PeNotSupported => "pe-not-supported",
            PeStatusCode::MemoryFailure => "memory-failure",
            PeStatusCode::BadValues => "bad-values",
            PeStatusCode::NotEnoughMemory => "not-enough-memory",
            PeStatusCode::InvalidRequestFormat => "invalid-request-format",
            PeStatusCode::InvalidParameter => "invalid-parameter",
            PeStatusCode::RuntimeNotSupported => "runtime-not-supported",
            PeStatusCode::LibNotSupported => "lib-not-supported",
            PeStatusCode::TemplateNotSupported => "template-not-supported",
            PeStatusCode::FeatureNotSupported => "feature-not-supported",
            PeStatusCode::PinCodeMissing => "pin-code-missing",
            PeStatusCode::UnsupportedProfileVersion => "unsupported-profile-version",
        }
    }
}

/// Why a PE (and with it the download) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PE #{index} {pe_type}{} at byte {offset}: {} ({detail})",
    .identification.map(|i| format!(" (identification {i})")).unwrap_or_default(),
    .status.name())]
pub struct PeFailure {
    /// The status reported in the `EUICCResponse`.
    pub status: PeStatusCode,
    /// Index of the PE in the package (the index the PE would have for a stream error).
    pub index: usize,
    /// Type of the PE ("akaParameter", …; "unknown" when it could not be decoded).
    pub pe_type: &'static str,
    /// `PEHeader.identification` of the PE, if known.
    pub identification: Option<u16>,
    /// Byte offset of the PE from the start of the package.
    pub offset: usize,
    /// What is wrong.
    pub detail: String,
}

/// The result of [`Interpreter::push`].
#[derive(Debug)]
#[non_exhaustive]
pub enum PpiStep {
    /// The PEs so far are accepted; more segments are needed.
    NeedMore,
    /// `end` arrived and everything was accepted.
    Installed {
        /// The installed profile.
        profile: Box<Profile>,
        /// DER `EUICCResponse` (all `ok`).
        response: Vec<u8>,
    },
    /// A PE failed; the staged profile is discarded.
    Failed {
        /// The failure.
        failure: PeFailure,
        /// DER `EUICCResponse` with `profileInstallationAborted`.
        response: Vec<u8>,
    },
    /// The interpreter already finished (installed or failed); input is refused.
    Finished,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitingHeader,
    AwaitingEnd,
    Finished,
}

#[derive(Debug, Default)]
struct Staged {
    iccid: Option<esim_codec::Iccid>,
    pol1: Pol1,
    saip_version: (u8, u8),
    profile_type: Option<String>,
    connectivity_parameters: Option<Vec<u8>>,
    files: FileSystem,
    /// Most recent ADF per NAA template type ("usim", "isim", "csim", "iot").
    last_adf: Vec<(&'static str, Vec<u16>)>,
    usim_adf: Option<Vec<u16>>,
    isim_adf: Option<Vec<u16>>,
    aka: Vec<AkaParams>,
    pins: Vec<PinRecord>,
    puks: Vec<PukRecord>,
    sds: Vec<SecurityDomainRecord>,
    apps: Vec<ApplicationRecord>,
    rfm: Vec<RfmRecord>,
    opaque: Vec<OpaqueRecord>,
    identifications: BTreeSet<u16>,
}

/// A failure inside one PE before the PE's location is attached.
struct Fail(PeStatusCode, String);

fn bad(detail: impl Into<String>) -> Fail {
    Fail(PeStatusCode::BadValues, detail.into())
}

/// The Profile Package Interpreter for one download. See the module documentation.
#[derive(Debug)]
pub struct Interpreter {
    decoder: PeStreamDecoder,
    staged: Staged,
    statuses: Vec<asn1::PEStatus>,
    quota: u32,
    used: u64,
    state: State,
    /// ICCIDs of the profiles already on the card: a package carrying one of them is refused at
    /// its header (SGP.02: an ICCID is unique on an eUICC).
    iccids_in_use: Vec<esim_codec::Iccid>,
}

/// DER of an `EUICCResponse` with an empty `peStatus` (fallback if encoding ever failed).
const EMPTY_EUICC_RESPONSE: [u8; 4] = [0x30, 0x02, 0xA0, 0x00];

impl Interpreter {
    /// A new interpreter for an ISD-P with `quota` bytes of memory.
    pub fn new(quota: u32) -> Self {
        Interpreter {
            decoder: PeStreamDecoder::new(),
            staged: Staged::default(),
            statuses: Vec::new(),
            quota,
            used: 0,
            state: State::AwaitingHeader,
            iccids_in_use: Vec::new(),
        }
    }

    /// Refuses packages whose header carries one of `iccids` (the profiles already installed).
    pub fn with_iccids_in_use(mut self, iccids: Vec<esim_codec::Iccid>) -> Self {
        self.iccids_in_use = iccids;
        self
    }

    /// Memory taken so far by the accepted PEs.
    pub fn memory_staged(&self) -> u64 {
        self.used
    }

    /// Number of PEs accepted so far.
    pub fn elements_accepted(&self) -> usize {
        self.statuses.len()
    }

    /// Whether the interpreter finished (installed or failed).
    pub fn is_finished(&self) -> bool {
        self.state == State::Finished
    }

    /// Feeds the next deciphered Profile Package bytes (one SCP03t segment, cut anywhere).
    pub fn push(&mut self, bytes: &[u8]) -> PpiStep {
        if self.state == State::Finished {
            return PpiStep::Finished;
        }
        let elements = match self.decoder.push(bytes) {
            Ok(e) => e,
            Err(e) => {
                // PEs completed before the error in this same push are lost with the decoder
                // state; the failure is what counts.
                let failure = stream_failure(&e, self.decoder.elements_seen());
                return self.fail(failure);
            }
        };
        let mut iter = elements.into_iter();
        while let Some(located) = iter.next() {
            let is_end = located.element.type_name() == "end";
            if let Err(failure) = self.apply(&located) {
                return self.fail(failure);
            }
            if is_end {
                if let Some(extra) = iter.next() {
                    let failure = PeFailure {
                        status: PeStatusCode::InvalidRequestFormat,
                        index: extra.index,
                        pe_type: extra.element.type_name(),
                        identification: extra.element.identification(),
                        offset: extra.offset,
                        detail: "PE after the end PE".into(),
                    };
                    return self.fail(failure);
                }
                if self.decoder.buffered() > 0 {
                    let failure = PeFailure {
                        status: PeStatusCode::InvalidRequestFormat,
                        index: self.decoder.elements_seen(),
                        pe_type: "unknown",
                        identification: None,
                        offset: self.decoder.offset() - self.decoder.buffered(),
                        detail: "bytes after the end PE".into(),
                    };
                    return self.fail(failure);
                }
                return self.install();
            }
        }
        PpiStep::NeedMore
    }

    fn fail(&mut self, failure: PeFailure) -> PpiStep {
        self.state = State::Finished;
        self.staged = Staged::default();
        self.statuses.push(asn1::PEStatus::new(
            rasn::types::Integer::from(i64::from(failure.status.code())),
            failure.identification.map(asn1::UInt15),
            None,
            u32::try_from(failure.offset)
                .ok()
                .filter(|o| *o <= 0x7FFF_FFFF)
                .map(asn1::UInt31),
        ));
        let response = self.response(true, Some(failure.to_string()));
        PpiStep::Failed { failure, response }
    }

    fn response(&self, aborted: bool, message: Option<String>) -> Vec<u8> {
        let r = asn1::EUICCResponse::new(self.statuses.clone(), aborted.then_some(()), message);
        rasn::der::encode(&r).unwrap_or_else(|_| EMPTY_EUICC_RESPONSE.to_vec())
    }

    fn install(&mut self) -> PpiStep {
        self.state = State::Finished;
        let s = std::mem::take(&mut self.staged);
        let Some(iccid) = s.iccid.clone() else {
            // Unreachable by construction (header first), but never panic.
            let failure = PeFailure {
                status: PeStatusCode::InvalidRequestFormat,
                index: 0,
                pe_type: "header",
                identification: None,
                offset: 0,
                detail: "no header".into(),
            };
            return self.fail(failure);
        };
        let profile = Profile {
            iccid,
            pol1: s.pol1,
            saip_version: s.saip_version,
            profile_type: s.profile_type.clone(),
            connectivity_parameters: s.connectivity_parameters.clone(),
            files: s.files.clone(),
            usim_adf: s.usim_adf.clone(),
            isim_adf: s.isim_adf.clone(),
            aka: s.aka.clone(),
            pins: s.pins.clone(),
            puks: s.puks.clone(),
            security_domains: s.sds.clone(),
            applications: s.apps.clone(),
            rfm: s.rfm.clone(),
            opaque: s.opaque.clone(),
            memory_used: u32::try_from(self.used).unwrap_or(u32::MAX),
            sqn_ms: [0; 6],
        };
        let response = self.response(false, None);
        PpiStep::Installed {
            profile: Box::new(profile),
            response,
        }
    }

    /// Checks and applies one PE to the staged profile.
    fn apply(&mut self, located: &LocatedElement) -> Result<(), PeFailure> {
        let pe_type = located.element.type_name();
        let identification = located.element.identification();
        let at = |status, detail| PeFailure {
            status,
            index: located.index,
            pe_type,
            identification,
            offset: located.offset,
            detail,
        };
        // Order (TCA SAIP §8.1): header first, end last.
        match (self.state, pe_type == "header") {
            (State::AwaitingHeader, true) | (State::AwaitingEnd, false) => {}
            (State::AwaitingHeader, false) => {
                return Err(at(
                    PeStatusCode::InvalidRequestFormat,
                    "the first PE must be the header".into(),
                ));
            }
            _ => {
                return Err(at(
                    PeStatusCode::InvalidRequestFormat,
                    "a second header PE".into(),
                ));
            }
        }
        // Memory (SGP.02 §3.1.1 memory quota of the ISD-P).
        self.used = self.used.saturating_add(located.len as u64);
        if self.used > u64::from(self.quota) {
            return Err(at(
                PeStatusCode::NotEnoughMemory,
                format!(
                    "profile needs at least {} bytes, the ISD-P quota is {}",
                    self.used, self.quota
                ),
            ));
        }
        if let Some(id) = identification {
            if !self.staged.identifications.insert(id) {
                return Err(at(
                    PeStatusCode::BadValues,
                    format!("identification {id} used by an earlier PE"),
                ));
            }
        }
        let typed: std::borrow::Cow<'_, asn1::ProfileElement> = match &located.element {
            ProfileElement::Typed(t) => std::borrow::Cow::Borrowed(t.as_ref()),
            ProfileElement::Raw(r) if r.reason == RawReason::NotCanonical => {
                match r.decode_typed() {
                    Ok(t) => std::borrow::Cow::Owned(t),
                    Err(e) => return Err(at(PeStatusCode::InvalidRequestFormat, e.to_string())),
                }
            }
            ProfileElement::Raw(_) => {
                return Err(at(
                    PeStatusCode::PeNotSupported,
                    "PE type not defined by SAIP 3.3.1".into(),
                ));
            }
            _ => {
                return Err(at(
                    PeStatusCode::PeNotSupported,
                    "PE form not supported".into(),
                ));
            }
        };
        let r = self.apply_typed(&typed, located);
        if r.is_ok() && self.state == State::AwaitingHeader {
            self.state = State::AwaitingEnd;
        }
        r.map_err(|Fail(status, detail)| at(status, detail))?;
        self.statuses.push(asn1::PEStatus::new(
            rasn::types::Integer::from(0),
            identification.map(asn1::UInt15),
            None,
            None,
        ));
        Ok(())
    }

    fn apply_typed(
        &mut self,
        pe: &asn1::ProfileElement,
        located: &LocatedElement,
    ) -> Result<(), Fail> {
        use asn1::ProfileElement as P;
        let s = &mut self.staged;
        match pe {
            P::header(h) => {
                if !(2..=3).contains(&h.major_version.0) {
                    return Err(Fail(
                        PeStatusCode::UnsupportedProfileVersion,
                        format!(
                            "SAIP version {}.{} (this eUICC supports 2.x and 3.x)",
                            h.major_version.0, h.minor_version.0
                        ),
                    ));
                }
                let iccid =
                    iccid_from_header_bcd(&h.iccid).map_err(|e| bad(format!("iccid: {e}")))?;
                if self.iccids_in_use.contains(&iccid) {
                    return Err(Fail(
                        PeStatusCode::InvalidParameter,
                        format!("iccid: {iccid} is already installed on this eUICC"),
                    ));
                }
                s.iccid = Some(iccid);
                s.pol1 = Pol1::from_octets(h.pol.as_deref().unwrap_or(&[]));
                s.saip_version = (h.major_version.0, h.minor_version.0);
                s.profile_type = h.profile_type.clone();
                s.connectivity_parameters = h.connectivity_parameters.as_ref().map(|c| c.to_vec());
                Ok(())
            }
            P::end(_) => {
                if s.files.get(&[FID_MF]).is_none() {
                    return Err(Fail(
                        PeStatusCode::InvalidRequestFormat,
                        "the package created no MF".into(),
                    ));
                }
                Ok(())
            }
            P::genericFileManagement(g) => apply_gfm(s, g),
            P::pinCodes(p) => {
                let id = p.pin_header.identification.0;
                match &p.pin_codes {
                    asn1::PEPINCodesPinCodes::pinconfig(list) => {
                        for config in list {
                            let v = PinView {
                                index: located.index,
                                identification: id,
                                config,
                            };
                            if v.value().len() != 8 {
                                return Err(bad(format!(
                                    "pinValue of key reference {} must be 8 bytes, is {}",
                                    v.key_reference(),
                                    v.value().len()
                                )));
                            }
                            let counters = v.max_attempts_retry_left();
                            s.pins.push(PinRecord {
                                identification: id,
                                key_reference: v.key_reference(),
                                value: Secret::new(v.value()),
                                attributes: v.attributes(),
                                max_attempts: counters >> 4,
                                retries_left: counters & 0x0F,
                                unblocking_reference: v.unblocking_reference(),
                            });
                        }
                        Ok(())
                    }
                    _ => Err(Fail(
                        PeStatusCode::FeatureNotSupported,
                        "pinCodes by filePath (shared PINs of a DF) are not supported".into(),
                    )),
                }
            }
            P::pukCodes(p) => {
                let id = p.puk_header.identification.0;
                for config in &p.puk_codes {
                    let v = PukView {
                        index: located.index,
                        identification: id,
                        config,
                    };
                    if v.value().len() != 8 {
                        return Err(bad(format!(
                            "pukValue of key reference {} must be 8 bytes, is {}",
                            v.key_reference(),
                            v.value().len()
                        )));
                    }
                    let counters = v.max_attempts_retry_left();
                    s.puks.push(PukRecord {
                        identification: id,
                        key_reference: v.key_reference(),
                        value: Secret::new(v.value()),
                        max_attempts: counters >> 4,
                        retries_left: counters & 0x0F,
                    });
                }
                Ok(())
            }
            P::akaParameter(a) => {
                let v = AkaView {
                    index: located.index,
                    pe: a,
                };
                let id = a.aka_header.identification.0;
                if let Some(m) = v.mapping() {
                    s.aka.push(AkaParams {
                        identification: id,
                        algorithm_id: None,
                        algorithm_options: Vec::new(),
                        ki: Secret::new(&[]),
                        opc: Secret::new(&[]),
                        rotation_constants: Vec::new(),
                        xoring_constants: Vec::new(),
                        sqn_options: v.sqn_options(),
                        mapped_to: Some(m.mapping_source.0.to_vec()),
                    });
                    return Ok(());
                }
                let algo = v.algo().ok_or_else(|| bad("no algoParameter"))?;
                let ki = v.ki().unwrap_or(&[]);
                let opc = v.opc().unwrap_or(&[]);
                let id_num = match v.algorithm() {
                    Some(AkaAlgorithm::Milenage) => {
                        if ki.len() != 16 || opc.len() != 16 {
                            return Err(bad(format!(
                                "Milenage needs a 16-byte key and OPc, got {} and {}",
                                ki.len(),
                                opc.len()
                            )));
                        }
                        let r = v.rotation_constants().unwrap_or_default();
                        let c = v.xoring_constants().unwrap_or_default();
                        if r.len() != 5 || c.len() != 80 {
                            return Err(bad(
                                "Milenage rotation constants must be 5 bytes and XOR constants 80",
                            ));
                        }
                        1
                    }
                    Some(AkaAlgorithm::Tuak) => {
                        if !matches!(ki.len(), 16 | 32) || opc.len() != 32 {
                            return Err(bad(format!(
                                "TUAK needs a 16- or 32-byte key and a 32-byte TOPc, got {} and {}",
                                ki.len(),
                                opc.len()
                            )));
                        }
                        2
                    }
                    Some(AkaAlgorithm::TestAlgorithm) => {
                        if ki.len() != 16 {
                            return Err(bad(format!(
                                "the test algorithm needs a 16-byte key, got {}",
                                ki.len()
                            )));
                        }
                        3
                    }
                    _ => {
                        return Err(Fail(
                            PeStatusCode::FeatureNotSupported,
                            "unknown algorithmID".into(),
                        ));
                    }
                };
                s.aka.push(AkaParams {
                    identification: id,
                    algorithm_id: Some(id_num),
                    algorithm_options: algo.algorithm_options.to_vec(),
                    ki: Secret::new(ki),
                    opc: Secret::new(opc),
                    rotation_constants: v.rotation_constants().unwrap_or_default(),
                    xoring_constants: v.xoring_constants().unwrap_or_default(),
                    sqn_options: v.sqn_options(),
                    mapped_to: None,
                });
                Ok(())
            }
            P::securityDomain(sd) => {
                let mut keys = Vec::new();
                for key in sd.key_list.iter().flatten() {
                    let k = SdKeyView { key };
                    let data = k.data().unwrap_or(&[]);
                    let key_type = k.key_type().unwrap_or(0);
                    let ok = match key_type {
                        0x88 => matches!(data.len(), 16 | 24 | 32),
                        0x80 => matches!(data.len(), 8 | 16 | 24),
                        _ => !data.is_empty(),
                    };
                    if !ok {
                        return Err(bad(format!(
                            "key {:02X}/{:02X} of type {key_type:02X} has {} bytes",
                            k.kvn(),
                            k.kid(),
                            data.len()
                        )));
                    }
                    keys.push(SdKey {
                        kvn: k.kvn(),
                        kid: k.kid(),
                        usage: k.usage().to_vec(),
                        access: key.key_access.as_ref().map(|a| a.to_vec()),
                        key_type,
                        value: Secret::new(data),
                        counter: key.key_counter_value.as_ref().map(|c| c.to_vec()),
                    });
                }
                s.sds.push(SecurityDomainRecord {
                    identification: sd.sd_header.identification.0,
                    instance_aid: sd.instance.instance_aid.0.to_vec(),
                    class_aid: sd.instance.class_aid.0.to_vec(),
                    privileges: sd.instance.application_privileges.to_vec(),
                    keys,
                });
                Ok(())
            }
            P::rfm(r) => {
                s.rfm.push(RfmRecord {
                    identification: r.rfm_header.identification.0,
                    instance_aid: r.instance_aid.0.to_vec(),
                    security_domain_aid: r.security_domain_aid.as_ref().map(|a| a.0.to_vec()),
                    tars: r
                        .tar_list
                        .iter()
                        .flat_map(|l| l.0.iter())
                        .map(|t| {
                            let mut a = [0u8; 3];
                            a.copy_from_slice(&t.0[..]);
                            a
                        })
                        .collect(),
                    minimum_security_level: r.minimum_security_level.first().copied().unwrap_or(0),
                    access_domain: r.uicc_access_domain.to_vec(),
                    admin_access_domain: r.uicc_admin_access_domain.to_vec(),
                    adf_aid: r.adf_rfmaccess.as_ref().map(|a| a.adf_aid.0.to_vec()),
                });
                Ok(())
            }
            P::application(a) => {
                s.apps.push(ApplicationRecord {
                    identification: a.app_header.identification.0,
                    load_package_aid: a.load_block.as_ref().map(|l| l.load_package_aid.0.to_vec()),
                    load_block_len: a
                        .load_block
                        .as_ref()
                        .map_or(0, |l| l.load_block_object.len()),
                    instances: a
                        .instance_list
                        .iter()
                        .flatten()
                        .map(|i| AppInstanceRecord {
                            load_package_aid: i.application_load_package_aid.0.to_vec(),
                            class_aid: i.class_aid.0.to_vec(),
                            instance_aid: i.instance_aid.0.to_vec(),
                            privileges: i.application_privileges.to_vec(),
                            parameters_c9: i.application_specific_parameters_c9.to_vec(),
                        })
                        .collect(),
                });
                Ok(())
            }
            P::cdmaParameter(c) => {
                s.opaque.push(OpaqueRecord {
                    pe_type: "cdmaParameter".into(),
                    identification: c.cdma_header.identification.0,
                    der: Secret::new(&rasn::der::encode(pe).unwrap_or_default()),
                });
                Ok(())
            }
            P::nonStandard(n) => {
                s.opaque.push(OpaqueRecord {
                    pe_type: "nonStandard".into(),
                    identification: n.non_standard_header.identification.0,
                    der: Secret::new(&rasn::der::encode(pe).unwrap_or_default()),
                });
                Ok(())
            }
            P::rfu1(_) | P::rfu2(_) | P::rfu3(_) | P::rfu4(_) | P::rfu5(_) => Err(Fail(
                PeStatusCode::PeNotSupported,
                "reserved PE type".into(),
            )),
            _ => apply_template(s, pe, located.element.type_name()),
        }
    }
}

fn stream_failure(e: &SaipError, next_index: usize) -> PeFailure {
    let (status, index, offset, pe_type) = match e {
        SaipError::TooLarge { index, offset, .. } => {
            (PeStatusCode::NotEnoughMemory, *index, *offset, "unknown")
        }
        SaipError::NotAProfileElement { index, offset, .. } => {
            (PeStatusCode::PeNotSupported, *index, *offset, "unknown")
        }
        SaipError::BadElement {
            index,
            offset,
            pe_type,
            ..
        } => (
            PeStatusCode::InvalidRequestFormat,
            *index,
            *offset,
            *pe_type,
        ),
        SaipError::BadHeader { index, offset, .. } | SaipError::Truncated { index, offset, .. } => {
            (
                PeStatusCode::InvalidRequestFormat,
                *index,
                *offset,
                "unknown",
            )
        }
        _ => (PeStatusCode::InvalidRequestFormat, next_index, 0, "unknown"),
    };
    PeFailure {
        status,
        index,
        pe_type,
        identification: None,
        offset,
        detail: e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// File system
// ---------------------------------------------------------------------------------------------

/// File structure from an FCP file descriptor (ETSI TS 102 221 §11.1.1.4.3).
fn kind_from_fcp(fcp: &asn1::Fcp, fid: u16) -> Option<FileKind> {
    let d = fcp.file_descriptor.as_deref()?;
    let first = *d.first()?;
    let t = first & 0xBF; // without the shareable bit
    let record_len = || {
        d.get(2..4)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
            .unwrap_or(0)
    };
    Some(match t {
        0x38 if fid == FID_MF => FileKind::Mf,
        0x38 => match &fcp.df_name {
            Some(aid) => FileKind::Adf {
                aid: aid.0.to_vec(),
            },
            None => FileKind::Df,
        },
        0x39 => FileKind::BerTlv,
        _ => match t & 0x07 {
            1 => FileKind::Transparent,
            2 => FileKind::LinearFixed {
                record_len: record_len(),
            },
            6 => FileKind::Cyclic {
                record_len: record_len(),
            },
            _ => FileKind::Other(first),
        },
    })
}

fn be_usize(bytes: &[u8]) -> Option<usize> {
    if bytes.is_empty() || bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b)))
}

/// The initial content of a new EF of `size` bytes: the FCP fill or repeat pattern (ETSI TS 102
/// 222 §6.3: fill pattern = pattern then its last byte repeated; repeat pattern = pattern
/// repeated), applied per record for record EFs; `FF` without a pattern.
fn initial_content(fcp: &asn1::Fcp, kind: &FileKind, size: usize) -> Vec<u8> {
    let unit = match kind {
        FileKind::LinearFixed { record_len } | FileKind::Cyclic { record_len }
            if *record_len > 0 =>
        {
            usize::from(*record_len)
        }
        _ => size.max(1),
    };
    let info = fcp.proprietary_efinfo.as_ref();
    let fill = info.and_then(|i| i.fill_pattern.as_deref());
    let repeat = info.and_then(|i| i.repeat_pattern.as_deref());
    let one: Vec<u8> = (0..unit)
        .map(|i| match (fill, repeat) {
            (Some(p), _) if !p.is_empty() => *p.get(i).or(p.last()).unwrap_or(&0xFF),
            (_, Some(p)) if !p.is_empty() => p.get(i % p.len()).copied().unwrap_or(0xFF),
            _ => 0xFF,
        })
        .collect();
    one.iter().copied().cycle().take(size).collect()
}

/// A new file from its FCP; `name` is the template field, `fallback_kind` the kind a template
/// field name implies when the FCP has no descriptor.
fn new_file(
    parent: &[u16],
    fcp: Option<&asn1::Fcp>,
    name: Option<&str>,
    fid_default: Option<u16>,
) -> Result<(ProfileFile, Option<asn1::Fcp>), Fail> {
    let empty = asn1::Fcp::new(None, None, None, None, None, None, None, None, None, None);
    let fcp = fcp.cloned().unwrap_or(empty);
    let fid = match fcp.file_id.as_deref() {
        Some([a, b]) => u16::from_be_bytes([*a, *b]),
        Some(_) => return Err(bad("fileID must be 2 bytes")),
        None => fid_default.ok_or_else(|| {
            Fail(
                PeStatusCode::TemplateNotSupported,
                format!(
                    "{} has no fileID and this eUICC does not hold the template defaults",
                    name.unwrap_or("file")
                ),
            )
        })?,
    };
    let kind = match kind_from_fcp(&fcp, fid) {
        Some(k) => k,
        None => match name {
            Some("mf") => FileKind::Mf,
            Some(n) if n.starts_with("adf-") => FileKind::Adf {
                aid: fcp
                    .df_name
                    .as_ref()
                    .map(|a| a.0.to_vec())
                    .unwrap_or_default(),
            },
            Some(n) if n.starts_with("df-") => FileKind::Df,
            _ => {
                return Err(Fail(
                    PeStatusCode::TemplateNotSupported,
                    format!(
                        "{} has no file descriptor and this eUICC does not hold the template defaults",
                        name.unwrap_or("file")
                    ),
                ));
            }
        },
    };
    let mut path = parent.to_vec();
    if !(kind == FileKind::Mf && parent.is_empty()) {
        path.push(fid);
    } else {
        path = vec![FID_MF];
    }
    let size = if kind.is_directory() {
        0
    } else {
        fcp.ef_file_size
            .as_deref()
            .map(|b| be_usize(b).ok_or_else(|| bad("efFileSize must be 1 to 4 bytes")))
            .transpose()?
            .unwrap_or(0)
    };
    let content = if kind.is_directory() {
        Vec::new()
    } else {
        initial_content(&fcp, &kind, size)
    };
    let file = ProfileFile {
        path,
        name: name.map(str::to_string),
        kind,
        size,
        content,
        sfi: fcp
            .short_efid
            .as_deref()
            .and_then(|s| s.first().copied())
            .map(|b| b >> 3),
        security_attributes: fcp
            .security_attributes_referenced
            .as_deref()
            .unwrap_or(&[])
            .to_vec(),
        link_path: fcp.link_path.as_ref().map(|l| l.to_vec()),
    };
    Ok((file, Some(fcp)))
}

/// Writes `data` at `pos` into a file; beyond a declared size is `bad-values`.
fn write_content(file: &mut ProfileFile, pos: usize, data: &[u8]) -> Result<usize, Fail> {
    if file.kind.is_directory() {
        return Err(bad(format!(
            "content for directory {}",
            path_string(&file.path)
        )));
    }
    let end = pos
        .checked_add(data.len())
        .ok_or_else(|| bad("content offset overflows"))?;
    let sized = file.size > 0 && file.link_path.is_none() && file.kind != FileKind::BerTlv;
    if sized && end > file.size {
        return Err(bad(format!(
            "content of {} ends at byte {end}, the file has {} bytes",
            path_string(&file.path),
            file.size
        )));
    }
    if file.content.len() < end {
        file.content.resize(end, 0xFF);
        if !sized {
            file.size = file.size.max(end);
        }
    }
    if let Some(dst) = file.content.get_mut(pos..end) {
        dst.copy_from_slice(data);
    }
    Ok(end)
}

/// The parent under which a template PE creates its files (TCA SAIP §8.3 and Annex A: `mf` is
/// the root; `cd`, `telecom` and the NAA ADFs are under the MF, ADFs addressed by FID as SAIP
/// `filePath` does; the optional and sub-DF templates go into the last ADF of their NAA).
fn template_parent(s: &Staged, pe_type: &str) -> Result<Vec<u16>, Fail> {
    let naa = match pe_type {
        "mf" => return Ok(Vec::new()),
        "cd" | "telecom" | "usim" | "isim" | "csim" | "iot" => return Ok(vec![FID_MF]),
        "opt-usim" | "gsm-access" | "phonebook" | "eap" | "df-5gs" | "df-saip" | "df-snpn"
        | "df-5gprose" => "usim",
        "opt-isim" => "isim",
        "opt-csim" => "csim",
        "opt-iot" => "iot",
        _ => {
            return Err(Fail(
                PeStatusCode::TemplateNotSupported,
                format!("template PE {pe_type} is not supported"),
            ));
        }
    };
    s.last_adf
        .iter()
        .rev()
        .find(|(n, _)| *n == naa)
        .map(|(_, p)| p.clone())
        .ok_or_else(|| {
            Fail(
                PeStatusCode::InvalidParameter,
                format!("{pe_type} needs an earlier {naa} PE (its ADF)"),
            )
        })
}

fn apply_template(s: &mut Staged, pe: &asn1::ProfileElement, pe_type: &str) -> Result<(), Fail> {
    let parent = template_parent(s, pe_type)?;
    if pe_type != "mf" && s.files.get(&[FID_MF]).is_none() {
        return Err(Fail(
            PeStatusCode::InvalidParameter,
            format!("{pe_type} before the mf PE"),
        ));
    }
    let files = template_files(pe);
    if files.is_empty() {
        return Err(Fail(
            PeStatusCode::TemplateNotSupported,
            format!("{pe_type}: no file of this template is known"),
        ));
    }
    let mut root: Option<Vec<u16>> = None;
    let mut current = parent.clone();
    for tf in files {
        if tf
            .file
            .0
            .iter()
            .any(|i| matches!(i, asn1::AnonymousFile::doNotCreate(_)))
        {
            continue;
        }
        let name = tf.field;
        let is_dir_name = name == "mf" || name.starts_with("df-") || name.starts_with("adf-");
        let fid_default = (name == "mf").then_some(FID_MF);
        let dir_parent = match (&root, is_dir_name) {
            (Some(r), true) => r.clone(),
            _ => current.clone(),
        };
        let (mut file, _) = new_file(&dir_parent, file_fcp(&tf.file), Some(name), fid_default)
            .map_err(|Fail(c, d)| Fail(c, format!("{name}: {d}")))?;
        let content = file_content(&tf.file);
        if !content.is_empty() {
            // `file_content` shows skipped bytes as FF; write only what the package gives.
            let mut pos = 0usize;
            for item in &tf.file.0 {
                match item {
                    asn1::AnonymousFile::fillFileOffset(o) => {
                        pos = pos.saturating_add(usize::from(o.0))
                    }
                    asn1::AnonymousFile::fillFileContent(c) => {
                        pos = write_content(&mut file, pos, c)
                            .map_err(|Fail(c, d)| Fail(c, format!("{name}: {d}")))?;
                    }
                    _ => {}
                }
            }
        }
        let path = file.path.clone();
        let is_dir = file.kind.is_directory();
        let is_adf = matches!(file.kind, FileKind::Adf { .. });
        s.files
            .insert(file)
            .map_err(|d| bad(format!("{name}: {d}")))?;
        if is_dir {
            if root.is_none() {
                root = Some(path.clone());
            }
            current = path.clone();
            if is_adf {
                let naa: &'static str = match pe_type {
                    "usim" => "usim",
                    "isim" => "isim",
                    "csim" => "csim",
                    "iot" => "iot",
                    _ => "",
                };
                if !naa.is_empty() {
                    s.last_adf.push((naa, path.clone()));
                    if naa == "usim" && s.usim_adf.is_none() {
                        s.usim_adf = Some(path.clone());
                    }
                    if naa == "isim" && s.isim_adf.is_none() {
                        s.isim_adf = Some(path);
                    }
                }
            }
        }
    }
    Ok(())
}

/// `genericFileManagement` (TCA SAIP §8.3.4): each `FileManagement` starts at the MF; `filePath`
/// (FIDs from the MF, MF not included) selects a DF (or an EF whose content follows);
/// `createFCP` creates a file in the current DF (the current DF does not change; a created EF
/// becomes the target of `fillFileOffset`/`fillFileContent`).
fn apply_gfm(s: &mut Staged, g: &asn1::PEGenericFileManagement) -> Result<(), Fail> {
    if s.files.get(&[FID_MF]).is_none() {
        return Err(Fail(
            PeStatusCode::InvalidParameter,
            "genericFileManagement before the mf PE".into(),
        ));
    }
    for cmd in &g.file_management_cmd {
        let mut dir = vec![FID_MF];
        let mut target: Option<Vec<u16>> = None;
        let mut pos = 0usize;
        for item in &cmd.0 {
            match item {
                asn1::AnonymousFileManagement::filePath(p) => {
                    if p.len() % 2 != 0 {
                        return Err(bad("filePath must be a sequence of 2-byte FIDs"));
                    }
                    let mut path = vec![FID_MF];
                    path.extend(p.chunks(2).filter_map(|c| match c {
                        [a, b] => Some(u16::from_be_bytes([*a, *b])),
                        _ => None,
                    }));
                    if path.get(1) == Some(&FID_MF) {
                        path.remove(0);
                    }
                    let file = s
                        .files
                        .get(&path)
                        .ok_or_else(|| bad(format!("filePath {} not found", path_string(&path))))?;
                    if file.kind.is_directory() {
                        dir = path;
                        target = None;
                    } else {
                        dir = path.get(..path.len() - 1).unwrap_or(&[FID_MF]).to_vec();
                        target = Some(path);
                    }
                    pos = 0;
                }
                asn1::AnonymousFileManagement::createFCP(fcp) => {
                    if fcp.file_id.is_none() {
                        return Err(bad("createFCP without fileID"));
                    }
                    if fcp.file_descriptor.is_none() {
                        return Err(bad("createFCP without file descriptor"));
                    }
                    let (file, _) = new_file(&dir, Some(fcp), None, None)?;
                    let path = file.path.clone();
                    let is_dir = file.kind.is_directory();
                    s.files.insert(file).map_err(bad)?;
                    target = (!is_dir).then_some(path);
                    pos = 0;
                }
                asn1::AnonymousFileManagement::fillFileOffset(o) => {
                    if target.is_none() {
                        return Err(bad("fillFileOffset without a selected EF"));
                    }
                    pos = pos.saturating_add(usize::from(o.0));
                }
                asn1::AnonymousFileManagement::fillFileContent(c) => {
                    let path = target
                        .as_ref()
                        .ok_or_else(|| bad("fillFileContent without a selected EF"))?;
                    let file = s
                        .files
                        .get_mut(path)
                        .ok_or_else(|| bad("selected EF vanished"))?;
                    pos = write_content(file, pos, c)?;
                }
                _ => {
                    return Err(Fail(
                        PeStatusCode::FeatureNotSupported,
                        "unknown file management command".into(),
                    ));
                }
            }
        }
    }
    Ok(())
}
