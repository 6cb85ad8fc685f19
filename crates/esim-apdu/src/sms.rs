//! SMS transfer-layer PDUs of 3GPP TS 23.040 §9.2 and the SMS-PP secured-packet rules of
//! 3GPP TS 31.115 (digest §5.1).
//!
//! * [`SmsDeliver`] (MT, §9.2.2.1) and [`SmsSubmit`] (MO, §9.2.2.2) with their flags, addresses
//!   in semi-octets (§9.1.2.5), TP-PID (`7F` = (U)SIM data download), TP-DCS (`F6` = 8-bit data,
//!   class 2; TS 23.038 §4), TP-SCTS kept as its seven bytes (no clock here), TP-VP, TP-UDL and
//!   TP-UD.
//! * [`UserData`]: the user data header (§9.2.3.24) with the concatenation IEs `00` (8-bit
//!   reference) and `08` (16-bit reference), and the TS 31.115 Command / Response Packet
//!   Identifiers `70` / `71`; GSM 7-bit bodies are packed and unpacked (§6.1.2.1.1) with the
//!   fill bits after a header.
//! * [`split_packet`] and [`Reassembler`]: an SCP80 packet longer than one SMS as concatenated
//!   short messages. Where the CPI goes is recorded in `docs/spec-choices.md`: the first segment
//!   carries the concatenation IE then the CPI/RPI; later segments only the concatenation IE.
//!   The reassembler accepts the CPI in any segment.
//!
//! TP-UDL must agree with the user data present ([`UdlPolicy::Strict`]). Some encoders (pySim's
//! test TPDUs) write a wrong TP-UDL for 8-bit data; [`UdlPolicy::TrustBuffer`] takes the user data
//! to the end of the TPDU and keeps the declared value so that the TPDU re-encodes byte for byte.

use std::fmt;

/// TP-PID `7F`: (U)SIM data download (TS 23.040 §9.2.3.9).
pub const PID_SIM_DATA_DOWNLOAD: u8 = 0x7F;
/// TP-DCS `F6`: 8-bit data, message class 2 (SIM specific) (TS 23.038 §4).
pub const DCS_8BIT_CLASS2: u8 = 0xF6;
/// The largest TP-UD in octets.
pub const MAX_UD_OCTETS: usize = 140;
/// The largest TP-UDL in septets (GSM 7-bit alphabet).
pub const MAX_UD_SEPTETS: usize = 160;
/// IEI of the concatenation IE with an 8-bit reference.
pub const IEI_CONCAT_8: u8 = 0x00;
/// IEI of the concatenation IE with a 16-bit reference.
pub const IEI_CONCAT_16: u8 = 0x08;
/// IEI of the Command Packet Identifier (TS 31.115 §4; IEDL 0).
pub const IEI_COMMAND_PACKET: u8 = 0x70;
/// IEI of the Response Packet Identifier (TS 31.115 §4; IEDL 0).
pub const IEI_RESPONSE_PACKET: u8 = 0x71;

/// What is wrong with an SMS structure.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SmsErrorKind {
    /// The buffer ended inside a field.
    Truncated {
        /// The field.
        what: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// TP-MTI is not the one of the PDU being decoded.
    WrongMti {
        /// MTI expected.
        expected: u8,
        /// MTI found.
        found: u8,
    },
    /// A bit that must be zero is set (first octet, address type bit 8, fill or padding bits).
    ReservedBits(&'static str),
    /// An address field is invalid.
    BadAddress(String),
    /// TP-UDL disagrees with the user data present.
    UdlMismatch {
        /// TP-UDL.
        udl: u8,
        /// Octets of user data that the UDL implies.
        expected_octets: usize,
        /// Octets present.
        present: usize,
    },
    /// The user data header is malformed.
    BadHeader(String),
    /// A value too large for its field.
    TooLong {
        /// The field.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The maximum.
        max: usize,
    },
}

impl fmt::Display for SmsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SmsErrorKind::Truncated {
                what,
                needed,
                available,
            } => write!(
                f,
                "truncated {what}: needs {needed} byte(s), {available} left"
            ),
            SmsErrorKind::WrongMti { expected, found } => {
                write!(f, "TP-MTI {found} where {expected} was expected")
            }
            SmsErrorKind::ReservedBits(what) => write!(f, "{what}: reserved bits set"),
            SmsErrorKind::BadAddress(why) => write!(f, "address: {why}"),
            SmsErrorKind::UdlMismatch {
                udl,
                expected_octets,
                present,
            } => write!(
                f,
                "TP-UDL {udl} implies {expected_octets} octet(s) of user data, {present} present"
            ),
            SmsErrorKind::BadHeader(why) => write!(f, "user data header: {why}"),
            SmsErrorKind::TooLong { what, len, max } => {
                write!(f, "{what} of {len} exceeds the maximum of {max}")
            }
        }
    }
}

/// An SMS decoding or encoding failure and the byte offset where it occurred.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct SmsError {
    /// Offset in the TPDU (or user data) being decoded; 0 for encoding errors.
    pub offset: usize,
    /// What went wrong.
    pub kind: SmsErrorKind,
}

impl SmsError {
    fn new(offset: usize, kind: SmsErrorKind) -> Self {
        SmsError { offset, kind }
    }
}

fn truncated(offset: usize, what: &'static str, needed: usize, available: usize) -> SmsError {
    SmsError::new(
        offset,
        SmsErrorKind::Truncated {
            what,
            needed,
            available,
        },
    )
}

struct Cur<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], SmsError> {
        let available = self.buf.len() - self.pos;
        if n > available {
            return Err(truncated(self.pos, what, n, available));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, SmsError> {
        Ok(self.take(1, what)?[0])
    }
}

/// The value of an address field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AddressValue {
    /// Semi-octet digits: `0`–`9`, `*`, `#`, `a`, `b`, `c` (nibbles `0`–`E`).
    Digits(String),
    /// TON `101` (alphanumeric): GSM 7-bit packed characters, kept as the encoded octets with
    /// the number of useful semi-octets.
    Alphanumeric {
        /// Address-Length (useful semi-octets).
        semi_octets: u8,
        /// The packed octets.
        packed: Vec<u8>,
    },
}

/// An address (TS 23.040 §9.1.2.5): Address-Length, Type-of-Address, value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// Type of number (0–7): 0 unknown, 1 international, 2 national, 5 alphanumeric, …
    pub ton: u8,
    /// Numbering plan identification (0–15): 1 ISDN/E.164, …
    pub npi: u8,
    /// The digits or alphanumeric octets.
    pub value: AddressValue,
}

/// TON: unknown.
pub const TON_UNKNOWN: u8 = 0;
/// TON: international number.
pub const TON_INTERNATIONAL: u8 = 1;
/// TON: alphanumeric.
pub const TON_ALPHANUMERIC: u8 = 5;
/// NPI: ISDN/telephone numbering plan (E.164/E.163).
pub const NPI_ISDN: u8 = 1;

const DIGITS: &[u8; 15] = b"0123456789*#abc";

impl Address {
    /// A numeric address; fails on characters other than `0-9*#abc` or more than 20 digits.
    pub fn digits(ton: u8, npi: u8, digits: &str) -> Result<Self, SmsError> {
        let a = Address {
            ton,
            npi,
            value: AddressValue::Digits(digits.to_string()),
        };
        a.encode()?;
        Ok(a)
    }

    /// The digits of a numeric address.
    pub fn as_digits(&self) -> Option<&str> {
        match &self.value {
            AddressValue::Digits(d) => Some(d),
            AddressValue::Alphanumeric { .. } => None,
        }
    }

    /// Encodes Address-Length ‖ TOA ‖ value.
    pub fn encode(&self) -> Result<Vec<u8>, SmsError> {
        let bad = |why: String| SmsError::new(0, SmsErrorKind::BadAddress(why));
        if self.ton > 7 || self.npi > 15 {
            return Err(bad(format!(
                "TON {} / NPI {} out of range",
                self.ton, self.npi
            )));
        }
        let toa = 0x80 | (self.ton << 4) | self.npi;
        match &self.value {
            AddressValue::Digits(d) => {
                if d.len() > 20 {
                    return Err(bad(format!("{} digits (at most 20)", d.len())));
                }
                let mut nibbles = Vec::with_capacity(d.len() + 1);
                for c in d.bytes() {
                    let n = DIGITS
                        .iter()
                        .position(|&x| x == c)
                        .ok_or_else(|| bad(format!("character {:?} is not a digit", c as char)))?;
                    nibbles.push(n as u8);
                }
                let mut out = vec![d.len() as u8, toa];
                if nibbles.len() % 2 == 1 {
                    nibbles.push(0x0F);
                }
                out.extend(nibbles.chunks(2).map(|p| p[0] | (p[1] << 4)));
                Ok(out)
            }
            AddressValue::Alphanumeric {
                semi_octets,
                packed,
            } => {
                if usize::from(*semi_octets).div_ceil(2) != packed.len() || *semi_octets > 22 {
                    return Err(bad("alphanumeric length does not match its octets".into()));
                }
                let mut out = vec![*semi_octets, toa];
                out.extend_from_slice(packed);
                Ok(out)
            }
        }
    }

    fn decode(c: &mut Cur<'_>) -> Result<Self, SmsError> {
        let start = c.pos;
        let len = c.byte("address length")?;
        let toa_pos = c.pos;
        let toa = c.byte("type of address")?;
        if toa & 0x80 == 0 {
            return Err(SmsError::new(
                toa_pos,
                SmsErrorKind::ReservedBits("type of address bit 8"),
            ));
        }
        let ton = (toa >> 4) & 0x07;
        let npi = toa & 0x0F;
        if len > 22 || (ton != TON_ALPHANUMERIC && len > 20) {
            return Err(SmsError::new(
                start,
                SmsErrorKind::BadAddress(format!("address length {len} too long")),
            ));
        }
        let octets = usize::from(len).div_ceil(2);
        let vpos = c.pos;
        let bytes = c.take(octets, "address value")?;
        if ton == TON_ALPHANUMERIC {
            return Ok(Address {
                ton,
                npi,
                value: AddressValue::Alphanumeric {
                    semi_octets: len,
                    packed: bytes.to_vec(),
                },
            });
        }
        let mut digits = String::with_capacity(usize::from(len));
        for i in 0..usize::from(len) {
            let b = bytes[i / 2];
            let n = if i % 2 == 0 { b & 0x0F } else { b >> 4 };
            let ch = DIGITS.get(usize::from(n)).ok_or_else(|| {
                SmsError::new(
                    vpos + i / 2,
                    SmsErrorKind::BadAddress("filler F inside the digits".into()),
                )
            })?;
            digits.push(*ch as char);
        }
        if len % 2 == 1 && bytes[octets - 1] >> 4 != 0x0F {
            return Err(SmsError::new(
                vpos + octets - 1,
                SmsErrorKind::BadAddress("odd digit count without filler F".into()),
            ));
        }
        Ok(Address {
            ton,
            npi,
            value: AddressValue::Digits(digits),
        })
    }
}

/// The alphabet of the user data, from TP-DCS (TS 23.038 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// GSM 7-bit default alphabet: TP-UDL counts septets.
    Gsm7,
    /// 8-bit data: TP-UDL counts octets.
    EightBit,
    /// UCS2: TP-UDL counts octets.
    Ucs2,
}

impl Alphabet {
    /// The alphabet TP-DCS selects. Compressed data counts octets; reserved codings are read as
    /// the GSM 7-bit alphabet, as TS 23.038 prescribes.
    pub fn from_dcs(dcs: u8) -> Self {
        match dcs >> 4 {
            0x0..=0x7 => {
                if dcs & 0x20 != 0 {
                    Alphabet::EightBit
                } else {
                    match (dcs >> 2) & 3 {
                        1 => Alphabet::EightBit,
                        2 => Alphabet::Ucs2,
                        _ => Alphabet::Gsm7,
                    }
                }
            }
            0xE => Alphabet::Ucs2,
            0xF if dcs & 0x04 != 0 => Alphabet::EightBit,
            _ => Alphabet::Gsm7,
        }
    }
}

/// Concatenation reference of 8 (IEI `00`) or 16 (IEI `08`) bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConcatRef {
    /// IEI `00`.
    Eight(u8),
    /// IEI `08`.
    Sixteen(u16),
}

/// A concatenation IE (TS 23.040 §9.2.3.24.1 and .8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Concatenation {
    /// Reference shared by the segments of one message.
    pub reference: ConcatRef,
    /// Number of segments (1–255).
    pub total: u8,
    /// This segment's number (1–`total`).
    pub sequence: u8,
}

/// An information element of the user data header.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InformationElement {
    /// `00` / `08`: concatenated short message.
    Concatenation(Concatenation),
    /// `70` (length 0): the user data is (part of) a command packet (TS 31.115).
    CommandPacket,
    /// `71` (length 0): the user data is (part of) a response packet (TS 31.115).
    ResponsePacket,
    /// Any other IE.
    Other {
        /// IEI.
        iei: u8,
        /// IED.
        data: Vec<u8>,
    },
}

impl InformationElement {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), SmsError> {
        match self {
            InformationElement::Concatenation(c) => match c.reference {
                ConcatRef::Eight(r) => {
                    out.extend_from_slice(&[IEI_CONCAT_8, 3, r, c.total, c.sequence])
                }
                ConcatRef::Sixteen(r) => {
                    let [a, b] = r.to_be_bytes();
                    out.extend_from_slice(&[IEI_CONCAT_16, 4, a, b, c.total, c.sequence]);
                }
            },
            InformationElement::CommandPacket => out.extend_from_slice(&[IEI_COMMAND_PACKET, 0]),
            InformationElement::ResponsePacket => out.extend_from_slice(&[IEI_RESPONSE_PACKET, 0]),
            InformationElement::Other { iei, data } => {
                let n = u8::try_from(data.len()).map_err(|_| {
                    SmsError::new(
                        0,
                        SmsErrorKind::TooLong {
                            what: "information element",
                            len: data.len(),
                            max: 255,
                        },
                    )
                })?;
                out.push(*iei);
                out.push(n);
                out.extend_from_slice(data);
            }
        }
        Ok(())
    }
}

/// User data: an optional header and the body (septet values for GSM 7-bit, octets otherwise).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserData {
    /// The header's information elements (`Some` ⇔ TP-UDHI = 1).
    pub header: Option<Vec<InformationElement>>,
    /// The short message: octets (8-bit, UCS2) or septet values `00`–`7F` (GSM 7-bit).
    pub body: Vec<u8>,
}

impl UserData {
    /// 8-bit data behind a header.
    pub fn with_header(header: Vec<InformationElement>, body: impl Into<Vec<u8>>) -> Self {
        UserData {
            header: Some(header),
            body: body.into(),
        }
    }

    /// The concatenation IE of the header, if any.
    pub fn concatenation(&self) -> Option<Concatenation> {
        self.header.as_ref()?.iter().find_map(|ie| match ie {
            InformationElement::Concatenation(c) => Some(*c),
            _ => None,
        })
    }

    fn header_bytes(&self) -> Result<Option<Vec<u8>>, SmsError> {
        let Some(ies) = &self.header else {
            return Ok(None);
        };
        let mut h = vec![0];
        for ie in ies {
            ie.write(&mut h)?;
        }
        let udhl = h.len() - 1;
        if udhl > MAX_UD_OCTETS - 1 {
            return Err(SmsError::new(
                0,
                SmsErrorKind::TooLong {
                    what: "user data header",
                    len: udhl,
                    max: MAX_UD_OCTETS - 1,
                },
            ));
        }
        h[0] = udhl as u8;
        Ok(Some(h))
    }

    /// Encodes TP-UD for `alphabet` and returns `(TP-UDL, TP-UD)`.
    pub fn encode(&self, alphabet: Alphabet) -> Result<(u8, Vec<u8>), SmsError> {
        let header = self.header_bytes()?.unwrap_or_default();
        let too_long = |what, len, max| SmsError::new(0, SmsErrorKind::TooLong { what, len, max });
        match alphabet {
            Alphabet::EightBit | Alphabet::Ucs2 => {
                let mut ud = header;
                ud.extend_from_slice(&self.body);
                if ud.len() > MAX_UD_OCTETS {
                    return Err(too_long("user data", ud.len(), MAX_UD_OCTETS));
                }
                Ok((ud.len() as u8, ud))
            }
            Alphabet::Gsm7 => {
                if self.body.iter().any(|&s| s > 0x7F) {
                    return Err(SmsError::new(
                        0,
                        SmsErrorKind::BadHeader("GSM 7-bit body value above 7F".into()),
                    ));
                }
                let header_septets = (header.len() * 8).div_ceil(7);
                let udl = header_septets + self.body.len();
                if udl > MAX_UD_SEPTETS {
                    return Err(too_long("user data (septets)", udl, MAX_UD_SEPTETS));
                }
                let mut ud = vec![0u8; (udl * 7).div_ceil(8)];
                ud[..header.len()].copy_from_slice(&header);
                for (i, &s) in self.body.iter().enumerate() {
                    let bit = (header_septets + i) * 7;
                    let (byte, shift) = (bit / 8, bit % 8);
                    ud[byte] |= s << shift;
                    if shift > 1 {
                        ud[byte + 1] |= s >> (8 - shift);
                    }
                }
                Ok((udl as u8, ud))
            }
        }
    }

    /// Decodes TP-UD of exactly the size TP-UDL implies. `base` is the offset of TP-UD in the
    /// TPDU (for error offsets).
    pub fn decode(
        udl: u8,
        ud: &[u8],
        udhi: bool,
        alphabet: Alphabet,
        base: usize,
    ) -> Result<Self, SmsError> {
        let udl_us = usize::from(udl);
        let expected_octets = match alphabet {
            Alphabet::Gsm7 => (udl_us * 7).div_ceil(8),
            _ => udl_us,
        };
        if expected_octets != ud.len() {
            return Err(SmsError::new(
                base.saturating_sub(1),
                SmsErrorKind::UdlMismatch {
                    udl,
                    expected_octets,
                    present: ud.len(),
                },
            ));
        }
        let (max, limit) = match alphabet {
            Alphabet::Gsm7 => ("user data (septets)", MAX_UD_SEPTETS),
            _ => ("user data", MAX_UD_OCTETS),
        };
        if udl_us > limit {
            return Err(SmsError::new(
                base.saturating_sub(1),
                SmsErrorKind::TooLong {
                    what: max,
                    len: udl_us,
                    max: limit,
                },
            ));
        }
        let (header, header_len) = if udhi {
            let (ies, n) = decode_header(ud, base)?;
            (Some(ies), n)
        } else {
            (None, 0)
        };
        let body = match alphabet {
            Alphabet::EightBit | Alphabet::Ucs2 => ud[header_len..].to_vec(),
            Alphabet::Gsm7 => {
                let header_septets = (header_len * 8).div_ceil(7);
                if header_septets > udl_us {
                    return Err(SmsError::new(
                        base,
                        SmsErrorKind::BadHeader("header longer than TP-UDL".into()),
                    ));
                }
                // Fill bits between header and body must be zero.
                if header_len > 0 {
                    let fill = header_septets * 7 - header_len * 8;
                    if fill > 0 {
                        let mask = ((1u16 << fill) - 1) as u8;
                        if ud.get(header_len).is_some_and(|b| b & mask != 0) {
                            return Err(SmsError::new(
                                base + header_len,
                                SmsErrorKind::ReservedBits("fill bits"),
                            ));
                        }
                    }
                }
                let mut body = Vec::with_capacity(udl_us - header_septets);
                for k in header_septets..udl_us {
                    let bit = k * 7;
                    let (byte, shift) = (bit / 8, bit % 8);
                    let lo = u16::from(ud[byte]) >> shift;
                    let hi = ud.get(byte + 1).map_or(0, |&b| u16::from(b) << (8 - shift));
                    body.push(((lo | hi) & 0x7F) as u8);
                }
                // Padding bits in the last octet must be zero.
                let used = udl_us * 7;
                if used % 8 != 0
                    && let Some(last) = ud.last()
                    && last >> (used % 8) != 0
                {
                    return Err(SmsError::new(
                        base + ud.len() - 1,
                        SmsErrorKind::ReservedBits("padding bits"),
                    ));
                }
                body
            }
        };
        Ok(UserData { header, body })
    }
}

/// Decodes UDHL ‖ IEs at the start of `ud`; returns the IEs and the header size (1 + UDHL).
fn decode_header(ud: &[u8], base: usize) -> Result<(Vec<InformationElement>, usize), SmsError> {
    let bad = |off: usize, why: String| SmsError::new(base + off, SmsErrorKind::BadHeader(why));
    let udhl = usize::from(*ud.first().ok_or_else(|| truncated(base, "UDHL", 1, 0))?);
    let h = ud
        .get(1..1 + udhl)
        .ok_or_else(|| truncated(base + 1, "user data header", udhl, ud.len() - 1))?;
    let mut ies = Vec::new();
    let mut p = 0;
    while p < h.len() {
        let iei = h[p];
        let Some(&len) = h.get(p + 1) else {
            return Err(bad(1 + p, format!("IE {iei:02X} without length")));
        };
        let data = h
            .get(p + 2..p + 2 + usize::from(len))
            .ok_or_else(|| bad(1 + p, format!("IE {iei:02X} longer than the header")))?;
        let ie = match (iei, data) {
            (IEI_CONCAT_8, [r, t, s]) => InformationElement::Concatenation(Concatenation {
                reference: ConcatRef::Eight(*r),
                total: *t,
                sequence: *s,
            }),
            (IEI_CONCAT_16, [a, b, t, s]) => InformationElement::Concatenation(Concatenation {
                reference: ConcatRef::Sixteen(u16::from_be_bytes([*a, *b])),
                total: *t,
                sequence: *s,
            }),
            (IEI_COMMAND_PACKET, []) => InformationElement::CommandPacket,
            (IEI_RESPONSE_PACKET, []) => InformationElement::ResponsePacket,
            (IEI_CONCAT_8 | IEI_CONCAT_16 | IEI_COMMAND_PACKET | IEI_RESPONSE_PACKET, _) => {
                return Err(bad(
                    1 + p,
                    format!("IE {iei:02X} has the wrong length {len}"),
                ));
            }
            _ => InformationElement::Other {
                iei,
                data: data.to_vec(),
            },
        };
        ies.push(ie);
        p += 2 + usize::from(len);
    }
    Ok((ies, 1 + udhl))
}

/// How strictly TP-UDL is checked against the user data present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UdlPolicy {
    /// TP-UDL must describe exactly the bytes up to the end of the TPDU.
    #[default]
    Strict,
    /// For 8-bit and UCS2 data, the user data runs to the end of the TPDU whatever TP-UDL says;
    /// a disagreeing TP-UDL is kept in `declared_udl` (GSM 7-bit data stays strict).
    TrustBuffer,
}

/// Reads PID, DCS, (SCTS or VP via `middle`), UDL and UD.
fn decode_ud_tail(
    c: &mut Cur<'_>,
    udhi: bool,
    dcs: u8,
    policy: UdlPolicy,
) -> Result<(UserData, Option<u8>), SmsError> {
    let alphabet = Alphabet::from_dcs(dcs);
    let udl = c.byte("TP-UDL")?;
    let base = c.pos;
    let rest = &c.buf[c.pos..];
    c.pos = c.buf.len();
    let octet_alphabet = alphabet != Alphabet::Gsm7;
    if policy == UdlPolicy::TrustBuffer && octet_alphabet && usize::from(udl) != rest.len() {
        let real = u8::try_from(rest.len()).map_err(|_| {
            SmsError::new(
                base,
                SmsErrorKind::TooLong {
                    what: "user data",
                    len: rest.len(),
                    max: MAX_UD_OCTETS,
                },
            )
        })?;
        let ud = UserData::decode(real, rest, udhi, alphabet, base)?;
        return Ok((ud, Some(udl)));
    }
    Ok((UserData::decode(udl, rest, udhi, alphabet, base)?, None))
}

/// SMS-DELIVER (TS 23.040 §9.2.2.1), SC → MS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsDeliver {
    /// TP-MMS, inverted: `true` when the bit is 0 ("more messages are waiting").
    pub more_messages_to_send: bool,
    /// TP-LP (bit 3): loop prevention.
    pub loop_prevention: bool,
    /// TP-SRI (bit 5): a status report will be returned to the SME.
    pub status_report_indication: bool,
    /// TP-RP (bit 7): reply path.
    pub reply_path: bool,
    /// TP-OA.
    pub originating_address: Address,
    /// TP-PID.
    pub pid: u8,
    /// TP-DCS.
    pub dcs: u8,
    /// TP-SCTS, the seven semi-octet bytes as received.
    pub scts: [u8; 7],
    /// TP-UD (TP-UDHI is set when it has a header).
    pub user_data: UserData,
    /// A TP-UDL that disagreed with the user data, kept by [`UdlPolicy::TrustBuffer`] and
    /// written back by the encoder; `None` = computed from the user data.
    pub declared_udl: Option<u8>,
}

impl SmsDeliver {
    /// An SMS-PP data download message (PID `7F`, DCS `F6`) carrying `user_data`; no more
    /// messages waiting.
    pub fn data_download(originating_address: Address, scts: [u8; 7], user_data: UserData) -> Self {
        SmsDeliver {
            more_messages_to_send: false,
            loop_prevention: false,
            status_report_indication: false,
            reply_path: false,
            originating_address,
            pid: PID_SIM_DATA_DOWNLOAD,
            dcs: DCS_8BIT_CLASS2,
            scts,
            user_data,
            declared_udl: None,
        }
    }

    /// Encodes the TPDU.
    pub fn encode(&self) -> Result<Vec<u8>, SmsError> {
        let mut fo = 0u8;
        if !self.more_messages_to_send {
            fo |= 0x04;
        }
        if self.loop_prevention {
            fo |= 0x08;
        }
        if self.status_report_indication {
            fo |= 0x20;
        }
        if self.user_data.header.is_some() {
            fo |= 0x40;
        }
        if self.reply_path {
            fo |= 0x80;
        }
        let mut out = vec![fo];
        out.extend(self.originating_address.encode()?);
        out.push(self.pid);
        out.push(self.dcs);
        out.extend_from_slice(&self.scts);
        let (udl, ud) = self.user_data.encode(Alphabet::from_dcs(self.dcs))?;
        out.push(self.declared_udl.unwrap_or(udl));
        out.extend(ud);
        Ok(out)
    }

    /// Decodes a whole TPDU strictly.
    pub fn decode(buf: &[u8]) -> Result<Self, SmsError> {
        Self::decode_with(buf, UdlPolicy::Strict)
    }

    /// Decodes a whole TPDU with the given TP-UDL policy.
    pub fn decode_with(buf: &[u8], policy: UdlPolicy) -> Result<Self, SmsError> {
        let mut c = Cur { buf, pos: 0 };
        let fo = c.byte("first octet")?;
        if fo & 0x03 != 0 {
            return Err(SmsError::new(
                0,
                SmsErrorKind::WrongMti {
                    expected: 0,
                    found: fo & 0x03,
                },
            ));
        }
        if fo & 0x10 != 0 {
            return Err(SmsError::new(
                0,
                SmsErrorKind::ReservedBits("first octet bit 4"),
            ));
        }
        let originating_address = Address::decode(&mut c)?;
        let pid = c.byte("TP-PID")?;
        let dcs = c.byte("TP-DCS")?;
        let scts: [u8; 7] = c
            .take(7, "TP-SCTS")?
            .try_into()
            .map_err(|_| truncated(c.pos, "TP-SCTS", 7, 0))?;
        let (user_data, declared_udl) = decode_ud_tail(&mut c, fo & 0x40 != 0, dcs, policy)?;
        Ok(SmsDeliver {
            more_messages_to_send: fo & 0x04 == 0,
            loop_prevention: fo & 0x08 != 0,
            status_report_indication: fo & 0x20 != 0,
            reply_path: fo & 0x80 != 0,
            originating_address,
            pid,
            dcs,
            scts,
            user_data,
            declared_udl,
        })
    }
}

/// TP-VP (TS 23.040 §9.2.3.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidityPeriod {
    /// VPF `10`: relative, one octet.
    Relative(u8),
    /// VPF `01`: enhanced, seven octets.
    Enhanced([u8; 7]),
    /// VPF `11`: absolute, seven semi-octet bytes.
    Absolute([u8; 7]),
}

/// SMS-SUBMIT (TS 23.040 §9.2.2.2), MS → SC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSubmit {
    /// TP-RD (bit 2): reject duplicates.
    pub reject_duplicates: bool,
    /// TP-SRR (bit 5): status report requested.
    pub status_report_request: bool,
    /// TP-RP (bit 7): reply path.
    pub reply_path: bool,
    /// TP-MR.
    pub message_reference: u8,
    /// TP-DA.
    pub destination_address: Address,
    /// TP-PID.
    pub pid: u8,
    /// TP-DCS.
    pub dcs: u8,
    /// TP-VP and, through its variant, TP-VPF.
    pub validity_period: Option<ValidityPeriod>,
    /// TP-UD.
    pub user_data: UserData,
    /// See [`SmsDeliver::declared_udl`].
    pub declared_udl: Option<u8>,
}

impl SmsSubmit {
    /// A PoR / MO secured packet message (PID `7F`, DCS `F6`) without validity period.
    pub fn data(message_reference: u8, destination_address: Address, user_data: UserData) -> Self {
        SmsSubmit {
            reject_duplicates: false,
            status_report_request: false,
            reply_path: false,
            message_reference,
            destination_address,
            pid: PID_SIM_DATA_DOWNLOAD,
            dcs: DCS_8BIT_CLASS2,
            validity_period: None,
            user_data,
            declared_udl: None,
        }
    }

    /// Encodes the TPDU.
    pub fn encode(&self) -> Result<Vec<u8>, SmsError> {
        let mut fo = 0x01u8;
        if self.reject_duplicates {
            fo |= 0x04;
        }
        fo |= match self.validity_period {
            None => 0x00,
            Some(ValidityPeriod::Enhanced(_)) => 0x08,
            Some(ValidityPeriod::Relative(_)) => 0x10,
            Some(ValidityPeriod::Absolute(_)) => 0x18,
        };
        if self.status_report_request {
            fo |= 0x20;
        }
        if self.user_data.header.is_some() {
            fo |= 0x40;
        }
        if self.reply_path {
            fo |= 0x80;
        }
        let mut out = vec![fo, self.message_reference];
        out.extend(self.destination_address.encode()?);
        out.push(self.pid);
        out.push(self.dcs);
        match self.validity_period {
            None => {}
            Some(ValidityPeriod::Relative(v)) => out.push(v),
            Some(ValidityPeriod::Enhanced(v) | ValidityPeriod::Absolute(v)) => {
                out.extend_from_slice(&v)
            }
        }
        let (udl, ud) = self.user_data.encode(Alphabet::from_dcs(self.dcs))?;
        out.push(self.declared_udl.unwrap_or(udl));
        out.extend(ud);
        Ok(out)
    }

    /// Decodes a whole TPDU strictly.
    pub fn decode(buf: &[u8]) -> Result<Self, SmsError> {
        Self::decode_with(buf, UdlPolicy::Strict)
    }

    /// Decodes a whole TPDU with the given TP-UDL policy.
    pub fn decode_with(buf: &[u8], policy: UdlPolicy) -> Result<Self, SmsError> {
        let mut c = Cur { buf, pos: 0 };
        let fo = c.byte("first octet")?;
        if fo & 0x03 != 0x01 {
            return Err(SmsError::new(
                0,
                SmsErrorKind::WrongMti {
                    expected: 1,
                    found: fo & 0x03,
                },
            ));
        }
        let message_reference = c.byte("TP-MR")?;
        let destination_address = Address::decode(&mut c)?;
        let pid = c.byte("TP-PID")?;
        let dcs = c.byte("TP-DCS")?;
        let validity_period = match (fo >> 3) & 0x03 {
            0 => None,
            2 => Some(ValidityPeriod::Relative(c.byte("TP-VP")?)),
            vpf => {
                let v: [u8; 7] = c
                    .take(7, "TP-VP")?
                    .try_into()
                    .map_err(|_| truncated(c.pos, "TP-VP", 7, 0))?;
                Some(if vpf == 1 {
                    ValidityPeriod::Enhanced(v)
                } else {
                    ValidityPeriod::Absolute(v)
                })
            }
        };
        let (user_data, declared_udl) = decode_ud_tail(&mut c, fo & 0x40 != 0, dcs, policy)?;
        Ok(SmsSubmit {
            reject_duplicates: fo & 0x04 != 0,
            status_report_request: fo & 0x20 != 0,
            reply_path: fo & 0x80 != 0,
            message_reference,
            destination_address,
            pid,
            dcs,
            validity_period,
            user_data,
            declared_udl,
        })
    }
}

/// Whether a secured packet is a command (CPI `70`) or a response (RPI `71`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketKind {
    /// Command packet (SM-SR → card).
    Command,
    /// Response packet (card → SM-SR).
    Response,
}

impl PacketKind {
    fn ie(self) -> InformationElement {
        match self {
            PacketKind::Command => InformationElement::CommandPacket,
            PacketKind::Response => InformationElement::ResponsePacket,
        }
    }
}

/// Cuts a secured packet into the user data of one or more 8-bit short messages (TS 31.115;
/// digest §5.1). A packet that fits behind `02 70 00` (or `02 71 00`) goes in one message without
/// a concatenation IE. Otherwise segment 1 carries the concatenation IE then the packet
/// identifier, later segments only the concatenation IE (spec-choices row on TS 31.115).
pub fn split_packet(
    packet: &[u8],
    kind: PacketKind,
    reference: ConcatRef,
) -> Result<Vec<UserData>, SmsError> {
    if 3 + packet.len() <= MAX_UD_OCTETS {
        return Ok(vec![UserData::with_header(vec![kind.ie()], packet)]);
    }
    let concat_len = match reference {
        ConcatRef::Eight(_) => 5,
        ConcatRef::Sixteen(_) => 6,
    };
    let first_cap = MAX_UD_OCTETS - 1 - concat_len - 2;
    let other_cap = MAX_UD_OCTETS - 1 - concat_len;
    let rest = packet.len() - first_cap;
    let total = 1 + rest.div_ceil(other_cap);
    let total_u8 = u8::try_from(total).map_err(|_| {
        SmsError::new(
            0,
            SmsErrorKind::TooLong {
                what: "number of segments",
                len: total,
                max: 255,
            },
        )
    })?;
    let concat = |sequence: u8| {
        InformationElement::Concatenation(Concatenation {
            reference,
            total: total_u8,
            sequence,
        })
    };
    let mut out = vec![UserData::with_header(
        vec![concat(1), kind.ie()],
        &packet[..first_cap],
    )];
    for (i, chunk) in packet[first_cap..].chunks(other_cap).enumerate() {
        out.push(UserData::with_header(vec![concat(i as u8 + 2)], chunk));
    }
    Ok(out)
}

/// Bounds of a [`Reassembler`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Concatenated messages in progress at once.
    pub max_pending: usize,
    /// Bytes buffered over all messages in progress.
    pub max_bytes: usize,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            max_pending: 16,
            max_bytes: 64 * 1024,
        }
    }
}

/// Why a segment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConcatError {
    /// Total 0, sequence 0 or sequence above total (TS 23.040 says to ignore such an IE).
    #[error("concatenation IE with total {total} and sequence {sequence} is invalid")]
    InvalidIe {
        /// Total.
        total: u8,
        /// Sequence number.
        sequence: u8,
    },
    /// The header holds more than one concatenation IE.
    #[error("more than one concatenation IE")]
    MultipleConcatenation,
    /// The segment was already received.
    #[error("segment {sequence} received twice ({})", if *identical { "same content" } else { "different content" })]
    Duplicate {
        /// Sequence number.
        sequence: u8,
        /// Whether its content equals the first copy.
        identical: bool,
    },
    /// The segment's total differs from the other segments of its message.
    #[error("segment says {found} parts, earlier segments said {expected}")]
    InconsistentTotal {
        /// Total of the message so far.
        expected: u8,
        /// Total in this segment.
        found: u8,
    },
}

/// An abandoned incomplete message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abandoned {
    /// Sender.
    pub sender: Address,
    /// Concatenation reference.
    pub reference: ConcatRef,
    /// Number of parts announced.
    pub total: u8,
    /// Sequence numbers never received.
    pub missing: Vec<u8>,
}

/// A complete message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembled {
    /// Sender.
    pub sender: Address,
    /// The header IEs other than concatenation, from every segment in order, without repeats.
    pub elements: Vec<InformationElement>,
    /// The concatenated bodies.
    pub data: Vec<u8>,
    /// Number of segments.
    pub segments: u8,
    /// Whether the segments arrived in another order than 1, 2, 3, …
    pub out_of_order: bool,
}

impl Reassembled {
    /// Command or response packet, according to the CPI/RPI found in the header.
    pub fn packet_kind(&self) -> Option<PacketKind> {
        self.elements.iter().find_map(|ie| match ie {
            InformationElement::CommandPacket => Some(PacketKind::Command),
            InformationElement::ResponsePacket => Some(PacketKind::Response),
            _ => None,
        })
    }
}

/// What pushing a segment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    /// The completed message, if this segment completed one (or was not concatenated).
    pub complete: Option<Reassembled>,
    /// Messages dropped to stay within the limits.
    pub evicted: Vec<Abandoned>,
}

#[derive(Debug, Clone)]
struct Pending {
    sender: Address,
    reference: ConcatRef,
    total: u8,
    parts: Vec<Option<UserData>>,
    bytes: usize,
    next_in_order: u8,
    out_of_order: bool,
}

impl Pending {
    fn missing(&self) -> Vec<u8> {
        (1..=self.total)
            .filter(|s| self.parts[usize::from(*s) - 1].is_none())
            .collect()
    }

    fn abandon(self) -> Abandoned {
        let missing = self.missing();
        Abandoned {
            sender: self.sender,
            reference: self.reference,
            total: self.total,
            missing,
        }
    }
}

/// Reassembles concatenated short messages, keyed by sender and reference, within
/// [`ReassemblyLimits`] (the oldest message in progress is dropped to make room). Without a
/// clock, abandoning stale messages is the caller's decision ([`Reassembler::abandon`]).
#[derive(Debug, Clone, Default)]
pub struct Reassembler {
    limits: ReassemblyLimits,
    pending: Vec<Pending>,
    bytes: usize,
}

impl Reassembler {
    /// An empty reassembler.
    pub fn new(limits: ReassemblyLimits) -> Self {
        Reassembler {
            limits,
            pending: Vec::new(),
            bytes: 0,
        }
    }

    /// Messages in progress.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Bytes buffered.
    pub fn buffered_bytes(&self) -> usize {
        self.bytes
    }

    /// The parts still missing of a message in progress.
    pub fn missing(&self, sender: &Address, reference: ConcatRef) -> Option<Vec<u8>> {
        self.pending
            .iter()
            .find(|p| &p.sender == sender && p.reference == reference)
            .map(Pending::missing)
    }

    /// Drops a message in progress (e.g. after a timeout the caller measured).
    pub fn abandon(&mut self, sender: &Address, reference: ConcatRef) -> Option<Abandoned> {
        let i = self
            .pending
            .iter()
            .position(|p| &p.sender == sender && p.reference == reference)?;
        let p = self.pending.remove(i);
        self.bytes -= p.bytes;
        Some(p.abandon())
    }

    /// Adds one received short message's user data.
    pub fn push(&mut self, sender: &Address, ud: &UserData) -> Result<Pushed, ConcatError> {
        let concats: Vec<Concatenation> = ud
            .header
            .iter()
            .flatten()
            .filter_map(|ie| match ie {
                InformationElement::Concatenation(c) => Some(*c),
                _ => None,
            })
            .collect();
        let c = match concats.as_slice() {
            [] => {
                return Ok(Pushed {
                    complete: Some(Reassembled {
                        sender: sender.clone(),
                        elements: ud.header.clone().unwrap_or_default(),
                        data: ud.body.clone(),
                        segments: 1,
                        out_of_order: false,
                    }),
                    evicted: Vec::new(),
                });
            }
            [c] => *c,
            _ => return Err(ConcatError::MultipleConcatenation),
        };
        if c.total == 0 || c.sequence == 0 || c.sequence > c.total {
            return Err(ConcatError::InvalidIe {
                total: c.total,
                sequence: c.sequence,
            });
        }
        let mut evicted = Vec::new();
        let idx = match self
            .pending
            .iter()
            .position(|p| &p.sender == sender && p.reference == c.reference)
        {
            Some(i) => {
                let p = &self.pending[i];
                if p.total != c.total {
                    return Err(ConcatError::InconsistentTotal {
                        expected: p.total,
                        found: c.total,
                    });
                }
                if let Some(prev) = &p.parts[usize::from(c.sequence) - 1] {
                    return Err(ConcatError::Duplicate {
                        sequence: c.sequence,
                        identical: prev == ud,
                    });
                }
                i
            }
            None => {
                while self.pending.len() >= self.limits.max_pending.max(1) {
                    let old = self.pending.remove(0);
                    self.bytes -= old.bytes;
                    evicted.push(old.abandon());
                }
                self.pending.push(Pending {
                    sender: sender.clone(),
                    reference: c.reference,
                    total: c.total,
                    parts: vec![None; usize::from(c.total)],
                    bytes: 0,
                    next_in_order: 1,
                    out_of_order: false,
                });
                self.pending.len() - 1
            }
        };
        // Make room by dropping the oldest other messages.
        let size = ud.body.len();
        let mut idx = idx;
        while self.bytes + size > self.limits.max_bytes {
            let Some(victim) = (0..self.pending.len()).find(|&i| i != idx) else {
                break;
            };
            let old = self.pending.remove(victim);
            self.bytes -= old.bytes;
            evicted.push(old.abandon());
            if victim < idx {
                idx -= 1;
            }
        }
        if self.bytes + size > self.limits.max_bytes {
            // Even alone this message does not fit: drop it.
            let p = self.pending.remove(idx);
            self.bytes -= p.bytes;
            evicted.push(p.abandon());
            return Ok(Pushed {
                complete: None,
                evicted,
            });
        }
        let p = &mut self.pending[idx];
        if c.sequence != p.next_in_order {
            p.out_of_order = true;
        }
        p.next_in_order = c.sequence.saturating_add(1);
        p.parts[usize::from(c.sequence) - 1] = Some(ud.clone());
        p.bytes += size;
        self.bytes += size;
        if p.parts.iter().any(Option::is_none) {
            return Ok(Pushed {
                complete: None,
                evicted,
            });
        }
        let p = self.pending.remove(idx);
        self.bytes -= p.bytes;
        let mut elements: Vec<InformationElement> = Vec::new();
        let mut data = Vec::with_capacity(p.bytes);
        for part in p.parts.into_iter().flatten() {
            for ie in part.header.into_iter().flatten() {
                if !matches!(ie, InformationElement::Concatenation(_)) && !elements.contains(&ie) {
                    elements.push(ie);
                }
            }
            data.extend(part.body);
        }
        Ok(Pushed {
            complete: Some(Reassembled {
                sender: p.sender,
                elements,
                data,
                segments: p.total,
                out_of_order: p.out_of_order,
            }),
            evicted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esim_codec::hex::decode as h;

    #[test]
    fn scp80_vector_tpdus() {
        let v = esim_vectors::json("scp80.json");
        let mut n = 0;
        for case in v["cases"].as_array().unwrap() {
            if case.get("sms_deliver_tpdu").is_none() {
                continue;
            }
            let name = case["name"].as_str().unwrap();
            let tpdu = esim_vectors::hex_field(case, "sms_deliver_tpdu");
            let ud = esim_vectors::hex_field(case, "sms_user_data");
            // pySim writes TP-UDL = 3 (the UDH length) for 37+ octets of 8-bit data.
            let e = SmsDeliver::decode(&tpdu).unwrap_err();
            assert!(
                matches!(e.kind, SmsErrorKind::UdlMismatch { udl: 3, .. }),
                "{name}: {e}"
            );
            assert_eq!(e.offset, 16, "{name}");
            let d = SmsDeliver::decode_with(&tpdu, UdlPolicy::TrustBuffer).unwrap();
            assert_eq!(d.declared_udl, Some(3), "{name}");
            assert_eq!(d.pid, PID_SIM_DATA_DOWNLOAD);
            assert_eq!(d.dcs, DCS_8BIT_CLASS2);
            assert_eq!(d.scts, [0x22, 0x70, 0x52, 0, 0, 0, 0]);
            assert_eq!(d.originating_address.as_digits(), Some("12345678"));
            assert_eq!(
                (d.originating_address.ton, d.originating_address.npi),
                (0, 1)
            );
            assert!(d.more_messages_to_send);
            assert_eq!(
                d.user_data.header.as_deref(),
                Some(&[InformationElement::CommandPacket][..])
            );
            let (_, ud_enc) = d.user_data.encode(Alphabet::EightBit).unwrap();
            assert_eq!(ud_enc, ud, "{name}");
            assert_eq!(
                d.user_data.body,
                esim_vectors::hex_field(case, "command_packet")
            );
            assert_eq!(d.encode().unwrap(), tpdu, "{name}");
            // Built from its fields, with a correct UDL, it decodes strictly.
            let fixed = SmsDeliver {
                declared_udl: None,
                ..d.clone()
            };
            let enc = fixed.encode().unwrap();
            assert_eq!(usize::from(enc[16]), ud.len());
            assert_eq!(SmsDeliver::decode(&enc).unwrap(), fixed);
            n += 1;
        }
        assert_eq!(n, 4);
    }

    #[test]
    fn submit_with_validity() {
        let da = Address::digits(TON_INTERNATIONAL, NPI_ISDN, "4915112345678").unwrap();
        let mut s = SmsSubmit::data(
            0x2A,
            da,
            UserData::with_header(
                vec![InformationElement::ResponsePacket],
                h("000E0A").unwrap(),
            ),
        );
        let enc = s.encode().unwrap();
        assert_eq!(enc, h("412A0D91945111325476F87FF606027100000E0A").unwrap());
        assert_eq!(SmsSubmit::decode(&enc).unwrap(), s);
        s.validity_period = Some(ValidityPeriod::Relative(0xA7));
        s.reject_duplicates = true;
        let enc = s.encode().unwrap();
        assert_eq!(enc[0], 0x55);
        assert_eq!(SmsSubmit::decode(&enc).unwrap(), s);
        s.validity_period = Some(ValidityPeriod::Absolute([0x22, 0x70, 0x52, 0, 0, 0, 0]));
        assert_eq!(SmsSubmit::decode(&s.encode().unwrap()).unwrap(), s);
        assert!(matches!(
            SmsDeliver::decode(&enc).unwrap_err().kind,
            SmsErrorKind::WrongMti { .. }
        ));
    }

    #[test]
    fn gsm7_packing() {
        // "hellohello" in GSM 7-bit: E8329BFD4697D9EC37 (the classic example).
        let ud = UserData {
            header: None,
            body: b"hellohello".to_vec(),
        };
        let (udl, bytes) = ud.encode(Alphabet::Gsm7).unwrap();
        assert_eq!(udl, 10);
        assert_eq!(bytes, h("E8329BFD4697D9EC37").unwrap());
        assert_eq!(
            UserData::decode(udl, &bytes, false, Alphabet::Gsm7, 0).unwrap(),
            ud
        );
        // With a concatenation header: 6 octets of header, 1 fill bit, septets from bit 49.
        let ud = UserData {
            header: Some(vec![InformationElement::Concatenation(Concatenation {
                reference: ConcatRef::Eight(0x42),
                total: 2,
                sequence: 1,
            })]),
            body: b"abc".to_vec(),
        };
        let (udl, bytes) = ud.encode(Alphabet::Gsm7).unwrap();
        assert_eq!(udl, 7 + 3);
        assert_eq!(&bytes[..6], &h("050003420201").unwrap()[..]);
        assert_eq!(
            UserData::decode(udl, &bytes, true, Alphabet::Gsm7, 0).unwrap(),
            ud
        );
        let mut dirty = bytes.clone();
        dirty[6] |= 1;
        assert!(UserData::decode(udl, &dirty, true, Alphabet::Gsm7, 0).is_err());
    }

    #[test]
    fn dcs_alphabets() {
        assert_eq!(Alphabet::from_dcs(0xF6), Alphabet::EightBit);
        assert_eq!(Alphabet::from_dcs(0xF2), Alphabet::Gsm7);
        assert_eq!(Alphabet::from_dcs(0x00), Alphabet::Gsm7);
        assert_eq!(Alphabet::from_dcs(0x04), Alphabet::EightBit);
        assert_eq!(Alphabet::from_dcs(0x08), Alphabet::Ucs2);
        assert_eq!(Alphabet::from_dcs(0x16), Alphabet::EightBit);
        assert_eq!(Alphabet::from_dcs(0xE0), Alphabet::Ucs2);
    }

    #[test]
    fn address_errors() {
        assert!(Address::digits(1, 1, "12x").is_err());
        assert!(Address::digits(1, 1, &"1".repeat(21)).is_err());
        let a = Address::digits(1, 1, "*#abc1").unwrap();
        assert_eq!(a.encode().unwrap(), h("0691BADC1E").unwrap());
        // Filler in the middle, TOA bit 8 clear.
        let e = SmsDeliver::decode(&h("040381F1F3").unwrap()).unwrap_err();
        assert!(matches!(e.kind, SmsErrorKind::BadAddress(_)), "{e}");
        let e = SmsDeliver::decode(&h("00040121437FF6").unwrap()).unwrap_err();
        assert_eq!(e.kind, SmsErrorKind::ReservedBits("type of address bit 8"));
        assert_eq!(e.offset, 2);
    }

    #[test]
    fn split_400_byte_packet_and_reassemble() {
        let packet: Vec<u8> = (0..400u32).map(|i| (i * 7) as u8).collect();
        let parts = split_packet(&packet, PacketKind::Command, ConcatRef::Eight(0x5A)).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].body.len(), 132);
        assert_eq!(parts[1].body.len(), 134);
        assert_eq!(parts[2].body.len(), 134);
        let oa = Address::digits(TON_INTERNATIONAL, NPI_ISDN, "881234").unwrap();
        let mut tpdus = Vec::new();
        for p in &parts {
            let (udl, ud) = p.encode(Alphabet::EightBit).unwrap();
            assert!(ud.len() <= MAX_UD_OCTETS && usize::from(udl) == ud.len());
            let d = SmsDeliver::data_download(oa.clone(), [0; 7], p.clone());
            let enc = d.encode().unwrap();
            assert_eq!(SmsDeliver::decode(&enc).unwrap(), d);
            tpdus.push(enc);
        }
        assert_eq!(&tpdus[0][16..24], &h("070003 5A0301 7000").unwrap()[..]);
        assert_eq!(&tpdus[1][16..22], &h("050003 5A0302").unwrap()[..]);
        // Out of order, with a duplicate in the middle.
        let mut r = Reassembler::new(ReassemblyLimits::default());
        let ud = |i: usize| SmsDeliver::decode(&tpdus[i]).unwrap().user_data;
        assert_eq!(r.push(&oa, &ud(2)).unwrap().complete, None);
        assert_eq!(r.missing(&oa, ConcatRef::Eight(0x5A)), Some(vec![1, 2]));
        assert_eq!(r.push(&oa, &ud(0)).unwrap().complete, None);
        assert_eq!(
            r.push(&oa, &ud(0)).unwrap_err(),
            ConcatError::Duplicate {
                sequence: 1,
                identical: true
            }
        );
        let done = r.push(&oa, &ud(1)).unwrap().complete.unwrap();
        assert_eq!(done.data, packet);
        assert!(done.out_of_order);
        assert_eq!(done.packet_kind(), Some(PacketKind::Command));
        assert_eq!(r.pending(), 0);
        assert_eq!(r.buffered_bytes(), 0);
        // In order: not flagged.
        for i in 0..2 {
            assert!(r.push(&oa, &ud(i)).unwrap().complete.is_none());
        }
        assert!(!r.push(&oa, &ud(2)).unwrap().complete.unwrap().out_of_order);
        // A short packet is a single message without concatenation.
        let single =
            split_packet(&packet[..137], PacketKind::Command, ConcatRef::Eight(1)).unwrap();
        assert_eq!(single.len(), 1);
        let done = r.push(&oa, &single[0]).unwrap().complete.unwrap();
        assert_eq!(done.data, &packet[..137]);
        assert_eq!(
            split_packet(&packet[..138], PacketKind::Response, ConcatRef::Sixteen(9))
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn reassembler_rejects_and_bounds() {
        let oa = Address::digits(TON_INTERNATIONAL, NPI_ISDN, "1").unwrap();
        let seg = |r: ConcatRef, total: u8, sequence: u8, n: usize| {
            UserData::with_header(
                vec![InformationElement::Concatenation(Concatenation {
                    reference: r,
                    total,
                    sequence,
                })],
                vec![sequence; n],
            )
        };
        let mut r = Reassembler::new(ReassemblyLimits {
            max_pending: 2,
            max_bytes: 300,
        });
        assert_eq!(
            r.push(&oa, &seg(ConcatRef::Eight(1), 2, 3, 1)).unwrap_err(),
            ConcatError::InvalidIe {
                total: 2,
                sequence: 3
            }
        );
        assert!(r.push(&oa, &seg(ConcatRef::Eight(1), 0, 0, 1)).is_err());
        r.push(&oa, &seg(ConcatRef::Eight(1), 2, 1, 100)).unwrap();
        assert_eq!(
            r.push(&oa, &seg(ConcatRef::Eight(1), 3, 2, 100))
                .unwrap_err(),
            ConcatError::InconsistentTotal {
                expected: 2,
                found: 3
            }
        );
        let other = seg(ConcatRef::Eight(1), 2, 1, 101);
        assert_eq!(
            r.push(&oa, &other).unwrap_err(),
            ConcatError::Duplicate {
                sequence: 1,
                identical: false
            }
        );
        // Same reference from another sender is another message.
        let oa2 = Address::digits(TON_INTERNATIONAL, NPI_ISDN, "2").unwrap();
        r.push(&oa2, &seg(ConcatRef::Eight(1), 2, 1, 100)).unwrap();
        assert_eq!(r.pending(), 2);
        // A third message evicts the oldest.
        let p = r.push(&oa, &seg(ConcatRef::Sixteen(7), 2, 1, 50)).unwrap();
        assert_eq!(p.evicted.len(), 1);
        assert_eq!(p.evicted[0].sender, oa);
        assert_eq!(p.evicted[0].missing, vec![2]);
        // Byte bound: 150 + 200 > 300 drops the oldest other message.
        let p = r.push(&oa, &seg(ConcatRef::Sixteen(7), 2, 2, 200)).unwrap();
        assert_eq!(p.evicted.len(), 1);
        assert_eq!(p.evicted[0].sender, oa2);
        assert_eq!(p.complete.unwrap().data.len(), 250);
        assert!(r.buffered_bytes() <= 300);
        let a = r.abandon(&oa, ConcatRef::Sixteen(7));
        assert!(a.is_none());
    }
}
