//! The ISD-R's OTA keysets and the SCP80 receiving entity (ETSI TS 102 225 §5–6, 3GPP TS 31.115;
//! digest §5.1, §5.3).
//!
//! * [`Scp80Keyset`]: one SCP80 keyset (KVN = key index in KIc/KID, AES KIc/KID/DEK) with the
//!   last counter accepted under it (replay protection).
//! * [`Scp81Keyset`]: one SCP81 PSK-TLS keyset with its PSK identity (SGP.02 §2.4.4.1).
//! * [`receive`]: checks a command packet the way a receiving entity does, in this order:
//!   UDH and header (malformed → discarded, no PoR), keyset by key index (none → discarded),
//!   deciphering and RC/CC (failure → PoR status `01`/`05`/`06`), counter (`02`/`03`/`04`).
//!   The caller then checks the TAR (`09`) and the minimum security level (`0A`), executes, and
//!   commits the counter with [`Scp80Keyset::accept_counter`] only for executed packets: a
//!   packet failing any check never moves the counter.
//! * [`por`]: the response packet, secured as the command's SPI byte 2 says.
//! * [`notification_packet`]: the MO packet that carries a default notification (digest §3.3).

use crate::persist;
use esim_codec::Tar;
use esim_crypto::SecretKey;
use esim_crypto::primitives::aes_cbc_decrypt;
use esim_crypto::scp80::{
    CcAlgorithm, CipherAlgorithm, CommandHeader, CommandPacket, Counter, CounterMode, Integrity,
    Keyset, Kic, KicAlgorithm, Kid, PorRequest, PorStatus, ResponsePacket, Spi, parse_command, udh,
};
use serde::{Deserialize, Serialize};

/// One SCP80 keyset of the ISD-R.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scp80Keyset {
    /// Key version number: the key index (b8–b5) of KIc and KID, `01`–`0F`.
    pub kvn: u8,
    #[serde(with = "persist::secret")]
    kic: SecretKey,
    #[serde(with = "persist::secret")]
    kid: SecretKey,
    #[serde(with = "persist::secret")]
    dek: SecretKey,
    /// The last counter value accepted under this keyset.
    pub counter: u64,
}

impl Scp80Keyset {
    /// A keyset with its AES keys and initial counter (the value the first packet must exceed).
    pub fn new(kvn: u8, kic: SecretKey, kid: SecretKey, dek: SecretKey, counter: u64) -> Self {
        Scp80Keyset {
            kvn,
            kic,
            kid,
            dek,
            counter,
        }
    }

    /// From the keys an ECKA establishment or the EUM produced; the initial counter is read big
    /// endian (at most 5 significant bytes).
    pub fn from_keys(keys: &esim_crypto::ecka::Scp80Keys) -> Self {
        let counter = keys
            .initial_counter
            .iter()
            .fold(0u64, |a, &b| (a << 8) | u64::from(b))
            & Counter::MAX.value();
        Scp80Keyset::new(
            keys.kvn,
            keys.kic.clone(),
            keys.kid.clone(),
            keys.dek.clone(),
            counter,
        )
    }

    /// The keyset as the SCP80 layer applies it to a packet carrying `kic`/`kid` bytes (the
    /// algorithms come from those codings; AES keys of another algorithm fail there).
    pub fn keyset(&self, kic: Kic, kid: Kid) -> Keyset {
        Keyset::new(kic, self.kic.clone(), kid, self.kid.clone())
    }

    /// The keyset as the card uses it for packets it originates (AES-CBC, AES-CMAC).
    pub fn default_keyset(&self) -> Keyset {
        // kvn is 1..=15 for every keyset the card accepts, so the codings are valid.
        let kic = Kic::new(self.kvn & 0x0F, CipherAlgorithm::AesCbc).unwrap_or(Kic(0x02));
        let kid = Kid::cc(self.kvn & 0x0F, CcAlgorithm::AesCmac).unwrap_or(Kid(0x02));
        self.keyset(kic, kid)
    }

    /// The stored counter.
    pub fn stored_counter(&self) -> Counter {
        Counter::new(self.counter).unwrap_or(Counter::MAX)
    }

    /// Records the counter of an executed packet (kept monotonic).
    pub fn accept_counter(&mut self, received: Counter) {
        self.counter = self.counter.max(received.value());
    }

    /// The data encryption key (for keys delivered under this keyset).
    pub fn dek(&self) -> &SecretKey {
        &self.dek
    }
}

/// One SCP81 PSK-TLS keyset of the ISD-R (SGP.02 §2.4.4.1; digest §5.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scp81Keyset {
    /// Key version number.
    pub kvn: u8,
    /// Key identifier.
    pub kid: u8,
    /// PSK identity ([`esim_crypto::pki::scp81_psk_identity`]), written hex-encoded into the
    /// TLS `psk_identity`.
    pub identity: Vec<u8>,
    #[serde(with = "persist::secret")]
    psk: SecretKey,
}

impl Scp81Keyset {
    /// A keyset.
    pub fn new(kvn: u8, kid: u8, identity: Vec<u8>, psk: SecretKey) -> Self {
        Scp81Keyset {
            kvn,
            kid,
            identity,
            psk,
        }
    }

    /// The pre-shared key.
    pub fn psk(&self) -> &SecretKey {
        &self.psk
    }
}

/// A command packet that passed the security checks of [`receive`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The header (SPI, KIc, KID, TAR).
    pub header: CommandHeader,
    /// The packet's counter.
    pub counter: Counter,
    /// The secured data (script or trigger).
    pub data: Vec<u8>,
    /// KVN of the keyset that opened it.
    pub kvn: u8,
}

/// Why [`receive`] did not accept a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// Discarded without any PoR (malformed, reserved coding, no keyset for the key index).
    Discarded(String),
    /// Refused with a PoR status, secured with the keyset of `kvn`.
    Status {
        /// The header.
        header: CommandHeader,
        /// The counter read from the packet (zero when it could not be read).
        counter: Counter,
        /// PoR status.
        status: PorStatus,
        /// The keyset found by key index.
        kvn: u8,
        /// What failed.
        reason: String,
    },
}

/// The key index that selects the keyset: KID's when the SPI asks for RC/CC/DS, else KIc's
/// (docs/spec-choices.md "SCP80 keyset selection").
fn key_index(h: &CommandHeader) -> Result<u8, String> {
    let by_kid = h.spi.integrity != Integrity::None;
    match (h.spi.ciphering, by_kid) {
        (true, true) if h.kic.key_index() != h.kid.key_index() => Err(format!(
            "KIc key index {} differs from KID key index {}",
            h.kic.key_index(),
            h.kid.key_index()
        )),
        (_, true) => Ok(h.kid.key_index()),
        _ => Ok(h.kic.key_index()),
    }
}

/// Reads CNTR of a packet whose RC/CC failed, for the PoR: the first bytes after the TAR,
/// deciphered with the keyset's AES KIc when the SPI asks for ciphering.
fn counter_of(packet: &[u8], h: &CommandHeader, ks: &Scp80Keyset) -> Counter {
    let Some(tail) = packet.get(10..) else {
        return Counter::ZERO;
    };
    let first = if h.spi.ciphering {
        if !matches!(
            h.kic.algorithm(),
            KicAlgorithm::Cipher(CipherAlgorithm::AesCbc)
        ) {
            return Counter::ZERO;
        }
        let Some(block) = tail.get(..16) else {
            return Counter::ZERO;
        };
        match aes_cbc_decrypt(ks.kic.expose(), &[0; 16], block) {
            Ok(p) => p,
            Err(_) => return Counter::ZERO,
        }
    } else {
        tail.to_vec()
    };
    match first.get(..5) {
        Some(c) => Counter::from_bytes([c[0], c[1], c[2], c[3], c[4]]),
        None => Counter::ZERO,
    }
}

/// Checks a command packet given as SMS user data (UDH with CPI `70`): header, keyset, RC/CC and
/// deciphering, counter. Changes nothing: the caller commits the counter after execution.
pub fn receive(keysets: &[Scp80Keyset], user_data: &[u8]) -> Result<Received, Refused> {
    let packet =
        udh::strip_command_udh(user_data).map_err(|e| Refused::Discarded(e.to_string()))?;
    let sc = parse_command(packet).map_err(|e| Refused::Discarded(e.to_string()))?;
    let h = *sc.header();
    let idx = key_index(&h).map_err(Refused::Discarded)?;
    let ks = keysets
        .iter()
        .find(|k| k.kvn == idx)
        .ok_or_else(|| Refused::Discarded(format!("no SCP80 keyset with key index {idx}")))?;
    let refuse = |status: PorStatus, counter: Counter, reason: String| Refused::Status {
        header: h,
        counter,
        status,
        kvn: ks.kvn,
        reason,
    };
    let opened = match sc.open(&ks.keyset(h.kic, h.kid)) {
        Ok(o) => o,
        Err(e) => {
            return Err(match e.por_status() {
                Some(st) => refuse(st, counter_of(packet, &h, ks), e.to_string()),
                None => Refused::Discarded(e.to_string()),
            });
        }
    };
    if let Err(st) = opened.check_counter(ks.stored_counter()) {
        return Err(refuse(
            st,
            opened.counter,
            format!(
                "counter {} refused (stored {}, mode {})",
                opened.counter,
                ks.stored_counter(),
                h.spi.counter.name()
            ),
        ));
    }
    Ok(Received {
        header: h,
        counter: opened.counter,
        data: opened.data,
        kvn: ks.kvn,
    })
}

/// The ISD-R's minimum security level (SGP.02 §2.4.3, digest §5.1): cryptographic checksum,
/// ciphering and a counter that must increase. Anything less is answered `0A`.
pub fn meets_minimum_security(spi: &Spi) -> bool {
    spi.integrity == Integrity::Cc
        && spi.ciphering
        && matches!(
            spi.counter,
            CounterMode::MustBeHigher | CounterMode::MustBeOneHigher
        )
}

/// The PoR (SMS user data `02 71 00 …`) for a command, if its SPI asks for one with this status,
/// secured as SPI byte 2 says under the command's keyset. `None` when no PoR is wanted or it
/// cannot be built (too long).
pub fn por(
    header: &CommandHeader,
    keyset: &Scp80Keyset,
    counter: Counter,
    status: PorStatus,
    data: Vec<u8>,
) -> Option<Vec<u8>> {
    if !header.spi.wants_por(status) {
        return None;
    }
    ResponsePacket {
        tar: header.tar,
        counter,
        status,
        data,
    }
    .encode(&header.spi, &keyset.keyset(header.kic, header.kid))
    .ok()
}

/// SPI of the MO packet carrying a default notification: CC, ciphering, **no counter**, no PoR
/// (digest §3.3; docs/spec-choices.md "notification by SMS").
pub const NOTIFICATION_SPI: Spi = Spi {
    counter: CounterMode::None,
    ciphering: true,
    integrity: Integrity::Cc,
    por: PorRequest::None,
    por_integrity: Integrity::None,
    por_ciphered: false,
    por_via_submit: false,
};

/// The SMS user data (`02 70 00 ‖ command packet`) of an MO message carrying `notification`
/// (the `E1` TLV) from the ISD-R (TAR `000001`), counter `0000000000`, secured with `keyset`.
pub fn notification_packet(keyset: &Scp80Keyset, notification: &[u8]) -> Option<Vec<u8>> {
    CommandPacket {
        spi: NOTIFICATION_SPI,
        tar: Tar::ISD_R,
        counter: Counter::ZERO,
        data: notification.to_vec(),
    }
    .encode(&keyset.default_keyset())
    .ok()
    .map(|p| udh::add_command_udh(&p))
}
