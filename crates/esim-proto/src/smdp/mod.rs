//! The SM-DP side of SGP.02 profile download (digest §3.1 "Profile download and
//! installation", §3.2 "ISD-P key establishment") as a sans-I/O typestate machine.
//!
//! Each state is named for what it waits for and is consumed by `handle(self, input)`, which
//! returns the [`Next`] state together with the [`Outgoing`] message the caller carries over
//! ES3 (the SM-SR then forwards it over ES5). No clock, no sockets: randomness comes from the
//! crypto layer's RNG (or is passed in by the caller of [`esim_crypto::ecka`]).
//!
//! 1. [`AwaitingIsdpCreated`] — emitted [`Outgoing::CreateIsdp`] (INSTALL [for install] of the
//!    ISD-P, carried by ES3.CreateISDP); input: the ISD-P AID and the card's response.
//! 2. [`AwaitingChallenge`] — emitted ES3.SendData #1 to the ISD-R: INSTALL [for
//!    personalization] + STORE DATA `3A01` (CERT.DP.ECDSA); input: the responses, the last one
//!    holding `85 RC`.
//! 3. [`AwaitingReceipt`] — emitted STORE DATA `3A02`; input: `[85 DR] 86 receipt`, verified,
//!    giving the ISD-P SCP03 keyset.
//! 4. [`AwaitingInitUpdate`] — emitted the SCP03t `84` to the ISD-P.
//! 5. [`Downloading`] — emitted the `85`, then the `86` segments of the SCP03t-wrapped Profile
//!    Package, grouped into SendData chunks of at most [`Config::chunk_size`] bytes; checks every
//!    response and reads the final `EUICCResponse` (docs/spec-choices.md row 30).
//! 6. [`Completed`], or on any failure after the ISD-P exists [`CleaningUp`] (emitted the
//!    DELETE of the ISD-P, ES3.DeleteISDP) → [`Failed`].
//!
//! A CreateISDP that fails leaves nothing on the card, so it goes to [`Failed`] directly. The
//! ES3 framing and status codes chosen here are docs/spec-choices.md row 58.

use crate::codes::{reason, subject};
use crate::common::FunctionExecutionStatus;
use esim_apdu::apdu::{CommandApdu, ResponseApdu};
use esim_apdu::gp::GpError;
use esim_apdu::gp::delete::Delete;
use esim_apdu::gp::install::{CreateIsdp, Install};
use esim_apdu::gp::store_data::{StoreDataP1, command};
use esim_codec::{Aid, Iccid};
use esim_crypto::cert::Certificate;
use esim_crypto::ec::{KeyPair, PublicKey};
use esim_crypto::ecka::{EckaError, KeyParams, OffCardAwaitingChallenge, OffCardAwaitingReceipt};
use esim_crypto::primitives::SecretKey;
use esim_crypto::scp03::StaticKeys;
use esim_crypto::scp03t::{
    Scp03tError, Scp03tHost, Scp03tHostAwaitingInitUpdateResponse, Scp03tResponse,
};
use esim_saip::asn1::EUICCResponse;
use zeroize::Zeroizing;

/// Errors of the SM-DP's own side (never a card answer: those lead to [`CleaningUp`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// A C-APDU could not be built (e.g. an AID outside the ISD-P range).
    #[error("building a command: {0}")]
    Command(#[from] GpError),
    /// The ECKA parameters or certificate were refused before anything was sent.
    #[error("key establishment set-up: {0}")]
    Ecka(#[from] EckaError),
    /// The SCP03t session could not be set up or a segment wrapped (local error).
    #[error("SCP03t set-up: {0}")]
    Scp03t(#[from] Scp03tError),
    /// [`Config::chunk_size`] is too small to hold one `86` command.
    #[error("chunk size {0} is smaller than one SCP03t command")]
    ChunkSize(usize),
}

/// Tunables of a download.
#[derive(Debug, Clone)]
pub struct Config {
    /// `RequiredMemory` of CreateISDP (bytes), `None` for the card default.
    pub required_memory: Option<u32>,
    /// Key version number of the ISD-P SCP03 keyset created by ECKA.
    pub kvn: u8,
    /// Profile Package bytes per `86` segment.
    pub segment_size: usize,
    /// Largest SendData `Data` of the download phase (bytes of concatenated SCP03t TLVs).
    pub chunk_size: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            required_memory: None,
            kvn: 0x30,
            segment_size: 1020,
            chunk_size: 4096,
        }
    }
}

/// What the caller sends to the SM-SR (ES3) next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outgoing {
    /// ES3.CreateISDP: the INSTALL [for install] C-APDU for the ISD-R.
    CreateIsdp(CommandApdu),
    /// ES3.SendData to the ISD-R: C-APDUs (an expanded command script); answer: one response
    /// per command, in order.
    IsdRApdus(Vec<CommandApdu>),
    /// ES3.SendData to the ISD-P: SCP03t command TLVs; answer: the response TLVs.
    IsdPData {
        /// The target ISD-P.
        isdp_aid: Aid,
        /// Concatenated SCP03t command TLVs.
        data: Vec<u8>,
    },
    /// ES3.DeleteISDP: the DELETE C-APDU (with related objects) for the ISD-R.
    DeleteIsdp(CommandApdu),
}

/// The state after a `handle`, with what to send (if anything).
#[derive(Debug)]
#[non_exhaustive]
pub enum Next {
    /// Waiting for the `85 RC` of message 1.
    AwaitingChallenge(AwaitingChallenge, Outgoing),
    /// Waiting for the receipt of message 2.
    AwaitingReceipt(AwaitingReceipt, Outgoing),
    /// Waiting for the ISD-P's `84` response.
    AwaitingInitUpdate(AwaitingInitUpdate, Outgoing),
    /// Download in progress.
    Downloading(Downloading, Outgoing),
    /// The profile is installed.
    Completed(Completed),
    /// A failure: the ISD-P is being deleted.
    CleaningUp(CleaningUp, Outgoing),
    /// Finished without a profile.
    Failed(Failed),
}

/// What a download needs (from ES2.DownloadProfile and the SM-DP's credentials).
pub struct DownloadParams {
    /// The ISD-P AID proposed for CreateISDP.
    pub isdp_aid: Aid,
    /// ICCID of the profile (as in the package header).
    pub iccid: Iccid,
    /// SK.DP.ECDSA.
    pub signing_key: KeyPair,
    /// CERT.DP.ECDSA.
    pub certificate: Certificate,
    /// PK.ECASD.ECKA from a CERT.ECASD.ECKA the caller verified (EIS).
    pub ecasd_key: PublicKey,
    /// The (unprotected) Profile Package, DER: it holds the Ki/OPc and keys of the Profile, so
    /// it is zeroized when dropped.
    pub package: Zeroizing<Vec<u8>>,
    /// Tunables.
    pub config: Config,
}

impl std::fmt::Debug for DownloadParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadParams")
            .field("isdp_aid", &self.isdp_aid)
            .field("iccid", &self.iccid)
            .field("package_len", &self.package.len())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

struct Ctx {
    isdp_aid: Aid,
    iccid: Iccid,
    package: Zeroizing<Vec<u8>>,
    config: Config,
    /// The ISD-P's static SCP03 Key-MAC once the receipt was verified: the Master Delete token
    /// key (`esim_euicc::master_delete`, docs/spec-choices.md row 41).
    token_key: Option<SecretKey>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("isdp_aid", &self.isdp_aid)
            .field("iccid", &self.iccid)
            .field("package_len", &self.package.len())
            .finish_non_exhaustive()
    }
}

fn sw_hex(r: &ResponseApdu) -> String {
    format!("{:04X}", r.sw.to_u16())
}

fn cleanup(ctx: Ctx, reason: FunctionExecutionStatus) -> Next {
    let cmd = Delete::new(ctx.isdp_aid.clone(), true).to_command();
    Next::CleaningUp(
        CleaningUp {
            isdp_aid: ctx.isdp_aid,
            reason,
        },
        Outgoing::DeleteIsdp(cmd),
    )
}

fn card_failure(what: &str, detail: &str) -> FunctionExecutionStatus {
    FunctionExecutionStatus::failed(
        subject::EUICC_EXECUTION,
        reason::EXECUTION_ERROR,
        &format!("{what}: {detail}"),
    )
}

/// Checks a script's responses: one per command, all `9000`. Returns the last one.
fn script_ok<'a>(
    responses: &'a [ResponseApdu],
    expected: usize,
    what: &str,
) -> Result<&'a ResponseApdu, FunctionExecutionStatus> {
    for (i, r) in responses.iter().enumerate() {
        if !r.is_success() {
            return Err(card_failure(
                what,
                &format!("command {} of the script answered SW {}", i + 1, sw_hex(r)),
            ));
        }
    }
    match responses.last() {
        Some(last) if responses.len() == expected => Ok(last),
        _ => Err(card_failure(
            what,
            &format!("{} responses to {expected} commands", responses.len()),
        )),
    }
}

/// Upper bound of the size of a `86` command for `n` package bytes: tag and length (≤ 4),
/// C-ENC with ISO 9797-1 method 2 padding, 8-byte C-MAC.
fn wrapped_len_bound(n: usize) -> usize {
    (n / 16 + 1) * 16 + 8 + 4
}

/// Splits SCP03t response TLVs (tag `8x`, or `9F8x` for an error; BER length of 1 to 3 bytes)
/// into `(offset, raw TLV)`. `9F86` is not a BER tag (its second byte would announce a third),
/// so [`esim_codec::ber`] cannot be used here.
fn split_scp03t(buf: &[u8]) -> Result<Vec<(usize, &[u8])>, String> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let rest = buf.get(pos..).unwrap_or_default();
        let tag_len = if rest.first() == Some(&0x9F) { 2 } else { 1 };
        let truncated = || format!("truncated TLV header at byte {pos}");
        let first = *rest.get(tag_len).ok_or_else(truncated)?;
        let (len_len, value_len) = match first {
            l if l < 0x80 => (1, usize::from(l)),
            0x81 => (
                2,
                usize::from(*rest.get(tag_len + 1).ok_or_else(truncated)?),
            ),
            0x82 => {
                let hi = *rest.get(tag_len + 1).ok_or_else(truncated)?;
                let lo = *rest.get(tag_len + 2).ok_or_else(truncated)?;
                (3, usize::from(u16::from_be_bytes([hi, lo])))
            }
            other => {
                return Err(format!(
                    "length byte {other:02X} at byte {pos} not supported"
                ));
            }
        };
        let end = tag_len + len_len + value_len;
        let raw = rest
            .get(..end)
            .ok_or_else(|| format!("TLV at byte {pos} runs past the end of the data"))?;
        out.push((pos, raw));
        pos += end;
    }
    Ok(out)
}

/// Waiting for the result of CreateISDP (SGP.02 §3.1.1, digest §3.1).
#[derive(Debug)]
pub struct AwaitingIsdpCreated {
    ctx: Ctx,
    ecka: OffCardAwaitingChallenge,
    message1: Vec<u8>,
}

impl AwaitingIsdpCreated {
    /// Starts a download: returns the state and the CreateISDP command.
    pub fn start(p: DownloadParams) -> Result<(Self, Outgoing), DownloadError> {
        if p.config.segment_size == 0
            || p.config.chunk_size < wrapped_len_bound(p.config.segment_size)
        {
            return Err(DownloadError::ChunkSize(p.config.chunk_size));
        }
        let create = CreateIsdp::new(p.isdp_aid.clone(), p.config.required_memory).to_command()?;
        let (ecka, message1) = OffCardAwaitingChallenge::start(
            p.signing_key,
            &p.certificate,
            p.ecasd_key,
            KeyParams::isd_p_scp03(p.config.kvn),
        )?;
        let ctx = Ctx {
            isdp_aid: p.isdp_aid,
            iccid: p.iccid,
            package: p.package,
            config: p.config,
            token_key: None,
        };
        Ok((
            AwaitingIsdpCreated {
                ctx,
                ecka,
                message1,
            },
            Outgoing::CreateIsdp(create),
        ))
    }

    /// Takes the ISD-P AID reported by ES3.CreateISDP and the card's response to the INSTALL.
    pub fn handle(self, isdp_aid: &Aid, response: &ResponseApdu) -> Result<Next, DownloadError> {
        let aid = self.ctx.isdp_aid.to_string();
        if !response.is_success() {
            return Ok(Next::Failed(Failed {
                reason: FunctionExecutionStatus::failed_for(
                    subject::ISD_P,
                    reason::EXECUTION_ERROR,
                    &aid,
                    &format!("CreateISDP answered SW {}", sw_hex(response)),
                ),
            }));
        }
        if *isdp_aid != self.ctx.isdp_aid {
            let reason = FunctionExecutionStatus::failed_for(
                subject::ISD_P,
                reason::INVALID_ASSOCIATION,
                &isdp_aid.to_string(),
                &format!("ISD-P created with AID {isdp_aid}, expected {aid}"),
            );
            // Delete what was created under the unexpected AID.
            let ctx = Ctx {
                isdp_aid: isdp_aid.clone(),
                ..self.ctx
            };
            return Ok(cleanup(ctx, reason));
        }
        let cmds = vec![
            Install::for_personalization(&self.ctx.isdp_aid),
            command(StoreDataP1::sgp02_more_with_response(), 0, self.message1),
        ];
        Ok(Next::AwaitingChallenge(
            AwaitingChallenge {
                ctx: self.ctx,
                ecka: self.ecka,
            },
            Outgoing::IsdRApdus(cmds),
        ))
    }
}

/// Waiting for the card's `85 RC` (ECKA message 1 answered; SGP.02 §3.1.2, digest §3.2).
#[derive(Debug)]
pub struct AwaitingChallenge {
    ctx: Ctx,
    ecka: OffCardAwaitingChallenge,
}

impl AwaitingChallenge {
    /// Takes the responses to INSTALL [for personalization] and STORE DATA `3A01`.
    pub fn handle(self, responses: &[ResponseApdu]) -> Result<Next, DownloadError> {
        let last = match script_ok(responses, 2, "key establishment message 1") {
            Ok(l) => l,
            Err(reason) => {
                let reason = if responses.last().is_some_and(|r| r.sw.to_u16() == 0x6982) {
                    FunctionExecutionStatus::failed(
                        subject::SM_DP,
                        reason::VERIFICATION_FAILED,
                        "the eUICC refused the SM-DP certificate (SW 6982)",
                    )
                } else {
                    reason
                };
                return Ok(cleanup(self.ctx, reason));
            }
        };
        match self.ecka.handle(&last.data) {
            Ok((ecka, message2)) => {
                let cmd = command(StoreDataP1::sgp02_last_with_response(), 1, message2);
                Ok(Next::AwaitingReceipt(
                    AwaitingReceipt {
                        ctx: self.ctx,
                        ecka,
                    },
                    Outgoing::IsdRApdus(vec![cmd]),
                ))
            }
            Err(e) => Ok(cleanup(
                self.ctx,
                card_failure("key establishment message 1 response", &e.to_string()),
            )),
        }
    }
}

/// Waiting for the receipt of ECKA message 2 (`[85 DR] 86 receipt`).
#[derive(Debug)]
pub struct AwaitingReceipt {
    ctx: Ctx,
    ecka: OffCardAwaitingReceipt,
}

impl AwaitingReceipt {
    /// Takes the response to STORE DATA `3A02`; on a valid receipt derives the ISD-P keyset and
    /// emits the SCP03t `84` (INITIALIZE UPDATE) for the ISD-P.
    pub fn handle(self, responses: &[ResponseApdu]) -> Result<Next, DownloadError> {
        let last = match script_ok(responses, 1, "key establishment message 2") {
            Ok(l) => l,
            Err(reason) => return Ok(cleanup(self.ctx, reason)),
        };
        let keys = match self.ecka.handle(&last.data).and_then(|k| k.scp03()) {
            Ok(k) => k,
            Err(e) => {
                return Ok(cleanup(
                    self.ctx,
                    FunctionExecutionStatus::failed(
                        subject::EUICC,
                        reason::VERIFICATION_FAILED,
                        &format!("key establishment receipt: {e}"),
                    ),
                ));
            }
        };
        let keys = StaticKeys::new(keys.kvn, keys.enc, keys.mac, keys.dek)
            .map_err(|e| DownloadError::Scp03t(Scp03tError::from(e)))?;
        let mut ctx = self.ctx;
        ctx.token_key = Some(keys.mac().clone());
        let (host, c84) = Scp03tHostAwaitingInitUpdateResponse::start_random(keys, 0)?;
        let host = host
            .expect_sd_aid(ctx.isdp_aid.as_bytes())
            .segment_size(ctx.config.segment_size)?;
        let out = Outgoing::IsdPData {
            isdp_aid: ctx.isdp_aid.clone(),
            data: c84,
        };
        Ok(Next::AwaitingInitUpdate(
            AwaitingInitUpdate { ctx, host },
            out,
        ))
    }
}

/// Waiting for the ISD-P's answer to the SCP03t `84` (digest §3.1, §5.5).
#[derive(Debug)]
pub struct AwaitingInitUpdate {
    ctx: Ctx,
    host: Scp03tHostAwaitingInitUpdateResponse,
}

impl AwaitingInitUpdate {
    /// Takes the `84` response; emits the `85` (EXTERNAL AUTHENTICATE).
    pub fn handle(self, response: &[u8]) -> Result<Next, DownloadError> {
        match self.host.handle(response) {
            Ok((host, c85)) => {
                let out = Outgoing::IsdPData {
                    isdp_aid: self.ctx.isdp_aid.clone(),
                    data: c85,
                };
                Ok(Next::Downloading(
                    Downloading {
                        ctx: self.ctx,
                        host,
                        offset: 0,
                        euicc_response: None,
                    },
                    out,
                ))
            }
            Err(e) => Ok(cleanup(
                self.ctx,
                card_failure("SCP03t INITIALIZE UPDATE", &e.to_string()),
            )),
        }
    }
}

/// Download in progress: the `85` or a chunk of `86` segments is outstanding.
#[derive(Debug)]
pub struct Downloading {
    ctx: Ctx,
    host: Scp03tHost,
    /// Bytes of the package already sent.
    offset: usize,
    euicc_response: Option<EUICCResponse>,
}

impl Downloading {
    /// Takes the response TLVs of the last chunk; emits the next chunk, or ends.
    pub fn handle(mut self, response: &[u8]) -> Result<Next, DownloadError> {
        // One TLV at a time: after a failing segment the card answers the rest of the chunk with
        // error TLVs (docs/spec-choices.md row 34), so the EUICCResponse before them must be read
        // first.
        let tlvs = match split_scp03t(response) {
            Ok(t) => t,
            Err(e) => {
                return Ok(cleanup(self.ctx, card_failure("SCP03t response", &e)));
            }
        };
        for (offset, raw) in tlvs {
            let checked = match self.host.check_responses(raw) {
                Ok(c) => c,
                Err(e) => {
                    return Ok(cleanup(
                        self.ctx,
                        card_failure("SCP03t response", &format!("TLV at offset {offset}: {e}")),
                    ));
                }
            };
            for r in checked {
                let Scp03tResponse::Segment(data) = r else {
                    continue;
                };
                if data.is_empty() {
                    continue;
                }
                match rasn::der::decode::<EUICCResponse>(&data) {
                    Ok(er) if er.profile_installation_aborted.is_some() => {
                        let msg = er
                            .status_message
                            .clone()
                            .unwrap_or_else(|| "profile installation aborted".to_owned());
                        let iccid = self.ctx.iccid.to_string();
                        return Ok(cleanup(
                            self.ctx,
                            FunctionExecutionStatus::failed_for(
                                subject::PROFILE,
                                reason::EXECUTION_ERROR,
                                &iccid,
                                &format!("EUICCResponse: {msg}"),
                            ),
                        ));
                    }
                    Ok(er) => self.euicc_response = Some(er),
                    Err(e) => {
                        return Ok(cleanup(
                            self.ctx,
                            card_failure("EUICCResponse", &format!("not valid DER: {e}")),
                        ));
                    }
                }
            }
        }
        if self.host.outstanding() != 0 {
            let n = self.host.outstanding();
            return Ok(cleanup(
                self.ctx,
                card_failure("SCP03t response", &format!("{n} commands left unanswered")),
            ));
        }
        let total = self.ctx.package.len();
        if self.offset >= total {
            return Ok(
                match (self.euicc_response.take(), self.ctx.token_key.take()) {
                    (Some(euicc_response), Some(token_key)) => Next::Completed(Completed {
                        isdp_aid: self.ctx.isdp_aid,
                        iccid: self.ctx.iccid,
                        euicc_response,
                        token_key,
                    }),
                    (Some(_), None) => cleanup(
                        self.ctx,
                        card_failure("profile download", "no ISD-P keyset was established"),
                    ),
                    (None, _) => cleanup(
                        self.ctx,
                        card_failure(
                            "profile download",
                            "no EUICCResponse after the last segment",
                        ),
                    ),
                },
            );
        }
        // Segments are wrapped only when sent, so that the host's outstanding commands are
        // exactly the ones of this chunk.
        let mut data = Vec::new();
        while self.offset < total {
            let end = total.min(self.offset + self.ctx.config.segment_size);
            if !data.is_empty()
                && data.len() + wrapped_len_bound(end - self.offset) > self.ctx.config.chunk_size
            {
                break;
            }
            let seg = self.ctx.package.get(self.offset..end).unwrap_or_default();
            data.extend_from_slice(&self.host.wrap_segment(seg)?);
            self.offset = end;
        }
        let out = Outgoing::IsdPData {
            isdp_aid: self.ctx.isdp_aid.clone(),
            data,
        };
        Ok(Next::Downloading(self, out))
    }
}

/// The profile is installed (ProfileDownloadCompleted can be reported).
#[derive(Debug)]
pub struct Completed {
    /// The ISD-P holding the profile.
    pub isdp_aid: Aid,
    /// ICCID of the installed profile.
    pub iccid: Iccid,
    /// The card's final `EUICCResponse` (all PEs `ok`).
    pub euicc_response: EUICCResponse,
    /// The ISD-P's static SCP03 Key-MAC (redacted in `Debug`).
    token_key: SecretKey,
}

impl Completed {
    /// The ISD-P's static SCP03 Key-MAC established by ECKA: the key of the Master Delete
    /// token (`esim_euicc::master_delete::compute_token`; docs/spec-choices.md row 41). The
    /// SM-DP keeps it sealed to answer `ES3.GetDeleteToken` later.
    pub fn token_key(&self) -> &SecretKey {
        &self.token_key
    }
}

/// A failure after the ISD-P was created: the DELETE of the ISD-P is outstanding.
#[derive(Debug)]
pub struct CleaningUp {
    isdp_aid: Aid,
    reason: FunctionExecutionStatus,
}

impl CleaningUp {
    /// Why the download failed.
    pub fn reason(&self) -> &FunctionExecutionStatus {
        &self.reason
    }

    /// Takes the response to the DELETE; the download ends [`Failed`] with the original
    /// reason (a failed DELETE is added to its message).
    pub fn handle(self, response: &ResponseApdu) -> Result<Next, DownloadError> {
        let mut reason = self.reason;
        if !response.is_success() {
            if let Some(d) = reason.status_code_data.as_mut() {
                let note = format!(
                    "; deleting ISD-P {} answered SW {}",
                    self.isdp_aid,
                    sw_hex(response)
                );
                d.message = Some(d.message.take().unwrap_or_default() + &note);
            }
        }
        Ok(Next::Failed(Failed { reason }))
    }
}

/// The download ended without a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The status to report (ES2.DownloadProfile response).
    pub reason: FunctionExecutionStatus,
}

#[cfg(test)]
mod tests {
    use super::split_scp03t;
    use proptest::prelude::*;

    #[test]
    fn splits_error_and_long_tlvs() {
        let mut buf = vec![0x86, 0x00, 0x9F, 0x86, 0x02, 0x69, 0x85, 0x86, 0x81, 0x80];
        buf.extend_from_slice(&[0xAA; 0x80]);
        let t = split_scp03t(&buf).unwrap();
        assert_eq!(
            t.iter().map(|(o, r)| (*o, r.len())).collect::<Vec<_>>(),
            [(0, 2), (2, 5), (7, 131)]
        );
        assert_eq!(
            split_scp03t(&[0x86, 0x05, 1]).unwrap_err(),
            "TLV at byte 0 runs past the end of the data"
        );
        assert!(split_scp03t(&[0x9F, 0x86]).is_err());
    }

    proptest! {
        #[test]
        fn split_never_panics_and_covers_the_input(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(t) = split_scp03t(&bytes) {
                let joined: Vec<u8> = t.iter().flat_map(|(_, r)| r.iter().copied()).collect();
                prop_assert_eq!(joined, bytes);
            }
        }
    }
}
