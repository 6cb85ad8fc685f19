//! Security Parameter Indicator (ETSI TS 102 225 §5.1.1, 3GPP TS 31.115 §4.2; digest §5.1).
//!
//! ```text
//! byte 1: b8..b6 reserved | b5b4 counter | b3 ciphering | b2b1 RC/CC/DS
//! byte 2: b8b7 reserved | b6 PoR via SMS-SUBMIT | b5 PoR ciphered | b4b3 PoR RC/CC/DS | b2b1 PoR
//! ```

use super::Scp80Error;
use std::fmt;

/// Counter handling asked for by SPI byte 1 b5b4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CounterMode {
    /// `00` no counter.
    None,
    /// `01` counter available, no replay or sequence checking.
    NoReplayCheck,
    /// `10` process only if the counter is higher than the stored one.
    MustBeHigher,
    /// `11` process only if the counter is exactly one higher than the stored one.
    MustBeOneHigher,
}

impl CounterMode {
    fn bits(self) -> u8 {
        match self {
            CounterMode::None => 0,
            CounterMode::NoReplayCheck => 1,
            CounterMode::MustBeHigher => 2,
            CounterMode::MustBeOneHigher => 3,
        }
    }

    fn from_bits(b: u8) -> Self {
        match b & 3 {
            0 => CounterMode::None,
            1 => CounterMode::NoReplayCheck,
            2 => CounterMode::MustBeHigher,
            _ => CounterMode::MustBeOneHigher,
        }
    }

    /// Snake-case name (the vectors' `spi_fields.counter`).
    pub fn name(self) -> &'static str {
        match self {
            CounterMode::None => "no_counter",
            CounterMode::NoReplayCheck => "counter_no_replay_or_seq",
            CounterMode::MustBeHigher => "counter_must_be_higher",
            CounterMode::MustBeOneHigher => "counter_must_be_one_higher",
        }
    }
}

/// Redundancy check, cryptographic checksum or digital signature (SPI b2b1 of either byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Integrity {
    /// `00` none.
    None,
    /// `01` redundancy check (CRC, coded in KID).
    Rc,
    /// `10` cryptographic checksum (coded in KID).
    Cc,
    /// `11` digital signature (not supported by this implementation beyond decoding the SPI).
    Ds,
}

impl Integrity {
    fn bits(self) -> u8 {
        match self {
            Integrity::None => 0,
            Integrity::Rc => 1,
            Integrity::Cc => 2,
            Integrity::Ds => 3,
        }
    }

    fn from_bits(b: u8) -> Self {
        match b & 3 {
            0 => Integrity::None,
            1 => Integrity::Rc,
            2 => Integrity::Cc,
            _ => Integrity::Ds,
        }
    }

    /// Snake-case name (the vectors' `spi_fields.rc_cc_ds`).
    pub fn name(self) -> &'static str {
        match self {
            Integrity::None => "no_rc_cc_ds",
            Integrity::Rc => "rc",
            Integrity::Cc => "cc",
            Integrity::Ds => "ds",
        }
    }
}

/// Whether a PoR is wanted (SPI byte 2 b2b1; `11` is reserved and rejected).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PorRequest {
    /// `00` no PoR.
    None,
    /// `01` PoR always.
    Always,
    /// `10` PoR only on error.
    OnError,
}

impl PorRequest {
    /// Snake-case name (the vectors' `spi_fields.por`).
    pub fn name(self) -> &'static str {
        match self {
            PorRequest::None => "no_por",
            PorRequest::Always => "por_required",
            PorRequest::OnError => "por_only_when_error",
        }
    }
}

/// The two-byte Security Parameter Indicator, decoded. Reserved bits are always zero in a value
/// of this type: [`Spi::from_bytes`] rejects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Spi {
    /// Counter handling (byte 1 b5b4).
    pub counter: CounterMode,
    /// Ciphering of the command's secured data (byte 1 b3).
    pub ciphering: bool,
    /// RC/CC/DS of the command (byte 1 b2b1).
    pub integrity: Integrity,
    /// PoR wanted (byte 2 b2b1).
    pub por: PorRequest,
    /// RC/CC/DS of the PoR (byte 2 b4b3).
    pub por_integrity: Integrity,
    /// PoR ciphered (byte 2 b5).
    pub por_ciphered: bool,
    /// PoR sent in an SMS-SUBMIT (`true`) or in the SMS-DELIVER-REPORT (`false`) (byte 2 b6,
    /// TS 31.115 §4.2).
    pub por_via_submit: bool,
}

impl Spi {
    /// SGP.02's default `16 39`: CC, ciphering, counter must be higher; PoR always, with CC,
    /// ciphered, via SMS-SUBMIT (digest §5.1).
    pub const SGP02_DEFAULT: Spi = Spi {
        counter: CounterMode::MustBeHigher,
        ciphering: true,
        integrity: Integrity::Cc,
        por: PorRequest::Always,
        por_integrity: Integrity::Cc,
        por_ciphered: true,
        por_via_submit: true,
    };

    /// Decodes the two SPI bytes; reserved bits and the reserved PoR coding `11` are rejected
    /// (`offset` is where the SPI sits in the caller's buffer, for the error).
    pub fn decode(bytes: [u8; 2], offset: usize) -> Result<Self, Scp80Error> {
        let [b1, b2] = bytes;
        if b1 & 0xE0 != 0 {
            return Err(Scp80Error::Reserved {
                field: "SPI byte 1 (b8..b6)",
                offset,
                value: b1,
            });
        }
        if b2 & 0xC0 != 0 || b2 & 0x03 == 0x03 {
            return Err(Scp80Error::Reserved {
                field: "SPI byte 2",
                offset: offset + 1,
                value: b2,
            });
        }
        Ok(Spi {
            counter: CounterMode::from_bits(b1 >> 3),
            ciphering: b1 & 0x04 != 0,
            integrity: Integrity::from_bits(b1),
            por: match b2 & 3 {
                0 => PorRequest::None,
                1 => PorRequest::Always,
                _ => PorRequest::OnError,
            },
            por_integrity: Integrity::from_bits(b2 >> 2),
            por_ciphered: b2 & 0x10 != 0,
            por_via_submit: b2 & 0x20 != 0,
        })
    }

    /// [`Spi::decode`] for a value not taken from a packet.
    pub fn from_bytes(bytes: [u8; 2]) -> Result<Self, Scp80Error> {
        Self::decode(bytes, 0)
    }

    /// Whether the receiver sends a PoR for a packet it processed with `status` (byte 2 b2b1:
    /// always, only on error, or never).
    pub fn wants_por(&self, status: super::PorStatus) -> bool {
        match self.por {
            PorRequest::None => false,
            PorRequest::Always => true,
            PorRequest::OnError => status != super::PorStatus::Ok,
        }
    }

    /// The two SPI bytes.
    pub fn to_bytes(self) -> [u8; 2] {
        let b1 =
            (self.counter.bits() << 3) | (u8::from(self.ciphering) << 2) | self.integrity.bits();
        let por = match self.por {
            PorRequest::None => 0,
            PorRequest::Always => 1,
            PorRequest::OnError => 2,
        };
        let b2 = (u8::from(self.por_via_submit) << 5)
            | (u8::from(self.por_ciphered) << 4)
            | (self.por_integrity.bits() << 2)
            | por;
        [b1, b2]
    }
}

impl fmt::Display for Spi {
    /// Four hex digits, e.g. `1639`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b] = self.to_bytes();
        write!(f, "{a:02x}{b:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgp02_default_is_1639() {
        assert_eq!(Spi::SGP02_DEFAULT.to_bytes(), [0x16, 0x39]);
        assert_eq!(Spi::from_bytes([0x16, 0x39]).unwrap(), Spi::SGP02_DEFAULT);
        assert_eq!(Spi::SGP02_DEFAULT.to_string(), "1639");
        use crate::scp80::PorStatus;
        assert!(Spi::SGP02_DEFAULT.wants_por(PorStatus::Ok));
        let on_error = Spi::from_bytes([0x16, 0x3A]).unwrap();
        assert!(!on_error.wants_por(PorStatus::Ok));
        assert!(on_error.wants_por(PorStatus::CounterLow));
        assert!(
            !Spi::from_bytes([0x16, 0x00])
                .unwrap()
                .wants_por(PorStatus::CounterLow)
        );
    }

    #[test]
    fn every_valid_spi_round_trips_and_reserved_is_rejected() {
        for v in 0..=0xFFFFu16 {
            let bytes = v.to_be_bytes();
            let reserved = bytes[0] & 0xE0 != 0 || bytes[1] & 0xC0 != 0 || bytes[1] & 3 == 3;
            match Spi::from_bytes(bytes) {
                Ok(spi) => {
                    assert!(!reserved, "{v:04x} accepted");
                    assert_eq!(spi.to_bytes(), bytes);
                }
                Err(Scp80Error::Reserved { .. }) => assert!(reserved, "{v:04x} rejected"),
                Err(e) => panic!("{v:04x}: {e}"),
            }
        }
    }
}
