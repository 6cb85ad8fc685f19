//! GET DATA (GlobalPlatform Card Specification v2.3 §11.3; ETSI TS 102 226 §8.2.1.7):
//! `80 CA P1 P2`, P1‖P2 = the tag of the data object, optional data `5C L tag list`.
//!
//! SGP.02 uses it during audit (digest §2.7): `80 CA BF 30` with `5C 02 7F 21` to read the
//! ECASD certificate, and `80 CA FF 21` for the extended card resources (TS 102 226
//! §8.2.1.7.2: `FF21 {81 installed applications, 82 free non-volatile memory, 83 free volatile
//! memory}`).

use esim_codec::ber::{self, Reader, Writer};

use super::{GpError, ins};
use crate::apdu::CommandApdu;

/// Tag of the extended card resources information (TS 102 226 §8.2.1.7.2).
pub const TAG_CARD_RESOURCES: u16 = 0xFF21;
/// Tag SGP.02 reads with GET DATA during an audit (digest §2.7).
pub const TAG_SGP02_BF30: u16 = 0xBF30;
/// Tag of a GP Amendment E certificate (SGP.02 ECASD certificate).
pub const TAG_CERTIFICATE: u16 = 0x7F21;

/// A GET DATA command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetData {
    /// Class byte (`80` for GlobalPlatform data objects; `00` is accepted on parse).
    pub cla: u8,
    /// P1‖P2: the tag asked for.
    pub tag: u16,
    /// Value of `5C` (tag list), if sent.
    pub tag_list: Option<Vec<u8>>,
}

impl GetData {
    /// `80 CA tag` without a tag list.
    pub fn new(tag: u16) -> Self {
        GetData {
            cla: super::CLA_GP,
            tag,
            tag_list: None,
        }
    }

    /// `80 CA tag` with `5C` listing `tags` (concatenated encoded tags).
    pub fn with_tag_list(tag: u16, tags: &[u8]) -> Self {
        GetData {
            tag_list: Some(tags.to_vec()),
            ..Self::new(tag)
        }
    }

    /// The command (`Le = 00`).
    pub fn to_command(&self) -> CommandApdu {
        let [p1, p2] = self.tag.to_be_bytes();
        let cmd = CommandApdu::new(self.cla, ins::GET_DATA, p1, p2).with_le(256);
        match &self.tag_list {
            Some(t) => cmd.with_data(ber::tlv(0x5Cu8, t)),
            None => cmd,
        }
    }

    /// Parses a GET DATA command (card side): any valid class (ISO `0X` or GlobalPlatform `8X`);
    /// the data field is empty or one `5C` TLV.
    pub fn parse(cmd: &CommandApdu) -> Result<Self, GpError> {
        if cmd.cla == 0xFF {
            return Err(GpError::WrongCla(cmd.cla));
        }
        if cmd.ins != ins::GET_DATA {
            return Err(GpError::WrongIns {
                expected: ins::GET_DATA,
                found: cmd.ins,
            });
        }
        let tag_list = if cmd.data.is_empty() {
            None
        } else {
            let t = ber::parse_one(&cmd.data)?.expect_tag(0x5Cu8)?;
            Some(t.value.to_vec())
        };
        Ok(GetData {
            cla: cmd.cla,
            tag: u16::from_be_bytes([cmd.p1, cmd.p2]),
            tag_list,
        })
    }
}

/// Checks that a GET DATA response is exactly one TLV with `tag` and returns its value.
pub fn parse_response(tag: u16, data: &[u8]) -> Result<&[u8], GpError> {
    Ok(ber::parse_one(data)?.expect_tag(tag)?.value)
}

/// Extended card resources (TS 102 226 §8.2.1.7.2, tag `FF21`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CardResources {
    /// `81`: number of installed applications.
    pub installed_applications: u32,
    /// `82`: free non-volatile memory (bytes).
    pub free_non_volatile: u32,
    /// `83`: free volatile memory (bytes).
    pub free_volatile: u32,
}

impl CardResources {
    /// The `FF21` TLV (numbers big-endian: `81` in at least one byte, `82`/`83` in at least two).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.constructed(TAG_CARD_RESOURCES, |w| {
            w.put(0x81u8, &be_min(self.installed_applications, 1));
            w.put(0x82u8, &be_min(self.free_non_volatile, 2));
            w.put(0x83u8, &be_min(self.free_volatile, 2));
        });
        w.into_bytes()
    }

    /// Decodes the `FF21` TLV (the whole GET DATA response body).
    pub fn decode(data: &[u8]) -> Result<Self, GpError> {
        let ff21 = ber::parse_one(data)?.expect_tag(TAG_CARD_RESOURCES)?;
        let mut r = Reader::with_offset(ff21.value, ff21.value_offset);
        let mut num = |tag: u8, field: &'static str| -> Result<u32, GpError> {
            let t = r.read_tag(tag)?;
            if t.value.is_empty() || t.value.len() > 4 {
                return Err(GpError::BadField {
                    offset: t.value_offset,
                    field,
                    reason: "must be 1 to 4 bytes".into(),
                });
            }
            Ok(t.value.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)))
        };
        let out = CardResources {
            installed_applications: num(0x81, "81 installed applications")?,
            free_non_volatile: num(0x82, "82 free non-volatile memory")?,
            free_volatile: num(0x83, "83 free volatile memory")?,
        };
        r.finish()?;
        Ok(out)
    }
}

fn be_min(v: u32, min: usize) -> Vec<u8> {
    let b = v.to_be_bytes();
    let skip = b.iter().take_while(|&&x| x == 0).count().min(4 - min);
    b[skip..].to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use esim_codec::hex::decode as h;

    #[test]
    fn audit_commands() {
        let cmd = GetData::with_tag_list(TAG_SGP02_BF30, &[0x7F, 0x21]).to_command();
        assert_eq!(cmd.encode().unwrap(), h("80CABF30045C027F2100").unwrap());
        let p = GetData::parse(&cmd).unwrap();
        assert_eq!(p.tag, 0xBF30);
        assert_eq!(p.tag_list.as_deref(), Some(&[0x7F, 0x21][..]));
        let cmd = GetData::new(TAG_CARD_RESOURCES).to_command();
        assert_eq!(cmd.encode().unwrap(), h("80CAFF2100").unwrap());
        assert!(GetData::parse(&CommandApdu::new(0x80, 0xCB, 0, 0)).is_err());
    }

    #[test]
    fn card_resources() {
        let r = CardResources {
            installed_applications: 3,
            free_non_volatile: 0x012345,
            free_volatile: 0x0800,
        };
        let enc = r.encode();
        assert_eq!(enc, h("FF210C8101038203012345830208 00").unwrap());
        assert_eq!(CardResources::decode(&enc).unwrap(), r);
        assert!(CardResources::decode(&h("FF2103810103").unwrap()).is_err());
        let resp = h("BF3003 7F2100").unwrap();
        let body = parse_response(0xBF30, &resp).unwrap();
        assert_eq!(body, &[0x7F, 0x21, 0x00]);
    }
}
