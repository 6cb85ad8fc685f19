//! Settings of the ES5 delivery (SGP.02 §2.7, §5; digest §5.1–5.3).

use esim_smpp::Password;
use esim_store::Backoff;

/// How the SM-SR reaches an eUICC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TransportKind {
    /// SCP80 over SMS-PP (digest §5.1).
    #[default]
    Sms,
    /// SCP81 administration sessions (PSK-TLS), triggered by SMS (digest §5.3).
    Https,
}

impl TransportKind {
    /// Parses `sms` / `https` (the value of the eUICC's `es5-transport` additional property).
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "sms" => Some(TransportKind::Sms),
            "https" => Some(TransportKind::Https),
            _ => None,
        }
    }
}

/// The SMPP link to the SMSC (SMPP v3.4 §4.1; the SM-SR is a transceiver ESME).
#[derive(Debug, Clone)]
pub struct SmppSettings {
    /// SMSC `host:port`.
    pub server: String,
    /// `system_id`.
    pub system_id: String,
    /// `password` (redacted in `Debug`).
    pub password: Password,
}

/// The SCP81 side (digest §5.3): where the card's admin session goes.
#[derive(Debug, Clone)]
pub struct HttpsSettings {
    /// The admin URI (`8C` of the trigger and the server's first-`POST` target), e.g. `/gp/admin`.
    pub admin_uri: String,
    /// The administration host (`8A` of the trigger), e.g. `smsr.example:8443`; `None` leaves
    /// it to the device's configuration.
    pub trigger_host: Option<String>,
}

/// Settings of [`crate::delivery::Delivery`].
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// The SM-SR's SMS address: the source of MT SMS and the `address_range` it binds with (the
    /// destination devices send PoRs and notifications to), e.g. `SMSR`.
    pub sms_address: String,
    /// SMPP link.
    pub smpp: SmppSettings,
    /// Transport of eUICCs without an `es5-transport` additional property.
    pub default_transport: TransportKind,
    /// SCP81 settings; required for eUICCs using [`TransportKind::Https`].
    pub https: Option<HttpsSettings>,
    /// Wait for a PoR (or admin session) after the first send (ms); doubled per re-send.
    pub initial_timeout_ms: u64,
    /// Sends of one secured packet per claim (first send included).
    pub max_attempts: u32,
    /// Claims of one queued command in all (each claim = `max_attempts` sends under a fresh
    /// counter); after the last one the job ends `Unreachable`.
    pub max_claims: u32,
    /// Delay between claims ([`esim_store::QueueStore::retry`]).
    pub backoff: Backoff,
    /// Added to the time a claim needs for its sends to form the lease; a command whose holder
    /// died is claimed again once the lease has run out.
    pub lease_margin_ms: u64,
    /// How often the queues are scanned (expiry, commands left by a previous process).
    pub poll_interval_ms: u64,
    /// ValidityPeriod of the `3A08` notification confirmations the delivery queues (ms).
    pub confirmation_validity_ms: u64,
    /// An eUICC's worker task ends after this long with nothing to do (ms).
    pub worker_idle_ms: u64,
    /// This delivery's lease holder name; `None`: a random one. With a stable name (one per
    /// replica), a restarted delivery ends the command leases of its previous incarnation at
    /// start and sends their commands again at once instead of after the lease.
    pub holder: Option<String>,
}

impl DeliveryConfig {
    /// Defaults: SMS transport, 30 s first timeout, 3 sends per claim, 3 claims, back-off 60 s
    /// doubling up to 1 h, 30 s lease margin, 1 s poll, 24 h confirmation validity, idle
    /// workers end after 60 s.
    pub fn new(sms_address: impl Into<String>, smpp: SmppSettings) -> Self {
        DeliveryConfig {
            sms_address: sms_address.into(),
            smpp,
            default_transport: TransportKind::Sms,
            https: None,
            initial_timeout_ms: 30_000,
            max_attempts: 3,
            max_claims: 3,
            backoff: Backoff {
                base_ms: 60_000,
                max_ms: 3_600_000,
            },
            lease_margin_ms: 30_000,
            poll_interval_ms: 1_000,
            confirmation_validity_ms: 24 * 3600 * 1000,
            worker_idle_ms: 60_000,
            holder: None,
        }
    }

    /// How long one claim may take: every send's wait (`initial_timeout · (2^max_attempts − 1)`)
    /// plus the margin.
    pub fn lease_ms(&self) -> u64 {
        let mut total: u64 = 0;
        for i in 0..self.max_attempts.clamp(1, 20) {
            total = total.saturating_add(self.initial_timeout_ms.saturating_mul(1u64 << i));
        }
        total.saturating_add(self.lease_margin_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_covers_every_send_and_the_margin() {
        let mut c = DeliveryConfig::new(
            "SMSR",
            SmppSettings {
                server: "127.0.0.1:1".into(),
                system_id: "s".into(),
                password: Password::new("p"),
            },
        );
        c.initial_timeout_ms = 1_000;
        c.max_attempts = 3;
        c.lease_margin_ms = 500;
        assert_eq!(c.lease_ms(), 1_000 + 2_000 + 4_000 + 500);
        c.max_attempts = 0;
        assert_eq!(c.lease_ms(), 1_500, "at least one send");
        c.initial_timeout_ms = u64::MAX;
        assert_eq!(c.lease_ms(), u64::MAX, "saturates");
        assert!(!format!("{c:?}").contains("\"p\""));
    }

    #[test]
    fn transport_names() {
        assert_eq!(TransportKind::parse(" HTTPS "), Some(TransportKind::Https));
        assert_eq!(TransportKind::parse("sms"), Some(TransportKind::Sms));
        assert_eq!(TransportKind::parse("mqtt"), None);
    }
}
