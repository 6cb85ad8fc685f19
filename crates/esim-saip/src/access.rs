//! Read access to what the card and the SM-DP need from a package: header fields (SAIP version,
//! ICCID, profile type, POL1, connectivity parameters, mandatory services and GFSTE), IMSI, AKA
//! parameters, PINs/PUKs, security domains and their keys, and file contents.
//!
//! Field meanings and DEFAULT values follow PE-Definitions 3.3.1 (TCA SAIP v3.3.1 §8.2–8.9). The
//! generated model keeps DEFAULT fields as `Option` (absent = default); the accessors here apply
//! the defaults.

use crate::asn1;
use crate::element::ProfileElement;
use crate::package::ProfilePackage;
use esim_codec::{Iccid, Imsi};

/// Errors of the accessors: a field that is missing or not in the expected coding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// The package has no typed PE of this type.
    #[error("no {0} element in the package")]
    Missing(&'static str),
    /// A field's value cannot be read as its type.
    #[error("PE #{index} {pe_type}: {field}: {reason}")]
    BadField {
        /// Index of the PE.
        index: usize,
        /// Type of the PE.
        pe_type: &'static str,
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// The SAIP version announced by the header (`major-version`.`minor-version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SaipVersion {
    /// `major-version`.
    pub major: u8,
    /// `minor-version`.
    pub minor: u8,
}

impl core::fmt::Display for SaipVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Names of the `ServicesList` fields (the ASN.1 identifiers), in module order.
pub const SERVICE_NAMES: [&str; 30] = [
    "contactless",
    "usim",
    "isim",
    "csim",
    "milenage",
    "tuak128",
    "cave",
    "gba-usim",
    "gba-isim",
    "mbms",
    "eap",
    "javacard",
    "multos",
    "multiple-usim",
    "multiple-isim",
    "multiple-csim",
    "tuak256",
    "usim-test-algorithm",
    "ber-tlv",
    "dfLink",
    "cat-tp",
    "get-identity",
    "profile-a-x25519",
    "profile-b-p256",
    "suciCalculatorApi",
    "dns-resolution",
    "scp11ac",
    "scp11c-authorization-mechanism",
    "s16mode",
    "eaka",
];

/// Presence flags of a `ServicesList`, in [`SERVICE_NAMES`] order.
pub fn service_flags(s: &asn1::ServicesList) -> [bool; 30] {
    [
        s.contactless.is_some(),
        s.usim.is_some(),
        s.isim.is_some(),
        s.csim.is_some(),
        s.milenage.is_some(),
        s.tuak128.is_some(),
        s.cave.is_some(),
        s.gba_usim.is_some(),
        s.gba_isim.is_some(),
        s.mbms.is_some(),
        s.eap.is_some(),
        s.javacard.is_some(),
        s.multos.is_some(),
        s.multiple_usim.is_some(),
        s.multiple_isim.is_some(),
        s.multiple_csim.is_some(),
        s.tuak256.is_some(),
        s.usim_test_algorithm.is_some(),
        s.ber_tlv.is_some(),
        s.df_link.is_some(),
        s.cat_tp.is_some(),
        s.get_identity.is_some(),
        s.profile_a_x25519.is_some(),
        s.profile_b_p256.is_some(),
        s.suci_calculator_api.is_some(),
        s.dns_resolution.is_some(),
        s.scp11ac.is_some(),
        s.scp11c_authorization_mechanism.is_some(),
        s.s16mode.is_some(),
        s.eaka.is_some(),
    ]
}

/// Decodes the header's ICCID: BCD digits in natural order, `F`-padded (as the TS.48 profiles
/// and pySim code it; EF.ICCID holds the nibble-swapped form). See docs/spec-choices.md.
pub fn iccid_from_header_bcd(bytes: &[u8]) -> Result<Iccid, String> {
    let hex = esim_codec::hex::encode(bytes).to_ascii_uppercase();
    let digits = hex.trim_end_matches('F');
    Iccid::parse(digits).map_err(|e| e.to_string())
}

/// The header's 10-byte ICCID coding of `iccid` (see [`iccid_from_header_bcd`]).
pub fn iccid_to_header_bcd(iccid: &Iccid) -> [u8; 10] {
    let mut out = [0xFFu8; 10];
    for (i, d) in iccid.as_str().bytes().enumerate() {
        let v = d.wrapping_sub(b'0') & 0x0F;
        if let Some(byte) = out.get_mut(i / 2) {
            *byte = if i % 2 == 0 {
                (*byte & 0x0F) | (v << 4)
            } else {
                (*byte & 0xF0) | v
            };
        }
    }
    out
}

/// The explicit content of a `File` (TCA SAIP §8.3.3): `fillFileContent` items written from the
/// current position, `fillFileOffset` items skipping forward. Skipped bytes are shown as `FF`
/// (the content of a file created without a fill pattern, ETSI TS 102 222). Returns an empty vector
/// for a file without content.
pub fn file_content(file: &asn1::File) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    let mut pos = 0usize;
    for item in &file.0 {
        match item {
            asn1::AnonymousFile::fillFileOffset(o) => pos = pos.saturating_add(usize::from(o.0)),
            asn1::AnonymousFile::fillFileContent(c) => {
                let end = pos.saturating_add(c.len());
                if out.len() < end {
                    out.resize(end, 0xFF);
                }
                if let Some(dst) = out.get_mut(pos..end) {
                    dst.copy_from_slice(c);
                }
                pos = end;
            }
            _ => {}
        }
    }
    out
}

/// Replaces the content of a `File` with `content` written at offset 0, keeping its FCP and
/// `doNotCreate` items (the pattern of TCA SAIP §8.3.3 for personalized files).
pub fn set_file_content(file: &mut asn1::File, content: &[u8]) {
    file.0.retain(|i| {
        !matches!(
            i,
            asn1::AnonymousFile::fillFileOffset(_) | asn1::AnonymousFile::fillFileContent(_)
        )
    });
    file.0.push(asn1::AnonymousFile::fillFileContent(
        content.to_vec().into(),
    ));
}

/// The FCP of a `File`, if it carries one.
pub fn file_fcp(file: &asn1::File) -> Option<&asn1::Fcp> {
    file.0.iter().find_map(|i| match i {
        asn1::AnonymousFile::fileDescriptor(f) => Some(f),
        _ => None,
    })
}

/// AKA algorithm of an `AlgoParameter` (`algorithmID`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AkaAlgorithm {
    /// `milenage(1)` (3GPP TS 35.206).
    Milenage,
    /// `tuak(2)` (3GPP TS 35.231).
    Tuak,
    /// `usim-test-algorithm(3)` (3GPP TS 34.108 §8.1.2).
    TestAlgorithm,
    /// Any other value.
    Other(i64),
}

impl AkaAlgorithm {
    /// From the `algorithmID` integer.
    pub fn from_id(id: &rasn::types::Integer) -> Self {
        match i64::try_from(id) {
            Ok(1) => AkaAlgorithm::Milenage,
            Ok(2) => AkaAlgorithm::Tuak,
            Ok(3) => AkaAlgorithm::TestAlgorithm,
            Ok(n) => AkaAlgorithm::Other(n),
            Err(_) => AkaAlgorithm::Other(-1),
        }
    }
}

/// Default Milenage rotation constants r1..r5 (`'4000204060'H`).
pub const DEFAULT_ROTATION_CONSTANTS: [u8; 5] = [0x40, 0x00, 0x20, 0x40, 0x60];

/// Default Milenage XOR constants c1..c5 (5 × 16 bytes).
pub fn default_xoring_constants() -> [u8; 80] {
    let mut c = [0u8; 80];
    c[31] = 1;
    c[47] = 2;
    c[63] = 4;
    c[79] = 8;
    c
}

/// An `akaParameter` PE seen through its fields.
#[derive(Debug, Clone, Copy)]
pub struct AkaView<'a> {
    /// PE index.
    pub index: usize,
    /// The PE.
    pub pe: &'a asn1::PEAKAParameter,
}

impl<'a> AkaView<'a> {
    /// The `algoParameter` alternative (absent when the PE maps to another NAA's parameters).
    pub fn algo(&self) -> Option<&'a asn1::AlgoParameter> {
        match &self.pe.algo_configuration {
            asn1::PEAKAParameterAlgoConfiguration::algoParameter(a) => Some(a),
            _ => None,
        }
    }
    /// The `mappingParameter` alternative.
    pub fn mapping(&self) -> Option<&'a asn1::MappingParameter> {
        match &self.pe.algo_configuration {
            asn1::PEAKAParameterAlgoConfiguration::mappingParameter(m) => Some(m),
            _ => None,
        }
    }
    /// The algorithm.
    pub fn algorithm(&self) -> Option<AkaAlgorithm> {
        self.algo().map(|a| AkaAlgorithm::from_id(&a.algorithm_id))
    }
    /// The subscriber key K (Ki).
    pub fn ki(&self) -> Option<&'a [u8]> {
        self.algo().map(|a| &a.key[..])
    }
    /// OPc (Milenage) or TOPc (TUAK).
    pub fn opc(&self) -> Option<&'a [u8]> {
        self.algo().map(|a| &a.opc[..])
    }
    /// Milenage rotation constants, default applied.
    pub fn rotation_constants(&self) -> Option<Vec<u8>> {
        self.algo().map(|a| match &a.rotation_constants {
            Some(r) => r.to_vec(),
            None => DEFAULT_ROTATION_CONSTANTS.to_vec(),
        })
    }
    /// Milenage XOR constants, default applied.
    pub fn xoring_constants(&self) -> Option<Vec<u8>> {
        self.algo().map(|a| match &a.xoring_constants {
            Some(r) => r.to_vec(),
            None => default_xoring_constants().to_vec(),
        })
    }
    /// `sqnOptions`, default `02`.
    pub fn sqn_options(&self) -> u8 {
        self.pe
            .sqn_options
            .as_ref()
            .and_then(|b| b.first().copied())
            .unwrap_or(0x02)
    }
}

/// One PIN of a `pinCodes` PE.
#[derive(Debug, Clone, Copy)]
pub struct PinView<'a> {
    /// PE index.
    pub index: usize,
    /// `PEHeader.identification` of the PE.
    pub identification: u16,
    /// The configuration.
    pub config: &'a asn1::PINConfiguration,
}

impl<'a> PinView<'a> {
    /// `keyReference` (1–8 global PINs, 10–14/138–142 ADM, 129–136 local PINs).
    pub fn key_reference(&self) -> i64 {
        i64::try_from(&self.config.key_reference.0).unwrap_or(-1)
    }
    /// The 8-byte PIN value (digits in ASCII, `FF`-padded, for PIN1/PIN2).
    pub fn value(&self) -> &'a [u8] {
        &self.config.pin_value
    }
    /// `pinAttributes`, default 7.
    pub fn attributes(&self) -> u8 {
        self.config.pin_attributes.as_ref().map_or(7, |v| v.0)
    }
    /// `maxNumOfAttemps-retryNumLeft`, default 51 (`33`: 3 attempts, 3 left).
    pub fn max_attempts_retry_left(&self) -> u8 {
        self.config
            .max_num_of_attemps_retry_num_left
            .as_ref()
            .map_or(51, |v| v.0)
    }
    /// `unblockingPINReference`.
    pub fn unblocking_reference(&self) -> Option<i64> {
        self.config
            .unblocking_pinreference
            .as_ref()
            .and_then(|r| i64::try_from(&r.0).ok())
    }
}

/// One PUK of a `pukCodes` PE.
#[derive(Debug, Clone, Copy)]
pub struct PukView<'a> {
    /// PE index.
    pub index: usize,
    /// `PEHeader.identification` of the PE.
    pub identification: u16,
    /// The configuration.
    pub config: &'a asn1::PUKConfiguration,
}

impl<'a> PukView<'a> {
    /// `keyReference`.
    pub fn key_reference(&self) -> i64 {
        i64::try_from(&self.config.key_reference.0).unwrap_or(-1)
    }
    /// The 8-byte PUK value.
    pub fn value(&self) -> &'a [u8] {
        &self.config.puk_value
    }
    /// `maxNumOfAttemps-retryNumLeft`, default 170 (`AA`: 10 attempts, 10 left).
    pub fn max_attempts_retry_left(&self) -> u8 {
        self.config
            .max_num_of_attemps_retry_num_left
            .as_ref()
            .map_or(170, |v| v.0)
    }
}

/// One key of a security domain's `keyList` (GP Card Spec §11.1.8; TCA SAIP §8.6.3).
#[derive(Debug, Clone, Copy)]
pub struct SdKeyView<'a> {
    /// The key object.
    pub key: &'a asn1::KeyObject,
}

impl<'a> SdKeyView<'a> {
    /// Key version number.
    pub fn kvn(&self) -> u8 {
        self.key.key_version_number.first().copied().unwrap_or(0)
    }
    /// Key identifier.
    pub fn kid(&self) -> u8 {
        self.key.key_identifier.first().copied().unwrap_or(0)
    }
    /// Key usage qualifier bytes.
    pub fn usage(&self) -> &'a [u8] {
        &self.key.key_usage_qualifier
    }
    /// Key type of the first component (`80` DES, `88` AES, …).
    pub fn key_type(&self) -> Option<u8> {
        self.key
            .key_components
            .0
            .first()
            .and_then(|c| c.key_type.first().copied())
    }
    /// Key data of the first component.
    pub fn data(&self) -> Option<&'a [u8]> {
        self.key.key_components.0.first().map(|c| &c.key_data[..])
    }
}

/// A `securityDomain` PE.
#[derive(Debug, Clone, Copy)]
pub struct SdView<'a> {
    /// PE index.
    pub index: usize,
    /// The PE.
    pub pe: &'a asn1::PESecurityDomain,
}

impl<'a> SdView<'a> {
    /// The instance AID.
    pub fn instance_aid(&self) -> &'a [u8] {
        &self.pe.instance.instance_aid.0
    }
    /// The keys.
    pub fn keys(&self) -> Vec<SdKeyView<'a>> {
        self.pe
            .key_list
            .iter()
            .flatten()
            .map(|key| SdKeyView { key })
            .collect()
    }
    /// The key with this version number and identifier.
    pub fn key(&self, kvn: u8, kid: u8) -> Option<SdKeyView<'a>> {
        self.keys()
            .into_iter()
            .find(|k| k.kvn() == kvn && k.kid() == kid)
    }
}

impl ProfilePackage {
    /// Typed PEs with their index.
    pub fn typed(&self) -> impl Iterator<Item = (usize, &asn1::ProfileElement)> {
        self.elements
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.typed().map(|t| (i, t)))
    }

    /// The header PE.
    pub fn header(&self) -> Option<&asn1::ProfileHeader> {
        self.typed().find_map(|(_, e)| match e {
            asn1::ProfileElement::header(h) => Some(h),
            _ => None,
        })
    }

    /// The header PE, for modification.
    pub fn header_mut(&mut self) -> Option<&mut asn1::ProfileHeader> {
        self.elements.iter_mut().find_map(|e| match e {
            ProfileElement::Typed(t) => match t.as_mut() {
                asn1::ProfileElement::header(h) => Some(h),
                _ => None,
            },
            _ => None,
        })
    }

    /// The SAIP version of the header.
    pub fn saip_version(&self) -> Option<SaipVersion> {
        self.header().map(|h| SaipVersion {
            major: h.major_version.0,
            minor: h.minor_version.0,
        })
    }

    /// The ICCID of the header.
    pub fn iccid(&self) -> Result<Iccid, AccessError> {
        let h = self.header().ok_or(AccessError::Missing("header"))?;
        iccid_from_header_bcd(&h.iccid).map_err(|reason| AccessError::BadField {
            index: self.index_of("header").unwrap_or(0),
            pe_type: "header",
            field: "iccid",
            reason,
        })
    }

    /// `profileType`.
    pub fn profile_type(&self) -> Option<&str> {
        self.header().and_then(|h| h.profile_type.as_deref())
    }

    /// `pol` (POL1, SGP.02 §2.4.5; coding: docs/spec-choices.md row 3).
    pub fn pol1(&self) -> Option<&[u8]> {
        self.header().and_then(|h| h.pol.as_deref())
    }

    /// `connectivityParameters` (SGP.02 connectivity parameters, opaque here).
    pub fn connectivity_parameters(&self) -> Option<&[u8]> {
        self.header()
            .and_then(|h| h.connectivity_parameters.as_deref())
    }

    /// Names of the `eUICC-Mandatory-services`.
    pub fn mandatory_services(&self) -> Vec<&'static str> {
        let Some(h) = self.header() else {
            return Vec::new();
        };
        service_flags(&h.e_uicc_mandatory_services)
            .iter()
            .zip(SERVICE_NAMES)
            .filter(|(on, _)| **on)
            .map(|(_, n)| n)
            .collect()
    }

    /// `eUICC-Mandatory-GFSTEList` in dotted form.
    pub fn mandatory_gfste(&self) -> Vec<String> {
        self.header()
            .map(|h| {
                h.e_uicc_mandatory_gfstelist
                    .iter()
                    .map(|o| crate::element::oid_string(o))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Index of the first element of this type name.
    pub fn index_of(&self, type_name: &str) -> Option<usize> {
        self.elements
            .iter()
            .position(|e| e.type_name() == type_name)
    }

    /// The `mf` template PE.
    pub fn mf(&self) -> Option<&asn1::PEMF> {
        self.typed().find_map(|(_, e)| match e {
            asn1::ProfileElement::mf(x) => Some(x),
            _ => None,
        })
    }

    /// The first `usim` template PE.
    pub fn usim(&self) -> Option<&asn1::PEUSIM> {
        self.typed().find_map(|(_, e)| match e {
            asn1::ProfileElement::usim(x) => Some(x),
            _ => None,
        })
    }

    /// EF.ICCID content (`mf` PE, ef-iccid).
    pub fn ef_iccid(&self) -> Option<Vec<u8>> {
        self.mf().map(|m| file_content(&m.ef_iccid))
    }

    /// The IMSI from EF.IMSI of the first `usim` (or `iot`) PE (3GPP TS 31.102 §4.2.2).
    pub fn imsi(&self) -> Result<Imsi, AccessError> {
        let (index, pe_type, content) = self
            .typed()
            .find_map(|(i, e)| match e {
                asn1::ProfileElement::usim(u) => Some((i, "usim", file_content(&u.ef_imsi))),
                asn1::ProfileElement::iot(u) => Some((i, "iot", file_content(&u.ef_imsi))),
                _ => None,
            })
            .ok_or(AccessError::Missing("usim"))?;
        Imsi::from_ef_imsi(&content).map_err(|e| AccessError::BadField {
            index,
            pe_type,
            field: "ef-imsi",
            reason: e.to_string(),
        })
    }

    /// Every `akaParameter` PE.
    pub fn aka_parameters(&self) -> Vec<AkaView<'_>> {
        self.typed()
            .filter_map(|(index, e)| match e {
                asn1::ProfileElement::akaParameter(pe) => Some(AkaView { index, pe }),
                _ => None,
            })
            .collect()
    }

    /// Every PIN of every `pinCodes` PE (PE order, then list order).
    pub fn pins(&self) -> Vec<PinView<'_>> {
        let mut out = Vec::new();
        for (index, e) in self.typed() {
            let asn1::ProfileElement::pinCodes(p) = e else {
                continue;
            };
            if let asn1::PEPINCodesPinCodes::pinconfig(list) = &p.pin_codes {
                for config in list {
                    out.push(PinView {
                        index,
                        identification: p.pin_header.identification.0,
                        config,
                    });
                }
            }
        }
        out
    }

    /// Every PUK of every `pukCodes` PE.
    pub fn puks(&self) -> Vec<PukView<'_>> {
        let mut out = Vec::new();
        for (index, e) in self.typed() {
            if let asn1::ProfileElement::pukCodes(p) = e {
                for config in &p.puk_codes {
                    out.push(PukView {
                        index,
                        identification: p.puk_header.identification.0,
                        config,
                    });
                }
            }
        }
        out
    }

    /// Every `securityDomain` PE (the first one is the MNO-SD in TS.48 profiles).
    pub fn security_domains(&self) -> Vec<SdView<'_>> {
        self.typed()
            .filter_map(|(index, e)| match e {
                asn1::ProfileElement::securityDomain(pe) => Some(SdView { index, pe }),
                _ => None,
            })
            .collect()
    }
}

/// One file (DF/EF) of a file-system template PE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateFile {
    /// The ASN.1 field name ("adf-usim", "ef-imsi", …).
    pub field: &'static str,
    /// The field's context tag number (its position in the template SEQUENCE).
    pub number: u32,
    /// The file's creation/content items.
    pub file: asn1::File,
}

/// The files present in a file-system template PE (`mf`, `usim`, `opt-usim`, …), in ASN.1 (and
/// creation) order; empty for other PEs. TCA SAIP v3.3.1 §8.3: each present field is a `File`
/// created from the template (Annex A) and modified by its items.
pub fn template_files(pe: &asn1::ProfileElement) -> Vec<TemplateFile> {
    let name = crate::element::PE_TYPE_NAMES
        .get(crate::element::tag_number(pe))
        .copied()
        .unwrap_or("");
    let Some((_, fields)) = crate::template_fields::TEMPLATE_FIELDS
        .iter()
        .find(|(n, _)| *n == name)
    else {
        return Vec::new();
    };
    let Ok(der) = rasn::der::encode(pe) else {
        return Vec::new();
    };
    let Ok(outer) = esim_codec::ber::parse_one(&der) else {
        return Vec::new();
    };
    let Ok(children) = outer.child_list() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in children {
        let n = c.tag.number();
        if n < 2 {
            continue; // PEHeader, templateID
        }
        let Some(field) = fields.get(n as usize) else {
            continue;
        };
        // The field is `[n] IMPLICIT SEQUENCE OF …`: decode its value as a universal SEQUENCE.
        let seq = esim_codec::ber::tlv(0x30u8, c.value);
        if let Ok(file) = rasn::ber::decode::<asn1::File>(&seq) {
            out.push(TemplateFile {
                field,
                number: n,
                file,
            });
        }
    }
    out
}
