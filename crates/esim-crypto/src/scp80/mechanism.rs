//! The cryptographic mechanisms of SCP80 in one place (ETSI TS 102 225 §5.1.2, §5.1.3):
//! CBC ciphering with zero IV, CC (DES-family CBC-MAC over zero-padded input, AES-CMAC truncated
//! to 8 bytes), RC (CRC16/CRC32 of ISO/IEC 13239), and the zero padding counted in PCNTR.

use super::{Integrity, Keyset, Scp80Error};
use crate::primitives::{aes_cbc_decrypt, aes_cbc_encrypt, aes_cmac, des_cbc_decrypt};
use crate::primitives::{ct_eq, des_cbc_encrypt, des_cbc_mac};

/// Length of a CC (TS 102 225 §5.1.3.1: 8 bytes for DES-family and AES).
pub(crate) const CC_LEN: usize = 8;

/// Number of zero padding bytes that make `len` a multiple of `block` (0 if it already is).
pub(crate) fn padding_for(len: usize, block: usize) -> usize {
    (block - len % block) % block
}

/// Length of the RC/CC/DS field for `integrity` with this keyset (DS is not supported).
pub(crate) fn integrity_len(integrity: Integrity, keys: &Keyset) -> Result<usize, Scp80Error> {
    match integrity {
        Integrity::None => Ok(0),
        Integrity::Cc => Ok(CC_LEN),
        Integrity::Rc => Ok(keys.rc()?.output_len()),
        Integrity::Ds => Err(Scp80Error::UnsupportedAlgorithm {
            field: "SPI",
            what: "digital signature",
        }),
    }
}

/// Computes the RC/CC over `input` (empty for [`Integrity::None`]).
pub(crate) fn integrity_value(
    integrity: Integrity,
    keys: &Keyset,
    input: &[u8],
) -> Result<Vec<u8>, Scp80Error> {
    match integrity {
        Integrity::None => Ok(Vec::new()),
        Integrity::Cc => Ok(cc(keys, input)?.to_vec()),
        Integrity::Rc => Ok(match keys.rc()? {
            super::RcAlgorithm::Crc16 => crc16(input).to_be_bytes().to_vec(),
            super::RcAlgorithm::Crc32 => crc32(input).to_be_bytes().to_vec(),
        }),
        Integrity::Ds => Err(Scp80Error::UnsupportedAlgorithm {
            field: "SPI",
            what: "digital signature",
        }),
    }
}

/// Checks a received RC/CC in constant time; `offset` locates it for the error.
pub(crate) fn verify_integrity(
    integrity: Integrity,
    keys: &Keyset,
    input: &[u8],
    received: &[u8],
    offset: usize,
) -> Result<(), Scp80Error> {
    let expected = integrity_value(integrity, keys, input)?;
    if ct_eq(&expected, received) {
        Ok(())
    } else if integrity == Integrity::Rc {
        Err(Scp80Error::RcMismatch { offset })
    } else {
        Err(Scp80Error::CcMismatch { offset })
    }
}

/// The 8-byte CC of `input`.
fn cc(keys: &Keyset, input: &[u8]) -> Result<[u8; CC_LEN], Scp80Error> {
    let (alg, key) = keys.cc()?;
    match alg {
        super::CcAlgorithm::AesCmac => {
            let full = aes_cmac(key.expose(), input)?;
            let mut out = [0u8; CC_LEN];
            out.copy_from_slice(&full[..CC_LEN]);
            Ok(out)
        }
        _ => {
            let mut padded = input.to_vec();
            padded.resize(input.len() + padding_for(input.len(), 8), 0);
            Ok(des_cbc_mac(key.expose(), &[0; 8], &padded)?)
        }
    }
}

/// Block size of the keyset's cipher.
pub(crate) fn block_size(keys: &Keyset) -> Result<usize, Scp80Error> {
    Ok(keys.cipher()?.0.block_size())
}

/// CBC encryption, zero IV; `data` is already padded.
pub(crate) fn encrypt(keys: &Keyset, data: &[u8]) -> Result<Vec<u8>, Scp80Error> {
    let (alg, key) = keys.cipher()?;
    Ok(match alg {
        super::CipherAlgorithm::AesCbc => aes_cbc_encrypt(key.expose(), &[0; 16], data)?,
        _ => des_cbc_encrypt(key.expose(), &[0; 8], data)?,
    })
}

/// CBC decryption, zero IV; `offset` locates the ciphered part for the error.
pub(crate) fn decrypt(keys: &Keyset, data: &[u8], offset: usize) -> Result<Vec<u8>, Scp80Error> {
    let (alg, key) = keys.cipher()?;
    let block = alg.block_size();
    if data.is_empty() || data.len() % block != 0 {
        return Err(Scp80Error::CipherLength {
            offset,
            len: data.len(),
            block,
        });
    }
    Ok(match alg {
        super::CipherAlgorithm::AesCbc => aes_cbc_decrypt(key.expose(), &[0; 16], data)?,
        _ => des_cbc_decrypt(key.expose(), &[0; 8], data)?,
    })
}

/// CRC-16 of ISO/IEC 13239 (polynomial x^16 + x^12 + x^5 + 1, reflected, initial value `FFFF`,
/// final one's complement; also known as CRC-16/X-25). TS 102 225 §5.1.3.2 codes it as KID
/// `x1`; the RC field carries it most significant byte first (docs/spec-choices.md).
pub fn crc16(data: &[u8]) -> u16 {
    let mut crc: u16 = 0xFFFF;
    for &b in data {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x8408
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// CRC-32 of ISO/IEC 13239 (polynomial `04C11DB7`, reflected, initial value `FFFFFFFF`, final
/// one's complement; the CRC of ZIP and Ethernet). KID `x5`; sent most significant byte first.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc: u32 = 0xFFFF_FFFF;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_check_values() {
        // The catalogue check values for the input "123456789".
        assert_eq!(crc16(b"123456789"), 0x906E);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn padding_counts() {
        assert_eq!(padding_for(13, 8), 3);
        assert_eq!(padding_for(16, 16), 0);
        assert_eq!(padding_for(21, 16), 11);
        assert_eq!(padding_for(0, 8), 0);
    }
}
