//! The eUICC Information Set (EIS) as SGP.02 describes it (digest §4.1): the
//! EUM-signed part, the SM-SR-maintained part (Profiles with POL2, memory,
//! audit trail) and the ISD-R information. Key values are never part of
//! these types: the ISD-R keysets carry metadata only (version, type,
//! counter, key identifiers with KCV), so [`Eis`] and its public view
//! [`Eis::redacted`] (what `GetEIS` returns) never contain keys.

use serde::{Deserialize, Serialize};

use esim_codec::ids::{Aid, Eid, Iccid, Imsi, Tar};

use crate::common::{HexBytes, ProtoError, Timestamp};
use crate::pol2::Pol2;

/// `EuiccCapabilities` (digest §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EuiccCapabilities {
    /// `CattpSupport`.
    #[serde(rename = "CattpSupport")]
    pub cattp_support: bool,
    /// `CattpVersion`.
    #[serde(
        rename = "CattpVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cattp_version: Option<String>,
    /// `HttpSupport`.
    #[serde(rename = "HttpSupport")]
    pub http_support: bool,
    /// `HttpVersion`.
    #[serde(
        rename = "HttpVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub http_version: Option<String>,
    /// `SecurePacketVersion`.
    #[serde(
        rename = "SecurePacketVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub secure_packet_version: Option<String>,
    /// `RemoteProvisioningVersion`.
    #[serde(
        rename = "RemoteProvisioningVersion",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_provisioning_version: Option<String>,
}

/// The ECASD entry of `EumSignedInfo` (digest §4.1 `Ecasd`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Ecasd {
    /// `Aid`.
    #[serde(rename = "Aid")]
    pub aid: Aid,
    /// `Tar`.
    #[serde(rename = "Tar", default, skip_serializing_if = "Option::is_none")]
    pub tar: Option<Tar>,
    /// CERT.ECASD.ECKA: the GP `7F21` certificate TLV.
    #[serde(rename = "Certificate")]
    pub certificate: HexBytes,
}

/// `EumSignedInfo` (digest §4.1): the part the EUM signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct EumSignedInfo {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Eum-Id`.
    #[serde(rename = "Eum-Id")]
    pub eum_id: String,
    /// `ProductionDate` (YYYY-MM-DD).
    #[serde(rename = "ProductionDate")]
    pub production_date: String,
    /// `PlatformType`.
    #[serde(rename = "PlatformType")]
    pub platform_type: String,
    /// `PlatformVersion`.
    #[serde(rename = "PlatformVersion")]
    pub platform_version: String,
    /// `Isd-p-loadfile-aid`.
    #[serde(rename = "Isd-p-loadfile-aid")]
    pub isd_p_loadfile_aid: Aid,
    /// `Isd-p-module-aid`.
    #[serde(rename = "Isd-p-module-aid")]
    pub isd_p_module_aid: Aid,
    /// `Ecasd`.
    #[serde(rename = "Ecasd")]
    pub ecasd: Ecasd,
    /// `EuiccCapabilities`.
    #[serde(rename = "EuiccCapabilities")]
    pub euicc_capabilities: EuiccCapabilities,
}

/// Profile state in the EIS (digest §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum ProfileState {
    /// ISD-P being created / Profile being downloaded (internal to the
    /// SM-SR; the spec's "In-Creation").
    #[serde(rename = "In-Creation")]
    InCreation,
    /// ISD-P created, Profile not yet complete.
    #[serde(rename = "Created")]
    Created,
    /// The one enabled Profile.
    #[serde(rename = "Enabled")]
    Enabled,
    /// Installed and disabled.
    #[serde(rename = "Disabled")]
    Disabled,
}

/// `SubscriptionAddress` (digest §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SubscriptionAddress {
    /// `Imsi`.
    #[serde(rename = "Imsi", default, skip_serializing_if = "Option::is_none")]
    pub imsi: Option<Imsi>,
    /// `Msisdn` (E.164 digits).
    #[serde(rename = "Msisdn", default, skip_serializing_if = "Option::is_none")]
    pub msisdn: Option<String>,
}

/// `ProfileInfo` (digest §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ProfileInfo {
    /// `Iccid`.
    #[serde(rename = "Iccid")]
    pub iccid: Iccid,
    /// `Isd-p-aid`.
    #[serde(rename = "Isd-p-aid")]
    pub isd_p_aid: Aid,
    /// `Mno-id`.
    #[serde(rename = "Mno-id")]
    pub mno_id: String,
    /// `FallbackAttribute`.
    #[serde(rename = "FallbackAttribute")]
    pub fallback_attribute: bool,
    /// `SubscriptionAddress`.
    #[serde(
        rename = "SubscriptionAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub subscription_address: Option<SubscriptionAddress>,
    /// `State`.
    #[serde(rename = "State")]
    pub state: ProfileState,
    /// `Smdp-id`.
    #[serde(rename = "Smdp-id")]
    pub smdp_id: String,
    /// `ProfileType`.
    #[serde(
        rename = "ProfileType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub profile_type: Option<String>,
    /// `AllocatedMemory` (bytes).
    #[serde(rename = "AllocatedMemory")]
    pub allocated_memory: u32,
    /// `FreeMemory` (bytes).
    #[serde(rename = "FreeMemory")]
    pub free_memory: u32,
    /// `pol2`.
    #[serde(rename = "pol2", default)]
    pub pol2: Pol2,
}

/// Keyset type (digest §4.1 `Keyset.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum KeysetType {
    /// SCP03.
    #[serde(rename = "SCP03")]
    Scp03,
    /// SCP80 (OTA SMS).
    #[serde(rename = "SCP80")]
    Scp80,
    /// SCP81 (PSK-TLS).
    #[serde(rename = "SCP81")]
    Scp81,
    /// Delete-token generation.
    #[serde(rename = "TokenGeneration")]
    TokenGeneration,
    /// Receipt verification.
    #[serde(rename = "ReceiptVerification")]
    ReceiptVerification,
    /// CA.
    #[serde(rename = "CA")]
    Ca,
}

/// One key's metadata: identifier and key check value, never the value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyInfo {
    /// `Index` (key identifier).
    #[serde(rename = "Index")]
    pub index: u8,
    /// `kcv` (key check value).
    #[serde(rename = "Kcv")]
    pub kcv: HexBytes,
}

/// `Keyset` metadata (digest §4.1) without key values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct KeysetInfo {
    /// `Version` (key version number).
    #[serde(rename = "Version")]
    pub version: u8,
    /// `Type`.
    #[serde(rename = "Type")]
    pub keyset_type: KeysetType,
    /// `Cntr` (SCP80 counter), when tracked.
    #[serde(rename = "Cntr", default, skip_serializing_if = "Option::is_none")]
    pub cntr: Option<HexBytes>,
    /// `Key*` metadata.
    #[serde(rename = "Key", default)]
    pub keys: Vec<KeyInfo>,
}

/// `Isd-r` (digest §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct IsdRInfo {
    /// `Aid`.
    #[serde(rename = "Aid")]
    pub aid: Aid,
    /// `Tar`.
    #[serde(rename = "Tar")]
    pub tar: Tar,
    /// `Keyset*` metadata.
    #[serde(rename = "Keyset", default)]
    pub keysets: Vec<KeysetInfo>,
}

/// Audit-trail `OperationType` (gaps §1, NJ "Sec 5.1.1.3.12 of SGP 02 v3.1").
/// Serialized as the 4-digit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum OperationType {
    /// `0100`.
    #[serde(rename = "0100")]
    CreateIsdp,
    /// `0200`.
    #[serde(rename = "0200")]
    EnableProfile,
    /// `0300`.
    #[serde(rename = "0300")]
    DisableProfile,
    /// `0400`.
    #[serde(rename = "0400")]
    DeleteProfile,
    /// `0500`.
    #[serde(rename = "0500")]
    EuiccCapabilityAudit,
    /// `0600`.
    #[serde(rename = "0600")]
    MasterDelete,
    /// `0700`.
    #[serde(rename = "0700")]
    SetFallbackAttribute,
    /// `0800`.
    #[serde(rename = "0800")]
    EstablishIsdrKeyset,
    /// `0900`.
    #[serde(rename = "0900")]
    FinaliseIsdrHandover,
}

impl OperationType {
    /// The 4-digit code.
    pub fn code(self) -> &'static str {
        match self {
            Self::CreateIsdp => "0100",
            Self::EnableProfile => "0200",
            Self::DisableProfile => "0300",
            Self::DeleteProfile => "0400",
            Self::EuiccCapabilityAudit => "0500",
            Self::MasterDelete => "0600",
            Self::SetFallbackAttribute => "0700",
            Self::EstablishIsdrKeyset => "0800",
            Self::FinaliseIsdrHandover => "0900",
        }
    }
}

/// An `AuditTrail` record (digest §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditTrailRecord {
    /// `Eid`.
    #[serde(rename = "Eid")]
    pub eid: Eid,
    /// `Smsr-id`.
    #[serde(rename = "Smsr-id")]
    pub smsr_id: String,
    /// `OperationDate`.
    #[serde(rename = "OperationDate")]
    pub operation_date: Timestamp,
    /// `OperationType`.
    #[serde(rename = "OperationType")]
    pub operation_type: OperationType,
    /// `RequesterId`.
    #[serde(rename = "RequesterId")]
    pub requester_id: String,
    /// `OperationExecutionStatus`.
    #[serde(rename = "OperationExecutionStatus")]
    pub operation_execution_status: crate::common::FunctionExecutionStatus,
    /// `Isd-p-aid`.
    #[serde(rename = "Isd-p-aid", default, skip_serializing_if = "Option::is_none")]
    pub isd_p_aid: Option<Aid>,
    /// `Iccid`.
    #[serde(rename = "Iccid", default, skip_serializing_if = "Option::is_none")]
    pub iccid: Option<Iccid>,
    /// `Imei`.
    #[serde(rename = "Imei", default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    /// `Meid`.
    #[serde(rename = "Meid", default, skip_serializing_if = "Option::is_none")]
    pub meid: Option<String>,
}

/// The EIS (digest §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Eis {
    /// `EumSignedInfo`.
    #[serde(rename = "EumSignedInfo")]
    pub eum_signed_info: EumSignedInfo,
    /// `EumSignature` (r‖s over the signed info, as registered).
    #[serde(rename = "EumSignature")]
    pub eum_signature: HexBytes,
    /// `EumCertificateId`.
    #[serde(rename = "EumCertificateId")]
    pub eum_certificate_id: String,
    /// `RemainingMemory` (bytes).
    #[serde(rename = "RemainingMemory")]
    pub remaining_memory: u32,
    /// `AvailableMemoryForProfiles` (bytes).
    #[serde(rename = "AvailableMemoryForProfiles")]
    pub available_memory_for_profiles: u32,
    /// `lastAuditDate`.
    #[serde(
        rename = "LastAuditDate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_audit_date: Option<Timestamp>,
    /// `Smsr-id`.
    #[serde(rename = "Smsr-id")]
    pub smsr_id: String,
    /// `ProfileInfo*`.
    #[serde(rename = "ProfileInfo", default)]
    pub profiles: Vec<ProfileInfo>,
    /// `Isd-r`.
    #[serde(rename = "Isd-r")]
    pub isd_r: IsdRInfo,
    /// `AuditTrail` records.
    #[serde(rename = "AuditTrail", default)]
    pub audit_trail: Vec<AuditTrailRecord>,
    /// `AdditionalProperties` (name/value).
    #[serde(
        rename = "AdditionalProperties",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub additional_properties: Vec<(String, String)>,
}

fn field_err(field: &'static str) -> impl Fn(esim_codec::ids::IdError) -> ProtoError {
    move |e| ProtoError::Field {
        field,
        reason: e.to_string(),
    }
}

fn keyset_type(t: &str) -> Result<KeysetType, ProtoError> {
    match t {
        "SCP03" => Ok(KeysetType::Scp03),
        "SCP80" => Ok(KeysetType::Scp80),
        "SCP81" => Ok(KeysetType::Scp81),
        "TokenGeneration" => Ok(KeysetType::TokenGeneration),
        "ReceiptVerification" => Ok(KeysetType::ReceiptVerification),
        "CA" => Ok(KeysetType::Ca),
        other => Err(ProtoError::Field {
            field: "Keyset.Type",
            reason: format!("unknown keyset type {other:?}"),
        }),
    }
}

fn hex_field(field: &'static str, s: &str) -> Result<HexBytes, ProtoError> {
    HexBytes::from_hex(s).map_err(|e| ProtoError::Field {
        field,
        reason: e.to_string(),
    })
}

impl Eis {
    /// Builds the SM-SR's initial EIS from the EUM-signed registration
    /// document (ES1 RegisterEIS; digest §3.7). Key values of the document
    /// are dropped (only version, type, counter, index and KCV are kept); the
    /// SM-SR stores the keys separately, sealed. No Profiles, no audit trail.
    pub fn from_document(
        doc: &esim_crypto::pki::EisDocument,
        smsr_id: &str,
    ) -> Result<Self, ProtoError> {
        let s = &doc.eum_signed_info;
        let ecasd_cert = s.ecasd.certificate.as_deref().ok_or(ProtoError::Field {
            field: "Ecasd.Certificate",
            reason: "missing".into(),
        })?;
        let keysets = s
            .isd_r
            .keysets
            .iter()
            .map(|k| {
                Ok(KeysetInfo {
                    version: k.version,
                    keyset_type: keyset_type(&k.keyset_type)?,
                    cntr: k
                        .cntr
                        .as_deref()
                        .map(|c| hex_field("Keyset.Cntr", c))
                        .transpose()?,
                    keys: k
                        .keys
                        .iter()
                        .map(|key| {
                            Ok(KeyInfo {
                                index: key.index,
                                kcv: hex_field("Key.Kcv", &key.kcv)?,
                            })
                        })
                        .collect::<Result<_, ProtoError>>()?,
                })
            })
            .collect::<Result<_, ProtoError>>()?;
        let caps = &s.euicc_capabilities;
        Ok(Self {
            eum_signed_info: EumSignedInfo {
                eid: Eid::parse(&s.eid).map_err(field_err("Eid"))?,
                eum_id: s.eum_id.clone(),
                production_date: s.production_date.clone(),
                platform_type: s.platform_type.clone(),
                platform_version: s.platform_version.clone(),
                isd_p_loadfile_aid: Aid::from_hex(&s.isd_p_loadfile_aid)
                    .map_err(field_err("Isd-p-loadfile-aid"))?,
                isd_p_module_aid: Aid::from_hex(&s.isd_p_module_aid)
                    .map_err(field_err("Isd-p-module-aid"))?,
                ecasd: Ecasd {
                    aid: Aid::from_hex(&s.ecasd.aid).map_err(field_err("Ecasd.Aid"))?,
                    tar: Some(s.ecasd.tar.parse().map_err(field_err("Ecasd.Tar"))?),
                    certificate: hex_field("Ecasd.Certificate", ecasd_cert)?,
                },
                euicc_capabilities: EuiccCapabilities {
                    cattp_support: caps.cattp_support,
                    cattp_version: caps.cattp_version.clone(),
                    http_support: caps.http_support,
                    http_version: caps.http_version.clone(),
                    secure_packet_version: Some(caps.secure_packet_version.clone()),
                    remote_provisioning_version: Some(caps.remote_provisioning_version.clone()),
                },
            },
            eum_signature: hex_field("EumSignature", &doc.eum_signature)?,
            eum_certificate_id: doc.eum_certificate_id.clone(),
            remaining_memory: s.remaining_memory,
            available_memory_for_profiles: s.available_memory_for_profiles,
            last_audit_date: None,
            smsr_id: smsr_id.to_owned(),
            profiles: Vec::new(),
            isd_r: IsdRInfo {
                aid: Aid::from_hex(&s.isd_r.aid).map_err(field_err("Isd-r.Aid"))?,
                tar: s.isd_r.tar.parse().map_err(field_err("Isd-r.Tar"))?,
                keysets,
            },
            audit_trail: Vec::new(),
            additional_properties: Vec::new(),
        })
    }

    /// The public view returned by `GetEIS` (ES2/ES3/ES4): the EIS without
    /// the audit trail and without ISD-R keyset metadata (KCVs and counters
    /// are for the managing SM-SR only). The EIS types never hold key values.
    pub fn redacted(&self) -> Self {
        let mut v = self.clone();
        v.audit_trail.clear();
        v.isd_r.keysets.clear();
        v
    }

    /// The Profile with `iccid`, if any.
    pub fn profile(&self, iccid: &Iccid) -> Option<&ProfileInfo> {
        self.profiles.iter().find(|p| &p.iccid == iccid)
    }

    /// The enabled Profile, if any (only one at a time, digest §4.1).
    pub fn enabled_profile(&self) -> Option<&ProfileInfo> {
        self.profiles
            .iter()
            .find(|p| p.state == ProfileState::Enabled)
    }

    /// The EID.
    pub fn eid(&self) -> &Eid {
        &self.eum_signed_info.eid
    }
}
