//! ECKA key establishment, "Scenario #3 – Mutual Authentication" (GP Amd A §3.x / Amd E ECKA-EG;
//! SGP.02 §3.1.2, §3.8 and §4.1.3.1; digest §3.2; sgp02-gaps §4), both sides as typestates.
//!
//! ```text
//! off-card (SM-DP / SM-SR)                                  card (ECASD via ISD-P / ISD-R)
//!   message 1: 3A01 L { 7F21 CERT.X.ECDSA }        ──▶  verify CERT against PK.CI.ECDSA
//!                                                  ◀──  85 10 RC
//!   message 2: 3A02 L { A6 CRT }                   ──▶  verify 5F37 with PK.X.ECDSA
//!              ‖ 7F49 L { B0 ePK, F0 01 00 }            ShS = ECDH(SK.ECASD.ECKA, ePK.X.ECKA)
//!              ‖ 5F37 40 ECDSA(SK.X.ECDSA, …)           KeyData = X9.63-KDF(ShS, SharedInfo)
//!                                                  ◀──  [85 L DR] ‖ 86 10 receipt
//!   check receipt, keep the keys
//! ```
//!
//! Choices where the public record is silent (docs/spec-choices.md):
//! * **3A02 signature input** = the `3A02` TLV as sent ‖ the `7F49` TLV as sent ‖ `85 L RC` (the
//!   TLV the card returned). NJ signs the same data but writes the challenge tag as two bytes
//!   `00 85`; we use the one-byte BER tag `85`.
//! * **Receipt** = AES-CMAC(receipt key, `A6` CRT TLV ‖ [`85 L DR`]), full 16 bytes (GP Amd E
//!   Table 4-22 as cited by NJ).
//! * **KeyData** = X9.63 KDF with SHA-256 (BSI TR-03111 §4.3.3); SharedInfo = key usage ‖ key type
//!   ‖ key length ‖ [DR] ‖ [len ‖ HostID] (GP Amd A Table 3-28). The first `key length` bytes are
//!   the receipt key, then one key (key usage `5C`) or three keys (key usage `10`).
//! * One establishment yields one keyset (one KVN). The ISD-R in an SM-SR change therefore runs
//!   it twice: an SCP80 keyset (three AES keys: KIc, KID, DEK) and an SCP81 PSK keyset (one key of
//!   type `85` PSK-TLS).
//!
//! Error status words are those a card returns to the STORE DATA (ISO 7816-4 / GPCS §11.11):
//! see [`EckaError::status_word`].

use crate::cert::{CertError, CertType, Certificate, Date};
use crate::ec::{self, EcError, KeyPair, PublicKey};
use crate::primitives::{SecretBytes, SecretKey, aes_cmac, ct_eq, fill_random};
use esim_codec::ber::{self, DecodeError, DecodeErrorKind, Reader, Tag, Tlv, Writer};
use std::fmt;
use zeroize::Zeroizing;

/// Status words returned by the card side (plain constants; esim-apdu is not a dependency).
pub mod sw {
    /// `6982` security status not satisfied: certificate, signature or validity check failed.
    pub const SECURITY_STATUS_NOT_SATISFIED: u16 = 0x6982;
    /// `6985` conditions of use not satisfied: message out of sequence.
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    /// `6A80` incorrect values in the command data.
    pub const INCORRECT_DATA: u16 = 0x6A80;
    /// `6F00` no precise diagnosis (internal failure, e.g. the random source).
    pub const NO_PRECISE_DIAGNOSIS: u16 = 0x6F00;
}

/// STORE DATA tag of message 1 (certificate).
pub const TAG_MESSAGE_1: u16 = 0x3A01;
/// STORE DATA tag of message 2 (key agreement parameters).
pub const TAG_MESSAGE_2: u16 = 0x3A02;
/// Scenario identifier in `90`: scenario #3.
pub const SCENARIO_3: u8 = 0x03;
/// Scenario parameter bit: certificate verification precedes.
pub const PARAM_CERTIFICATE_VERIFICATION: u8 = 0x08;
/// Scenario parameter bit: HostID (`84`) included in the CRT and in SharedInfo.
pub const PARAM_HOST_ID: u8 = 0x04;
/// Scenario parameter bit: the card generates a derivation random DR.
pub const PARAM_DERIVATION_RANDOM: u8 = 0x02;
/// Key usage qualifier: one secure-channel key (used for ENC, MAC and DEK; NJ's choice).
pub const KEY_USAGE_ONE_KEY: u8 = 0x5C;
/// Key usage qualifier: three keys.
pub const KEY_USAGE_THREE_KEYS: u8 = 0x10;
/// Key type AES (GPCS Table 11-16).
pub const KEY_TYPE_AES: u8 = 0x88;
/// Key type pre-shared key for TLS (GPCS Table 11-16), for SCP81.
pub const KEY_TYPE_PSK_TLS: u8 = 0x85;
/// Length of the card's random challenge RC and of the derivation random DR.
pub const RANDOM_LEN: usize = 16;
/// Length of the receipt (full AES-CMAC).
pub const RECEIPT_LEN: usize = 16;

/// A key-establishment failure. `status_word` gives what the card answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EckaError {
    /// Malformed message: the error names the tag/field and byte offset.
    #[error("malformed key establishment message: {0}")]
    Decode(#[from] DecodeError),
    /// The STORE DATA carried another tag than the one this state waits for.
    #[error("expected STORE DATA tag {expected:04X}, found {found}")]
    UnexpectedMessage {
        /// Tag this state waits for.
        expected: u16,
        /// Tag received.
        found: Tag,
    },
    /// The off-card certificate failed a check (signature against PK.CI, validity, type).
    #[error("off-card certificate rejected: {0}")]
    Certificate(CertError),
    /// A CRT parameter this implementation does not support, or a missing mandatory one.
    #[error("key parameter {field}: {reason}")]
    UnsupportedParameter {
        /// CRT tag and name, e.g. "95 key usage".
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The ephemeral public key is not a valid P-256 point.
    #[error("ephemeral public key: {0}")]
    InvalidKey(EcError),
    /// The `5F37` signature of message 2 does not verify under the off-card certificate's key.
    #[error("message 2 signature does not verify")]
    BadSignature,
    /// The card's receipt does not match (off-card side).
    #[error("receipt does not verify")]
    BadReceipt,
    /// The random source failed.
    #[error("random number generator failed")]
    Rng,
    /// Signing failed (off-card side).
    #[error("signing failed: {0}")]
    Signing(EcError),
    /// A key of a length the primitive refuses (not expected with checked parameters).
    #[error("key derivation: {0}")]
    Crypto(crate::primitives::CryptoError),
}

impl EckaError {
    /// The status word the card returns for this error.
    pub fn status_word(&self) -> u16 {
        match self {
            EckaError::Decode(_)
            | EckaError::UnexpectedMessage { .. }
            | EckaError::UnsupportedParameter { .. }
            | EckaError::InvalidKey(_) => sw::INCORRECT_DATA,
            EckaError::Certificate(CertError::Decode(_)) => sw::INCORRECT_DATA,
            EckaError::Certificate(_) | EckaError::BadSignature | EckaError::BadReceipt => {
                sw::SECURITY_STATUS_NOT_SATISFIED
            }
            EckaError::Rng | EckaError::Signing(_) | EckaError::Crypto(_) => {
                sw::NO_PRECISE_DIAGNOSIS
            }
        }
    }
}

/// The key agreement control reference template `A6` (GP Amd A; digest §3.2): what keyset to
/// create and how to derive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyParams {
    /// Scenario parameter bits (low byte of `90`): [`PARAM_CERTIFICATE_VERIFICATION`] is always
    /// set; [`PARAM_DERIVATION_RANDOM`] and [`PARAM_HOST_ID`] follow the fields below.
    pub include_dr: bool,
    /// `95` key usage qualifier: [`KEY_USAGE_ONE_KEY`] or [`KEY_USAGE_THREE_KEYS`].
    pub key_usage: u8,
    /// `96` key access, if sent.
    pub key_access: Option<u8>,
    /// `80` key type: [`KEY_TYPE_AES`] or [`KEY_TYPE_PSK_TLS`].
    pub key_type: u8,
    /// `81` key length in bytes: 16, 24 or 32.
    pub key_length: u8,
    /// `82` key identifier of the first key.
    pub kid: u8,
    /// `83` key version number of the new keyset.
    pub kvn: u8,
    /// `91` initial sequence counter (`None`: `91 00` is sent).
    pub initial_counter: Vec<u8>,
    /// `84` HostID (and scenario bit `04`).
    pub host_id: Option<Vec<u8>>,
}

impl KeyParams {
    /// ISD-P SCP03 keyset (SGP.02 §3.1.2): AES-128, KID 01, three keys (ENC, MAC, DEK), DR.
    pub fn isd_p_scp03(kvn: u8) -> Self {
        KeyParams {
            include_dr: true,
            key_usage: KEY_USAGE_THREE_KEYS,
            key_access: None,
            key_type: KEY_TYPE_AES,
            key_length: 16,
            kid: 0x01,
            kvn,
            initial_counter: Vec::new(),
            host_id: None,
        }
    }

    /// ISD-R SCP80 keyset for a new SM-SR (SGP.02 §3.8): three AES-128 keys (KIc, KID, DEK) and a
    /// five-byte initial counter `0000000000`.
    pub fn isd_r_scp80(kvn: u8) -> Self {
        KeyParams {
            initial_counter: vec![0; 5],
            ..Self::isd_p_scp03(kvn)
        }
    }

    /// ISD-R SCP81 PSK-TLS keyset (SGP.02 §3.8; digest §3.6): one 16-byte key of type `85`,
    /// initial counter `0000000001` as NJ sends it.
    pub fn isd_r_scp81_psk(kvn: u8) -> Self {
        KeyParams {
            include_dr: true,
            key_usage: KEY_USAGE_ONE_KEY,
            key_access: None,
            key_type: KEY_TYPE_PSK_TLS,
            key_length: 16,
            kid: 0x01,
            kvn,
            initial_counter: vec![0, 0, 0, 0, 1],
            host_id: None,
        }
    }

    /// The scenario parameter byte.
    pub fn scenario_parameters(&self) -> u8 {
        let mut p = PARAM_CERTIFICATE_VERIFICATION;
        if self.include_dr {
            p |= PARAM_DERIVATION_RANDOM;
        }
        if self.host_id.is_some() {
            p |= PARAM_HOST_ID;
        }
        p
    }

    /// Number of keys the establishment yields (1 for `5C`, 3 for `10`).
    pub fn key_count(&self) -> usize {
        if self.key_usage == KEY_USAGE_THREE_KEYS {
            3
        } else {
            1
        }
    }

    fn check(&self) -> Result<(), EckaError> {
        let unsupported = |field, reason: &str| {
            Err(EckaError::UnsupportedParameter {
                field,
                reason: reason.to_string(),
            })
        };
        if !matches!(self.key_usage, KEY_USAGE_ONE_KEY | KEY_USAGE_THREE_KEYS) {
            return unsupported("95 key usage", "only 5C (one key) and 10 (three keys)");
        }
        if !matches!(self.key_type, KEY_TYPE_AES | KEY_TYPE_PSK_TLS) {
            return unsupported("80 key type", "only 88 (AES) and 85 (PSK-TLS)");
        }
        if !matches!(self.key_length, 16 | 24 | 32) {
            return unsupported("81 key length", "only 16, 24 or 32 bytes");
        }
        if self.initial_counter.len() > 8 {
            return unsupported("91 initial counter", "longer than 8 bytes");
        }
        if let Some(h) = &self.host_id {
            if h.is_empty() || h.len() > 127 {
                return unsupported("84 HostID", "must be 1 to 127 bytes");
            }
        }
        Ok(())
    }

    /// The encoded `A6` CRT.
    pub fn to_crt(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.constructed(0xA6u8, |w| {
            w.put(0x90u8, &[SCENARIO_3, self.scenario_parameters()]);
            w.put(0x95u8, &[self.key_usage]);
            if let Some(a) = self.key_access {
                w.put(0x96u8, &[a]);
            }
            w.put(0x80u8, &[self.key_type]);
            w.put(0x81u8, &[self.key_length]);
            w.put(0x82u8, &[self.kid]);
            w.put(0x83u8, &[self.kvn]);
            w.put(0x91u8, &self.initial_counter);
            if let Some(h) = &self.host_id {
                w.put(0x84u8, h);
            }
        });
        w.into_bytes()
    }

    /// Parses an `A6` CRT (children in any order, each at most once).
    pub fn from_crt(t: &Tlv<'_>) -> Result<Self, EckaError> {
        let t = t.expect_tag(0xA6u8)?;
        let mut seen: Vec<Tag> = Vec::new();
        let mut scenario = None;
        let (mut usage, mut access, mut ktype, mut klen, mut kid, mut kvn) =
            (None, None, None, None, None, None);
        let mut counter = Vec::new();
        let mut host_id = None;
        for child in t.children() {
            let child = child?;
            if seen.contains(&child.tag) {
                return Err(DecodeError::bad_value(
                    child.offset,
                    format!("A6/{}", child.tag),
                    "duplicate tag",
                )
                .into());
            }
            seen.push(child.tag);
            let one = |name: &str| -> Result<u8, DecodeError> {
                match child.value {
                    [b] => Ok(*b),
                    _ => Err(DecodeError::bad_value(child.offset, name, "must be 1 byte")),
                }
            };
            match child.tag.0 {
                0x90 => match child.value {
                    [SCENARIO_3, p] => scenario = Some(*p),
                    _ => {
                        return Err(EckaError::UnsupportedParameter {
                            field: "90 scenario",
                            reason: "only scenario #3 (90 02 03 xx)".into(),
                        });
                    }
                },
                0x95 => usage = Some(one("A6/95 key usage")?),
                0x96 => access = Some(one("A6/96 key access")?),
                0x80 => ktype = Some(one("A6/80 key type")?),
                0x81 => klen = Some(one("A6/81 key length")?),
                0x82 => kid = Some(one("A6/82 key identifier")?),
                0x83 => kvn = Some(one("A6/83 key version")?),
                0x91 => counter = child.value.to_vec(),
                0x84 => host_id = Some(child.value.to_vec()),
                _ => {
                    return Err(EckaError::UnsupportedParameter {
                        field: "A6 CRT",
                        reason: format!("tag {} at byte {} not supported", child.tag, child.offset),
                    });
                }
            }
        }
        let missing = |tag: u8| DecodeError::new(t.offset, DecodeErrorKind::MissingTag(tag.into()));
        let scenario = scenario.ok_or_else(|| missing(0x90))?;
        if scenario & PARAM_CERTIFICATE_VERIFICATION == 0 {
            return Err(EckaError::UnsupportedParameter {
                field: "90 scenario parameters",
                reason: "certificate verification (08) must precede in scenario #3".into(),
            });
        }
        if scenario & !(PARAM_CERTIFICATE_VERIFICATION | PARAM_HOST_ID | PARAM_DERIVATION_RANDOM)
            != 0
        {
            return Err(EckaError::UnsupportedParameter {
                field: "90 scenario parameters",
                reason: format!("bits {scenario:02X} not supported"),
            });
        }
        if (scenario & PARAM_HOST_ID != 0) != host_id.is_some() {
            return Err(EckaError::UnsupportedParameter {
                field: "84 HostID",
                reason: "present if and only if scenario bit 04 is set".into(),
            });
        }
        let params = KeyParams {
            include_dr: scenario & PARAM_DERIVATION_RANDOM != 0,
            key_usage: usage.ok_or_else(|| missing(0x95))?,
            key_access: access,
            key_type: ktype.ok_or_else(|| missing(0x80))?,
            key_length: klen.ok_or_else(|| missing(0x81))?,
            kid: kid.ok_or_else(|| missing(0x82))?,
            kvn: kvn.ok_or_else(|| missing(0x83))?,
            initial_counter: counter,
            host_id,
        };
        params.check()?;
        Ok(params)
    }

    /// SharedInfo (GP Amd A Table 3-28): key usage ‖ key type ‖ key length ‖ [DR] ‖ [len ‖ HostID].
    pub fn shared_info(&self, dr: Option<&[u8]>) -> Vec<u8> {
        let mut si = vec![self.key_usage, self.key_type, self.key_length];
        if let Some(dr) = dr {
            si.extend_from_slice(dr);
        }
        if let Some(h) = &self.host_id {
            ber::write_length(&mut si, h.len());
            si.extend_from_slice(h);
        }
        si
    }
}

/// ANSI X9.63 / BSI TR-03111 §4.3.3 key derivation with SHA-256:
/// `SHA-256(Z ‖ counter₃₂ ‖ SharedInfo)` for counter = 1, 2, … truncated to `len` bytes.
pub fn x963_kdf_sha256(z: &[u8], shared_info: &[u8], len: usize) -> SecretBytes {
    use sha2::Digest;
    let mut out = Zeroizing::new(Vec::with_capacity(len + 32));
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut h = sha2::Sha256::new();
        h.update(z);
        h.update(counter.to_be_bytes());
        h.update(shared_info);
        let block = h.finalize();
        out.extend_from_slice(&block);
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// The keyset a completed establishment produced (both sides get equal values).
#[derive(Clone, PartialEq, Eq)]
pub struct EstablishedKeys {
    params: KeyParams,
    keys: Vec<SecretKey>,
}

impl fmt::Debug for EstablishedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EstablishedKeys")
            .field("params", &self.params)
            .field("keys", &self.keys)
            .finish()
    }
}

/// SCP03 static keys (GP Amd D): what an ISD-P keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scp03StaticKeys {
    /// Key version number.
    pub kvn: u8,
    /// Static ENC key.
    pub enc: SecretKey,
    /// Static MAC key.
    pub mac: SecretKey,
    /// Static DEK.
    pub dek: SecretKey,
}

/// SCP80 keys of an ISD-R keyset (ETSI TS 102 225).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scp80Keys {
    /// Key version number (the keyset index in KIc/KID).
    pub kvn: u8,
    /// Ciphering key KIc (AES).
    pub kic: SecretKey,
    /// Integrity key KID (AES-CMAC).
    pub kid: SecretKey,
    /// Data encryption key.
    pub dek: SecretKey,
    /// Initial counter sent in `91`.
    pub initial_counter: Vec<u8>,
}

impl EstablishedKeys {
    /// The CRT parameters of the keyset (KVN, KID, type, usage…).
    pub fn params(&self) -> &KeyParams {
        &self.params
    }

    /// The derived keys, in order (one or three).
    pub fn keys(&self) -> &[SecretKey] {
        &self.keys
    }

    fn key(&self, i: usize) -> Result<SecretKey, EckaError> {
        self.keys
            .get(i)
            .or_else(|| self.keys.first())
            .cloned()
            .ok_or(EckaError::UnsupportedParameter {
                field: "95 key usage",
                reason: "no key derived".into(),
            })
    }

    /// SCP03 static keys: with key usage `10` the three keys are ENC, MAC, DEK in that order;
    /// with `5C` the single key serves as ENC, MAC and DEK (NJ's behaviour, digest §3.2).
    pub fn scp03(&self) -> Result<Scp03StaticKeys, EckaError> {
        if self.params.key_type != KEY_TYPE_AES {
            return Err(EckaError::UnsupportedParameter {
                field: "80 key type",
                reason: "SCP03 keys must be AES (88)".into(),
            });
        }
        Ok(Scp03StaticKeys {
            kvn: self.params.kvn,
            enc: self.key(0)?,
            mac: self.key(1)?,
            dek: self.key(2)?,
        })
    }

    /// SCP80 keys: KIc, KID, DEK (three keys), or one key for all three (key usage `5C`).
    pub fn scp80(&self) -> Result<Scp80Keys, EckaError> {
        if self.params.key_type != KEY_TYPE_AES {
            return Err(EckaError::UnsupportedParameter {
                field: "80 key type",
                reason: "SCP80 keys must be AES (88)".into(),
            });
        }
        Ok(Scp80Keys {
            kvn: self.params.kvn,
            kic: self.key(0)?,
            kid: self.key(1)?,
            dek: self.key(2)?,
            initial_counter: self.params.initial_counter.clone(),
        })
    }

    /// The SCP81 pre-shared key (key type `85`, first key).
    pub fn psk(&self) -> Result<SecretKey, EckaError> {
        if self.params.key_type != KEY_TYPE_PSK_TLS {
            return Err(EckaError::UnsupportedParameter {
                field: "80 key type",
                reason: "a PSK-TLS key has type 85".into(),
            });
        }
        self.key(0)
    }
}

/// Derives the receipt key and keys from the shared secret; returns (receipt key, keys).
fn derive(shs: &[u8], params: &KeyParams, dr: Option<&[u8]>) -> (SecretKey, Vec<SecretKey>) {
    let kl = usize::from(params.key_length);
    let n = params.key_count();
    let data = x963_kdf_sha256(shs, &params.shared_info(dr), kl * (n + 1));
    let mut chunks = data.chunks(kl).map(SecretKey::new);
    let receipt_key = chunks.next().unwrap_or_else(|| SecretKey::new(&[]));
    (receipt_key, chunks.collect())
}

fn receipt(receipt_key: &SecretKey, crt: &[u8], dr: Option<&[u8]>) -> Result<[u8; 16], EckaError> {
    let mut data = crt.to_vec();
    if let Some(dr) = dr {
        data.extend_from_slice(&ber::tlv(0x85u8, dr));
    }
    aes_cmac(receipt_key.expose(), &data).map_err(EckaError::Crypto)
}

fn random16() -> Result<[u8; RANDOM_LEN], EckaError> {
    let mut b = [0u8; RANDOM_LEN];
    fill_random(&mut b).map_err(|_| EckaError::Rng)?;
    Ok(b)
}

/// Message 1: `3A01 L { 7F21 … }`.
pub fn message1(certificate: &Certificate) -> Vec<u8> {
    ber::tlv(TAG_MESSAGE_1, &certificate.encode())
}

/// (value, raw TLV, rest) of a split payload.
type Split<'a> = (&'a [u8], &'a [u8], &'a [u8]);

/// Splits a leading TLV with a fixed two-byte tag (`3A02`) off `buf`: (value, raw TLV, rest).
fn split_fixed2(buf: &[u8], expected: u16) -> Result<Split<'_>, EckaError> {
    let truncated = |what: &str, needed, available| {
        DecodeError::new(
            0,
            DecodeErrorKind::Truncated {
                what: what.into(),
                needed,
                available,
            },
        )
    };
    let tag_bytes = buf.get(..2).ok_or_else(|| truncated("tag", 2, buf.len()))?;
    let tag = u16::from_be_bytes([tag_bytes[0], tag_bytes[1]]);
    if tag != expected {
        return Err(EckaError::UnexpectedMessage {
            expected,
            found: Tag(u32::from(tag)),
        });
    }
    let first = *buf.get(2).ok_or_else(|| truncated("length", 1, 0))?;
    let (len, hdr) = match first {
        0..=0x7F => (usize::from(first), 3),
        0x81 | 0x82 => {
            let n = usize::from(first & 0x7F);
            let lb = buf
                .get(3..3 + n)
                .ok_or_else(|| truncated("length", n, buf.len().saturating_sub(3)))?;
            (
                lb.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b)),
                3 + n,
            )
        }
        b => return Err(DecodeError::new(2, DecodeErrorKind::BadLengthField(b)).into()),
    };
    let end = hdr + len;
    let value = buf.get(hdr..end).ok_or_else(|| {
        DecodeError::new(
            hdr,
            DecodeErrorKind::Truncated {
                what: format!("value of tag {expected:04X}"),
                needed: len,
                available: buf.len() - hdr,
            },
        )
    })?;
    Ok((value, &buf[..end], &buf[end..]))
}

/// Message 2 taken apart (offsets are those of the STORE DATA payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message2<'a> {
    /// The `3A02` TLV as sent.
    pub raw_3a02: &'a [u8],
    /// The `A6` CRT TLV as sent.
    pub raw_crt: &'a [u8],
    /// The parsed CRT.
    pub params: KeyParams,
    /// The `7F49` TLV as sent.
    pub raw_epk: &'a [u8],
    /// The ephemeral public key ePK.X.ECKA.
    pub ephemeral_key: PublicKey,
    /// The `5F37` signature.
    pub signature: &'a [u8],
}

impl<'a> Message2<'a> {
    /// Parses `3A02 L { A6 … } ‖ 7F49 L { … } ‖ 5F37 40 …` filling the whole payload.
    pub fn parse(buf: &'a [u8]) -> Result<Self, EckaError> {
        let (value, raw_3a02, rest) = split_fixed2(buf, TAG_MESSAGE_2)?;
        let hdr = raw_3a02.len() - value.len();
        let mut inner = Reader::with_offset(value, hdr);
        let crt = inner.read_tag(0xA6u8)?;
        inner.finish()?;
        let params = KeyParams::from_crt(&crt)?;
        let mut r = Reader::with_offset(rest, raw_3a02.len());
        let epk = r.read_tag(0x7F49u16)?;
        let sig = r.read_tag(0x5F37u16)?;
        r.finish()?;
        let ephemeral_key = ec::decode_7f49(&epk)?;
        if sig.value.len() != ec::SIGNATURE_LEN {
            return Err(
                DecodeError::bad_value(sig.offset, "5F37 signature", "must be 64 bytes").into(),
            );
        }
        Ok(Message2 {
            raw_3a02,
            raw_crt: crt.raw,
            params,
            raw_epk: epk.raw,
            ephemeral_key,
            signature: sig.value,
        })
    }

    /// The data the off-card entity signs (module doc): `3A02` TLV ‖ `7F49` TLV ‖ `85 L RC`.
    pub fn signed_data(raw_3a02: &[u8], raw_epk: &[u8], rc: &[u8]) -> Vec<u8> {
        let mut d = raw_3a02.to_vec();
        d.extend_from_slice(raw_epk);
        d.extend_from_slice(&ber::tlv(0x85u8, rc));
        d
    }
}

// ---------------------------------------------------------------------------------------------
// Off-card side (SM-DP for an ISD-P, SM-SR for the ISD-R).

/// Off-card side, waiting for the card's answer to message 1 (`85 L RC`).
pub struct OffCardAwaitingChallenge {
    signing_key: KeyPair,
    ecasd_key: PublicKey,
    params: KeyParams,
}

impl fmt::Debug for OffCardAwaitingChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OffCardAwaitingChallenge")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl OffCardAwaitingChallenge {
    /// Starts an establishment: `signing_key` is SK.DP.ECDSA (or SK.SR.ECDSA), `certificate` the
    /// matching CERT, `ecasd_key` PK.ECASD.ECKA taken from a CERT.ECASD.ECKA the caller verified
    /// against the EUM and CI. Returns the state and message 1.
    pub fn start(
        signing_key: KeyPair,
        certificate: &Certificate,
        ecasd_key: PublicKey,
        params: KeyParams,
    ) -> Result<(Self, Vec<u8>), EckaError> {
        let state = Self::new(signing_key, ecasd_key, params)?;
        Ok((state, message1(certificate)))
    }

    /// The state without building message 1 (when another party sends it, as SM-SR1 does for
    /// SM-SR2 in an SM-SR change, digest §3.6).
    pub fn new(
        signing_key: KeyPair,
        ecasd_key: PublicKey,
        params: KeyParams,
    ) -> Result<Self, EckaError> {
        params.check()?;
        Ok(OffCardAwaitingChallenge {
            signing_key,
            ecasd_key,
            params,
        })
    }

    /// Takes the card's response `85 L RC`, generates the ephemeral key pair and returns
    /// message 2.
    pub fn handle(self, response: &[u8]) -> Result<(OffCardAwaitingReceipt, Vec<u8>), EckaError> {
        let eph = KeyPair::generate().map_err(|_| EckaError::Rng)?;
        self.handle_with_ephemeral(response, eph)
    }

    /// As [`Self::handle`] with a given ephemeral key pair (tests, benchmarks).
    pub fn handle_with_ephemeral(
        self,
        response: &[u8],
        ephemeral: KeyPair,
    ) -> Result<(OffCardAwaitingReceipt, Vec<u8>), EckaError> {
        let rc = ber::parse_one(response)?.expect_tag(0x85u8)?;
        if rc.value.is_empty() || rc.value.len() > 64 {
            return Err(
                DecodeError::bad_value(rc.offset, "85 random challenge", "1 to 64 bytes").into(),
            );
        }
        let crt = self.params.to_crt();
        let raw_3a02 = ber::tlv(TAG_MESSAGE_2, &crt);
        let raw_epk = ec::encode_7f49(ephemeral.public_key());
        let signed = Message2::signed_data(&raw_3a02, &raw_epk, rc.value);
        let sig = self.signing_key.sign(&signed).map_err(EckaError::Signing)?;
        let shs = ephemeral.ecdh(&self.ecasd_key);
        let mut msg = raw_3a02;
        msg.extend_from_slice(&raw_epk);
        msg.extend_from_slice(&ber::tlv(0x5F37u16, &sig));
        Ok((
            OffCardAwaitingReceipt {
                params: self.params,
                crt,
                shs,
            },
            msg,
        ))
    }
}

/// Off-card side, waiting for the card's answer to message 2 (`[85 L DR] ‖ 86 L receipt`).
pub struct OffCardAwaitingReceipt {
    params: KeyParams,
    crt: Vec<u8>,
    shs: SecretBytes,
}

impl fmt::Debug for OffCardAwaitingReceipt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OffCardAwaitingReceipt")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl OffCardAwaitingReceipt {
    /// Checks the receipt and returns the keys.
    pub fn handle(self, response: &[u8]) -> Result<EstablishedKeys, EckaError> {
        let mut r = Reader::new(response);
        let dr = r.read_optional(0x85u8)?;
        let rcpt = r.read_tag(0x86u8)?;
        r.finish()?;
        if self.params.include_dr && dr.is_none() {
            return Err(DecodeError::new(0, DecodeErrorKind::MissingTag(Tag(0x85))).into());
        }
        if !self.params.include_dr {
            if let Some(d) = dr {
                return Err(DecodeError::bad_value(d.offset, "85 DR", "not requested").into());
            }
        }
        let dr = dr.map(|d| d.value);
        let (rk, keys) = derive(&self.shs, &self.params, dr);
        let expected = receipt(&rk, &self.crt, dr)?;
        if !ct_eq(&expected, rcpt.value) {
            return Err(EckaError::BadReceipt);
        }
        Ok(EstablishedKeys {
            params: self.params,
            keys,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Card side (ECASD).

/// What the ECASD holds (SGP.02 §2.2.1.3): SK.ECASD.ECKA, CERT.ECASD.ECKA and PK.CI.ECDSA.
#[derive(Clone)]
pub struct EcasdCredentials {
    /// SK.ECASD.ECKA and its public key.
    pub key: KeyPair,
    /// CERT.ECASD.ECKA (signed by the EUM).
    pub certificate: Certificate,
    /// PK.CI.ECDSA, the trust anchor for off-card certificates.
    pub ci_public_key: PublicKey,
}

impl fmt::Debug for EcasdCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EcasdCredentials")
            .field("key", &self.key)
            .field("ci_public_key", &self.ci_public_key)
            .finish_non_exhaustive()
    }
}

/// Card side, waiting for message 1 (`3A01`).
#[derive(Debug)]
pub struct CardAwaitingCertificate {
    creds: EcasdCredentials,
    today: Option<Date>,
}

impl CardAwaitingCertificate {
    /// A new establishment on the card. `today`, if given, is checked against the certificate's
    /// validity (the card has no clock of its own; `None` skips the check).
    pub fn new(creds: &EcasdCredentials, today: Option<Date>) -> Self {
        CardAwaitingCertificate {
            creds: creds.clone(),
            today,
        }
    }

    /// Verifies the off-card certificate against PK.CI (type SM-DP or SM-SR) and answers
    /// `85 10 RC` with a fresh random challenge.
    pub fn handle(self, msg1: &[u8]) -> Result<(CardAwaitingKeyParameters, Vec<u8>), EckaError> {
        let rc = random16()?;
        self.handle_with_challenge(msg1, rc)
    }

    /// As [`Self::handle`] with the challenge given (tests, fuzzing).
    pub fn handle_with_challenge(
        self,
        msg1: &[u8],
        rc: [u8; RANDOM_LEN],
    ) -> Result<(CardAwaitingKeyParameters, Vec<u8>), EckaError> {
        let (tag, value) = ber::parse_fixed_tag(msg1, 2)?;
        if tag != Tag(u32::from(TAG_MESSAGE_1)) {
            return Err(EckaError::UnexpectedMessage {
                expected: TAG_MESSAGE_1,
                found: tag,
            });
        }
        let hdr = msg1.len() - value.len();
        let t = Reader::with_offset(value, hdr).read()?;
        if t.raw.len() != value.len() {
            return Err(DecodeError::new(
                hdr + t.raw.len(),
                DecodeErrorKind::TrailingBytes(value.len() - t.raw.len()),
            )
            .into());
        }
        let cert = Certificate::from_tlv(&t).map_err(EckaError::Certificate)?;
        cert.verify_full(
            &self.creds.ci_public_key,
            self.today,
            &[CertType::SmDp, CertType::SmSr],
        )
        .map_err(EckaError::Certificate)?;
        let off_card_type = cert.cert_type().unwrap_or(CertType::Other(0));
        Ok((
            CardAwaitingKeyParameters {
                creds: self.creds,
                off_card_key: cert.public_key().clone(),
                off_card_type,
                off_card_subject: cert.body().subject_id.clone(),
                rc,
            },
            ber::tlv(0x85u8, &rc),
        ))
    }
}

/// Card side, waiting for message 2 (`3A02`).
pub struct CardAwaitingKeyParameters {
    creds: EcasdCredentials,
    off_card_key: PublicKey,
    off_card_type: CertType,
    off_card_subject: Vec<u8>,
    rc: [u8; RANDOM_LEN],
}

impl fmt::Debug for CardAwaitingKeyParameters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardAwaitingKeyParameters")
            .field("off_card_type", &self.off_card_type)
            .finish_non_exhaustive()
    }
}

/// What the card has at the end: the STORE DATA response and the new keyset.
#[derive(Debug, Clone)]
pub struct CardKeysEstablished {
    /// Response data `[85 L DR] ‖ 86 10 receipt`.
    pub response: Vec<u8>,
    /// The keyset.
    pub keys: EstablishedKeys,
    /// Type of the off-card certificate (SM-DP for ISD-P keys, SM-SR for ISD-R keys).
    pub off_card_type: CertType,
    /// Subject identifier (`5F20`) of the off-card certificate.
    pub off_card_subject: Vec<u8>,
}

impl CardAwaitingKeyParameters {
    /// Verifies message 2, derives the keyset and answers with DR and the receipt.
    pub fn handle(self, msg2: &[u8]) -> Result<CardKeysEstablished, EckaError> {
        let dr = random16()?;
        self.handle_with_dr(msg2, dr)
    }

    /// As [`Self::handle`] with the derivation random given (used only if the CRT asks for it).
    pub fn handle_with_dr(
        self,
        msg2: &[u8],
        dr: [u8; RANDOM_LEN],
    ) -> Result<CardKeysEstablished, EckaError> {
        let m = Message2::parse(msg2)?;
        let signed = Message2::signed_data(m.raw_3a02, m.raw_epk, &self.rc);
        self.off_card_key
            .verify(&signed, m.signature)
            .map_err(|_| EckaError::BadSignature)?;
        let shs = self.creds.key.ecdh(&m.ephemeral_key);
        let dr = m.params.include_dr.then_some(&dr[..]);
        let (rk, keys) = derive(&shs, &m.params, dr);
        let rcpt = receipt(&rk, m.raw_crt, dr)?;
        let mut response = Vec::new();
        if let Some(dr) = dr {
            response.extend_from_slice(&ber::tlv(0x85u8, dr));
        }
        response.extend_from_slice(&ber::tlv(0x86u8, &rcpt));
        Ok(CardKeysEstablished {
            response,
            keys: EstablishedKeys {
                params: m.params,
                keys,
            },
            off_card_type: self.off_card_type,
            off_card_subject: self.off_card_subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NIST CAVS 12.0 ANSI X9.63 KDF SHA-256 vectors (ansx963_2001.rsp, COUNT = 0).
    #[test]
    fn x963_kdf_nist_vectors() {
        let h = |s: &str| esim_codec::hex::decode(s).unwrap();
        let out = x963_kdf_sha256(
            &h("96c05619d56c328ab95fe84b18264b08725b85e33fd34f08"),
            &[],
            16,
        );
        assert_eq!(*out, h("443024c3dae66b95e6f5670601558f71"));
        let out = x963_kdf_sha256(
            &h("22518b10e70f2a3f243810ae3254139efbee04aa57c7af7d"),
            &h("75eef81aa3041e33b80971203d2c0c52"),
            128,
        );
        assert_eq!(
            *out,
            h(
                "c498af77161cc59f2962b9a713e2b215152d139766ce34a776df11866a69bf2e\
               52a13d9c7c6fc878c50c5ea0bc7b00e0da2447cfd874f6cf92f30d0097111485\
               500c90c3af8b487872d04685d14c8d1dc8d7fa08beb0ce0ababc11f0bd496269\
               142d43525a78e5bc79a17f59676a5706dc54d54d4d1f0bd7e386128ec26afc21"
            )
        );
    }

    #[test]
    fn crt_round_trip_and_bytes() {
        let p = KeyParams::isd_p_scp03(0x30);
        let crt = p.to_crt();
        assert_eq!(
            esim_codec::hex::encode(&crt),
            "a6159002030a9501108001888101108201018301309100"
        );
        let back = KeyParams::from_crt(&ber::parse_one(&crt).unwrap()).unwrap();
        assert_eq!(back, p);
        let mut q = KeyParams::isd_r_scp81_psk(0x40);
        q.host_id = Some(vec![1, 2, 3]);
        let t = q.to_crt();
        assert_eq!(
            KeyParams::from_crt(&ber::parse_one(&t).unwrap()).unwrap(),
            q
        );
        assert_eq!(
            q.shared_info(Some(&[9, 9])),
            [0x5C, 0x85, 0x10, 9, 9, 3, 1, 2, 3]
        );
    }
}
