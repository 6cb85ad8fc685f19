//! ES4 (Operator / M2M SP → SM-SR), digest §2.5 and §3.4–3.6. `GetEIS`,
//! `AuditEIS`, `EnableProfile`, `DisableProfile`, `DeleteProfile` and
//! `UpdatePolicyRules` share the ES3 bodies ([`crate::es3`]).

use serde::{Deserialize, Serialize};

use esim_codec::ids::{Eid, Iccid};

/// `SetFallbackAttribute(Eid, Iccid)` (v4 §3.27): moves the Fall-back
/// Attribute to this Profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SetFallbackAttributeRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Iccid`.
    #[serde(rename = "Iccid")]
    pub iccid: Iccid,
}

/// Master Delete (§3.10, digest §3.5): deletes the Profile regardless of
/// POL1/POL2 with a Delete Token the SM-SR obtains from the SM-DP. The ES
/// function name was not found; `MasterDelete(Eid, Iccid)` is INFERRED.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct MasterDeleteRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Iccid`.
    #[serde(rename = "Iccid")]
    pub iccid: Iccid,
}

/// `PrepareSMSRChange(Eid, CurrentSMSRid)`, sent to SM-SR2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct PrepareSmsrChangeRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `CurrentSMSRid`.
    #[serde(rename = "CurrentSMSRid")]
    pub current_smsr_id: String,
}

/// `SMSRChange(Eid, Target-Smsr-id)`, sent to SM-SR1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SmsrChangeRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Target-Smsr-id`.
    #[serde(rename = "Target-Smsr-id")]
    pub target_smsr_id: String,
}
