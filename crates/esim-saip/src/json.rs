//! JSON form of a Profile Package, for `esim tool saip decode --json` and `encode`.
//!
//! Each typed PE is written in the JSON Encoding Rules (ITU-T X.697, JER) of its
//! `ProfileElement` CHOICE: `{"pinCodes": {"pin-Header": {...}, ...}}`, field names as in the ASN.1
//! module, OCTET STRINGs in hex, OIDs dotted. A raw PE is `{"raw": {"tag": "BF22", "der": "…"}}`
//! (the whole TLV in hex). The document is `{"elements": [ … ]}`; other top-level members (the
//! summary written by the tool) are ignored by [`from_json`]. Because the typed model keeps DEFAULT
//! fields as present/absent, decode → JSON → encode reproduces the DER byte for byte.

use crate::asn1;
use crate::element::{ProfileElement, RawElement, RawReason, pe_type_for_tag};
use crate::error::{SaipError, clean_detail};
use crate::package::ProfilePackage;
use esim_codec::ber::Tag;
use serde_json::{Map, Value, json};

/// The JSON value of one element.
pub fn element_to_json(index: usize, e: &ProfileElement) -> Result<Value, SaipError> {
    match e {
        ProfileElement::Typed(pe) => {
            let text = rasn::jer::encode(pe.as_ref()).map_err(|err| SaipError::Encode {
                index,
                pe_type: e.type_name(),
                detail: clean_detail(&err.to_string()),
            })?;
            serde_json::from_str(&text).map_err(|err| SaipError::Encode {
                index,
                pe_type: e.type_name(),
                detail: err.to_string(),
            })
        }
        ProfileElement::Raw(r) => Ok(json!({
            "raw": {
                "tag": r.tag.to_string(),
                "der": esim_codec::hex::encode(&r.bytes).to_ascii_uppercase(),
            }
        })),
    }
}

/// The JSON document `{"elements": [...]}` of a package.
pub fn to_json(pkg: &ProfilePackage) -> Result<Value, SaipError> {
    let elements = pkg
        .elements
        .iter()
        .enumerate()
        .map(|(i, e)| element_to_json(i, e))
        .collect::<Result<Vec<_>, _>>()?;
    let mut doc = Map::new();
    doc.insert("elements".into(), Value::Array(elements));
    Ok(Value::Object(doc))
}

/// One element from its JSON value.
pub fn element_from_json(index: usize, v: &Value) -> Result<ProfileElement, SaipError> {
    let path = format!("elements[{index}]");
    let err = |detail: String| SaipError::Json {
        path: path.clone(),
        detail,
    };
    let obj = v
        .as_object()
        .ok_or_else(|| err("must be an object with one member (the PE type)".into()))?;
    if obj.len() != 1 {
        return Err(err(format!(
            "must have exactly one member (the PE type), has {}",
            obj.len()
        )));
    }
    let Some((name, body)) = obj.iter().next() else {
        return Err(err("empty object".into()));
    };
    if name == "raw" {
        let der_hex = body
            .get("der")
            .and_then(Value::as_str)
            .ok_or_else(|| err("raw.der must be a hex string".into()))?;
        let bytes = esim_codec::hex::decode(der_hex).map_err(|e| err(format!("raw.der: {e}")))?;
        let located =
            ProfilePackage::decode_located(&bytes).map_err(|e| err(format!("raw.der: {e}")))?;
        if located.len() != 1 {
            return Err(err(format!(
                "raw.der holds {} elements, expected one",
                located.len()
            )));
        }
        let tag = located.first().map(|l| l.element.tag()).unwrap_or(Tag(0));
        let reason = if pe_type_for_tag(tag).is_some() {
            RawReason::NotCanonical
        } else {
            RawReason::UnknownType
        };
        return Ok(ProfileElement::Raw(RawElement { tag, bytes, reason }));
    }
    if !crate::element::PE_TYPE_NAMES.contains(&name.as_str()) {
        return Err(err(format!("unknown PE type {name:?}")));
    }
    let text = serde_json::to_string(v).map_err(|e| err(e.to_string()))?;
    let pe: asn1::ProfileElement = rasn::jer::decode(&text)
        .map_err(|e| err(format!("{name}: {}", clean_detail(&e.to_string()))))?;
    Ok(ProfileElement::Typed(Box::new(pe)))
}

/// A package from its JSON document (`{"elements": [...]}`).
pub fn from_json(doc: &Value) -> Result<ProfilePackage, SaipError> {
    let list = doc
        .get("elements")
        .and_then(Value::as_array)
        .ok_or_else(|| SaipError::Json {
            path: "$".into(),
            detail: "missing array member \"elements\"".into(),
        })?;
    let elements = list
        .iter()
        .enumerate()
        .map(|(i, v)| element_from_json(i, v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ProfilePackage { elements })
}
