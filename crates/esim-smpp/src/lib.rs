//! SMPP 3.4 adapter (placeholder doc, replaced below).
#![forbid(unsafe_code)]

pub mod pdu;
pub mod sms;
pub mod status;
