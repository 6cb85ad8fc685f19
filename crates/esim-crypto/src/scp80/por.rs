//! Response packets, the Proof of Receipt (ETSI TS 102 225 §5.2, 3GPP TS 31.115 §4.4; digest
//! §5.1), and the compact remote response in their additional data (ETSI TS 102 226 §5.1.2).
//!
//! ```text
//! UDH(02 71 00) RPL(2) RHL(1) TAR(3) | CNTR(5) PCNTR(1) STATUS(1) [RC/CC] data [padding]
//! ```
//!
//! RPL counts the bytes after it, RHL those from TAR to the end of the RC/CC (10 + its length).
//! Security follows SPI byte 2 of the command. The RC/CC covers
//! `UDH ‖ RPL … STATUS ‖ data ‖ padding` (docs/spec-choices.md); ciphering (CBC, zero IV) covers
//! everything after the TAR, zero-padded to the block and counted in PCNTR.

use super::mechanism::{self, padding_for};
use super::udh::{self, IEI_RPI, RESPONSE_UDH};
use super::{Counter, Integrity, Keyset, PorStatus, Scp80Error, Spi, take};
use esim_codec::Tar;

/// RHL without the RC/CC/DS: TAR 3, CNTR 5, PCNTR 1, status 1.
const RHL_BASE: usize = 10;

/// The content of a PoR; [`ResponsePacket::encode`] adds lengths, RC/CC, padding and ciphering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponsePacket {
    /// TAR of the application that answers (the command's).
    pub tar: Tar,
    /// The command's counter.
    pub counter: Counter,
    /// Response status.
    pub status: PorStatus,
    /// Additional response data (e.g. a [`CompactResponse`]).
    pub data: Vec<u8>,
}

impl ResponsePacket {
    /// The PoR as SMS user data, `02 71 00 ‖ RPL …`, secured as SPI byte 2 asks (`spi` is the
    /// command's SPI; `keys` the command's keyset).
    pub fn encode(&self, spi: &Spi, keys: &Keyset) -> Result<Vec<u8>, Scp80Error> {
        let ic_len = mechanism::integrity_len(spi.por_integrity, keys)?;
        let pad = if spi.por_ciphered {
            padding_for(7 + ic_len + self.data.len(), mechanism::block_size(keys)?)
        } else {
            0
        };
        let rhl = RHL_BASE + ic_len;
        let rpl = 1 + rhl + self.data.len() + pad;
        let rpl16 = u16::try_from(rpl).map_err(|_| Scp80Error::TooLong {
            field: "RPL",
            value: rpl as u64,
            max: u64::from(u16::MAX),
        })?;
        let rhl8 = u8::try_from(rhl).map_err(|_| Scp80Error::TooLong {
            field: "RHL",
            value: rhl as u64,
            max: u64::from(u8::MAX),
        })?;
        // `pad` is below the block size (at most 15).
        let pcntr = u8::try_from(pad).unwrap_or(u8::MAX);

        let mut out = Vec::with_capacity(5 + rpl);
        out.extend_from_slice(&RESPONSE_UDH);
        out.extend_from_slice(&rpl16.to_be_bytes());
        out.push(rhl8);
        out.extend_from_slice(&self.tar.0);

        let mut tail = Vec::with_capacity(7 + self.data.len() + pad);
        tail.extend_from_slice(&self.counter.to_bytes());
        tail.push(pcntr);
        tail.push(self.status.byte());
        tail.extend_from_slice(&self.data);
        tail.resize(tail.len() + pad, 0);

        let ic = mechanism::integrity_value(
            spi.por_integrity,
            keys,
            &[out.as_slice(), tail.as_slice()].concat(),
        )?;
        let mut secured = Vec::with_capacity(tail.len() + ic.len());
        secured.extend_from_slice(&tail[..7]);
        secured.extend_from_slice(&ic);
        secured.extend_from_slice(&tail[7..]);
        if spi.por_ciphered {
            secured = mechanism::encrypt(keys, &secured)?;
        }
        out.extend_from_slice(&secured);
        Ok(out)
    }
}

/// A PoR after deciphering and RC/CC verification, with every field of the packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedPor {
    /// Response packet length (bytes after RPL).
    pub rpl: u16,
    /// Response header length (TAR to end of RC/CC).
    pub rhl: u8,
    /// PCNTR: number of padding bytes that were stripped.
    pub padding: u8,
    /// The RC/CC as received (verified); empty without one.
    pub integrity: Vec<u8>,
    /// TAR, counter, status and additional data.
    pub packet: ResponsePacket,
}

impl DecodedPor {
    /// The additional data read as a TS 102 226 compact remote response, when the status is
    /// [`PorStatus::Ok`] and there is data.
    pub fn compact_response(&self) -> Option<Result<CompactResponse, Scp80Error>> {
        (self.packet.status == PorStatus::Ok && !self.packet.data.is_empty())
            .then(|| CompactResponse::decode(&self.packet.data))
    }
}

/// Decodes a PoR given as SMS user data (UDH with IEI `71`, then RPL …), checks RPL (trailing
/// bytes are rejected) and RHL against SPI byte 2, deciphers, verifies the RC/CC in constant time
/// and strips the padding. `spi` and `keys` are those of the command the PoR answers.
pub fn decode_por(user_data: &[u8], spi: &Spi, keys: &Keyset) -> Result<DecodedPor, Scp80Error> {
    let (udh_bytes, packet) = udh::split_udh(user_data, IEI_RPI)?;
    let base = udh_bytes.len();
    let h = take(packet, 0, 6, "response header (RPL..TAR)").map_err(|e| shift(e, base))?;
    let rpl = u16::from_be_bytes([h[0], h[1]]);
    let actual = packet.len() - 2;
    if usize::from(rpl) != actual {
        return Err(Scp80Error::LengthMismatch {
            field: "RPL",
            offset: base,
            declared: usize::from(rpl),
            actual,
        });
    }
    let rhl = h[2];
    let tar = Tar([h[3], h[4], h[5]]);
    let ic_len = mechanism::integrity_len(spi.por_integrity, keys)?;
    if usize::from(rhl) != RHL_BASE + ic_len {
        return Err(Scp80Error::HeaderLength {
            field: "RHL",
            offset: base + 2,
            value: rhl,
            expected: (RHL_BASE + ic_len).to_string(),
        });
    }
    let raw = packet.get(6..).unwrap_or_default();
    let plain = if spi.por_ciphered {
        mechanism::decrypt(keys, raw, base + 6)?
    } else {
        raw.to_vec()
    };
    let fixed = take(&plain, 0, 7 + ic_len, "CNTR, PCNTR, status and RC/CC")
        .map_err(|e| shift(e, base + 6))?;
    let mut cntr = [0u8; 5];
    cntr.copy_from_slice(&fixed[..5]);
    let pcntr = fixed[5];
    let status = PorStatus::from_byte(fixed[6]);
    let integrity = fixed[7..].to_vec();
    let rest = plain.get(7 + ic_len..).unwrap_or_default();
    if spi.por_integrity != Integrity::None {
        let input = [udh_bytes, &packet[..6], &plain[..7], rest].concat();
        mechanism::verify_integrity(spi.por_integrity, keys, &input, &integrity, base + 6 + 7)?;
    }
    let data_len = rest
        .len()
        .checked_sub(usize::from(pcntr))
        .ok_or(Scp80Error::Padding {
            offset: base + 6 + 5,
            pcntr,
            available: rest.len(),
        })?;
    Ok(DecodedPor {
        rpl,
        rhl,
        padding: pcntr,
        integrity,
        packet: ResponsePacket {
            tar,
            counter: Counter::from_bytes(cntr),
            status,
            data: rest[..data_len].to_vec(),
        },
    })
}

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

/// The compact remote response (ETSI TS 102 226 §5.1.2): number of commands executed, status
/// word of the last one, and its response data if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactResponse {
    /// Number of executed commands.
    pub commands_executed: u8,
    /// Status word of the last executed command.
    pub last_sw: [u8; 2],
    /// Response data of the last executed command (may be empty).
    pub last_data: Vec<u8>,
}

impl CompactResponse {
    /// Decodes the additional response data of a PoR.
    pub fn decode(data: &[u8]) -> Result<Self, Scp80Error> {
        let f = take(data, 0, 3, "compact response (count, SW)")?;
        Ok(CompactResponse {
            commands_executed: f[0],
            last_sw: [f[1], f[2]],
            last_data: data.get(3..).unwrap_or_default().to_vec(),
        })
    }

    /// Encodes it.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(3 + self.last_data.len());
        v.push(self.commands_executed);
        v.extend_from_slice(&self.last_sw);
        v.extend_from_slice(&self.last_data);
        v
    }
}
