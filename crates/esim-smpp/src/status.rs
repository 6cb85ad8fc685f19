//! SMPP 3.4 `command_status` values (SMPP v3.4 §5.1.3, table 5-2).
//!
//! Every response PDU carries one in its header; `0` (`ESME_ROK`) means success. Codes this
//! crate does not name are kept as [`CommandStatus::Other`] so no value is ever lost.

macro_rules! statuses {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $mnemonic:literal; )*) => {
        /// A `command_status` value (SMPP v3.4 §5.1.3).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum CommandStatus {
            $( $(#[$doc])* $name, )*
            /// A code this crate does not name (reserved or vendor-specific, 0x400–0x4FF).
            Other(u32),
        }

        impl CommandStatus {
            /// The wire value.
            #[must_use]
            pub fn code(self) -> u32 {
                match self {
                    $( Self::$name => $code, )*
                    Self::Other(code) => code,
                }
            }

            /// The value for a wire code; unknown codes become [`CommandStatus::Other`].
            #[must_use]
            pub fn from_code(code: u32) -> Self {
                match code {
                    $( $code => Self::$name, )*
                    other => Self::Other(other),
                }
            }

            /// The mnemonic used by the specification (`ESME_RTHROTTLED`, ...).
            #[must_use]
            pub fn mnemonic(self) -> &'static str {
                match self {
                    $( Self::$name => $mnemonic, )*
                    Self::Other(_) => "unknown",
                }
            }
        }
    };
}

statuses! {
    /// `ESME_ROK`: no error.
    Ok = 0x0000_0000, "ESME_ROK";
    /// `ESME_RINVMSGLEN`: message length is invalid.
    InvalidMessageLength = 0x0000_0001, "ESME_RINVMSGLEN";
    /// `ESME_RINVCMDLEN`: command length is invalid.
    InvalidCommandLength = 0x0000_0002, "ESME_RINVCMDLEN";
    /// `ESME_RINVCMDID`: invalid command ID.
    InvalidCommandId = 0x0000_0003, "ESME_RINVCMDID";
    /// `ESME_RINVBNDSTS`: incorrect bind status for the given command.
    InvalidBindStatus = 0x0000_0004, "ESME_RINVBNDSTS";
    /// `ESME_RALYBND`: ESME already in bound state.
    AlreadyBound = 0x0000_0005, "ESME_RALYBND";
    /// `ESME_RINVPRTFLG`: invalid priority flag.
    InvalidPriorityFlag = 0x0000_0006, "ESME_RINVPRTFLG";
    /// `ESME_RINVREGDLVFLG`: invalid registered delivery flag.
    InvalidRegisteredDeliveryFlag = 0x0000_0007, "ESME_RINVREGDLVFLG";
    /// `ESME_RSYSERR`: system error.
    SystemError = 0x0000_0008, "ESME_RSYSERR";
    /// `ESME_RINVSRCADR`: invalid source address.
    InvalidSourceAddress = 0x0000_000A, "ESME_RINVSRCADR";
    /// `ESME_RINVDSTADR`: invalid destination address.
    InvalidDestinationAddress = 0x0000_000B, "ESME_RINVDSTADR";
    /// `ESME_RINVMSGID`: message ID is invalid.
    InvalidMessageId = 0x0000_000C, "ESME_RINVMSGID";
    /// `ESME_RBINDFAIL`: bind failed.
    BindFailed = 0x0000_000D, "ESME_RBINDFAIL";
    /// `ESME_RINVPASWD`: invalid password.
    InvalidPassword = 0x0000_000E, "ESME_RINVPASWD";
    /// `ESME_RINVSYSID`: invalid system ID.
    InvalidSystemId = 0x0000_000F, "ESME_RINVSYSID";
    /// `ESME_RCANCELFAIL`: cancel_sm failed.
    CancelFailed = 0x0000_0011, "ESME_RCANCELFAIL";
    /// `ESME_RREPLACEFAIL`: replace_sm failed.
    ReplaceFailed = 0x0000_0013, "ESME_RREPLACEFAIL";
    /// `ESME_RMSGQFUL`: message queue full.
    MessageQueueFull = 0x0000_0014, "ESME_RMSGQFUL";
    /// `ESME_RINVSERTYP`: invalid service type.
    InvalidServiceType = 0x0000_0015, "ESME_RINVSERTYP";
    /// `ESME_RINVESMCLASS`: invalid esm_class field data.
    InvalidEsmClass = 0x0000_0043, "ESME_RINVESMCLASS";
    /// `ESME_RSUBMITFAIL`: submit_sm or submit_multi failed.
    SubmitFailed = 0x0000_0045, "ESME_RSUBMITFAIL";
    /// `ESME_RINVSRCTON`: invalid source address TON.
    InvalidSourceTon = 0x0000_0048, "ESME_RINVSRCTON";
    /// `ESME_RINVSRCNPI`: invalid source address NPI.
    InvalidSourceNpi = 0x0000_0049, "ESME_RINVSRCNPI";
    /// `ESME_RINVDSTTON`: invalid destination address TON.
    InvalidDestinationTon = 0x0000_0050, "ESME_RINVDSTTON";
    /// `ESME_RINVDSTNPI`: invalid destination address NPI.
    InvalidDestinationNpi = 0x0000_0051, "ESME_RINVDSTNPI";
    /// `ESME_RINVSYSTYP`: invalid system_type field.
    InvalidSystemType = 0x0000_0053, "ESME_RINVSYSTYP";
    /// `ESME_RTHROTTLED`: throttling error (the ESME has exceeded allowed message limits).
    Throttled = 0x0000_0058, "ESME_RTHROTTLED";
    /// `ESME_RINVSCHED`: invalid scheduled delivery time.
    InvalidScheduledDeliveryTime = 0x0000_0061, "ESME_RINVSCHED";
    /// `ESME_RINVEXPIRY`: invalid message validity period (expiry time).
    InvalidExpiry = 0x0000_0062, "ESME_RINVEXPIRY";
    /// `ESME_RX_T_APPN`: ESME receiver temporary application error.
    ReceiverTemporaryError = 0x0000_0064, "ESME_RX_T_APPN";
    /// `ESME_RX_P_APPN`: ESME receiver permanent application error.
    ReceiverPermanentError = 0x0000_0065, "ESME_RX_P_APPN";
    /// `ESME_RX_R_APPN`: ESME receiver reject message error.
    ReceiverRejected = 0x0000_0066, "ESME_RX_R_APPN";
    /// `ESME_RINVOPTPARSTREAM`: error in the optional part of the PDU body.
    InvalidOptionalParameterStream = 0x0000_00C0, "ESME_RINVOPTPARSTREAM";
    /// `ESME_ROPTPARNOTALLWD`: optional parameter not allowed.
    OptionalParameterNotAllowed = 0x0000_00C1, "ESME_ROPTPARNOTALLWD";
    /// `ESME_RINVPARLEN`: invalid parameter length.
    InvalidParameterLength = 0x0000_00C2, "ESME_RINVPARLEN";
    /// `ESME_RMISSINGOPTPARAM`: expected optional parameter missing.
    MissingOptionalParameter = 0x0000_00C3, "ESME_RMISSINGOPTPARAM";
    /// `ESME_RINVOPTPARAMVAL`: invalid optional parameter value.
    InvalidOptionalParameterValue = 0x0000_00C4, "ESME_RINVOPTPARAMVAL";
    /// `ESME_RDELIVERYFAILURE`: delivery failure (used for data_sm_resp).
    DeliveryFailure = 0x0000_00FE, "ESME_RDELIVERYFAILURE";
    /// `ESME_RUNKNOWNERR`: unknown error.
    UnknownError = 0x0000_00FF, "ESME_RUNKNOWNERR";
}

impl CommandStatus {
    /// `true` for `ESME_ROK`.
    #[must_use]
    pub fn is_ok(self) -> bool {
        self.code() == 0
    }

    /// `true` for errors after which resubmitting the same PDU later may succeed
    /// (throttling, full queue, temporary receiver error, system error).
    #[must_use]
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            Self::Throttled
                | Self::MessageQueueFull
                | Self::ReceiverTemporaryError
                | Self::SystemError
        )
    }
}

impl From<u32> for CommandStatus {
    fn from(code: u32) -> Self {
        Self::from_code(code)
    }
}

impl From<CommandStatus> for u32 {
    fn from(status: CommandStatus) -> Self {
        status.code()
    }
}

impl core::fmt::Display for CommandStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (0x{:08X})", self.mnemonic(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in 0..0x500u32 {
            assert_eq!(CommandStatus::from_code(code).code(), code);
        }
        assert_eq!(CommandStatus::from_code(0x58), CommandStatus::Throttled);
        assert_eq!(
            CommandStatus::from_code(0x0B),
            CommandStatus::InvalidDestinationAddress
        );
        assert_eq!(
            CommandStatus::from_code(0x0401),
            CommandStatus::Other(0x0401)
        );
        assert_eq!(
            CommandStatus::Throttled.to_string(),
            "ESME_RTHROTTLED (0x00000058)"
        );
    }
}
