//! Personalization: turn a template package (e.g. a TS.48 test profile) into a subscriber's
//! package by setting ICCID (header and EF.ICCID), IMSI (EF.IMSI), K and OPc (akaParameter),
//! PIN1/PUK1/ADM1 (pinCodes/pukCodes), MNO-SD keys (securityDomain keyList), POL1 and the
//! connectivity parameters (header), then [`validate`](crate::validate::validate) the result.
//!
//! Codings: header ICCID see [`crate::access::iccid_to_header_bcd`]; EF.ICCID nibble-swapped BCD
//! (ETSI TS 102 221 §13.2); EF.IMSI 3GPP TS 31.102 §4.2.2; PIN/PUK ASCII digits `FF`-padded to 8
//! bytes (ETSI TS 102 221 §9.5.1); keys per GP Card Spec §11.1.8 (key type `88` AES).

use crate::access::{iccid_to_header_bcd, set_file_content};
use crate::asn1;
use crate::element::ProfileElement;
use crate::package::ProfilePackage;
use crate::validate::{ValidationError, validate};
use esim_codec::{Iccid, Imsi};
use zeroize::Zeroizing;

/// Key references of PE-Definitions `PINKeyReferenceValue` / `PUKKeyReferenceValue`.
pub mod key_ref {
    /// `pinAppl1`: PIN1 (global).
    pub const PIN1: i64 = 1;
    /// `pinAppl2`.
    pub const PIN2: i64 = 2;
    /// `adm1`: ADM1.
    pub const ADM1: i64 = 10;
    /// `pukAppl1`: PUK1.
    pub const PUK1: i64 = 1;
}

/// A security-domain key to set (replaced if the KVN/KID exists, added otherwise).
#[derive(Clone)]
pub struct SdKeyValue {
    /// Key version number.
    pub kvn: u8,
    /// Key identifier.
    pub kid: u8,
    /// Key usage qualifier for a new key (GP Card Spec §11.1.9); ignored when replacing.
    pub usage: u8,
    /// The key.
    pub data: Zeroizing<Vec<u8>>,
}

impl core::fmt::Debug for SdKeyValue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "SdKeyValue {{ kvn: {:02X}, kid: {:02X}, usage: {:02X}, data: <redacted {} bytes> }}",
            self.kvn,
            self.kid,
            self.usage,
            self.data.len()
        )
    }
}

/// SCP80 key usage qualifiers (as in the TS.48 MNO-SD): KIc, KID, KIK.
pub const SCP80_USAGE: [u8; 3] = [0x18, 0x14, 0x48];
/// SCP03 key usage qualifiers (GP Amd D §7.1): S-ENC, S-MAC, DEK.
pub const SCP03_USAGE: [u8; 3] = [0x38, 0x34, 0xC8];

/// The values to set; `None`/empty fields keep the template's values.
#[derive(Clone, Default)]
pub struct Personalization {
    /// ICCID (header and EF.ICCID).
    pub iccid: Option<Iccid>,
    /// IMSI (EF.IMSI of the USIM).
    pub imsi: Option<Imsi>,
    /// Subscriber key K, set in every akaParameter with an algoParameter.
    pub ki: Option<Zeroizing<Vec<u8>>>,
    /// OPc (TOPc for TUAK), set with `ki`.
    pub opc: Option<Zeroizing<Vec<u8>>>,
    /// PIN1 digits (4–8).
    pub pin1: Option<Zeroizing<String>>,
    /// PUK1 digits (8).
    pub puk1: Option<Zeroizing<String>>,
    /// ADM1: 4–8 digits (ASCII, `FF`-padded) or 8 bytes.
    pub adm1: Option<Zeroizing<Vec<u8>>>,
    /// MNO-SD keys (the first securityDomain PE).
    pub sd_keys: Vec<SdKeyValue>,
    /// POL1 (`header.pol`).
    pub pol1: Option<Vec<u8>>,
    /// Connectivity parameters (`header.connectivityParameters`).
    pub connectivity_parameters: Option<Vec<u8>>,
}

impl core::fmt::Debug for Personalization {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let set = |b: bool| if b { "<set>" } else { "-" };
        f.debug_struct("Personalization")
            .field("iccid", &self.iccid)
            .field("imsi", &self.imsi)
            .field("ki", &set(self.ki.is_some()))
            .field("opc", &set(self.opc.is_some()))
            .field("pin1", &set(self.pin1.is_some()))
            .field("puk1", &set(self.puk1.is_some()))
            .field("adm1", &set(self.adm1.is_some()))
            .field("sd_keys", &self.sd_keys)
            .field("pol1", &self.pol1)
            .field("connectivity_parameters", &self.connectivity_parameters)
            .finish()
    }
}

/// Why a template could not be personalized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PersonalizeError {
    /// The template lacks the element a value goes into.
    #[error("template has no {what} (needed for {field})")]
    MissingElement {
        /// The missing element ("header", "mf", "usim", …).
        what: &'static str,
        /// The value being set.
        field: &'static str,
    },
    /// An input value has the wrong form.
    #[error("{field}: {reason}")]
    BadValue {
        /// The value ("pin1", …).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The personalized package fails validation (all problems listed).
    #[error("personalized package is not valid: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ValidationError>),
}

/// Encodes PIN/PUK digits: ASCII, `FF`-padded to 8 bytes.
pub fn pin_bytes(
    field: &'static str,
    digits: &str,
    min: usize,
) -> Result<[u8; 8], PersonalizeError> {
    if !(min..=8).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PersonalizeError::BadValue {
            field,
            reason: format!("must be {min} to 8 decimal digits"),
        });
    }
    let mut out = [0xFFu8; 8];
    out[..digits.len()].copy_from_slice(digits.as_bytes());
    Ok(out)
}

fn typed_mut(pkg: &mut ProfilePackage) -> impl Iterator<Item = &mut asn1::ProfileElement> {
    pkg.elements
        .iter_mut()
        .filter_map(ProfileElement::typed_mut)
}

impl Personalization {
    /// Sets the SCP80 keyset `kvn` (KIc, KID, KIK = key identifiers 1, 2, 3).
    pub fn scp80_keys(&mut self, kvn: u8, kic: &[u8], kid: &[u8], kik: Option<&[u8]>) {
        for (i, key) in [Some(kic), Some(kid), kik].into_iter().enumerate() {
            if let Some(k) = key {
                self.sd_keys.push(SdKeyValue {
                    kvn,
                    kid: i as u8 + 1,
                    usage: SCP80_USAGE[i],
                    data: Zeroizing::new(k.to_vec()),
                });
            }
        }
    }

    /// Sets the SCP03 keyset `kvn` (S-ENC, S-MAC, DEK = key identifiers 1, 2, 3).
    pub fn scp03_keys(&mut self, kvn: u8, enc: &[u8], mac: &[u8], dek: &[u8]) {
        for (i, k) in [enc, mac, dek].into_iter().enumerate() {
            self.sd_keys.push(SdKeyValue {
                kvn,
                kid: i as u8 + 1,
                usage: SCP03_USAGE[i],
                data: Zeroizing::new(k.to_vec()),
            });
        }
    }

    /// Applies the values to `template` and validates the result.
    pub fn apply(&self, template: &ProfilePackage) -> Result<ProfilePackage, PersonalizeError> {
        let mut pkg = template.clone();
        self.apply_in_place(&mut pkg)?;
        let problems = validate(&pkg);
        if !problems.is_empty() {
            return Err(PersonalizeError::Invalid(problems));
        }
        Ok(pkg)
    }

    /// Applies the values without validating.
    pub fn apply_in_place(&self, pkg: &mut ProfilePackage) -> Result<(), PersonalizeError> {
        if let Some(iccid) = &self.iccid {
            let h = pkg.header_mut().ok_or(PersonalizeError::MissingElement {
                what: "header",
                field: "iccid",
            })?;
            h.iccid = iccid_to_header_bcd(iccid).to_vec().into();
            let mf = typed_mut(pkg)
                .find_map(|e| match e {
                    asn1::ProfileElement::mf(m) => Some(m),
                    _ => None,
                })
                .ok_or(PersonalizeError::MissingElement {
                    what: "mf",
                    field: "iccid",
                })?;
            set_file_content(&mut mf.ef_iccid, &iccid.to_swapped_bcd());
        }
        if let Some(imsi) = &self.imsi {
            let ef = typed_mut(pkg)
                .find_map(|e| match e {
                    asn1::ProfileElement::usim(u) => Some(&mut u.ef_imsi),
                    asn1::ProfileElement::iot(u) => Some(&mut u.ef_imsi),
                    _ => None,
                })
                .ok_or(PersonalizeError::MissingElement {
                    what: "usim",
                    field: "imsi",
                })?;
            set_file_content(ef, &imsi.to_ef_imsi());
        }
        if self.ki.is_some() || self.opc.is_some() {
            let mut n = 0;
            for e in typed_mut(pkg) {
                if let asn1::ProfileElement::akaParameter(a) = e {
                    if let asn1::PEAKAParameterAlgoConfiguration::algoParameter(p) =
                        &mut a.algo_configuration
                    {
                        if let Some(k) = &self.ki {
                            p.key = k.to_vec().into();
                        }
                        if let Some(o) = &self.opc {
                            p.opc = o.to_vec().into();
                        }
                        n += 1;
                    }
                }
            }
            if n == 0 {
                return Err(PersonalizeError::MissingElement {
                    what: "akaParameter with algoParameter",
                    field: "ki/opc",
                });
            }
        }
        if let Some(pin) = &self.pin1 {
            let v = pin_bytes("pin1", pin, 4)?;
            set_pin(pkg, key_ref::PIN1, &v, "pin1")?;
        }
        if let Some(adm) = &self.adm1 {
            let v: Vec<u8> = if adm.len() == 8 {
                adm.to_vec()
            } else {
                let s =
                    String::from_utf8(adm.to_vec()).map_err(|_| PersonalizeError::BadValue {
                        field: "adm1",
                        reason: "must be 4 to 8 digits or 8 bytes".into(),
                    })?;
                pin_bytes("adm1", &s, 4)?.to_vec()
            };
            set_pin(pkg, key_ref::ADM1, &v, "adm1")?;
        }
        if let Some(puk) = &self.puk1 {
            let v = pin_bytes("puk1", puk, 8)?;
            let mut found = false;
            for e in typed_mut(pkg) {
                if let asn1::ProfileElement::pukCodes(p) = e {
                    for cfg in p.puk_codes.iter_mut() {
                        if i64::try_from(&cfg.key_reference.0).ok() == Some(key_ref::PUK1) {
                            cfg.puk_value = v.to_vec().into();
                            found = true;
                        }
                    }
                }
            }
            if !found {
                return Err(PersonalizeError::MissingElement {
                    what: "pukCodes entry with keyReference 1",
                    field: "puk1",
                });
            }
        }
        if !self.sd_keys.is_empty() {
            let sd = typed_mut(pkg)
                .find_map(|e| match e {
                    asn1::ProfileElement::securityDomain(s) => Some(s),
                    _ => None,
                })
                .ok_or(PersonalizeError::MissingElement {
                    what: "securityDomain",
                    field: "MNO-SD keys",
                })?;
            for k in &self.sd_keys {
                set_sd_key(sd, k);
            }
        }
        if self.pol1.is_some() || self.connectivity_parameters.is_some() {
            let h = pkg.header_mut().ok_or(PersonalizeError::MissingElement {
                what: "header",
                field: "pol1/connectivity parameters",
            })?;
            if let Some(p) = &self.pol1 {
                h.pol = Some(p.clone().into());
            }
            if let Some(c) = &self.connectivity_parameters {
                h.connectivity_parameters = Some(c.clone().into());
            }
        }
        Ok(())
    }
}

fn set_pin(
    pkg: &mut ProfilePackage,
    key_reference: i64,
    value: &[u8],
    field: &'static str,
) -> Result<(), PersonalizeError> {
    let mut found = false;
    for e in typed_mut(pkg) {
        if let asn1::ProfileElement::pinCodes(p) = e {
            if let asn1::PEPINCodesPinCodes::pinconfig(list) = &mut p.pin_codes {
                for cfg in list.iter_mut() {
                    if i64::try_from(&cfg.key_reference.0).ok() == Some(key_reference) {
                        cfg.pin_value = value.to_vec().into();
                        found = true;
                    }
                }
            }
        }
    }
    if found {
        Ok(())
    } else {
        Err(PersonalizeError::MissingElement {
            what: "pinCodes entry with that keyReference",
            field,
        })
    }
}

fn set_sd_key(sd: &mut asn1::PESecurityDomain, k: &SdKeyValue) {
    let list = sd.key_list.get_or_insert_with(Vec::new);
    for obj in list.iter_mut() {
        if obj.key_version_number.first() == Some(&k.kvn)
            && obj.key_identifier.first() == Some(&k.kid)
        {
            if let Some(comp) = obj.key_components.0.first_mut() {
                comp.key_data = k.data.to_vec().into();
                return;
            }
        }
    }
    // Not present: add an AES key object (key type 88).
    let comp =
        asn1::AnonymousKeyObjectKeyComponents::new(vec![0x88].into(), k.data.to_vec().into(), None);
    list.push(asn1::KeyObject::new(
        vec![k.usage].into(),
        None,
        vec![k.kid].into(),
        vec![k.kvn].into(),
        None,
        asn1::KeyObjectKeyComponents(vec![comp]),
    ));
}
