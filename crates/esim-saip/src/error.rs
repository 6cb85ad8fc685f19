//! Errors of the SAIP codec (decoding, encoding, JSON form).

use esim_codec::ber::Tag;

/// A failure to decode, encode or convert a Profile Package.
///
/// Every variant names where the problem is: the byte offset from the start of the package, the
/// index of the profile element (PE, counted from 0) and its tag or type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaipError {
    /// The package contains no profile element at all.
    #[error("empty profile package: no profile element")]
    Empty,
    /// The tag/length header of a PE is malformed (TCA SAIP §8.1: PEs are DER TLVs).
    #[error("PE #{index} at byte {offset}: {reason}")]
    BadHeader {
        /// Index of the PE.
        index: usize,
        /// Offset of the problem from the start of the package.
        offset: usize,
        /// What is wrong ("indefinite length", "tag longer than 4 bytes", …).
        reason: String,
    },
    /// A PE's tag is not a context-specific alternative of the `ProfileElement` CHOICE.
    #[error(
        "PE #{index} at byte {offset}: tag {tag} is not a ProfileElement (expected a context-specific constructed tag A0..BF21)"
    )]
    NotAProfileElement {
        /// Index of the PE.
        index: usize,
        /// Offset of the PE.
        offset: usize,
        /// The tag found.
        tag: Tag,
    },
    /// The input ends inside a PE.
    #[error(
        "PE #{index} at byte {offset}: truncated: the PE needs {needed} byte(s), {available} left"
    )]
    Truncated {
        /// Index of the PE.
        index: usize,
        /// Offset of the PE.
        offset: usize,
        /// Bytes the PE (header and value) needs.
        needed: usize,
        /// Bytes available after `offset`.
        available: usize,
    },
    /// A PE is longer than the configured bound of the streaming decoder.
    #[error("PE #{index} at byte {offset}: length {len} exceeds the limit of {max} bytes")]
    TooLarge {
        /// Index of the PE.
        index: usize,
        /// Offset of the PE.
        offset: usize,
        /// Length announced by the PE (header included).
        len: usize,
        /// The decoder's limit.
        max: usize,
    },
    /// A PE's content does not match its type in the PE-Definitions ASN.1 module.
    #[error("PE #{index} {pe_type} (tag {tag}) at byte {offset}: {detail}")]
    BadElement {
        /// Index of the PE.
        index: usize,
        /// Offset of the PE.
        offset: usize,
        /// The PE's tag.
        tag: Tag,
        /// The CHOICE alternative name ("pinCodes", …).
        pe_type: &'static str,
        /// What the ASN.1 decoder reported (field path and reason).
        detail: String,
    },
    /// A typed PE cannot be encoded (a value breaks an ASN.1 constraint).
    #[error("PE #{index} {pe_type}: cannot encode: {detail}")]
    Encode {
        /// Index of the PE.
        index: usize,
        /// The CHOICE alternative name.
        pe_type: &'static str,
        /// What the encoder reported.
        detail: String,
    },
    /// The JSON form of a package is not what [`crate::json`] produces.
    #[error("JSON {path}: {detail}")]
    Json {
        /// Where in the JSON document ("elements[3]", …).
        path: String,
        /// What is wrong.
        detail: String,
    },
}

/// Shortens an error message of the ASN.1 library to one clean line.
pub(crate) fn clean_detail(text: &str) -> String {
    let mut s = text
        .replace(" (Codec: BER)", "")
        .replace(" (Codec: DER)", "");
    s = s.replace(" (Codec: JER)", "");
    s = s
        .replace("Error when decoding field `", "")
        .replace("`: ", ": ");
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
