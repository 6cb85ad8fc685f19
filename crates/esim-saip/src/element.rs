//! One profile element (PE): a typed alternative of the `ProfileElement` CHOICE of the
//! PE-Definitions module (TCA SAIP v3.3.1 §8), or the verbatim bytes of an element this model does
//! not reproduce.

use crate::asn1;
use crate::error::{SaipError, clean_detail};
use esim_codec::ber::Tag;

/// The ASN.1 names of the `ProfileElement` CHOICE alternatives, indexed by their context tag
/// number (AUTOMATIC TAGS: the n-th alternative has tag `[n]`, i.e. `A0 + n`, `BF 1F`, `BF 20`…).
pub const PE_TYPE_NAMES: [&str; 34] = [
    "header",
    "genericFileManagement",
    "pinCodes",
    "pukCodes",
    "akaParameter",
    "cdmaParameter",
    "securityDomain",
    "rfm",
    "application",
    "nonStandard",
    "end",
    "rfu1",
    "rfu2",
    "rfu3",
    "rfu4",
    "rfu5",
    "mf",
    "cd",
    "telecom",
    "usim",
    "opt-usim",
    "isim",
    "opt-isim",
    "phonebook",
    "gsm-access",
    "csim",
    "opt-csim",
    "eap",
    "df-5gs",
    "df-saip",
    "df-snpn",
    "df-5gprose",
    "iot",
    "opt-iot",
];

/// The CHOICE alternative name for a context-specific constructed tag, if it is one this module
/// defines.
pub fn pe_type_for_tag(tag: Tag) -> Option<&'static str> {
    if tag.class() != esim_codec::ber::Class::Context || !tag.is_constructed() {
        return None;
    }
    PE_TYPE_NAMES.get(tag.number() as usize).copied()
}

/// Why an element is kept as raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RawReason {
    /// A CHOICE alternative that PE-Definitions 3.3.1 does not define (a later version's PE);
    /// the CHOICE is extensible (`...`), so it is kept and re-emitted unchanged.
    UnknownType,
    /// A known alternative whose DER re-encoding differs from the input (non-minimal lengths,
    /// other BER freedoms); kept verbatim so that the package re-encodes byte for byte.
    /// [`RawElement::decode_typed`] still gives its typed view. (Unknown extension fields inside
    /// a known PE are not accepted: they are reported as [`SaipError::BadElement`].)
    NotCanonical,
}

/// A profile element kept as its exact bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct RawElement {
    /// The element's outer tag.
    pub tag: Tag,
    /// The whole TLV (tag, length and value).
    pub bytes: Vec<u8>,
    /// Why it is raw.
    pub reason: RawReason,
}

impl core::fmt::Debug for RawElement {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Raw bytes may hold keys: show only the size.
        f.debug_struct("RawElement")
            .field("tag", &self.tag)
            .field("len", &self.bytes.len())
            .field("reason", &self.reason)
            .finish()
    }
}

impl RawElement {
    /// The typed view of a [`RawReason::NotCanonical`] element (decoded leniently, BER).
    pub fn decode_typed(&self) -> Result<asn1::ProfileElement, SaipError> {
        let pe_type = pe_type_for_tag(self.tag).unwrap_or("unknown");
        decode_typed(&self.bytes).map_err(|detail| SaipError::BadElement {
            index: 0,
            offset: 0,
            tag: self.tag,
            pe_type,
            detail,
        })
    }
}

/// One element of a Profile Package.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProfileElement {
    /// A PE decoded into the PE-Definitions types; re-encodes to the bytes it came from.
    Typed(Box<asn1::ProfileElement>),
    /// A PE kept verbatim (see [`RawReason`]).
    Raw(RawElement),
}

pub(crate) fn decode_typed(tlv: &[u8]) -> Result<asn1::ProfileElement, String> {
    match rasn::ber::decode_with_remainder::<asn1::ProfileElement>(tlv) {
        Ok((pe, [])) => Ok(pe),
        Ok((_, rest)) => Err(format!(
            "{} byte(s) left over inside the element",
            rest.len()
        )),
        Err(e) => Err(clean_detail(&e.to_string())),
    }
}

/// The `PEHeader` of a typed element (every alternative but `header` and the `rfu` dummies has
/// one).
pub fn pe_header(pe: &asn1::ProfileElement) -> Option<&asn1::PEHeader> {
    use asn1::ProfileElement as P;
    Some(match pe {
        P::header(_) => return None,
        P::genericFileManagement(x) => &x.gfm_header,
        P::pinCodes(x) => &x.pin_header,
        P::pukCodes(x) => &x.puk_header,
        P::akaParameter(x) => &x.aka_header,
        P::cdmaParameter(x) => &x.cdma_header,
        P::securityDomain(x) => &x.sd_header,
        P::rfm(x) => &x.rfm_header,
        P::application(x) => &x.app_header,
        P::nonStandard(x) => &x.non_standard_header,
        P::end(x) => &x.end_header,
        P::rfu1(_) | P::rfu2(_) | P::rfu3(_) | P::rfu4(_) | P::rfu5(_) => return None,
        P::mf(x) => &x.mf_header,
        P::cd(x) => &x.cd_header,
        P::telecom(x) => &x.telecom_header,
        P::usim(x) => &x.usim_header,
        P::opt_usim(x) => &x.optusim_header,
        P::isim(x) => &x.isim_header,
        P::opt_isim(x) => &x.optisim_header,
        P::phonebook(x) => &x.phonebook_header,
        P::gsm_access(x) => &x.gsm_access_header,
        P::csim(x) => &x.csim_header,
        P::opt_csim(x) => &x.optcsim_header,
        P::eap(x) => &x.eap_header,
        P::df_5gs(x) => &x.df_5gs_header,
        P::df_saip(x) => &x.df_saip_header,
        P::df_snpn(x) => &x.df_snpn_header,
        P::df_5gprose(x) => &x.df_5g_prose_header,
        P::iot(x) => &x.iot_header,
        P::opt_iot(x) => &x.optiot_header,
    })
}

/// The `templateID` of a file-system template PE (`mf`, `usim`, …).
pub fn template_id(pe: &asn1::ProfileElement) -> Option<&rasn::types::ObjectIdentifier> {
    use asn1::ProfileElement as P;
    Some(match pe {
        P::mf(x) => &x.template_id,
        P::cd(x) => &x.template_id,
        P::telecom(x) => &x.template_id,
        P::usim(x) => &x.template_id,
        P::opt_usim(x) => &x.template_id,
        P::isim(x) => &x.template_id,
        P::opt_isim(x) => &x.template_id,
        P::phonebook(x) => &x.template_id,
        P::gsm_access(x) => &x.template_id,
        P::csim(x) => &x.template_id,
        P::opt_csim(x) => &x.template_id,
        P::eap(x) => &x.template_id,
        P::df_5gs(x) => &x.template_id,
        P::df_saip(x) => &x.template_id,
        P::df_snpn(x) => &x.template_id,
        P::df_5gprose(x) => &x.template_id,
        P::iot(x) => &x.template_id,
        P::opt_iot(x) => &x.template_id,
        _ => return None,
    })
}

/// The context tag number of a typed element's CHOICE alternative.
pub fn tag_number(pe: &asn1::ProfileElement) -> usize {
    use asn1::ProfileElement as P;
    match pe {
        P::header(_) => 0,
        P::genericFileManagement(_) => 1,
        P::pinCodes(_) => 2,
        P::pukCodes(_) => 3,
        P::akaParameter(_) => 4,
        P::cdmaParameter(_) => 5,
        P::securityDomain(_) => 6,
        P::rfm(_) => 7,
        P::application(_) => 8,
        P::nonStandard(_) => 9,
        P::end(_) => 10,
        P::rfu1(_) => 11,
        P::rfu2(_) => 12,
        P::rfu3(_) => 13,
        P::rfu4(_) => 14,
        P::rfu5(_) => 15,
        P::mf(_) => 16,
        P::cd(_) => 17,
        P::telecom(_) => 18,
        P::usim(_) => 19,
        P::opt_usim(_) => 20,
        P::isim(_) => 21,
        P::opt_isim(_) => 22,
        P::phonebook(_) => 23,
        P::gsm_access(_) => 24,
        P::csim(_) => 25,
        P::opt_csim(_) => 26,
        P::eap(_) => 27,
        P::df_5gs(_) => 28,
        P::df_saip(_) => 29,
        P::df_snpn(_) => 30,
        P::df_5gprose(_) => 31,
        P::iot(_) => 32,
        P::opt_iot(_) => 33,
    }
}

/// Dotted form of an OID ("2.23.143.1.2.1").
pub fn oid_string(oid: &rasn::types::Oid) -> String {
    oid.iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(".")
}

impl ProfileElement {
    /// Decodes one PE from its complete TLV (`tlv` starts at the tag). `index` and `offset` only
    /// serve the error message.
    pub fn decode(index: usize, offset: usize, tag: Tag, tlv: &[u8]) -> Result<Self, SaipError> {
        let Some(pe_type) = pe_type_for_tag(tag) else {
            if tag.class() == esim_codec::ber::Class::Context && tag.is_constructed() {
                return Ok(ProfileElement::Raw(RawElement {
                    tag,
                    bytes: tlv.to_vec(),
                    reason: RawReason::UnknownType,
                }));
            }
            return Err(SaipError::NotAProfileElement { index, offset, tag });
        };
        let pe = decode_typed(tlv).map_err(|detail| SaipError::BadElement {
            index,
            offset,
            tag,
            pe_type,
            detail,
        })?;
        match rasn::der::encode(&pe) {
            Ok(again) if again == tlv => Ok(ProfileElement::Typed(Box::new(pe))),
            _ => Ok(ProfileElement::Raw(RawElement {
                tag,
                bytes: tlv.to_vec(),
                reason: RawReason::NotCanonical,
            })),
        }
    }

    /// The CHOICE alternative name ("header", "opt-usim", …); "unknown" for an undefined tag.
    pub fn type_name(&self) -> &'static str {
        match self {
            ProfileElement::Typed(pe) => PE_TYPE_NAMES[tag_number(pe)],
            ProfileElement::Raw(r) => pe_type_for_tag(r.tag).unwrap_or("unknown"),
        }
    }

    /// The outer tag.
    pub fn tag(&self) -> Tag {
        match self {
            ProfileElement::Typed(pe) => {
                let n = tag_number(pe) as u32;
                if n < 31 {
                    Tag(0xA0 + n)
                } else {
                    Tag(0xBF00 + n)
                }
            }
            ProfileElement::Raw(r) => r.tag,
        }
    }

    /// The typed value, if this element is typed.
    pub fn typed(&self) -> Option<&asn1::ProfileElement> {
        match self {
            ProfileElement::Typed(pe) => Some(pe),
            ProfileElement::Raw(_) => None,
        }
    }

    /// The typed value for modification, if this element is typed.
    pub fn typed_mut(&mut self) -> Option<&mut asn1::ProfileElement> {
        match self {
            ProfileElement::Typed(pe) => Some(pe),
            ProfileElement::Raw(_) => None,
        }
    }

    /// `PEHeader.identification` (`None` for the header, dummies and raw elements of unknown
    /// type).
    pub fn identification(&self) -> Option<u16> {
        match self {
            ProfileElement::Typed(pe) => pe_header(pe).map(|h| h.identification.0),
            ProfileElement::Raw(r) if r.reason == RawReason::NotCanonical => r
                .decode_typed()
                .ok()
                .and_then(|pe| pe_header(&pe).map(|h| h.identification.0)),
            ProfileElement::Raw(_) => None,
        }
    }

    /// The `templateID` in dotted form, for file-system template PEs.
    pub fn template_id(&self) -> Option<String> {
        self.typed().and_then(template_id).map(|o| oid_string(o))
    }

    /// The element's DER bytes (the original bytes for a raw element).
    pub fn to_der(&self, index: usize) -> Result<Vec<u8>, SaipError> {
        match self {
            ProfileElement::Typed(pe) => {
                rasn::der::encode(pe.as_ref()).map_err(|e| SaipError::Encode {
                    index,
                    pe_type: self.type_name(),
                    detail: clean_detail(&e.to_string()),
                })
            }
            ProfileElement::Raw(r) => Ok(r.bytes.clone()),
        }
    }
}
