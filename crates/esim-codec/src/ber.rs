//! BER-TLV (ISO/IEC 8825-1 §8.1, as profiled by ISO/IEC 7816-4 §5.2.2 and GlobalPlatform).
//!
//! * Tags of one to four bytes (`5F20`, `7F21`, `BF30`, `9F70`, …). A tag is kept as the big-endian
//!   integer of its encoded bytes, so `Tag(0x7F21)` is written `7F 21`.
//! * Definite lengths in short form (`00`–`7F`) and long form (`81 xx`, `82 xx xx`, `83 …`, `84 …`).
//! * The indefinite form (`80` … `00 00`), which ETSI TS 102 226 §5.2 uses for the command scripting
//!   templates `AE`/`AF`; it is only accepted on constructed tags.
//!
//! Two APIs: [`Tlv`] borrows from the input (zero-copy, for the hot paths: card, SCP80, SCP03t),
//! and [`Node`] is an owned tree that re-encodes byte for byte (for tools and round-trip tests).
//! Builders: [`tlv`] for one definite-length TLV and [`Writer`] for nested structures.

use std::fmt;

/// A BER tag, stored as the big-endian integer of its 1–4 encoded bytes (`0x7F21` = `7F 21`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u32);

/// The class bits (b8 b7) of a tag's first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `00`: universal (ASN.1 built-in types).
    Universal,
    /// `01`: application (`4F`, `5F20`, `7F21`, …).
    Application,
    /// `10`: context-specific (`80`–`BF`).
    Context,
    /// `11`: private (`C0`–`FF`, `DF xx`, …).
    Private,
}

impl Tag {
    /// Encoded bytes of the tag, without leading zero bytes.
    pub fn to_bytes(self) -> Vec<u8> {
        let b = self.0.to_be_bytes();
        let skip = b.iter().take(3).take_while(|&&x| x == 0).count();
        b[skip..].to_vec()
    }

    /// First encoded byte (class, constructed bit and the low five bits).
    pub fn first_byte(self) -> u8 {
        let bytes = self.to_bytes();
        bytes[0]
    }

    /// Number of bytes of the encoded tag (1–4).
    pub fn encoded_len(self) -> usize {
        match self.0 {
            0..=0xFF => 1,
            0x100..=0xFFFF => 2,
            0x1_0000..=0xFF_FFFF => 3,
            _ => 4,
        }
    }

    /// Whether bit 6 of the first byte marks the value as a sequence of TLVs.
    pub fn is_constructed(self) -> bool {
        self.first_byte() & 0x20 != 0
    }

    /// The class of the tag.
    pub fn class(self) -> Class {
        match self.first_byte() >> 6 {
            0 => Class::Universal,
            1 => Class::Application,
            2 => Class::Context,
            _ => Class::Private,
        }
    }

    /// The tag number (low five bits, or the base-128 number of the subsequent bytes).
    pub fn number(self) -> u32 {
        let bytes = self.to_bytes();
        if bytes[0] & 0x1F != 0x1F {
            return u32::from(bytes[0] & 0x1F);
        }
        bytes[1..]
            .iter()
            .fold(0u32, |acc, b| (acc << 7) | u32::from(b & 0x7F))
    }

    /// Appends the encoded tag to `out`.
    pub fn write(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }
}

impl From<u8> for Tag {
    fn from(v: u8) -> Self {
        Tag(u32::from(v))
    }
}
impl From<u16> for Tag {
    fn from(v: u16) -> Self {
        Tag(u32::from(v))
    }
}
impl From<u32> for Tag {
    fn from(v: u32) -> Self {
        Tag(v)
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Tag({self})")
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.to_bytes() {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

/// What went wrong while decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeErrorKind {
    /// The buffer ended inside a tag, a length or a value.
    Truncated {
        /// The item that was cut short ("tag", "length", "value of tag 7F21", …).
        what: String,
        /// Bytes the item needs.
        needed: usize,
        /// Bytes left in the buffer.
        available: usize,
    },
    /// A tag longer than four bytes.
    TagTooLong,
    /// A length field of more than four bytes after `8x`, or the reserved `FF`.
    BadLengthField(u8),
    /// The indefinite length form `80` on a primitive tag (not allowed by X.690 §8.1.3.2).
    IndefinitePrimitive(Tag),
    /// An indefinite-length value without its end-of-contents `00 00`.
    MissingEndOfContents(Tag),
    /// Bytes remain after the value that should fill the buffer.
    TrailingBytes(usize),
    /// A definite length encoded with more bytes than needed (rejected by the DER checker only).
    NonMinimalLength,
    /// A mandatory tag is missing from a template.
    MissingTag(Tag),
    /// A tag other than the expected one.
    UnexpectedTag {
        /// Tag wanted by the caller.
        expected: Tag,
        /// Tag found in the input.
        found: Tag,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A value has the wrong size or content for its field.
    BadValue {
        /// The field, e.g. "5F25 effective date".
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// A decoding failure and the byte offset (from the start of the outermost buffer) where it occurred.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct DecodeError {
    /// Offset from the start of the buffer the caller passed in.
    pub offset: usize,
    /// What went wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    /// A new error at `offset`.
    pub fn new(offset: usize, kind: DecodeErrorKind) -> Self {
        DecodeError { offset, kind }
    }

    /// A [`DecodeErrorKind::BadValue`] at `offset`.
    pub fn bad_value(offset: usize, field: impl Into<String>, reason: impl Into<String>) -> Self {
        DecodeError::new(
            offset,
            DecodeErrorKind::BadValue {
                field: field.into(),
                reason: reason.into(),
            },
        )
    }
}

impl fmt::Display for DecodeErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeErrorKind::Truncated {
                what,
                needed,
                available,
            } => write!(
                f,
                "truncated {what}: needs {needed} byte(s), {available} left"
            ),
            DecodeErrorKind::TagTooLong => write!(f, "tag longer than 4 bytes"),
            DecodeErrorKind::BadLengthField(b) => write!(f, "invalid length byte {b:02X}"),
            DecodeErrorKind::IndefinitePrimitive(t) => {
                write!(f, "indefinite length on primitive tag {t}")
            }
            DecodeErrorKind::MissingEndOfContents(t) => {
                write!(
                    f,
                    "tag {t} has indefinite length but no end-of-contents 00 00"
                )
            }
            DecodeErrorKind::TrailingBytes(n) => write!(f, "{n} trailing byte(s) after the value"),
            DecodeErrorKind::NonMinimalLength => write!(f, "length not in minimal form"),
            DecodeErrorKind::MissingTag(t) => write!(f, "mandatory tag {t} missing"),
            DecodeErrorKind::UnexpectedTag { expected, found } => {
                write!(f, "expected tag {expected}, found {found}")
            }
            DecodeErrorKind::TooDeep => write!(f, "nesting deeper than {MAX_DEPTH} levels"),
            DecodeErrorKind::BadValue { field, reason } => write!(f, "{field}: {reason}"),
        }
    }
}

/// Deepest nesting the decoders follow (protects the stack against hostile input).
pub const MAX_DEPTH: usize = 32;

/// One TLV borrowed from an input buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag.
    pub tag: Tag,
    /// The value bytes (for the indefinite form: without the end-of-contents octets).
    pub value: &'a [u8],
    /// The whole encoded TLV: tag, length, value (and end-of-contents).
    pub raw: &'a [u8],
    /// Offset of the tag in the outermost buffer.
    pub offset: usize,
    /// Offset of the first value byte in the outermost buffer.
    pub value_offset: usize,
    /// Whether the TLV used the indefinite length form.
    pub indefinite: bool,
}

impl fmt::Debug for Tlv<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tlv {{ tag: {}, len: {}, offset: {} }}",
            self.tag,
            self.value.len(),
            self.offset
        )
    }
}

impl<'a> Tlv<'a> {
    /// A reader over the value, for constructed TLVs.
    pub fn children(&self) -> Reader<'a> {
        Reader::with_offset(self.value, self.value_offset)
    }

    /// Decodes every child TLV (the value must be a whole sequence of TLVs).
    pub fn child_list(&self) -> Result<Vec<Tlv<'a>>, DecodeError> {
        self.children().collect_all()
    }

    /// The first direct child with `tag`, if any.
    pub fn find(&self, tag: impl Into<Tag>) -> Result<Option<Tlv<'a>>, DecodeError> {
        let tag = tag.into();
        for child in self.children() {
            let child = child?;
            if child.tag == tag {
                return Ok(Some(child));
            }
        }
        Ok(None)
    }

    /// The first direct child with `tag`, or [`DecodeErrorKind::MissingTag`].
    pub fn require(&self, tag: impl Into<Tag>) -> Result<Tlv<'a>, DecodeError> {
        let tag = tag.into();
        self.find(tag)?
            .ok_or_else(|| DecodeError::new(self.offset, DecodeErrorKind::MissingTag(tag)))
    }

    /// Fails unless the tag is `tag`.
    pub fn expect_tag(self, tag: impl Into<Tag>) -> Result<Self, DecodeError> {
        let expected = tag.into();
        if self.tag == expected {
            Ok(self)
        } else {
            Err(DecodeError::new(
                self.offset,
                DecodeErrorKind::UnexpectedTag {
                    expected,
                    found: self.tag,
                },
            ))
        }
    }
}

/// Iterates over consecutive TLVs in a buffer. Padding bytes `00` and `FF` between TLVs are *not*
/// skipped: callers that allow them (ISO 7816-4 §5.2.2.1) use [`Reader::skip_padding`].
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
    depth: usize,
    failed: bool,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`, reporting offsets relative to `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self::with_offset(buf, 0)
    }

    /// A reader over `buf`, which starts at `base` in some outer buffer.
    pub fn with_offset(buf: &'a [u8], base: usize) -> Self {
        Reader {
            buf,
            pos: 0,
            base,
            depth: 0,
            failed: false,
        }
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Current offset in the outermost buffer.
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Skips `00` and `FF` bytes, which ISO/IEC 7816-4 allows before, between and after TLVs.
    pub fn skip_padding(&mut self) {
        while self.pos < self.buf.len() && matches!(self.buf[self.pos], 0x00 | 0xFF) {
            self.pos += 1;
        }
    }

    /// Reads the next TLV.
    pub fn read(&mut self) -> Result<Tlv<'a>, DecodeError> {
        let r = read_at(self.buf, self.pos, self.base, self.depth);
        match r {
            Ok((tlv, next)) => {
                self.pos = next;
                Ok(tlv)
            }
            Err(e) => {
                self.failed = true;
                self.pos = self.buf.len();
                Err(e)
            }
        }
    }

    /// Reads the next TLV and checks its tag.
    pub fn read_tag(&mut self, tag: impl Into<Tag>) -> Result<Tlv<'a>, DecodeError> {
        let tag = tag.into();
        if self.is_empty() {
            return Err(DecodeError::new(
                self.offset(),
                DecodeErrorKind::MissingTag(tag),
            ));
        }
        self.read()?.expect_tag(tag)
    }

    /// Reads the next TLV if it has `tag`; leaves the reader unchanged otherwise.
    pub fn read_optional(&mut self, tag: impl Into<Tag>) -> Result<Option<Tlv<'a>>, DecodeError> {
        let tag = tag.into();
        if self.is_empty() {
            return Ok(None);
        }
        let (next_tag, _) = read_tag(self.buf, self.pos, self.base)?;
        if next_tag == tag {
            self.read().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads all remaining TLVs.
    pub fn collect_all(self) -> Result<Vec<Tlv<'a>>, DecodeError> {
        self.collect()
    }

    /// Fails with [`DecodeErrorKind::TrailingBytes`] if anything is left.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::new(
                self.offset(),
                DecodeErrorKind::TrailingBytes(self.buf.len() - self.pos),
            ))
        }
    }
}

impl<'a> Iterator for Reader<'a> {
    type Item = Result<Tlv<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.is_empty() {
            return None;
        }
        Some(self.read())
    }
}

/// Decodes exactly one TLV that fills the whole buffer (trailing bytes are an error).
pub fn parse_one(buf: &[u8]) -> Result<Tlv<'_>, DecodeError> {
    let mut r = Reader::new(buf);
    if r.is_empty() {
        return Err(DecodeError::new(
            0,
            DecodeErrorKind::Truncated {
                what: "tag".into(),
                needed: 1,
                available: 0,
            },
        ));
    }
    let tlv = r.read()?;
    r.finish()?;
    Ok(tlv)
}

/// Decodes a buffer that is a sequence of TLVs (possibly empty).
pub fn parse_all(buf: &[u8]) -> Result<Vec<Tlv<'_>>, DecodeError> {
    Reader::new(buf).collect_all()
}

fn truncated(
    offset: usize,
    what: impl Into<String>,
    needed: usize,
    available: usize,
) -> DecodeError {
    DecodeError::new(
        offset,
        DecodeErrorKind::Truncated {
            what: what.into(),
            needed,
            available,
        },
    )
}

/// Reads a tag at `pos`; returns it and the position after it.
fn read_tag(buf: &[u8], pos: usize, base: usize) -> Result<(Tag, usize), DecodeError> {
    let first = *buf
        .get(pos)
        .ok_or_else(|| truncated(base + pos, "tag", 1, 0))?;
    let mut tag = u32::from(first);
    let mut p = pos + 1;
    if first & 0x1F == 0x1F {
        loop {
            let b = *buf
                .get(p)
                .ok_or_else(|| truncated(base + pos, "multi-byte tag", p - pos + 1, p - pos))?;
            if p - pos >= 3 {
                return Err(DecodeError::new(base + pos, DecodeErrorKind::TagTooLong));
            }
            tag = (tag << 8) | u32::from(b);
            p += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    Ok((Tag(tag), p))
}

/// Length field: `Some(n)` for definite, `None` for indefinite.
fn read_length(buf: &[u8], pos: usize, base: usize) -> Result<(Option<usize>, usize), DecodeError> {
    let first = *buf
        .get(pos)
        .ok_or_else(|| truncated(base + pos, "length", 1, 0))?;
    match first {
        0x00..=0x7F => Ok((Some(usize::from(first)), pos + 1)),
        0x80 => Ok((None, pos + 1)),
        0x81..=0x84 => {
            let n = usize::from(first & 0x7F);
            let bytes = buf
                .get(pos + 1..pos + 1 + n)
                .ok_or_else(|| truncated(base + pos, "long-form length", n + 1, buf.len() - pos))?;
            let len = bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            Ok((Some(len), pos + 1 + n))
        }
        _ => Err(DecodeError::new(
            base + pos,
            DecodeErrorKind::BadLengthField(first),
        )),
    }
}

fn read_at(
    buf: &[u8],
    pos: usize,
    base: usize,
    depth: usize,
) -> Result<(Tlv<'_>, usize), DecodeError> {
    if depth > MAX_DEPTH {
        return Err(DecodeError::new(base + pos, DecodeErrorKind::TooDeep));
    }
    let (tag, p) = read_tag(buf, pos, base)?;
    let (len, vstart) = read_length(buf, p, base)?;
    match len {
        Some(len) => {
            let available = buf.len() - vstart;
            if len > available {
                return Err(truncated(
                    base + vstart,
                    format!("value of tag {tag}"),
                    len,
                    available,
                ));
            }
            let end = vstart + len;
            Ok((
                Tlv {
                    tag,
                    value: &buf[vstart..end],
                    raw: &buf[pos..end],
                    offset: base + pos,
                    value_offset: base + vstart,
                    indefinite: false,
                },
                end,
            ))
        }
        None => {
            if !tag.is_constructed() {
                return Err(DecodeError::new(
                    base + pos,
                    DecodeErrorKind::IndefinitePrimitive(tag),
                ));
            }
            // Walk the children until the end-of-contents octets.
            let mut q = vstart;
            loop {
                if q + 2 <= buf.len() && buf[q] == 0 && buf[q + 1] == 0 {
                    return Ok((
                        Tlv {
                            tag,
                            value: &buf[vstart..q],
                            raw: &buf[pos..q + 2],
                            offset: base + pos,
                            value_offset: base + vstart,
                            indefinite: true,
                        },
                        q + 2,
                    ));
                }
                if q >= buf.len() {
                    return Err(DecodeError::new(
                        base + pos,
                        DecodeErrorKind::MissingEndOfContents(tag),
                    ));
                }
                let (_, next) = read_at(buf, q, base, depth + 1)?;
                q = next;
            }
        }
    }
}

/// Decodes a TLV whose tag has a fixed number of bytes regardless of BER tag rules, filling the
/// whole buffer. SGP.02 §4.1.1 uses such tags for the ES5/ES8 STORE DATA commands: `3A01`…`3A08`
/// are two-byte tags although `3A` alone is a complete BER tag. Returns the tag and the value.
pub fn parse_fixed_tag(buf: &[u8], tag_len: usize) -> Result<(Tag, &[u8]), DecodeError> {
    if !(1..=4).contains(&tag_len) {
        return Err(DecodeError::bad_value(
            0,
            "tag length",
            "must be 1 to 4 bytes",
        ));
    }
    let tag_bytes = buf
        .get(..tag_len)
        .ok_or_else(|| truncated(0, "tag", tag_len, buf.len()))?;
    let tag = Tag(tag_bytes.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)));
    let (len, vstart) = read_length(buf, tag_len, 0)?;
    let len =
        len.ok_or_else(|| DecodeError::new(tag_len, DecodeErrorKind::IndefinitePrimitive(tag)))?;
    let available = buf.len() - vstart;
    if len > available {
        return Err(truncated(
            vstart,
            format!("value of tag {tag}"),
            len,
            available,
        ));
    }
    if vstart + len != buf.len() {
        return Err(DecodeError::new(
            vstart + len,
            DecodeErrorKind::TrailingBytes(buf.len() - vstart - len),
        ));
    }
    Ok((tag, &buf[vstart..]))
}

/// Number of bytes of a definite length field for `len`.
pub fn length_len(len: usize) -> usize {
    match len {
        0..=0x7F => 1,
        0x80..=0xFF => 2,
        0x100..=0xFFFF => 3,
        0x1_0000..=0xFF_FFFF => 4,
        _ => 5,
    }
}

/// Appends a definite length in minimal form (X.690 §8.1.3, DER).
pub fn write_length(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        0x100..=0xFFFF => {
            out.push(0x82);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            out.push(0x83);
            out.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
        }
        _ => {
            out.push(0x84);
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
    }
}

/// Encodes one definite-length TLV.
pub fn tlv(tag: impl Into<Tag>, value: &[u8]) -> Vec<u8> {
    let tag = tag.into();
    let mut out = Vec::with_capacity(tag.encoded_len() + length_len(value.len()) + value.len());
    tag.write(&mut out);
    write_length(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

/// Builds nested definite-length TLVs without computing lengths by hand.
///
/// ```
/// use esim_codec::ber::Writer;
/// let mut w = Writer::new();
/// w.constructed(0x3A03u16, |w| {
///     w.put(0x4Fu8, &[0xA0, 0x00, 0x00, 0x05, 0x59]);
/// });
/// assert_eq!(w.into_bytes(), [0x3A, 0x03, 0x07, 0x4F, 0x05, 0xA0, 0x00, 0x00, 0x05, 0x59]);
/// ```
#[derive(Debug, Default, Clone)]
pub struct Writer {
    out: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a primitive (or pre-encoded constructed) TLV.
    pub fn put(&mut self, tag: impl Into<Tag>, value: &[u8]) -> &mut Self {
        let tag = tag.into();
        tag.write(&mut self.out);
        write_length(&mut self.out, value.len());
        self.out.extend_from_slice(value);
        self
    }

    /// Appends a TLV whose value is built by `f`.
    pub fn constructed(&mut self, tag: impl Into<Tag>, f: impl FnOnce(&mut Writer)) -> &mut Self {
        let mut inner = Writer::new();
        f(&mut inner);
        self.put(tag, &inner.out)
    }

    /// Appends raw bytes (already-encoded TLVs).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.out.extend_from_slice(bytes);
        self
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.out
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.out
    }
}

/// An owned BER-TLV tree that re-encodes to exactly the bytes it was decoded from (including
/// long-form lengths that are not minimal and the indefinite form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The tag.
    pub tag: Tag,
    /// Primitive bytes, or children of a constructed tag.
    pub content: Content,
    /// The encoded length field as found (so non-minimal forms round-trip); `None` = minimal.
    pub length_form: LengthForm,
}

/// Value of a [`Node`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// Raw value bytes.
    Primitive(Vec<u8>),
    /// Child TLVs.
    Constructed(Vec<Node>),
}

/// How a [`Node`]'s length was (or will be) encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LengthForm {
    /// Minimal definite form (DER).
    #[default]
    Minimal,
    /// Definite form with this many length bytes after `8x` (e.g. `81 05`).
    Long(u8),
    /// Indefinite form `80` … `00 00`.
    Indefinite,
}

impl Node {
    /// A primitive node with a minimal length.
    pub fn primitive(tag: impl Into<Tag>, value: Vec<u8>) -> Self {
        Node {
            tag: tag.into(),
            content: Content::Primitive(value),
            length_form: LengthForm::Minimal,
        }
    }

    /// A constructed node with a minimal length.
    pub fn constructed(tag: impl Into<Tag>, children: Vec<Node>) -> Self {
        Node {
            tag: tag.into(),
            content: Content::Constructed(children),
            length_form: LengthForm::Minimal,
        }
    }

    /// Decodes one TLV tree. A constructed tag whose value does not parse as TLVs is an error;
    /// use [`Node::from_tlv_lenient`] to keep such values as bytes.
    pub fn from_tlv(t: &Tlv<'_>) -> Result<Node, DecodeError> {
        Self::build(t, false)
    }

    /// Like [`Node::from_tlv`], but keeps a constructed tag's value as bytes when it is not TLVs.
    pub fn from_tlv_lenient(t: &Tlv<'_>) -> Node {
        Self::build(t, true).unwrap_or_else(|_| Node {
            tag: t.tag,
            content: Content::Primitive(t.value.to_vec()),
            length_form: length_form_of(t),
        })
    }

    fn build(t: &Tlv<'_>, lenient: bool) -> Result<Node, DecodeError> {
        let length_form = length_form_of(t);
        let content = if t.tag.is_constructed() {
            let children: Result<Vec<Node>, DecodeError> = t
                .children()
                .map(|c| {
                    let c = c?;
                    Self::build(&c, lenient)
                })
                .collect();
            match children {
                Ok(c) => Content::Constructed(c),
                Err(_) if lenient && !t.indefinite => Content::Primitive(t.value.to_vec()),
                Err(e) => return Err(e),
            }
        } else {
            Content::Primitive(t.value.to_vec())
        };
        Ok(Node {
            tag: t.tag,
            content,
            length_form,
        })
    }

    /// Decodes a whole buffer as a sequence of trees.
    pub fn parse_all(buf: &[u8]) -> Result<Vec<Node>, DecodeError> {
        Reader::new(buf)
            .map(|t| t.and_then(|t| Node::from_tlv(&t)))
            .collect()
    }

    /// Appends the encoding to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let value = match &self.content {
            Content::Primitive(v) => v.clone(),
            Content::Constructed(children) => {
                let mut v = Vec::new();
                for c in children {
                    c.write(&mut v);
                }
                v
            }
        };
        self.tag.write(out);
        match self.length_form {
            LengthForm::Minimal => write_length(out, value.len()),
            LengthForm::Long(n)
                if usize::from(n) >= length_len(value.len()) - 1 && n <= 4 && n > 0 =>
            {
                out.push(0x80 | n);
                let be = (value.len() as u32).to_be_bytes();
                out.extend_from_slice(&be[4 - usize::from(n)..]);
            }
            LengthForm::Long(_) => write_length(out, value.len()),
            LengthForm::Indefinite => out.push(0x80),
        }
        out.extend_from_slice(&value);
        if self.length_form == LengthForm::Indefinite {
            out.extend_from_slice(&[0, 0]);
        }
    }

    /// The encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    /// Value bytes of a primitive node.
    pub fn value(&self) -> Option<&[u8]> {
        match &self.content {
            Content::Primitive(v) => Some(v),
            Content::Constructed(_) => None,
        }
    }

    /// Children of a constructed node (empty for primitives).
    pub fn children(&self) -> &[Node] {
        match &self.content {
            Content::Constructed(c) => c,
            Content::Primitive(_) => &[],
        }
    }
}

fn length_form_of(t: &Tlv<'_>) -> LengthForm {
    if t.indefinite {
        return LengthForm::Indefinite;
    }
    let len_field = t.raw.len() - t.value.len() - t.tag.encoded_len();
    if len_field == length_len(t.value.len()) {
        LengthForm::Minimal
    } else {
        LengthForm::Long((len_field - 1) as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        let t = parse_one(&[0x7F, 0x21, 0x00]).unwrap();
        assert_eq!(t.tag, Tag(0x7F21));
        assert!(t.tag.is_constructed());
        assert_eq!(t.tag.class(), Class::Application);
        assert_eq!(t.tag.number(), 0x21);
        let t = parse_one(&[0xBF, 0x81, 0x01, 0x00]).unwrap();
        assert_eq!(t.tag, Tag(0xBF8101));
        assert_eq!(t.tag.number(), 0x81);
        assert_eq!(t.tag.to_string(), "BF8101");
        assert_eq!(Tag(0x80).to_bytes(), [0x80]);
    }

    #[test]
    fn long_lengths() {
        let value = vec![0xAB; 300];
        let enc = tlv(0x86u8, &value);
        assert_eq!(&enc[..4], &[0x86, 0x82, 0x01, 0x2C]);
        let t = parse_one(&enc).unwrap();
        assert_eq!(t.value, &value[..]);
        let enc = tlv(0x86u8, &[0; 200]);
        assert_eq!(&enc[..3], &[0x86, 0x81, 200]);
    }

    #[test]
    fn indefinite_form_ts_102_226() {
        // AF 80 | 80 01 01 | 23 04 93 05 90 00 | 00 00  (digest §5.2 example response)
        let bytes = hex_lit("AF80800101230493059000" /* */)
            .into_iter()
            .chain([0, 0])
            .collect::<Vec<_>>();
        let t = parse_one(&bytes).unwrap();
        assert!(t.indefinite);
        assert_eq!(t.tag, Tag(0xAF));
        let kids = t.child_list().unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(kids[1].tag, Tag(0x23));
        // Tag 23 has the constructed bit but holds a raw R-APDU: strict decoding refuses it,
        // lenient decoding keeps it as bytes.
        assert!(Node::from_tlv(&t).is_err());
        let node = Node::from_tlv_lenient(&t);
        assert_eq!(node.to_bytes(), bytes);
    }

    #[test]
    fn errors_name_offsets() {
        let e = parse_one(&[0x4F, 0x05, 0x01]).unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(e.to_string().contains("value of tag 4F"), "{e}");
        let e = parse_one(&[0x4F, 0x00, 0x01]).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::TrailingBytes(1));
        let e = parse_one(&[0x04, 0x80, 0x00, 0x00]).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::IndefinitePrimitive(Tag(4)));
        let e = parse_one(&[0x30, 0x80, 0x04, 0x00]).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::MissingEndOfContents(Tag(0x30)));
        let e = parse_one(&[0x5F]).unwrap_err();
        assert_eq!(e.offset, 0);
        let e = parse_one(&[0x5F, 0xFF, 0xFF, 0xFF, 0x01, 0x00]).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::TagTooLong);
        let e = parse_one(&[0x04, 0x85, 0, 0, 0, 0, 1]).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::BadLengthField(0x85));
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut v = Vec::new();
        for _ in 0..100 {
            v.extend_from_slice(&[0x30, 0x80]);
        }
        assert!(parse_one(&v).is_err());
    }

    #[test]
    fn non_minimal_lengths_round_trip() {
        let bytes = [0xA0, 0x81, 0x03, 0x80, 0x01, 0x05];
        let node = Node::from_tlv(&parse_one(&bytes).unwrap()).unwrap();
        assert_eq!(node.length_form, LengthForm::Long(1));
        assert_eq!(node.to_bytes(), bytes);
    }

    #[test]
    fn optional_and_required() {
        let bytes = [0x30, 0x06, 0x80, 0x01, 0x01, 0x82, 0x01, 0x02];
        let t = parse_one(&bytes).unwrap();
        assert_eq!(t.require(0x82u8).unwrap().value, &[2]);
        assert!(t.find(0x81u8).unwrap().is_none());
        let e = t.require(0x81u8).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::MissingTag(Tag(0x81)));
        let mut r = t.children();
        assert!(r.read_optional(0x81u8).unwrap().is_none());
        assert!(r.read_optional(0x80u8).unwrap().is_some());
        assert_eq!(r.read_tag(0x82u8).unwrap().value_offset, 7);
        r.finish().unwrap();
    }

    #[test]
    fn sgp02_two_byte_command_tags() {
        let enc = tlv(0x3A03u16, &[0x4F, 0x01, 0xAA]);
        assert_eq!(enc, [0x3A, 0x03, 0x03, 0x4F, 0x01, 0xAA]);
        let (tag, value) = parse_fixed_tag(&enc, 2).unwrap();
        assert_eq!(tag, Tag(0x3A03));
        assert_eq!(value, &[0x4F, 0x01, 0xAA]);
        assert!(parse_fixed_tag(&enc[..5], 2).is_err());
        assert!(parse_fixed_tag(&[0x3A, 0x03, 0x00, 0x00], 2).is_err());
    }

    fn hex_lit(s: &str) -> Vec<u8> {
        crate::hex::decode(s).unwrap()
    }
}
