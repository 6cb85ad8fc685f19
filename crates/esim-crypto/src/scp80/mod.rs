//! SCP80: secured packets over SMS-PP (ETSI TS 102 225, 3GPP TS 31.115; digest §5.1).
//!
//! | piece | type / function | clause |
//! |---|---|---|
//! | Security Parameter Indicator | [`Spi`] | TS 102 225 §5.1.1, TS 31.115 §4.2 |
//! | KIc / KID coding, keysets | [`Kic`], [`Kid`], [`Keyset`] | TS 102 225 §5.1.2, §5.1.3 |
//! | counter and its policy | [`Counter`], [`check_counter`] | TS 102 225 §5.1.1 (b5b4), §6 |
//! | command packet | [`CommandPacket::encode`], [`parse_command`] → [`SecuredCommand::open`] | TS 102 225 §5.1, TS 31.115 §4.2 |
//! | response packet (PoR) | [`ResponsePacket`], [`decode_por`], [`CompactResponse`] | TS 102 225 §5.2, TS 31.115 §4.4, TS 102 226 §5.1.2 |
//! | status codes | [`PorStatus`] | TS 102 225 table 5, TS 31.115 §7 |
//! | SMS user data header (CPI `70`, RPI `71`) | [`udh`] | TS 31.115 §4.2, §4.4 |
//!
//! Byte layouts (the project's vectors' `conventions`, `shared/vectors/scp80.json`):
//!
//! ```text
//! command:  CPL(2) CHL(1) SPI(2) KIc(1) KID(1) TAR(3) | CNTR(5) PCNTR(1) [RC/CC] data [padding]
//! PoR:      027100 RPL(2) RHL(1) TAR(3) | CNTR(5) PCNTR(1) STATUS(1) [RC/CC] data [padding]
//! ```
//!
//! The part after the TAR is ciphered (CBC, zero IV, zero padding counted in PCNTR) when the SPI
//! asks for it. The command CC covers `CPL … TAR ‖ CNTR ‖ PCNTR ‖ data ‖ padding`; the PoR CC
//! covers `UDH ‖ RPL … STATUS ‖ data ‖ padding` (docs/spec-choices.md). DES-family CC is a
//! CBC-MAC over the input zero-padded to 8 bytes; AES CC is the first 8 bytes of AES-CMAC.
//!
//! A card decodes in two steps so that it can choose keys by TAR, KIc and KID:
//! [`parse_command`] checks only the unauthenticated header; [`SecuredCommand::open`] deciphers,
//! verifies the RC/CC in constant time, strips the padding and returns counter and data. Every
//! failure names the field and byte offset and maps to a [`PorStatus`] where TS 102 225 has one.

mod command;
mod counter;
mod keys;
mod mechanism;
mod por;
mod spi;
mod status;
pub mod udh;

pub use command::{CommandHeader, CommandPacket, OpenedCommand, SecuredCommand, parse_command};
pub use counter::{Counter, check_counter};
pub use keys::{
    CcAlgorithm, CipherAlgorithm, Keyset, Kic, KicAlgorithm, Kid, KidCcAlgorithm, KidRcAlgorithm,
    RcAlgorithm,
};
pub use mechanism::{crc16, crc32};
pub use por::{CompactResponse, DecodedPor, ResponsePacket, decode_por};
pub use spi::{CounterMode, Integrity, PorRequest, Spi};
pub use status::PorStatus;

use crate::primitives::CryptoError;

/// Why an SCP80 packet could not be built, parsed or opened. Never contains key material.
///
/// [`Scp80Error::por_status`] gives the TS 102 225 PoR status code a card reports for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Scp80Error {
    /// The input ends inside a field.
    #[error("{field} at byte {offset}: needs {needed} bytes, only {available} left")]
    Truncated {
        /// Field being read.
        field: &'static str,
        /// Byte offset of the field in the input.
        offset: usize,
        /// Bytes the field needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A length field (CPL, RPL) disagrees with the number of bytes that follow it.
    #[error("{field} at byte {offset} says {declared} bytes follow, but {actual} do")]
    LengthMismatch {
        /// `CPL` or `RPL`.
        field: &'static str,
        /// Byte offset of the length field.
        offset: usize,
        /// Value of the length field.
        declared: usize,
        /// Bytes actually present after it.
        actual: usize,
    },
    /// A header length (CHL, RHL) that does not fit the SPI's RC/CC/DS choice.
    #[error("{field} at byte {offset} is {value}, expected {expected} for the SPI's RC/CC/DS")]
    HeaderLength {
        /// `CHL` or `RHL`.
        field: &'static str,
        /// Byte offset of the header length field.
        offset: usize,
        /// Value found.
        value: u8,
        /// Value required (as text: one number or a minimum).
        expected: String,
    },
    /// Reserved bits or a reserved value set in a coded byte (SPI, KIc, KID).
    #[error("{field} at byte {offset}: reserved value {value:#04x}")]
    Reserved {
        /// Field name.
        field: &'static str,
        /// Byte offset of the field (0 when the value did not come from a packet).
        offset: usize,
        /// The byte holding the reserved coding.
        value: u8,
    },
    /// A KIc/KID algorithm this implementation cannot apply (implicit without a configured
    /// algorithm, proprietary, DES-ECB, digital signature).
    #[error("{field}: unsupported algorithm {what}")]
    UnsupportedAlgorithm {
        /// `KIc`, `KID` or `SPI`.
        field: &'static str,
        /// What was asked for.
        what: &'static str,
    },
    /// The packet's KIc or KID byte is not the keyset's.
    #[error("{field} at byte {offset} is {found:#04x}, the keyset has {expected:#04x}")]
    KeyMismatch {
        /// `KIc` or `KID`.
        field: &'static str,
        /// Byte offset in the packet.
        offset: usize,
        /// Byte in the packet.
        found: u8,
        /// Byte of the keyset.
        expected: u8,
    },
    /// The SPI needs a key that the keyset does not hold.
    #[error("no {0} key in the keyset")]
    MissingKey(&'static str),
    /// A key of the wrong length for the algorithm coded in KIc/KID.
    #[error("{field} key for {algorithm} must be {expected} bytes, got {got}")]
    KeyLength {
        /// `KIc` or `KID`.
        field: &'static str,
        /// Algorithm name.
        algorithm: &'static str,
        /// Allowed lengths, as text.
        expected: &'static str,
        /// Length supplied.
        got: usize,
    },
    /// Ciphered data whose length is not a positive multiple of the cipher block.
    #[error("ciphered data at byte {offset} is {len} bytes, not a positive multiple of {block}")]
    CipherLength {
        /// Byte offset where the ciphered part starts.
        offset: usize,
        /// Its length.
        len: usize,
        /// Block size of the cipher.
        block: usize,
    },
    /// PCNTR counts more padding than there is secured data.
    #[error("PCNTR at byte {offset} is {pcntr}, but only {available} data bytes follow the header")]
    Padding {
        /// Byte offset of PCNTR (in the deciphered secured data, relative to the packet).
        offset: usize,
        /// PCNTR value.
        pcntr: u8,
        /// Secured data bytes after the RC/CC.
        available: usize,
    },
    /// The cryptographic checksum did not verify.
    #[error("CC at byte {offset} does not verify")]
    CcMismatch {
        /// Byte offset of the CC (in the deciphered secured data, relative to the packet).
        offset: usize,
    },
    /// The redundancy check (CRC) did not verify.
    #[error("RC at byte {offset} does not verify")]
    RcMismatch {
        /// Byte offset of the RC (in the deciphered secured data, relative to the packet).
        offset: usize,
    },
    /// A value too large for its length field (CPL, RPL: 65535; counter: 2^40 − 1).
    #[error("{field} would be {value}, more than the maximum {max}")]
    TooLong {
        /// Field name.
        field: &'static str,
        /// Value that would be needed.
        value: u64,
        /// Largest value the field can hold.
        max: u64,
    },
    /// A malformed SMS user data header.
    #[error("user data header at byte {offset}: {what}")]
    Udh {
        /// Byte offset in the user data.
        offset: usize,
        /// What is wrong.
        what: &'static str,
    },
    /// A primitive failed (should not happen once lengths were checked).
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl Scp80Error {
    /// The PoR status code (TS 102 225 table 5) a receiving entity reports for this
    /// failure, or `None` where the packet is too malformed to answer (the card discards it).
    pub fn por_status(&self) -> Option<PorStatus> {
        match self {
            Scp80Error::CcMismatch { .. } | Scp80Error::RcMismatch { .. } => {
                Some(PorStatus::RcCcDsFailed)
            }
            Scp80Error::CipherLength { .. } | Scp80Error::Padding { .. } => {
                Some(PorStatus::CipheringError)
            }
            Scp80Error::UnsupportedAlgorithm { .. }
            | Scp80Error::KeyMismatch { .. }
            | Scp80Error::MissingKey(_)
            | Scp80Error::KeyLength { .. }
            | Scp80Error::Crypto(_) => Some(PorStatus::UnidentifiedSecurityError),
            Scp80Error::Truncated { .. }
            | Scp80Error::LengthMismatch { .. }
            | Scp80Error::HeaderLength { .. }
            | Scp80Error::Reserved { .. }
            | Scp80Error::TooLong { .. }
            | Scp80Error::Udh { .. } => None,
        }
    }
}

/// Reads `n` bytes at `off`, or a [`Scp80Error::Truncated`] naming `field`.
pub(crate) fn take<'a>(
    buf: &'a [u8],
    off: usize,
    n: usize,
    field: &'static str,
) -> Result<&'a [u8], Scp80Error> {
    let available = buf.len().saturating_sub(off);
    off.checked_add(n)
        .and_then(|end| buf.get(off..end))
        .ok_or(Scp80Error::Truncated {
            field,
            offset: off,
            needed: n,
            available,
        })
}
