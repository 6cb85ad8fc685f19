//! Secure Channel Protocol '03' (GlobalPlatform Card Specification v2.3 Amendment D v1.2;
//! digest §5.5): static keysets and key check values, the SP 800-108 counter-mode CMAC KDF with
//! the Amendment D label layout, card/host cryptograms, the pseudo-random card challenge (i = `70`),
//! INITIALIZE UPDATE / EXTERNAL AUTHENTICATE, and C-MAC, C-DECRYPTION, R-MAC, R-ENCRYPTION.
//!
//! Both sides are state machines consumed by `handle`:
//!
//! * host (off-card entity): [`HostAwaitingInitUpdateResponse`] → [`HostAwaitingExtAuthResponse`]
//!   → [`HostSession`] (`wrap_cmd`, `unwrap_rsp`);
//! * card (security domain): [`CardIdle`] (the SD's key store and sequence counter) →
//!   [`CardAwaitingExtAuth`] → [`CardSession`] (`unwrap_cmd`, `wrap_rsp`).
//!
//! The message protection itself lives in [`SecureChannel`], which SCP03t
//! ([`crate::scp03t`]) shares: it only differs in what the MAC covers before the data (an APDU
//! header or a TLV tag and length).
//!
//! Failures are [`Scp03Error`]s; [`Scp03Error::status_word`] gives the status word a card
//! returns for them (GP CS v2.3 §11.1.3 and Amd D §7).

use crate::primitives::{
    CryptoError, SecretBytes, SecretKey, aes_cbc_decrypt, aes_cbc_encrypt, aes_cmac,
    aes_encrypt_block, ct_eq, fill_random, pad_80, unpad_80,
};
use zeroize::Zeroizing;

/// Status words used by SCP03 (GP CS v2.3 §11.1.3, Amd D §7.1.2/§7.2.2).
pub mod sw {
    /// Normal completion.
    pub const OK: u16 = 0x9000;
    /// Authentication of the host cryptogram failed (EXTERNAL AUTHENTICATE).
    pub const AUTHENTICATION_FAILED: u16 = 0x6300;
    /// Wrong length (Lc or data length).
    pub const WRONG_LENGTH: u16 = 0x6700;
    /// Security status not satisfied: a C-MAC did not verify, secure messaging missing.
    pub const SECURITY_STATUS_NOT_SATISFIED: u16 = 0x6982;
    /// Conditions of use not satisfied: command out of sequence.
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    /// Incorrect values in the command data.
    pub const WRONG_DATA: u16 = 0x6A80;
    /// Incorrect P1 P2.
    pub const INCORRECT_P1P2: u16 = 0x6A86;
    /// Referenced data (key version) not found.
    pub const REFERENCED_DATA_NOT_FOUND: u16 = 0x6A88;
    /// Instruction not supported.
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    /// Class not supported.
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
}

/// Data derivation constants (Amd D §4.1.5, Table 4-1).
pub mod derivation {
    /// Card cryptogram.
    pub const CARD_CRYPTOGRAM: u8 = 0x00;
    /// Host cryptogram.
    pub const HOST_CRYPTOGRAM: u8 = 0x01;
    /// Pseudo-random card challenge.
    pub const CARD_CHALLENGE: u8 = 0x02;
    /// S-ENC session key.
    pub const S_ENC: u8 = 0x04;
    /// S-MAC session key.
    pub const S_MAC: u8 = 0x06;
    /// S-RMAC session key.
    pub const S_RMAC: u8 = 0x07;
}

/// INS of INITIALIZE UPDATE.
pub const INS_INITIALIZE_UPDATE: u8 = 0x50;
/// INS of EXTERNAL AUTHENTICATE.
pub const INS_EXTERNAL_AUTHENTICATE: u8 = 0x82;
/// SCP identifier in the key information of the INITIALIZE UPDATE response.
pub const SCP_ID: u8 = 0x03;
/// The `i` parameter SGP.02 requires for the ISD-P (digest §5.5): pseudo-random card challenge,
/// R-MAC and R-ENC supported.
pub const I_PARAM_SGP02: u8 = 0x70;
/// `i` bit: pseudo-random card challenge (Amd D §5.1).
pub const I_PSEUDO_RANDOM_CHALLENGE: u8 = 0x10;
/// `i` bit: R-MAC supported.
pub const I_R_MAC: u8 = 0x20;
/// `i` bit: R-ENC supported.
pub const I_R_ENC: u8 = 0x40;

/// An SCP03 failure. The variants that a card reports map to a status word
/// ([`Scp03Error::status_word`]). Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Scp03Error {
    /// A cryptographic primitive failed (wrong key length, RNG failure).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The three static keys do not have the same length.
    #[error("static keys must have equal lengths (ENC {enc}, MAC {mac}, DEK {dek} bytes)")]
    MismatchedKeyLengths {
        /// Length of Key-ENC.
        enc: usize,
        /// Length of Key-MAC.
        mac: usize,
        /// Length of Key-DEK.
        dek: usize,
    },
    /// A command APDU that cannot be parsed (ISO/IEC 7816-3 §12.1, short form only).
    #[error("malformed APDU at byte {offset}: {reason}")]
    MalformedApdu {
        /// Offset of the offending byte.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A field of the wrong length.
    #[error("{what} must be {expected} bytes, got {got}")]
    WrongLength {
        /// The field.
        what: &'static str,
        /// Allowed lengths, as text.
        expected: &'static str,
        /// Length found.
        got: usize,
    },
    /// A command the current state does not accept.
    #[error("expected {expected}, got INS {ins:02X}")]
    UnexpectedCommand {
        /// What the state waits for.
        expected: &'static str,
        /// INS received.
        ins: u8,
    },
    /// An unsupported CLA (not an inter-industry or GP proprietary class).
    #[error("CLA {0:02X} not supported")]
    UnsupportedCla(u8),
    /// A security level that Amd D §5.1 does not allow, or the card's `i` does not support.
    #[error("security level {0:02X} not supported")]
    UnsupportedSecurityLevel(u8),
    /// The host asked for a key version the card does not hold.
    #[error("key version {requested:02X} not found (card holds {held:02X})")]
    UnknownKeyVersion {
        /// KVN in the command.
        requested: u8,
        /// KVN of the card's keyset.
        held: u8,
    },
    /// The INITIALIZE UPDATE response names another secure channel protocol.
    #[error("INITIALIZE UPDATE response is for SCP{0:02X}, not SCP03")]
    NotScp03(u8),
    /// The card cryptogram did not verify (Amd D §6.2.2.2): the card does not hold the keys.
    #[error("card cryptogram mismatch")]
    CardCryptogram,
    /// The pseudo-random card challenge is not the one derived from the sequence counter and AID.
    #[error("card challenge does not match the sequence counter and AID")]
    CardChallenge,
    /// The host cryptogram did not verify (Amd D §6.2.2.3).
    #[error("host cryptogram mismatch")]
    HostCryptogram,
    /// A command's C-MAC did not verify.
    #[error("C-MAC verification failed")]
    CommandMac,
    /// A response's R-MAC did not verify.
    #[error("R-MAC verification failed")]
    ResponseMac,
    /// Deciphered data without valid `80 00…` padding.
    #[error("{0} has invalid padding after deciphering")]
    Padding(&'static str),
    /// A command without the secure messaging the session's security level requires.
    #[error("command lacks the secure messaging indication in CLA {0:02X}")]
    MissingSecureMessaging(u8),
    /// Wrapped data would not fit a short APDU.
    #[error("wrapped data of {0} bytes exceeds 255")]
    DataTooLong(usize),
    /// The card answered with an error status word.
    #[error("card returned status {0:04X}")]
    CardStatus(u16),
    /// The 24-bit sequence counter reached its maximum; the keyset must be replaced.
    #[error("sequence counter exhausted")]
    SequenceCounterExhausted,
}

impl Scp03Error {
    /// The status word a card returns for this failure (GP CS v2.3 §11.1.3).
    pub fn status_word(&self) -> u16 {
        match self {
            Scp03Error::HostCryptogram => sw::AUTHENTICATION_FAILED,
            Scp03Error::CommandMac
            | Scp03Error::ResponseMac
            | Scp03Error::Padding(_)
            | Scp03Error::MissingSecureMessaging(_)
            | Scp03Error::CardCryptogram
            | Scp03Error::CardChallenge => sw::SECURITY_STATUS_NOT_SATISFIED,
            Scp03Error::MalformedApdu { .. }
            | Scp03Error::WrongLength { .. }
            | Scp03Error::DataTooLong(_) => sw::WRONG_LENGTH,
            Scp03Error::UnexpectedCommand { .. } | Scp03Error::SequenceCounterExhausted => {
                sw::CONDITIONS_NOT_SATISFIED
            }
            Scp03Error::UnsupportedCla(_) => sw::CLA_NOT_SUPPORTED,
            Scp03Error::UnsupportedSecurityLevel(_) => sw::INCORRECT_P1P2,
            Scp03Error::UnknownKeyVersion { .. } => sw::REFERENCED_DATA_NOT_FOUND,
            Scp03Error::NotScp03(_) => sw::WRONG_DATA,
            Scp03Error::CardStatus(s) => *s,
            Scp03Error::Crypto(_) | Scp03Error::MismatchedKeyLengths { .. } => 0x6F00,
        }
    }
}

type Result<T> = std::result::Result<T, Scp03Error>;

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// An SCP03 static keyset (Amd D §6.1): Key-ENC, Key-MAC, Key-DEK of one AES length, and the key
/// version number. SGP.02 ISD-P keysets come from ECKA key establishment (digest §3.2), which
/// yields one base key: use [`StaticKeys::from_base_key`] for that.
#[derive(Clone, Debug)]
pub struct StaticKeys {
    kvn: u8,
    enc: SecretKey,
    mac: SecretKey,
    dek: SecretKey,
}

impl StaticKeys {
    /// A keyset; the three keys must be 16, 24 or 32 bytes and of equal length.
    pub fn new(kvn: u8, enc: SecretKey, mac: SecretKey, dek: SecretKey) -> Result<Self> {
        if !matches!(enc.len(), 16 | 24 | 32) {
            return Err(CryptoError::KeyLength {
                alg: "SCP03",
                expected: "16, 24 or 32",
                got: enc.len(),
            }
            .into());
        }
        if enc.len() != mac.len() || enc.len() != dek.len() {
            return Err(Scp03Error::MismatchedKeyLengths {
                enc: enc.len(),
                mac: mac.len(),
                dek: dek.len(),
            });
        }
        Ok(StaticKeys { kvn, enc, mac, dek })
    }

    /// A keyset whose ENC, MAC and DEK are the same base key, as NJ derives the ISD-P keyset from
    /// the ECKA key agreement with key usage `5C` (digest §3.2).
    pub fn from_base_key(kvn: u8, base: SecretKey) -> Result<Self> {
        Self::new(kvn, base.clone(), base.clone(), base)
    }

    /// Key version number.
    pub fn kvn(&self) -> u8 {
        self.kvn
    }

    /// Key length in bytes (16, 24 or 32).
    pub fn key_len(&self) -> usize {
        self.enc.len()
    }

    /// Key-ENC.
    pub fn enc(&self) -> &SecretKey {
        &self.enc
    }

    /// Key-MAC.
    pub fn mac(&self) -> &SecretKey {
        &self.mac
    }

    /// Key-DEK.
    pub fn dek(&self) -> &SecretKey {
        &self.dek
    }
}

/// AES key check value (Amd D §6.1 / GP CS §11.8.2.3.2): the first 3 bytes of AES-ECB(key, 16×`01`).
pub fn key_check_value(key: &[u8]) -> std::result::Result<[u8; 3], CryptoError> {
    let c = aes_encrypt_block(key, &[0x01; 16])?;
    Ok([c[0], c[1], c[2]])
}

/// The SP 800-108 counter-mode KDF with AES-CMAC as PRF and the Amd D §4.1.5 input layout:
/// `label (11×00 ‖ constant) ‖ 00 ‖ L (2 bytes, bits) ‖ i (1 byte) ‖ context`, with the output
/// of `out_bits / 8` bytes taken from as many CMAC blocks (i = 1, 2, …) as needed.
pub fn kdf(
    key: &[u8],
    constant: u8,
    out_bits: u16,
    context: &[u8],
) -> std::result::Result<SecretBytes, CryptoError> {
    let out_len = usize::from(out_bits / 8);
    let blocks = out_len.div_ceil(16);
    let mut out = Zeroizing::new(Vec::with_capacity(blocks * 16));
    let mut input = Vec::with_capacity(16 + context.len());
    for i in 1..=blocks {
        input.clear();
        input.extend_from_slice(&[0u8; 11]);
        input.push(constant);
        input.push(0x00);
        input.extend_from_slice(&out_bits.to_be_bytes());
        input.push(i as u8);
        input.extend_from_slice(context);
        let block = aes_cmac(key, &input)?;
        out.extend_from_slice(&block);
    }
    out.truncate(out_len);
    Ok(out)
}

fn kdf8(key: &[u8], constant: u8, context: &[u8]) -> std::result::Result<[u8; 8], CryptoError> {
    let v = kdf(key, constant, 64, context)?;
    let mut out = [0u8; 8];
    out.copy_from_slice(&v[..8]);
    Ok(out)
}

fn context(host_challenge: &[u8; 8], card_challenge: &[u8; 8]) -> [u8; 16] {
    let mut c = [0u8; 16];
    c[..8].copy_from_slice(host_challenge);
    c[8..].copy_from_slice(card_challenge);
    c
}

/// The pseudo-random card challenge (Amd D §6.2.2.1, i = `x1xxxx` with bit `10`):
/// `KDF(Key-ENC, 02, 64 bits, sequence counter (3 bytes) ‖ AID of the security domain)`.
pub fn pseudo_random_card_challenge(
    key_enc: &SecretKey,
    sequence_counter: u32,
    sd_aid: &[u8],
) -> std::result::Result<[u8; 8], CryptoError> {
    let mut ctx = Vec::with_capacity(3 + sd_aid.len());
    ctx.extend_from_slice(&sequence_counter.to_be_bytes()[1..]);
    ctx.extend_from_slice(sd_aid);
    kdf8(key_enc.expose(), derivation::CARD_CHALLENGE, &ctx)
}

/// SCP03 session keys (Amd D §6.2.1): S-ENC from Key-ENC, S-MAC and S-RMAC from Key-MAC, each
/// `KDF(key, constant, key length, host challenge ‖ card challenge)`.
#[derive(Clone, Debug)]
pub struct SessionKeys {
    /// Session encryption key (C-DECRYPTION, R-ENCRYPTION).
    pub s_enc: SecretKey,
    /// Session C-MAC key.
    pub s_mac: SecretKey,
    /// Session R-MAC key.
    pub s_rmac: SecretKey,
}

impl SessionKeys {
    /// Session keys given directly (e.g. from the command line or an SCP03t key replacement).
    pub fn new(s_enc: SecretKey, s_mac: SecretKey, s_rmac: SecretKey) -> Result<Self> {
        for k in [&s_enc, &s_mac, &s_rmac] {
            if !matches!(k.len(), 16 | 24 | 32) {
                return Err(CryptoError::KeyLength {
                    alg: "SCP03 session",
                    expected: "16, 24 or 32",
                    got: k.len(),
                }
                .into());
            }
        }
        Ok(SessionKeys {
            s_enc,
            s_mac,
            s_rmac,
        })
    }

    /// Derives the session keys from the static keys and both challenges.
    pub fn derive(
        keys: &StaticKeys,
        host_challenge: &[u8; 8],
        card_challenge: &[u8; 8],
    ) -> Result<Self> {
        let ctx = context(host_challenge, card_challenge);
        let bits = (keys.key_len() * 8) as u16;
        let s_enc = kdf(keys.enc.expose(), derivation::S_ENC, bits, &ctx)?;
        let s_mac = kdf(keys.mac.expose(), derivation::S_MAC, bits, &ctx)?;
        let s_rmac = kdf(keys.mac.expose(), derivation::S_RMAC, bits, &ctx)?;
        Ok(SessionKeys {
            s_enc: SecretKey::new(&s_enc),
            s_mac: SecretKey::new(&s_mac),
            s_rmac: SecretKey::new(&s_rmac),
        })
    }

    /// Card cryptogram (Amd D §6.2.2.2): `KDF(S-MAC, 00, 64, host challenge ‖ card challenge)`.
    pub fn card_cryptogram(
        &self,
        host_challenge: &[u8; 8],
        card_challenge: &[u8; 8],
    ) -> Result<[u8; 8]> {
        Ok(kdf8(
            self.s_mac.expose(),
            derivation::CARD_CRYPTOGRAM,
            &context(host_challenge, card_challenge),
        )?)
    }

    /// Host cryptogram (Amd D §6.2.2.3): `KDF(S-MAC, 01, 64, host challenge ‖ card challenge)`.
    pub fn host_cryptogram(
        &self,
        host_challenge: &[u8; 8],
        card_challenge: &[u8; 8],
    ) -> Result<[u8; 8]> {
        Ok(kdf8(
            self.s_mac.expose(),
            derivation::HOST_CRYPTOGRAM,
            &context(host_challenge, card_challenge),
        )?)
    }
}

/// Security level of a session (Amd D §5.1, the P1 of EXTERNAL AUTHENTICATE).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecurityLevel(u8);

impl SecurityLevel {
    /// Bit `01`: C-MAC.
    pub const C_MAC: u8 = 0x01;
    /// Bit `02`: C-DECRYPTION.
    pub const C_DECRYPTION: u8 = 0x02;
    /// Bit `10`: R-MAC.
    pub const R_MAC: u8 = 0x10;
    /// Bit `20`: R-ENCRYPTION.
    pub const R_ENCRYPTION: u8 = 0x20;
    /// `33`: everything, as SGP.02 requires for SCP03t (digest §5.5).
    pub const FULL: SecurityLevel = SecurityLevel(0x33);

    /// Checks a level: one of `00 01 03 11 13 33` (C-DEC needs C-MAC, R-ENC needs R-MAC and C-DEC).
    pub fn new(level: u8) -> Result<Self> {
        match level {
            0x00 | 0x01 | 0x03 | 0x11 | 0x13 | 0x33 => Ok(SecurityLevel(level)),
            other => Err(Scp03Error::UnsupportedSecurityLevel(other)),
        }
    }

    /// The byte.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Commands carry a C-MAC.
    pub fn c_mac(self) -> bool {
        self.0 & Self::C_MAC != 0
    }

    /// Command data is enciphered.
    pub fn c_decryption(self) -> bool {
        self.0 & Self::C_DECRYPTION != 0
    }

    /// Responses carry an R-MAC.
    pub fn r_mac(self) -> bool {
        self.0 & Self::R_MAC != 0
    }

    /// Response data is enciphered.
    pub fn r_encryption(self) -> bool {
        self.0 & Self::R_ENCRYPTION != 0
    }

    fn supported_by(self, i: u8) -> bool {
        (!self.r_mac() || i & I_R_MAC != 0) && (!self.r_encryption() || i & I_R_ENC != 0)
    }
}

// ---------------------------------------------------------------------------------------------
// APDUs
// ---------------------------------------------------------------------------------------------

/// A short command APDU (ISO/IEC 7816-3 §12.1 cases 1–4), parsed minimally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandApdu {
    /// Class byte.
    pub cla: u8,
    /// Instruction.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (empty for cases 1 and 2).
    pub data: Vec<u8>,
    /// Le, if present (cases 2 and 4).
    pub le: Option<u8>,
}

impl CommandApdu {
    /// Parses `CLA INS P1 P2 [Lc data] [Le]`. Extended lengths are not accepted.
    pub fn parse(apdu: &[u8]) -> Result<Self> {
        let [cla, ins, p1, p2, rest @ ..] = apdu else {
            return Err(Scp03Error::MalformedApdu {
                offset: apdu.len(),
                reason: "shorter than the 4-byte header",
            });
        };
        let (data, le) = match rest {
            [] => (Vec::new(), None),
            [le] => (Vec::new(), Some(*le)),
            [0, ..] => {
                return Err(Scp03Error::MalformedApdu {
                    offset: 4,
                    reason: "extended length APDUs are not supported",
                });
            }
            [lc, body @ ..] => {
                let lc = usize::from(*lc);
                match body.len().checked_sub(lc) {
                    Some(0) => (body.to_vec(), None),
                    Some(1) => (body[..lc].to_vec(), body.get(lc).copied()),
                    _ => {
                        return Err(Scp03Error::MalformedApdu {
                            offset: 4,
                            reason: "Lc does not match the data length",
                        });
                    }
                }
            }
        };
        Ok(CommandApdu {
            cla: *cla,
            ins: *ins,
            p1: *p1,
            p2: *p2,
            data,
            le,
        })
    }

    /// Encodes the APDU (short form).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        if self.data.len() > 255 {
            return Err(Scp03Error::DataTooLong(self.data.len()));
        }
        let mut out = vec![self.cla, self.ins, self.p1, self.p2];
        if !self.data.is_empty() {
            out.push(self.data.len() as u8);
            out.extend_from_slice(&self.data);
        }
        if let Some(le) = self.le {
            out.push(le);
        }
        Ok(out)
    }
}

/// Whether a status word lets the card protect the response: `9000`, `62xx` and `63xx`
/// (Amd D §6.2.5: error responses carry no R-MAC and no enciphered data).
pub fn response_is_protected(sw: u16) -> bool {
    sw == sw::OK || matches!(sw >> 8, 0x62 | 0x63)
}

/// The CLA with the secure-messaging indication (GP CS §11.1.4): bit `04` for the first four
/// logical channels, bit `20` for the further ones.
fn secure_cla(cla: u8) -> Result<u8> {
    match cla & 0xC0 {
        0x80 | 0x00 => Ok(cla | 0x04),
        0xC0 | 0x40 => Ok(cla | 0x20),
        _ => Err(Scp03Error::UnsupportedCla(cla)),
    }
}

fn has_secure_messaging(cla: u8) -> bool {
    if cla & 0x40 != 0 {
        cla & 0x20 != 0
    } else {
        cla & 0x04 != 0
    }
}

fn plain_cla(cla: u8) -> u8 {
    if cla & 0x40 != 0 {
        cla & !0x20
    } else {
        cla & !0x04
    }
}

/// INITIALIZE UPDATE (GP CS §11.8, Amd D §7.1): `80 50 KVN KID 08 host-challenge 00`.
pub fn initialize_update_command(kvn: u8, kid: u8, host_challenge: &[u8; 8]) -> Vec<u8> {
    let mut v = vec![0x80, INS_INITIALIZE_UPDATE, kvn, kid, 0x08];
    v.extend_from_slice(host_challenge);
    v.push(0x00);
    v
}

/// A parsed INITIALIZE UPDATE command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitUpdateCommand {
    /// Key version number (P1; `00` = the first available).
    pub kvn: u8,
    /// Key identifier (P2).
    pub kid: u8,
    /// Host challenge.
    pub host_challenge: [u8; 8],
}

impl InitUpdateCommand {
    /// Parses and checks an INITIALIZE UPDATE APDU.
    pub fn parse(apdu: &[u8]) -> Result<Self> {
        let c = CommandApdu::parse(apdu)?;
        if c.ins != INS_INITIALIZE_UPDATE {
            return Err(Scp03Error::UnexpectedCommand {
                expected: "INITIALIZE UPDATE",
                ins: c.ins,
            });
        }
        if c.cla & 0x80 == 0 {
            return Err(Scp03Error::UnsupportedCla(c.cla));
        }
        let host_challenge: [u8; 8] =
            c.data
                .as_slice()
                .try_into()
                .map_err(|_| Scp03Error::WrongLength {
                    what: "host challenge",
                    expected: "8",
                    got: c.data.len(),
                })?;
        Ok(InitUpdateCommand {
            kvn: c.p1,
            kid: c.p2,
            host_challenge,
        })
    }
}

/// The INITIALIZE UPDATE response data (Amd D §7.1.2, Table 7-3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitUpdateResponse {
    /// Key diversification data (10 bytes).
    pub key_diversification_data: [u8; 10],
    /// Key information: key version number.
    pub kvn: u8,
    /// Key information: SCP identifier (`03`).
    pub scp_id: u8,
    /// Key information: the `i` parameter.
    pub i: u8,
    /// Card challenge.
    pub card_challenge: [u8; 8],
    /// Card cryptogram.
    pub card_cryptogram: [u8; 8],
    /// Sequence counter (3 bytes), present when the card challenge is pseudo-random.
    pub sequence_counter: Option<[u8; 3]>,
}

impl InitUpdateResponse {
    /// Parses the 29-byte (random challenge) or 32-byte (pseudo-random) response data.
    pub fn parse(data: &[u8]) -> Result<Self> {
        if data.len() != 29 && data.len() != 32 {
            return Err(Scp03Error::WrongLength {
                what: "INITIALIZE UPDATE response",
                expected: "29 or 32",
                got: data.len(),
            });
        }
        let mut key_diversification_data = [0u8; 10];
        key_diversification_data.copy_from_slice(&data[..10]);
        let (kvn, scp_id, i) = (data[10], data[11], data[12]);
        if scp_id != SCP_ID {
            return Err(Scp03Error::NotScp03(scp_id));
        }
        let mut card_challenge = [0u8; 8];
        card_challenge.copy_from_slice(&data[13..21]);
        let mut card_cryptogram = [0u8; 8];
        card_cryptogram.copy_from_slice(&data[21..29]);
        let sequence_counter = match (data.get(29..32), i & I_PSEUDO_RANDOM_CHALLENGE != 0) {
            (Some(s), true) => Some([s[0], s[1], s[2]]),
            (None, false) => None,
            _ => {
                return Err(Scp03Error::WrongLength {
                    what: "INITIALIZE UPDATE response for this i parameter",
                    expected: "32 with a pseudo-random challenge, 29 otherwise",
                    got: data.len(),
                });
            }
        };
        Ok(InitUpdateResponse {
            key_diversification_data,
            kvn,
            scp_id,
            i,
            card_challenge,
            card_cryptogram,
            sequence_counter,
        })
    }

    /// Encodes the response data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(32);
        v.extend_from_slice(&self.key_diversification_data);
        v.extend_from_slice(&[self.kvn, self.scp_id, self.i]);
        v.extend_from_slice(&self.card_challenge);
        v.extend_from_slice(&self.card_cryptogram);
        if let Some(s) = self.sequence_counter {
            v.extend_from_slice(&s);
        }
        v
    }

    /// Key information: KVN ‖ SCP id ‖ i.
    pub fn key_info(&self) -> [u8; 3] {
        [self.kvn, self.scp_id, self.i]
    }

    /// The sequence counter as a number.
    pub fn sequence_counter_value(&self) -> Option<u32> {
        self.sequence_counter
            .map(|s| u32::from_be_bytes([0, s[0], s[1], s[2]]))
    }
}

// ---------------------------------------------------------------------------------------------
// Message protection
// ---------------------------------------------------------------------------------------------

/// The protection state of an open session (Amd D §6.2.3–§6.2.7): session keys, security level,
/// the 16-byte MAC chaining value and the encryption counter. Shared by the APDU form (this
/// module) and SCP03t, which differ only in the bytes the MAC covers ahead of the data.
///
/// The counter is the value used by the most recent command: it is 0 after EXTERNAL
/// AUTHENTICATE and incremented before each further command, whether or not it has data.
#[derive(Clone, Debug)]
pub struct SecureChannel {
    keys: SessionKeys,
    level: SecurityLevel,
    mac_chaining_value: [u8; 16],
    encryption_counter: u128,
}

impl SecureChannel {
    /// A channel in a known state (for stepping a session by hand, or resuming one).
    pub fn new(
        keys: SessionKeys,
        level: SecurityLevel,
        mac_chaining_value: [u8; 16],
        encryption_counter: u128,
    ) -> Self {
        SecureChannel {
            keys,
            level,
            mac_chaining_value,
            encryption_counter,
        }
    }

    /// The session keys.
    pub fn keys(&self) -> &SessionKeys {
        &self.keys
    }

    /// The security level.
    pub fn level(&self) -> SecurityLevel {
        self.level
    }

    /// The current MAC chaining value.
    pub fn mac_chaining_value(&self) -> [u8; 16] {
        self.mac_chaining_value
    }

    /// The encryption counter of the most recent command.
    pub fn encryption_counter(&self) -> u128 {
        self.encryption_counter
    }

    pub(crate) fn set_level(&mut self, level: SecurityLevel) {
        self.level = level;
    }

    pub(crate) fn replace_keys(&mut self, keys: SessionKeys, mac_chaining_value: [u8; 16]) {
        self.keys = keys;
        self.mac_chaining_value = mac_chaining_value;
        self.encryption_counter = 0;
    }

    /// ICV for command data: `AES(S-ENC, counter)` (Amd D §6.2.6).
    fn command_icv(&self) -> Result<[u8; 16]> {
        Ok(aes_encrypt_block(
            self.keys.s_enc.expose(),
            &self.encryption_counter.to_be_bytes(),
        )?)
    }

    /// ICV for response data: `AES(S-ENC, 80 ‖ counter[1..])` (Amd D §6.2.7).
    fn response_icv(&self) -> Result<[u8; 16]> {
        let mut block = self.encryption_counter.to_be_bytes();
        block[0] = 0x80;
        Ok(aes_encrypt_block(self.keys.s_enc.expose(), &block)?)
    }

    fn cmac_chained(&self, key: &SecretKey, parts: &[&[u8]]) -> Result<[u8; 16]> {
        let mut input = Vec::with_capacity(16 + parts.iter().map(|p| p.len()).sum::<usize>());
        input.extend_from_slice(&self.mac_chaining_value);
        for p in parts {
            input.extend_from_slice(p);
        }
        Ok(aes_cmac(key.expose(), &input)?)
    }

    /// Computes the C-MAC over `chaining value ‖ header ‖ data`, makes the full CMAC the new
    /// chaining value and returns its first 8 bytes (Amd D §6.2.4).
    pub(crate) fn c_mac(&mut self, header: &[u8], data: &[u8]) -> Result<[u8; 8]> {
        let full = self.cmac_chained(&self.keys.s_mac, &[header, data])?;
        self.mac_chaining_value = full;
        let mut m = [0u8; 8];
        m.copy_from_slice(&full[..8]);
        Ok(m)
    }

    /// Verifies a C-MAC; the chaining value is only updated when it verifies.
    pub(crate) fn verify_c_mac(&mut self, header: &[u8], data: &[u8], mac: &[u8]) -> Result<()> {
        let full = self.cmac_chained(&self.keys.s_mac, &[header, data])?;
        if mac.len() != 8 || !ct_eq(&full[..8], mac) {
            return Err(Scp03Error::CommandMac);
        }
        self.mac_chaining_value = full;
        Ok(())
    }

    fn next_counter(&mut self) -> Result<()> {
        self.encryption_counter = self
            .encryption_counter
            .checked_add(1)
            .ok_or(Scp03Error::SequenceCounterExhausted)?;
        Ok(())
    }

    /// Protects one command: counter += 1, C-DECRYPTION of non-empty data (pad `80 00…`,
    /// AES-CBC with the counter ICV) if the level asks for it, then the C-MAC over
    /// `header(len(data') + 8) ‖ data'`. Returns `data' ‖ C-MAC` (or `data` unchanged at level 00).
    pub(crate) fn protect_command(
        &mut self,
        header: impl Fn(usize) -> Result<Vec<u8>>,
        data: &[u8],
    ) -> Result<Vec<u8>> {
        self.next_counter()?;
        if !self.level.c_mac() {
            return Ok(data.to_vec());
        }
        let mut body = if self.level.c_decryption() && !data.is_empty() {
            let mut padded = Zeroizing::new(data.to_vec());
            pad_80(&mut padded, 16);
            aes_cbc_encrypt(self.keys.s_enc.expose(), &self.command_icv()?, &padded)?
        } else {
            data.to_vec()
        };
        let h = header(body.len() + 8)?;
        let mac = self.c_mac(&h, &body)?;
        body.extend_from_slice(&mac);
        Ok(body)
    }

    /// Checks one protected command: `header` is what the MAC covers ahead of the data as
    /// received, `body` is `data' ‖ C-MAC`. Verifies the C-MAC, counter += 1, deciphers.
    pub(crate) fn verify_command(&mut self, header: &[u8], body: &[u8]) -> Result<Vec<u8>> {
        if !self.level.c_mac() {
            self.next_counter()?;
            return Ok(body.to_vec());
        }
        let Some(split) = body.len().checked_sub(8) else {
            return Err(Scp03Error::WrongLength {
                what: "MACed command data",
                expected: "at least 8",
                got: body.len(),
            });
        };
        let (data, mac) = body.split_at(split);
        self.verify_c_mac(header, data, mac)?;
        self.next_counter()?;
        if self.level.c_decryption() && !data.is_empty() {
            if data.len() % 16 != 0 {
                return Err(Scp03Error::Padding("command data"));
            }
            let plain = Zeroizing::new(aes_cbc_decrypt(
                self.keys.s_enc.expose(),
                &self.command_icv()?,
                data,
            )?);
            let unpadded = unpad_80(&plain)
                .filter(|u| plain.len() - u.len() <= 16)
                .ok_or(Scp03Error::Padding("command data"))?;
            Ok(unpadded.to_vec())
        } else {
            Ok(data.to_vec())
        }
    }

    /// Protects response data: R-ENCRYPTION of non-empty data if the level asks, then the R-MAC
    /// over `chaining value ‖ prefix(len(data') + 8) ‖ data' ‖ suffix` with S-RMAC (Amd D §6.2.5,
    /// §6.2.7). The chaining value is the one of the command being answered and is not changed.
    pub(crate) fn protect_response(
        &self,
        prefix: impl Fn(usize) -> Vec<u8>,
        data: &[u8],
        suffix: &[u8],
    ) -> Result<Vec<u8>> {
        let mut body = if self.level.r_encryption() && !data.is_empty() {
            let mut padded = Zeroizing::new(data.to_vec());
            pad_80(&mut padded, 16);
            aes_cbc_encrypt(self.keys.s_enc.expose(), &self.response_icv()?, &padded)?
        } else {
            data.to_vec()
        };
        if self.level.r_mac() {
            let p = prefix(body.len() + 8);
            let full = self.cmac_chained(&self.keys.s_rmac, &[&p, &body, suffix])?;
            body.extend_from_slice(&full[..8]);
        }
        Ok(body)
    }

    /// Checks protected response data (`data' ‖ R-MAC`) and returns the plain data.
    pub(crate) fn verify_response(
        &self,
        prefix: &[u8],
        body: &[u8],
        suffix: &[u8],
    ) -> Result<Vec<u8>> {
        let data = if self.level.r_mac() {
            let Some(split) = body.len().checked_sub(8) else {
                return Err(Scp03Error::WrongLength {
                    what: "R-MACed response data",
                    expected: "at least 8",
                    got: body.len(),
                });
            };
            let (data, mac) = body.split_at(split);
            let full = self.cmac_chained(&self.keys.s_rmac, &[prefix, data, suffix])?;
            if !ct_eq(&full[..8], mac) {
                return Err(Scp03Error::ResponseMac);
            }
            data
        } else {
            body
        };
        if self.level.r_encryption() && !data.is_empty() {
            if data.len() % 16 != 0 {
                return Err(Scp03Error::Padding("response data"));
            }
            let plain = aes_cbc_decrypt(self.keys.s_enc.expose(), &self.response_icv()?, data)?;
            let unpadded = unpad_80(&plain)
                .filter(|u| plain.len() - u.len() <= 16)
                .ok_or(Scp03Error::Padding("response data"))?;
            Ok(unpadded.to_vec())
        } else {
            Ok(data.to_vec())
        }
    }

    /// Wraps a plain command APDU (Amd D §6.2.4, §6.2.6): CLA gets the secure-messaging bit, the
    /// data is enciphered (C-DECRYPTION) and the C-MAC appended; Lc grows; Le is kept.
    pub fn wrap_command(&mut self, apdu: &[u8]) -> Result<Vec<u8>> {
        let c = CommandApdu::parse(apdu)?;
        if !self.level.c_mac() {
            self.next_counter()?;
            return c.to_bytes();
        }
        let cla = secure_cla(c.cla)?;
        let (ins, p1, p2) = (c.ins, c.p1, c.p2);
        let body = self.protect_command(
            |lc| {
                let lc = u8::try_from(lc).map_err(|_| Scp03Error::DataTooLong(lc))?;
                Ok(vec![cla, ins, p1, p2, lc])
            },
            &c.data,
        )?;
        CommandApdu {
            cla,
            ins,
            p1,
            p2,
            data: body,
            le: c.le,
        }
        .to_bytes()
    }

    /// Unwraps a protected command APDU (card side): checks the secure-messaging CLA and the
    /// C-MAC, deciphers, and returns the plain APDU (CLA without the bit, Lc of the plain data).
    pub fn unwrap_command(&mut self, apdu: &[u8]) -> Result<Vec<u8>> {
        let c = CommandApdu::parse(apdu)?;
        if !self.level.c_mac() {
            self.next_counter()?;
            return c.to_bytes();
        }
        if !has_secure_messaging(c.cla) {
            return Err(Scp03Error::MissingSecureMessaging(c.cla));
        }
        let lc = c.data.len() as u8;
        let header = [c.cla, c.ins, c.p1, c.p2, lc];
        let data = self.verify_command(&header, &c.data)?;
        CommandApdu {
            cla: plain_cla(c.cla),
            data,
            ..c
        }
        .to_bytes()
    }

    /// Wraps response data for status `sw` (card side; Amd D §6.2.5, §6.2.7): R-ENC then R-MAC
    /// over `chaining value ‖ data' ‖ SW`. Error statuses are returned without protection.
    pub fn wrap_response(&self, data: &[u8], sw: u16) -> Result<Vec<u8>> {
        if !response_is_protected(sw) {
            return Ok(Vec::new());
        }
        self.protect_response(|_| Vec::new(), data, &sw.to_be_bytes())
    }

    /// Unwraps response data for status `sw` (host side): checks the R-MAC, deciphers.
    pub fn unwrap_response(&self, data: &[u8], sw: u16) -> Result<Vec<u8>> {
        if !response_is_protected(sw) {
            return Ok(data.to_vec());
        }
        self.verify_response(&[], data, &sw.to_be_bytes())
    }
}

/// Header of a wrapped EXTERNAL AUTHENTICATE: `84 82 level 00 10`.
fn ext_auth_header(cla: u8, level: SecurityLevel) -> [u8; 5] {
    [cla, INS_EXTERNAL_AUTHENTICATE, level.bits(), 0x00, 0x10]
}

// ---------------------------------------------------------------------------------------------
// Host (off-card entity)
// ---------------------------------------------------------------------------------------------

/// Host waiting for the INITIALIZE UPDATE response.
#[derive(Debug)]
pub struct HostAwaitingInitUpdateResponse {
    keys: StaticKeys,
    host_challenge: [u8; 8],
    level: SecurityLevel,
    sd_aid: Option<Vec<u8>>,
}

impl HostAwaitingInitUpdateResponse {
    /// Starts a session with `host_challenge`; returns the state and the INITIALIZE UPDATE APDU
    /// (`80 50 KVN 00 08 challenge 00`).
    pub fn start(
        keys: StaticKeys,
        host_challenge: [u8; 8],
        level: SecurityLevel,
    ) -> (Self, Vec<u8>) {
        let apdu = initialize_update_command(keys.kvn, 0x00, &host_challenge);
        (
            HostAwaitingInitUpdateResponse {
                keys,
                host_challenge,
                level,
                sd_aid: None,
            },
            apdu,
        )
    }

    /// Like [`Self::start`] with a random host challenge.
    pub fn start_random(keys: StaticKeys, level: SecurityLevel) -> Result<(Self, Vec<u8>)> {
        let mut hc = [0u8; 8];
        fill_random(&mut hc)?;
        Ok(Self::start(keys, hc, level))
    }

    /// Also checks a pseudo-random card challenge against the security domain's AID.
    pub fn expect_sd_aid(mut self, sd_aid: &[u8]) -> Self {
        self.sd_aid = Some(sd_aid.to_vec());
        self
    }

    /// The host challenge.
    pub fn host_challenge(&self) -> [u8; 8] {
        self.host_challenge
    }

    /// Handles the INITIALIZE UPDATE response: verifies the card cryptogram (and the card
    /// challenge if an AID was given), derives the session keys and returns the wrapped
    /// EXTERNAL AUTHENTICATE APDU (C-MAC only, from a zero chaining value; Amd D §7.2).
    pub fn handle(
        self,
        response_data: &[u8],
        sw: u16,
    ) -> Result<(HostAwaitingExtAuthResponse, Vec<u8>)> {
        if sw != sw::OK {
            return Err(Scp03Error::CardStatus(sw));
        }
        let HostAuthenticated {
            mut channel,
            response,
            host_cryptogram,
        } = self.authenticate(response_data)?;
        let cla = secure_cla(0x80)?;
        let mac = channel.c_mac(&ext_auth_header(cla, channel.level()), &host_cryptogram)?;
        let mut apdu = ext_auth_header(cla, channel.level()).to_vec();
        apdu.extend_from_slice(&host_cryptogram);
        apdu.extend_from_slice(&mac);
        Ok((
            HostAwaitingExtAuthResponse {
                channel,
                response,
                host_cryptogram,
            },
            apdu,
        ))
    }

    /// Shared with SCP03t: parse, verify, derive. Returns the channel (zero chaining value,
    /// counter 0) and the host cryptogram.
    pub(crate) fn authenticate(self, response_data: &[u8]) -> Result<HostAuthenticated> {
        let response = InitUpdateResponse::parse(response_data)?;
        if !self.level.supported_by(response.i) {
            return Err(Scp03Error::UnsupportedSecurityLevel(self.level.bits()));
        }
        if let (Some(aid), Some(counter)) = (&self.sd_aid, response.sequence_counter_value()) {
            let expected = pseudo_random_card_challenge(&self.keys.enc, counter, aid)?;
            if !ct_eq(&expected, &response.card_challenge) {
                return Err(Scp03Error::CardChallenge);
            }
        }
        let keys = SessionKeys::derive(&self.keys, &self.host_challenge, &response.card_challenge)?;
        let expected = keys.card_cryptogram(&self.host_challenge, &response.card_challenge)?;
        if !ct_eq(&expected, &response.card_cryptogram) {
            return Err(Scp03Error::CardCryptogram);
        }
        let host_cryptogram =
            keys.host_cryptogram(&self.host_challenge, &response.card_challenge)?;
        let channel = SecureChannel::new(keys, self.level, [0; 16], 0);
        Ok(HostAuthenticated {
            channel,
            response,
            host_cryptogram,
        })
    }
}

pub(crate) struct HostAuthenticated {
    pub(crate) channel: SecureChannel,
    pub(crate) response: InitUpdateResponse,
    pub(crate) host_cryptogram: [u8; 8],
}

/// Host waiting for the status of EXTERNAL AUTHENTICATE.
#[derive(Debug)]
pub struct HostAwaitingExtAuthResponse {
    channel: SecureChannel,
    response: InitUpdateResponse,
    host_cryptogram: [u8; 8],
}

impl HostAwaitingExtAuthResponse {
    /// The parsed INITIALIZE UPDATE response.
    pub fn init_update_response(&self) -> &InitUpdateResponse {
        &self.response
    }

    /// The derived session keys.
    pub fn session_keys(&self) -> &SessionKeys {
        self.channel.keys()
    }

    /// The host cryptogram sent in EXTERNAL AUTHENTICATE.
    pub fn host_cryptogram(&self) -> [u8; 8] {
        self.host_cryptogram
    }

    /// The channel state after EXTERNAL AUTHENTICATE (its C-MAC is the chaining value).
    pub fn channel(&self) -> &SecureChannel {
        &self.channel
    }

    /// Handles the EXTERNAL AUTHENTICATE status: `9000` opens the session.
    pub fn handle(self, sw: u16) -> Result<HostSession> {
        if sw != sw::OK {
            return Err(Scp03Error::CardStatus(sw));
        }
        Ok(HostSession {
            channel: self.channel,
        })
    }
}

/// An open session, host side.
#[derive(Debug)]
pub struct HostSession {
    channel: SecureChannel,
}

impl HostSession {
    /// Wraps a plain command APDU.
    pub fn wrap_cmd(&mut self, apdu: &[u8]) -> Result<Vec<u8>> {
        self.channel.wrap_command(apdu)
    }

    /// Unwraps the response data of the last command given its status word.
    pub fn unwrap_rsp(&mut self, data: &[u8], sw: u16) -> Result<Vec<u8>> {
        self.channel.unwrap_response(data, sw)
    }

    /// The channel state.
    pub fn channel(&self) -> &SecureChannel {
        &self.channel
    }
}

// ---------------------------------------------------------------------------------------------
// Card (security domain)
// ---------------------------------------------------------------------------------------------

/// The card side between sessions: the security domain's static keyset, its AID, key
/// diversification data and the 24-bit sequence counter (Amd D §6.2.2.1). It persists across
/// sessions, so [`CardIdle::handle`] takes `&mut self` (it advances the counter) and hands out
/// the per-session state.
#[derive(Debug, Clone)]
pub struct CardIdle {
    keys: StaticKeys,
    sd_aid: Vec<u8>,
    key_diversification_data: [u8; 10],
    sequence_counter: u32,
    i: u8,
}

impl CardIdle {
    /// A security domain with `i` = `70`; `sequence_counter` is the last value used (the next
    /// INITIALIZE UPDATE uses `sequence_counter + 1`).
    pub fn new(
        keys: StaticKeys,
        sd_aid: &[u8],
        key_diversification_data: [u8; 10],
        sequence_counter: u32,
    ) -> Self {
        CardIdle {
            keys,
            sd_aid: sd_aid.to_vec(),
            key_diversification_data,
            sequence_counter,
            i: I_PARAM_SGP02,
        }
    }

    /// The last sequence counter value used.
    pub fn sequence_counter(&self) -> u32 {
        self.sequence_counter
    }

    /// The static keyset.
    pub fn keys(&self) -> &StaticKeys {
        &self.keys
    }

    /// Handles an INITIALIZE UPDATE APDU; on success the response data (status `9000`) and the
    /// state waiting for EXTERNAL AUTHENTICATE.
    pub fn handle(&mut self, apdu: &[u8]) -> Result<(CardAwaitingExtAuth, Vec<u8>)> {
        let cmd = InitUpdateCommand::parse(apdu)?;
        let (state, rsp) = self.initialize_update(cmd.kvn, &cmd.host_challenge)?;
        Ok((state, rsp.to_bytes()))
    }

    /// INITIALIZE UPDATE processing shared with SCP03t.
    pub(crate) fn initialize_update(
        &mut self,
        kvn: u8,
        host_challenge: &[u8; 8],
    ) -> Result<(CardAwaitingExtAuth, InitUpdateResponse)> {
        if kvn != 0 && kvn != self.keys.kvn {
            return Err(Scp03Error::UnknownKeyVersion {
                requested: kvn,
                held: self.keys.kvn,
            });
        }
        let counter = self.sequence_counter + 1;
        if counter > 0xFF_FFFF {
            return Err(Scp03Error::SequenceCounterExhausted);
        }
        let card_challenge = pseudo_random_card_challenge(&self.keys.enc, counter, &self.sd_aid)?;
        self.sequence_counter = counter;
        let keys = SessionKeys::derive(&self.keys, host_challenge, &card_challenge)?;
        let card_cryptogram = keys.card_cryptogram(host_challenge, &card_challenge)?;
        let host_cryptogram = keys.host_cryptogram(host_challenge, &card_challenge)?;
        let c = counter.to_be_bytes();
        let rsp = InitUpdateResponse {
            key_diversification_data: self.key_diversification_data,
            kvn: self.keys.kvn,
            scp_id: SCP_ID,
            i: self.i,
            card_challenge,
            card_cryptogram,
            sequence_counter: Some([c[1], c[2], c[3]]),
        };
        Ok((
            CardAwaitingExtAuth {
                channel: SecureChannel::new(keys, SecurityLevel(SecurityLevel::C_MAC), [0; 16], 0),
                host_cryptogram,
                i: self.i,
            },
            rsp,
        ))
    }
}

/// Card waiting for EXTERNAL AUTHENTICATE. Any failure ends the session attempt.
#[derive(Debug)]
pub struct CardAwaitingExtAuth {
    channel: SecureChannel,
    host_cryptogram: [u8; 8],
    i: u8,
}

impl CardAwaitingExtAuth {
    /// Handles EXTERNAL AUTHENTICATE (`84 82 level 00 10 cryptogram C-MAC`): verifies the C-MAC
    /// and the host cryptogram; on success the status is `9000` and the session is open.
    pub fn handle(self, apdu: &[u8]) -> Result<CardSession> {
        let c = CommandApdu::parse(apdu)?;
        if c.ins != INS_EXTERNAL_AUTHENTICATE {
            return Err(Scp03Error::UnexpectedCommand {
                expected: "EXTERNAL AUTHENTICATE",
                ins: c.ins,
            });
        }
        if !has_secure_messaging(c.cla) {
            return Err(Scp03Error::MissingSecureMessaging(c.cla));
        }
        if c.data.len() != 16 {
            return Err(Scp03Error::WrongLength {
                what: "EXTERNAL AUTHENTICATE data",
                expected: "16",
                got: c.data.len(),
            });
        }
        let level = SecurityLevel::new(c.p1)?;
        let header = [c.cla, c.ins, c.p1, c.p2, 0x10];
        let channel = self.authenticate(level, &header, &c.data)?;
        Ok(CardSession { channel })
    }

    /// EXTERNAL AUTHENTICATE checks shared with SCP03t: `data` = host cryptogram ‖ C-MAC,
    /// `header` = what the MAC covers before `data`.
    pub(crate) fn authenticate(
        mut self,
        level: SecurityLevel,
        header: &[u8],
        data: &[u8],
    ) -> Result<SecureChannel> {
        if !level.supported_by(self.i) {
            return Err(Scp03Error::UnsupportedSecurityLevel(level.bits()));
        }
        let Some(split) = data.len().checked_sub(8) else {
            return Err(Scp03Error::CommandMac);
        };
        let (body, mac) = data.split_at(split);
        self.channel.verify_c_mac(header, body, mac)?;
        let cryptogram = body.get(body.len().saturating_sub(8)..).unwrap_or(&[]);
        if !ct_eq(cryptogram, &self.host_cryptogram) {
            return Err(Scp03Error::HostCryptogram);
        }
        self.channel.set_level(level);
        Ok(self.channel)
    }
}

/// An open session, card side.
#[derive(Debug)]
pub struct CardSession {
    channel: SecureChannel,
}

impl CardSession {
    /// Verifies and unwraps a command APDU; returns the plain APDU. The caller answers an error
    /// with [`Scp03Error::status_word`] and should end the session (GP CS §10.2.3).
    pub fn unwrap_cmd(&mut self, apdu: &[u8]) -> Result<Vec<u8>> {
        self.channel.unwrap_command(apdu)
    }

    /// Wraps the response data of the last command for status `sw`.
    pub fn wrap_rsp(&mut self, data: &[u8], sw: u16) -> Result<Vec<u8>> {
        self.channel.wrap_response(data, sw)
    }

    /// The channel state.
    pub fn channel(&self) -> &SecureChannel {
        &self.channel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apdu_cases_round_trip() {
        for a in [
            &[0x80u8, 0xF2, 0x20, 0x02][..],
            &[0x80, 0xCA, 0x00, 0x66, 0x00],
            &[0x80, 0xF2, 0x20, 0x02, 0x02, 0x4F, 0x00],
            &[0x80, 0xF2, 0x20, 0x02, 0x02, 0x4F, 0x00, 0x00],
        ] {
            assert_eq!(CommandApdu::parse(a).unwrap().to_bytes().unwrap(), a);
        }
        assert!(CommandApdu::parse(&[0x80, 0xF2, 0x20]).is_err());
        assert!(CommandApdu::parse(&[0x80, 0xF2, 0x20, 0x02, 0x05, 1]).is_err());
        assert!(CommandApdu::parse(&[0x80, 0xF2, 0x20, 0x02, 0x00, 0, 1]).is_err());
    }

    #[test]
    fn security_levels() {
        for ok in [0x00, 0x01, 0x03, 0x11, 0x13, 0x33] {
            assert!(SecurityLevel::new(ok).is_ok());
        }
        for bad in [0x02, 0x10, 0x20, 0x21, 0x31, 0x23, 0xFF] {
            assert_eq!(
                SecurityLevel::new(bad),
                Err(Scp03Error::UnsupportedSecurityLevel(bad))
            );
        }
    }

    #[test]
    fn sm_cla() {
        assert_eq!(secure_cla(0x80).unwrap(), 0x84);
        assert_eq!(secure_cla(0x81).unwrap(), 0x85);
        assert_eq!(secure_cla(0xC1).unwrap(), 0xE1);
        assert!(has_secure_messaging(0xE1) && !has_secure_messaging(0xC1));
        assert_eq!(plain_cla(0x84), 0x80);
        assert_eq!(plain_cla(0xE1), 0xC1);
    }
}
