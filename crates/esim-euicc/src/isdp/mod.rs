//! The ISD-P: the security domain that receives and holds one Profile (SGP.02 §2.2.1, §3.1.3;
//! digest §3.1 steps 5–7, §5.5 "SCP03t", §6 "Segmentation in SGP.02").
//!
//! Life of an [`IsdP`], driven by the ISD-R:
//! 1. [`IsdP::new`] after INSTALL [for install] (AID, memory quota);
//! 2. [`IsdP::personalize`] with the SCP03 keyset from ECKA key establishment
//!    (`esim_crypto::ecka::EstablishedKeys::scp03()`);
//! 3. [`IsdP::feed_scp03t`] with the ES8 bytes exactly as ES3.SendData delivers them (cut
//!    anywhere): SCP03t `84`/`85`/`86`/`87` run through [`esim_crypto::scp03t::Scp03tCard`], the
//!    deciphered segments go to the Profile Package Interpreter ([`ppi`]), and the output holds
//!    the response TLVs the card returns and the [`IsdpEvent`]s;
//! 4. the profile ([`profile::Profile`]) becomes visible at once and completely when the `end` PE
//!    was accepted ([`IsdP::installed_profile`]); [`IsdP::abort`] (interrupted download) drops a
//!    staged profile.
//!
//! Responses (spec choices 5–8 for SCP03t, 30–34 for the ISD-P, in
//! docs/spec-choices.md): `84 …`, `85 00`, `87 00` as [`esim_crypto::scp03t`] builds them; `86 00`
//! for every segment until the download ends; the segment that completes the `end` PE, or the
//! one in which a PE fails, is answered `86 L {R-ENC(EUICCResponse) ‖ R-MAC}` with the DER
//! `EUICCResponse` of TCA SAIP §9. An SCP03t error (bad MAC, wrong command) is answered
//! `9F8x ‖ 02 ‖ SW` and ends the download. Where no download is possible (no keys, a profile
//! installed — an ISD-P never takes a second profile — or a failed download until
//! [`IsdP::abort`]) each further command TLV is answered `9F8x 02 69 85` (x = its tag `84`–`87`,
//! else `6`), following the TLV framing across chunks.

pub mod milenage;
pub mod ppi;
pub mod profile;

use crate::policy::Pol1;
use esim_codec::{Aid, Iccid};
use esim_crypto::SecretKey;
use esim_crypto::scp03::{CardIdle, StaticKeys};
use esim_crypto::scp03t::{
    Scp03tCard, Scp03tError, Scp03tEvent, TAG_INITIALIZE_UPDATE, TAG_PROFILE_SEGMENT,
    TAG_REPLACE_SESSION_KEYS, error_response,
};
use ppi::{Interpreter, PeFailure, PpiStep};
use profile::{Profile, Secret};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Status word of the error TLV for input the ISD-P does not accept in its state
/// (ISO 7816-4 "conditions of use not satisfied").
pub const SW_CONDITIONS_NOT_SATISFIED: u16 = 0x6985;

/// Errors of the ISD-P management calls (not of the SCP03t stream, whose errors are answered
/// in-band).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IsdpError {
    /// A profile is installed: the keyset can no longer be replaced this way.
    #[error("ISD-P {0} already holds a profile")]
    ProfileInstalled(String),
    /// A download is in progress.
    #[error("ISD-P {0}: a profile download is in progress")]
    DownloadInProgress(String),
}

impl IsdpError {
    /// Status word for the ISD-R to return (`6985`).
    pub fn sw(&self) -> u16 {
        SW_CONDITIONS_NOT_SATISFIED
    }
}

/// Why a download failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureReason {
    /// An SCP03t error (C-MAC, cryptogram, unexpected or malformed command); the card answered
    /// with an error TLV carrying `status_word`.
    Scp03t {
        /// Status word of the error TLV.
        status_word: u16,
        /// What went wrong.
        detail: String,
    },
    /// A Profile Element was refused; the `EUICCResponse` names it.
    Profile(PeFailure),
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::Scp03t {
                status_word,
                detail,
            } => write!(f, "SCP03t error {status_word:04X}: {detail}"),
            FailureReason::Profile(p) => write!(f, "{p}"),
        }
    }
}

/// What happened while processing a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IsdpEvent {
    /// The profile is installed (the ISD-R moves the ISD-P to Disabled and records ICCID, POL1
    /// and memory).
    InstallationComplete {
        /// ICCID of the profile.
        iccid: Iccid,
        /// POL1.
        pol1: Pol1,
        /// Memory used (≤ quota).
        memory_used: u32,
        /// The SGP.02 connectivity parameters of the header (opaque).
        connectivity_parameters: Option<Vec<u8>>,
    },
    /// The download failed; nothing was installed.
    InstallationFailed {
        /// Why.
        reason: FailureReason,
    },
}

/// The result of [`IsdP::feed_scp03t`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IsdpOutput {
    /// Response TLVs to return to the SM-DP (concatenated, in command order; may be empty when
    /// the chunk completed no command).
    pub response: Vec<u8>,
    /// Events, in order.
    pub events: Vec<IsdpEvent>,
}

/// The ISD-P keyset as persisted (zeroized on drop).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredKeys {
    kvn: u8,
    enc: Secret,
    mac: Secret,
    dek: Secret,
}

impl StoredKeys {
    fn static_keys(&self) -> Option<StaticKeys> {
        StaticKeys::new(
            self.kvn,
            SecretKey::new(self.enc.expose()),
            SecretKey::new(self.mac.expose()),
            SecretKey::new(self.dek.expose()),
        )
        .ok()
    }
}

/// The download in progress.
struct Active {
    card: Scp03tCard,
    ppi: Interpreter,
    framing: Framing,
}

#[derive(Default)]
enum Session {
    /// No download running: the next bytes must start one (`84`).
    #[default]
    Idle,
    /// SCP03t session and interpreter.
    Active(Box<Active>),
    /// No download possible (no keys, a profile installed, or a failed download until
    /// [`IsdP::abort`]): each command is answered with an error TLV.
    Refused(Refusal),
}

/// Command boundaries of the ES8 stream, tracked across chunks (one-byte tag, or two bytes for
/// a `xF` first byte; definite length of at most 4 bytes — as `Scp03tCard` reads them).
#[derive(Debug, Default)]
struct Framing {
    /// Bytes of an incomplete command header.
    header: Vec<u8>,
    /// Value bytes of the current command still to come.
    skip: usize,
    /// The framing was lost (malformed header).
    lost: bool,
}

/// What [`Framing::scan`] found in a chunk, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// A command header completed (its command tag for an error TLV).
    Command(u8),
    /// A command ended at this offset of the chunk.
    End(usize),
    /// A malformed header: the framing is lost from here on.
    Lost(u8),
}

fn command_tag(first: Option<u8>) -> u8 {
    match first {
        Some(t) if (TAG_INITIALIZE_UPDATE..=TAG_REPLACE_SESSION_KEYS).contains(&t) => t,
        _ => TAG_PROFILE_SEGMENT,
    }
}

/// Reads a TLV header: `Ok(Some((header length, value length)))`, `Ok(None)` if incomplete.
fn tlv_header(buf: &[u8]) -> Result<Option<(usize, usize)>, ()> {
    let Some(&t0) = buf.first() else {
        return Ok(None);
    };
    let tag_len = if t0 & 0x1F == 0x1F { 2 } else { 1 };
    let Some(&l0) = buf.get(tag_len) else {
        return Ok(None);
    };
    match l0 {
        0x00..=0x7F => Ok(Some((tag_len + 1, usize::from(l0)))),
        0x81..=0x84 => {
            let n = usize::from(l0 & 0x7F);
            let Some(bytes) = buf.get(tag_len + 1..tag_len + 1 + n) else {
                return Ok(None);
            };
            let v = bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
            Ok(Some((tag_len + 1 + n, v)))
        }
        _ => Err(()),
    }
}

impl Framing {
    fn scan(&mut self, chunk: &[u8]) -> Vec<Mark> {
        let mut marks = Vec::new();
        if self.lost {
            return marks;
        }
        let mut i = 0;
        while i < chunk.len() {
            if self.skip > 0 {
                let n = self.skip.min(chunk.len() - i);
                self.skip -= n;
                i += n;
                if self.skip == 0 {
                    marks.push(Mark::End(i));
                }
                continue;
            }
            if let Some(&b) = chunk.get(i) {
                self.header.push(b);
            }
            i += 1;
            let tag = command_tag(self.header.first().copied());
            match tlv_header(&self.header) {
                Ok(None) => {}
                Ok(Some((_, value_len))) => {
                    marks.push(Mark::Command(tag));
                    self.header.clear();
                    self.skip = value_len;
                    if value_len == 0 {
                        marks.push(Mark::End(i));
                    }
                }
                Err(()) => {
                    marks.push(Mark::Lost(tag));
                    self.header.clear();
                    self.lost = true;
                    return marks;
                }
            }
        }
        marks
    }
}

/// Answers each command of a refused stream with `9F8x 02 6985`, following the TLV framing so
/// that one error answers one command whatever the chunking.
#[derive(Debug, Default)]
struct Refusal {
    /// Whether a download failed (as opposed to no download being possible).
    after_failure: bool,
    framing: Framing,
}

fn refused(tag: u8) -> Vec<u8> {
    error_response(tag, SW_CONDITIONS_NOT_SATISFIED)
}

impl Refusal {
    fn feed(&mut self, chunk: &[u8]) -> Vec<u8> {
        if self.framing.lost {
            return refused(command_tag(chunk.first().copied()));
        }
        let mut out = Vec::new();
        for m in self.framing.scan(chunk) {
            if let Mark::Command(tag) | Mark::Lost(tag) = m {
                out.extend_from_slice(&refused(tag));
            }
        }
        out
    }
}

/// One ISD-P with at most one Profile. Serializable (the card's state is persisted); a download
/// in progress is not persisted (a restored ISD-P behaves as after [`IsdP::abort`]).
#[derive(Serialize, Deserialize)]
pub struct IsdP {
    aid: Aid,
    quota: u32,
    keys: Option<StoredKeys>,
    key_diversification_data: [u8; 10],
    sequence_counter: u32,
    profile: Option<Profile>,
    #[serde(skip)]
    session: Session,
    /// ICCIDs of the other profiles on the card, set by the ISD-R before each download step.
    #[serde(skip)]
    iccids_in_use: Vec<esim_codec::Iccid>,
}

impl fmt::Debug for IsdP {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsdP")
            .field("aid", &self.aid)
            .field("quota", &self.quota)
            .field("personalized", &self.keys.is_some())
            .field("sequence_counter", &self.sequence_counter)
            .field(
                "session",
                &match &self.session {
                    Session::Idle => "idle",
                    Session::Active(_) => "download in progress",
                    Session::Refused(r) if r.after_failure => "refused after a failed download",
                    Session::Refused(_) => "refusing SCP03t",
                },
            )
            .field("profile", &self.profile.as_ref().map(|p| p.iccid().clone()))
            .finish()
    }
}

impl IsdP {
    /// A new, empty ISD-P (after INSTALL [for install]) with `quota` bytes of memory.
    pub fn new(aid: Aid, quota: u32) -> Self {
        IsdP {
            aid,
            quota,
            keys: None,
            key_diversification_data: [0; 10],
            sequence_counter: 0,
            profile: None,
            session: Session::Idle,
            iccids_in_use: Vec::new(),
        }
    }

    /// Tells the ISD-P which ICCIDs the card already holds: a download whose header carries one
    /// of them fails at the header with `invalid-parameter` (the ISD-R calls this before feeding
    /// ES8 data; not persisted).
    pub fn set_iccids_in_use(&mut self, iccids: Vec<esim_codec::Iccid>) {
        self.iccids_in_use = iccids;
    }

    /// Sets the 10-byte key diversification data of the INITIALIZE UPDATE response (GP Amd D
    /// §7.1.1.6; default all zeros — SGP.02 ISD-P keys are not diversified).
    pub fn with_key_diversification_data(mut self, kdd: [u8; 10]) -> Self {
        self.key_diversification_data = kdd;
        self
    }

    /// The ISD-P AID.
    pub fn aid(&self) -> &Aid {
        &self.aid
    }

    /// The memory quota (bytes).
    pub fn quota(&self) -> u32 {
        self.quota
    }

    /// Memory used by the installed profile (0 when none).
    pub fn memory_used(&self) -> u32 {
        self.profile.as_ref().map_or(0, Profile::memory_used)
    }

    /// Whether SCP03 keys were set ([`Self::personalize`]).
    pub fn is_personalized(&self) -> bool {
        self.keys.is_some()
    }

    /// The SCP03 sequence counter (last value used).
    pub fn sequence_counter(&self) -> u32 {
        self.sequence_counter
    }

    /// Whether a download is in progress.
    pub fn download_in_progress(&self) -> bool {
        matches!(self.session, Session::Active(_))
    }

    /// The installed profile, if the download completed.
    pub fn installed_profile(&self) -> Option<&Profile> {
        self.profile.as_ref()
    }

    /// Sets the SCP03 keyset established by ECKA (SGP.02 §3.1.2; `EstablishedKeys::scp03()`).
    /// Refused once a profile is installed or while a download runs.
    pub fn personalize(&mut self, keys: StaticKeys) -> Result<(), IsdpError> {
        if self.profile.is_some() {
            return Err(IsdpError::ProfileInstalled(self.aid_hex()));
        }
        if matches!(self.session, Session::Active(_)) {
            return Err(IsdpError::DownloadInProgress(self.aid_hex()));
        }
        self.keys = Some(StoredKeys {
            kvn: keys.kvn(),
            enc: Secret::new(keys.enc().expose()),
            mac: Secret::new(keys.mac().expose()),
            dek: Secret::new(keys.dek().expose()),
        });
        self.session = Session::Idle;
        Ok(())
    }

    /// Interrupted download: discards the SCP03t session and everything staged. The installed
    /// profile (if the download had completed) stays. Returns whether a download was dropped.
    pub fn abort(&mut self) -> bool {
        let dropped = match &self.session {
            Session::Active(_) => true,
            Session::Refused(r) => r.after_failure,
            Session::Idle => false,
        };
        self.session = Session::Idle;
        dropped
    }

    fn aid_hex(&self) -> String {
        esim_codec::hex::encode(self.aid.as_bytes())
    }

    /// Processes the next ES8 bytes (SCP03t command TLVs, cut anywhere). See the module
    /// documentation for the responses. Never panics on any input.
    pub fn feed_scp03t(&mut self, chunk: &[u8]) -> IsdpOutput {
        let mut out = IsdpOutput::default();
        if chunk.is_empty() {
            return out;
        }
        if matches!(self.session, Session::Idle) {
            let keys = match (&self.profile, &self.keys) {
                (None, Some(k)) => k.static_keys(),
                _ => None,
            };
            self.session = match keys {
                Some(keys) => {
                    let idle = CardIdle::new(
                        keys,
                        self.aid.as_bytes(),
                        self.key_diversification_data,
                        self.sequence_counter,
                    );
                    Session::Active(Box::new(Active {
                        card: Scp03tCard::new(idle),
                        ppi: Interpreter::new(self.quota)
                            .with_iccids_in_use(self.iccids_in_use.clone()),
                        framing: Framing::default(),
                    }))
                }
                None => Session::Refused(Refusal::default()),
            };
        }
        let active = match &mut self.session {
            Session::Active(a) => a,
            Session::Refused(r) => {
                out.response = r.feed(chunk);
                return out;
            }
            Session::Idle => return out,
        };
        // The card gets the stream one command at a time, so that once the download ends the
        // rest of the chunk is refused command by command.
        let marks = active.framing.scan(chunk);
        let mut ended: Option<Ended> = None;
        let mut prev = 0;
        for m in marks {
            match (m, &ended) {
                (Mark::End(end), None) => {
                    let piece = chunk.get(prev..end).unwrap_or(&[]);
                    ended = feed_card(active, piece, &mut out);
                    prev = end;
                }
                (Mark::End(end), Some(_)) => prev = end,
                (Mark::Command(_), None) => {}
                (Mark::Command(tag) | Mark::Lost(tag), Some(_)) => {
                    out.response.extend_from_slice(&refused(tag));
                }
                (Mark::Lost(_), None) => {
                    // The card reads the same malformed header and reports it.
                    let rest = chunk.get(prev..).unwrap_or(&[]);
                    ended = feed_card(active, rest, &mut out).or(Some(Ended::Failed));
                    prev = chunk.len();
                }
            }
        }
        if ended.is_none() && prev < chunk.len() {
            ended = feed_card(active, chunk.get(prev..).unwrap_or(&[]), &mut out);
        }
        self.sequence_counter = active.card.card_idle().sequence_counter();
        match ended {
            None => {}
            Some(Ended::Installed(profile)) => {
                self.profile = Some(*profile);
                let framing = std::mem::take(&mut active.framing);
                self.session = Session::Refused(Refusal {
                    after_failure: false,
                    framing,
                });
            }
            Some(Ended::Failed) => {
                let framing = std::mem::take(&mut active.framing);
                self.session = Session::Refused(Refusal {
                    after_failure: true,
                    framing,
                });
            }
        }
        out
    }
}

/// How a download ended.
enum Ended {
    Installed(Box<Profile>),
    Failed,
}

/// Feeds one piece (at most one command's remaining bytes) to the card, answers the segment it
/// may complete, and reports whether the download ended.
fn feed_card(active: &mut Active, piece: &[u8], out: &mut IsdpOutput) -> Option<Ended> {
    let fed = active.card.feed(piece);
    let mut ended = None;
    for ev in active.card.take_events() {
        match ev {
            Scp03tEvent::Response(bytes) => out.response.extend_from_slice(&bytes),
            Scp03tEvent::Segment { data, reply } => {
                let data = zeroize::Zeroizing::new(data);
                if ended.is_some() {
                    out.response
                        .extend_from_slice(&refused(TAG_PROFILE_SEGMENT));
                    continue;
                }
                let (payload, event) = match active.ppi.push(&data) {
                    PpiStep::NeedMore => (Vec::new(), None),
                    PpiStep::Installed { profile, response } => {
                        let ev = IsdpEvent::InstallationComplete {
                            iccid: profile.iccid().clone(),
                            pol1: profile.pol1(),
                            memory_used: profile.memory_used(),
                            connectivity_parameters: profile
                                .connectivity_parameters()
                                .map(<[u8]>::to_vec),
                        };
                        ended = Some(Ended::Installed(profile));
                        (response, Some(ev))
                    }
                    PpiStep::Failed { failure, response } => {
                        ended = Some(Ended::Failed);
                        (
                            response,
                            Some(IsdpEvent::InstallationFailed {
                                reason: FailureReason::Profile(failure),
                            }),
                        )
                    }
                    _ => {
                        ended = Some(Ended::Failed);
                        out.response
                            .extend_from_slice(&refused(TAG_PROFILE_SEGMENT));
                        continue;
                    }
                };
                match reply.response(&payload) {
                    Ok(r) => out.response.extend_from_slice(&r),
                    Err(e) => out
                        .response
                        .extend_from_slice(&error_response(TAG_PROFILE_SEGMENT, e.status_word())),
                }
                out.events.extend(event);
            }
            _ => {}
        }
    }
    if ended.is_none() {
        if let Err(e) = fed {
            let reason = FailureReason::Scp03t {
                status_word: e.status_word(),
                detail: scp03t_detail(&e),
            };
            out.events.push(IsdpEvent::InstallationFailed { reason });
            ended = Some(Ended::Failed);
        }
    }
    ended
}

fn scp03t_detail(e: &Scp03tError) -> String {
    e.to_string()
}
