//! A software SGP.02 eUICC, sans-I/O: bytes in, bytes out, state serializable.
//!
//! * [`card`]: the card as a whole, [`card::Euicc`]: contact APDUs, SMS-PP (SCP80), SCP81
//!   admin scripts, network attach / loss of connectivity, and the actions the card asks the
//!   device to perform (REFRESH, notifications, admin session).
//! * [`ecasd`]: the ECASD (EID, CI key, card key pair and certificate; ECKA card side).
//! * [`ota`]: the ISD-R's SCP80 and SCP81 keysets and the SCP80 receiving entity.
//! * [`registry`]: the ISD-R's table of ISD-Ps and the SGP.02 life-cycle rules: create, enable,
//!   disable, delete, fall-back, notifications and memory accounting, with the invariants a real
//!   card keeps (at most one enabled profile, exactly one fall-back holder, increasing
//!   notification sequence numbers, memory that adds up).
//! * [`isdp`]: the ISD-P (SCP03t session, Profile Package Interpreter).
//! * [`master_delete`]: the delete token of Master Delete.
//! * [`policy`]: POL1 coding (docs/spec-choices.md).

#![forbid(unsafe_code)]

pub mod card;
pub mod ecasd;
pub mod isdp;
pub mod master_delete;
pub mod ota;
mod persist;
pub mod policy;
pub mod registry;

pub use card::{Action, AdminOutcome, CardConfig, CardState, Euicc, ScriptStatus, SmsPpOutcome};
