//! Command and response APDUs (ISO/IEC 7816-4:2020 §5.1, §5.4.1).
//!
//! * [`CommandApdu`]: the four cases of §5.1 (Table 2), short and extended length fields.
//!   `le` holds N<sub>e</sub>, the maximum number of bytes expected: `Some(256)` is written `00` in
//!   the short form and `Some(65536)` is written `00 00` in the extended form.
//! * [`ResponseApdu`]: response data followed by the two status bytes (§5.1, Table 4).
//! * [`cla`]: the logical-channel and command-chaining bits of the class byte (§5.4.1).
//!
//! Decoders take the whole buffer and reject anything that does not fit one APDU exactly; every
//! error names the byte offset where the problem was found.

use std::fmt;

use crate::sw::StatusWord;

/// Largest N<sub>c</sub> (command data length) an extended APDU can carry.
pub const MAX_EXTENDED_NC: usize = 65_535;
/// Largest N<sub>e</sub> an extended APDU can request (`00 00`).
pub const MAX_EXTENDED_NE: usize = 65_536;
/// Largest N<sub>c</sub> a short APDU can carry.
pub const MAX_SHORT_NC: usize = 255;
/// Largest N<sub>e</sub> a short APDU can request (`00`).
pub const MAX_SHORT_NE: usize = 256;

/// Errors of APDU encoding and decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApduError {
    /// The buffer is shorter than the part being read.
    #[error("at byte {offset}: truncated {what}: needs {needed} byte(s), {available} left")]
    Truncated {
        /// Offset of the field that is cut short.
        offset: usize,
        /// The field ("header", "Lc", "status word", …).
        what: &'static str,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// The body does not match any of the length layouts of ISO/IEC 7816-4 §5.1 (Lc disagrees
    /// with the number of bytes that follow).
    #[error(
        "at byte {offset}: Lc = {lc} but {body} byte(s) follow it; not a valid case 3 or 4 APDU"
    )]
    LcMismatch {
        /// Offset of the Lc field.
        offset: usize,
        /// The value of Lc.
        lc: usize,
        /// Bytes after the Lc field.
        body: usize,
    },
    /// An extended Lc field of `00 00` (§5.1: N<sub>c</sub> must be at least 1 when Lc is present).
    #[error("at byte {offset}: extended Lc is 0000")]
    ZeroExtendedLc {
        /// Offset of the extended Lc field (its leading `00`).
        offset: usize,
    },
    /// Command data longer than the length fields can express (65 535 bytes).
    #[error("command data of {0} bytes is longer than an APDU can carry")]
    DataTooLong(usize),
    /// An N<sub>e</sub> of 0 or above 65 536.
    #[error("Ne = {0} cannot be encoded (must be 1..=65536)")]
    BadNe(usize),
    /// The short form was requested for a command that needs the extended form.
    #[error("command needs extended length fields (Nc = {nc}, Ne = {ne:?})")]
    NeedsExtended {
        /// Command data length.
        nc: usize,
        /// Expected length.
        ne: Option<usize>,
    },
    /// A logical channel number outside 0..=19 (§5.4.1).
    #[error("logical channel {0} is outside 0..=19")]
    BadChannel(u8),
    /// A class byte whose secure-messaging bits cannot be expressed in the further interindustry
    /// class (§5.4.1, Table 3).
    #[error("CLA {0:02X}: its secure messaging indication has no further-interindustry form")]
    ClaNotConvertible(u8),
}

/// Which length-field form an APDU uses (ISO/IEC 7816-4 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LengthForm {
    /// Short Lc/Le fields (one byte each).
    #[default]
    Short,
    /// Extended Lc/Le fields (`00` then two bytes; Le two bytes when Lc is present).
    Extended,
}

/// The ISO/IEC 7816-4 §5.1 command case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// No data, no response data expected.
    Case1,
    /// No data, response data expected.
    Case2,
    /// Data, no response data expected.
    Case3,
    /// Data, and response data expected.
    Case4,
}

/// A command APDU.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct CommandApdu {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (N<sub>c</sub> = its length).
    pub data: Vec<u8>,
    /// N<sub>e</sub>, the maximum number of response bytes expected (1..=65536), or `None` when
    /// the Le field is absent.
    pub le: Option<usize>,
}

impl fmt::Debug for CommandApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CommandApdu({:02X} {:02X} {:02X} {:02X}, data: {}, le: {:?})",
            self.cla,
            self.ins,
            self.p1,
            self.p2,
            esim_codec::hex::encode_upper(&self.data),
            self.le
        )
    }
}

impl CommandApdu {
    /// A case 1 command (header only).
    pub fn new(cla: u8, ins: u8, p1: u8, p2: u8) -> Self {
        CommandApdu {
            cla,
            ins,
            p1,
            p2,
            data: Vec::new(),
            le: None,
        }
    }

    /// Sets the command data.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Sets N<sub>e</sub> (`256` for a short `Le = 00`).
    pub fn with_le(mut self, le: usize) -> Self {
        self.le = Some(le);
        self
    }

    /// The four header bytes.
    pub fn header(&self) -> [u8; 4] {
        [self.cla, self.ins, self.p1, self.p2]
    }

    /// The command case.
    pub fn case(&self) -> Case {
        match (self.data.is_empty(), self.le.is_some()) {
            (true, false) => Case::Case1,
            (true, true) => Case::Case2,
            (false, false) => Case::Case3,
            (false, true) => Case::Case4,
        }
    }

    /// The shortest length form able to carry this command.
    pub fn minimal_form(&self) -> LengthForm {
        if self.data.len() > MAX_SHORT_NC || self.le.is_some_and(|n| n > MAX_SHORT_NE) {
            LengthForm::Extended
        } else {
            LengthForm::Short
        }
    }

    /// Encodes in the shortest form (short unless N<sub>c</sub> > 255 or N<sub>e</sub> > 256).
    pub fn encode(&self) -> Result<Vec<u8>, ApduError> {
        self.encode_with(self.minimal_form())
    }

    /// Encodes with the given length form.
    pub fn encode_with(&self, form: LengthForm) -> Result<Vec<u8>, ApduError> {
        let nc = self.data.len();
        if nc > MAX_EXTENDED_NC {
            return Err(ApduError::DataTooLong(nc));
        }
        if let Some(ne) = self.le
            && !(1..=MAX_EXTENDED_NE).contains(&ne)
        {
            return Err(ApduError::BadNe(ne));
        }
        if form == LengthForm::Short && self.minimal_form() == LengthForm::Extended {
            return Err(ApduError::NeedsExtended { nc, ne: self.le });
        }
        let mut out = Vec::with_capacity(4 + 3 + nc + 2);
        out.extend_from_slice(&self.header());
        match form {
            LengthForm::Short => {
                if nc > 0 {
                    out.push(nc as u8);
                    out.extend_from_slice(&self.data);
                }
                if let Some(ne) = self.le {
                    // 256 is written 00 (§5.1).
                    out.push((ne % 256) as u8);
                }
            }
            LengthForm::Extended => {
                if nc > 0 {
                    out.push(0);
                    out.extend_from_slice(&(nc as u16).to_be_bytes());
                    out.extend_from_slice(&self.data);
                }
                if let Some(ne) = self.le {
                    if nc == 0 {
                        out.push(0);
                    }
                    // 65536 is written 00 00 (§5.1).
                    out.extend_from_slice(&((ne % 65_536) as u16).to_be_bytes());
                }
            }
        }
        Ok(out)
    }

    /// Decodes a whole buffer as one command APDU.
    pub fn decode(buf: &[u8]) -> Result<Self, ApduError> {
        Self::decode_with_form(buf).map(|(apdu, _)| apdu)
    }

    /// Decodes a whole buffer as one command APDU and reports which length form it used, so that
    /// [`CommandApdu::encode_with`] reproduces the input byte for byte.
    pub fn decode_with_form(buf: &[u8]) -> Result<(Self, LengthForm), ApduError> {
        let header: [u8; 4] =
            buf.get(..4)
                .and_then(|h| h.try_into().ok())
                .ok_or(ApduError::Truncated {
                    offset: 0,
                    what: "header",
                    needed: 4,
                    available: buf.len(),
                })?;
        let [cla, ins, p1, p2] = header;
        let mut apdu = CommandApdu::new(cla, ins, p1, p2);
        let body = &buf[4..];
        match body {
            // Case 1.
            [] => Ok((apdu, LengthForm::Short)),
            // Case 2S.
            [le] => {
                apdu.le = Some(short_ne(*le));
                Ok((apdu, LengthForm::Short))
            }
            [b0, rest @ ..] if *b0 != 0 => {
                // Case 3S or 4S.
                let lc = usize::from(*b0);
                if rest.len() == lc {
                    apdu.data = rest.to_vec();
                } else if rest.len() == lc + 1 {
                    apdu.data = rest[..lc].to_vec();
                    apdu.le = Some(short_ne(rest[lc]));
                } else {
                    return Err(ApduError::LcMismatch {
                        offset: 4,
                        lc,
                        body: rest.len(),
                    });
                }
                Ok((apdu, LengthForm::Short))
            }
            [_zero, rest @ ..] => {
                // Extended: 2E (00 Le1 Le2), 3E (00 Lc1 Lc2 data), 4E (… Le1 Le2).
                let two: [u8; 2] =
                    rest.get(..2)
                        .and_then(|b| b.try_into().ok())
                        .ok_or(ApduError::Truncated {
                            offset: 5,
                            what: "extended length field",
                            needed: 2,
                            available: rest.len(),
                        })?;
                let value = usize::from(u16::from_be_bytes(two));
                let after = &rest[2..];
                if after.is_empty() {
                    apdu.le = Some(extended_ne(value));
                    return Ok((apdu, LengthForm::Extended));
                }
                if value == 0 {
                    return Err(ApduError::ZeroExtendedLc { offset: 4 });
                }
                let lc = value;
                if after.len() == lc {
                    apdu.data = after.to_vec();
                } else if after.len() == lc + 2 {
                    apdu.data = after[..lc].to_vec();
                    let le = usize::from(u16::from_be_bytes([after[lc], after[lc + 1]]));
                    apdu.le = Some(extended_ne(le));
                } else {
                    return Err(ApduError::LcMismatch {
                        offset: 4,
                        lc,
                        body: after.len(),
                    });
                }
                Ok((apdu, LengthForm::Extended))
            }
        }
    }
}

fn short_ne(b: u8) -> usize {
    if b == 0 { 256 } else { usize::from(b) }
}

fn extended_ne(v: usize) -> usize {
    if v == 0 { 65_536 } else { v }
}

/// A response APDU: data ‖ SW1 SW2 (ISO/IEC 7816-4 §5.1).
#[derive(Clone, PartialEq, Eq)]
pub struct ResponseApdu {
    /// Response data (may be empty).
    pub data: Vec<u8>,
    /// The status word (SW1 SW2).
    pub sw: StatusWord,
}

impl fmt::Debug for ResponseApdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ResponseApdu(data: {}, sw: {:04X})",
            esim_codec::hex::encode_upper(&self.data),
            self.sw.to_u16()
        )
    }
}

impl ResponseApdu {
    /// A response with data and a status word.
    pub fn new(data: impl Into<Vec<u8>>, sw: impl Into<StatusWord>) -> Self {
        ResponseApdu {
            data: data.into(),
            sw: sw.into(),
        }
    }

    /// A response with only a status word.
    pub fn status(sw: impl Into<StatusWord>) -> Self {
        Self::new(Vec::new(), sw)
    }

    /// `data ‖ SW1 ‖ SW2`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.data.len() + 2);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(&self.sw.to_u16().to_be_bytes());
        out
    }

    /// Decodes a whole buffer: everything but the last two bytes is data.
    pub fn decode(buf: &[u8]) -> Result<Self, ApduError> {
        let split = buf.len().checked_sub(2).ok_or(ApduError::Truncated {
            offset: 0,
            what: "status word",
            needed: 2,
            available: buf.len(),
        })?;
        let (data, sw) = buf.split_at(split);
        Ok(ResponseApdu {
            data: data.to_vec(),
            sw: StatusWord::from_u16(u16::from_be_bytes([sw[0], sw[1]])),
        })
    }

    /// Whether the status word reports normal processing (see [`StatusWord::is_success`]).
    pub fn is_success(&self) -> bool {
        self.sw.is_success()
    }
}

/// The class byte (ISO/IEC 7816-4 §5.4.1, Tables 2–3). GlobalPlatform (Card Spec v2.3 §11.1.4)
/// codes the logical channel the same way in its proprietary classes `80`–`83` and `C0`–`CF`.
pub mod cla {
    use super::ApduError;

    /// `FF` is invalid as a class byte (§5.4.1).
    pub const INVALID: u8 = 0xFF;
    /// b8 = 1: proprietary class (GlobalPlatform commands use `80`).
    pub const PROPRIETARY: u8 = 0x80;
    /// b5 in both interindustry forms: command chaining, not the last command of a chain.
    pub const CHAINING: u8 = 0x10;

    /// Whether the class uses the further interindustry coding (b7 = 1), i.e. channels 4–19.
    pub fn is_further(cla: u8) -> bool {
        cla & 0x40 != 0
    }

    /// The logical channel number (0–19), or `None` for the invalid class `FF`.
    pub fn logical_channel(cla: u8) -> Option<u8> {
        if cla == INVALID {
            None
        } else if is_further(cla) {
            Some((cla & 0x0F) + 4)
        } else {
            Some(cla & 0x03)
        }
    }

    /// Whether the command-chaining bit (b5) is set.
    pub fn is_chaining(cla: u8) -> bool {
        cla != INVALID && cla & CHAINING != 0
    }

    /// `cla` moved to logical channel `channel`, keeping b8 (proprietary), the chaining bit and
    /// the secure-messaging indication. Switching between the first (channels 0–3) and further
    /// (4–19) interindustry forms maps SM `10` ⇄ b6 = 1; the other first-form SM codes have no
    /// further-form equivalent and are refused.
    pub fn with_logical_channel(cla: u8, channel: u8) -> Result<u8, ApduError> {
        if channel > 19 {
            return Err(ApduError::BadChannel(channel));
        }
        let proprietary = cla & 0x80;
        let chaining = cla & CHAINING;
        // Normalised SM indication: 0 none, 1 "SM, header not authenticated", other = code.
        let sm = if is_further(cla) {
            if cla & 0x20 != 0 { 0b10 } else { 0 }
        } else {
            (cla >> 2) & 0x03
        };
        if channel < 4 {
            Ok(proprietary | chaining | (sm << 2) | channel)
        } else {
            let sm_bit = match sm {
                0 => 0,
                0b10 => 0x20,
                _ => return Err(ApduError::ClaNotConvertible(cla)),
            };
            Ok(proprietary | 0x40 | sm_bit | chaining | (channel - 4))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esim_codec::hex::decode as h;

    fn round(bytes: &str, form: LengthForm) -> CommandApdu {
        let b = h(bytes).unwrap();
        let (apdu, f) = CommandApdu::decode_with_form(&b).unwrap();
        assert_eq!(f, form, "{bytes}");
        assert_eq!(apdu.encode_with(f).unwrap(), b, "{bytes}");
        apdu
    }

    #[test]
    fn four_cases_short() {
        let a = round("00A40004", LengthForm::Short);
        assert_eq!(a.case(), Case::Case1);
        let a = round("00C0000000", LengthForm::Short);
        assert_eq!((a.case(), a.le), (Case::Case2, Some(256)));
        let a = round("00A40004023F00", LengthForm::Short);
        assert_eq!((a.case(), a.data.as_slice()), (Case::Case3, &[0x3F, 0][..]));
        let a = round("80E60C00050102030405" /* */, LengthForm::Short);
        assert_eq!(a.case(), Case::Case3);
        let a = round("80CABF30045C027F2100", LengthForm::Short);
        assert_eq!((a.case(), a.le), (Case::Case4, Some(256)));
        assert_eq!(a.data, h("5C027F21").unwrap());
    }

    #[test]
    fn four_cases_extended() {
        let a = round("00B00000000000", LengthForm::Extended);
        assert_eq!((a.case(), a.le), (Case::Case2, Some(65_536)));
        let a = round("00B00000000100", LengthForm::Extended);
        assert_eq!(a.le, Some(256));
        let mut long = h("80E2880000012C").unwrap();
        long.extend(std::iter::repeat_n(0xAB, 300));
        let a = CommandApdu::decode(&long).unwrap();
        assert_eq!((a.case(), a.data.len()), (Case::Case3, 300));
        assert_eq!(a.encode().unwrap(), long);
        long.extend([0x00, 0x00]);
        let a = CommandApdu::decode(&long).unwrap();
        assert_eq!((a.case(), a.le), (Case::Case4, Some(65_536)));
        assert_eq!(a.encode().unwrap(), long);
        // A small command forced into the extended form.
        let a = CommandApdu::new(0, 0xA4, 4, 0).with_data([1, 2]).with_le(3);
        assert_eq!(
            a.encode_with(LengthForm::Extended).unwrap(),
            h("00A4040000000201020003").unwrap()
        );
        assert_eq!(a.encode().unwrap(), h("00A4040002010203").unwrap());
        // Ne = 257 forces the extended form.
        let a = CommandApdu::new(0, 0xB0, 0, 0).with_le(257);
        assert_eq!(a.encode().unwrap(), h("00B00000000101").unwrap());
        assert!(matches!(
            a.encode_with(LengthForm::Short),
            Err(ApduError::NeedsExtended { .. })
        ));
    }

    #[test]
    fn errors_have_offsets() {
        assert_eq!(
            CommandApdu::decode(&[0, 0xA4, 0]).unwrap_err(),
            ApduError::Truncated {
                offset: 0,
                what: "header",
                needed: 4,
                available: 3
            }
        );
        let e = CommandApdu::decode(&h("00A4000403010203040506").unwrap()).unwrap_err();
        assert_eq!(
            e,
            ApduError::LcMismatch {
                offset: 4,
                lc: 3,
                body: 6
            }
        );
        assert!(e.to_string().starts_with("at byte 4"));
        let e = CommandApdu::decode(&h("00A400040000000102").unwrap()).unwrap_err();
        assert_eq!(e, ApduError::ZeroExtendedLc { offset: 4 });
        let e = CommandApdu::decode(&h("00A400040001").unwrap()).unwrap_err();
        assert!(matches!(e, ApduError::Truncated { offset: 5, .. }));
        assert_eq!(
            CommandApdu::new(0, 0, 0, 0).with_le(0).encode(),
            Err(ApduError::BadNe(0))
        );
    }

    #[test]
    fn response() {
        let r = ResponseApdu::decode(&h("0102039000").unwrap()).unwrap();
        assert_eq!(r.data, [1, 2, 3]);
        assert_eq!(r.sw, StatusWord::Success);
        assert!(r.is_success());
        assert_eq!(r.encode(), h("0102039000").unwrap());
        assert!(ResponseApdu::decode(&[0x90]).is_err());
        let r = ResponseApdu::decode(&[0x69, 0xE1]).unwrap();
        assert_eq!(r.sw, StatusWord::Pol1PreventsAction);
    }

    #[test]
    fn logical_channels() {
        assert_eq!(cla::logical_channel(0x00), Some(0));
        assert_eq!(cla::logical_channel(0x83), Some(3));
        assert_eq!(cla::logical_channel(0x40), Some(4));
        assert_eq!(cla::logical_channel(0xCF), Some(19));
        assert_eq!(cla::logical_channel(0xFF), None);
        assert_eq!(cla::with_logical_channel(0x80, 2).unwrap(), 0x82);
        assert_eq!(cla::with_logical_channel(0x80, 5).unwrap(), 0xC1);
        assert_eq!(cla::with_logical_channel(0x08, 4).unwrap(), 0x60);
        assert_eq!(cla::with_logical_channel(0x60, 1).unwrap(), 0x09);
        assert_eq!(cla::with_logical_channel(0x10, 0).unwrap(), 0x10);
        assert!(cla::is_chaining(0x10));
        assert_eq!(
            cla::with_logical_channel(0x04, 7),
            Err(ApduError::ClaNotConvertible(0x04))
        );
        assert_eq!(
            cla::with_logical_channel(0, 20),
            Err(ApduError::BadChannel(20))
        );
    }
}
