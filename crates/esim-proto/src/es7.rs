//! ES7 (SM-SR1 ↔ SM-SR2), digest §2.6 and §3.6.

use serde::{Deserialize, Serialize};

use esim_codec::ids::Eid;

use crate::common::HexBytes;
use crate::eis::Eis;

/// `HandoverEUICC(Eis)`: SM-SR1 → SM-SR2. Carries the full EIS (including
/// ISD-R keyset metadata and audit trail; never key values).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct HandoverEuiccRequest {
    /// `Eis`.
    #[serde(rename = "Eis")]
    pub eis: Eis,
}

/// `AuthenticateSMSR(Eid, SmsrCertificate)`: SM-SR2 → SM-SR1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuthenticateSmsrRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `SmsrCertificate`: CERT.SR.ECDSA, the GP `7F21` TLV.
    #[serde(rename = "SmsrCertificate")]
    pub smsr_certificate: HexBytes,
}

/// `AuthenticateSMSR` response: the card's random challenge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuthenticateSmsrResponse {
    /// `RandomChallenge` (RC).
    #[serde(rename = "RandomChallenge")]
    pub random_challenge: HexBytes,
}

/// `CreateAdditionalKeySet(Eid, KeyVersionNumber, InitialSequenceCounter,
/// ECCKeyLength, ScenarioParameter, HostID, EphemeralPublicKey, Signature)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateAdditionalKeySetRequest {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `KeyVersionNumber`.
    #[serde(rename = "KeyVersionNumber")]
    pub key_version_number: u8,
    /// `InitialSequenceCounter`.
    #[serde(rename = "InitialSequenceCounter")]
    pub initial_sequence_counter: u32,
    /// `ECCKeyLength`, e.g. `ECC-256`.
    #[serde(rename = "ECCKeyLength")]
    pub ecc_key_length: String,
    /// `ScenarioParameter`.
    #[serde(rename = "ScenarioParameter")]
    pub scenario_parameter: u8,
    /// `HostID`.
    #[serde(rename = "HostID", default, skip_serializing_if = "Option::is_none")]
    pub host_id: Option<HexBytes>,
    /// `EphemeralPublicKey` (ePK.SR.ECKA, uncompressed point).
    #[serde(rename = "EphemeralPublicKey")]
    pub ephemeral_public_key: HexBytes,
    /// `Signature` (over the key-establishment data, by SK.SR.ECDSA).
    #[serde(rename = "Signature")]
    pub signature: HexBytes,
    /// `KeyType`: which ISD-R keyset to create, `SCP80` (CRT key type `88`, three AES keys) or
    /// `SCP81` (key type `85`, one PSK-TLS key); absent means `SCP80`. Not among the public
    /// parameter names of the function (digest §3.6); the CRT SM-SR1 rebuilds must be the one
    /// SM-SR2 signed (docs/spec-choices.md).
    #[serde(rename = "KeyType", default, skip_serializing_if = "Option::is_none")]
    pub key_type: Option<String>,
}

/// `CreateAdditionalKeySet` response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateAdditionalKeySetResponse {
    /// `DerivationRandom` (DR), when the scenario uses one.
    #[serde(
        rename = "DerivationRandom",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub derivation_random: Option<HexBytes>,
    /// `Receipt`.
    #[serde(rename = "Receipt")]
    pub receipt: HexBytes,
}
