//! GET STATUS (GlobalPlatform Card Specification v2.3 §11.4) and SET STATUS (§11.10).
//!
//! GET STATUS `80 F2 P1 P2`:
//! * P1 (Table 11-33): `80` issuer security domain, `40` applications and security domains,
//!   `20` executable load files, `10` executable load files and their modules.
//! * P2 (Table 11-34): b2 = 1 TLV response format (the only one supported here), b1 = 0 first
//!   or all occurrences, 1 next occurrence (after `6310`).
//! * Data: search criteria `4F L AID-prefix` (`4F 00` = every entry), optional tag list `5C`.
//! * Response: one `E3` template per entry (Table 11-36): `4F` AID, `9F70` life-cycle state,
//!   `C5` privileges; SGP.02 adds for ISD-Ps `53` profile properties (b1 = Fall-back Attribute),
//!   `8F` cumulative granted non-volatile memory and `91` cumulative remaining memory (gaps §1,
//!   "Table 28 SGP.02 v4.1" as Njiwa reads it).
//!
//! SET STATUS `80 F0 P1 P2`: P1 (Table 11-78) `80` card (issuer security domain), `40`
//! application or security domain, `60` security domain and its associated applications; P2 the
//! new life-cycle coding; data the target AID (absent for the card).

use esim_codec::Aid;
use esim_codec::Tag;
use esim_codec::ber::{Reader, Writer};

use super::{CLA_GP, GpError, Privileges, check_header, ins};
use crate::apdu::CommandApdu;

/// What GET STATUS reports on (P1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusSubset {
    /// `80`: the issuer security domain (SGP.02: the ISD-R).
    IssuerSecurityDomain,
    /// `40`: applications, including security domains (SGP.02: the ISD-Ps).
    Applications,
    /// `20`: executable load files.
    LoadFiles,
    /// `10`: executable load files and their executable modules.
    LoadFilesAndModules,
}

impl StatusSubset {
    /// P1.
    pub fn p1(self) -> u8 {
        match self {
            StatusSubset::IssuerSecurityDomain => 0x80,
            StatusSubset::Applications => 0x40,
            StatusSubset::LoadFiles => 0x20,
            StatusSubset::LoadFilesAndModules => 0x10,
        }
    }

    /// From P1.
    pub fn from_p1(p1: u8) -> Option<Self> {
        match p1 {
            0x80 => Some(StatusSubset::IssuerSecurityDomain),
            0x40 => Some(StatusSubset::Applications),
            0x20 => Some(StatusSubset::LoadFiles),
            0x10 => Some(StatusSubset::LoadFilesAndModules),
            _ => None,
        }
    }
}

/// P2 b2: response in TLV format.
pub const P2_TLV: u8 = 0x02;
/// P2 b1: get the next occurrence.
pub const P2_NEXT: u8 = 0x01;

/// A GET STATUS command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetStatus {
    /// P1.
    pub subset: StatusSubset,
    /// P2 b1: continue after `6310`.
    pub next_occurrence: bool,
    /// Value of `4F` in the search criteria: an AID or AID prefix; empty = every entry.
    pub aid_filter: Vec<u8>,
    /// Value of `5C`: the tags wanted in each entry; `None` = the default set.
    pub tag_list: Option<Vec<u8>>,
}

impl GetStatus {
    /// Every entry of `subset`.
    pub fn all(subset: StatusSubset) -> Self {
        GetStatus {
            subset,
            next_occurrence: false,
            aid_filter: Vec::new(),
            tag_list: None,
        }
    }

    /// The entry (or entries) whose AID starts with `aid` (SGP.02 audit of one ISD-P).
    pub fn for_aid(subset: StatusSubset, aid: &Aid) -> Self {
        GetStatus {
            aid_filter: aid.as_bytes().to_vec(),
            ..Self::all(subset)
        }
    }

    /// The same request for the next occurrence (after `6310`).
    pub fn next(&self) -> Self {
        GetStatus {
            next_occurrence: true,
            ..self.clone()
        }
    }

    /// The command (`Le = 00`).
    pub fn to_command(&self) -> CommandApdu {
        let mut w = Writer::new();
        w.put(0x4Fu8, &self.aid_filter);
        if let Some(tags) = &self.tag_list {
            w.put(0x5Cu8, tags);
        }
        let p2 = P2_TLV | if self.next_occurrence { P2_NEXT } else { 0 };
        CommandApdu::new(CLA_GP, ins::GET_STATUS, self.subset.p1(), p2)
            .with_data(w.into_bytes())
            .with_le(256)
    }

    /// Parses a GET STATUS command (card side).
    pub fn parse(cmd: &CommandApdu) -> Result<Self, GpError> {
        check_header(cmd, ins::GET_STATUS)?;
        let subset = StatusSubset::from_p1(cmd.p1).ok_or(GpError::BadP1 {
            command: "GET STATUS",
            p1: cmd.p1,
        })?;
        if cmd.p2 & !P2_NEXT != P2_TLV {
            return Err(GpError::BadP2 {
                command: "GET STATUS",
                p2: cmd.p2,
            });
        }
        let mut r = Reader::new(&cmd.data);
        let filter = r.read_tag(0x4Fu8)?;
        if filter.value.len() > 16 {
            return Err(GpError::BadField {
                offset: filter.value_offset,
                field: "4F search criterion",
                reason: "longer than an AID".into(),
            });
        }
        let tag_list = r.read_optional(0x5Cu8)?.map(|t| t.value.to_vec());
        r.finish()?;
        Ok(GetStatus {
            subset,
            next_occurrence: cmd.p2 & P2_NEXT != 0,
            aid_filter: filter.value.to_vec(),
            tag_list,
        })
    }
}

/// SGP.02 profile properties (`53`) bit b1: the Fall-back Attribute is set (gaps §1).
pub const PROFILE_PROPERTY_FALLBACK: u8 = 0x01;

/// One `E3` entry of a GET STATUS response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEntry {
    /// `4F`: the AID.
    pub aid: Aid,
    /// `9F70`: life-cycle state (see [`super::life_cycle`], [`super::IsdpState`]).
    pub life_cycle: u8,
    /// `C5`: privileges.
    pub privileges: Option<Privileges>,
    /// `53`: SGP.02 profile properties (first byte b1 = Fall-back Attribute).
    pub profile_properties: Option<Vec<u8>>,
    /// `8F`: cumulative granted non-volatile memory (bytes).
    pub granted_memory: Option<u32>,
    /// `91`: cumulative remaining non-volatile memory (bytes).
    pub remaining_memory: Option<u32>,
    /// Any other TLV of the entry (`CC` associated security domain, `C4`, `CE`, `84`, …).
    pub other: Vec<(Tag, Vec<u8>)>,
}

impl RegistryEntry {
    /// An entry with only an AID and a life-cycle state.
    pub fn new(aid: Aid, life_cycle: u8) -> Self {
        RegistryEntry {
            aid,
            life_cycle,
            privileges: None,
            profile_properties: None,
            granted_memory: None,
            remaining_memory: None,
            other: Vec::new(),
        }
    }

    /// Whether `53` marks the Fall-back Attribute.
    pub fn is_fallback(&self) -> bool {
        self.profile_properties
            .as_deref()
            .and_then(|p| p.first())
            .is_some_and(|b| b & PROFILE_PROPERTY_FALLBACK != 0)
    }

    /// Appends the `E3` template.
    pub fn write(&self, w: &mut Writer) {
        w.constructed(0xE3u8, |w| {
            w.put(0x4Fu8, self.aid.as_bytes());
            w.put(0x9F70u16, &[self.life_cycle]);
            if let Some(p) = self.privileges {
                w.put(0xC5u8, &p.0);
            }
            if let Some(p) = &self.profile_properties {
                w.put(0x53u8, p);
            }
            if let Some(m) = self.granted_memory {
                w.put(0x8Fu8, &minimal_be(m));
            }
            if let Some(m) = self.remaining_memory {
                w.put(0x91u8, &minimal_be(m));
            }
            for (t, v) in &self.other {
                w.put(*t, v);
            }
        });
    }

    /// Decodes one `E3` value.
    fn from_tlv(e3: &esim_codec::Tlv<'_>) -> Result<Self, GpError> {
        let mut aid = None;
        let mut life_cycle = None;
        let mut entry = RegistryEntry::new(Aid::isd_r(), 0);
        for t in e3.children() {
            let t = t?;
            let dup = || GpError::BadField {
                offset: t.offset,
                field: "E3 entry",
                reason: format!("tag {} repeated", t.tag),
            };
            match t.tag.0 {
                0x4F => {
                    if aid.is_some() {
                        return Err(dup());
                    }
                    aid = Some(Aid::new(t.value).map_err(|source| GpError::Aid {
                        offset: t.value_offset,
                        source,
                    })?);
                }
                0x9F70 => {
                    if life_cycle.is_some() {
                        return Err(dup());
                    }
                    let [b] = *t.value else {
                        return Err(bad_len(&t, "9F70 life cycle", "must be 1 byte"));
                    };
                    life_cycle = Some(b);
                }
                0xC5 => {
                    if entry.privileges.is_some() {
                        return Err(dup());
                    }
                    entry.privileges = Some(
                        Privileges::from_field(t.value)
                            .ok_or_else(|| bad_len(&t, "C5 privileges", "must be 1 or 3 bytes"))?,
                    );
                }
                0x53 => {
                    if entry.profile_properties.is_some() {
                        return Err(dup());
                    }
                    entry.profile_properties = Some(t.value.to_vec());
                }
                0x8F | 0x91 => {
                    let slot = if t.tag.0 == 0x8F {
                        &mut entry.granted_memory
                    } else {
                        &mut entry.remaining_memory
                    };
                    if slot.is_some() {
                        return Err(dup());
                    }
                    if t.value.is_empty() || t.value.len() > 4 {
                        return Err(bad_len(&t, "memory", "must be 1 to 4 bytes"));
                    }
                    *slot = Some(t.value.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)));
                }
                _ => entry.other.push((t.tag, t.value.to_vec())),
            }
        }
        entry.aid = aid.ok_or(GpError::Tlv(esim_codec::DecodeError::new(
            e3.offset,
            esim_codec::DecodeErrorKind::MissingTag(Tag(0x4F)),
        )))?;
        entry.life_cycle = life_cycle.ok_or(GpError::Tlv(esim_codec::DecodeError::new(
            e3.offset,
            esim_codec::DecodeErrorKind::MissingTag(Tag(0x9F70)),
        )))?;
        Ok(entry)
    }
}

fn bad_len(t: &esim_codec::Tlv<'_>, field: &'static str, reason: &str) -> GpError {
    GpError::BadField {
        offset: t.value_offset,
        field,
        reason: reason.to_string(),
    }
}

fn minimal_be(v: u32) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = b.iter().take(3).take_while(|&&x| x == 0).count();
    b[skip..].to_vec()
}

/// Encodes a GET STATUS response body (the `E3` templates, without the status word).
pub fn encode_entries(entries: &[RegistryEntry]) -> Vec<u8> {
    let mut w = Writer::new();
    for e in entries {
        e.write(&mut w);
    }
    w.into_bytes()
}

/// Decodes a GET STATUS response body: zero or more `E3` templates.
pub fn parse_entries(data: &[u8]) -> Result<Vec<RegistryEntry>, GpError> {
    Reader::new(data)
        .map(|t| {
            let t = t?.expect_tag(0xE3u8)?;
            RegistryEntry::from_tlv(&t)
        })
        .collect()
}

/// What SET STATUS changes (P1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetStatusTarget {
    /// `80`: the card life cycle (issuer security domain); no data.
    Card,
    /// `40`: one application or security domain.
    Application(Aid),
    /// `60`: a security domain and its associated applications.
    SecurityDomainAndApplications(Aid),
}

/// A SET STATUS command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetStatus {
    /// P1 and the data field.
    pub target: SetStatusTarget,
    /// P2: the new life-cycle coding.
    pub state: u8,
}

impl SetStatus {
    /// The command.
    pub fn to_command(&self) -> CommandApdu {
        let (p1, data) = match &self.target {
            SetStatusTarget::Card => (0x80, Vec::new()),
            SetStatusTarget::Application(a) => (0x40, a.as_bytes().to_vec()),
            SetStatusTarget::SecurityDomainAndApplications(a) => (0x60, a.as_bytes().to_vec()),
        };
        CommandApdu::new(CLA_GP, ins::SET_STATUS, p1, self.state).with_data(data)
    }

    /// Parses a SET STATUS command (card side).
    pub fn parse(cmd: &CommandApdu) -> Result<Self, GpError> {
        check_header(cmd, ins::SET_STATUS)?;
        let aid = || Aid::new(&cmd.data).map_err(|source| GpError::Aid { offset: 0, source });
        let target = match cmd.p1 {
            0x80 => {
                if !cmd.data.is_empty() {
                    return Err(GpError::TrailingBytes {
                        offset: 0,
                        count: cmd.data.len(),
                    });
                }
                SetStatusTarget::Card
            }
            0x40 => SetStatusTarget::Application(aid()?),
            0x60 => SetStatusTarget::SecurityDomainAndApplications(aid()?),
            p1 => {
                return Err(GpError::BadP1 {
                    command: "SET STATUS",
                    p1,
                });
            }
        };
        Ok(SetStatus {
            target,
            state: cmd.p2,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gp::{IsdpState, life_cycle};
    use esim_codec::Tar;
    use esim_codec::hex::decode as h;

    #[test]
    fn get_status_commands() {
        let aid = Aid::isd_p(Tar([0, 0, 0x10]));
        let cmd = GetStatus::for_aid(StatusSubset::Applications, &aid).to_command();
        assert_eq!(
            cmd.encode().unwrap(),
            h("80F24002124F10A0000005591010FFFFFFFF890000100000").unwrap()
        );
        assert_eq!(GetStatus::parse(&cmd).unwrap().aid_filter, aid.as_bytes());
        let mut all = GetStatus::all(StatusSubset::Applications);
        all.tag_list = Some(vec![0x4F, 0x9F, 0x70, 0x53]);
        let next = all.next();
        let cmd = next.to_command();
        assert_eq!(
            cmd.encode().unwrap(),
            h("80F24003084F005C044F9F705300").unwrap()
        );
        assert_eq!(GetStatus::parse(&cmd).unwrap(), next);
        let mut bad = cmd.clone();
        bad.p2 = 0x00;
        assert!(matches!(
            GetStatus::parse(&bad),
            Err(GpError::BadP2 { p2: 0, .. })
        ));
    }

    #[test]
    fn entries_round_trip() {
        let mut e1 = RegistryEntry::new(Aid::isd_p(Tar([0, 0, 0x10])), life_cycle::ENABLED);
        e1.privileges = Some(Privileges::ISD_P);
        e1.profile_properties = Some(vec![PROFILE_PROPERTY_FALLBACK]);
        e1.granted_memory = Some(0x8000);
        e1.remaining_memory = Some(0x1234);
        let e2 = RegistryEntry::new(Aid::isd_p(Tar([0, 0, 0x11])), life_cycle::DISABLED);
        let bytes = encode_entries(&[e1.clone(), e2.clone()]);
        assert_eq!(
            &bytes[..32],
            &h("E3264F10A0000005591010FFFFFFFF89000010009F70013FC50380C000530101").unwrap()[..]
        );
        let parsed = parse_entries(&bytes).unwrap();
        assert_eq!(parsed, [e1, e2]);
        assert!(parsed[0].is_fallback());
        assert_eq!(
            IsdpState::from_byte(parsed[1].life_cycle),
            IsdpState::Disabled
        );
        // A missing 9F70 is reported with its tag.
        let bad = h("E3124F10A0000005591010FFFFFFFF8900001000").unwrap();
        let e = parse_entries(&bad).unwrap_err();
        assert!(e.to_string().contains("9F70"), "{e}");
        assert!(parse_entries(&h("E1024F00").unwrap()).is_err());
    }

    #[test]
    fn set_status() {
        let aid = Aid::isd_p(Tar([0, 0, 0x10]));
        let s = SetStatus {
            target: SetStatusTarget::Application(aid),
            state: 0x83,
        };
        let cmd = s.to_command();
        assert_eq!(&cmd.encode().unwrap()[..5], &[0x80, 0xF0, 0x40, 0x83, 0x10]);
        assert_eq!(SetStatus::parse(&cmd).unwrap(), s);
        let card = SetStatus {
            target: SetStatusTarget::Card,
            state: life_cycle::CARD_LOCKED,
        };
        assert_eq!(SetStatus::parse(&card.to_command()).unwrap(), card);
    }
}
