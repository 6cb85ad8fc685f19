//! GlobalPlatform Card Specification v2.3 commands used by GSMA SGP.02 (digest §2.7, §3.2;
//! gaps §1), each with a builder (servers) and a parser (the card):
//!
//! | command | CLA INS | module |
//! |---|---|---|
//! | INSTALL [for install (and make selectable)], [for personalization] (§11.5) | `80 E6` | [`install`] |
//! | STORE DATA with block chaining (§11.11) | `80 E2` | [`store_data`] |
//! | DELETE (§11.2) | `80 E4` | [`delete`] |
//! | GET STATUS (§11.4), SET STATUS (§11.10) | `80 F2`, `80 F0` | [`status`] |
//! | GET DATA (§11.3) | `80 CA` | [`get_data`] |
//!
//! [`sgp02`] holds the SGP.02 ES5 STORE DATA payloads (`3A03` enable, `3A04` disable, `3A07`
//! connectivity parameters, `3A08` notification confirmation) and the default notification `E1`.
//!
//! Parsers check CLA b8 (proprietary class, any logical channel), INS, P1/P2, and the whole data
//! field; a [`GpError`] says what is wrong and at which byte of the data field, and maps to the
//! status word the card answers ([`GpError::status_word`]).

pub mod delete;
pub mod get_data;
pub mod install;
pub mod sgp02;
pub mod status;
pub mod store_data;

use esim_codec::ber::DecodeError;
use esim_codec::{Aid, IdError};

use crate::apdu::{ApduError, CommandApdu};
use crate::sw::StatusWord;

/// The GlobalPlatform class byte on the basic channel (Card Spec v2.3 §11.1.4).
pub const CLA_GP: u8 = 0x80;

/// Instruction bytes (Card Spec v2.3 Table 11-4).
pub mod ins {
    /// DELETE.
    pub const DELETE: u8 = 0xE4;
    /// INSTALL.
    pub const INSTALL: u8 = 0xE6;
    /// STORE DATA.
    pub const STORE_DATA: u8 = 0xE2;
    /// GET STATUS.
    pub const GET_STATUS: u8 = 0xF2;
    /// SET STATUS.
    pub const SET_STATUS: u8 = 0xF0;
    /// GET DATA (even instruction).
    pub const GET_DATA: u8 = 0xCA;
    /// GET RESPONSE (ISO/IEC 7816-4).
    pub const GET_RESPONSE: u8 = 0xC0;
}

/// Errors of the GlobalPlatform builders and parsers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GpError {
    /// The command is not the one being parsed.
    #[error("expected INS {expected:02X}, found {found:02X}")]
    WrongIns {
        /// INS of the command the parser handles.
        expected: u8,
        /// INS received.
        found: u8,
    },
    /// The class byte is not a GlobalPlatform (proprietary) class.
    #[error("CLA {0:02X} is not a GlobalPlatform class")]
    WrongCla(u8),
    /// P1 is not valid for this command.
    #[error("{command}: P1 {p1:02X} is not supported")]
    BadP1 {
        /// The command.
        command: &'static str,
        /// P1 received.
        p1: u8,
    },
    /// P2 is not valid for this command.
    #[error("{command}: P2 {p2:02X} is not supported")]
    BadP2 {
        /// The command.
        command: &'static str,
        /// P2 received.
        p2: u8,
    },
    /// The data field ended inside a field.
    #[error(
        "at byte {offset} of the data field: truncated {what}: needs {needed} byte(s), {available} left"
    )]
    Truncated {
        /// Offset in the data field.
        offset: usize,
        /// The field.
        what: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// A field has a wrong value or size.
    #[error("at byte {offset} of the data field: {field}: {reason}")]
    BadField {
        /// Offset in the data field.
        offset: usize,
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Bytes left after the last field.
    #[error("at byte {offset} of the data field: {count} trailing byte(s)")]
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
        /// How many.
        count: usize,
    },
    /// A BER-TLV structure in the data field is malformed.
    #[error("TLV: {0}")]
    Tlv(#[from] DecodeError),
    /// An AID field is not 5–16 bytes.
    #[error("at byte {offset} of the data field: {source}")]
    Aid {
        /// Offset of the AID value.
        offset: usize,
        /// The validation error.
        source: IdError,
    },
    /// STORE DATA block number other than the one expected (Card Spec v2.3 §11.11.2.2).
    #[error("STORE DATA block {found} received, block {expected} expected")]
    BlockOutOfOrder {
        /// Block number expected.
        expected: u16,
        /// P2 received.
        found: u8,
    },
    /// A STORE DATA block whose P1 structure or encryption bits differ from the first block's.
    #[error(
        "STORE DATA block {block}: P1 {p1:02X} inconsistent with the first block's {first:02X}"
    )]
    InconsistentBlock {
        /// Block number.
        block: u8,
        /// P1 of this block.
        p1: u8,
        /// P1 of the first block.
        first: u8,
    },
    /// More data than the configured bound, or more than 256 STORE DATA blocks.
    #[error("{what} exceeds the limit of {limit}")]
    TooLarge {
        /// What overflowed.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// APDU encoding failed.
    #[error(transparent)]
    Apdu(#[from] ApduError),
}

impl GpError {
    /// The status word a card answers for this error (ISO/IEC 7816-4 Table 6; Card Spec v2.3
    /// §11.1.3).
    pub fn status_word(&self) -> StatusWord {
        match self {
            GpError::WrongIns { .. } => StatusWord::InsNotSupported,
            GpError::WrongCla(_) => StatusWord::ClaNotSupported,
            GpError::BadP1 { .. } | GpError::BadP2 { .. } | GpError::BlockOutOfOrder { .. } => {
                StatusWord::IncorrectP1P2
            }
            GpError::InconsistentBlock { .. } => StatusWord::IncorrectP1P2,
            GpError::TooLarge { .. } => StatusWord::NotEnoughMemory,
            GpError::Apdu(_) => StatusWord::WrongLength,
            GpError::Truncated { .. }
            | GpError::BadField { .. }
            | GpError::TrailingBytes { .. }
            | GpError::Tlv(_)
            | GpError::Aid { .. } => StatusWord::IncorrectData,
        }
    }
}

/// Checks CLA (proprietary class, b8 = 1, not `FF`) and INS.
pub(crate) fn check_header(cmd: &CommandApdu, ins: u8) -> Result<(), GpError> {
    if cmd.cla & 0x80 == 0 || cmd.cla == 0xFF {
        return Err(GpError::WrongCla(cmd.cla));
    }
    if cmd.ins != ins {
        return Err(GpError::WrongIns {
            expected: ins,
            found: cmd.ins,
        });
    }
    Ok(())
}

/// Reads the fields of a GlobalPlatform data field, tracking the offset for errors.
#[derive(Debug)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], GpError> {
        let available = self.buf.len() - self.pos;
        if n > available {
            return Err(GpError::Truncated {
                offset: self.pos,
                what,
                needed: n,
                available,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn byte(&mut self, what: &'static str) -> Result<u8, GpError> {
        Ok(self.take(1, what)?[0])
    }

    /// A one-byte length followed by that many bytes.
    pub(crate) fn lv(&mut self, what: &'static str) -> Result<&'a [u8], GpError> {
        let n = self.byte(what)?;
        self.take(usize::from(n), what)
    }

    /// A BER definite length of 1–3 bytes (`00`–`7F`, `81 xx`, `82 xx xx`; Card Spec v2.3
    /// §11.5.2.3 "Length of … field: 1–3 bytes") followed by that many bytes.
    pub(crate) fn ber_lv(&mut self, what: &'static str) -> Result<&'a [u8], GpError> {
        let start = self.pos;
        let first = self.byte(what)?;
        let len = match first {
            0x00..=0x7F => usize::from(first),
            0x81 => {
                let n = usize::from(self.byte(what)?);
                if n < 0x80 {
                    return Err(non_minimal(start, what));
                }
                n
            }
            0x82 => {
                let b = self.take(2, what)?;
                let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
                if n < 0x100 {
                    return Err(non_minimal(start, what));
                }
                n
            }
            _ => {
                return Err(GpError::BadField {
                    offset: start,
                    field: what,
                    reason: format!("length byte {first:02X} is not a 1-3 byte BER length"),
                });
            }
        };
        self.take(len, what)
    }

    /// A one-byte length followed by an AID (5–16 bytes).
    pub(crate) fn aid(&mut self, what: &'static str) -> Result<Aid, GpError> {
        let offset = self.pos + 1;
        let bytes = self.lv(what)?;
        Aid::new(bytes).map_err(|source| GpError::Aid { offset, source })
    }

    pub(crate) fn finish(&self) -> Result<(), GpError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(GpError::TrailingBytes {
                offset: self.pos,
                count: self.buf.len() - self.pos,
            })
        }
    }
}

fn non_minimal(offset: usize, field: &'static str) -> GpError {
    GpError::BadField {
        offset,
        field,
        reason: "length not in minimal form".into(),
    }
}

/// Appends a BER definite length of 1–3 bytes.
pub(crate) fn push_ber_len(
    out: &mut Vec<u8>,
    len: usize,
    what: &'static str,
) -> Result<(), GpError> {
    if len > 0xFFFF {
        return Err(GpError::TooLarge {
            what,
            limit: 0xFFFF,
        });
    }
    esim_codec::ber::write_length(out, len);
    Ok(())
}

/// Appends a one-byte length and the bytes.
pub(crate) fn push_lv(out: &mut Vec<u8>, bytes: &[u8], what: &'static str) -> Result<(), GpError> {
    let n = u8::try_from(bytes.len()).map_err(|_| GpError::TooLarge { what, limit: 255 })?;
    out.push(n);
    out.extend_from_slice(bytes);
    Ok(())
}

/// Privileges (Card Spec v2.3 §11.1.2, Table 11-7): three bytes; a one-byte field is the first
/// byte with the other two zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Privileges(pub [u8; 3]);

impl Privileges {
    /// Byte 1 b8: Security Domain.
    pub const SECURITY_DOMAIN: Privileges = Privileges([0x80, 0, 0]);
    /// Byte 1 b7: DAP Verification.
    pub const DAP_VERIFICATION: Privileges = Privileges([0x40, 0, 0]);
    /// Byte 1 b6: Delegated Management.
    pub const DELEGATED_MANAGEMENT: Privileges = Privileges([0x20, 0, 0]);
    /// Byte 1 b5: Card Lock.
    pub const CARD_LOCK: Privileges = Privileges([0x10, 0, 0]);
    /// Byte 1 b4: Card Terminate.
    pub const CARD_TERMINATE: Privileges = Privileges([0x08, 0, 0]);
    /// Byte 1 b3: Card Reset (formerly Default Selected).
    pub const CARD_RESET: Privileges = Privileges([0x04, 0, 0]);
    /// Byte 1 b2: CVM Management.
    pub const CVM_MANAGEMENT: Privileges = Privileges([0x02, 0, 0]);
    /// Byte 1 b1 (with b8 and b7): Mandated DAP Verification.
    pub const MANDATED_DAP_VERIFICATION: Privileges = Privileges([0x01, 0, 0]);
    /// Byte 2 b8: Trusted Path.
    pub const TRUSTED_PATH: Privileges = Privileges([0, 0x80, 0]);
    /// Byte 2 b7: Authorized Management.
    pub const AUTHORIZED_MANAGEMENT: Privileges = Privileges([0, 0x40, 0]);
    /// Byte 2 b6: Token Verification.
    pub const TOKEN_VERIFICATION: Privileges = Privileges([0, 0x20, 0]);
    /// Byte 2 b5: Global Delete.
    pub const GLOBAL_DELETE: Privileges = Privileges([0, 0x10, 0]);
    /// Byte 2 b4: Global Lock.
    pub const GLOBAL_LOCK: Privileges = Privileges([0, 0x08, 0]);
    /// Byte 2 b3: Global Registry.
    pub const GLOBAL_REGISTRY: Privileges = Privileges([0, 0x04, 0]);
    /// Byte 2 b2: Final Application.
    pub const FINAL_APPLICATION: Privileges = Privileges([0, 0x02, 0]);
    /// Byte 2 b1: Global Service.
    pub const GLOBAL_SERVICE: Privileges = Privileges([0, 0x01, 0]);
    /// Byte 3 b8: Receipt Generation.
    pub const RECEIPT_GENERATION: Privileges = Privileges([0, 0, 0x80]);
    /// Byte 3 b7: Ciphered Load File Data Block.
    pub const CIPHERED_LOAD_FILE_DATA_BLOCK: Privileges = Privileges([0, 0, 0x40]);
    /// Byte 3 b6: Contactless Activation.
    pub const CONTACTLESS_ACTIVATION: Privileges = Privileges([0, 0, 0x20]);
    /// Byte 3 b5: Contactless Self-Activation.
    pub const CONTACTLESS_SELF_ACTIVATION: Privileges = Privileges([0, 0, 0x10]);

    /// The privileges SGP.02 gives an ISD-P: Security Domain, Trusted Path, Authorized Management
    /// (`80 C0 00`, digest §2.7 CreateISDP).
    pub const ISD_P: Privileges = Privileges([0x80, 0xC0, 0x00]);

    /// The union of two sets.
    pub const fn union(self, other: Privileges) -> Privileges {
        Privileges([
            self.0[0] | other.0[0],
            self.0[1] | other.0[1],
            self.0[2] | other.0[2],
        ])
    }

    /// Whether every privilege of `other` is set.
    pub fn contains(self, other: Privileges) -> bool {
        self.0.iter().zip(other.0).all(|(a, b)| a & b == b)
    }

    /// Reads a 1- or 3-byte privileges field.
    pub fn from_field(bytes: &[u8]) -> Option<Privileges> {
        match *bytes {
            [a] => Some(Privileges([a, 0, 0])),
            [a, b, c] => Some(Privileges([a, b, c])),
            _ => None,
        }
    }
}

/// Life-cycle state codings (Card Spec v2.3 §11.1.1, Tables 11-2 to 11-5; SGP.02 ISD-P states,
/// digest §2.7).
pub mod life_cycle {
    /// Application / ISD-P: INSTALLED.
    pub const INSTALLED: u8 = 0x03;
    /// Application / ISD-P: SELECTABLE (SGP.02: ISD-P created).
    pub const SELECTABLE: u8 = 0x07;
    /// Security domain / ISD-P: PERSONALIZED (SGP.02: keys established).
    pub const PERSONALIZED: u8 = 0x0F;
    /// SGP.02 ISD-P: DISABLED (profile installed, not enabled).
    pub const DISABLED: u8 = 0x1F;
    /// SGP.02 ISD-P: ENABLED.
    pub const ENABLED: u8 = 0x3F;
    /// Application / security domain: LOCKED (b8 set over the current state).
    pub const LOCKED_BIT: u8 = 0x80;
    /// Card: OP_READY.
    pub const CARD_OP_READY: u8 = 0x01;
    /// Card: INITIALIZED.
    pub const CARD_INITIALIZED: u8 = 0x07;
    /// Card: SECURED.
    pub const CARD_SECURED: u8 = 0x0F;
    /// Card: CARD_LOCKED.
    pub const CARD_LOCKED: u8 = 0x7F;
    /// Card: TERMINATED.
    pub const CARD_TERMINATED: u8 = 0xFF;
}

/// The SGP.02 state of an ISD-P as coded in GET STATUS tag `9F70` (digest §2.7, §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IsdpState {
    /// `03`: INSTALLED.
    Installed,
    /// `07`: SELECTABLE (created, no keys yet).
    Selectable,
    /// `0F`: PERSONALIZED (keys established, profile not complete).
    Personalized,
    /// `1F`: DISABLED.
    Disabled,
    /// `3F`: ENABLED.
    Enabled,
    /// Any other coding, e.g. a LOCKED state (b8 set).
    Other(u8),
}

impl IsdpState {
    /// Classifies a `9F70` byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            life_cycle::INSTALLED => IsdpState::Installed,
            life_cycle::SELECTABLE => IsdpState::Selectable,
            life_cycle::PERSONALIZED => IsdpState::Personalized,
            life_cycle::DISABLED => IsdpState::Disabled,
            life_cycle::ENABLED => IsdpState::Enabled,
            other => IsdpState::Other(other),
        }
    }

    /// The `9F70` byte.
    pub fn to_byte(self) -> u8 {
        match self {
            IsdpState::Installed => life_cycle::INSTALLED,
            IsdpState::Selectable => life_cycle::SELECTABLE,
            IsdpState::Personalized => life_cycle::PERSONALIZED,
            IsdpState::Disabled => life_cycle::DISABLED,
            IsdpState::Enabled => life_cycle::ENABLED,
            IsdpState::Other(b) => b,
        }
    }
}

/// Parses the response data of INSTALL or DELETE (Card Spec v2.3 §11.5.3, §11.2.3): empty, a
/// single `00` (no additional data), or a confirmation structure (returned as is).
pub fn parse_confirmation(data: &[u8]) -> Option<&[u8]> {
    match data {
        [] | [0x00] => None,
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileges() {
        let p = Privileges::SECURITY_DOMAIN
            .union(Privileges::TRUSTED_PATH)
            .union(Privileges::AUTHORIZED_MANAGEMENT);
        assert_eq!(p, Privileges::ISD_P);
        assert!(p.contains(Privileges::TRUSTED_PATH));
        assert!(!p.contains(Privileges::CARD_LOCK));
        assert_eq!(
            Privileges::from_field(&[0x80]),
            Some(Privileges::SECURITY_DOMAIN)
        );
        assert_eq!(Privileges::from_field(&[0x80, 0]), None);
    }

    #[test]
    fn isdp_states() {
        for b in 0..=255u8 {
            assert_eq!(IsdpState::from_byte(b).to_byte(), b);
        }
        assert_eq!(IsdpState::from_byte(0x3F), IsdpState::Enabled);
    }

    #[test]
    fn ber_lengths() {
        let mut c = Cursor::new(&[0x81, 0x05, 1, 2, 3, 4, 5]);
        assert!(matches!(
            c.ber_lv("x"),
            Err(GpError::BadField { offset: 0, .. })
        ));
        let mut v = vec![0x81, 0x80];
        v.extend([0; 0x80]);
        let mut c = Cursor::new(&v);
        assert_eq!(c.ber_lv("x").unwrap().len(), 0x80);
        c.finish().unwrap();
        let mut c = Cursor::new(&[0x83, 0, 0, 1]);
        assert!(c.ber_lv("x").is_err());
    }
}
