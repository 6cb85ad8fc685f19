//! Command packets (ETSI TS 102 225 §5.1, 3GPP TS 31.115 §4.2; digest §5.1).
//!
//! ```text
//! CPL(2) CHL(1) SPI(2) KIc(1) KID(1) TAR(3) | CNTR(5) PCNTR(1) [RC/CC] data [padding]
//! ```
//!
//! CPL counts the bytes after it, CHL those from SPI to the end of the RC/CC (13 + its length).
//! The RC/CC covers `CPL … TAR ‖ CNTR ‖ PCNTR ‖ data ‖ padding`; ciphering (CBC, zero IV)
//! covers everything after the TAR, padded with zeros to the cipher block and counted in PCNTR.
//! Unciphered packets carry no padding.

use super::mechanism::{self, padding_for};
use super::{Counter, Keyset, PorStatus, Scp80Error, Spi, check_counter, take};
use super::{Integrity, Kic, Kid};
use esim_codec::Tar;

/// Bytes from CPL to the end of the TAR.
const HEADER_LEN: usize = 10;
/// CHL without the RC/CC/DS: SPI 2, KIc 1, KID 1, TAR 3, CNTR 5, PCNTR 1.
const CHL_BASE: usize = 13;

/// What a sending entity puts into a command packet; [`CommandPacket::encode`] adds the KIc/KID
/// bytes of the keyset, the lengths, RC/CC, padding and ciphering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandPacket {
    /// Security parameters.
    pub spi: Spi,
    /// Toolkit Application Reference of the receiving application.
    pub tar: Tar,
    /// Replay counter.
    pub counter: Counter,
    /// Secured data: the C-APDUs (or a TS 102 226 script) to deliver.
    pub data: Vec<u8>,
}

impl CommandPacket {
    /// The command packet from CPL on (without the SMS UDH; see [`super::udh`]).
    pub fn encode(&self, keys: &Keyset) -> Result<Vec<u8>, Scp80Error> {
        let ic_len = mechanism::integrity_len(self.spi.integrity, keys)?;
        let pad = if self.spi.ciphering {
            padding_for(6 + ic_len + self.data.len(), mechanism::block_size(keys)?)
        } else {
            0
        };
        let chl = CHL_BASE + ic_len;
        let cpl = 1 + chl + self.data.len() + pad;
        let cpl16 = u16::try_from(cpl).map_err(|_| Scp80Error::TooLong {
            field: "CPL",
            value: cpl as u64,
            max: u64::from(u16::MAX),
        })?;
        let chl8 = u8::try_from(chl).map_err(|_| Scp80Error::TooLong {
            field: "CHL",
            value: chl as u64,
            max: u64::from(u8::MAX),
        })?;
        // `pad` is below the block size (at most 15).
        let pcntr = u8::try_from(pad).unwrap_or(u8::MAX);

        let mut header = Vec::with_capacity(2 + cpl);
        header.extend_from_slice(&cpl16.to_be_bytes());
        header.push(chl8);
        header.extend_from_slice(&self.spi.to_bytes());
        header.push(keys.kic().0);
        header.push(keys.kid().0);
        header.extend_from_slice(&self.tar.0);

        let mut tail = Vec::with_capacity(6 + self.data.len() + pad);
        tail.extend_from_slice(&self.counter.to_bytes());
        tail.push(pcntr);
        tail.extend_from_slice(&self.data);
        tail.resize(tail.len() + pad, 0);

        let ic = mechanism::integrity_value(
            self.spi.integrity,
            keys,
            &[header.as_slice(), tail.as_slice()].concat(),
        )?;
        let mut secured = Vec::with_capacity(tail.len() + ic.len());
        secured.extend_from_slice(&tail[..6]);
        secured.extend_from_slice(&ic);
        secured.extend_from_slice(&tail[6..]);
        if self.spi.ciphering {
            secured = mechanism::encrypt(keys, &secured)?;
        }
        header.extend_from_slice(&secured);
        Ok(header)
    }
}

/// The unauthenticated header of a received command packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandHeader {
    /// Command packet length (bytes after CPL).
    pub cpl: u16,
    /// Command header length (SPI to end of RC/CC/DS).
    pub chl: u8,
    /// Security parameters.
    pub spi: Spi,
    /// KIc byte (selects the ciphering key).
    pub kic: Kic,
    /// KID byte (selects the RC/CC key).
    pub kid: Kid,
    /// Toolkit Application Reference.
    pub tar: Tar,
}

impl CommandHeader {
    /// Length of the RC/CC/DS field the header announces (CHL − 13).
    pub fn integrity_len(&self) -> usize {
        usize::from(self.chl).saturating_sub(CHL_BASE)
    }
}

/// A command packet whose header was parsed but not yet authenticated. The receiver chooses the
/// keyset by [`CommandHeader::tar`], `kic` and `kid`, then calls [`SecuredCommand::open`].
#[derive(Debug, Clone, Copy)]
pub struct SecuredCommand<'a> {
    header: CommandHeader,
    packet: &'a [u8],
}

/// Parses the header of a command packet (from CPL on; strip the UDH first with
/// [`super::udh::strip_command_udh`]). Checks CPL against the input length (trailing bytes are
/// rejected), the SPI's reserved bits, and CHL against the SPI's RC/CC/DS choice.
pub fn parse_command(packet: &[u8]) -> Result<SecuredCommand<'_>, Scp80Error> {
    let h = take(packet, 0, HEADER_LEN, "command header (CPL..TAR)")?;
    let cpl = u16::from_be_bytes([h[0], h[1]]);
    let actual = packet.len() - 2;
    if usize::from(cpl) != actual {
        return Err(Scp80Error::LengthMismatch {
            field: "CPL",
            offset: 0,
            declared: usize::from(cpl),
            actual,
        });
    }
    let chl = h[2];
    let spi = Spi::decode([h[3], h[4]], 3)?;
    let kic = Kic(h[5]);
    let kid = Kid(h[6]);
    let tar = Tar([h[7], h[8], h[9]]);
    let expected = match spi.integrity {
        Integrity::None => Some(CHL_BASE),
        Integrity::Cc => Some(CHL_BASE + mechanism::CC_LEN),
        Integrity::Rc => match kid.rc_algorithm() {
            super::KidRcAlgorithm::Rc(a) => Some(CHL_BASE + a.output_len()),
            _ => None,
        },
        Integrity::Ds => None,
    };
    let chl_ok = match expected {
        Some(e) => usize::from(chl) == e,
        None => usize::from(chl) >= CHL_BASE,
    };
    if !chl_ok {
        return Err(Scp80Error::HeaderLength {
            field: "CHL",
            offset: 2,
            value: chl,
            expected: match expected {
                Some(e) => e.to_string(),
                None => format!("at least {CHL_BASE}"),
            },
        });
    }
    // The secured data must at least hold CNTR, PCNTR and the RC/CC/DS.
    let min_tail = usize::from(chl) - 7;
    take(packet, HEADER_LEN, min_tail, "CNTR, PCNTR and RC/CC/DS")?;
    Ok(SecuredCommand {
        header: CommandHeader {
            cpl,
            chl,
            spi,
            kic,
            kid,
            tar,
        },
        packet,
    })
}

/// A command packet after deciphering and RC/CC verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedCommand {
    /// The header.
    pub header: CommandHeader,
    /// CNTR.
    pub counter: Counter,
    /// PCNTR: number of padding bytes that were stripped.
    pub padding: u8,
    /// The RC/CC bytes as received (verified).
    pub integrity: Vec<u8>,
    /// The secured data without padding (the C-APDUs or script).
    pub data: Vec<u8>,
    /// Everything after the TAR in clear: CNTR, PCNTR, RC/CC, data, padding.
    pub secured_plaintext: Vec<u8>,
}

impl OpenedCommand {
    /// The receiver's replay check for this packet's counter (see [`check_counter`]).
    pub fn check_counter(&self, stored: Counter) -> Result<(), PorStatus> {
        check_counter(self.header.spi.counter, stored, self.counter)
    }
}

impl<'a> SecuredCommand<'a> {
    /// The unauthenticated header.
    pub fn header(&self) -> &CommandHeader {
        &self.header
    }

    /// The whole packet as received.
    pub fn packet(&self) -> &'a [u8] {
        self.packet
    }

    /// Deciphers (if the SPI says so), verifies the RC/CC in constant time and strips the
    /// padding. The keyset's KIc (when ciphering) and KID (when RC/CC) must be the packet's.
    pub fn open(&self, keys: &Keyset) -> Result<OpenedCommand, Scp80Error> {
        let h = &self.header;
        if h.spi.ciphering && keys.kic() != h.kic {
            return Err(Scp80Error::KeyMismatch {
                field: "KIc",
                offset: 5,
                found: h.kic.0,
                expected: keys.kic().0,
            });
        }
        if h.spi.integrity != Integrity::None && keys.kid() != h.kid {
            return Err(Scp80Error::KeyMismatch {
                field: "KID",
                offset: 6,
                found: h.kid.0,
                expected: keys.kid().0,
            });
        }
        let raw = self.packet.get(HEADER_LEN..).unwrap_or_default();
        let plain = if h.spi.ciphering {
            mechanism::decrypt(keys, raw, HEADER_LEN)?
        } else {
            raw.to_vec()
        };
        let ic_len = h.integrity_len();
        let fixed = take(&plain, 0, 6 + ic_len, "CNTR, PCNTR and RC/CC/DS")
            .map_err(|e| shift(e, HEADER_LEN))?;
        let mut cntr = [0u8; 5];
        cntr.copy_from_slice(&fixed[..5]);
        let pcntr = fixed[5];
        let integrity = fixed[6..].to_vec();
        let rest = plain.get(6 + ic_len..).unwrap_or_default();

        if h.spi.integrity != Integrity::None {
            let header_bytes = self.packet.get(..HEADER_LEN).unwrap_or_default();
            let input = [header_bytes, &plain[..6], rest].concat();
            mechanism::verify_integrity(h.spi.integrity, keys, &input, &integrity, HEADER_LEN + 6)?;
        }
        let data_len = rest
            .len()
            .checked_sub(usize::from(pcntr))
            .ok_or(Scp80Error::Padding {
                offset: HEADER_LEN + 5,
                pcntr,
                available: rest.len(),
            })?;
        Ok(OpenedCommand {
            header: *h,
            counter: Counter::from_bytes(cntr),
            padding: pcntr,
            integrity,
            data: rest[..data_len].to_vec(),
            secured_plaintext: plain,
        })
    }
}

/// Moves a [`Scp80Error::Truncated`] offset from secured-data-relative to packet-relative.
fn shift(e: Scp80Error, by: usize) -> Scp80Error {
    match e {
        Scp80Error::Truncated {
            field,
            offset,
            needed,
            available,
        } => Scp80Error::Truncated {
            field,
            offset: offset + by,
            needed,
            available,
        },
        other => other,
    }
}
