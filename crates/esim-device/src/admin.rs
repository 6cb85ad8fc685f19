//! SCP81 administration sessions of the card (GP Amd B §3; digest §5.3): PSK-TLS 1.2 to the
//! SM-SR with the ISD-R's SCP81 key, each script run through [`esim_euicc::Euicc::admin_script`]
//! and the card state persisted after each, with bounded retries and doubling back-off.
//!
//! Retry policy: the trigger's `86` retry counter (GP Amd B §3.8.3) gives the number of retries,
//! capped by the configuration; without `86` the configured attempts apply. The `86` waiting
//! delay is opaque (spec choice 39) and not interpreted: the configured back-off is used. A
//! retry sets `X-Admin-Resume: true`. The same client posts notifications by HTTPS
//! (`<admin URI>?msg=<hex E1>`, digest §3.3).

use crate::EventKind;
use crate::config::TimingSettings;
use crate::error::DeviceError;
use crate::modem::Modem;
use crate::store;
use esim_euicc::card::{AdminSessionTrigger, ScriptStatus as CardScriptStatus};
use esim_scp81::admin::{PskIdentity, ScriptStatus};
use esim_scp81::client::{AdminReply, AdminRequest, ClientConfig, run_admin_session};
use std::net::SocketAddr;

/// Where and how to open the session.
struct Target {
    server: SocketAddr,
    host: String,
    uri: String,
}

async fn target(m: &Modem, t: Option<&AdminSessionTrigger>) -> Result<Target, DeviceError> {
    let s = &m.config.smsr;
    let trigger_host = t.and_then(|t| t.admin_host.clone());
    let server = match (&s.https_address, &trigger_host) {
        (Some(a), _) => resolve(a).await?,
        (None, Some(h)) => {
            let with_port = if h.contains(':') {
                h.clone()
            } else {
                format!("{h}:443")
            };
            resolve(&with_port).await?
        }
        (None, None) => {
            return Err(DeviceError::Config(
                "no SM-SR HTTPS address: set smsr.https_address or send 8A in the trigger".into(),
            ));
        }
    };
    let host = trigger_host
        .or_else(|| s.https_host.clone())
        .or_else(|| s.https_address.clone())
        .unwrap_or_default();
    let uri = t
        .and_then(|t| t.admin_uri.clone())
        .unwrap_or_else(|| s.admin_uri.clone());
    Ok(Target { server, host, uri })
}

async fn resolve(a: &str) -> Result<SocketAddr, DeviceError> {
    tokio::net::lookup_host(a)
        .await
        .map_err(|e| DeviceError::Config(format!("SM-SR address {a}: {e}")))?
        .next()
        .ok_or_else(|| DeviceError::Config(format!("SM-SR address {a}: no address")))
}

fn client_config(m: &Modem, kvn: Option<u8>, target: Target) -> Result<ClientConfig, DeviceError> {
    let kvn = kvn
        .or_else(|| m.card.scp81_keysets().first().map(|k| k.kvn))
        .ok_or_else(|| DeviceError::Card("the card has no SCP81 keyset".into()))?;
    let (identity, psk) = m
        .card
        .scp81_psk(kvn)
        .ok_or_else(|| DeviceError::Card(format!("no SCP81 keyset with KVN {kvn:02X}")))?;
    let identity = PskIdentity::parse_binary(identity)
        .map_err(|e| DeviceError::Card(format!("SCP81 PSK identity: {e}")))?;
    let mut c = ClientConfig::new(
        target.server,
        target.host,
        target.uri,
        identity,
        psk.clone(),
    );
    c.session_timeout = TimingSettings::ms(m.config.timing.admin_session_timeout_ms);
    Ok(c)
}

fn status(s: CardScriptStatus) -> ScriptStatus {
    match s {
        CardScriptStatus::Ok => ScriptStatus::Ok,
        CardScriptStatus::UnknownApplication => ScriptStatus::UnknownApplication,
        CardScriptStatus::SecurityError => ScriptStatus::SecurityError,
    }
}

/// One session: scripts through the card, state written after each script.
async fn session(m: &mut Modem, config: &ClientConfig) -> Result<u32, DeviceError> {
    let eid = m.eid.clone();
    let dir = m.dir.clone();
    let card = &mut m.card;
    let report = run_admin_session(config, &eid, |req: AdminRequest| {
        let out = card.admin_script(req.targeted.as_ref(), &req.script);
        if let Err(e) = store::save_card(&dir, card) {
            tracing::error!(%eid, error = %e, "cannot persist the card state");
        }
        AdminReply {
            status: status(out.status),
            body: out.response.into(),
        }
    })
    .await
    .map_err(|e| DeviceError::Admin(e.to_string()))?;
    Ok(report.scripts)
}

/// Opens the session the trigger asks for, retrying with back-off.
pub(crate) async fn run_with_retries(m: &mut Modem, trigger: &AdminSessionTrigger) {
    let policy = esim_scp81::admin::AdminSessionTrigger::decode(&trigger.raw)
        .ok()
        .and_then(|t| t.session)
        .and_then(|s| s.retry);
    let max = m.config.timing.admin_attempts.max(1);
    let attempts = match &policy {
        Some(p) => (u32::from(p.counter) + 1).min(max),
        None => max,
    };
    let mut backoff = TimingSettings::ms(m.config.timing.admin_backoff_ms);
    let cap = TimingSettings::ms(m.config.timing.admin_backoff_max_ms);
    for attempt in 1..=attempts {
        let result = match target(m, Some(trigger)).await {
            Ok(t) => match client_config(m, trigger.kvn, t) {
                Ok(mut c) => {
                    c.resume = attempt > 1;
                    session(m, &c).await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match result {
            Ok(scripts) => {
                tracing::info!(eid = %m.eid, attempt, scripts, "admin session done");
                m.emit(EventKind::AdminSession {
                    success: true,
                    attempts: attempt,
                    scripts,
                });
                return;
            }
            Err(e) => {
                tracing::warn!(eid = %m.eid, attempt, attempts, error = %e, "admin session failed");
                m.emit(EventKind::AdminAttemptFailed {
                    attempt,
                    reason: e.to_string(),
                });
                if attempt < attempts {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(cap);
                }
            }
        }
    }
    m.emit(EventKind::AdminSession {
        success: false,
        attempts,
        scripts: 0,
    });
}

/// Posts a notification by HTTPS: a PSK-TLS session whose first `POST` targets
/// `<admin URI>?msg=<hex E1>` (digest §3.3); scripts the SM-SR sends in that session run
/// through the card.
pub(crate) async fn notify_https(m: &mut Modem, notification: &[u8]) -> Result<(), DeviceError> {
    let t = target(m, None).await?;
    let mut c = client_config(m, None, t)?;
    // The SCP81 client appends `msg=<HEX>` to the admin URI of the first POST.
    c.notification = Some(notification.to_vec());
    session(m, &c).await.map(|_| ())
}
