//! Status words (ISO/IEC 7816-4:2020 §5.6, Tables 5–6; ETSI TS 102 221 §10.2; GlobalPlatform Card
//! Specification v2.3 §11.1.3 and the per-command tables; GSMA SGP.02 for `69E1`, digest §2.7).
//!
//! [`StatusWord::from_u16`] and [`StatusWord::to_u16`] are inverse for every `u16`: a word not
//! named here becomes [`StatusWord::Other`]. Build values with `from_u16` (or `From<u16>`) so that
//! a named word is never held as `Other`.

use std::fmt;

/// A status word SW1 SW2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StatusWord {
    /// `9000`: normal processing, no further qualification.
    Success,
    /// `61xx`: normal processing; `xx` response bytes are still available (`00` = 256 or more),
    /// to be read with GET RESPONSE (ISO/IEC 7816-4 §5.6, T=0 transport of ISO/IEC 7816-3).
    BytesAvailable(u8),
    /// `91xx`: normal processing, a proactive command of `xx` bytes is pending (ETSI TS 102 221
    /// §10.2.1.1); the terminal fetches it with FETCH.
    ProactiveCommandPending(u8),
    /// `6200`: warning, state of non-volatile memory unchanged, no information given.
    WarningNoInformation,
    /// `6281`: warning, part of the returned data may be corrupted.
    DataMayBeCorrupted,
    /// `6282`: warning, end of file or record reached before reading Ne bytes.
    EndOfFileReached,
    /// `6283`: warning, selected file deactivated (GlobalPlatform: card life cycle is
    /// CARD_LOCKED, or the selected application is locked).
    SelectedFileDeactivated,
    /// `6300`: warning, state of non-volatile memory changed, no information given (GlobalPlatform
    /// EXTERNAL AUTHENTICATE: authentication of the host cryptogram failed).
    AuthenticationFailed,
    /// `6310`: more data available; GlobalPlatform GET STATUS answers it when the response does
    /// not fit, and the next occurrence is read with P2 b1 = 1 (Card Spec v2.3 §11.4.3).
    MoreDataAvailable,
    /// `6400`: execution error, state of non-volatile memory unchanged.
    ExecutionError,
    /// `6581`: execution error, memory failure.
    MemoryFailure,
    /// `6700`: wrong length (Lc or Le).
    WrongLength,
    /// `6881`: logical channel not supported.
    LogicalChannelNotSupported,
    /// `6882`: secure messaging not supported.
    SecureMessagingNotSupported,
    /// `6883`: last command of the chain expected.
    LastCommandOfChainExpected,
    /// `6884`: command chaining not supported.
    ChainingNotSupported,
    /// `6982`: security status not satisfied (e.g. no secure channel, wrong MAC).
    SecurityStatusNotSatisfied,
    /// `6983`: authentication method blocked.
    AuthenticationMethodBlocked,
    /// `6984`: reference data not usable.
    ReferenceDataNotUsable,
    /// `6985`: conditions of use not satisfied (e.g. the ISD-P is in the wrong state).
    ConditionsOfUseNotSatisfied,
    /// `6986`: command not allowed (no current EF).
    CommandNotAllowed,
    /// `6999`: GlobalPlatform: applet selection failed.
    SelectionFailed,
    /// `69E1`: GSMA SGP.02: POL1 of the Profile prevents this action (digest §2.7, §4.3).
    Pol1PreventsAction,
    /// `6A80`: incorrect parameters in the command data field.
    IncorrectData,
    /// `6A81`: function not supported.
    FunctionNotSupported,
    /// `6A82`: file or application not found.
    NotFound,
    /// `6A84`: not enough memory space.
    NotEnoughMemory,
    /// `6A86`: incorrect parameters P1-P2.
    IncorrectP1P2,
    /// `6A88`: referenced data or reference data not found.
    ReferencedDataNotFound,
    /// `6B00`: wrong parameters P1-P2.
    WrongP1P2,
    /// `6Cxx`: wrong Le field; `xx` is the exact number of available bytes (`00` = 256).
    WrongLe(u8),
    /// `6D00`: instruction code not supported or invalid.
    InsNotSupported,
    /// `6E00`: class not supported.
    ClaNotSupported,
    /// `6F00`: no precise diagnosis.
    NoPreciseDiagnosis,
    /// `9484`: GlobalPlatform PUT KEY: algorithm not supported.
    AlgorithmNotSupported,
    /// `9485`: GlobalPlatform PUT KEY: invalid key check value.
    InvalidKeyCheckValue,
    /// Any other word, kept as received.
    Other(u16),
}

impl StatusWord {
    /// Classifies a raw status word.
    pub fn from_u16(sw: u16) -> Self {
        use StatusWord::*;
        let [sw1, sw2] = sw.to_be_bytes();
        match (sw1, sw2) {
            (0x90, 0x00) => Success,
            (0x61, n) => BytesAvailable(n),
            (0x91, n) => ProactiveCommandPending(n),
            (0x6C, n) => WrongLe(n),
            (0x62, 0x00) => WarningNoInformation,
            (0x62, 0x81) => DataMayBeCorrupted,
            (0x62, 0x82) => EndOfFileReached,
            (0x62, 0x83) => SelectedFileDeactivated,
            (0x63, 0x00) => AuthenticationFailed,
            (0x63, 0x10) => MoreDataAvailable,
            (0x64, 0x00) => ExecutionError,
            (0x65, 0x81) => MemoryFailure,
            (0x67, 0x00) => WrongLength,
            (0x68, 0x81) => LogicalChannelNotSupported,
            (0x68, 0x82) => SecureMessagingNotSupported,
            (0x68, 0x83) => LastCommandOfChainExpected,
            (0x68, 0x84) => ChainingNotSupported,
            (0x69, 0x82) => SecurityStatusNotSatisfied,
            (0x69, 0x83) => AuthenticationMethodBlocked,
            (0x69, 0x84) => ReferenceDataNotUsable,
            (0x69, 0x85) => ConditionsOfUseNotSatisfied,
            (0x69, 0x86) => CommandNotAllowed,
            (0x69, 0x99) => SelectionFailed,
            (0x69, 0xE1) => Pol1PreventsAction,
            (0x6A, 0x80) => IncorrectData,
            (0x6A, 0x81) => FunctionNotSupported,
            (0x6A, 0x82) => NotFound,
            (0x6A, 0x84) => NotEnoughMemory,
            (0x6A, 0x86) => IncorrectP1P2,
            (0x6A, 0x88) => ReferencedDataNotFound,
            (0x6B, 0x00) => WrongP1P2,
            (0x6D, 0x00) => InsNotSupported,
            (0x6E, 0x00) => ClaNotSupported,
            (0x6F, 0x00) => NoPreciseDiagnosis,
            (0x94, 0x84) => AlgorithmNotSupported,
            (0x94, 0x85) => InvalidKeyCheckValue,
            _ => Other(sw),
        }
    }

    /// The raw status word.
    pub fn to_u16(self) -> u16 {
        use StatusWord::*;
        match self {
            Success => 0x9000,
            BytesAvailable(n) => 0x6100 | u16::from(n),
            ProactiveCommandPending(n) => 0x9100 | u16::from(n),
            WrongLe(n) => 0x6C00 | u16::from(n),
            WarningNoInformation => 0x6200,
            DataMayBeCorrupted => 0x6281,
            EndOfFileReached => 0x6282,
            SelectedFileDeactivated => 0x6283,
            AuthenticationFailed => 0x6300,
            MoreDataAvailable => 0x6310,
            ExecutionError => 0x6400,
            MemoryFailure => 0x6581,
            WrongLength => 0x6700,
            LogicalChannelNotSupported => 0x6881,
            SecureMessagingNotSupported => 0x6882,
            LastCommandOfChainExpected => 0x6883,
            ChainingNotSupported => 0x6884,
            SecurityStatusNotSatisfied => 0x6982,
            AuthenticationMethodBlocked => 0x6983,
            ReferenceDataNotUsable => 0x6984,
            ConditionsOfUseNotSatisfied => 0x6985,
            CommandNotAllowed => 0x6986,
            SelectionFailed => 0x6999,
            Pol1PreventsAction => 0x69E1,
            IncorrectData => 0x6A80,
            FunctionNotSupported => 0x6A81,
            NotFound => 0x6A82,
            NotEnoughMemory => 0x6A84,
            IncorrectP1P2 => 0x6A86,
            ReferencedDataNotFound => 0x6A88,
            WrongP1P2 => 0x6B00,
            InsNotSupported => 0x6D00,
            ClaNotSupported => 0x6E00,
            NoPreciseDiagnosis => 0x6F00,
            AlgorithmNotSupported => 0x9484,
            InvalidKeyCheckValue => 0x9485,
            Other(sw) => sw,
        }
    }

    /// SW1 and SW2.
    pub fn to_bytes(self) -> [u8; 2] {
        self.to_u16().to_be_bytes()
    }

    /// Normal processing: `9000`, `61xx` (more bytes available) and `91xx` (proactive command
    /// pending). Warnings (`62xx`, `63xx`) are not success.
    pub fn is_success(self) -> bool {
        let sw = self.to_u16();
        sw == 0x9000 || matches!(sw >> 8, 0x61 | 0x91)
    }

    /// Warnings: SW1 = `62` or `63` (ISO/IEC 7816-4 §5.6, Table 5).
    pub fn is_warning(self) -> bool {
        matches!(self.to_u16() >> 8, 0x62 | 0x63)
    }

    /// A short English description (ISO/IEC 7816-4 Table 6 wording where it exists).
    pub fn meaning(self) -> &'static str {
        use StatusWord::*;
        match self {
            Success => "normal processing",
            BytesAvailable(_) => "normal processing, response bytes still available",
            ProactiveCommandPending(_) => "normal processing, proactive command pending",
            WarningNoInformation => "warning, no information given",
            DataMayBeCorrupted => "warning, part of returned data may be corrupted",
            EndOfFileReached => "warning, end of file or record reached before reading Ne bytes",
            SelectedFileDeactivated => "warning, selected file deactivated",
            AuthenticationFailed => "authentication failed",
            MoreDataAvailable => "more data available",
            ExecutionError => "execution error, memory unchanged",
            MemoryFailure => "memory failure",
            WrongLength => "wrong length",
            LogicalChannelNotSupported => "logical channel not supported",
            SecureMessagingNotSupported => "secure messaging not supported",
            LastCommandOfChainExpected => "last command of the chain expected",
            ChainingNotSupported => "command chaining not supported",
            SecurityStatusNotSatisfied => "security status not satisfied",
            AuthenticationMethodBlocked => "authentication method blocked",
            ReferenceDataNotUsable => "reference data not usable",
            ConditionsOfUseNotSatisfied => "conditions of use not satisfied",
            CommandNotAllowed => "command not allowed",
            SelectionFailed => "selection failed",
            Pol1PreventsAction => "POL1 of the profile prevents this action",
            IncorrectData => "incorrect parameters in the data field",
            FunctionNotSupported => "function not supported",
            NotFound => "file or application not found",
            NotEnoughMemory => "not enough memory space",
            IncorrectP1P2 => "incorrect parameters P1-P2",
            ReferencedDataNotFound => "referenced data not found",
            WrongP1P2 => "wrong parameters P1-P2",
            WrongLe(_) => "wrong Le field",
            InsNotSupported => "instruction not supported",
            ClaNotSupported => "class not supported",
            NoPreciseDiagnosis => "no precise diagnosis",
            AlgorithmNotSupported => "algorithm not supported",
            InvalidKeyCheckValue => "invalid key check value",
            Other(sw) => match sw >> 8 {
                0x62 | 0x63 => "warning",
                0x64..=0x66 => "execution error",
                0x67..=0x6F => "checking error",
                _ => "unknown status",
            },
        }
    }
}

impl From<u16> for StatusWord {
    fn from(sw: u16) -> Self {
        StatusWord::from_u16(sw)
    }
}

impl From<StatusWord> for u16 {
    fn from(sw: StatusWord) -> Self {
        sw.to_u16()
    }
}

impl fmt::Display for StatusWord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sw = self.to_u16();
        match self {
            StatusWord::BytesAvailable(n) | StatusWord::ProactiveCommandPending(n) => {
                write!(f, "{sw:04X} ({}: {})", self.meaning(), n)
            }
            StatusWord::WrongLe(n) => {
                let exact = if *n == 0 { 256 } else { usize::from(*n) };
                write!(f, "{sw:04X} ({}: exact length {exact})", self.meaning())
            }
            _ => write!(f, "{sw:04X} ({})", self.meaning()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_word() {
        for sw in 0..=u16::MAX {
            assert_eq!(StatusWord::from_u16(sw).to_u16(), sw);
        }
    }

    #[test]
    fn named_words() {
        assert_eq!(StatusWord::from_u16(0x69E1), StatusWord::Pol1PreventsAction);
        assert_eq!(
            StatusWord::from_u16(0x6110),
            StatusWord::BytesAvailable(0x10)
        );
        assert_eq!(StatusWord::from_u16(0x6C00), StatusWord::WrongLe(0));
        assert_eq!(StatusWord::from_u16(0x6A84), StatusWord::NotEnoughMemory);
        assert_eq!(StatusWord::from_u16(0x1234), StatusWord::Other(0x1234));
        assert!(StatusWord::Success.is_success());
        assert!(StatusWord::BytesAvailable(3).is_success());
        assert!(StatusWord::ProactiveCommandPending(0x20).is_success());
        assert!(!StatusWord::from_u16(0x9001).is_success());
        assert!(!StatusWord::MoreDataAvailable.is_success());
        assert!(StatusWord::MoreDataAvailable.is_warning());
        assert!(!StatusWord::ConditionsOfUseNotSatisfied.is_success());
        assert_eq!(
            StatusWord::Pol1PreventsAction.to_string(),
            "69E1 (POL1 of the profile prevents this action)"
        );
        assert_eq!(
            StatusWord::WrongLe(0).to_string(),
            "6C00 (wrong Le field: exact length 256)"
        );
        assert_eq!(
            StatusWord::Other(0x6A83).to_string(),
            "6A83 (checking error)"
        );
    }
}
