//! Hexadecimal text as people and scripts write it: upper or lower case, optionally separated by
//! spaces, colons or newlines. Errors name the character position.

use std::fmt::Write as _;

/// A hex string that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HexError {
    /// A character that is neither a hex digit nor an allowed separator.
    #[error("invalid hex character {found:?} at position {position}")]
    BadChar {
        /// Character position (0-based) in the input text.
        position: usize,
        /// The offending character.
        found: char,
    },
    /// An odd number of hex digits.
    #[error("odd number of hex digits ({digits})")]
    OddLength {
        /// Number of digits found.
        digits: usize,
    },
}

/// Decodes hex text; spaces, tabs, newlines, `:` and `_` between digits are ignored.
pub fn decode(text: &str) -> Result<Vec<u8>, HexError> {
    let mut out = Vec::with_capacity(text.len() / 2);
    let mut hi: Option<u8> = None;
    let mut digits = 0usize;
    for (position, found) in text.chars().enumerate() {
        let v = match found {
            '0'..='9' => found as u8 - b'0',
            'a'..='f' => found as u8 - b'a' + 10,
            'A'..='F' => found as u8 - b'A' + 10,
            ' ' | '\t' | '\n' | '\r' | ':' | '_' => continue,
            _ => return Err(HexError::BadChar { position, found }),
        };
        digits += 1;
        match hi.take() {
            None => hi = Some(v),
            Some(h) => out.push((h << 4) | v),
        }
    }
    if hi.is_some() {
        return Err(HexError::OddLength { digits });
    }
    Ok(out)
}

/// Lowercase hex without separators.
pub fn encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Uppercase hex without separators (the usual form in telecom traces).
pub fn encode_upper(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_with_separators() {
        assert_eq!(decode("80 E2:88_00\n").unwrap(), [0x80, 0xE2, 0x88, 0x00]);
        assert_eq!(encode(&[0xAB, 0x01]), "ab01");
        assert_eq!(encode_upper(&[0xAB, 0x01]), "AB01");
    }

    #[test]
    fn errors() {
        assert_eq!(
            decode("80E2x8").unwrap_err(),
            HexError::BadChar {
                position: 4,
                found: 'x'
            }
        );
        assert_eq!(
            decode("abc").unwrap_err(),
            HexError::OddLength { digits: 3 }
        );
    }
}
