//! SMPP 3.4 adapter: the SMS transport of SGP.02 ES5 (the SM-SR sends SCP80 command packets
//! to the eUICC as binary SMS-PP; the device answers with PoRs and notifications as MO-SMS).
//!
//! Three layers:
//! - [`pdu`] — a sans-I/O codec of the SMPP v3.4 PDUs used here, with [`status`] for
//!   `command_status` codes and [`sms`] for the message as the SM-SR sees it;
//! - [`esme`] — an async ESME client over TCP (bind, submit, receive, keep-alive, window,
//!   reconnect, unbind);
//! - [`smsc`] — an SMSC simulator (the SMPP server side) with routing, store-and-forward and
//!   test impairments, run with the project's service signature
//!   `run(config, listener, shutdown)`.
//!
//! # The SMPP 3.4 subset
//!
//! References are to *Short Message Peer to Peer Protocol Specification v3.4*, Issue 1.2
//! (SMPP Developers Forum, 1999).
//!
//! | operation | clause | ESME | SMSC simulator |
//! |---|---|---|---|
//! | `bind_transmitter` / `bind_receiver` / `bind_transceiver` (+ `_resp`) | §4.1 | sends | authenticates, registers `address_range` |
//! | `unbind` / `unbind_resp` | §4.2 | sends at shutdown, answers | answers, sends at shutdown |
//! | `generic_nack` | §4.3 | sends for unknown commands / bad bodies | same; closes on impossible `command_length` |
//! | `submit_sm` / `submit_sm_resp` | §4.4 | sends | answers with `message_id`, routes |
//! | `deliver_sm` / `deliver_sm_resp` | §4.6 | answers | sends to the owning ESME |
//! | `enquire_link` / `enquire_link_resp` | §4.11 | sends periodically, answers | answers |
//!
//! Other operations (`submit_multi`, `data_sm`, `query_sm`, `cancel_sm`, `replace_sm`,
//! `outbind`, `alert_notification`) are answered with `generic_nack` / `ESME_RINVCMDID`.
//! `interface_version` is `0x34` (§5.2.4); the SMSC returns `sc_interface_version` `0x34`
//! (§5.3.2.25).
//!
//! Fields that carry SGP.02 ES5 traffic (digest §5.1; 3GPP TS 23.040, TS 23.038,
//! ETSI TS 102 225 / 31.115):
//! - `esm_class` `0x40` — UDHI: `short_message` starts with a user data header (§5.2.12);
//!   UDH `02 70 00` announces a command packet (IEI `70`), `02 71 00` a response packet
//!   (IEI `71`);
//! - `protocol_id` `0x7F` — TP-PID (U)SIM data download (§5.2.13);
//! - `data_coding` `0xF6` — TP-DCS 8-bit data, class 2 (§5.2.19);
//! - `short_message` up to 254 octets (§5.2.22), longer user data in `message_payload`
//!   (§5.3.2.32).
//!
//! The user data travels byte-exact: the simulator copies `esm_class`, `protocol_id`,
//! `data_coding` and `short_message` from `submit_sm` to `deliver_sm` untouched. Delivery
//! receipts (`registered_delivery`, §5.2.17) are not generated.
#![forbid(unsafe_code)]

pub mod esme;
pub mod pdu;
mod rng;
pub mod sms;
pub mod smsc;
pub mod status;
mod transport;

pub use esme::{
    Esme, EsmeConfig, EsmeError, EsmeHandle, Incoming, LinkState, ReconnectPolicy, RetryPolicy,
};
pub use pdu::{Address, BindMode, Password};
pub use sms::Sms;
pub use smsc::{MetricsSnapshot, Smsc, SmscConfig, SmscError, run};
pub use status::CommandStatus;
