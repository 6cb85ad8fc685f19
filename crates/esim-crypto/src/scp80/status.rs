//! Response status codes of the PoR (ETSI TS 102 225 table 5; 3GPP TS 31.115 §7; digest §5.1).

use std::fmt;

/// The status byte of a response packet (PoR).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PorStatus {
    /// `00` PoR OK.
    Ok,
    /// `01` RC/CC/DS failed.
    RcCcDsFailed,
    /// `02` counter low.
    CounterLow,
    /// `03` counter high.
    CounterHigh,
    /// `04` counter blocked.
    CounterBlocked,
    /// `05` ciphering error.
    CipheringError,
    /// `06` unidentified security error (the receiver could not tell what was wrong).
    UnidentifiedSecurityError,
    /// `07` insufficient memory to process the incoming message.
    InsufficientMemory,
    /// `08` more time is needed to process the command packet.
    MoreTime,
    /// `09` TAR unknown.
    TarUnknown,
    /// `0A` insufficient security level.
    InsufficientSecurityLevel,
    /// `0B` the actual response data follows in an SMS-SUBMIT (TS 31.115).
    ResponseInSmsSubmit,
    /// `0C` the actual response data follows in a USSD (TS 31.115).
    ResponseInUssd,
    /// A code that TS 102 225 / TS 31.115 reserve (kept so that decoding never fails on it).
    Reserved(u8),
}

impl PorStatus {
    /// From the status byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            0x00 => PorStatus::Ok,
            0x01 => PorStatus::RcCcDsFailed,
            0x02 => PorStatus::CounterLow,
            0x03 => PorStatus::CounterHigh,
            0x04 => PorStatus::CounterBlocked,
            0x05 => PorStatus::CipheringError,
            0x06 => PorStatus::UnidentifiedSecurityError,
            0x07 => PorStatus::InsufficientMemory,
            0x08 => PorStatus::MoreTime,
            0x09 => PorStatus::TarUnknown,
            0x0A => PorStatus::InsufficientSecurityLevel,
            0x0B => PorStatus::ResponseInSmsSubmit,
            0x0C => PorStatus::ResponseInUssd,
            other => PorStatus::Reserved(other),
        }
    }

    /// The status byte.
    pub fn byte(self) -> u8 {
        match self {
            PorStatus::Ok => 0x00,
            PorStatus::RcCcDsFailed => 0x01,
            PorStatus::CounterLow => 0x02,
            PorStatus::CounterHigh => 0x03,
            PorStatus::CounterBlocked => 0x04,
            PorStatus::CipheringError => 0x05,
            PorStatus::UnidentifiedSecurityError => 0x06,
            PorStatus::InsufficientMemory => 0x07,
            PorStatus::MoreTime => 0x08,
            PorStatus::TarUnknown => 0x09,
            PorStatus::InsufficientSecurityLevel => 0x0A,
            PorStatus::ResponseInSmsSubmit => 0x0B,
            PorStatus::ResponseInUssd => 0x0C,
            PorStatus::Reserved(b) => b,
        }
    }

    /// Snake-case name (as pySim's `ResponseStatus` and the vectors spell it).
    pub fn name(self) -> &'static str {
        match self {
            PorStatus::Ok => "por_ok",
            PorStatus::RcCcDsFailed => "rc_cc_ds_failed",
            PorStatus::CounterLow => "cntr_low",
            PorStatus::CounterHigh => "cntr_high",
            PorStatus::CounterBlocked => "cntr_blocked",
            PorStatus::CipheringError => "ciphering_error",
            PorStatus::UnidentifiedSecurityError => "undefined_security_error",
            PorStatus::InsufficientMemory => "insufficient_memory",
            PorStatus::MoreTime => "more_time_needed",
            PorStatus::TarUnknown => "tar_unknown",
            PorStatus::InsufficientSecurityLevel => "insufficient_security_level",
            PorStatus::ResponseInSmsSubmit => "actual_response_sms_submit",
            PorStatus::ResponseInUssd => "actual_response_ussd",
            PorStatus::Reserved(_) => "reserved",
        }
    }

    /// Parses a name as returned by [`PorStatus::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        (0u8..=0x0C)
            .map(PorStatus::from_byte)
            .find(|s| s.name() == name)
    }
}

impl fmt::Display for PorStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02X} {}", self.byte(), self.name())
    }
}

impl std::error::Error for PorStatus {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_round_trips() {
        for b in 0..=255u8 {
            assert_eq!(PorStatus::from_byte(b).byte(), b);
        }
        assert_eq!(
            PorStatus::from_name("cntr_low"),
            Some(PorStatus::CounterLow)
        );
        assert_eq!(PorStatus::from_name("nope"), None);
        assert_eq!(PorStatus::TarUnknown.to_string(), "09 tar_unknown");
    }
}
