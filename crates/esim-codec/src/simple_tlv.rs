//! SIMPLE-TLV (ISO/IEC 7816-4 §5.2.1; also the COMPREHENSION-TLV length rules of ETSI TS 102 223
//! for single-byte tags): a one-byte tag `01`–`FE`, and a length of one byte (`00`–`FE`) or
//! `FF` followed by two bytes (`0000`–`FFFF`).

use crate::ber::{DecodeError, DecodeErrorKind};

/// One SIMPLE-TLV data object borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimpleTlv<'a> {
    /// Tag, `01`–`FE`.
    pub tag: u8,
    /// Value bytes.
    pub value: &'a [u8],
    /// Offset of the tag in the input.
    pub offset: usize,
}

fn truncated(offset: usize, what: &str, needed: usize, available: usize) -> DecodeError {
    DecodeError::new(
        offset,
        DecodeErrorKind::Truncated {
            what: what.into(),
            needed,
            available,
        },
    )
}

/// Decodes a buffer that is a sequence of SIMPLE-TLV objects.
pub fn parse_all(buf: &[u8]) -> Result<Vec<SimpleTlv<'_>>, DecodeError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let tag = buf[pos];
        if tag == 0x00 || tag == 0xFF {
            return Err(DecodeError::bad_value(
                pos,
                "SIMPLE-TLV tag",
                format!("{tag:02X} is not a valid tag (01-FE)"),
            ));
        }
        let lpos = pos + 1;
        let first = *buf
            .get(lpos)
            .ok_or_else(|| truncated(lpos, "length", 1, 0))?;
        let (len, vstart) = if first == 0xFF {
            let b = buf
                .get(lpos + 1..lpos + 3)
                .ok_or_else(|| truncated(lpos, "three-byte length", 3, buf.len() - lpos))?;
            (usize::from(u16::from_be_bytes([b[0], b[1]])), lpos + 3)
        } else {
            (usize::from(first), lpos + 1)
        };
        let available = buf.len() - vstart;
        if len > available {
            return Err(truncated(vstart, "value", len, available));
        }
        out.push(SimpleTlv {
            tag,
            value: &buf[vstart..vstart + len],
            offset: pos,
        });
        pos = vstart + len;
    }
    Ok(out)
}

/// Encodes one SIMPLE-TLV object. Values longer than 65 535 bytes cannot be encoded.
pub fn encode(tag: u8, value: &[u8]) -> Result<Vec<u8>, DecodeError> {
    if tag == 0x00 || tag == 0xFF {
        return Err(DecodeError::bad_value(0, "SIMPLE-TLV tag", "must be 01-FE"));
    }
    let mut out = vec![tag];
    match value.len() {
        0..=0xFE => out.push(value.len() as u8),
        0xFF..=0xFFFF => {
            out.push(0xFF);
            out.extend_from_slice(&(value.len() as u16).to_be_bytes());
        }
        n => {
            return Err(DecodeError::bad_value(
                0,
                "SIMPLE-TLV value",
                format!("{n} bytes is longer than 65535"),
            ));
        }
    }
    out.extend_from_slice(value);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let long = vec![7u8; 300];
        let mut buf = encode(0x01, &[1, 2]).unwrap();
        buf.extend(encode(0x02, &long).unwrap());
        assert_eq!(&buf[4..8], &[0x02, 0xFF, 0x01, 0x2C]);
        let items = parse_all(&buf).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].value, &long[..]);
        assert_eq!(items[1].offset, 4);
    }

    #[test]
    fn errors() {
        assert_eq!(parse_all(&[0x01, 0x03, 0x00]).unwrap_err().offset, 2);
        assert_eq!(parse_all(&[0x00, 0x00]).unwrap_err().offset, 0);
        assert!(parse_all(&[0x01, 0xFF, 0x00]).is_err());
    }
}
