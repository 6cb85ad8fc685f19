//! ES1 (EUM → SM-SR), digest §2.2 and §3.7.

use serde::{Deserialize, Serialize};

/// `ES1.RegisterEIS`: the EUM-signed EIS document (signature, signed info
/// and the ISD-R keysets under the transport protection agreed with the EUM).
/// The SM-SR verifies it with `esim_crypto::pki::verify_eis` and converts it
/// with [`crate::eis::Eis::from_document`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterEisRequest {
    /// `Eis`: the signed registration document.
    #[serde(rename = "Eis")]
    pub eis: esim_crypto::pki::EisDocument,
}
