//! TCA eUICC Profile Package (SAIP, "Interoperable Format") v2.x–3.3: DER codec of the profile
//! elements, streaming decoder, accessors, personalization and validation. Pure: no I/O.
//!
//! The types of the PEs are generated from the TCA ASN.1 module `PEDefinitions` 3.3.1
//! ([`asn1`]); see the crate README for how. A package is a [`ProfilePackage`] of
//! [`ProfileElement`]s, each either typed or kept as raw bytes ([`RawElement`]), so that any input
//! re-encodes byte for byte.

#[allow(
    missing_debug_implementations,
    clippy::all,
    rust_2018_idioms,
    unused_qualifications
)]
mod generated;
mod redact;

pub mod access;
pub mod element;
pub mod error;
pub mod json;
pub mod package;
pub mod personalize;
pub mod stream;
mod template_fields;
pub mod validate;

/// The PE-Definitions 3.3.1 types (generated; see `generated.rs`).
pub use generated::pedefinitions as asn1;

pub use access::{AccessError, SaipVersion};
pub use element::{ProfileElement, RawElement, RawReason};
pub use error::SaipError;
pub use package::ProfilePackage;
pub use personalize::{Personalization, PersonalizeError, SdKeyValue};
pub use stream::{LocatedElement, PeStreamDecoder};
pub use validate::{ValidationError, validate};
pub use zeroize::Zeroizing;
