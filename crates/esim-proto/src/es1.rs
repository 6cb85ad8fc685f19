//! ES1 (EUM → SM-SR), digest §2.2 and §3.7.

use serde::{Deserialize, Serialize};

/// `ES1.RegisterEIS`: the EUM-signed EIS document (signature, signed info
/// and the ISD-R keysets under the transport protection agreed with the EUM).
/// The SM-SR verifies it with `esim_crypto::pki::verify_eis` and converts it
/// with [`crate::eis::Eis::from_document`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterEisRequest {
    /// `Eis`: the signed registration document.
    #[serde(rename = "Eis")]
    #[cfg_attr(feature = "schema", schemars(with = "EisDocumentSchema"))]
    pub eis: esim_crypto::pki::EisDocument,
}

/// The JSON Schema of `esim_crypto::pki::EisDocument` (top level; the signed info is
/// described, not spelled out, because that crate has no schema feature).
#[cfg(feature = "schema")]
struct EisDocumentSchema;

#[cfg(feature = "schema")]
impl schemars::JsonSchema for EisDocumentSchema {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("EisDocument")
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "description": "The EUM-signed EIS document (esim_crypto::pki::EisDocument)",
            "required": ["eumSignedInfo", "signatureAlgorithm", "eumSignature", "eumCertificateId"],
            "properties": {
                "eumSignedInfo": {"type": "object", "description": "the signed EIS information, ISD-R keysets under transport protection"},
                "signatureAlgorithm": {"type": "string"},
                "eumSignature": {"type": "string", "description": "r||s as hex"},
                "eumCertificateId": {"type": "string", "description": "subject key identifier of the EUM certificate, hex"}
            },
            "additionalProperties": false
        })
    }
}
