//! SCP03t: SCP03 carried in TLVs instead of APDUs, for the profile download from the SM-DP to
//! the ISD-P (SGP.02 §4.1.3.3; digest §5.5, §3.1 step 6, §6 "Segmentation").
//!
//! | Tag | Command | Value | Response |
//! |---|---|---|---|
//! | `84` | INITIALIZE UPDATE | KVN ‖ KID ‖ host challenge (8) | `84` ‖ INITIALIZE UPDATE response data |
//! | `85` | EXTERNAL AUTHENTICATE | security level `33` ‖ host cryptogram ‖ C-MAC | `85 00` |
//! | `86` | Profile Package segment | C-ENC(segment) ‖ C-MAC | `86 00`, or `86` ‖ R-ENC(data) ‖ R-MAC |
//! | `87` | replace session keys | C-ENC(`80` S-ENC ‖ `81` S-MAC ‖ `82` S-RMAC ‖ \[`83` MCV\]) ‖ C-MAC | `87 00` |
//! | `9F84`–`9F87` | error response to `84`–`87` | status word (2 bytes) | — |
//!
//! The C-MAC covers `MAC chaining value ‖ tag ‖ length ‖ value without the C-MAC` (the TLV
//! header replaces the APDU header of Amd D §6.2.4); the R-MAC covers `MAC chaining value ‖ tag ‖
//! length ‖ value without the R-MAC`. Encryption counter, ICVs and the chaining value behave as in
//! [`crate::scp03`]. Where SGP.02 is not public (the response tags, `87`, the error tags) the
//! choices are recorded in `docs/spec-choices.md`.
//!
//! The host ([`Scp03tHostAwaitingInitUpdateResponse`] → [`Scp03tHost`]) turns a Profile Package
//! into `86` commands; the card ([`Scp03tCard`]) accepts the command stream cut at any byte
//! boundary, as ES3.SendData chunks arrive, and yields the deciphered segments in order.

use crate::primitives::{SecretKey, fill_random};
use crate::scp03::{
    self, CardAwaitingExtAuth, CardIdle, HostAwaitingInitUpdateResponse, InitUpdateResponse,
    Scp03Error, SecureChannel, SecurityLevel, SessionKeys, StaticKeys,
};
use esim_codec::ber::write_length;
use std::collections::VecDeque;

/// Tag of the INITIALIZE UPDATE command and response.
pub const TAG_INITIALIZE_UPDATE: u8 = 0x84;
/// Tag of the EXTERNAL AUTHENTICATE command and response.
pub const TAG_EXTERNAL_AUTHENTICATE: u8 = 0x85;
/// Tag of a Profile Package segment command and its response.
pub const TAG_PROFILE_SEGMENT: u8 = 0x86;
/// Tag of the replace-session-keys command and its response.
pub const TAG_REPLACE_SESSION_KEYS: u8 = 0x87;
/// First byte of the two-byte error response tags `9F84`–`9F87`.
pub const ERROR_TAG_PREFIX: u8 = 0x9F;
/// Default Profile Package bytes per `86` command (before padding and C-MAC).
pub const DEFAULT_SEGMENT_SIZE: usize = 1020;
/// Default bound on one command's value length that the card buffers.
pub const DEFAULT_MAX_COMMAND_LEN: usize = 16 * 1024;

/// An SCP03t failure. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Scp03tError {
    /// An SCP03 check failed (C-MAC, R-MAC, cryptogram, padding, key version…).
    #[error("{0}")]
    Scp03(#[from] Scp03Error),
    /// Bytes that are not a TLV of the expected form, at `offset` in the stream.
    #[error("malformed SCP03t TLV at stream byte {offset}: {reason}")]
    Malformed {
        /// Offset from the start of the stream.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A command longer than the card accepts (bounds the buffer).
    #[error("command {tag:02X} at stream byte {offset} has {len} bytes, more than {max}")]
    CommandTooLong {
        /// Tag.
        tag: u16,
        /// Offset of the TLV.
        offset: usize,
        /// Declared value length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A tag the current state does not accept.
    #[error("unexpected tag {tag:02X} at stream byte {offset} while {state}")]
    UnexpectedTag {
        /// Tag found.
        tag: u16,
        /// Offset of the TLV.
        offset: usize,
        /// What the state waits for.
        state: &'static str,
    },
    /// A command or response value of the wrong size or content.
    #[error("tag {tag:02X}: {reason}")]
    BadValue {
        /// Tag.
        tag: u16,
        /// What is wrong.
        reason: &'static str,
    },
    /// The card answered with an error TLV (`9F84`–`9F87`).
    #[error("card reported status {status:04X} for command {tag:02X}")]
    ErrorResponse {
        /// The command tag the error answers (`84`–`87`).
        tag: u8,
        /// The status word in the error TLV.
        status: u16,
    },
    /// A response for which no command is outstanding.
    #[error("response {tag:02X} without an outstanding command")]
    UnsolicitedResponse {
        /// Tag.
        tag: u16,
    },
    /// A segment size of 0 or above the limit.
    #[error("segment size {0} must be 1 to {max}", max = DEFAULT_MAX_COMMAND_LEN - 32)]
    SegmentSize(usize),
    /// The session was aborted by an earlier error; no further input is processed.
    #[error("SCP03t session aborted by an earlier error")]
    Aborted,
}

impl Scp03tError {
    /// The status word the card reports in its `9F8x` error TLV.
    pub fn status_word(&self) -> u16 {
        match self {
            Scp03tError::Scp03(e) => e.status_word(),
            Scp03tError::Malformed { .. } | Scp03tError::BadValue { .. } => scp03::sw::WRONG_DATA,
            Scp03tError::CommandTooLong { .. } | Scp03tError::SegmentSize(_) => {
                scp03::sw::WRONG_LENGTH
            }
            Scp03tError::UnexpectedTag { .. }
            | Scp03tError::UnsolicitedResponse { .. }
            | Scp03tError::Aborted => scp03::sw::CONDITIONS_NOT_SATISFIED,
            Scp03tError::ErrorResponse { status, .. } => *status,
        }
    }
}

type Result<T> = std::result::Result<T, Scp03tError>;

/// TLV header: tag ‖ minimal BER length.
fn header(tag: u8, len: usize) -> Vec<u8> {
    let mut h = vec![tag];
    write_length(&mut h, len);
    h
}

fn tlv(tag: u8, value: &[u8]) -> Vec<u8> {
    let mut v = header(tag, value.len());
    v.extend_from_slice(value);
    v
}

/// The error response TLV `9F ‖ tag ‖ 02 ‖ SW` for a command tag.
pub fn error_response(command_tag: u8, status: u16) -> Vec<u8> {
    let s = status.to_be_bytes();
    vec![ERROR_TAG_PREFIX, command_tag, 0x02, s[0], s[1]]
}

/// A TLV header found in a buffer.
struct Header {
    tag: u16,
    header_len: usize,
    value_len: usize,
}

/// Reads a TLV header: a one-byte tag, or `9F xx` read as a fixed two-byte tag (as for the
/// SGP.02 STORE DATA tags, spec choice 2), then a definite BER length of at most 4 bytes.
/// `Ok(None)` if the buffer ends inside the header.
fn read_header(buf: &[u8], offset: usize) -> Result<Option<Header>> {
    let Some(&t0) = buf.first() else {
        return Ok(None);
    };
    let (tag, tag_len) = if t0 & 0x1F == 0x1F {
        let Some(&t1) = buf.get(1) else {
            return Ok(None);
        };
        (u16::from_be_bytes([t0, t1]), 2)
    } else {
        (u16::from(t0), 1)
    };
    let Some(&l0) = buf.get(tag_len) else {
        return Ok(None);
    };
    let (value_len, len_len) = match l0 {
        0x00..=0x7F => (usize::from(l0), 1),
        0x81..=0x84 => {
            let n = usize::from(l0 & 0x7F);
            let Some(bytes) = buf.get(tag_len + 1..tag_len + 1 + n) else {
                return Ok(None);
            };
            let v = bytes.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
            (v, 1 + n)
        }
        0x80 => {
            return Err(Scp03tError::Malformed {
                offset: offset + tag_len,
                reason: "indefinite length is not allowed",
            });
        }
        _ => {
            return Err(Scp03tError::Malformed {
                offset: offset + tag_len,
                reason: "length field longer than 4 bytes",
            });
        }
    };
    Ok(Some(Header {
        tag,
        header_len: tag_len + len_len,
        value_len,
    }))
}

/// One TLV of a complete buffer: tag, header bytes, value.
type RawTlv<'a> = (u16, &'a [u8], &'a [u8]);

/// Splits a buffer of complete TLVs (responses, for the host).
fn split_tlvs(buf: &[u8]) -> Result<Vec<RawTlv<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let rest = &buf[pos..];
        let h = read_header(rest, pos)?.ok_or(Scp03tError::Malformed {
            offset: pos,
            reason: "truncated TLV header",
        })?;
        let end = h
            .header_len
            .checked_add(h.value_len)
            .filter(|&e| e <= rest.len())
            .ok_or(Scp03tError::Malformed {
                offset: pos,
                reason: "value runs past the end of the data",
            })?;
        out.push((h.tag, &rest[..h.header_len], &rest[h.header_len..end]));
        pos += end;
    }
    Ok(out)
}

/// The plaintext of a `87` command: `80 L S-ENC ‖ 81 L S-MAC ‖ 82 L S-RMAC ‖ [83 10 MCV]`.
fn encode_key_replacement(keys: &SessionKeys, mcv: &[u8; 16]) -> Vec<u8> {
    let mut v = Vec::new();
    for (t, k) in [
        (0x80, &keys.s_enc),
        (0x81, &keys.s_mac),
        (0x82, &keys.s_rmac),
    ] {
        v.extend_from_slice(&tlv(t, k.expose()));
    }
    v.extend_from_slice(&tlv(0x83, mcv));
    v
}

fn decode_key_replacement(plain: &[u8]) -> Result<(SessionKeys, [u8; 16])> {
    let bad = |reason| Scp03tError::BadValue {
        tag: u16::from(TAG_REPLACE_SESSION_KEYS),
        reason,
    };
    let items = split_tlvs(plain).map_err(|_| bad("key data is not a TLV list"))?;
    let mut keys: [Option<SecretKey>; 3] = [None, None, None];
    let mut mcv = [0u8; 16];
    for (tag, _, value) in items {
        match tag {
            0x80..=0x82 => keys[usize::from(tag - 0x80)] = Some(SecretKey::new(value)),
            0x83 => {
                mcv = value
                    .try_into()
                    .map_err(|_| bad("MAC chaining value is not 16 bytes"))?
            }
            _ => return Err(bad("unknown tag in key data")),
        }
    }
    let [Some(enc), Some(mac), Some(rmac)] = keys else {
        return Err(bad("S-ENC, S-MAC or S-RMAC missing"));
    };
    Ok((SessionKeys::new(enc, mac, rmac)?, mcv))
}

// ---------------------------------------------------------------------------------------------
// Host (SM-DP)
// ---------------------------------------------------------------------------------------------

/// SM-DP side waiting for the `84` response.
#[derive(Debug)]
pub struct Scp03tHostAwaitingInitUpdateResponse {
    inner: HostAwaitingInitUpdateResponse,
    segment_size: usize,
}

impl Scp03tHostAwaitingInitUpdateResponse {
    /// Starts a session with the ISD-P keyset: returns the state and the `84` command
    /// (`84 0A KVN KID host-challenge`; KID `00`… as NJ sends it, digest §5.5).
    pub fn start(keys: StaticKeys, kid: u8, host_challenge: [u8; 8]) -> (Self, Vec<u8>) {
        let mut value = vec![keys.kvn(), kid];
        value.extend_from_slice(&host_challenge);
        let (inner, _) =
            HostAwaitingInitUpdateResponse::start(keys, host_challenge, SecurityLevel::FULL);
        (
            Scp03tHostAwaitingInitUpdateResponse {
                inner,
                segment_size: DEFAULT_SEGMENT_SIZE,
            },
            tlv(TAG_INITIALIZE_UPDATE, &value),
        )
    }

    /// Like [`Self::start`] with a random host challenge.
    pub fn start_random(keys: StaticKeys, kid: u8) -> Result<(Self, Vec<u8>)> {
        let mut hc = [0u8; 8];
        fill_random(&mut hc).map_err(Scp03Error::from)?;
        Ok(Self::start(keys, kid, hc))
    }

    /// Also checks the pseudo-random card challenge against the ISD-P AID.
    pub fn expect_sd_aid(mut self, sd_aid: &[u8]) -> Self {
        self.inner = self.inner.expect_sd_aid(sd_aid);
        self
    }

    /// Profile Package bytes per `86` command (default [`DEFAULT_SEGMENT_SIZE`]).
    pub fn segment_size(mut self, size: usize) -> Result<Self> {
        if size == 0 || size > DEFAULT_MAX_COMMAND_LEN - 32 {
            return Err(Scp03tError::SegmentSize(size));
        }
        self.segment_size = size;
        Ok(self)
    }

    /// Handles the `84` response (or a `9F84` error): verifies the card cryptogram, derives the
    /// session keys and returns the host with the `85` command to send.
    pub fn handle(self, response: &[u8]) -> Result<(Scp03tHost, Vec<u8>)> {
        let tlvs = split_tlvs(response)?;
        let [(tag, _, value)] = tlvs.as_slice() else {
            return Err(Scp03tError::Malformed {
                offset: 0,
                reason: "expected exactly one response TLV",
            });
        };
        check_error(*tag, value)?;
        if *tag != u16::from(TAG_INITIALIZE_UPDATE) {
            return Err(Scp03tError::UnexpectedTag {
                tag: *tag,
                offset: 0,
                state: "waiting for the INITIALIZE UPDATE response",
            });
        }
        let auth = self.inner.authenticate(value)?;
        let mut channel = auth.channel;
        let mut data = vec![SecurityLevel::FULL.bits()];
        data.extend_from_slice(&auth.host_cryptogram);
        let mac = channel.c_mac(&header(TAG_EXTERNAL_AUTHENTICATE, data.len() + 8), &data)?;
        data.extend_from_slice(&mac);
        let mut pending = VecDeque::new();
        pending.push_back(Pending {
            tag: TAG_EXTERNAL_AUTHENTICATE,
            channel: None,
        });
        Ok((
            Scp03tHost {
                channel,
                init_update_response: auth.response,
                pending,
                segment_size: self.segment_size,
            },
            tlv(TAG_EXTERNAL_AUTHENTICATE, &data),
        ))
    }
}

fn check_error(tag: u16, value: &[u8]) -> Result<()> {
    let [hi, lo] = tag.to_be_bytes();
    if hi == ERROR_TAG_PREFIX {
        let status = match value {
            [a, b] => u16::from_be_bytes([*a, *b]),
            _ => 0x6F00,
        };
        return Err(Scp03tError::ErrorResponse { tag: lo, status });
    }
    Ok(())
}

#[derive(Debug)]
struct Pending {
    tag: u8,
    /// Channel state after the command (for checking a protected response).
    channel: Option<SecureChannel>,
}

/// A response checked by the host.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scp03tResponse {
    /// `85 00`: the session is open.
    ExternalAuthenticate,
    /// Response to a `86` segment with its (verified, deciphered) data; empty for `86 00`.
    Segment(Vec<u8>),
    /// `87 00`: the session keys were replaced.
    KeysReplaced,
}

/// SM-DP side of an SCP03t session after the `84` exchange.
#[derive(Debug)]
pub struct Scp03tHost {
    channel: SecureChannel,
    init_update_response: InitUpdateResponse,
    pending: VecDeque<Pending>,
    segment_size: usize,
}

impl Scp03tHost {
    /// The card's INITIALIZE UPDATE response.
    pub fn init_update_response(&self) -> &InitUpdateResponse {
        &self.init_update_response
    }

    /// The channel state.
    pub fn channel(&self) -> &SecureChannel {
        &self.channel
    }

    /// Commands sent whose responses have not been checked yet.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// Wraps one Profile Package segment into a `86` command (C-ENC, C-MAC).
    pub fn wrap_segment(&mut self, segment: &[u8]) -> Result<Vec<u8>> {
        let value = self
            .channel
            .protect_command(|len| Ok(header(TAG_PROFILE_SEGMENT, len)), segment)?;
        self.pending.push_back(Pending {
            tag: TAG_PROFILE_SEGMENT,
            channel: Some(self.channel.clone()),
        });
        Ok(tlv(TAG_PROFILE_SEGMENT, &value))
    }

    /// Cuts a Profile Package into segments of the configured size (segment boundaries need not
    /// match Profile Element boundaries; digest §6) and wraps each into a `86` command.
    pub fn wrap_profile(&mut self, package: &[u8]) -> Result<Vec<Vec<u8>>> {
        package
            .chunks(self.segment_size)
            .map(|seg| self.wrap_segment(seg))
            .collect()
    }

    /// Builds a `87` command handing the card new session keys (e.g. the Profile Protection
    /// Keys of a pre-protected package) and the initial MAC chaining value; the host switches to
    /// them at once, with the encryption counter back to 0.
    pub fn replace_session_keys(
        &mut self,
        keys: SessionKeys,
        initial_mac_chaining_value: [u8; 16],
    ) -> Result<Vec<u8>> {
        let plain =
            zeroize::Zeroizing::new(encode_key_replacement(&keys, &initial_mac_chaining_value));
        let value = self
            .channel
            .protect_command(|len| Ok(header(TAG_REPLACE_SESSION_KEYS, len)), &plain)?;
        self.channel.replace_keys(keys, initial_mac_chaining_value);
        self.pending.push_back(Pending {
            tag: TAG_REPLACE_SESSION_KEYS,
            channel: None,
        });
        Ok(tlv(TAG_REPLACE_SESSION_KEYS, &value))
    }

    /// Checks a buffer of response TLVs, matching them in order to the outstanding commands.
    /// An error TLV (`9F8x`) or a bad R-MAC is an error.
    pub fn check_responses(&mut self, responses: &[u8]) -> Result<Vec<Scp03tResponse>> {
        let mut out = Vec::new();
        for (tag, hdr, value) in split_tlvs(responses)? {
            check_error(tag, value)?;
            let Some(p) = self.pending.pop_front() else {
                return Err(Scp03tError::UnsolicitedResponse { tag });
            };
            if tag != u16::from(p.tag) {
                return Err(Scp03tError::UnexpectedTag {
                    tag,
                    offset: 0,
                    state: "matching responses to commands",
                });
            }
            out.push(match p.tag {
                TAG_PROFILE_SEGMENT => match (&p.channel, value.is_empty()) {
                    (_, true) => Scp03tResponse::Segment(Vec::new()),
                    (Some(ch), false) => {
                        Scp03tResponse::Segment(ch.verify_response(hdr, value, &[])?)
                    }
                    (None, false) => {
                        return Err(Scp03tError::BadValue {
                            tag,
                            reason: "no channel state for this response",
                        });
                    }
                },
                other => {
                    if !value.is_empty() {
                        return Err(Scp03tError::BadValue {
                            tag,
                            reason: "response must be empty",
                        });
                    }
                    if other == TAG_EXTERNAL_AUTHENTICATE {
                        Scp03tResponse::ExternalAuthenticate
                    } else {
                        Scp03tResponse::KeysReplaced
                    }
                }
            });
        }
        Ok(out)
    }
}

// ---------------------------------------------------------------------------------------------
// Card (ISD-P)
// ---------------------------------------------------------------------------------------------

/// What the card produced from the command stream, in order.
#[derive(Debug)]
#[non_exhaustive]
pub enum Scp03tEvent {
    /// A response TLV to return to the SM-DP (for `84`, `85`, `87`, and error TLVs).
    Response(Vec<u8>),
    /// A verified, deciphered Profile Package segment for the profile interpreter. Answer it
    /// with [`SegmentReply::response`].
    Segment {
        /// The plaintext segment.
        data: Vec<u8>,
        /// Builds this segment's response.
        reply: SegmentReply,
    },
}

/// The channel state a `86` response must be protected with.
#[derive(Debug, Clone)]
pub struct SegmentReply {
    channel: SecureChannel,
}

impl SegmentReply {
    /// The response TLV: `86 00` when `data` is empty, otherwise `86 L {R-ENC(data) ‖ R-MAC}`.
    pub fn response(&self, data: &[u8]) -> Result<Vec<u8>> {
        if data.is_empty() {
            return Ok(vec![TAG_PROFILE_SEGMENT, 0x00]);
        }
        let value =
            self.channel
                .protect_response(|len| header(TAG_PROFILE_SEGMENT, len), data, &[])?;
        Ok(tlv(TAG_PROFILE_SEGMENT, &value))
    }
}

#[derive(Debug)]
enum CardState {
    Idle,
    AwaitingExtAuth(CardAwaitingExtAuth),
    Open(SecureChannel),
    Aborted,
}

/// The ISD-P end of SCP03t. Feed it the command stream in chunks of any size; take the events.
/// Partial TLVs are buffered up to the command length limit. The first error aborts the session:
/// an error TLV is queued as a response and every later `feed` fails with
/// [`Scp03tError::Aborted`] until [`Scp03tCard::reset`].
#[derive(Debug)]
pub struct Scp03tCard {
    idle: CardIdle,
    state: CardState,
    buf: Vec<u8>,
    consumed: usize,
    max_command_len: usize,
    events: VecDeque<Scp03tEvent>,
}

impl Scp03tCard {
    /// A card for the ISD-P keyset and state in `idle`.
    pub fn new(idle: CardIdle) -> Self {
        Scp03tCard {
            idle,
            state: CardState::Idle,
            buf: Vec::new(),
            consumed: 0,
            max_command_len: DEFAULT_MAX_COMMAND_LEN,
            events: VecDeque::new(),
        }
    }

    /// Sets the largest command value the card buffers (default [`DEFAULT_MAX_COMMAND_LEN`]).
    pub fn with_max_command_len(mut self, max: usize) -> Self {
        self.max_command_len = max;
        self
    }

    /// The keyset and sequence counter (to persist after the session).
    pub fn card_idle(&self) -> &CardIdle {
        &self.idle
    }

    /// Gives back the keyset and sequence counter.
    pub fn into_card_idle(self) -> CardIdle {
        self.idle
    }

    /// Whether EXTERNAL AUTHENTICATE succeeded and the session is open.
    pub fn is_open(&self) -> bool {
        matches!(self.state, CardState::Open(_))
    }

    /// Whether an error aborted the session.
    pub fn is_aborted(&self) -> bool {
        matches!(self.state, CardState::Aborted)
    }

    /// Bytes buffered of an incomplete command.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Drops the session and any buffered input; the next command must be `84`.
    pub fn reset(&mut self) {
        self.state = CardState::Idle;
        self.buf.clear();
        self.consumed = 0;
    }

    /// Takes the events produced so far.
    pub fn take_events(&mut self) -> Vec<Scp03tEvent> {
        self.events.drain(..).collect()
    }

    /// Accepts the next bytes of the command stream and processes every complete command.
    /// On error the session is aborted and an error TLV is queued as the last event.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<()> {
        if matches!(self.state, CardState::Aborted) {
            return Err(Scp03tError::Aborted);
        }
        self.buf.extend_from_slice(chunk);
        loop {
            let offset = self.consumed;
            let h = match read_header(&self.buf, offset) {
                Ok(Some(h)) => h,
                Ok(None) => {
                    if self.buf.len() > 8 {
                        return self.abort(
                            0x86,
                            Scp03tError::Malformed {
                                offset,
                                reason: "header too long",
                            },
                        );
                    }
                    return Ok(());
                }
                Err(e) => return self.abort(0x86, e),
            };
            let cmd_tag = u8::try_from(h.tag).unwrap_or(0x86);
            if h.value_len > self.max_command_len {
                return self.abort(
                    cmd_tag,
                    Scp03tError::CommandTooLong {
                        tag: h.tag,
                        offset,
                        len: h.value_len,
                        max: self.max_command_len,
                    },
                );
            }
            let total = h.header_len + h.value_len;
            if self.buf.len() < total {
                return Ok(());
            }
            let rest = self.buf.split_off(total);
            let cmd = std::mem::replace(&mut self.buf, rest);
            self.consumed += total;
            let (hdr, value) = cmd.split_at(h.header_len);
            if let Err(e) = self.process(h.tag, hdr, value, offset) {
                return self.abort(cmd_tag, e);
            }
        }
    }

    fn abort(&mut self, tag: u8, e: Scp03tError) -> Result<()> {
        let tag = if (TAG_INITIALIZE_UPDATE..=TAG_REPLACE_SESSION_KEYS).contains(&tag) {
            tag
        } else {
            TAG_PROFILE_SEGMENT
        };
        self.events
            .push_back(Scp03tEvent::Response(error_response(tag, e.status_word())));
        self.state = CardState::Aborted;
        self.buf.clear();
        Err(e)
    }

    fn process(&mut self, tag: u16, hdr: &[u8], value: &[u8], offset: usize) -> Result<()> {
        let state = std::mem::replace(&mut self.state, CardState::Aborted);
        let unexpected = |state| Scp03tError::UnexpectedTag { tag, offset, state };
        self.state = match (state, tag) {
            (CardState::Idle, 0x84) => {
                let [kvn, _kid, hc @ ..] = value else {
                    return Err(Scp03tError::BadValue {
                        tag,
                        reason: "INITIALIZE UPDATE must be KVN ‖ KID ‖ 8-byte host challenge",
                    });
                };
                let hc: [u8; 8] = hc.try_into().map_err(|_| Scp03tError::BadValue {
                    tag,
                    reason: "INITIALIZE UPDATE must be KVN ‖ KID ‖ 8-byte host challenge",
                })?;
                let (next, rsp) = self.idle.initialize_update(*kvn, &hc)?;
                self.events.push_back(Scp03tEvent::Response(tlv(
                    TAG_INITIALIZE_UPDATE,
                    &rsp.to_bytes(),
                )));
                CardState::AwaitingExtAuth(next)
            }
            (CardState::Idle, _) => return Err(unexpected("waiting for INITIALIZE UPDATE (84)")),
            (CardState::AwaitingExtAuth(auth), 0x85) => {
                let Some(&level) = value.first() else {
                    return Err(Scp03tError::BadValue {
                        tag,
                        reason: "empty EXTERNAL AUTHENTICATE",
                    });
                };
                if value.len() != 17 {
                    return Err(Scp03tError::BadValue {
                        tag,
                        reason: "EXTERNAL AUTHENTICATE must be level ‖ cryptogram ‖ C-MAC (17 bytes)",
                    });
                }
                if level != SecurityLevel::FULL.bits() {
                    return Err(Scp03Error::UnsupportedSecurityLevel(level).into());
                }
                let channel = auth.authenticate(SecurityLevel::FULL, hdr, value)?;
                self.events
                    .push_back(Scp03tEvent::Response(vec![TAG_EXTERNAL_AUTHENTICATE, 0x00]));
                CardState::Open(channel)
            }
            (CardState::AwaitingExtAuth(_), _) => {
                return Err(unexpected("waiting for EXTERNAL AUTHENTICATE (85)"));
            }
            (CardState::Open(mut channel), 0x86) => {
                let data = channel.verify_command(hdr, value)?;
                self.events.push_back(Scp03tEvent::Segment {
                    data,
                    reply: SegmentReply {
                        channel: channel.clone(),
                    },
                });
                CardState::Open(channel)
            }
            (CardState::Open(mut channel), 0x87) => {
                let plain = zeroize::Zeroizing::new(channel.verify_command(hdr, value)?);
                let (keys, mcv) = decode_key_replacement(&plain)?;
                channel.replace_keys(keys, mcv);
                self.events
                    .push_back(Scp03tEvent::Response(vec![TAG_REPLACE_SESSION_KEYS, 0x00]));
                CardState::Open(channel)
            }
            (CardState::Open(_), _) => {
                return Err(unexpected("in session: expecting 86 or 87"));
            }
            (CardState::Aborted, _) => return Err(Scp03tError::Aborted),
        };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_reader() {
        let h = read_header(&[0x86, 0x82, 0x01, 0x00], 0).unwrap().unwrap();
        assert_eq!((h.tag, h.header_len, h.value_len), (0x86, 4, 256));
        assert!(read_header(&[0x86, 0x82, 0x01], 0).unwrap().is_none());
        let h = read_header(&[0x9F, 0x86, 0x02], 0).unwrap().unwrap();
        assert_eq!((h.tag, h.header_len, h.value_len), (0x9F86, 3, 2));
        assert!(read_header(&[0x86, 0x80], 0).is_err());
        assert!(read_header(&[0x86, 0x85], 0).is_err());
    }

    #[test]
    fn key_replacement_round_trip() {
        let k = SessionKeys::new(
            SecretKey::new(&[1; 16]),
            SecretKey::new(&[2; 16]),
            SecretKey::new(&[3; 16]),
        )
        .unwrap();
        let (k2, mcv) = decode_key_replacement(&encode_key_replacement(&k, &[9; 16])).unwrap();
        assert_eq!(k2.s_mac, k.s_mac);
        assert_eq!(mcv, [9; 16]);
        assert!(decode_key_replacement(&[0x80, 0x01, 0x00]).is_err());
    }
}
