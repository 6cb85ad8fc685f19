//! GSMA SGP.02 ES5 payloads carried by STORE DATA to the ISD-R (digest §2.7; gaps §1, §6).
//!
//! | tag | function | value | STORE DATA P1 |
//! |---|---|---|---|
//! | `3A01` | certificate of the off-card entity (key establishment 1) | `7F21 …` | `09` |
//! | `3A02` | key establishment parameters (key establishment 2) | `A6 …` | `89` |
//! | `3A03` | EnableProfile | `4F L ISD-P AID` | `88` |
//! | `3A04` | DisableProfile | `4F L ISD-P AID` | `88` |
//! | `3A07` | UpdateConnectivityParameters | opaque (gaps §5) | `88` |
//! | `3A08` | NotificationConfirmation | `4E 02 sequence number` | `89` |
//!
//! The two-byte tags are framed in ONE place, [`frame`] / [`unframe`], with a BER length after
//! them (`docs/spec-choices.md` row 2). `3A01`/`3A02` belong to the key-establishment layer and
//! are carried here as [`Es5Command::Other`].
//!
//! Also here: the NotificationConfirmation response `80 L {4F L AID}*` (ISD-Ps deleted as a
//! consequence) and the default notification `E1 {4C EID, 4D type, 4E seq, [2F AID], [14 IMEI],
//! [6D MEID]}` the eUICC sends to the SM-SR (digest §2.7 "Sec 4.1.1.11").

use esim_codec::ber::{self, Reader, Writer};
use esim_codec::{Aid, Eid, Tag};

use super::store_data::{self, StoreDataP1};
use super::{GpError, status::RegistryEntry};
use crate::apdu::CommandApdu;

/// `3A01`: certificate of the off-card entity (SM-DP or SM-SR), digest §3.2 message 1.
pub const TAG_CERTIFICATE: u16 = 0x3A01;
/// `3A02`: key establishment parameters, digest §3.2 message 2.
pub const TAG_KEY_ESTABLISHMENT: u16 = 0x3A02;
/// `3A03`: EnableProfile.
pub const TAG_ENABLE_PROFILE: u16 = 0x3A03;
/// `3A04`: DisableProfile.
pub const TAG_DISABLE_PROFILE: u16 = 0x3A04;
/// `3A07`: UpdateConnectivityParameters.
pub const TAG_UPDATE_CONNECTIVITY_PARAMETERS: u16 = 0x3A07;
/// `3A08`: NotificationConfirmation.
pub const TAG_NOTIFICATION_CONFIRMATION: u16 = 0x3A08;

/// Frames an ES5 payload: two-byte tag, BER length, value (spec-choices row 2).
pub fn frame(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut out = tag.to_be_bytes().to_vec();
    ber::write_length(&mut out, value.len());
    out.extend_from_slice(value);
    out
}

/// Reads a framed ES5 payload filling `data`: the two-byte tag and the value.
pub fn unframe(data: &[u8]) -> Result<(u16, &[u8]), GpError> {
    let (tag, value) = ber::parse_fixed_tag(data, 2)?;
    // parse_fixed_tag with two bytes yields a tag below 0x10000.
    Ok((tag.0 as u16, value))
}

/// An ES5 STORE DATA payload, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Es5Command {
    /// `3A03 {4F aid}`.
    EnableProfile {
        /// The ISD-P to enable.
        isdp_aid: Aid,
    },
    /// `3A04 {4F aid}`.
    DisableProfile {
        /// The ISD-P to disable.
        isdp_aid: Aid,
    },
    /// `3A07 {…}`; the content is not public (gaps §5) and kept as bytes.
    UpdateConnectivityParameters {
        /// The value of `3A07`.
        parameters: Vec<u8>,
    },
    /// `3A08 {4E 02 seq}`.
    NotificationConfirmation {
        /// Sequence number of the notification being confirmed.
        sequence: u16,
    },
    /// Any other `3Axx` (notably `3A01`/`3A02`, decoded by the key-establishment layer).
    Other {
        /// The two-byte tag.
        tag: u16,
        /// The value.
        value: Vec<u8>,
    },
}

impl Es5Command {
    /// The framed payload.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Es5Command::EnableProfile { isdp_aid } => {
                frame(TAG_ENABLE_PROFILE, &ber::tlv(0x4Fu8, isdp_aid.as_bytes()))
            }
            Es5Command::DisableProfile { isdp_aid } => {
                frame(TAG_DISABLE_PROFILE, &ber::tlv(0x4Fu8, isdp_aid.as_bytes()))
            }
            Es5Command::UpdateConnectivityParameters { parameters } => {
                frame(TAG_UPDATE_CONNECTIVITY_PARAMETERS, parameters)
            }
            Es5Command::NotificationConfirmation { sequence } => frame(
                TAG_NOTIFICATION_CONFIRMATION,
                &ber::tlv(0x4Eu8, &sequence.to_be_bytes()),
            ),
            Es5Command::Other { tag, value } => frame(*tag, value),
        }
    }

    /// Decodes a framed payload (the whole STORE DATA data, or the reassembled chain).
    pub fn decode(data: &[u8]) -> Result<Self, GpError> {
        let (tag, value) = unframe(data)?;
        let base = data.len() - value.len();
        let single = |t: u8| -> Result<&[u8], GpError> {
            let mut r = Reader::with_offset(value, base);
            let tlv = r.read_tag(t)?;
            r.finish()?;
            Ok(tlv.value)
        };
        let aid = |t: u8| -> Result<Aid, GpError> {
            let v = single(t)?;
            Aid::new(v).map_err(|source| GpError::Aid {
                offset: base + 2,
                source,
            })
        };
        Ok(match tag {
            TAG_ENABLE_PROFILE => Es5Command::EnableProfile {
                isdp_aid: aid(0x4F)?,
            },
            TAG_DISABLE_PROFILE => Es5Command::DisableProfile {
                isdp_aid: aid(0x4F)?,
            },
            TAG_UPDATE_CONNECTIVITY_PARAMETERS => Es5Command::UpdateConnectivityParameters {
                parameters: value.to_vec(),
            },
            TAG_NOTIFICATION_CONFIRMATION => {
                let v = single(0x4E)?;
                let seq: [u8; 2] = v.try_into().map_err(|_| GpError::BadField {
                    offset: base + 2,
                    field: "4E sequence number",
                    reason: format!("must be 2 bytes, got {}", v.len()),
                })?;
                Es5Command::NotificationConfirmation {
                    sequence: u16::from_be_bytes(seq),
                }
            }
            tag => Es5Command::Other {
                tag,
                value: value.to_vec(),
            },
        })
    }

    /// The STORE DATA P1 SGP.02 servers use for this payload as the last block: `89` when the
    /// card answers with data (notification confirmation, key establishment), `88` otherwise.
    pub fn store_data_p1(&self) -> StoreDataP1 {
        match self {
            Es5Command::NotificationConfirmation { .. } => StoreDataP1::sgp02_last_with_response(),
            Es5Command::Other { tag, .. }
                if *tag == TAG_KEY_ESTABLISHMENT || *tag == TAG_CERTIFICATE =>
            {
                StoreDataP1::sgp02_last_with_response()
            }
            _ => StoreDataP1::sgp02_last(),
        }
    }

    /// The STORE DATA command(s) carrying this payload, split in blocks of `max_block` bytes.
    pub fn to_commands(&self, max_block: usize) -> Result<Vec<CommandApdu>, GpError> {
        store_data::split(self.store_data_p1(), &self.encode(), max_block)
    }
}

/// The NotificationConfirmation response: `80 L {4F L AID}*`, the ISD-Ps deleted because the
/// confirmation completed a POL1 "delete when disabled" (digest §2.7).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotificationConfirmationResponse {
    /// AIDs of the deleted ISD-Ps (possibly none).
    pub deleted: Vec<Aid>,
}

impl NotificationConfirmationResponse {
    /// The response data.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.constructed(0x80u8, |w| {
            for a in &self.deleted {
                w.put(0x4Fu8, a.as_bytes());
            }
        });
        w.into_bytes()
    }

    /// Decodes the response data.
    pub fn decode(data: &[u8]) -> Result<Self, GpError> {
        let outer = ber::parse_one(data)?.expect_tag(0x80u8)?;
        let mut deleted = Vec::new();
        for t in Reader::with_offset(outer.value, outer.value_offset) {
            let t = t?.expect_tag(0x4Fu8)?;
            deleted.push(Aid::new(t.value).map_err(|source| GpError::Aid {
                offset: t.value_offset,
                source,
            })?);
        }
        Ok(NotificationConfirmationResponse { deleted })
    }
}

/// Notification types (`4D`, digest §2.7, gaps §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationType {
    /// `01`: eUICC declaration (first network attach).
    EuiccDeclaration,
    /// `02`: profile change succeeded.
    ProfileChangeSucceeded,
    /// `03`: profile change failed, roll-back done.
    ProfileChangeFailedRolledBack,
    /// `04`: void.
    Void,
    /// `05`: profile change after fall-back.
    ProfileChangeAfterFallback,
    /// Anything else (RFU).
    Other(u8),
}

impl NotificationType {
    /// From the `4D` byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            1 => NotificationType::EuiccDeclaration,
            2 => NotificationType::ProfileChangeSucceeded,
            3 => NotificationType::ProfileChangeFailedRolledBack,
            4 => NotificationType::Void,
            5 => NotificationType::ProfileChangeAfterFallback,
            b => NotificationType::Other(b),
        }
    }

    /// The `4D` byte.
    pub fn to_byte(self) -> u8 {
        match self {
            NotificationType::EuiccDeclaration => 1,
            NotificationType::ProfileChangeSucceeded => 2,
            NotificationType::ProfileChangeFailedRolledBack => 3,
            NotificationType::Void => 4,
            NotificationType::ProfileChangeAfterFallback => 5,
            NotificationType::Other(b) => b,
        }
    }
}

/// The default notification `E1` (digest §2.7, gaps §6). The AID, IMEI and MEID tags are
/// ETSI TS 102 223 COMPREHENSION-TLV tags, accepted with or without the comprehension-required
/// bit (`2F`/`AF`, `14`/`94`, `6D`/`ED`) and written without it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// `4C`: the EID (16 bytes BCD).
    pub eid: Eid,
    /// `4D`: the type.
    pub kind: NotificationType,
    /// `4E`: sequence number (2 bytes).
    pub sequence: u16,
    /// `2F`: the ISD-P concerned.
    pub isdp_aid: Option<Aid>,
    /// `14`: IMEI as TS 102 223 codes it (kept as bytes).
    pub imei: Option<Vec<u8>>,
    /// `6D`: MEID (kept as bytes).
    pub meid: Option<Vec<u8>>,
    /// Other TLVs in the template, in order.
    pub other: Vec<(Tag, Vec<u8>)>,
}

impl Notification {
    /// The `E1` TLV.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.constructed(0xE1u8, |w| {
            w.put(0x4Cu8, &self.eid.to_bcd());
            w.put(0x4Du8, &[self.kind.to_byte()]);
            w.put(0x4Eu8, &self.sequence.to_be_bytes());
            if let Some(a) = &self.isdp_aid {
                w.put(0x2Fu8, a.as_bytes());
            }
            if let Some(i) = &self.imei {
                w.put(0x14u8, i);
            }
            if let Some(m) = &self.meid {
                w.put(0x6Du8, m);
            }
            for (t, v) in &self.other {
                w.put(*t, v);
            }
        });
        w.into_bytes()
    }

    /// Decodes an `E1` TLV filling `data`.
    pub fn decode(data: &[u8]) -> Result<Self, GpError> {
        let e1 = ber::parse_one(data)?.expect_tag(0xE1u8)?;
        let mut eid = None;
        let mut kind = None;
        let mut sequence = None;
        let mut isdp_aid = None;
        let mut imei = None;
        let mut meid = None;
        let mut other = Vec::new();
        for t in e1.children() {
            let t = t?;
            let field_err = |field: &'static str, reason: String| GpError::BadField {
                offset: t.value_offset,
                field,
                reason,
            };
            let dup = |field: &'static str| field_err(field, "repeated".into());
            match t.tag.0 {
                0x4C => {
                    if eid.is_some() {
                        return Err(dup("4C EID"));
                    }
                    eid = Some(
                        Eid::from_bcd(t.value).map_err(|e| field_err("4C EID", e.to_string()))?,
                    );
                }
                0x4D => {
                    let [b] = *t.value else {
                        return Err(field_err("4D type", "must be 1 byte".into()));
                    };
                    if kind.replace(NotificationType::from_byte(b)).is_some() {
                        return Err(dup("4D type"));
                    }
                }
                0x4E => {
                    let [a, b] = *t.value else {
                        return Err(field_err("4E sequence number", "must be 2 bytes".into()));
                    };
                    if sequence.replace(u16::from_be_bytes([a, b])).is_some() {
                        return Err(dup("4E sequence number"));
                    }
                }
                0x2F | 0xAF => {
                    let aid = Aid::new(t.value).map_err(|source| GpError::Aid {
                        offset: t.value_offset,
                        source,
                    })?;
                    if isdp_aid.replace(aid).is_some() {
                        return Err(dup("2F AID"));
                    }
                }
                0x14 | 0x94 => {
                    if imei.replace(t.value.to_vec()).is_some() {
                        return Err(dup("14 IMEI"));
                    }
                }
                0x6D | 0xED => {
                    if meid.replace(t.value.to_vec()).is_some() {
                        return Err(dup("6D MEID"));
                    }
                }
                _ => other.push((t.tag, t.value.to_vec())),
            }
        }
        let missing = |tag: u32| {
            GpError::Tlv(esim_codec::DecodeError::new(
                e1.offset,
                esim_codec::DecodeErrorKind::MissingTag(Tag(tag)),
            ))
        };
        Ok(Notification {
            eid: eid.ok_or_else(|| missing(0x4C))?,
            kind: kind.ok_or_else(|| missing(0x4D))?,
            sequence: sequence.ok_or_else(|| missing(0x4E))?,
            isdp_aid,
            imei,
            meid,
            other,
        })
    }
}

/// Whether a GET STATUS entry describes an SGP.02 ISD-P (its AID has the SGP.02 prefix and a TAR
/// in the ISD-P range, digest §1.2).
pub fn is_isdp(entry: &RegistryEntry) -> bool {
    entry.aid.sgp02_tar().is_some_and(|t| t.is_isd_p_range())
}

#[cfg(test)]
mod tests {
    use super::*;
    use esim_codec::Tar;
    use esim_codec::hex::decode as h;

    fn aid() -> Aid {
        Aid::isd_p(Tar([0, 0, 0x10]))
    }

    #[test]
    fn enable_disable() {
        let e = Es5Command::EnableProfile { isdp_aid: aid() };
        let cmds = e.to_commands(255).unwrap();
        assert_eq!(cmds.len(), 1);
        assert_eq!(
            cmds[0].encode().unwrap(),
            h("80E28800153A03124F10A0000005591010FFFFFFFF8900001000").unwrap()
        );
        assert_eq!(Es5Command::decode(&cmds[0].data).unwrap(), e);
        let d = Es5Command::DisableProfile { isdp_aid: aid() };
        assert_eq!(&d.encode()[..2], &[0x3A, 0x04]);
        assert_eq!(Es5Command::decode(&d.encode()).unwrap(), d);
    }

    #[test]
    fn notification_confirmation() {
        let c = Es5Command::NotificationConfirmation { sequence: 0x0102 };
        let cmds = c.to_commands(255).unwrap();
        assert_eq!(
            cmds[0].encode().unwrap(),
            h("80E28900073A08044E02010200").unwrap()
        );
        assert_eq!(Es5Command::decode(&cmds[0].data).unwrap(), c);
        let r = NotificationConfirmationResponse {
            deleted: vec![aid()],
        };
        let enc = r.encode();
        assert_eq!(enc, h("80124F10A0000005591010FFFFFFFF8900001000").unwrap());
        assert_eq!(NotificationConfirmationResponse::decode(&enc).unwrap(), r);
        assert_eq!(
            NotificationConfirmationResponse::decode(&[0x80, 0x00]).unwrap(),
            NotificationConfirmationResponse::default()
        );
        // Sequence number of one byte.
        let bad = h("3A08034E0101").unwrap();
        assert!(matches!(
            Es5Command::decode(&bad),
            Err(GpError::BadField { .. })
        ));
        // Extra TLV after 4F.
        let bad = h("3A03094F05A0000005598001").unwrap();
        assert!(Es5Command::decode(&bad).is_err());
    }

    #[test]
    fn default_notification() {
        let eid = Eid::parse("89001039240180124400000000000157").unwrap();
        let n = Notification {
            eid: eid.clone(),
            kind: NotificationType::ProfileChangeSucceeded,
            sequence: 7,
            isdp_aid: Some(aid()),
            imei: Some(h("3512345678901234").unwrap()),
            meid: None,
            other: Vec::new(),
        };
        let enc = n.encode();
        assert_eq!(
            &enc[..25],
            &h("E1354C10890010392401801244000000000001574D01024E020007").unwrap()[..25]
        );
        assert_eq!(Notification::decode(&enc).unwrap(), n);
        // Comprehension-required variants of the tags.
        let alt = h(concat!(
            "E12B",
            "4C1089001039240180124400000000000157",
            "4D0101",
            "4E020001",
            "AF10A0000005591010FFFFFFFF8900001000"
        ))
        .unwrap();
        let d = Notification::decode(&alt).unwrap();
        assert_eq!(d.kind, NotificationType::EuiccDeclaration);
        assert_eq!(d.isdp_aid, Some(aid()));
        let missing = h("E1054D01014E").unwrap();
        assert!(Notification::decode(&missing).is_err());
        let no_seq = h("E1154C10890010392401801244000000000001574D0101").unwrap();
        let e = Notification::decode(&no_seq).unwrap_err();
        assert!(e.to_string().contains("4E"), "{e}");
    }

    #[test]
    fn unknown_tags_pass_through() {
        let o = Es5Command::Other {
            tag: 0x3A01,
            value: vec![0x7F, 0x21, 0x00],
        };
        assert_eq!(o.store_data_p1().to_byte(), 0x89);
        assert_eq!(Es5Command::decode(&o.encode()).unwrap(), o);
        let big = Es5Command::UpdateConnectivityParameters {
            parameters: vec![0xA0; 300],
        };
        let enc = big.encode();
        assert_eq!(&enc[..4], &[0x3A, 0x07, 0x82, 0x01]);
        assert_eq!(Es5Command::decode(&enc).unwrap(), big);
        assert_eq!(big.to_commands(255).unwrap().len(), 2);
    }
}
