//! Byte-level codecs shared by every layer of esim-rsp: BER-TLV (ISO/IEC 8825-1 as profiled by
//! ISO/IEC 7816-4 and ETSI TS 102 226), SIMPLE-TLV (ISO/IEC 7816-4 §5.2.1), hexadecimal text, and the
//! validated identifiers of the M2M eSIM world (`Eid`, `Iccid`, `Imsi`, `Aid`, `Tar`).
//!
//! Everything here is pure: no I/O, no clock, no allocation beyond the values returned.
//! Every decoder reports the byte offset at which it failed, and never panics.

pub mod ber;
pub mod hex;
pub mod ids;
pub mod simple_tlv;

pub use ber::{DecodeError, DecodeErrorKind, Tag, Tlv};
pub use ids::{Aid, Eid, Iccid, IdError, Imsi, Tar};
