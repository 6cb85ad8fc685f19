//! The SM-SR service (SGP.02 §2.4–2.7, §3; DESIGN §4 services layer).
//!
//! - [`delivery`]: the ES5 delivery — one ordered, persisted command queue per eUICC (in the
//!   store), driven through the sans-I/O engine `esim_proto::es5::Channel` over SMS (an SMPP
//!   ESME, SCP80) or HTTPS (SCP81 PSK-TLS admin sessions triggered by SMS); notifications from
//!   the cards come in here and are confirmed.
//! - the functions (ES1 RegisterEIS, ES3, ES4) as persisted operations, POL2, EIS upkeep and
//!   callbacks, exposed as an `esim_service::FunctionService`.

pub mod delivery;
