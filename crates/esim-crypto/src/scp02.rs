//! Secure Channel Protocol '02' (GlobalPlatform Card Specification v2.3 Annex E), host side,
//! only as far as SGP.02 tooling and the known-answer vectors need it: 3DES session keys
//! (§E.4.1), card and host cryptograms (§E.4.2), EXTERNAL AUTHENTICATE and C-MAC on the modified
//! APDU with ICV encryption (i = `55`, §E.4.4). No C-DECRYPTION, no R-MAC.
//!
//! States: [`HostAwaitingInitUpdateResponse`] → [`HostAwaitingExtAuthResponse`] → [`HostSession`].

use crate::primitives::{
    CryptoError, SecretKey, ct_eq, des_cbc_encrypt, des_cbc_mac, des_encrypt_block, pad_80,
};
use crate::scp03::CommandApdu;

/// An SCP02 failure. Never contains key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Scp02Error {
    /// A cryptographic primitive failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// A static key that is not a 16-byte two-key 3DES key.
    #[error("SCP02 static keys must be 16 bytes, got {0}")]
    KeyLength(usize),
    /// The INITIALIZE UPDATE response is not 28 bytes.
    #[error("INITIALIZE UPDATE response must be 28 bytes, got {0}")]
    ResponseLength(usize),
    /// The INITIALIZE UPDATE response names another protocol.
    #[error("INITIALIZE UPDATE response is for SCP{0:02X}, not SCP02")]
    NotScp02(u8),
    /// The card cryptogram did not verify: the card does not hold these keys.
    #[error("card cryptogram mismatch")]
    CardCryptogram,
    /// The card answered with an error status word.
    #[error("card returned status {0:04X}")]
    CardStatus(u16),
    /// A command APDU that cannot be parsed or wrapped.
    #[error("APDU: {0}")]
    Apdu(String),
}

type Result<T> = std::result::Result<T, Scp02Error>;

/// An SCP02 static keyset: Key-ENC, Key-MAC, Key-DEK (two-key 3DES, 16 bytes each) and KVN.
#[derive(Clone, Debug)]
pub struct StaticKeys {
    kvn: u8,
    enc: SecretKey,
    mac: SecretKey,
    dek: SecretKey,
}

impl StaticKeys {
    /// A keyset of three 16-byte keys.
    pub fn new(kvn: u8, enc: SecretKey, mac: SecretKey, dek: SecretKey) -> Result<Self> {
        for k in [&enc, &mac, &dek] {
            if k.len() != 16 {
                return Err(Scp02Error::KeyLength(k.len()));
            }
        }
        Ok(StaticKeys { kvn, enc, mac, dek })
    }
}

/// SCP02 session keys (GP CS Annex E.4.1).
#[derive(Clone, Debug)]
pub struct SessionKeys {
    /// S-ENC (constant `0182`).
    pub s_enc: SecretKey,
    /// C-MAC key (constant `0101`).
    pub c_mac: SecretKey,
    /// R-MAC key (constant `0102`).
    pub r_mac: SecretKey,
    /// DEK session key (constant `0181`).
    pub dek: SecretKey,
}

/// `3DES-CBC(key, IV 0, constant ‖ sequence counter ‖ 12×00)` (Annex E.4.1).
fn derive(key: &SecretKey, constant: [u8; 2], seq: [u8; 2]) -> Result<SecretKey> {
    let mut block = [0u8; 16];
    block[..2].copy_from_slice(&constant);
    block[2..4].copy_from_slice(&seq);
    Ok(SecretKey::from_vec(des_cbc_encrypt(
        key.expose(),
        &[0; 8],
        &block,
    )?))
}

impl SessionKeys {
    /// Derives the four session keys from the static keys and the sequence counter.
    pub fn derive(keys: &StaticKeys, sequence_counter: [u8; 2]) -> Result<Self> {
        Ok(SessionKeys {
            s_enc: derive(&keys.enc, [0x01, 0x82], sequence_counter)?,
            c_mac: derive(&keys.mac, [0x01, 0x01], sequence_counter)?,
            r_mac: derive(&keys.mac, [0x01, 0x02], sequence_counter)?,
            dek: derive(&keys.dek, [0x01, 0x81], sequence_counter)?,
        })
    }
}

/// Full 3DES MAC (ISO/IEC 9797-1 algorithm 1, padding method 2, zero ICV) with S-ENC, as used
/// for the cryptograms (Annex E.4.2).
fn cryptogram(s_enc: &SecretKey, parts: &[&[u8]]) -> Result<[u8; 8]> {
    let mut data: Vec<u8> = parts.concat();
    pad_80(&mut data, 8);
    Ok(des_cbc_mac(s_enc.expose(), &[0; 8], &data)?)
}

/// Retail MAC (ISO/IEC 9797-1 algorithm 3, padding method 2) with the C-MAC key (Annex E.4.4):
/// single-DES CBC with the first key half, 3DES on the last block.
fn retail_mac(key: &SecretKey, icv: &[u8; 8], data: &[u8]) -> Result<[u8; 8]> {
    let mut padded = data.to_vec();
    pad_80(&mut padded, 8);
    let k = key.expose();
    let k1 = k.get(..8).ok_or(Scp02Error::KeyLength(k.len()))?;
    let split = padded.len() - 8;
    let chained: [u8; 8] = if split == 0 {
        *icv
    } else {
        let ct = des_cbc_encrypt(k1, icv, &padded[..split])?;
        let mut last = [0u8; 8];
        last.copy_from_slice(&ct[split - 8..]);
        last
    };
    let mut block = [0u8; 8];
    for (i, b) in block.iter_mut().enumerate() {
        *b = padded[split + i] ^ chained[i];
    }
    Ok(des_encrypt_block(k, &block)?)
}

/// Host waiting for the INITIALIZE UPDATE response.
#[derive(Debug)]
pub struct HostAwaitingInitUpdateResponse {
    keys: StaticKeys,
    host_challenge: [u8; 8],
}

impl HostAwaitingInitUpdateResponse {
    /// Starts a session; returns the state and `80 50 KVN 00 08 host-challenge 00`.
    pub fn start(keys: StaticKeys, host_challenge: [u8; 8]) -> (Self, Vec<u8>) {
        let apdu = crate::scp03::initialize_update_command(keys.kvn, 0x00, &host_challenge);
        (
            HostAwaitingInitUpdateResponse {
                keys,
                host_challenge,
            },
            apdu,
        )
    }

    /// Handles the 28-byte INITIALIZE UPDATE response (`div data(10) ‖ KVN ‖ 02 ‖ sequence
    /// counter(2) ‖ card challenge(6) ‖ card cryptogram(8)`): derives the session keys, checks the
    /// card cryptogram and returns the EXTERNAL AUTHENTICATE APDU at security level `01` (C-MAC).
    pub fn handle(
        self,
        response_data: &[u8],
        sw: u16,
    ) -> Result<(HostAwaitingExtAuthResponse, Vec<u8>)> {
        if sw != 0x9000 {
            return Err(Scp02Error::CardStatus(sw));
        }
        if response_data.len() != 28 {
            return Err(Scp02Error::ResponseLength(response_data.len()));
        }
        if response_data[11] != 0x02 {
            return Err(Scp02Error::NotScp02(response_data[11]));
        }
        let seq = [response_data[12], response_data[13]];
        let card_challenge = &response_data[14..20];
        let card_cryptogram = &response_data[20..28];
        let keys = SessionKeys::derive(&self.keys, seq)?;
        let expected = cryptogram(&keys.s_enc, &[&self.host_challenge, &seq, card_challenge])?;
        if !ct_eq(&expected, card_cryptogram) {
            return Err(Scp02Error::CardCryptogram);
        }
        let host_cryptogram =
            cryptogram(&keys.s_enc, &[&seq, card_challenge, &self.host_challenge])?;
        let mut session = HostSession {
            keys,
            last_mac: None,
            sequence_counter: u16::from_be_bytes(seq),
        };
        let mut ea = vec![0x80, 0x82, 0x01, 0x00, 0x08];
        ea.extend_from_slice(&host_cryptogram);
        let ext_auth = session.wrap_cmd(&ea)?;
        Ok((
            HostAwaitingExtAuthResponse {
                session,
                host_cryptogram,
                card_cryptogram: expected,
            },
            ext_auth,
        ))
    }
}

/// Host waiting for the status of EXTERNAL AUTHENTICATE.
#[derive(Debug)]
pub struct HostAwaitingExtAuthResponse {
    session: HostSession,
    host_cryptogram: [u8; 8],
    card_cryptogram: [u8; 8],
}

impl HostAwaitingExtAuthResponse {
    /// The session keys.
    pub fn session_keys(&self) -> &SessionKeys {
        &self.session.keys
    }

    /// The sequence counter from the INITIALIZE UPDATE response.
    pub fn sequence_counter(&self) -> u16 {
        self.session.sequence_counter
    }

    /// The host cryptogram sent.
    pub fn host_cryptogram(&self) -> [u8; 8] {
        self.host_cryptogram
    }

    /// The (verified) card cryptogram.
    pub fn card_cryptogram(&self) -> [u8; 8] {
        self.card_cryptogram
    }

    /// `9000` opens the session.
    pub fn handle(self, sw: u16) -> Result<HostSession> {
        if sw != 0x9000 {
            return Err(Scp02Error::CardStatus(sw));
        }
        Ok(self.session)
    }
}

/// An open SCP02 session at security level `01` (C-MAC), host side.
#[derive(Debug)]
pub struct HostSession {
    keys: SessionKeys,
    last_mac: Option<[u8; 8]>,
    sequence_counter: u16,
}

impl HostSession {
    /// Wraps a command: CLA bit `04`, Lc + 8, C-MAC over the modified header and data with the
    /// ICV = DES(first half of the C-MAC key, previous C-MAC) (zero for the first command).
    pub fn wrap_cmd(&mut self, apdu: &[u8]) -> Result<Vec<u8>> {
        let mut c = CommandApdu::parse(apdu).map_err(|e| Scp02Error::Apdu(e.to_string()))?;
        let lc = c.data.len() + 8;
        if lc > 255 {
            return Err(Scp02Error::Apdu(format!(
                "wrapped data of {lc} bytes exceeds 255"
            )));
        }
        c.cla |= 0x04;
        let icv = match self.last_mac {
            None => [0u8; 8],
            Some(m) => {
                let k = self.keys.c_mac.expose();
                des_encrypt_block(k.get(..8).unwrap_or(k), &m)?
            }
        };
        let mut input = vec![c.cla, c.ins, c.p1, c.p2, lc as u8];
        input.extend_from_slice(&c.data);
        let mac = retail_mac(&self.keys.c_mac, &icv, &input)?;
        self.last_mac = Some(mac);
        c.data.extend_from_slice(&mac);
        c.to_bytes().map_err(|e| Scp02Error::Apdu(e.to_string()))
    }
}
