//! The SM-DP service (SGP.02 §2.3, §3.1; DESIGN §4 services layer).
//!
//! - [`inventory`]: the Profile inventory — import of SAIP packages (DER) and generation of
//!   personalized Profiles from a template for ICCID/IMSI ranges, every package sealed in the
//!   store with the AAD `inventory/<ICCID>`.
//! - [`Smdp`]: the ES2 functions (digest §2.3) as an [`esim_service::FunctionService`], and the
//!   handling of the SM-SR's ES3 notifications. Every ES2 function that reaches the SM-SR is a
//!   persisted operation ([`esim_store::OperationStore`]); `DownloadProfile` drives the sans-I/O
//!   machine [`esim_proto::smdp`] over ES3 (digest §3.1, §3.2), saving its step before each
//!   ES3 call.
//! - [`run`]: the recovery loop. The download's crypto session lives in memory only, so a
//!   download found mid-way after a restart is rolled back (ES3.DeleteISDP, inventory released);
//!   the steps after the card reported success are resumed (docs/spec-choices.md, SM-DP rows).

pub mod config;
mod download;
mod es3;
pub mod inventory;
mod master_delete;
mod ops;
mod service;

pub use config::SmdpConfig;
pub use inventory::{GenerateRequest, ImportRequest, Inventory, InventoryError};
pub use service::{Smdp, run};
