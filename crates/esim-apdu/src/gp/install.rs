//! INSTALL (GlobalPlatform Card Specification v2.3 §11.5): `80 E6 P1 00`.
//!
//! * [for install] (P1 `04`) and [for install and make selectable] (P1 `0C`), §11.5.2.3.1:
//!   `L‖ELF AID ‖ L‖module AID ‖ L‖application AID ‖ L‖privileges ‖ L‖install parameters ‖
//!   L‖install token`, the last two lengths being 1–3 byte BER lengths.
//! * [for personalization] (P1 `20`), §11.5.2.3.4: `00 ‖ 00 ‖ L‖application AID ‖ 00 ‖ 00 ‖ 00`;
//!   it directs the following STORE DATA commands to that application (SGP.02 key
//!   establishment, digest §3.2).
//! * [`CreateIsdp`]: the SGP.02 ES5 CreateISDP form (digest §2.7): ISD-P ELF and module AIDs,
//!   privileges `80 C0 00`, install parameters `C9 {81 02 03 70}` (SCP03, i = `70`) and optional
//!   system parameters `EF {83 L memory}`, no token.

use esim_codec::Aid;
use esim_codec::ber::{Reader, Writer};

use super::{CLA_GP, Cursor, GpError, Privileges, check_header, ins, push_ber_len, push_lv};
use crate::apdu::CommandApdu;

/// INSTALL P1 codings (Card Spec v2.3 Table 11-41).
pub mod p1 {
    /// [for load].
    pub const FOR_LOAD: u8 = 0x02;
    /// [for install].
    pub const FOR_INSTALL: u8 = 0x04;
    /// [for make selectable].
    pub const FOR_MAKE_SELECTABLE: u8 = 0x08;
    /// [for install and make selectable].
    pub const FOR_INSTALL_AND_MAKE_SELECTABLE: u8 = 0x0C;
    /// [for extradition].
    pub const FOR_EXTRADITION: u8 = 0x10;
    /// [for personalization].
    pub const FOR_PERSONALIZATION: u8 = 0x20;
    /// [for registry update].
    pub const FOR_REGISTRY_UPDATE: u8 = 0x40;
}

/// Tag of the application specific parameters inside the install parameters (§11.5.2.3.7).
pub const TAG_APPLICATION_PARAMETERS: u8 = 0xC9;
/// Tag of the system specific parameters inside the install parameters (§11.5.2.3.7).
pub const TAG_SYSTEM_PARAMETERS: u8 = 0xEF;

/// The install parameters field: a sequence of TLVs (Card Spec v2.3 Table 11-49).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstallParameters {
    /// Value of `C9` (application specific parameters), if present.
    pub application_specific: Option<Vec<u8>>,
    /// Value of `EF` (system specific parameters), if present.
    pub system_specific: Option<Vec<u8>>,
    /// Other TLVs, kept in order as `(tag, value)`.
    pub other: Vec<(esim_codec::Tag, Vec<u8>)>,
}

impl InstallParameters {
    /// Encodes `C9`, then `EF`, then the other TLVs.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        if let Some(v) = &self.application_specific {
            w.put(TAG_APPLICATION_PARAMETERS, v);
        }
        if let Some(v) = &self.system_specific {
            w.put(TAG_SYSTEM_PARAMETERS, v);
        }
        for (t, v) in &self.other {
            w.put(*t, v);
        }
        w.into_bytes()
    }

    /// Decodes the field (offsets in errors are relative to the field).
    pub fn decode(field: &[u8]) -> Result<Self, GpError> {
        let mut out = InstallParameters::default();
        for tlv in Reader::new(field) {
            let tlv = tlv?;
            let slot = match tlv.tag.0 {
                0xC9 => &mut out.application_specific,
                0xEF => &mut out.system_specific,
                _ => {
                    out.other.push((tlv.tag, tlv.value.to_vec()));
                    continue;
                }
            };
            if slot.is_some() {
                return Err(GpError::BadField {
                    offset: tlv.offset,
                    field: "install parameters",
                    reason: format!("tag {} repeated", tlv.tag),
                });
            }
            *slot = Some(tlv.value.to_vec());
        }
        Ok(out)
    }
}

/// INSTALL [for install] / [for install and make selectable].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForInstall {
    /// P1 `0C` instead of `04`.
    pub make_selectable: bool,
    /// Executable Load File AID.
    pub load_file: Aid,
    /// Executable Module AID.
    pub module: Aid,
    /// Application (instance) AID.
    pub application: Aid,
    /// Privileges (always written as three bytes; one-byte fields are accepted).
    pub privileges: Privileges,
    /// Install parameters.
    pub parameters: InstallParameters,
    /// Install token (empty: none).
    pub token: Vec<u8>,
}

impl ForInstall {
    /// The data field.
    pub fn encode_data(&self) -> Result<Vec<u8>, GpError> {
        let mut d = Vec::new();
        push_lv(&mut d, self.load_file.as_bytes(), "load file AID")?;
        push_lv(&mut d, self.module.as_bytes(), "module AID")?;
        push_lv(&mut d, self.application.as_bytes(), "application AID")?;
        push_lv(&mut d, &self.privileges.0, "privileges")?;
        let params = self.parameters.encode();
        push_ber_len(&mut d, params.len(), "install parameters")?;
        d.extend_from_slice(&params);
        push_ber_len(&mut d, self.token.len(), "install token")?;
        d.extend_from_slice(&self.token);
        Ok(d)
    }

    /// The command `80 E6 04|0C 00 … 00` (Le = `00`, as SGP.02 servers send it).
    pub fn to_command(&self) -> Result<CommandApdu, GpError> {
        let p1 = if self.make_selectable {
            p1::FOR_INSTALL_AND_MAKE_SELECTABLE
        } else {
            p1::FOR_INSTALL
        };
        Ok(CommandApdu::new(CLA_GP, ins::INSTALL, p1, 0x00)
            .with_data(self.encode_data()?)
            .with_le(256))
    }

    /// Parses the data field.
    pub fn decode_data(make_selectable: bool, data: &[u8]) -> Result<Self, GpError> {
        let mut c = Cursor::new(data);
        let load_file = c.aid("load file AID")?;
        let module = c.aid("module AID")?;
        let application = c.aid("application AID")?;
        let off = c.offset() + 1;
        let privileges =
            Privileges::from_field(c.lv("privileges")?).ok_or_else(|| GpError::BadField {
                offset: off,
                field: "privileges",
                reason: "must be 1 or 3 bytes".into(),
            })?;
        let params_start = c.offset();
        let params = c.ber_lv("install parameters")?;
        let parameters = InstallParameters::decode(params).map_err(|e| shift(e, params_start))?;
        let token = c.ber_lv("install token")?.to_vec();
        c.finish()?;
        Ok(ForInstall {
            make_selectable,
            load_file,
            module,
            application,
            privileges,
            parameters,
            token,
        })
    }
}

/// Moves the offset of a TLV error in a sub-field to the data field (approximately: to the
/// sub-field's length byte, the value follows it).
fn shift(e: GpError, base: usize) -> GpError {
    match e {
        GpError::Tlv(mut d) => {
            d.offset += base;
            GpError::Tlv(d)
        }
        GpError::BadField {
            offset,
            field,
            reason,
        } => GpError::BadField {
            offset: offset + base,
            field,
            reason,
        },
        other => other,
    }
}

/// An INSTALL command, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Install {
    /// [for install] or [for install and make selectable].
    ForInstall(ForInstall),
    /// [for personalization] of `application`.
    ForPersonalization {
        /// The application (SGP.02: the ISD-P) that receives the following STORE DATA.
        application: Aid,
    },
}

impl Install {
    /// INSTALL [for personalization] (`80 E6 20 00`, data `00 00 L‖AID 00 00 00`).
    pub fn for_personalization(application: &Aid) -> CommandApdu {
        let mut d = vec![0x00, 0x00];
        let aid = application.as_bytes();
        // An Aid has 5-16 bytes, so its length fits in one byte.
        d.push(aid.len() as u8);
        d.extend_from_slice(aid);
        d.extend_from_slice(&[0x00, 0x00, 0x00]);
        CommandApdu::new(CLA_GP, ins::INSTALL, p1::FOR_PERSONALIZATION, 0x00).with_data(d)
    }

    /// The command.
    pub fn to_command(&self) -> Result<CommandApdu, GpError> {
        match self {
            Install::ForInstall(f) => f.to_command(),
            Install::ForPersonalization { application } => {
                Ok(Self::for_personalization(application))
            }
        }
    }

    /// Parses an INSTALL command (card side). Supported P1: `04`, `0C`, `20`; P2 must be `00`.
    pub fn parse(cmd: &CommandApdu) -> Result<Self, GpError> {
        check_header(cmd, ins::INSTALL)?;
        if cmd.p2 != 0 {
            return Err(GpError::BadP2 {
                command: "INSTALL",
                p2: cmd.p2,
            });
        }
        match cmd.p1 {
            p1::FOR_INSTALL => Ok(Install::ForInstall(ForInstall::decode_data(
                false, &cmd.data,
            )?)),
            p1::FOR_INSTALL_AND_MAKE_SELECTABLE => Ok(Install::ForInstall(
                ForInstall::decode_data(true, &cmd.data)?,
            )),
            p1::FOR_PERSONALIZATION => {
                let mut c = Cursor::new(&cmd.data);
                expect_empty(&mut c, "load file AID length")?;
                expect_empty(&mut c, "module AID length")?;
                let application = c.aid("application AID")?;
                expect_empty(&mut c, "privileges length")?;
                expect_empty(&mut c, "install parameters length")?;
                expect_empty(&mut c, "install token length")?;
                c.finish()?;
                Ok(Install::ForPersonalization { application })
            }
            other => Err(GpError::BadP1 {
                command: "INSTALL",
                p1: other,
            }),
        }
    }
}

fn expect_empty(c: &mut Cursor<'_>, field: &'static str) -> Result<(), GpError> {
    let offset = c.offset();
    match c.byte(field)? {
        0 => Ok(()),
        n => Err(GpError::BadField {
            offset,
            field,
            reason: format!("must be 00, found {n:02X}"),
        }),
    }
}

/// SCP03 with i = `70` (GP Amendment D; SGP.02 §4.1.3.3, digest §5.5): the ISD-P's secure
/// channel, declared in `C9 {81 02 03 70}`.
pub const SCP03_I70: [u8; 2] = [0x03, 0x70];

/// SGP.02 ES5 CreateISDP (digest §2.7, "Sec 4.1.1.1"): INSTALL [for install and make selectable]
/// of the ISD-P.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateIsdp {
    /// The new ISD-P's AID (`A0000005591010FFFFFFFF89` ‖ TAR ‖ `00`).
    pub isdp_aid: Aid,
    /// Secure channel protocol and its `i` parameter from `C9 {81 02 …}` (SGP.02: `03 70`).
    pub scp: [u8; 2],
    /// Memory to reserve, from `EF {83 L …}` (see `docs/spec-choices.md`).
    pub required_memory: Option<u32>,
}

/// Tag (inside `EF`) of the memory quota in the SGP.02 CreateISDP form as Njiwa builds it
/// (digest §2.7). GlobalPlatform's own non-volatile memory quota tag is `C8`; see
/// `docs/spec-choices.md`.
pub const TAG_SGP02_MEMORY: u8 = 0x83;
/// Tag (inside `C9`) of the SCP identifier and `i` parameter.
pub const TAG_SCP_PARAMETERS: u8 = 0x81;

impl CreateIsdp {
    /// A CreateISDP for `isdp_aid` with SCP03 i = `70`.
    pub fn new(isdp_aid: Aid, required_memory: Option<u32>) -> Self {
        CreateIsdp {
            isdp_aid,
            scp: SCP03_I70,
            required_memory,
        }
    }

    /// The general INSTALL form of this command.
    pub fn to_install(&self) -> ForInstall {
        let system_specific = self.required_memory.map(|m| {
            let bytes = m.to_be_bytes();
            // Two bytes when the value fits (Njiwa's `83 02`), four otherwise.
            let value = if m <= 0xFFFF { &bytes[2..] } else { &bytes[..] };
            esim_codec::ber::tlv(TAG_SGP02_MEMORY, value)
        });
        ForInstall {
            make_selectable: true,
            load_file: Aid::isd_p_load_file(),
            module: Aid::isd_p_module(),
            application: self.isdp_aid.clone(),
            privileges: Privileges::ISD_P,
            parameters: InstallParameters {
                application_specific: Some(esim_codec::ber::tlv(TAG_SCP_PARAMETERS, &self.scp)),
                system_specific,
                other: Vec::new(),
            },
            token: Vec::new(),
        }
    }

    /// The command `80 E6 0C 00 … 00`.
    pub fn to_command(&self) -> Result<CommandApdu, GpError> {
        self.to_install().to_command()
    }

    /// Checks that an INSTALL is an SGP.02 CreateISDP (card side): P1 `0C`, the ISD-P load file
    /// and module AIDs, the Security Domain privilege, `C9 {81 02 …}`, and at most a memory
    /// quota in `EF`.
    pub fn from_install(install: &ForInstall) -> Result<Self, GpError> {
        let bad = |field: &'static str, reason: &str| GpError::BadField {
            offset: 0,
            field,
            reason: reason.to_string(),
        };
        if !install.make_selectable {
            return Err(GpError::BadP1 {
                command: "CreateISDP (INSTALL)",
                p1: p1::FOR_INSTALL,
            });
        }
        if install.load_file != Aid::isd_p_load_file() {
            return Err(bad("load file AID", "not the ISD-P executable load file"));
        }
        if install.module != Aid::isd_p_module() {
            return Err(bad("module AID", "not the ISD-P executable module"));
        }
        if !install.privileges.contains(Privileges::SECURITY_DOMAIN) {
            return Err(bad("privileges", "an ISD-P must be a security domain"));
        }
        let c9 = install
            .parameters
            .application_specific
            .as_deref()
            .ok_or_else(|| bad("install parameters", "C9 missing"))?;
        let scp_tlv = esim_codec::ber::parse_one(c9)?.expect_tag(TAG_SCP_PARAMETERS)?;
        let scp: [u8; 2] = scp_tlv
            .value
            .try_into()
            .map_err(|_| bad("C9/81 SCP parameters", "must be 2 bytes"))?;
        let required_memory = match install.parameters.system_specific.as_deref() {
            None => None,
            Some(ef) => {
                let mut found = None;
                for t in Reader::new(ef) {
                    let t = t?;
                    if t.tag.0 == u32::from(TAG_SGP02_MEMORY) {
                        if t.value.is_empty() || t.value.len() > 4 {
                            return Err(bad("EF/83 memory", "must be 1 to 4 bytes"));
                        }
                        found = Some(t.value.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)));
                    }
                }
                found
            }
        };
        Ok(CreateIsdp {
            isdp_aid: install.application.clone(),
            scp,
            required_memory,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esim_codec::Tar;
    use esim_codec::hex::decode as h;

    #[test]
    fn create_isdp_bytes() {
        let aid = Aid::isd_p(Tar([0x00, 0x00, 0x10]));
        let cmd = CreateIsdp::new(aid.clone(), None).to_command().unwrap();
        let expected = h(concat!(
            "80E60C00",
            "3F",
            "10A0000005591010FFFFFFFF8900000D00",
            "10A0000005591010FFFFFFFF8900000E00",
            "10A0000005591010FFFFFFFF8900001000",
            "0380C000",
            "06C904810203 70",
            "00",
            "00"
        ))
        .unwrap();
        assert_eq!(cmd.encode().unwrap(), expected);
        let parsed = Install::parse(&CommandApdu::decode(&expected).unwrap()).unwrap();
        let Install::ForInstall(fi) = parsed else {
            panic!("not for install")
        };
        let c = CreateIsdp::from_install(&fi).unwrap();
        assert_eq!(c, CreateIsdp::new(aid.clone(), None));

        let with_mem = CreateIsdp::new(aid, Some(0x4000));
        let cmd = with_mem.to_command().unwrap();
        let data = &cmd.data;
        // … C9 04 81 02 03 70 EF 04 83 02 40 00, no token.
        assert!(
            data.ends_with(&h("0CC904810203 70EF048302400000").unwrap()),
            "{}",
            esim_codec::hex::encode(data)
        );
        let Install::ForInstall(fi) = Install::parse(&cmd).unwrap() else {
            panic!()
        };
        assert_eq!(CreateIsdp::from_install(&fi).unwrap(), with_mem);
    }

    #[test]
    fn for_personalization() {
        let aid = Aid::isd_p(Tar([0x00, 0x00, 0x11]));
        let cmd = Install::for_personalization(&aid);
        assert_eq!(
            cmd.encode().unwrap(),
            h("80E6200016000010A0000005591010FFFFFFFF8900001100000000").unwrap()
        );
        assert_eq!(
            Install::parse(&cmd).unwrap(),
            Install::ForPersonalization { application: aid }
        );
    }

    #[test]
    fn parse_errors() {
        let cmd = CommandApdu::decode(&h("80E60C000310A000").unwrap()).unwrap();
        assert!(matches!(
            Install::parse(&cmd),
            Err(GpError::Truncated { offset: 1, .. })
        ));
        let cmd = CommandApdu::new(0x80, 0xE6, 0x01, 0x00);
        assert_eq!(
            Install::parse(&cmd).unwrap_err().status_word(),
            crate::StatusWord::IncorrectP1P2
        );
        let cmd = CommandApdu::new(0x00, 0xE6, 0x0C, 0x00);
        assert_eq!(Install::parse(&cmd), Err(GpError::WrongCla(0)));
        // AID of 3 bytes.
        let cmd =
            CommandApdu::new(0x80, 0xE6, 0x20, 0x00).with_data(h("000003A0000000000000").unwrap());
        assert!(matches!(
            Install::parse(&cmd),
            Err(GpError::Aid { offset: 3, .. })
        ));
        // Trailing byte after the token.
        let mut cmd = CreateIsdp::new(Aid::isd_p(Tar([0, 0, 0x10])), None)
            .to_command()
            .unwrap();
        cmd.data.push(0);
        assert!(matches!(
            Install::parse(&cmd),
            Err(GpError::TrailingBytes { count: 1, .. })
        ));
    }
}
