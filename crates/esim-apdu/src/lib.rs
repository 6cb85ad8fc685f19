//! Card-command codecs for esim-rsp, shared by the servers (builders) and the software eUICC
//! (parsers):
//!
//! * [`apdu`]: ISO/IEC 7816-4 command and response APDUs (all four cases, short and extended).
//! * [`sw`]: status words, with the SGP.02 `69E1` (POL1).
//! * [`get_response`]: T=0-style `61xx` / `6Cxx` handling as a sans-I/O state machine.
//! * [`gp`]: the GlobalPlatform Card Specification v2.3 commands SGP.02 uses (INSTALL, STORE DATA
//!   with block chaining, DELETE, GET STATUS, GET DATA, SET STATUS) and the SGP.02 ES5 payloads.
//! * [`etsi102226`]: ETSI TS 102 226 remote command and response scripts (expanded and compact).
//! * [`sms`]: 3GPP TS 23.040 SMS-DELIVER / SMS-SUBMIT TPDUs, user data headers, and the
//!   concatenation of secured packets (3GPP TS 31.115) with a bounded reassembler.
//!
//! Everything is pure (no I/O, no clock); decoders of untrusted bytes never panic and report the
//! byte offset of what they reject.

pub mod apdu;
pub mod etsi102226;
pub mod get_response;
pub mod gp;
pub mod sms;
pub mod sw;

pub use apdu::{ApduError, CommandApdu, ResponseApdu};
pub use sw::StatusWord;
