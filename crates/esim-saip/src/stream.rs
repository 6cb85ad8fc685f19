//! Streaming decoder for the PE sequence of a Profile Package.
//!
//! In SGP.02 the SM-DP cuts the DER stream of PEs into SCP03t segments (`86` commands sent with
//! ES3.SendData) at arbitrary offsets; the Profile Package Interpreter of the ISD-P installs each PE
//! as soon as it is complete (digest §6, "Segmentation in SGP.02"). [`PeStreamDecoder`] takes the
//! bytes in any chunking and returns each PE once it is complete. It buffers at most one partial
//! PE, whose size is bounded by [`PeStreamDecoder::max_element_len`].

use crate::element::ProfileElement;
use crate::error::SaipError;
use esim_codec::ber::Tag;

/// One decoded PE and where it was in the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocatedElement {
    /// Position in the package, from 0.
    pub index: usize,
    /// Offset of the PE's first byte (its tag) from the start of the package.
    pub offset: usize,
    /// Length of the PE's tag and length fields.
    pub header_len: usize,
    /// Length of the whole PE TLV.
    pub len: usize,
    /// The element.
    pub element: ProfileElement,
}

/// Result of looking at the start of a buffer for a PE header.
enum Header {
    /// More bytes are needed to read the tag and length.
    NeedMore,
    /// Tag, header length, value length.
    Complete(Tag, usize, usize),
}

/// Reads the tag and definite length of the PE at the start of `buf` (DER, X.690 §8.1.2–8.1.3).
fn read_header(buf: &[u8], index: usize, offset: usize) -> Result<Header, SaipError> {
    let bad = |at: usize, reason: String| SaipError::BadHeader {
        index,
        offset: offset + at,
        reason,
    };
    let Some(&first) = buf.first() else {
        return Ok(Header::NeedMore);
    };
    let mut tag = u32::from(first);
    let mut pos = 1;
    if first & 0x1F == 0x1F {
        loop {
            let Some(&b) = buf.get(pos) else {
                return Ok(Header::NeedMore);
            };
            if pos == 1 && b == 0x80 {
                return Err(bad(
                    pos,
                    "tag number with a leading 80 byte (not minimal)".into(),
                ));
            }
            tag = (tag << 8) | u32::from(b);
            pos += 1;
            if b & 0x80 == 0 {
                break;
            }
            if pos >= 4 {
                return Err(bad(0, "tag longer than 4 bytes".into()));
            }
        }
    }
    let Some(&l0) = buf.get(pos) else {
        return Ok(Header::NeedMore);
    };
    pos += 1;
    let len = match l0 {
        0..=0x7F => usize::from(l0),
        0x80 => {
            return Err(bad(
                pos - 1,
                "indefinite length (80) is not allowed for a profile element (DER)".into(),
            ));
        }
        0x81..=0x84 => {
            let n = usize::from(l0 & 0x7F);
            let Some(bytes) = buf.get(pos..pos + n) else {
                return Ok(Header::NeedMore);
            };
            pos += n;
            bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        }
        _ => return Err(bad(pos - 1, format!("invalid length byte {l0:02X}"))),
    };
    Ok(Header::Complete(Tag(tag), pos, len))
}

/// Decodes PEs from a byte stream delivered in arbitrary chunks.
#[derive(Debug)]
pub struct PeStreamDecoder {
    buf: Vec<u8>,
    /// Package offset of `buf[0]`.
    base: usize,
    next_index: usize,
    max_element_len: usize,
}

impl Default for PeStreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl PeStreamDecoder {
    /// Default bound on one PE (tag, length and value): 1 MiB, enough for an `application` PE
    /// carrying a Java Card load file.
    pub const DEFAULT_MAX_ELEMENT_LEN: usize = 1 << 20;

    /// A decoder with [`Self::DEFAULT_MAX_ELEMENT_LEN`].
    pub fn new() -> Self {
        Self::with_max_element_len(Self::DEFAULT_MAX_ELEMENT_LEN)
    }

    /// A decoder that rejects PEs longer than `max` bytes (header included), so at most `max`
    /// bytes stay buffered between calls.
    pub fn with_max_element_len(max: usize) -> Self {
        PeStreamDecoder {
            buf: Vec::new(),
            base: 0,
            next_index: 0,
            max_element_len: max,
        }
    }

    /// The bound on one PE.
    pub fn max_element_len(&self) -> usize {
        self.max_element_len
    }

    /// Number of PEs returned so far.
    pub fn elements_seen(&self) -> usize {
        self.next_index
    }

    /// Bytes of an incomplete PE held back.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Package offset of the next byte to be pushed.
    pub fn offset(&self) -> usize {
        self.base + self.buf.len()
    }

    /// Adds `bytes` and returns every PE completed by them, in order. After an error the decoder
    /// is unusable (the stream position is lost); start a new one.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<LocatedElement>, SaipError> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut pos = 0;
        loop {
            let rest = &self.buf[pos..];
            let index = self.next_index;
            let offset = self.base + pos;
            let (tag, header_len, value_len) = match read_header(rest, index, offset)? {
                Header::NeedMore => break,
                Header::Complete(t, h, v) => (t, h, v),
            };
            let total = header_len.saturating_add(value_len);
            if total > self.max_element_len {
                return Err(SaipError::TooLarge {
                    index,
                    offset,
                    len: total,
                    max: self.max_element_len,
                });
            }
            let Some(tlv) = rest.get(..total) else {
                break;
            };
            let element = ProfileElement::decode(index, offset, tag, tlv)?;
            out.push(LocatedElement {
                index,
                offset,
                header_len,
                len: total,
                element,
            });
            self.next_index += 1;
            pos += total;
        }
        self.buf.drain(..pos);
        self.base += pos;
        Ok(out)
    }

    /// Ends the stream: an error if a partial PE is still buffered.
    pub fn finish(&self) -> Result<(), SaipError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let index = self.next_index;
        let needed = match read_header(&self.buf, index, self.base) {
            Ok(Header::Complete(_, h, v)) => h.saturating_add(v),
            _ => self.buf.len() + 1,
        };
        Err(SaipError::Truncated {
            index,
            offset: self.base,
            needed,
            available: self.buf.len(),
        })
    }
}
