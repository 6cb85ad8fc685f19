//! A software SGP.02 eUICC, sans-I/O: `process(apdu) -> response`, state serializable.
//!
//! Built so far:
//! * [`policy`]: POL1 coding (docs/spec-choices.md).
//! * [`registry`]: the ISD-R's table of ISD-Ps and the SGP.02 life-cycle rules: create, enable,
//!   disable, delete, fall-back, notifications and memory accounting, with the invariants a real
//!   card keeps (at most one enabled profile, exactly one fall-back holder, increasing
//!   notification sequence numbers, memory that adds up).

pub mod policy;
pub mod registry;
