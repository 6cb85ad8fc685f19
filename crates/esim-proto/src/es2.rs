//! ES2 (Operator → SM-DP, and the SM-DP's notifications to the Operator),
//! digest §2.3. Field names as the digest gives them (NJ dp/ws/ES2Impl.java).

use serde::{Deserialize, Serialize};

use esim_codec::ids::{Eid, Iccid};

use crate::common::{HexBytes, Timestamp};
use crate::eis::{Eis, SubscriptionAddress};
use crate::pol2::Pol2;

/// `ES2.GetEIS(Eid, Smsr-id)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GetEisRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Smsr-id`.
    #[serde(rename = "Smsr-id")]
    pub smsr_id: String,
}

/// `GetEIS` response body (ES2, ES3, ES4): the public view of the EIS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GetEisResponse {
    /// `Eis` ([`Eis::redacted`]).
    #[serde(rename = "Eis")]
    pub eis: Eis,
}

/// Which Profile `DownloadProfile` installs: one ICCID, or any Profile of a
/// type from the inventory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ProfileSelector {
    /// `Iccid`.
    #[serde(rename = "Iccid")]
    Iccid(Iccid),
    /// `ProfileType`.
    #[serde(rename = "ProfileType")]
    ProfileType(String),
}

/// `ES2.DownloadProfile(Eid, Smsr-id, ProfileType | Iccid, EnableProfile)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DownloadProfileRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Smsr-id`.
    #[serde(rename = "Smsr-id")]
    pub smsr_id: String,
    /// `Iccid` or `ProfileType` (exactly one).
    #[serde(rename = "Profile")]
    pub profile: ProfileSelector,
    /// `EnableProfile`: enable once installed.
    #[serde(rename = "EnableProfile", default)]
    pub enable_profile: bool,
}

/// `DownloadProfileResponse(Iccid, EuiccResponseData)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct DownloadProfileResponse {
    /// `Iccid`: the installed Profile.
    #[serde(rename = "Iccid")]
    pub iccid: Iccid,
    /// `EuiccResponseData`: the last card response, if any.
    #[serde(
        rename = "EuiccResponseData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub euicc_response_data: Option<HexBytes>,
}

/// `ES2.EnableProfile` / `DisableProfile` / `DeleteProfile (Eid, Smsr-id, Iccid)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Smsr-id`.
    #[serde(rename = "Smsr-id")]
    pub smsr_id: String,
    /// `Iccid`.
    #[serde(rename = "Iccid")]
    pub iccid: Iccid,
}

/// `ES2.UpdatePolicyRules(Eid, Iccid, Smsr-Id, pol2)`.
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
    /// `Smsr-id`.
    #[serde(rename = "Smsr-id")]
    pub smsr_id: String,
    /// `pol2`.
    #[serde(rename = "pol2")]
    pub pol2: Pol2,
}

/// `ES2.UpdateSubscriptionAddress(Eid, Iccid, Smsr-id, SubscriptionAddress)`.
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
    /// `Smsr-id`.
    #[serde(rename = "Smsr-id")]
    pub smsr_id: String,
    /// `SubscriptionAddress`.
    #[serde(rename = "SubscriptionAddress")]
    pub subscription_address: SubscriptionAddress,
}

/// `Handle{ProfileEnabled,ProfileDisabled,ProfileDeleted,ProfileDownloaded}Notification
/// (Eid, Iccid, CompletionTimeStamp)` (ES2 and ES3/ES4 alike).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileNotification {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Iccid`.
    #[serde(rename = "Iccid")]
    pub iccid: Iccid,
    /// `CompletionTimeStamp`.
    #[serde(rename = "CompletionTimeStamp")]
    pub completion_time_stamp: Timestamp,
}

/// `HandleSMSRChangeNotification(Eis, CompletionTimeStamp)` (ES2 and ES4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SmsrChangeNotification {
    /// `Eis` (public view, new `Smsr-id`).
    #[serde(rename = "Eis")]
    pub eis: Eis,
    /// `CompletionTimeStamp`.
    #[serde(rename = "CompletionTimeStamp")]
    pub completion_time_stamp: Timestamp,
}
