//! The Profile Package: the ordered sequence of PEs (TCA SAIP v3.3.1 §8.1: "a Profile Package is
//! a sequence of Profile Elements", each one a DER-encoded `ProfileElement`).

use crate::element::ProfileElement;
use crate::error::SaipError;
use crate::stream::{LocatedElement, PeStreamDecoder};

/// A decoded Profile Package.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProfilePackage {
    /// The PEs in package order.
    pub elements: Vec<ProfileElement>,
}

impl ProfilePackage {
    /// Decodes a whole package. Fails on an empty input, on a malformed PE and on a trailing
    /// partial PE.
    pub fn decode(der: &[u8]) -> Result<Self, SaipError> {
        Ok(ProfilePackage {
            elements: Self::decode_located(der)?
                .into_iter()
                .map(|l| l.element)
                .collect(),
        })
    }

    /// Decodes a whole package and reports where each PE was.
    pub fn decode_located(der: &[u8]) -> Result<Vec<LocatedElement>, SaipError> {
        if der.is_empty() {
            return Err(SaipError::Empty);
        }
        let mut dec = PeStreamDecoder::with_max_element_len(der.len());
        let out = dec.push(der)?;
        dec.finish()?;
        Ok(out)
    }

    /// The DER encoding: the concatenation of every PE's DER (raw PEs as they came).
    pub fn encode(&self) -> Result<Vec<u8>, SaipError> {
        let mut out = Vec::new();
        for (i, e) in self.elements.iter().enumerate() {
            out.extend_from_slice(&e.to_der(i)?);
        }
        Ok(out)
    }
}
