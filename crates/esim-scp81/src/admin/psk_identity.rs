//! The SCP81 PSK identity of SGP.02 §2.4.4.1 Table 4 (digest §5.3):
//! `80 01 02 ‖ 81 10 EID ‖ 4F 10 ISD-R AID ‖ 82 01 KID ‖ 83 01 KVN`, sent hex-encoded as the TLS
//! `psk_identity` (RFC 4279 §2). The binary form is built by
//! [`esim_crypto::pki::scp81_psk_identity`]; this module adds the text form and the parser the
//! server uses to find the key by EID, KVN and KID.

use std::fmt;

use esim_codec::ber::{self, DecodeError};
use esim_codec::ids::{Aid, Eid};

use super::AdminError;

/// Tag of the identity format byte.
const TAG_FORMAT: u8 = 0x80;
/// Tag of the EID.
const TAG_EID: u8 = 0x81;
/// Tag of the ISD-R AID.
const TAG_AID: u8 = 0x4F;
/// Tag of the key identifier.
const TAG_KID: u8 = 0x82;
/// Tag of the key version number.
const TAG_KVN: u8 = 0x83;
/// The only identity format defined by SGP.02 Table 4.
pub const FORMAT_SGP02: u8 = 0x02;

/// Length of the binary identity (45 bytes).
pub const BINARY_LEN: usize = 3 + 18 + 18 + 3 + 3;

/// The PSK-TLS identity of an eUICC's ISD-R SCP81 key (SGP.02 §2.4.4.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PskIdentity {
    /// The eUICC.
    pub eid: Eid,
    /// Key version number of the ISD-R SCP81 keyset.
    pub kvn: u8,
    /// Key identifier within the keyset.
    pub kid: u8,
}

impl PskIdentity {
    /// An identity for the ISD-R of `eid`.
    pub fn new(eid: Eid, kvn: u8, kid: u8) -> Self {
        PskIdentity { eid, kvn, kid }
    }

    /// The binary TLV form (SGP.02 Table 4).
    pub fn to_binary(&self) -> Vec<u8> {
        esim_crypto::pki::scp81_psk_identity(&self.eid, self.kvn, self.kid)
    }

    /// The form sent in the handshake: the binary form as upper-case hex digits
    /// (docs/spec-choices.md: case).
    pub fn to_wire(&self) -> String {
        esim_codec::hex::encode_upper(&self.to_binary())
    }

    /// Parses the handshake form: hex digits of either case (what OpenSSL hands the server,
    /// without the terminating NUL).
    pub fn parse_wire(identity: &[u8]) -> Result<Self, AdminError> {
        if identity.len() % 2 != 0 {
            return Err(AdminError::PskIdentity(DecodeError::bad_value(
                identity.len(),
                "PSK identity",
                "odd number of hex digits",
            )));
        }
        let mut bin = Vec::with_capacity(identity.len() / 2);
        for (i, pair) in identity.chunks_exact(2).enumerate() {
            let hi = hex_val(pair[0]);
            let lo = hex_val(pair[1]);
            match (hi, lo) {
                (Some(h), Some(l)) => bin.push((h << 4) | l),
                _ => {
                    return Err(AdminError::PskIdentity(DecodeError::bad_value(
                        2 * i,
                        "PSK identity",
                        "not a hex digit",
                    )));
                }
            }
        }
        Self::parse_binary(&bin)
    }

    /// Parses the binary TLV form. The TLVs must appear in the order of Table 4, each exactly
    /// once, with the lengths of Table 4; the AID must be the ISD-R's; nothing may follow.
    /// Offsets in errors are byte offsets in the binary form.
    pub fn parse_binary(bin: &[u8]) -> Result<Self, AdminError> {
        Self::decode(bin).map_err(AdminError::PskIdentity)
    }

    fn decode(bin: &[u8]) -> Result<Self, DecodeError> {
        let mut r = ber::Reader::new(bin);
        let format = fixed(&mut r, TAG_FORMAT, 1, "identity format")?;
        if format.value != [FORMAT_SGP02] {
            return Err(DecodeError::bad_value(
                format.value_offset,
                "80 identity format",
                format!("{:02X} is not the SGP.02 format 02", format.value[0]),
            ));
        }
        let eid_tlv = fixed(&mut r, TAG_EID, 16, "EID")?;
        let eid = Eid::from_bcd(eid_tlv.value)
            .map_err(|e| DecodeError::bad_value(eid_tlv.value_offset, "81 EID", e.to_string()))?;
        let aid_tlv = fixed(&mut r, TAG_AID, 16, "ISD-R AID")?;
        if aid_tlv.value != Aid::isd_r().as_bytes() {
            return Err(DecodeError::bad_value(
                aid_tlv.value_offset,
                "4F AID",
                "not the ISD-R AID",
            ));
        }
        let kid = fixed(&mut r, TAG_KID, 1, "KID")?.value[0];
        let kvn = fixed(&mut r, TAG_KVN, 1, "KVN")?.value[0];
        r.finish()?;
        Ok(PskIdentity { eid, kvn, kid })
    }
}

impl fmt::Display for PskIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EID {} KVN {:02X} KID {:02X}",
            self.eid.as_str(),
            self.kvn,
            self.kid
        )
    }
}

/// Reads the next TLV, which must have `tag` and a `len`-byte value.
fn fixed<'a>(
    r: &mut ber::Reader<'a>,
    tag: u8,
    len: usize,
    what: &str,
) -> Result<ber::Tlv<'a>, DecodeError> {
    let t = r.read_tag(tag)?;
    if t.value.len() != len {
        return Err(DecodeError::bad_value(
            t.offset,
            format!("{tag:02X} {what}"),
            format!("length {} instead of {len}", t.value.len()),
        ));
    }
    Ok(t)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eid() -> Eid {
        Eid::from_body("890490320000000000000000000000").expect("eid")
    }

    #[test]
    fn layout_matches_table_4() {
        let id = PskIdentity::new(eid(), 0x40, 0x01);
        let bin = id.to_binary();
        assert_eq!(bin.len(), BINARY_LEN);
        assert_eq!(&bin[..5], &[0x80, 0x01, 0x02, 0x81, 0x10]);
        assert_eq!(&bin[5..21], &eid().to_bcd());
        assert_eq!(&bin[21..23], &[0x4F, 0x10]);
        assert_eq!(&bin[23..39], Aid::isd_r().as_bytes());
        assert_eq!(&bin[39..], &[0x82, 0x01, 0x01, 0x83, 0x01, 0x40]);
        let wire = id.to_wire();
        assert_eq!(wire.len(), 90);
        assert!(wire.starts_with("800102811089049032"));
        assert!(wire.ends_with("820101830140"), "{wire}");
        assert_eq!(PskIdentity::parse_wire(wire.as_bytes()).expect("parse"), id);
        assert_eq!(
            PskIdentity::parse_wire(wire.to_ascii_lowercase().as_bytes()).expect("parse"),
            id
        );
    }

    #[test]
    fn rejects_wrong_identities_with_offsets() {
        let id = PskIdentity::new(eid(), 0x40, 0x01);
        let mut bin = id.to_binary();
        bin[2] = 0x01;
        let e = PskIdentity::parse_binary(&bin).expect_err("format");
        assert!(e.to_string().contains("at byte 2"), "{e}");
        let mut bin = id.to_binary();
        bin[38] ^= 0xFF;
        let e = PskIdentity::parse_binary(&bin).expect_err("aid");
        assert!(e.to_string().contains("ISD-R"), "{e}");
        let mut bin = id.to_binary();
        bin.push(0);
        assert!(PskIdentity::parse_binary(&bin).is_err());
        assert!(PskIdentity::parse_wire(b"8001").is_err());
        assert!(PskIdentity::parse_wire(b"80010").is_err());
        let e = PskIdentity::parse_wire(b"zz").expect_err("hex");
        assert!(e.to_string().contains("hex"), "{e}");
        // EID with bad check digits
        let mut bin = id.to_binary();
        bin[20] ^= 0x01;
        assert!(PskIdentity::parse_binary(&bin).is_err());
    }
}
