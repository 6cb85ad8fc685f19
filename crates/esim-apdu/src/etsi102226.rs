//! Remote APDU structures of ETSI TS 102 226 §5 (digest §5.2), as carried in SCP80 secured
//! packets and SCP81 HTTP bodies.
//!
//! **Expanded format** (§5.2):
//! * command scripting template `AA L …` (definite length) or `AE 80 … 00 00` (indefinite),
//!   holding C-APDU TLVs `22`, and where used Immediate Action `81`, Error Action `82` and Script
//!   Chaining `83` TLVs;
//! * response scripting template `AB L …` or `AF 80 … 00 00`, holding Number of executed
//!   commands `80` (one byte), R-APDU TLVs `23` (data ‖ SW1 SW2), Bad Format `90`, Immediate
//!   Action Response `81` and Script Chaining Response `83`.
//!
//! Tags `22` and `23` have the constructed bit set, but their values are raw APDU bytes: they are
//! never parsed as TLVs here.
//!
//! **Compact format** (§5.1): commands are concatenated `CLA INS P1 P2 P3 [data]` with one length
//! byte P3 that is Lc for commands with data and Le for case-2 commands (as in T=0); the response
//! is `number of executed commands (1) ‖ SW1 SW2 of the last one ‖ its response data`.

use esim_codec::Tag;
use esim_codec::ber::{self, DecodeError, DecodeErrorKind, Reader, Tlv};

use crate::apdu::{ApduError, CommandApdu, ResponseApdu};
use crate::sw::StatusWord;

/// Tag of the definite-length command scripting template.
pub const TAG_COMMAND_SCRIPT: u8 = 0xAA;
/// Tag of the indefinite-length command scripting template.
pub const TAG_COMMAND_SCRIPT_INDEFINITE: u8 = 0xAE;
/// Tag of the definite-length response scripting template.
pub const TAG_RESPONSE_SCRIPT: u8 = 0xAB;
/// Tag of the indefinite-length response scripting template.
pub const TAG_RESPONSE_SCRIPT_INDEFINITE: u8 = 0xAF;
/// C-APDU TLV.
pub const TAG_C_APDU: u8 = 0x22;
/// R-APDU TLV.
pub const TAG_R_APDU: u8 = 0x23;
/// Immediate Action TLV (command) / Immediate Action Response TLV (response).
pub const TAG_IMMEDIATE_ACTION: u8 = 0x81;
/// Error Action TLV.
pub const TAG_ERROR_ACTION: u8 = 0x82;
/// Script Chaining TLV (command) / Script Chaining Response TLV (response).
pub const TAG_SCRIPT_CHAINING: u8 = 0x83;
/// Number of executed commands TLV.
pub const TAG_EXECUTED: u8 = 0x80;
/// Bad Format TLV.
pub const TAG_BAD_FORMAT: u8 = 0x90;

/// The error types of the Bad Format TLV (`90 01 xx`, TS 102 226 §5.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BadFormat {
    /// `01`: unknown tag found.
    UnknownTag,
    /// `02`: wrong length found.
    WrongLength,
    /// `03`: length not found.
    LengthNotFound,
    /// Any other code.
    Other(u8),
}

impl BadFormat {
    /// The code byte.
    pub fn to_byte(self) -> u8 {
        match self {
            BadFormat::UnknownTag => 1,
            BadFormat::WrongLength => 2,
            BadFormat::LengthNotFound => 3,
            BadFormat::Other(b) => b,
        }
    }

    /// From the code byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => BadFormat::UnknownTag,
            2 => BadFormat::WrongLength,
            3 => BadFormat::LengthNotFound,
            b => BadFormat::Other(b),
        }
    }
}

/// What is wrong with a script.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScriptErrorKind {
    /// The outer tag is not a scripting template of the expected direction.
    NotAScript(Tag),
    /// The template's length form does not match its tag (`AA`/`AB` definite, `AE`/`AF`
    /// indefinite).
    WrongLengthForm(Tag),
    /// A tag that may not appear in this template.
    UnknownTag(Tag),
    /// The TLV structure is malformed (bad or missing length, value past the end, …).
    Tlv(DecodeErrorKind),
    /// A C-APDU or R-APDU value is not a valid APDU.
    Apdu(ApduError),
    /// A value of the wrong size (e.g. `80` not one byte).
    BadValue(&'static str),
    /// Compact format: a command too long for a one-byte P3.
    CompactTooLong(usize),
}

impl std::fmt::Display for ScriptErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScriptErrorKind::NotAScript(t) => write!(f, "tag {t} is not a scripting template"),
            ScriptErrorKind::WrongLengthForm(t) => {
                write!(f, "template {t} uses the wrong length form")
            }
            ScriptErrorKind::UnknownTag(t) => write!(f, "unknown tag {t} in the script"),
            ScriptErrorKind::Tlv(k) => write!(f, "{k}"),
            ScriptErrorKind::Apdu(e) => write!(f, "APDU: {e}"),
            ScriptErrorKind::BadValue(field) => write!(f, "{field}: wrong size"),
            ScriptErrorKind::CompactTooLong(n) => {
                write!(f, "{n} bytes do not fit a compact-format P3")
            }
        }
    }
}

/// A script decoding or encoding failure and the byte offset where it occurred.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct ScriptError {
    /// Offset from the start of the buffer.
    pub offset: usize,
    /// What went wrong.
    pub kind: ScriptErrorKind,
}

impl ScriptError {
    fn new(offset: usize, kind: ScriptErrorKind) -> Self {
        ScriptError { offset, kind }
    }

    /// The Bad Format code a card answers for this error (TS 102 226 §5.2.2), if it is a format
    /// error of the expanded structure.
    pub fn bad_format(&self) -> Option<BadFormat> {
        match &self.kind {
            ScriptErrorKind::UnknownTag(_) | ScriptErrorKind::NotAScript(_) => {
                Some(BadFormat::UnknownTag)
            }
            ScriptErrorKind::Tlv(DecodeErrorKind::Truncated { what, .. })
                if matches!(
                    what.as_str(),
                    "tag" | "multi-byte tag" | "length" | "long-form length"
                ) =>
            {
                Some(BadFormat::LengthNotFound)
            }
            ScriptErrorKind::Tlv(_)
            | ScriptErrorKind::WrongLengthForm(_)
            | ScriptErrorKind::BadValue(_) => Some(BadFormat::WrongLength),
            _ => None,
        }
    }
}

impl From<DecodeError> for ScriptError {
    fn from(e: DecodeError) -> Self {
        ScriptError::new(e.offset, ScriptErrorKind::Tlv(e.kind))
    }
}

/// Whether a template uses the definite (`AA`/`AB`) or indefinite (`AE`/`AF`) form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScriptForm {
    /// `AA`/`AB` with a definite length.
    #[default]
    Definite,
    /// `AE`/`AF` with `80` … `00 00`.
    Indefinite,
}

/// An element of a command script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandItem {
    /// `22`: a C-APDU.
    Apdu(CommandApdu),
    /// `81`: Immediate Action (value kept as bytes).
    ImmediateAction(Vec<u8>),
    /// `82`: Error Action (value kept as bytes).
    ErrorAction(Vec<u8>),
    /// `83`: Script Chaining (value kept as bytes).
    ScriptChaining(Vec<u8>),
}

/// An expanded remote command script.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommandScript {
    /// Definite (`AA`) or indefinite (`AE`).
    pub form: ScriptForm,
    /// The elements, in order.
    pub items: Vec<CommandItem>,
}

/// An element of a response script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseItem {
    /// `80 01 n`: number of commands executed.
    Executed(u8),
    /// `23`: an R-APDU (data ‖ SW1 SW2).
    RApdu(ResponseApdu),
    /// `90 01 code`: the script was malformed.
    BadFormat(BadFormat),
    /// `81`: Immediate Action Response (value kept as bytes).
    ImmediateActionResponse(Vec<u8>),
    /// `83`: Script Chaining Response (value kept as bytes).
    ScriptChainingResponse(Vec<u8>),
}

/// An expanded remote response script.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResponseScript {
    /// Definite (`AB`) or indefinite (`AF`).
    pub form: ScriptForm,
    /// The elements, in order.
    pub items: Vec<ResponseItem>,
}

fn wrap(tag: u8, form: ScriptForm, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    match form {
        ScriptForm::Definite => {
            ber::write_length(&mut out, body.len());
            out.extend_from_slice(body);
        }
        ScriptForm::Indefinite => {
            out.push(0x80);
            out.extend_from_slice(body);
            out.extend_from_slice(&[0, 0]);
        }
    }
    out
}

/// Opens a scripting template and returns its form and children.
fn open<'a>(
    buf: &'a [u8],
    definite: u8,
    indefinite: u8,
) -> Result<(ScriptForm, Reader<'a>), ScriptError> {
    let t = ber::parse_one(buf)?;
    let form = if t.tag == Tag::from(definite) {
        ScriptForm::Definite
    } else if t.tag == Tag::from(indefinite) {
        ScriptForm::Indefinite
    } else {
        return Err(ScriptError::new(0, ScriptErrorKind::NotAScript(t.tag)));
    };
    if t.indefinite != (form == ScriptForm::Indefinite) {
        return Err(ScriptError::new(0, ScriptErrorKind::WrongLengthForm(t.tag)));
    }
    Ok((form, t.children()))
}

fn definite_child<'a>(t: &Tlv<'a>) -> Result<&'a [u8], ScriptError> {
    if t.indefinite {
        return Err(ScriptError::new(
            t.offset,
            ScriptErrorKind::Tlv(DecodeErrorKind::BadLengthField(0x80)),
        ));
    }
    Ok(t.value)
}

impl CommandScript {
    /// A definite-length script of C-APDUs.
    pub fn of_apdus(apdus: impl IntoIterator<Item = CommandApdu>) -> Self {
        CommandScript {
            form: ScriptForm::Definite,
            items: apdus.into_iter().map(CommandItem::Apdu).collect(),
        }
    }

    /// The C-APDUs, in order.
    pub fn apdus(&self) -> impl Iterator<Item = &CommandApdu> {
        self.items.iter().filter_map(|i| match i {
            CommandItem::Apdu(a) => Some(a),
            _ => None,
        })
    }

    /// Encodes the script (each C-APDU in its shortest ISO form).
    pub fn encode(&self) -> Result<Vec<u8>, ScriptError> {
        let mut body = Vec::new();
        for item in &self.items {
            let (tag, value) = match item {
                CommandItem::Apdu(a) => (
                    TAG_C_APDU,
                    a.encode()
                        .map_err(|e| ScriptError::new(0, ScriptErrorKind::Apdu(e)))?,
                ),
                CommandItem::ImmediateAction(v) => (TAG_IMMEDIATE_ACTION, v.clone()),
                CommandItem::ErrorAction(v) => (TAG_ERROR_ACTION, v.clone()),
                CommandItem::ScriptChaining(v) => (TAG_SCRIPT_CHAINING, v.clone()),
            };
            body.extend(ber::tlv(tag, &value));
        }
        let tag = match self.form {
            ScriptForm::Definite => TAG_COMMAND_SCRIPT,
            ScriptForm::Indefinite => TAG_COMMAND_SCRIPT_INDEFINITE,
        };
        Ok(wrap(tag, self.form, &body))
    }

    /// Decodes a script filling `buf`.
    pub fn decode(buf: &[u8]) -> Result<Self, ScriptError> {
        let (form, children) = open(buf, TAG_COMMAND_SCRIPT, TAG_COMMAND_SCRIPT_INDEFINITE)?;
        let mut items = Vec::new();
        for t in children {
            let t = t?;
            let value = definite_child(&t)?;
            let item = match t.tag.0 {
                0x22 => CommandItem::Apdu(
                    CommandApdu::decode(value)
                        .map_err(|e| ScriptError::new(t.value_offset, ScriptErrorKind::Apdu(e)))?,
                ),
                0x81 => CommandItem::ImmediateAction(value.to_vec()),
                0x82 => CommandItem::ErrorAction(value.to_vec()),
                0x83 => CommandItem::ScriptChaining(value.to_vec()),
                _ => {
                    return Err(ScriptError::new(
                        t.offset,
                        ScriptErrorKind::UnknownTag(t.tag),
                    ));
                }
            };
            items.push(item);
        }
        Ok(CommandScript { form, items })
    }
}

impl ResponseScript {
    /// The usual response: `80 01 n` followed by the R-APDUs.
    pub fn of_responses(
        form: ScriptForm,
        responses: impl IntoIterator<Item = ResponseApdu>,
    ) -> Self {
        let r: Vec<ResponseApdu> = responses.into_iter().collect();
        let mut items = vec![ResponseItem::Executed(r.len().min(255) as u8)];
        items.extend(r.into_iter().map(ResponseItem::RApdu));
        ResponseScript { form, items }
    }

    /// The number of executed commands (`80`), if present.
    pub fn executed(&self) -> Option<u8> {
        self.items.iter().find_map(|i| match i {
            ResponseItem::Executed(n) => Some(*n),
            _ => None,
        })
    }

    /// The R-APDUs, in order.
    pub fn responses(&self) -> impl Iterator<Item = &ResponseApdu> {
        self.items.iter().filter_map(|i| match i {
            ResponseItem::RApdu(r) => Some(r),
            _ => None,
        })
    }

    /// Encodes the script.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for item in &self.items {
            let (tag, value) = match item {
                ResponseItem::Executed(n) => (TAG_EXECUTED, vec![*n]),
                ResponseItem::RApdu(r) => (TAG_R_APDU, r.encode()),
                ResponseItem::BadFormat(b) => (TAG_BAD_FORMAT, vec![b.to_byte()]),
                ResponseItem::ImmediateActionResponse(v) => (TAG_IMMEDIATE_ACTION, v.clone()),
                ResponseItem::ScriptChainingResponse(v) => (TAG_SCRIPT_CHAINING, v.clone()),
            };
            body.extend(ber::tlv(tag, &value));
        }
        let tag = match self.form {
            ScriptForm::Definite => TAG_RESPONSE_SCRIPT,
            ScriptForm::Indefinite => TAG_RESPONSE_SCRIPT_INDEFINITE,
        };
        wrap(tag, self.form, &body)
    }

    /// Decodes a response script filling `buf`.
    pub fn decode(buf: &[u8]) -> Result<Self, ScriptError> {
        let (form, children) = open(buf, TAG_RESPONSE_SCRIPT, TAG_RESPONSE_SCRIPT_INDEFINITE)?;
        let mut items = Vec::new();
        for t in children {
            let t = t?;
            let value = definite_child(&t)?;
            let one = |field: &'static str| -> Result<u8, ScriptError> {
                match value {
                    [b] => Ok(*b),
                    _ => Err(ScriptError::new(t.offset, ScriptErrorKind::BadValue(field))),
                }
            };
            let item = match t.tag.0 {
                0x80 => ResponseItem::Executed(one("80 number of executed commands")?),
                0x23 => ResponseItem::RApdu(
                    ResponseApdu::decode(value)
                        .map_err(|e| ScriptError::new(t.value_offset, ScriptErrorKind::Apdu(e)))?,
                ),
                0x90 => ResponseItem::BadFormat(BadFormat::from_byte(one("90 bad format")?)),
                0x81 => ResponseItem::ImmediateActionResponse(value.to_vec()),
                0x83 => ResponseItem::ScriptChainingResponse(value.to_vec()),
                _ => {
                    return Err(ScriptError::new(
                        t.offset,
                        ScriptErrorKind::UnknownTag(t.tag),
                    ));
                }
            };
            items.push(item);
        }
        Ok(ResponseScript { form, items })
    }
}

/// How to read P3 of a compact-format command (as in T=0, the command itself decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum P3 {
    /// P3 is Lc: P3 data bytes follow (`00` = no data, case 1).
    Lc,
    /// P3 is Le (case 2): no data follows; `00` means 256.
    Le,
}

/// The default reading of P3 for the commands sent by RAM/RFM over SGP.02: Le for READ BINARY
/// (`B0`), READ RECORD (`B2`), GET RESPONSE (`C0`), FETCH (`12`), GET DATA (`CA`, without tag
/// list), ETSI STATUS (`F2` with P1 other than a GlobalPlatform GET STATUS subset), GET
/// CHALLENGE (`84`); Lc for everything else.
pub fn default_p3(header: [u8; 4]) -> P3 {
    let [_, ins, p1, _] = header;
    match ins {
        0xB0 | 0xB2 | 0xC0 | 0x12 | 0xCA | 0x84 => P3::Le,
        0xF2 if !matches!(p1, 0x80 | 0x40 | 0x20 | 0x10) => P3::Le,
        _ => P3::Lc,
    }
}

/// Encodes commands in the compact format: `CLA INS P1 P2 P3 [data]`. Commands with data write
/// Lc and drop Le (case 4 → case 3 layout); case 2 writes Le; case 1 writes `00`.
pub fn encode_compact(commands: &[CommandApdu]) -> Result<Vec<u8>, ScriptError> {
    let mut out = Vec::new();
    for c in commands {
        out.extend_from_slice(&c.header());
        if c.data.is_empty() {
            let p3 = match c.le {
                None => 0,
                Some(256) => 0,
                Some(n @ 1..=255) => n as u8,
                Some(n) => {
                    return Err(ScriptError::new(
                        out.len(),
                        ScriptErrorKind::CompactTooLong(n),
                    ));
                }
            };
            out.push(p3);
        } else {
            let n = u8::try_from(c.data.len()).map_err(|_| {
                ScriptError::new(out.len(), ScriptErrorKind::CompactTooLong(c.data.len()))
            })?;
            out.push(n);
            out.extend_from_slice(&c.data);
        }
    }
    Ok(out)
}

/// Decodes concatenated compact-format commands, asking `p3` how to read each P3.
pub fn decode_compact_with(
    buf: &[u8],
    p3: impl Fn([u8; 4]) -> P3,
) -> Result<Vec<CommandApdu>, ScriptError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let rest = &buf[pos..];
        let Some(head) = rest.get(..5) else {
            return Err(ScriptError::new(
                pos,
                ScriptErrorKind::Apdu(ApduError::Truncated {
                    offset: pos,
                    what: "compact command header",
                    needed: 5,
                    available: rest.len(),
                }),
            ));
        };
        let header = [head[0], head[1], head[2], head[3]];
        let mut cmd = CommandApdu::new(header[0], header[1], header[2], header[3]);
        let n = usize::from(head[4]);
        match p3(header) {
            P3::Le => {
                cmd.le = Some(if n == 0 { 256 } else { n });
                pos += 5;
            }
            P3::Lc => {
                let data = rest.get(5..5 + n).ok_or_else(|| {
                    ScriptError::new(
                        pos + 4,
                        ScriptErrorKind::Apdu(ApduError::LcMismatch {
                            offset: pos + 4,
                            lc: n,
                            body: rest.len() - 5,
                        }),
                    )
                })?;
                cmd.data = data.to_vec();
                pos += 5 + n;
            }
        }
        out.push(cmd);
    }
    Ok(out)
}

/// [`decode_compact_with`] using [`default_p3`].
pub fn decode_compact(buf: &[u8]) -> Result<Vec<CommandApdu>, ScriptError> {
    decode_compact_with(buf, default_p3)
}

/// The compact remote response (TS 102 226 §5.1.2; digest §5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactResponse {
    /// Number of commands executed.
    pub executed: u8,
    /// Status word and response data of the last executed command.
    pub last: ResponseApdu,
}

impl CompactResponse {
    /// `executed ‖ SW1 SW2 ‖ data`.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![self.executed];
        out.extend_from_slice(&self.last.sw.to_bytes());
        out.extend_from_slice(&self.last.data);
        out
    }

    /// Decodes a whole buffer.
    pub fn decode(buf: &[u8]) -> Result<Self, ScriptError> {
        let [executed, sw1, sw2, data @ ..] = buf else {
            return Err(ScriptError::new(
                0,
                ScriptErrorKind::Apdu(ApduError::Truncated {
                    offset: 0,
                    what: "compact response",
                    needed: 3,
                    available: buf.len(),
                }),
            ));
        };
        Ok(CompactResponse {
            executed: *executed,
            last: ResponseApdu {
                data: data.to_vec(),
                sw: StatusWord::from_u16(u16::from_be_bytes([*sw1, *sw2])),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esim_codec::hex::decode as h;

    #[test]
    fn digest_example_response() {
        // Digest §5.2: AF80 800101 2304 93059000 0000.
        let bytes = h("AF80800101230493059000 0000").unwrap();
        let r = ResponseScript::decode(&bytes).unwrap();
        assert_eq!(r.form, ScriptForm::Indefinite);
        assert_eq!(r.executed(), Some(1));
        let rs: Vec<_> = r.responses().collect();
        assert_eq!(rs[0].data, [0x93, 0x05]);
        assert_eq!(rs[0].sw, StatusWord::Success);
        assert_eq!(r.encode(), bytes);
        let def = ResponseScript {
            form: ScriptForm::Definite,
            ..r
        };
        assert_eq!(def.encode(), h("AB0980010123049305 9000").unwrap());
        assert_eq!(ResponseScript::decode(&def.encode()).unwrap(), def);
    }

    #[test]
    fn command_scripts() {
        let enable = CommandApdu::decode(
            &h("80E28800153A03124F10A0000005591010FFFFFFFF8900001000").unwrap(),
        )
        .unwrap();
        let select =
            CommandApdu::decode(&h("00A4040010A0000005591010FFFFFFFF890000010000").unwrap())
                .unwrap();
        let mut s = CommandScript::of_apdus([select.clone(), enable.clone()]);
        let enc = s.encode().unwrap();
        assert_eq!(&enc[..4], &[0xAA, 0x34, 0x22, 0x16]);
        assert_eq!(CommandScript::decode(&enc).unwrap(), s);
        s.form = ScriptForm::Indefinite;
        s.items.push(CommandItem::ImmediateAction(vec![0x01]));
        let enc = s.encode().unwrap();
        assert_eq!(&enc[..3], &[0xAE, 0x80, 0x22]);
        assert_eq!(&enc[enc.len() - 5..], &[0x81, 0x01, 0x01, 0x00, 0x00]);
        let d = CommandScript::decode(&enc).unwrap();
        assert_eq!(d, s);
        assert_eq!(d.apdus().count(), 2);
    }

    #[test]
    fn script_errors_map_to_bad_format() {
        // Unknown tag 24 inside AA.
        let e = CommandScript::decode(&h("AA03240100").unwrap()).unwrap_err();
        assert_eq!(e.offset, 2);
        assert_eq!(e.bad_format(), Some(BadFormat::UnknownTag));
        // Value past the end.
        let e = CommandScript::decode(&h("AA03220500").unwrap()).unwrap_err();
        assert_eq!(e.bad_format(), Some(BadFormat::WrongLength));
        // AA with indefinite length.
        let e = CommandScript::decode(&h("AA80220400A4000000 00").unwrap()).unwrap_err();
        assert_eq!(e.kind, ScriptErrorKind::WrongLengthForm(Tag(0xAA)));
        // Not a script at all.
        let e = CommandScript::decode(&h("AB00").unwrap()).unwrap_err();
        assert_eq!(e.kind, ScriptErrorKind::NotAScript(Tag(0xAB)));
        // A C-APDU that is not an APDU.
        let e = CommandScript::decode(&h("AA0422020000").unwrap()).unwrap_err();
        assert!(matches!(e.kind, ScriptErrorKind::Apdu(_)));
        assert_eq!(e.offset, 4);
        // 80 of two bytes.
        let e = ResponseScript::decode(&h("AB0480020101").unwrap()).unwrap_err();
        assert_eq!(
            e.kind,
            ScriptErrorKind::BadValue("80 number of executed commands")
        );
        // Missing end-of-contents.
        assert!(ResponseScript::decode(&h("AF80800101").unwrap()).is_err());
    }

    #[test]
    fn compact() {
        let cmds = vec![
            CommandApdu::decode(&h("00A40004023F00").unwrap()).unwrap(),
            CommandApdu::decode(&h("00B0000010").unwrap()).unwrap(),
            CommandApdu::new(0x80, 0xE2, 0x88, 0x00).with_data([0x3A, 0x04, 0x00]),
        ];
        let enc = encode_compact(&cmds).unwrap();
        assert_eq!(
            enc,
            h("00A40004023F00 00B0000010 80E28800033A0400").unwrap()
        );
        assert_eq!(decode_compact(&enc).unwrap(), cmds);
        // A case 4 command loses its Le in the compact format.
        let c4 = CommandApdu::decode(&h("80CABF30045C027F2100").unwrap()).unwrap();
        let enc = encode_compact(std::slice::from_ref(&c4)).unwrap();
        assert_eq!(enc, h("80CABF30045C027F21").unwrap());
        let as_lc = decode_compact_with(&enc, |_| P3::Lc).unwrap();
        assert_eq!(as_lc[0].data, c4.data);
        assert!(decode_compact(&h("00A40004").unwrap()).is_err());
        assert!(decode_compact(&h("00A4000405 3F00").unwrap()).is_err());
    }

    #[test]
    fn compact_response_vectors() {
        let v = esim_vectors::json("scp80.json");
        let mut n = 0;
        for case in v["cases"].as_array().unwrap() {
            let Some(d) = case.get("decoded").filter(|d| d.is_object()) else {
                continue;
            };
            let name = case["name"].as_str().unwrap();
            let bytes = esim_vectors::hex_field(d, "additional_response_data");
            let r = CompactResponse::decode(&bytes).unwrap();
            assert_eq!(
                u64::from(r.executed),
                d["number_of_commands"].as_u64().unwrap(),
                "{name}"
            );
            assert_eq!(
                r.last.sw.to_bytes().to_vec(),
                esim_vectors::hex_field(d, "last_status_word"),
                "{name}"
            );
            assert_eq!(
                r.last.data,
                esim_vectors::hex_field(d, "last_response_data"),
                "{name}"
            );
            assert_eq!(r.encode(), bytes, "{name}");
            n += 1;
        }
        assert!(n >= 10, "only {n} PoR cases found");
    }
}
