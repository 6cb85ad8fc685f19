//! ES3 (SM-DP → SM-SR), digest §2.4 (fields from NJ sr/ws/interfaces/ES3.java).
//! `GetEIS` answers with [`crate::es2::GetEisResponse`]; notifications reuse
//! [`crate::es2::ProfileNotification`].

use serde::{Deserialize, Serialize};

use esim_codec::ids::{Aid, Eid, Iccid};

use crate::common::HexBytes;
use crate::eis::{Eis, SubscriptionAddress};
use crate::pol2::Pol2;

/// `GetEIS(Eid)` (ES3 and ES4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EidRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
}

/// `AuditEIS(Eid[, Iccid*])` (ES3 and ES4); answered asynchronously with the
/// refreshed EIS ([`AuditEisResponse`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditEisRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Iccid*`: Profiles to audit; empty = all.
    #[serde(rename = "Iccid", default)]
    pub iccids: Vec<Iccid>,
}

/// `AuditEIS` response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditEisResponse {
    /// `Eis` (public view).
    #[serde(rename = "Eis")]
    pub eis: Eis,
}

/// `CreateISDP(Eid, Iccid, Mno-id, RequiredMemory, moreToDo)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateIsdpRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Iccid`.
    #[serde(rename = "Iccid")]
    pub iccid: Iccid,
    /// `Mno-id`.
    #[serde(rename = "Mno-id")]
    pub mno_id: String,
    /// `RequiredMemory` (bytes).
    #[serde(rename = "RequiredMemory")]
    pub required_memory: u32,
    /// `moreToDo`: more ES3 calls follow (keep the session open).
    #[serde(rename = "MoreToDo", default)]
    pub more_to_do: bool,
}

/// `CreateISDPResponse(Isd-p-aid, EuiccResponseData)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateIsdpResponse {
    /// `Isd-p-aid`.
    #[serde(rename = "Isd-p-aid")]
    pub isd_p_aid: Aid,
    /// `EuiccResponseData`.
    #[serde(
        rename = "EuiccResponseData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub euicc_response_data: Option<HexBytes>,
}

/// `SendData(Eid, sd-aid, Data, moreToDo)`: carries ES8 to the ISD-P.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SendDataRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `sd-aid`: the target security domain (the ISD-P).
    #[serde(rename = "Sd-aid")]
    pub sd_aid: Aid,
    /// `Data`: the command script (hex).
    #[serde(rename = "Data")]
    pub data: HexBytes,
    /// `moreToDo`.
    #[serde(rename = "MoreToDo", default)]
    pub more_to_do: bool,
}

/// `SendDataResponse(EuiccResponseData)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SendDataResponse {
    /// `EuiccResponseData`.
    #[serde(rename = "EuiccResponseData")]
    pub euicc_response_data: HexBytes,
}

/// `ProfileDownloadCompleted(Eid, Iccid, ProfileType, SubscriptionAddress, pol2)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileDownloadCompletedRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Iccid`.
    #[serde(rename = "Iccid")]
    pub iccid: Iccid,
    /// `ProfileType`.
    #[serde(
        rename = "ProfileType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub profile_type: Option<String>,
    /// `SubscriptionAddress`.
    #[serde(rename = "SubscriptionAddress")]
    pub subscription_address: SubscriptionAddress,
    /// `pol2`.
    #[serde(rename = "pol2", default)]
    pub pol2: Pol2,
}

/// `EnableProfile` / `DisableProfile` / `DeleteISDP (Eid, Iccid)` (ES3), and
/// the same functions of ES4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EidIccidRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Iccid`.
    #[serde(rename = "Iccid")]
    pub iccid: Iccid,
}

/// `UpdatePolicyRules(Eid, Iccid, pol2)` (ES3 and ES4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdatePolicyRulesRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Iccid`.
    #[serde(rename = "Iccid")]
    pub iccid: Iccid,
    /// `pol2`.
    #[serde(rename = "pol2")]
    pub pol2: Pol2,
}

/// `UpdateConnectivityParameters(Eid, Iccid, ConnectivityParameters)`: the
/// payload is the SCP03-protected `3A07` script for the ISD-P (digest §3.9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateConnectivityParametersRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Iccid`.
    #[serde(rename = "Iccid")]
    pub iccid: Iccid,
    /// `ConnectivityParameters` (hex, SCP03-protected).
    #[serde(rename = "ConnectivityParameters")]
    pub connectivity_parameters: HexBytes,
}

/// `UpdateSubscriptionAddress(Eid, Iccid, SubscriptionAddress)` (SGP.02 §5.4, SM-DP → SM-SR):
/// the SM-DP relays an ES2.UpdateSubscriptionAddress; the SM-SR updates the Profile's
/// `SubscriptionAddress` in the EIS (no card command). Action URI INFERRED
/// (docs/spec-choices.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateSubscriptionAddressRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Iccid`.
    #[serde(rename = "Iccid")]
    pub iccid: Iccid,
    /// `SubscriptionAddress`: the new address (replaces the stored one).
    #[serde(rename = "SubscriptionAddress")]
    pub subscription_address: SubscriptionAddress,
}

/// `GetDeleteToken(Eid, Iccid, Isd-p-aid, P1, P2, Crt)` (SM-SR → SM-DP, Master Delete, SGP.02
/// §3.10, digest §3.5): the SM-SR asks the SM-DP that installed a Profile for the Delete Token
/// of the DELETE `80 E4 P1 P2 {4F Isd-p-aid ‖ B6 Crt ‖ 9E token}`. SGP.02 names no public
/// function for this; this one is INFERRED (docs/spec-choices.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GetDeleteTokenRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Iccid`.
    #[serde(rename = "Iccid")]
    pub iccid: Iccid,
    /// `Isd-p-aid`: the Profile's ISD-P.
    #[serde(rename = "Isd-p-aid")]
    pub isd_p_aid: Aid,
    /// `P1` of the DELETE.
    #[serde(rename = "P1")]
    pub p1: u8,
    /// `P2` of the DELETE.
    #[serde(rename = "P2")]
    pub p2: u8,
    /// `Crt`: value of the `B6` control reference template (hex).
    #[serde(rename = "Crt")]
    pub crt: HexBytes,
}

/// `GetDeleteToken` response body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GetDeleteTokenResponse {
    /// `DeleteToken`: value of the `9E` TLV (hex).
    #[serde(rename = "DeleteToken")]
    pub delete_token: HexBytes,
}
