//! Validation of a Profile Package before it is sent or installed: structure (header first, end
//! last, unique identification numbers — TCA SAIP v3.3.1 §8.1, §8.2), header coherence (ICCID in
//! the header and EF.ICCID, mandatory services backed by their PEs) and value sizes and codings
//! (EF.IMSI 3GPP TS 31.102 §4.2.2; K/OPc sizes per algorithm 3GPP TS 35.206/35.231; PIN/PUK coding
//! ETSI TS 102 221 §9.5.1; key lengths per key type GP Card Spec §11.1.8).
//!
//! Every problem names the PE (index, type, identification) and the field.

use crate::access::{AkaAlgorithm, file_content, iccid_from_header_bcd, service_flags};
use crate::asn1;
use crate::element::{ProfileElement, pe_header};
use crate::package::ProfilePackage;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// One problem found by [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Index of the offending PE; `None` for a problem of the package as a whole.
    pub index: Option<usize>,
    /// Type of the PE ("akaParameter", …), or "package".
    pub pe_type: &'static str,
    /// `PEHeader.identification` of the PE, if it has one.
    pub identification: Option<u16>,
    /// The field ("ki", "pinValue", …).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl core::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match (self.index, self.identification) {
            (Some(i), Some(id)) => write!(f, "PE #{i} {} (identification {id}): ", self.pe_type)?,
            (Some(i), None) => write!(f, "PE #{i} {}: ", self.pe_type)?,
            (None, _) => write!(f, "package: ")?,
        }
        if self.field.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "{} {}", self.field, self.problem)
        }
    }
}

impl std::error::Error for ValidationError {}

struct Checker {
    out: Vec<ValidationError>,
}

impl Checker {
    fn pe(
        &mut self,
        index: usize,
        pe_type: &'static str,
        identification: Option<u16>,
        field: &str,
        problem: String,
    ) {
        self.out.push(ValidationError {
            index: Some(index),
            pe_type,
            identification,
            field: field.to_string(),
            problem,
        });
    }
    fn package(&mut self, field: &str, problem: String) {
        self.out.push(ValidationError {
            index: None,
            pe_type: "package",
            identification: None,
            field: field.to_string(),
            problem,
        });
    }
}

/// Whether a PIN key reference is a user PIN (global 1–8 or local 129–136) rather than an ADM key.
fn is_user_pin(key_ref: i64) -> bool {
    (1..=8).contains(&key_ref) || (129..=136).contains(&key_ref)
}

/// Checks a PIN value: 4–8 ASCII digits, then `FF` padding to 8 bytes (TS 102 221 §9.5.1).
fn check_pin_digits(v: &[u8], min: usize) -> Result<(), String> {
    if v.len() != 8 {
        return Err(format!("must be 8 bytes, is {}", v.len()));
    }
    let digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
    if v.iter().skip(digits).any(|&b| b != 0xFF) {
        return Err("must be ASCII digits followed by FF padding".into());
    }
    if digits < min {
        return Err(format!("must have at least {min} digits, has {digits}"));
    }
    Ok(())
}

/// Runs every check; an empty result means the package is valid.
pub fn validate(pkg: &ProfilePackage) -> Vec<ValidationError> {
    let mut c = Checker { out: Vec::new() };
    if pkg.elements.is_empty() {
        c.package("", "has no profile element".into());
        return c.out;
    }
    // Typed views (raw-but-known elements decoded leniently).
    let views: Vec<Option<Cow<'_, asn1::ProfileElement>>> = pkg
        .elements
        .iter()
        .map(|e| match e {
            ProfileElement::Typed(t) => Some(Cow::Borrowed(t.as_ref())),
            ProfileElement::Raw(r) => r.decode_typed().ok().map(Cow::Owned),
        })
        .collect();

    // Structure.
    let last = pkg.elements.len() - 1;
    let mut ids: BTreeMap<u16, usize> = BTreeMap::new();
    let mut headers = 0;
    let mut ends = 0;
    for (i, e) in pkg.elements.iter().enumerate() {
        let t = e.type_name();
        let id = e.identification();
        match t {
            "header" => {
                headers += 1;
                if i != 0 {
                    c.pe(i, t, None, "", "must be the first element".into());
                }
            }
            "end" => {
                ends += 1;
                if i != last {
                    c.pe(i, t, id, "", "must be the last element".into());
                }
            }
            _ => {}
        }
        if let Some(id) = id {
            if let Some(first) = ids.get(&id) {
                c.pe(
                    i,
                    t,
                    Some(id),
                    "identification",
                    format!("{id} is already used by PE #{first}"),
                );
            } else {
                ids.insert(id, i);
            }
        }
    }
    if headers == 0 {
        c.package("header", "is missing (must be the first element)".into());
    } else if headers > 1 {
        c.package("header", format!("appears {headers} times"));
    }
    if ends == 0 {
        c.package("end", "is missing (must be the last element)".into());
    } else if ends > 1 {
        c.package("end", format!("appears {ends} times"));
    }

    let puk_refs: BTreeSet<i64> = pkg.puks().iter().map(|p| p.key_reference()).collect();
    let mut header_iccid = None;
    let mut present: BTreeSet<&'static str> = BTreeSet::new();
    for e in &pkg.elements {
        present.insert(e.type_name());
    }

    for (i, view) in views.iter().enumerate() {
        let Some(pe) = view.as_deref() else { continue };
        let t = pkg.elements[i].type_name();
        let id = pe_header(pe).map(|h| h.identification.0);
        match pe {
            asn1::ProfileElement::header(h) => {
                if h.iccid.len() != 10 {
                    c.pe(
                        i,
                        t,
                        None,
                        "iccid",
                        format!("must be 10 bytes, is {}", h.iccid.len()),
                    );
                } else {
                    match iccid_from_header_bcd(&h.iccid) {
                        Ok(v) => header_iccid = Some(v),
                        Err(e) => c.pe(i, t, None, "iccid", format!("is not a valid ICCID: {e}")),
                    }
                }
                let flags = service_flags(&h.e_uicc_mandatory_services);
                for (flag, naa) in [(flags[1], "usim"), (flags[2], "isim"), (flags[3], "csim")] {
                    if flag && !present.contains(naa) {
                        c.pe(
                            i,
                            t,
                            None,
                            "eUICC-Mandatory-services",
                            format!("lists {naa} but the package has no {naa} element"),
                        );
                    }
                }
                if let Some(p) = &h.pol {
                    if p.is_empty() {
                        c.pe(i, t, None, "pol", "must not be empty when present".into());
                    }
                }
            }
            asn1::ProfileElement::mf(m) => {
                let ef = file_content(&m.ef_iccid);
                if let Some(h) = &header_iccid {
                    if ef.len() < 10 || ef[..10] != h.to_swapped_bcd() {
                        c.pe(
                            i,
                            t,
                            id,
                            "ef-iccid",
                            format!(
                                "content {} does not match the header ICCID {}",
                                esim_codec::hex::encode(&ef),
                                h.as_str()
                            ),
                        );
                    }
                }
            }
            asn1::ProfileElement::usim(u) => {
                let ef = file_content(&u.ef_imsi);
                if let Err(e) = esim_codec::Imsi::from_ef_imsi(&ef) {
                    c.pe(i, t, id, "ef-imsi", format!("is not a valid IMSI: {e}"));
                }
            }
            asn1::ProfileElement::akaParameter(a) => {
                if let asn1::PEAKAParameterAlgoConfiguration::algoParameter(p) =
                    &a.algo_configuration
                {
                    let alg = AkaAlgorithm::from_id(&p.algorithm_id);
                    let (ki_ok, ki_txt, opc_ok, opc_txt): (&[usize], &str, &[usize], &str) =
                        match alg {
                            AkaAlgorithm::Milenage => (&[16], "16", &[16], "16"),
                            AkaAlgorithm::Tuak => (&[16, 32], "16 or 32", &[32], "32"),
                            AkaAlgorithm::TestAlgorithm => (&[16], "16", &[16], "16"),
                            AkaAlgorithm::Other(n) => {
                                c.pe(i, t, id, "algorithmID", format!("{n} is not 1, 2 or 3"));
                                (&[16, 32], "16 or 32", &[16, 32], "16 or 32")
                            }
                        };
                    if !ki_ok.contains(&p.key.len()) {
                        c.pe(
                            i,
                            t,
                            id,
                            "ki",
                            format!("must be {ki_txt} bytes, is {}", p.key.len()),
                        );
                    }
                    if !opc_ok.contains(&p.opc.len()) {
                        c.pe(
                            i,
                            t,
                            id,
                            "opc",
                            format!("must be {opc_txt} bytes, is {}", p.opc.len()),
                        );
                    }
                    if p.algorithm_options.len() != 1 {
                        c.pe(i, t, id, "algorithmOptions", "must be 1 byte".into());
                    }
                }
            }
            asn1::ProfileElement::pinCodes(p) => {
                if let asn1::PEPINCodesPinCodes::pinconfig(list) = &p.pin_codes {
                    let mut seen = BTreeSet::new();
                    for cfg in list {
                        let r = i64::try_from(&cfg.key_reference.0).unwrap_or(-1);
                        let field = format!("pinValue (keyReference {r})");
                        if !seen.insert(r) {
                            c.pe(i, t, id, "keyReference", format!("{r} appears twice"));
                        }
                        if is_user_pin(r) {
                            if let Err(e) = check_pin_digits(&cfg.pin_value, 4) {
                                c.pe(i, t, id, &field, e);
                            }
                        } else if cfg.pin_value.len() != 8 {
                            c.pe(
                                i,
                                t,
                                id,
                                &field,
                                format!("must be 8 bytes, is {}", cfg.pin_value.len()),
                            );
                        }
                        if let Some(u) = &cfg.unblocking_pinreference {
                            let u = i64::try_from(&u.0).unwrap_or(-1);
                            if !puk_refs.contains(&u) {
                                c.pe(
                                    i,
                                    t,
                                    id,
                                    "unblockingPINReference",
                                    format!("{u} (of keyReference {r}) has no PUK in pukCodes"),
                                );
                            }
                        }
                    }
                }
            }
            asn1::ProfileElement::pukCodes(p) => {
                let mut seen = BTreeSet::new();
                for cfg in &p.puk_codes {
                    let r = i64::try_from(&cfg.key_reference.0).unwrap_or(-1);
                    if !seen.insert(r) {
                        c.pe(i, t, id, "keyReference", format!("{r} appears twice"));
                    }
                    if let Err(e) = check_pin_digits(&cfg.puk_value, 8) {
                        c.pe(i, t, id, &format!("pukValue (keyReference {r})"), e);
                    }
                }
            }
            asn1::ProfileElement::securityDomain(sd) => {
                for k in sd.key_list.iter().flatten() {
                    let kvn = k.key_version_number.first().copied().unwrap_or(0);
                    let kid = k.key_identifier.first().copied().unwrap_or(0);
                    for comp in &k.key_components.0 {
                        let ty = comp.key_type.first().copied().unwrap_or(0);
                        let ok: &[usize] = match ty {
                            0x80 => &[16, 24],
                            0x88 => &[16, 24, 32],
                            _ => continue,
                        };
                        if !ok.contains(&comp.key_data.len()) {
                            c.pe(
                                i,
                                t,
                                id,
                                &format!("keyData (KVN {kvn:02X} KID {kid:02X})"),
                                format!(
                                    "must be {} bytes for key type {ty:02X}, is {}",
                                    ok.iter()
                                        .map(|n| n.to_string())
                                        .collect::<Vec<_>>()
                                        .join("/"),
                                    comp.key_data.len()
                                ),
                            );
                        }
                    }
                }
            }
            _ => {}
        }
    }
    c.out
}
