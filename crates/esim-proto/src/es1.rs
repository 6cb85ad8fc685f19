//! ES1 (EUM → SM-SR), digest §2.2 and §3.7.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::eis::ProfileInfo;

/// `ES1.RegisterEIS`: the EUM-signed EIS document (signature, signed info
/// and the ISD-R keysets under the transport protection agreed with the EUM).
/// The SM-SR verifies it with `esim_crypto::pki::verify_eis` and converts it
/// with [`crate::eis::Eis::from_document`].
///
/// The signed document carries neither the Profiles present at manufacture (the bootstrap
/// Profile, with its `SubscriptionAddress`) nor `AdditionalProperties`, which the EIS the EUM
/// registers includes in SGP.02 (§5.2, digest §4.1); they travel beside it, unsigned, in
/// `ProfileInfo` and `AdditionalProperties` (both optional; docs/spec-choices.md, RegisterEIS
/// extras row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterEisRequest {
    /// `Eis`: the signed registration document.
    #[serde(rename = "Eis")]
    #[cfg_attr(feature = "schema", schemars(with = "EisDocumentSchema"))]
    pub eis: esim_crypto::pki::EisDocument,
    /// `ProfileInfo*`: the Profiles on the eUICC at registration (e.g. the bootstrap Profile)
    /// with their `SubscriptionAddress` (MSISDN, IMSI), as in the EIS (digest §4.1).
    #[serde(rename = "ProfileInfo", default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<ProfileInfo>,
    /// `AdditionalProperties` of the EIS (name → value), e.g. `msisdn`, `es5-transport`.
    #[serde(
        rename = "AdditionalProperties",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub additional_properties: BTreeMap<String, String>,
}

impl RegisterEisRequest {
    /// A request with the signed document only.
    pub fn new(eis: esim_crypto::pki::EisDocument) -> Self {
        RegisterEisRequest {
            eis,
            profiles: Vec::new(),
            additional_properties: BTreeMap::new(),
        }
    }
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
