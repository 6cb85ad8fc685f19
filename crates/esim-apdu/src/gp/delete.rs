//! DELETE (GlobalPlatform Card Specification v2.3 §11.2): `80 E4 P1 P2`, data
//! `4F L AID [B6 L control reference template] [9E L delete token]`.
//!
//! * P1 (Table 11-21): b8 = 1 "more DELETE commands", 0 = last (or only) command; b7–b1 = 0.
//! * P2 (Table 11-22): `00` delete the object, `80` delete the object and related objects
//!   (SGP.02 DeleteISDP deletes the ISD-P with its whole profile). Njiwa sends P2 `40`, which is
//!   RFU in GlobalPlatform and refused here (see `docs/spec-choices.md`).
//! * The token (`B6`, `9E`) is what an SGP.02 Master Delete would carry (gaps §1, unverified);
//!   it is kept as opaque bytes.

use esim_codec::Aid;
use esim_codec::ber::{Reader, Writer};

use super::{CLA_GP, GpError, check_header, ins};
use crate::apdu::CommandApdu;

/// P2 `80`: delete the object and its related objects.
pub const P2_AND_RELATED: u8 = 0x80;
/// P1 `80`: more DELETE commands follow.
pub const P1_MORE: u8 = 0x80;

/// A DELETE [card content] command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delete {
    /// The object to delete (`4F`).
    pub aid: Aid,
    /// P2 `80` instead of `00`.
    pub related_objects: bool,
    /// P1 `80`: another DELETE follows.
    pub more_commands: bool,
    /// Value of the control reference template `B6`, if present.
    pub token_crt: Option<Vec<u8>>,
    /// Value of the delete token `9E`, if present.
    pub token: Option<Vec<u8>>,
}

impl Delete {
    /// DELETE `aid` (and, with `related_objects`, everything belonging to it).
    pub fn new(aid: Aid, related_objects: bool) -> Self {
        Delete {
            aid,
            related_objects,
            more_commands: false,
            token_crt: None,
            token: None,
        }
    }

    /// The command, with `Le = 00` (the card may return a confirmation).
    pub fn to_command(&self) -> CommandApdu {
        let mut w = Writer::new();
        w.put(0x4Fu8, self.aid.as_bytes());
        if let Some(crt) = &self.token_crt {
            w.put(0xB6u8, crt);
        }
        if let Some(t) = &self.token {
            w.put(0x9Eu8, t);
        }
        CommandApdu::new(
            CLA_GP,
            ins::DELETE,
            if self.more_commands { P1_MORE } else { 0 },
            if self.related_objects {
                P2_AND_RELATED
            } else {
                0
            },
        )
        .with_data(w.into_bytes())
        .with_le(256)
    }

    /// Parses a DELETE [card content] command (card side).
    pub fn parse(cmd: &CommandApdu) -> Result<Self, GpError> {
        check_header(cmd, ins::DELETE)?;
        let more_commands = match cmd.p1 {
            0 => false,
            P1_MORE => true,
            p1 => {
                return Err(GpError::BadP1 {
                    command: "DELETE",
                    p1,
                });
            }
        };
        let related_objects = match cmd.p2 {
            0 => false,
            P2_AND_RELATED => true,
            p2 => {
                return Err(GpError::BadP2 {
                    command: "DELETE",
                    p2,
                });
            }
        };
        let mut r = Reader::new(&cmd.data);
        let aid_tlv = r.read_tag(0x4Fu8)?;
        let aid = Aid::new(aid_tlv.value).map_err(|source| GpError::Aid {
            offset: aid_tlv.value_offset,
            source,
        })?;
        let token_crt = r.read_optional(0xB6u8)?.map(|t| t.value.to_vec());
        let token = r.read_optional(0x9Eu8)?.map(|t| t.value.to_vec());
        r.finish()?;
        Ok(Delete {
            aid,
            related_objects,
            more_commands,
            token_crt,
            token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esim_codec::Tar;
    use esim_codec::hex::decode as h;

    #[test]
    fn delete_isdp() {
        let aid = Aid::isd_p(Tar([0, 0, 0x10]));
        let cmd = Delete::new(aid.clone(), true).to_command();
        assert_eq!(
            cmd.encode().unwrap(),
            h("80E40080124F10A0000005591010FFFFFFFF890000100000").unwrap()
        );
        let d = Delete::parse(&cmd).unwrap();
        assert_eq!(d, Delete::new(aid.clone(), true));
        let mut with_token = Delete::new(aid, false);
        with_token.token_crt = Some(vec![0x42, 0x01, 0x01]);
        with_token.token = Some(vec![0xAA; 8]);
        assert_eq!(Delete::parse(&with_token.to_command()).unwrap(), with_token);
    }

    #[test]
    fn rejects() {
        let aid = Aid::isd_p(Tar([0, 0, 0x10]));
        let mut cmd = Delete::new(aid, true).to_command();
        cmd.p2 = 0x40;
        assert!(matches!(
            Delete::parse(&cmd),
            Err(GpError::BadP2 { p2: 0x40, .. })
        ));
        cmd.p2 = 0;
        cmd.data.extend([0x9E, 0x00, 0x01]);
        assert!(Delete::parse(&cmd).is_err());
        let cmd = CommandApdu::new(0x80, 0xE4, 0, 0).with_data(h("4F03A00000").unwrap());
        assert!(matches!(
            Delete::parse(&cmd),
            Err(GpError::Aid { offset: 2, .. })
        ));
    }
}
