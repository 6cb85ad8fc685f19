//! The device agent's configuration: a TOML file with defaults for everything, and a few
//! environment overrides ([`DeviceConfig::apply_env`]).
//!
//! ```toml
//! cards_dir = "cards"            # every sub-directory with card.json and msisdn.txt
//! [[cards]]                      # and/or cards listed one by one
//! dir = "cards/89049032..."
//! msisdn = "447700900001"
//!
//! [smsc]
//! address = "127.0.0.1:2775"
//! system_id = "device"
//! password = "secret"
//!
//! [smsr]
//! sms_address = "SMSR"           # where notifications go (PoRs go back to each command's sender)
//! https_address = "127.0.0.1:8443"
//! https_host = "smsr.example"
//! admin_uri = "/gp/admin"
//! notification_transport = "sms" # or "https"
//!
//! [network]
//! reachable = ["00101"]
//! # mnc_length = 2
//! ```

use crate::error::DeviceError;
use crate::network::Plmn;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

/// A secret string (SMPP password): redacted in `Debug`, zeroized on drop.
#[derive(Clone, Default)]
pub struct SecretString(Zeroizing<String>);

impl Serialize for SecretString {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(SecretString::new)
    }
}

impl SecretString {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        SecretString(Zeroizing::new(s.into()))
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One hosted card.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardEntry {
    /// The card directory (`card.json`), relative to the configuration file's directory.
    pub dir: PathBuf,
    /// The MSISDN the card's modem serves (its SMPP `address_range` and MO originator).
    pub msisdn: String,
    /// SMPP `system_id` for this card (default: `[smsc] system_id`).
    #[serde(default)]
    pub system_id: Option<String>,
}

/// The SMSC connection.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmscSettings {
    /// `host:port`.
    pub address: String,
    /// SMPP `system_id` (at most 15 characters).
    pub system_id: String,
    /// SMPP password (at most 8 characters).
    pub password: SecretString,
}

impl Default for SmscSettings {
    fn default() -> Self {
        SmscSettings {
            address: "127.0.0.1:2775".into(),
            system_id: "device".into(),
            password: SecretString::default(),
        }
    }
}

/// How notifications reach the SM-SR (digest §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationTransport {
    /// MO SMS with the card's SCP80 packet (default).
    #[default]
    Sms,
    /// PSK-TLS `POST` to `<admin URI>?msg=<hex E1>`; SMS when no HTTPS address is known.
    Https,
}

/// The SM-SR's addresses.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsrSettings {
    /// Destination address of the card's notifications (MO SMS); a PoR goes back to the
    /// originator of its command, or here when that is empty.
    pub sms_address: String,
    /// SCP81 server `host:port` (else the trigger's `8A` host is resolved).
    pub https_address: Option<String>,
    /// `Host` header when the trigger has no `8A`.
    pub https_host: Option<String>,
    /// Admin URI when the trigger has no `8C`.
    pub admin_uri: String,
    /// Notification transport.
    pub notification_transport: NotificationTransport,
}

impl Default for SmsrSettings {
    fn default() -> Self {
        SmsrSettings {
            sms_address: "SMSR".into(),
            https_address: None,
            https_host: None,
            admin_uri: "/gp/admin".into(),
            notification_transport: NotificationTransport::Sms,
        }
    }
}

/// The radio network at start-up.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSettings {
    /// PLMNs reachable at start (`MCCMNC`).
    pub reachable: Vec<String>,
    /// MNC length used to cut IMSIs (else EF.AD, else 2).
    pub mnc_length: Option<u8>,
}

/// Retry and timing policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimingSettings {
    /// Admin session attempts when the trigger has no retry policy (`86`), and the cap on its
    /// counter.
    pub admin_attempts: u32,
    /// First back-off between admin session attempts (ms); doubles each time.
    pub admin_backoff_ms: u64,
    /// Largest admin back-off (ms).
    pub admin_backoff_max_ms: u64,
    /// Bound on one admin session (ms).
    pub admin_session_timeout_ms: u64,
    /// First delay before re-sending unconfirmed notifications (ms); doubles each time.
    pub notification_retry_ms: u64,
    /// Largest notification retry delay (ms).
    pub notification_retry_max_ms: u64,
    /// An incomplete concatenated SMS is dropped after this long (ms).
    pub reassembly_timeout_ms: u64,
}

impl Default for TimingSettings {
    fn default() -> Self {
        TimingSettings {
            admin_attempts: 3,
            admin_backoff_ms: 500,
            admin_backoff_max_ms: 30_000,
            admin_session_timeout_ms: 120_000,
            notification_retry_ms: 5_000,
            notification_retry_max_ms: 300_000,
            reassembly_timeout_ms: 60_000,
        }
    }
}

impl TimingSettings {
    pub(crate) fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceConfig {
    /// Host every sub-directory holding `card.json` and `msisdn.txt`.
    pub cards_dir: Option<PathBuf>,
    /// Cards listed one by one.
    pub cards: Vec<CardEntry>,
    /// SMSC.
    pub smsc: SmscSettings,
    /// SM-SR.
    pub smsr: SmsrSettings,
    /// Network.
    pub network: NetworkSettings,
    /// Timing.
    pub timing: TimingSettings,
}

impl DeviceConfig {
    /// Parses TOML text; relative card paths are taken relative to `base`.
    pub fn from_toml(text: &str, base: &Path) -> Result<Self, DeviceError> {
        let mut c: DeviceConfig =
            toml::from_str(text).map_err(|e| DeviceError::Config(e.to_string()))?;
        if let Some(d) = &c.cards_dir
            && d.is_relative()
        {
            c.cards_dir = Some(base.join(d));
        }
        for card in &mut c.cards {
            if card.dir.is_relative() {
                card.dir = base.join(&card.dir);
            }
        }
        Ok(c)
    }

    /// Reads a TOML file.
    pub fn load(path: &Path) -> Result<Self, DeviceError> {
        let text = std::fs::read_to_string(path).map_err(|e| DeviceError::io(path, e))?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_toml(&text, base).map_err(|e| match e {
            DeviceError::Config(m) => DeviceError::Config(format!("{}: {m}", path.display())),
            e => e,
        })
    }

    /// Environment overrides: `ESIM_DEVICE_SMSC_ADDRESS`, `ESIM_DEVICE_SMSC_SYSTEM_ID`,
    /// `ESIM_DEVICE_SMSC_PASSWORD`, `ESIM_DEVICE_SMSR_SMS_ADDRESS`,
    /// `ESIM_DEVICE_SMSR_HTTPS_ADDRESS`, `ESIM_DEVICE_REACHABLE` (comma-separated PLMNs).
    pub fn apply_env(&mut self, vars: impl IntoIterator<Item = (String, String)>) {
        for (k, v) in vars {
            match k.as_str() {
                "ESIM_DEVICE_SMSC_ADDRESS" => self.smsc.address = v,
                "ESIM_DEVICE_SMSC_SYSTEM_ID" => self.smsc.system_id = v,
                "ESIM_DEVICE_SMSC_PASSWORD" => self.smsc.password = SecretString::new(v),
                "ESIM_DEVICE_SMSR_SMS_ADDRESS" => self.smsr.sms_address = v,
                "ESIM_DEVICE_SMSR_HTTPS_ADDRESS" => self.smsr.https_address = Some(v),
                "ESIM_DEVICE_REACHABLE" => {
                    self.network.reachable = v
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect()
                }
                _ => {}
            }
        }
    }

    /// The reachable PLMNs at start.
    pub fn reachable(&self) -> Result<Vec<Plmn>, DeviceError> {
        self.network
            .reachable
            .iter()
            .map(|p| Plmn::parse(p).map_err(DeviceError::Config))
            .collect()
    }

    /// Every card to host: the listed ones, then those found under `cards_dir` (sorted), each
    /// directory once.
    pub fn card_entries(&self) -> Result<Vec<CardEntry>, DeviceError> {
        let mut out = self.cards.clone();
        if let Some(dir) = &self.cards_dir {
            let rd = std::fs::read_dir(dir).map_err(|e| DeviceError::io(dir, e))?;
            let mut found = Vec::new();
            for e in rd {
                let e = e.map_err(|e| DeviceError::io(dir, e))?;
                let p = e.path();
                let msisdn_file = p.join(crate::store::MSISDN_FILE);
                if p.join(crate::store::STATE_FILE).is_file() && msisdn_file.is_file() {
                    let msisdn = std::fs::read_to_string(&msisdn_file)
                        .map_err(|e| DeviceError::io(&msisdn_file, e))?
                        .trim()
                        .to_string();
                    found.push(CardEntry {
                        dir: p,
                        msisdn,
                        system_id: None,
                    });
                }
            }
            found.sort_by(|a, b| a.dir.cmp(&b.dir));
            for f in found {
                if !out.iter().any(|c| c.dir == f.dir) {
                    out.push(f);
                }
            }
        }
        for c in &out {
            if c.msisdn.is_empty() || !c.msisdn.bytes().all(|b| b.is_ascii_digit()) {
                return Err(DeviceError::Config(format!(
                    "card {}: MSISDN {:?} must be decimal digits",
                    c.dir.display(),
                    c.msisdn
                )));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_defaults_env_and_redaction() {
        let c = DeviceConfig::from_toml(
            "[[cards]]\ndir = \"c1\"\nmsisdn = \"4477\"\n[smsc]\npassword = \"pw\"\n[network]\nreachable = [\"00101\"]\n",
            Path::new("/base"),
        )
        .unwrap();
        assert_eq!(c.cards[0].dir, Path::new("/base/c1"));
        assert_eq!(c.smsc.address, "127.0.0.1:2775");
        assert!(!format!("{c:?}").contains("pw"));
        assert_eq!(c.reachable().unwrap()[0].to_string(), "00101");
        let mut c = c;
        c.apply_env([(
            "ESIM_DEVICE_REACHABLE".to_string(),
            "00102, 00103".to_string(),
        )]);
        assert_eq!(c.reachable().unwrap().len(), 2);
        assert!(DeviceConfig::from_toml("bogus = 1", Path::new("/")).is_err());
    }
}
