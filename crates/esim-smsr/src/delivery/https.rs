//! SCP81 side of the delivery (GP Amd B §3; digest §5.3): the `81` trigger the channel sends by
//! SMS, the PSK store backed by the sealed SCP81 keysets, and the administration logic that
//! hands the channel's scripts to the open session and answers `?msg=` notifications with the
//! `3A08` confirmation.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use esim_apdu::etsi102226::CommandScript;
use esim_apdu::gp::sgp02::{Es5Command, Notification};
use esim_codec::Eid;
use esim_crypto::SecretKey;
use esim_proto::es5;
use esim_scp81::admin::{
    AdminSessionParams, AdminSessionTrigger, AdminStep, CardPost, HttpPostParams, PskIdentity,
    ScriptStatus, SecurityParams,
};
use esim_scp81::server::{AdminHandler, PskStore, SessionInfo, SessionOutcome};
use esim_store::{KeysetKind, KeysetRecord};
use tokio::sync::oneshot;

use super::engine::{Inner, WorkerMsg};

/// Bound on waiting for the eUICC's worker while a card waits for its next script.
const WORKER_REPLY: Duration = Duration::from_secs(20);

/// SCP81 keys in memory (the server's handshake callback must not block): filled from the
/// sealed keysets at start-up and when a channel uses HTTPS. An unknown identity is refused
/// and noted; its eUICC's keys are then loaded in the background, so the card's next attempt
/// (e.g. of a notification registered after start-up) succeeds.
#[derive(Default)]
pub struct PskMap {
    keys: RwLock<HashMap<PskIdentity, SecretKey>>,
    misses: Mutex<Vec<Eid>>,
    missed: tokio::sync::Notify,
}

/// Unknown identities remembered at most (a flood of bogus identities is bounded).
const MAX_MISSES: usize = 64;

impl PskMap {
    /// Adds or replaces a key.
    pub fn insert(&self, identity: PskIdentity, key: SecretKey) {
        if let Ok(mut m) = self.keys.write() {
            m.insert(identity, key);
        }
    }

    /// EIDs whose identity was unknown since the last call.
    pub(crate) fn take_misses(&self) -> Vec<Eid> {
        self.misses
            .lock()
            .map(|mut m| std::mem::take(&mut *m))
            .unwrap_or_default()
    }

    /// Waits until an unknown identity was seen.
    pub(crate) async fn missed(&self) {
        self.missed.notified().await;
    }
}

impl fmt::Debug for PskMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.keys.read().map(|m| m.len()).unwrap_or(0);
        write!(f, "PskMap({n} keys)")
    }
}

impl PskStore for PskMap {
    fn psk(&self, identity: &PskIdentity) -> Option<SecretKey> {
        let found = self.keys.read().ok()?.get(identity).cloned();
        if found.is_none() {
            if let Ok(mut m) = self.misses.lock() {
                if m.len() < MAX_MISSES && !m.contains(&identity.eid) {
                    m.push(identity.eid.clone());
                }
            }
            self.missed.notify_one();
        }
        found
    }
}

/// The `81` administration session trigger for `eid` (GP Amd B Table 3-3): `85` security
/// parameters of its first SCP81 keyset, `89` with the configured host (`8A`) and admin URI
/// (`8C`).
pub(crate) fn trigger(
    inner: &Inner,
    eid: &Eid,
    keysets: &[KeysetRecord],
) -> Result<Vec<u8>, String> {
    let https = inner
        .config
        .https
        .as_ref()
        .ok_or_else(|| format!("{eid} uses HTTPS but no HTTPS settings are configured"))?;
    let record = keysets
        .iter()
        .find(|k| k.kind == KeysetKind::Scp81)
        .ok_or_else(|| format!("no SCP81 keyset for {eid}"))?;
    let (kid, _) = super::keys::scp81_psk(inner.sealer.as_ref(), record)?;
    let identity = record
        .psk_identity
        .clone()
        .unwrap_or_else(|| esim_crypto::pki::scp81_psk_identity(eid, record.kvn, kid));
    let security = SecurityParams::new(Bytes::from(identity), record.kvn, kid, None)
        .map_err(|e| e.to_string())?;
    Ok(AdminSessionTrigger {
        session: Some(AdminSessionParams {
            security: Some(security),
            http_post: Some(HttpPostParams {
                host: https.trigger_host.clone(),
                agent_id: None,
                uri: Some(https.admin_uri.clone()),
            }),
            ..Default::default()
        }),
        dns: None,
    }
    .encode())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// The confirmation of a `?msg=` notification is with the card.
    Confirming,
    /// Scripts of the channel.
    Scripts,
}

/// The SM-SR's administration logic (one session per EID at a time, enforced by the server).
pub(crate) struct AdminSessions {
    inner: Arc<Inner>,
    phases: Mutex<HashMap<Eid, Phase>>,
}

impl AdminSessions {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        AdminSessions {
            inner,
            phases: Mutex::new(HashMap::new()),
        }
    }

    fn set_phase(&self, eid: &Eid, phase: Option<Phase>) {
        if let Ok(mut m) = self.phases.lock() {
            match phase {
                Some(p) => m.insert(eid.clone(), p),
                None => m.remove(eid),
            };
        }
    }

    fn phase(&self, eid: &Eid) -> Option<Phase> {
        self.phases.lock().ok()?.get(eid).copied()
    }

    /// A `?msg=` notification: verified against the session's EID, handed to the sink, then
    /// confirmed in this session.
    async fn notification(&self, eid: &Eid, bytes: &[u8]) -> AdminStep {
        let n = match Notification::decode(bytes) {
            Ok(n) => n,
            Err(e) => {
                tracing::info!(%eid, error = %e, "SCP81: undecodable notification");
                return AdminStep::End;
            }
        };
        if &n.eid != eid {
            tracing::warn!(%eid, other = %n.eid, "SCP81: notification names another eUICC");
            return AdminStep::End;
        }
        let seq = n.sequence;
        if let Err(e) = self.inner.sink.on_notification(eid, n, seq).await {
            tracing::warn!(%eid, seq, error = %e, "SCP81: notification not accepted; not confirmed");
            return AdminStep::End;
        }
        let script = Es5Command::NotificationConfirmation { sequence: seq }
            .to_commands(255)
            .map_err(|e| e.to_string())
            .and_then(|c| {
                CommandScript::of_apdus(c)
                    .encode()
                    .map_err(|e| e.to_string())
            });
        match script {
            Ok(s) => {
                self.set_phase(eid, Some(Phase::Confirming));
                AdminStep::Script {
                    targeted: None,
                    script: Bytes::from(s),
                    next_uri: None,
                }
            }
            Err(e) => {
                tracing::warn!(%eid, error = %e, "SCP81: confirmation not built");
                AdminStep::End
            }
        }
    }

    async fn ask_worker(
        &self,
        eid: &Eid,
        result: Option<(es5::ScriptStatus, Vec<u8>)>,
    ) -> AdminStep {
        let (tx, rx) = oneshot::channel();
        if !self
            .inner
            .send(eid, WorkerMsg::SessionPost { result, reply: tx })
        {
            return AdminStep::End;
        }
        match tokio::time::timeout(WORKER_REPLY, rx).await {
            Ok(Ok(Some(s))) => AdminStep::Script {
                targeted: s.targeted,
                script: Bytes::from(s.script),
                next_uri: None,
            },
            _ => AdminStep::End,
        }
    }
}

fn script_status(s: ScriptStatus) -> es5::ScriptStatus {
    match s {
        ScriptStatus::Ok => es5::ScriptStatus::Ok,
        ScriptStatus::UnknownApplication => es5::ScriptStatus::UnknownApplication,
        ScriptStatus::SecurityError => es5::ScriptStatus::SecurityError,
        other => es5::ScriptStatus::Other(other.as_str().to_string()),
    }
}

impl AdminHandler for AdminSessions {
    async fn on_post(&self, session: &SessionInfo, post: CardPost) -> AdminStep {
        let eid = session.identity.eid.clone();
        if post.exchange == 0 {
            if let Some(n) = post.notification() {
                let n = n.to_vec();
                return self.notification(&eid, &n).await;
            }
            self.set_phase(&eid, Some(Phase::Scripts));
            return self.ask_worker(&eid, None).await;
        }
        match self.phase(&eid) {
            Some(Phase::Confirming) => {
                if post.status() != Some(ScriptStatus::Ok) {
                    tracing::info!(%eid, "SCP81: confirmation script not executed");
                }
                self.set_phase(&eid, Some(Phase::Scripts));
                self.ask_worker(&eid, None).await
            }
            _ => {
                let status = post
                    .status()
                    .map_or(es5::ScriptStatus::Other("no status".into()), script_status);
                self.ask_worker(&eid, Some((status, post.body().to_vec())))
                    .await
            }
        }
    }

    fn on_session_end(&self, session: &SessionInfo, outcome: &SessionOutcome) {
        let eid = &session.identity.eid;
        tracing::debug!(%eid, ?outcome, "SCP81: session over");
        let was = self.phase(eid);
        self.set_phase(eid, None);
        if was == Some(Phase::Scripts) {
            self.inner.send(eid, WorkerMsg::SessionClosed);
        }
    }
}
