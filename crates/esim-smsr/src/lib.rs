//! The SM-SR service (SGP.02 §2.4–2.7, §3; DESIGN §4 services layer).
//!
//! - [`delivery`]: the ES5 delivery — one ordered, persisted command queue per eUICC (in the
//!   store), driven through the sans-I/O engine `esim_proto::es5::Channel` over SMS (an SMPP
//!   ESME, SCP80) or HTTPS (SCP81 PSK-TLS admin sessions triggered by SMS); notifications from
//!   the cards come in here and are confirmed.
//! - the functions (ES1 RegisterEIS, ES3, ES4) as persisted operations, POL2, EIS upkeep and
//!   callbacks, exposed as an `esim_service::FunctionService` ([`Smsr`], [`run`]).
//! - [`smsr_change`] and [`es7`]: SM-SR change between two SM-SRs (ES4 PrepareSMSRChange /
//!   SMSRChange, ES7 HandoverEUICC / AuthenticateSMSR / CreateAdditionalKeySet).

pub mod delivery;
pub mod es1;
pub mod es7;
pub mod keys;
pub mod master_delete;
pub mod notify;
mod ops;
pub mod service;
pub mod smsr_change;

pub use es1::Registration;
pub use master_delete::{DeleteTokenRequest, DeleteTokenSource, Es3DeleteTokens};
pub use notify::SinkSlot;
pub use service::{SERVED, Smsr, SmsrConfig, run};
pub use smsr_change::GpIdentity;

/// `3A05` SetFallbackAttribute STORE DATA payload tag (SGP.02 v4 §3.27; the value is
/// `4F <ISD-P AID>`), as the software eUICC implements it.
pub const TAG_SET_FALLBACK: u16 = 0x3A05;
