//! STORE DATA with block chaining (GlobalPlatform Card Specification v2.3 §11.11): `80 E2 P1 P2`,
//! P2 = block number (`00` for the first block, incremented by one per block).
//!
//! P1 (§11.11.2.1, Table 11-89):
//!
//! | bits | meaning |
//! |---|---|
//! | b8 | 1 = last block, 0 = more blocks |
//! | b7–b6 | 00 no encryption information, 01 application dependent, 10 RFU, 11 encrypted data |
//! | b5–b4 | 00 no structure information, 01 DGI format, 10 BER-TLV format, 11 RFU |
//! | b3–b2 | RFU (0) |
//! | b1 | 1 = response data may be returned (case 4), 0 = no response data expected |
//!
//! SGP.02 servers send `88` (last block, DGI, no response: enable, disable, connectivity
//! parameters), `89` (last block, DGI, response: notification confirmation, key establishment
//! message 2) and `09` (more blocks, DGI, response: key establishment message 1) (digest §2.7,
//! §3.2). The named constructors of [`StoreDataP1`] give those bytes.
//!
//! The card side gets each block as it arrives from [`AwaitingBlock::handle`] (SGP.02 answers
//! block 0 of the key establishment before block 1 is sent), or the whole chain from
//! [`Reassembler`].

use super::{CLA_GP, GpError, check_header, ins};
use crate::apdu::CommandApdu;

/// P1 b7–b6: encryption information.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encryption {
    /// `00`: no general encryption information, or non-encrypted data.
    None,
    /// `01`: application dependent encryption of the data.
    ApplicationDependent,
    /// `10`: RFU.
    Rfu,
    /// `11`: encrypted data.
    Encrypted,
}

/// P1 b5–b4: structure of the data field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataStructure {
    /// `00`: no general data structure information.
    None,
    /// `01`: DGI format (what SGP.02 declares for its `3Axx` payloads).
    Dgi,
    /// `10`: BER-TLV format.
    BerTlv,
    /// `11`: RFU.
    Rfu,
}

/// STORE DATA P1 (Card Spec v2.3 Table 11-89).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoreDataP1 {
    /// b8: this is the last block.
    pub last_block: bool,
    /// b7–b6.
    pub encryption: Encryption,
    /// b5–b4.
    pub structure: DataStructure,
    /// b1: response data may be returned.
    pub response_expected: bool,
}

impl StoreDataP1 {
    /// `88`: last block, DGI, no response data (SGP.02 enable/disable/connectivity parameters).
    pub const fn sgp02_last() -> Self {
        StoreDataP1 {
            last_block: true,
            encryption: Encryption::None,
            structure: DataStructure::Dgi,
            response_expected: false,
        }
    }

    /// `89`: last block, DGI, response data may be returned (SGP.02 notification confirmation,
    /// key establishment message 2).
    pub const fn sgp02_last_with_response() -> Self {
        StoreDataP1 {
            response_expected: true,
            ..Self::sgp02_last()
        }
    }

    /// `09`: more blocks follow, DGI, response data may be returned (SGP.02 key establishment
    /// message 1, the certificate `3A01`).
    pub const fn sgp02_more_with_response() -> Self {
        StoreDataP1 {
            last_block: false,
            ..Self::sgp02_last_with_response()
        }
    }

    /// `90`/`91`/`10`/`11`: BER-TLV structure (the form SGP.22 uses), last block or not.
    pub const fn ber_tlv(last_block: bool, response_expected: bool) -> Self {
        StoreDataP1 {
            last_block,
            encryption: Encryption::None,
            structure: DataStructure::BerTlv,
            response_expected,
        }
    }

    /// Decodes P1; the RFU bits b3–b2 must be zero.
    pub fn from_byte(p1: u8) -> Result<Self, GpError> {
        if p1 & 0x06 != 0 {
            return Err(GpError::BadP1 {
                command: "STORE DATA",
                p1,
            });
        }
        Ok(StoreDataP1 {
            last_block: p1 & 0x80 != 0,
            encryption: match (p1 >> 5) & 3 {
                0 => Encryption::None,
                1 => Encryption::ApplicationDependent,
                2 => Encryption::Rfu,
                _ => Encryption::Encrypted,
            },
            structure: match (p1 >> 3) & 3 {
                0 => DataStructure::None,
                1 => DataStructure::Dgi,
                2 => DataStructure::BerTlv,
                _ => DataStructure::Rfu,
            },
            response_expected: p1 & 0x01 != 0,
        })
    }

    /// Encodes P1.
    pub fn to_byte(self) -> u8 {
        let enc = match self.encryption {
            Encryption::None => 0,
            Encryption::ApplicationDependent => 1,
            Encryption::Rfu => 2,
            Encryption::Encrypted => 3,
        };
        let st = match self.structure {
            DataStructure::None => 0,
            DataStructure::Dgi => 1,
            DataStructure::BerTlv => 2,
            DataStructure::Rfu => 3,
        };
        (u8::from(self.last_block) << 7) | (enc << 5) | (st << 3) | u8::from(self.response_expected)
    }

    /// The same P1 with b8 set or cleared.
    pub const fn with_last_block(self, last_block: bool) -> Self {
        StoreDataP1 { last_block, ..self }
    }
}

/// One STORE DATA command (block).
pub fn command(p1: StoreDataP1, block: u8, data: impl Into<Vec<u8>>) -> CommandApdu {
    let cmd = CommandApdu::new(CLA_GP, ins::STORE_DATA, p1.to_byte(), block).with_data(data);
    if p1.response_expected {
        cmd.with_le(256)
    } else {
        cmd
    }
}

/// Splits `data` into STORE DATA blocks of at most `max_block` bytes (255 for short APDUs; less
/// when a secure channel adds a MAC). Every block takes `p1` with b8 set only on the last one;
/// P2 counts blocks from `00`. Blocks expecting a response carry `Le = 00`.
pub fn split(p1: StoreDataP1, data: &[u8], max_block: usize) -> Result<Vec<CommandApdu>, GpError> {
    if max_block == 0 {
        return Err(GpError::TooLarge {
            what: "STORE DATA block size 0",
            limit: 0,
        });
    }
    let chunks: Vec<&[u8]> = if data.is_empty() {
        vec![&[]]
    } else {
        data.chunks(max_block).collect()
    };
    if chunks.len() > 256 {
        return Err(GpError::TooLarge {
            what: "number of STORE DATA blocks",
            limit: 256,
        });
    }
    let n = chunks.len();
    Ok(chunks
        .into_iter()
        .enumerate()
        .map(|(i, c)| command(p1.with_last_block(i + 1 == n), i as u8, c))
        .collect())
}

/// One block received by the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Block number (P2).
    pub number: u8,
    /// P1 of this block.
    pub p1: StoreDataP1,
    /// The data field.
    pub data: Vec<u8>,
}

/// The card waiting for STORE DATA block `next` of a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingBlock {
    next: u16,
    first_p1: Option<StoreDataP1>,
}

impl Default for AwaitingBlock {
    fn default() -> Self {
        Self::new()
    }
}

/// What [`AwaitingBlock::handle`] yields: the block, and the state for the following one unless
/// this was the last block.
#[derive(Debug)]
#[must_use]
pub struct Received {
    /// The block.
    pub block: Block,
    /// Waiting for the next block; `None` after the last block.
    pub next: Option<AwaitingBlock>,
}

impl AwaitingBlock {
    /// Waiting for block `00` of a new chain.
    pub fn new() -> Self {
        AwaitingBlock {
            next: 0,
            first_p1: None,
        }
    }

    /// The block number expected.
    pub fn expected(&self) -> u16 {
        self.next
    }

    /// Checks one STORE DATA command: INS, P1 coding, block number (must be the expected one),
    /// and that structure and encryption bits match the chain's first block.
    pub fn handle(self, cmd: &CommandApdu) -> Result<Received, GpError> {
        check_header(cmd, ins::STORE_DATA)?;
        let p1 = StoreDataP1::from_byte(cmd.p1)?;
        if u16::from(cmd.p2) != self.next {
            return Err(GpError::BlockOutOfOrder {
                expected: self.next,
                found: cmd.p2,
            });
        }
        if let Some(first) = self.first_p1
            && (first.structure != p1.structure || first.encryption != p1.encryption)
        {
            return Err(GpError::InconsistentBlock {
                block: cmd.p2,
                p1: cmd.p1,
                first: first.to_byte(),
            });
        }
        let next = if p1.last_block {
            None
        } else if self.next >= 255 {
            return Err(GpError::TooLarge {
                what: "number of STORE DATA blocks",
                limit: 256,
            });
        } else {
            Some(AwaitingBlock {
                next: self.next + 1,
                first_p1: Some(self.first_p1.unwrap_or(p1)),
            })
        };
        Ok(Received {
            block: Block {
                number: cmd.p2,
                p1,
                data: cmd.data.clone(),
            },
            next,
        })
    }
}

/// A whole STORE DATA chain, reassembled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreDataMessage {
    /// P1 of the first block (b8 aside, every block agrees on structure and encryption).
    pub first_p1: StoreDataP1,
    /// Whether the last block allowed response data.
    pub response_expected: bool,
    /// Number of blocks.
    pub blocks: u16,
    /// The concatenated data fields.
    pub data: Vec<u8>,
}

/// Reassembles a STORE DATA chain on the card, bounded in size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassembler {
    state: AwaitingBlock,
    data: Vec<u8>,
    first_p1: Option<StoreDataP1>,
    max_len: usize,
}

/// Progress of a [`Reassembler`].
#[derive(Debug)]
#[must_use]
pub enum Reassembly {
    /// More blocks are needed (the card answers `9000` to the block).
    More(Reassembler),
    /// The chain is complete.
    Complete(StoreDataMessage),
}

impl Reassembler {
    /// Waiting for block 0, accepting at most `max_len` bytes in total.
    pub fn new(max_len: usize) -> Self {
        Reassembler {
            state: AwaitingBlock::new(),
            data: Vec::new(),
            first_p1: None,
            max_len,
        }
    }

    /// Adds one block.
    pub fn handle(mut self, cmd: &CommandApdu) -> Result<Reassembly, GpError> {
        let Received { block, next } = self.state.handle(cmd)?;
        if self.data.len() + block.data.len() > self.max_len {
            return Err(GpError::TooLarge {
                what: "STORE DATA chain",
                limit: self.max_len,
            });
        }
        self.data.extend_from_slice(&block.data);
        let first_p1 = *self.first_p1.get_or_insert(block.p1);
        match next {
            Some(state) => {
                self.state = state;
                Ok(Reassembly::More(self))
            }
            None => Ok(Reassembly::Complete(StoreDataMessage {
                first_p1,
                response_expected: block.p1.response_expected,
                blocks: u16::from(block.number) + 1,
                data: self.data,
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p1_codings() {
        assert_eq!(StoreDataP1::sgp02_last().to_byte(), 0x88);
        assert_eq!(StoreDataP1::sgp02_last_with_response().to_byte(), 0x89);
        assert_eq!(StoreDataP1::sgp02_more_with_response().to_byte(), 0x09);
        assert_eq!(StoreDataP1::ber_tlv(true, true).to_byte(), 0x91);
        assert_eq!(StoreDataP1::ber_tlv(false, true).to_byte(), 0x11);
        for b in 0..=255u8 {
            match StoreDataP1::from_byte(b) {
                Ok(p) => assert_eq!(p.to_byte(), b),
                Err(_) => assert_ne!(b & 0x06, 0),
            }
        }
        let p = StoreDataP1::from_byte(0xE0).unwrap();
        assert_eq!(p.encryption, Encryption::Encrypted);
    }

    #[test]
    fn split_and_reassemble() {
        let data: Vec<u8> = (0..600u32).map(|i| i as u8).collect();
        let cmds = split(StoreDataP1::sgp02_last(), &data, 255).unwrap();
        let p1s: Vec<(u8, u8, usize)> = cmds.iter().map(|c| (c.p1, c.p2, c.data.len())).collect();
        assert_eq!(p1s, [(0x08, 0, 255), (0x08, 1, 255), (0x88, 2, 90)]);
        assert!(cmds.iter().all(|c| c.le.is_none()));
        let mut r = Reassembler::new(1000);
        let mut done = None;
        for c in &cmds {
            match r.handle(c).unwrap() {
                Reassembly::More(next) => r = next,
                Reassembly::Complete(m) => {
                    done = Some(m);
                    break;
                }
            }
        }
        let m = done.unwrap();
        assert_eq!(m.data, data);
        assert_eq!(m.blocks, 3);
        assert_eq!(m.first_p1.structure, DataStructure::Dgi);
        // Empty data gives one empty last block.
        let cmds = split(StoreDataP1::sgp02_last_with_response(), &[], 255).unwrap();
        assert_eq!(cmds.len(), 1);
        assert_eq!(cmds[0].encode().unwrap(), [0x80, 0xE2, 0x89, 0x00, 0x00]);
    }

    #[test]
    fn rejects_out_of_order_and_inconsistent() {
        let cmds = split(StoreDataP1::sgp02_last(), &[1; 20], 5).unwrap();
        let r = Reassembler::new(100);
        assert_eq!(
            r.clone().handle(&cmds[1]).unwrap_err(),
            GpError::BlockOutOfOrder {
                expected: 0,
                found: 1
            }
        );
        let Reassembly::More(r) = r.handle(&cmds[0]).unwrap() else {
            panic!()
        };
        // Replay of block 0.
        assert!(matches!(
            r.clone().handle(&cmds[0]),
            Err(GpError::BlockOutOfOrder {
                expected: 1,
                found: 0
            })
        ));
        // Block 1 switching to BER-TLV structure.
        let mut odd = cmds[1].clone();
        odd.p1 = 0x10;
        assert!(matches!(
            r.clone().handle(&odd),
            Err(GpError::InconsistentBlock { block: 1, .. })
        ));
        // Size bound.
        let small = Reassembler::new(4);
        assert!(matches!(
            small.handle(&cmds[0]),
            Err(GpError::TooLarge { .. })
        ));
        // RFU bit in P1.
        let mut rfu = cmds[0].clone();
        rfu.p1 |= 0x02;
        assert!(matches!(
            AwaitingBlock::new().handle(&rfu),
            Err(GpError::BadP1 { p1: 0x0A, .. })
        ));
    }

    #[test]
    fn per_block_delivery() {
        // SGP.02 key establishment: 3A01 in block 0 (P1 09), 3A02 in block 1 (P1 89).
        let b0 = command(
            StoreDataP1::sgp02_more_with_response(),
            0,
            vec![0x3A, 0x01, 0x00],
        );
        let b1 = command(
            StoreDataP1::sgp02_last_with_response(),
            1,
            vec![0x3A, 0x02, 0x00],
        );
        assert_eq!(
            b0.encode().unwrap(),
            [0x80, 0xE2, 0x09, 0x00, 0x03, 0x3A, 0x01, 0x00, 0x00]
        );
        let r0 = AwaitingBlock::new().handle(&b0).unwrap();
        assert!(r0.block.p1.response_expected);
        let r1 = r0.next.unwrap().handle(&b1).unwrap();
        assert!(r1.next.is_none());
        assert_eq!(r1.block.number, 1);
    }
}
