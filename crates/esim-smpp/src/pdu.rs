//! SMPP 3.4 PDU codec (sans-I/O): the subset the SM-SR, the device agents and the SMSC simulator
//! exchange.
//!
//! Wire format (SMPP v3.4 §3.2): a 16-octet header — `command_length`, `command_id`,
//! `command_status`, `sequence_number`, each a 4-octet big-endian integer — followed by the body.
//! Body fields are 1-octet integers, C-Octet strings (ASCII, NUL-terminated, maximum length
//! counting the NUL, §3.1) and octet strings; optional parameters are TLVs with a 2-octet tag and
//! a 2-octet length (§3.2.1, §5.3).
//!
//! Implemented bodies: `bind_transmitter`/`bind_receiver`/`bind_transceiver` and their responses
//! (§4.1), `unbind`/`unbind_resp` (§4.2), `generic_nack` (§4.3), `submit_sm`/`submit_sm_resp`
//! (§4.4), `deliver_sm`/`deliver_sm_resp` (§4.6), `enquire_link`/`enquire_link_resp` (§4.11).
//! Any other `command_id` decodes to [`Body::Unknown`] with its raw body, so a peer can answer it
//! with `generic_nack` / `ESME_RINVCMDID` (§4.3).
//!
//! Decoding never panics; every error names the field and the byte offset (from the first
//! octet of the PDU) where the problem is. [`Pdu::decode`] takes exactly one PDU and rejects
//! trailing bytes.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::status::CommandStatus;

/// Length of the PDU header (SMPP v3.4 §3.2).
pub const HEADER_LEN: usize = 16;

/// Largest `command_length` this implementation accepts.
///
/// SMPP 3.4 sets no overall limit; the largest legitimate PDU here is a `submit_sm` carrying a
/// 64 KiB `message_payload` TLV (§5.3.2.32), so anything above 64 KiB plus room for the fixed
/// fields is treated as a framing error (`ESME_RINVCMDLEN`).
pub const MAX_COMMAND_LENGTH: u32 = 0x1_0000 + 1024;

/// `interface_version` for SMPP 3.4 (§5.2.4).
pub const INTERFACE_VERSION_34: u8 = 0x34;

/// `command_id` values (SMPP v3.4 §5.1.2.1). Responses have bit 31 set.
pub mod command_id {
    /// `generic_nack`.
    pub const GENERIC_NACK: u32 = 0x8000_0000;
    /// `bind_receiver`.
    pub const BIND_RECEIVER: u32 = 0x0000_0001;
    /// `bind_receiver_resp`.
    pub const BIND_RECEIVER_RESP: u32 = 0x8000_0001;
    /// `bind_transmitter`.
    pub const BIND_TRANSMITTER: u32 = 0x0000_0002;
    /// `bind_transmitter_resp`.
    pub const BIND_TRANSMITTER_RESP: u32 = 0x8000_0002;
    /// `submit_sm`.
    pub const SUBMIT_SM: u32 = 0x0000_0004;
    /// `submit_sm_resp`.
    pub const SUBMIT_SM_RESP: u32 = 0x8000_0004;
    /// `deliver_sm`.
    pub const DELIVER_SM: u32 = 0x0000_0005;
    /// `deliver_sm_resp`.
    pub const DELIVER_SM_RESP: u32 = 0x8000_0005;
    /// `unbind`.
    pub const UNBIND: u32 = 0x0000_0006;
    /// `unbind_resp`.
    pub const UNBIND_RESP: u32 = 0x8000_0006;
    /// `bind_transceiver`.
    pub const BIND_TRANSCEIVER: u32 = 0x0000_0009;
    /// `bind_transceiver_resp`.
    pub const BIND_TRANSCEIVER_RESP: u32 = 0x8000_0009;
    /// `enquire_link`.
    pub const ENQUIRE_LINK: u32 = 0x0000_0015;
    /// `enquire_link_resp`.
    pub const ENQUIRE_LINK_RESP: u32 = 0x8000_0015;

    /// `true` for the response bit (bit 31).
    #[must_use]
    pub fn is_response(id: u32) -> bool {
        id & 0x8000_0000 != 0
    }
}

/// Optional parameter tags used here (SMPP v3.4 §5.3.2).
pub mod tag {
    /// `sc_interface_version` (§5.3.2.25), in `bind_*_resp`.
    pub const SC_INTERFACE_VERSION: u16 = 0x0210;
    /// `message_payload` (§5.3.2.32): user data longer than `short_message` allows.
    pub const MESSAGE_PAYLOAD: u16 = 0x0424;
}

/// Field size limits, in octets including the terminating NUL (SMPP v3.4 §4.1.1, §4.4.1).
mod limit {
    pub const SYSTEM_ID: usize = 16;
    pub const PASSWORD: usize = 9;
    pub const SYSTEM_TYPE: usize = 13;
    pub const ADDRESS_RANGE: usize = 41;
    pub const SERVICE_TYPE: usize = 6;
    pub const ADDR: usize = 21;
    pub const TIME: usize = 17;
    pub const MESSAGE_ID: usize = 65;
    pub const SHORT_MESSAGE: usize = 254;
}

/// Why bytes are not a valid PDU. Offsets count from the first octet of the PDU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer than 16 octets: the header (§3.2) is incomplete.
    #[error("PDU header truncated: {len} of 16 octets")]
    ShortHeader {
        /// Octets available.
        len: usize,
    },
    /// `command_length` is below the 16-octet header size or above [`MAX_COMMAND_LENGTH`]
    /// (answered with `ESME_RINVCMDLEN`).
    #[error("command_length {value} outside 16..={max}")]
    CommandLength {
        /// The `command_length` read.
        value: u32,
        /// The largest accepted.
        max: u32,
    },
    /// `command_length` differs from the number of octets given to the decoder.
    #[error("command_length {command_length} but the frame has {frame_len} octets")]
    LengthMismatch {
        /// The `command_length` read.
        command_length: u32,
        /// Octets given.
        frame_len: usize,
    },
    /// The body ends inside a field.
    #[error("{field} truncated at offset {offset}")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
    },
    /// A C-Octet string has no NUL within its maximum length (§3.1).
    #[error("{field} at offset {offset}: no NUL terminator within {max} octets")]
    Unterminated {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
        /// Maximum length including the NUL.
        max: usize,
    },
    /// A C-Octet string holds a non-ASCII octet (§3.1 defines them as ASCII).
    #[error("{field} at offset {offset}: non-ASCII octet")]
    NonAscii {
        /// The field being read.
        field: &'static str,
        /// Offset of the offending octet.
        offset: usize,
    },
    /// `schedule_delivery_time` / `validity_period` is neither empty nor 16 characters (§7.1).
    #[error("{field} at offset {offset}: {len} characters, expected 0 or 16")]
    InvalidTime {
        /// The field being read.
        field: &'static str,
        /// Where it starts.
        offset: usize,
        /// Characters found.
        len: usize,
    },
    /// A TLV header or value runs past the end of the PDU (§3.2.1).
    #[error("TLV at offset {offset} truncated")]
    TlvTruncated {
        /// Where the TLV starts.
        offset: usize,
    },
    /// Octets remain after the last field of a body that has no optional part.
    #[error("{count} unexpected trailing octets at offset {offset} in command 0x{command_id:08X}")]
    TrailingBytes {
        /// The command.
        command_id: u32,
        /// Where the surplus starts.
        offset: usize,
        /// How many octets.
        count: usize,
    },
    /// A response PDU with a non-empty body for a command whose response has none, or a
    /// body where optional parameters appear without the mandatory field before them.
    #[error("bind response at offset {offset}: TLVs without system_id")]
    TlvsWithoutSystemId {
        /// Where the body starts.
        offset: usize,
    },
}

impl DecodeError {
    /// The `command_status` a receiver should answer this error with (in a `generic_nack`).
    #[must_use]
    pub fn status(&self) -> CommandStatus {
        match self {
            Self::CommandLength { .. } | Self::LengthMismatch { .. } | Self::ShortHeader { .. } => {
                CommandStatus::InvalidCommandLength
            }
            Self::TlvTruncated { .. } => CommandStatus::InvalidOptionalParameterStream,
            Self::InvalidTime { .. } => CommandStatus::InvalidScheduledDeliveryTime,
            _ => CommandStatus::InvalidCommandLength,
        }
    }
}

/// Why a PDU value cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A C-Octet string is longer than its field allows (limit counts the NUL).
    #[error("{field}: {len} characters, at most {max} allowed")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Characters given.
        len: usize,
        /// Maximum number of characters (the limit minus the NUL).
        max: usize,
    },
    /// A C-Octet string holds NUL or a non-ASCII character.
    #[error("{field}: contains NUL or a non-ASCII character")]
    InvalidText {
        /// The field.
        field: &'static str,
    },
    /// `schedule_delivery_time` / `validity_period` must be empty or 16 characters.
    #[error("{field}: {len} characters, expected 0 or 16")]
    InvalidTime {
        /// The field.
        field: &'static str,
        /// Characters given.
        len: usize,
    },
    /// `short_message` is longer than 254 octets (use the `message_payload` TLV).
    #[error("short_message of {len} octets exceeds 254")]
    ShortMessageTooLong {
        /// Octets given.
        len: usize,
    },
    /// A TLV value is longer than 65535 octets.
    #[error("TLV 0x{tag:04X} value of {len} octets exceeds 65535")]
    TlvTooLong {
        /// The tag.
        tag: u16,
        /// Octets given.
        len: usize,
    },
    /// The whole PDU would exceed [`MAX_COMMAND_LENGTH`].
    #[error("PDU of {len} octets exceeds {max}")]
    PduTooLong {
        /// Octets it would take.
        len: usize,
        /// The limit.
        max: u32,
    },
    /// [`Body::Unknown`] with a `command_id` that this codec implements.
    #[error("command_id 0x{0:08X} is implemented; use its Body variant")]
    ReservedCommandId(u32),
    /// A bind response with TLVs but no `system_id`.
    #[error("bind response with TLVs must carry a system_id")]
    TlvsWithoutSystemId,
}

/// A bind password (§4.1.1, at most 8 characters): zeroized on drop, redacted in `Debug`,
/// compared in constant time.
#[derive(Clone, Default)]
pub struct Password(Zeroizing<String>);

impl Password {
    /// Wraps a password.
    #[must_use]
    pub fn new(password: impl Into<String>) -> Self {
        Self(Zeroizing::new(password.into()))
    }

    /// The characters, for encoding.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl PartialEq for Password {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for Password {}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl From<&str> for Password {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

/// An SME address: type of number, numbering plan indicator, digits (§5.2.5, §5.2.6, §5.2.8).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Address {
    /// `addr_ton` (`1` international).
    pub ton: u8,
    /// `addr_npi` (`1` ISDN/E.164).
    pub npi: u8,
    /// The address characters.
    pub address: String,
}

impl Address {
    /// An international E.164 number (TON 1, NPI 1).
    #[must_use]
    pub fn international(msisdn: impl Into<String>) -> Self {
        Self {
            ton: 1,
            npi: 1,
            address: msisdn.into(),
        }
    }

    /// An alphanumeric/unknown-plan address (TON 0, NPI 0), as used for system identities.
    #[must_use]
    pub fn unknown(address: impl Into<String>) -> Self {
        Self {
            ton: 0,
            npi: 0,
            address: address.into(),
        }
    }
}

/// An optional parameter (§3.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// Parameter tag (§5.3.2).
    pub tag: u16,
    /// Value octets (at most 65535).
    pub value: Vec<u8>,
}

/// Which of the three bind operations (§4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindMode {
    /// `bind_transmitter`: submits only.
    Transmitter,
    /// `bind_receiver`: receives `deliver_sm` only.
    Receiver,
    /// `bind_transceiver`: both.
    Transceiver,
}

impl BindMode {
    /// `true` if the session may send `submit_sm`.
    #[must_use]
    pub fn can_submit(self) -> bool {
        matches!(self, Self::Transmitter | Self::Transceiver)
    }

    /// `true` if the session may receive `deliver_sm`.
    #[must_use]
    pub fn can_receive(self) -> bool {
        matches!(self, Self::Receiver | Self::Transceiver)
    }

    fn request_id(self) -> u32 {
        match self {
            Self::Transmitter => command_id::BIND_TRANSMITTER,
            Self::Receiver => command_id::BIND_RECEIVER,
            Self::Transceiver => command_id::BIND_TRANSCEIVER,
        }
    }
}

/// Body of `bind_transmitter` / `bind_receiver` / `bind_transceiver` (§4.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// Identifies the ESME (at most 15 characters).
    pub system_id: String,
    /// Authenticates the ESME (at most 8 characters).
    pub password: Password,
    /// Type of ESME (at most 12 characters).
    pub system_type: String,
    /// SMPP version supported by the ESME; `0x34` here (§5.2.4).
    pub interface_version: u8,
    /// Addresses served by this ESME: TON, NPI and `address_range` (at most 40 characters;
    /// a regular expression in §5.2.7 — see [`crate::smsc`] for the subset the simulator
    /// honours).
    pub address_range: Address,
}

/// Body of a `bind_*_resp` (§4.1.2). With a non-zero `command_status` the body may be absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindResp {
    /// Identifies the SMSC; `None` when the body is absent.
    pub system_id: Option<String>,
    /// Optional parameters (`sc_interface_version`).
    pub tlvs: Vec<Tlv>,
}

/// Body shared by `submit_sm` (§4.4.1) and `deliver_sm` (§4.6.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShortMessage {
    /// `service_type` (at most 5 characters; empty = default).
    pub service_type: String,
    /// Originator.
    pub source: Address,
    /// Recipient.
    pub destination: Address,
    /// `esm_class` (§5.2.12): `0x40` = UDHI, the user data starts with a UDH.
    pub esm_class: u8,
    /// `protocol_id` = GSM 03.40 TP-PID (§5.2.13): `0x7F` = (U)SIM data download.
    pub protocol_id: u8,
    /// `priority_flag` (§5.2.14).
    pub priority_flag: u8,
    /// `schedule_delivery_time` (empty or 16 characters, §7.1).
    pub schedule_delivery_time: String,
    /// `validity_period` (empty or 16 characters, §7.1).
    pub validity_period: String,
    /// `registered_delivery` (§5.2.17).
    pub registered_delivery: u8,
    /// `replace_if_present_flag` (§5.2.18).
    pub replace_if_present_flag: u8,
    /// `data_coding` (§5.2.19): GSM 03.38 DCS, e.g. `0xF6` = 8-bit data, class 2 (SIM specific).
    pub data_coding: u8,
    /// `sm_default_msg_id` (§5.2.20).
    pub sm_default_msg_id: u8,
    /// `short_message` (0–254 octets, preceded on the wire by `sm_length`).
    pub short_message: Vec<u8>,
    /// Optional parameters, in wire order (e.g. `message_payload`).
    pub tlvs: Vec<Tlv>,
}

impl ShortMessage {
    /// The user data: `short_message`, or the `message_payload` TLV when `short_message` is
    /// empty (§5.3.2.32).
    #[must_use]
    pub fn user_data(&self) -> &[u8] {
        if self.short_message.is_empty()
            && let Some(t) = self.tlvs.iter().find(|t| t.tag == tag::MESSAGE_PAYLOAD)
        {
            return &t.value;
        }
        &self.short_message
    }
}

/// A PDU body, by command.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Body {
    /// `bind_transmitter` / `bind_receiver` / `bind_transceiver` (§4.1.1).
    Bind(BindMode, Bind),
    /// `bind_*_resp` (§4.1.2).
    BindResp(BindMode, BindResp),
    /// `submit_sm` (§4.4.1).
    SubmitSm(Box<ShortMessage>),
    /// `submit_sm_resp` (§4.4.2): the SMSC's message id; `None` when the body is absent
    /// (allowed when `command_status` is non-zero).
    SubmitSmResp(Option<String>),
    /// `deliver_sm` (§4.6.1).
    DeliverSm(Box<ShortMessage>),
    /// `deliver_sm_resp` (§4.6.2): `message_id` is unused and normally empty.
    DeliverSmResp(Option<String>),
    /// `unbind` (§4.2.1).
    Unbind,
    /// `unbind_resp` (§4.2.2).
    UnbindResp,
    /// `enquire_link` (§4.11.1).
    EnquireLink,
    /// `enquire_link_resp` (§4.11.2).
    EnquireLinkResp,
    /// `generic_nack` (§4.3.1).
    GenericNack,
    /// A command this codec does not implement, with its raw body.
    Unknown {
        /// The `command_id`.
        command_id: u32,
        /// The body octets.
        body: Vec<u8>,
    },
}

/// One SMPP PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pdu {
    /// `command_status` (zero in requests).
    pub command_status: CommandStatus,
    /// `sequence_number` (§5.1.4, 0x00000001–0x7FFFFFFF for requests; copied into responses).
    pub sequence_number: u32,
    /// The command and its body.
    pub body: Body,
}

/// The parsed 16-octet header (§3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Length of the whole PDU in octets.
    pub command_length: u32,
    /// The command.
    pub command_id: u32,
    /// The status.
    pub command_status: u32,
    /// The sequence number.
    pub sequence_number: u32,
}

impl Header {
    /// Parses the first 16 octets of `bytes` (more may follow) and checks that
    /// `command_length` is within `16..=MAX_COMMAND_LENGTH`.
    ///
    /// # Errors
    /// [`DecodeError::ShortHeader`], [`DecodeError::CommandLength`].
    pub fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        let word = |i: usize| -> Result<u32, DecodeError> {
            bytes
                .get(i..i + 4)
                .and_then(|s| <[u8; 4]>::try_from(s).ok())
                .map(u32::from_be_bytes)
                .ok_or(DecodeError::ShortHeader { len: bytes.len() })
        };
        let header = Self {
            command_length: word(0)?,
            command_id: word(4)?,
            command_status: word(8)?,
            sequence_number: word(12)?,
        };
        if (header.command_length as usize) < HEADER_LEN
            || header.command_length > MAX_COMMAND_LENGTH
        {
            return Err(DecodeError::CommandLength {
                value: header.command_length,
                max: MAX_COMMAND_LENGTH,
            });
        }
        Ok(header)
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let b = *self.buf.get(self.pos).ok_or(DecodeError::Truncated {
            field,
            offset: self.pos,
        })?;
        self.pos += 1;
        Ok(b)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let hi = self.u8(field)?;
        let lo = self.u8(field)?;
        Ok(u16::from_be_bytes([hi, lo]))
    }

    fn octets(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let s = self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
            .ok_or(DecodeError::Truncated {
                field,
                offset: self.pos,
            })?;
        self.pos += n;
        Ok(s)
    }

    /// A C-Octet string of at most `max` octets including the NUL.
    fn cstr(&mut self, field: &'static str, max: usize) -> Result<String, DecodeError> {
        let start = self.pos;
        let rest = self.buf.get(start..).unwrap_or(&[]);
        let Some(nul) = rest.iter().take(max).position(|&b| b == 0) else {
            return Err(if rest.len() < max {
                DecodeError::Truncated {
                    field,
                    offset: start,
                }
            } else {
                DecodeError::Unterminated {
                    field,
                    offset: start,
                    max,
                }
            });
        };
        let text = rest.get(..nul).unwrap_or(&[]);
        if let Some(bad) = text.iter().position(|b| !b.is_ascii()) {
            return Err(DecodeError::NonAscii {
                field,
                offset: start + bad,
            });
        }
        self.pos = start + nul + 1;
        Ok(text.iter().map(|&b| char::from(b)).collect())
    }

    fn time(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let offset = self.pos;
        let s = self.cstr(field, limit::TIME)?;
        if !s.is_empty() && s.len() != limit::TIME - 1 {
            return Err(DecodeError::InvalidTime {
                field,
                offset,
                len: s.len(),
            });
        }
        Ok(s)
    }

    fn address(
        &mut self,
        ton: &'static str,
        npi: &'static str,
        addr: &'static str,
        max: usize,
    ) -> Result<Address, DecodeError> {
        Ok(Address {
            ton: self.u8(ton)?,
            npi: self.u8(npi)?,
            address: self.cstr(addr, max)?,
        })
    }

    fn tlvs(&mut self) -> Result<Vec<Tlv>, DecodeError> {
        let mut out = Vec::new();
        while self.remaining() > 0 {
            let offset = self.pos;
            let truncated = |_| DecodeError::TlvTruncated { offset };
            let tag = self.u16("tlv tag").map_err(truncated)?;
            let len = self.u16("tlv length").map_err(truncated)?;
            let value = self
                .octets(usize::from(len), "tlv value")
                .map_err(truncated)?;
            out.push(Tlv {
                tag,
                value: value.to_vec(),
            });
        }
        Ok(out)
    }

    fn end(&self, command_id: u32) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            count => Err(DecodeError::TrailingBytes {
                command_id,
                offset: self.pos,
                count,
            }),
        }
    }
}

impl Pdu {
    /// A request with status 0.
    #[must_use]
    pub fn request(sequence_number: u32, body: Body) -> Self {
        Self {
            command_status: CommandStatus::Ok,
            sequence_number,
            body,
        }
    }

    /// A response with the given status.
    #[must_use]
    pub fn response(sequence_number: u32, status: CommandStatus, body: Body) -> Self {
        Self {
            command_status: status,
            sequence_number,
            body,
        }
    }

    /// The `command_id` of this PDU.
    #[must_use]
    pub fn command_id(&self) -> u32 {
        match &self.body {
            Body::Bind(mode, _) => mode.request_id(),
            Body::BindResp(mode, _) => mode.request_id() | 0x8000_0000,
            Body::SubmitSm(_) => command_id::SUBMIT_SM,
            Body::SubmitSmResp(_) => command_id::SUBMIT_SM_RESP,
            Body::DeliverSm(_) => command_id::DELIVER_SM,
            Body::DeliverSmResp(_) => command_id::DELIVER_SM_RESP,
            Body::Unbind => command_id::UNBIND,
            Body::UnbindResp => command_id::UNBIND_RESP,
            Body::EnquireLink => command_id::ENQUIRE_LINK,
            Body::EnquireLinkResp => command_id::ENQUIRE_LINK_RESP,
            Body::GenericNack => command_id::GENERIC_NACK,
            Body::Unknown { command_id, .. } => *command_id,
        }
    }

    /// Decodes exactly one PDU: `frame` must be `command_length` octets long.
    ///
    /// # Errors
    /// Any [`DecodeError`]; never panics.
    pub fn decode(frame: &[u8]) -> Result<Self, DecodeError> {
        let header = Header::parse(frame)?;
        if header.command_length as usize != frame.len() {
            return Err(DecodeError::LengthMismatch {
                command_length: header.command_length,
                frame_len: frame.len(),
            });
        }
        let mut r = Reader {
            buf: frame,
            pos: HEADER_LEN,
        };
        let id = header.command_id;
        let body = match id {
            command_id::BIND_TRANSMITTER => Body::Bind(BindMode::Transmitter, decode_bind(&mut r)?),
            command_id::BIND_RECEIVER => Body::Bind(BindMode::Receiver, decode_bind(&mut r)?),
            command_id::BIND_TRANSCEIVER => Body::Bind(BindMode::Transceiver, decode_bind(&mut r)?),
            command_id::BIND_TRANSMITTER_RESP => {
                Body::BindResp(BindMode::Transmitter, decode_bind_resp(&mut r)?)
            }
            command_id::BIND_RECEIVER_RESP => {
                Body::BindResp(BindMode::Receiver, decode_bind_resp(&mut r)?)
            }
            command_id::BIND_TRANSCEIVER_RESP => {
                Body::BindResp(BindMode::Transceiver, decode_bind_resp(&mut r)?)
            }
            command_id::SUBMIT_SM => Body::SubmitSm(Box::new(decode_sm(&mut r)?)),
            command_id::DELIVER_SM => Body::DeliverSm(Box::new(decode_sm(&mut r)?)),
            command_id::SUBMIT_SM_RESP => Body::SubmitSmResp(decode_message_id(&mut r)?),
            command_id::DELIVER_SM_RESP => Body::DeliverSmResp(decode_message_id(&mut r)?),
            command_id::UNBIND => Body::Unbind,
            command_id::UNBIND_RESP => Body::UnbindResp,
            command_id::ENQUIRE_LINK => Body::EnquireLink,
            command_id::ENQUIRE_LINK_RESP => Body::EnquireLinkResp,
            command_id::GENERIC_NACK => Body::GenericNack,
            other => {
                let body = frame.get(HEADER_LEN..).unwrap_or(&[]).to_vec();
                r.pos = frame.len();
                Body::Unknown {
                    command_id: other,
                    body,
                }
            }
        };
        r.end(id)?;
        Ok(Self {
            command_status: CommandStatus::from_code(header.command_status),
            sequence_number: header.sequence_number,
            body,
        })
    }

    /// Encodes the PDU with its header.
    ///
    /// # Errors
    /// Any [`EncodeError`] (field too long, non-ASCII text, ...).
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&[0; 4]);
        out.extend_from_slice(&self.command_id().to_be_bytes());
        out.extend_from_slice(&self.command_status.code().to_be_bytes());
        out.extend_from_slice(&self.sequence_number.to_be_bytes());
        match &self.body {
            Body::Bind(_, b) => {
                put_cstr(&mut out, "system_id", &b.system_id, limit::SYSTEM_ID)?;
                put_cstr(&mut out, "password", b.password.expose(), limit::PASSWORD)?;
                put_cstr(&mut out, "system_type", &b.system_type, limit::SYSTEM_TYPE)?;
                out.push(b.interface_version);
                put_address(
                    &mut out,
                    "address_range",
                    &b.address_range,
                    limit::ADDRESS_RANGE,
                )?;
            }
            Body::BindResp(_, b) => match &b.system_id {
                Some(id) => {
                    put_cstr(&mut out, "system_id", id, limit::SYSTEM_ID)?;
                    put_tlvs(&mut out, &b.tlvs)?;
                }
                None if b.tlvs.is_empty() => {}
                None => return Err(EncodeError::TlvsWithoutSystemId),
            },
            Body::SubmitSm(sm) | Body::DeliverSm(sm) => put_sm(&mut out, sm)?,
            Body::SubmitSmResp(id) | Body::DeliverSmResp(id) => {
                if let Some(id) = id {
                    put_cstr(&mut out, "message_id", id, limit::MESSAGE_ID)?;
                }
            }
            Body::Unbind
            | Body::UnbindResp
            | Body::EnquireLink
            | Body::EnquireLinkResp
            | Body::GenericNack => {}
            Body::Unknown { command_id, body } => {
                if is_implemented(*command_id) {
                    return Err(EncodeError::ReservedCommandId(*command_id));
                }
                out.extend_from_slice(body);
            }
        }
        let len = u32::try_from(out.len())
            .ok()
            .filter(|&l| l <= MAX_COMMAND_LENGTH)
            .ok_or(EncodeError::PduTooLong {
                len: out.len(),
                max: MAX_COMMAND_LENGTH,
            })?;
        out[..4].copy_from_slice(&len.to_be_bytes());
        Ok(out)
    }
}

/// `true` for the `command_id`s that have their own [`Body`] variant.
#[must_use]
pub fn is_implemented(id: u32) -> bool {
    use command_id::*;
    matches!(
        id,
        BIND_TRANSMITTER
            | BIND_RECEIVER
            | BIND_TRANSCEIVER
            | BIND_TRANSMITTER_RESP
            | BIND_RECEIVER_RESP
            | BIND_TRANSCEIVER_RESP
            | SUBMIT_SM
            | SUBMIT_SM_RESP
            | DELIVER_SM
            | DELIVER_SM_RESP
            | UNBIND
            | UNBIND_RESP
            | ENQUIRE_LINK
            | ENQUIRE_LINK_RESP
            | GENERIC_NACK
    )
}

fn decode_bind(r: &mut Reader<'_>) -> Result<Bind, DecodeError> {
    Ok(Bind {
        system_id: r.cstr("system_id", limit::SYSTEM_ID)?,
        password: Password::new(r.cstr("password", limit::PASSWORD)?),
        system_type: r.cstr("system_type", limit::SYSTEM_TYPE)?,
        interface_version: r.u8("interface_version")?,
        address_range: r.address(
            "addr_ton",
            "addr_npi",
            "address_range",
            limit::ADDRESS_RANGE,
        )?,
    })
}

fn decode_bind_resp(r: &mut Reader<'_>) -> Result<BindResp, DecodeError> {
    if r.remaining() == 0 {
        return Ok(BindResp::default());
    }
    Ok(BindResp {
        system_id: Some(r.cstr("system_id", limit::SYSTEM_ID)?),
        tlvs: r.tlvs()?,
    })
}

fn decode_message_id(r: &mut Reader<'_>) -> Result<Option<String>, DecodeError> {
    if r.remaining() == 0 {
        return Ok(None);
    }
    Ok(Some(r.cstr("message_id", limit::MESSAGE_ID)?))
}

fn decode_sm(r: &mut Reader<'_>) -> Result<ShortMessage, DecodeError> {
    let service_type = r.cstr("service_type", limit::SERVICE_TYPE)?;
    let source = r.address(
        "source_addr_ton",
        "source_addr_npi",
        "source_addr",
        limit::ADDR,
    )?;
    let destination = r.address(
        "dest_addr_ton",
        "dest_addr_npi",
        "destination_addr",
        limit::ADDR,
    )?;
    let esm_class = r.u8("esm_class")?;
    let protocol_id = r.u8("protocol_id")?;
    let priority_flag = r.u8("priority_flag")?;
    let schedule_delivery_time = r.time("schedule_delivery_time")?;
    let validity_period = r.time("validity_period")?;
    let registered_delivery = r.u8("registered_delivery")?;
    let replace_if_present_flag = r.u8("replace_if_present_flag")?;
    let data_coding = r.u8("data_coding")?;
    let sm_default_msg_id = r.u8("sm_default_msg_id")?;
    let sm_length = r.u8("sm_length")?;
    let short_message = r.octets(usize::from(sm_length), "short_message")?.to_vec();
    let tlvs = r.tlvs()?;
    Ok(ShortMessage {
        service_type,
        source,
        destination,
        esm_class,
        protocol_id,
        priority_flag,
        schedule_delivery_time,
        validity_period,
        registered_delivery,
        replace_if_present_flag,
        data_coding,
        sm_default_msg_id,
        short_message,
        tlvs,
    })
}

fn put_cstr(
    out: &mut Vec<u8>,
    field: &'static str,
    s: &str,
    max: usize,
) -> Result<(), EncodeError> {
    if s.bytes().any(|b| b == 0 || !b.is_ascii()) {
        return Err(EncodeError::InvalidText { field });
    }
    if s.len() >= max {
        return Err(EncodeError::TooLong {
            field,
            len: s.len(),
            max: max - 1,
        });
    }
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    Ok(())
}

fn put_time(out: &mut Vec<u8>, field: &'static str, s: &str) -> Result<(), EncodeError> {
    if !s.is_empty() && s.len() != limit::TIME - 1 {
        return Err(EncodeError::InvalidTime {
            field,
            len: s.len(),
        });
    }
    put_cstr(out, field, s, limit::TIME)
}

fn put_address(
    out: &mut Vec<u8>,
    field: &'static str,
    a: &Address,
    max: usize,
) -> Result<(), EncodeError> {
    out.push(a.ton);
    out.push(a.npi);
    put_cstr(out, field, &a.address, max)
}

fn put_tlvs(out: &mut Vec<u8>, tlvs: &[Tlv]) -> Result<(), EncodeError> {
    for t in tlvs {
        let len = u16::try_from(t.value.len()).map_err(|_| EncodeError::TlvTooLong {
            tag: t.tag,
            len: t.value.len(),
        })?;
        out.extend_from_slice(&t.tag.to_be_bytes());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&t.value);
    }
    Ok(())
}

fn put_sm(out: &mut Vec<u8>, sm: &ShortMessage) -> Result<(), EncodeError> {
    put_cstr(out, "service_type", &sm.service_type, limit::SERVICE_TYPE)?;
    put_address(out, "source_addr", &sm.source, limit::ADDR)?;
    put_address(out, "destination_addr", &sm.destination, limit::ADDR)?;
    out.push(sm.esm_class);
    out.push(sm.protocol_id);
    out.push(sm.priority_flag);
    put_time(out, "schedule_delivery_time", &sm.schedule_delivery_time)?;
    put_time(out, "validity_period", &sm.validity_period)?;
    out.push(sm.registered_delivery);
    out.push(sm.replace_if_present_flag);
    out.push(sm.data_coding);
    out.push(sm.sm_default_msg_id);
    let sm_length = u8::try_from(sm.short_message.len())
        .ok()
        .filter(|&l| usize::from(l) <= limit::SHORT_MESSAGE)
        .ok_or(EncodeError::ShortMessageTooLong {
            len: sm.short_message.len(),
        })?;
    out.push(sm_length);
    out.extend_from_slice(&sm.short_message);
    put_tlvs(out, &sm.tlvs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn enquire_link_bytes() {
        let pdu = Pdu::request(7, Body::EnquireLink);
        let bytes = pdu.encode().unwrap();
        assert_eq!(bytes, hex("00000010 00000015 00000000 00000007"));
        assert_eq!(Pdu::decode(&bytes).unwrap(), pdu);
    }

    #[test]
    fn bind_transceiver_bytes() {
        let pdu = Pdu::request(
            1,
            Body::Bind(
                BindMode::Transceiver,
                Bind {
                    system_id: "smsr".into(),
                    password: "secret".into(),
                    system_type: String::new(),
                    interface_version: INTERFACE_VERSION_34,
                    address_range: Address::unknown(""),
                },
            ),
        );
        let bytes = pdu.encode().unwrap();
        let expect = hex("00000021 00000009 00000000 00000001 \
             736D737200 73656372657400 00 34 00 00 00");
        assert_eq!(bytes, expect);
        let back = Pdu::decode(&bytes).unwrap();
        assert_eq!(back, pdu);
        // The password never reaches Debug output.
        assert!(!format!("{back:?}").contains("secret"));
    }

    #[test]
    fn submit_sm_binary_udh_bytes() {
        let sm = ShortMessage {
            source: Address::unknown("smsr"),
            destination: Address::international("447700900001"),
            esm_class: 0x40,
            protocol_id: 0x7F,
            data_coding: 0xF6,
            short_message: hex("027000 0001020304"),
            ..ShortMessage::default()
        };
        let pdu = Pdu::request(2, Body::SubmitSm(Box::new(sm)));
        let bytes = pdu.encode().unwrap();
        let expect = hex("00000039 00000004 00000000 00000002 \
             00 0000 736D737200 0101 34343737303039303030303100 \
             40 7F 00 00 00 00 00 F6 00 08 0270000001020304");
        assert_eq!(bytes, expect);
        assert_eq!(Pdu::decode(&bytes).unwrap(), pdu);
    }

    #[test]
    fn errors_name_field_and_offset() {
        // submit_sm whose sm_length says 9 but 8 octets follow.
        let mut bytes = hex("00000039 00000004 00000000 00000002 \
             00 0000 736D737200 0101 34343737303039303030303100 \
             40 7F 00 00 00 00 00 F6 00 09 0270000001020304");
        assert_eq!(
            Pdu::decode(&bytes),
            Err(DecodeError::Truncated {
                field: "short_message",
                offset: 49
            })
        );
        bytes[3] = 0x0F;
        assert_eq!(
            Pdu::decode(&bytes),
            Err(DecodeError::CommandLength {
                value: 0x0F,
                max: MAX_COMMAND_LENGTH
            })
        );
        // enquire_link with a body.
        let bytes = hex("00000011 00000015 00000000 00000001 00");
        assert!(matches!(
            Pdu::decode(&bytes),
            Err(DecodeError::TrailingBytes {
                offset: 16,
                count: 1,
                ..
            })
        ));
        // system_id without NUL within 16 octets.
        let mut bytes = hex("00000000 00000009 00000000 00000001");
        bytes.extend_from_slice(&[b'a'; 20]);
        bytes[3] = 36;
        assert_eq!(
            Pdu::decode(&bytes),
            Err(DecodeError::Unterminated {
                field: "system_id",
                offset: 16,
                max: 16
            })
        );
    }

    #[test]
    fn responses_without_body() {
        let bytes = hex("00000010 80000004 00000058 00000003");
        let pdu = Pdu::decode(&bytes).unwrap();
        assert_eq!(pdu.command_status, CommandStatus::Throttled);
        assert_eq!(pdu.body, Body::SubmitSmResp(None));
        assert_eq!(pdu.encode().unwrap(), bytes);
        let bytes = hex("00000010 80000009 0000000E 00000001");
        assert_eq!(
            Pdu::decode(&bytes).unwrap().body,
            Body::BindResp(BindMode::Transceiver, BindResp::default())
        );
    }

    #[test]
    fn unknown_command_keeps_body() {
        let bytes = hex("00000013 00000003 00000000 00000009 414200");
        let pdu = Pdu::decode(&bytes).unwrap();
        assert_eq!(
            pdu.body,
            Body::Unknown {
                command_id: 3,
                body: b"AB\0".to_vec()
            }
        );
        assert_eq!(pdu.encode().unwrap(), bytes);
        let bad = Pdu::request(
            1,
            Body::Unknown {
                command_id: command_id::SUBMIT_SM,
                body: vec![],
            },
        );
        assert_eq!(bad.encode(), Err(EncodeError::ReservedCommandId(4)));
    }

    #[test]
    fn encode_rejects_bad_fields() {
        let sm = ShortMessage {
            short_message: vec![0; 255],
            ..ShortMessage::default()
        };
        assert_eq!(
            Pdu::request(1, Body::SubmitSm(Box::new(sm))).encode(),
            Err(EncodeError::ShortMessageTooLong { len: 255 })
        );
        let sm = ShortMessage {
            destination: Address::international("1234567890123456789012"),
            ..ShortMessage::default()
        };
        assert_eq!(
            Pdu::request(1, Body::SubmitSm(Box::new(sm))).encode(),
            Err(EncodeError::TooLong {
                field: "destination_addr",
                len: 22,
                max: 20
            })
        );
    }
}
