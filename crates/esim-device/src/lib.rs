//! The device agent: a modem hosting software eUICCs ([`esim_euicc::Euicc`]) and speaking to the
//! SM-SR over real transports — SMPP to an SMSC for SMS-PP (digest §5.1), PSK-TLS 1.2 HTTPS for
//! SCP81 administration sessions (digest §5.3) — with a network model for REFRESH, attach,
//! fall-back and roll-back (SGP.02 §3.3, §3.16; digest §3.4).
//!
//! * [`config`]: the TOML configuration ([`DeviceConfig`]).
//! * [`store`]: card directories (`card.json` written atomically, mode 0600; card creation from
//!   an issued eUICC with a TS.48 bootstrap profile).
//! * [`network`]: PLMNs, the reachable set changeable at run time ([`NetworkControl`]).
//! * [`control`]: the loopback control endpoint (`net list|set|add|remove`).
//! * `modem` / `admin`: one task per card (SMS, actions, attach, notifications, SCP81).
//!
//! Service shape: [`run`]`(config, listeners, shutdown)`, or [`Device`] for a handle on the
//! network and the event stream.

#![forbid(unsafe_code)]

mod admin;
pub mod config;
pub mod control;
mod error;
mod modem;
pub mod network;
pub mod store;

pub use config::DeviceConfig;
pub use error::DeviceError;
pub use network::{NetworkControl, Plmn};

use esim_codec::Eid;
use esim_smpp::{Address, Esme, EsmeConfig, Password};
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

/// Something a modem did (for tests, monitoring and the CLI's log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceEvent {
    /// The card.
    pub eid: Eid,
    /// What happened.
    pub kind: EventKind,
}

/// The kinds of [`DeviceEvent`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventKind {
    /// The modem is bound, attached and has done what the card asked at power-on.
    Started,
    /// A complete (possibly concatenated) MT SMS arrived.
    SmsReceived {
        /// Number of SMS it was made of.
        segments: u8,
    },
    /// The card processed a command packet; `status` is the PoR status byte (`None`:
    /// discarded), `por_segments` the MO SMS sent for the PoR.
    PacketProcessed {
        /// PoR status byte.
        status: Option<u8>,
        /// SMS sent for the PoR.
        por_segments: usize,
    },
    /// A network attach with the enabled profile.
    Attach {
        /// The profile's PLMN.
        plmn: Option<Plmn>,
        /// Whether the PLMN was reachable.
        success: bool,
    },
    /// The attached network went away; the card was told.
    ConnectivityLost,
    /// A notification was handed to the transport.
    NotificationSent {
        /// Its sequence number.
        sequence: u16,
        /// `sms` or `https`.
        via: String,
    },
    /// An attempt to run an administration session failed (another may follow).
    AdminAttemptFailed {
        /// The attempt (1-based).
        attempt: u32,
        /// Why (never key material).
        reason: String,
    },
    /// An administration session ended.
    AdminSession {
        /// Whether it completed.
        success: bool,
        /// Attempts made.
        attempts: u32,
        /// Scripts run in the successful attempt.
        scripts: u32,
    },
    /// The card state was written.
    Persisted,
    /// The modem stopped (state written).
    Stopped,
}

/// Listening sockets of the agent.
#[derive(Debug, Default)]
pub struct Listeners {
    /// The control endpoint ([`control`]); bind it to a loopback address.
    pub control: Option<TcpListener>,
}

/// A device agent before and while it runs.
#[derive(Debug)]
pub struct Device {
    config: Arc<DeviceConfig>,
    network: NetworkControl,
    events: broadcast::Sender<DeviceEvent>,
}

impl Device {
    /// A device with `config`; the reachable networks start as configured.
    pub fn new(config: DeviceConfig) -> Result<Self, DeviceError> {
        let network = NetworkControl::new(config.reachable()?);
        Ok(Device {
            config: Arc::new(config),
            network,
            events: broadcast::channel(1024).0,
        })
    }

    /// The network control channel (shared with the running modems).
    pub fn network(&self) -> NetworkControl {
        self.network.clone()
    }

    /// A receiver of the modems' events.
    pub fn events(&self) -> broadcast::Receiver<DeviceEvent> {
        self.events.subscribe()
    }

    /// Loads every card, binds one ESME per card (its MSISDN as `address_range`) and runs the
    /// modems until `shutdown` completes; each card's state is written before returning.
    ///
    /// # Errors
    /// A card that does not load, an SMSC that refuses a bind, a bad configuration.
    pub async fn run(
        &self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), DeviceError> {
        let entries = self.config.card_entries()?;
        if entries.is_empty() {
            return Err(DeviceError::Config("no card to host".into()));
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        let mut prepared = Vec::new();
        for entry in &entries {
            let card = store::load_card(&entry.dir)?;
            let mut ec = EsmeConfig::new(
                self.config.smsc.address.clone(),
                entry
                    .system_id
                    .clone()
                    .unwrap_or_else(|| self.config.smsc.system_id.clone()),
                Password::new(self.config.smsc.password.expose()),
            );
            ec.address_range = Address::international(entry.msisdn.clone());
            let (esme, incoming) = Esme::connect(ec).await?;
            tracing::info!(eid = %card.eid(), msisdn = %entry.msisdn, "card bound to the SMSC");
            prepared.push((entry.clone(), card, esme, incoming));
        }
        for (entry, card, esme, incoming) in prepared {
            let m = modem::Modem::new(
                entry.dir.clone(),
                card,
                entry.msisdn.clone(),
                self.config.clone(),
                esme,
                self.network.clone(),
                self.events.clone(),
            );
            tasks.spawn(m.run(incoming, stop_rx.clone()));
        }
        let control = listeners.control.map(|l| {
            let net = self.network.clone();
            let mut stop = stop_rx.clone();
            tokio::spawn(control::serve(net, l, async move {
                let _ = stop.changed().await;
            }))
        });
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                joined = tasks.join_next() => match joined {
                    Some(Err(e)) if e.is_panic() => tracing::error!("a modem task panicked"),
                    Some(_) => {}
                    None => break,
                },
            }
        }
        stop_tx.send_replace(true);
        while tasks.join_next().await.is_some() {}
        if let Some(c) = control {
            let _ = c.await;
        }
        Ok(())
    }
}

/// The project's service signature: runs the agent of `config` until `shutdown` completes.
///
/// # Errors
/// See [`Device::run`].
pub async fn run(
    config: DeviceConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DeviceError> {
    Device::new(config)?.run(listeners, shutdown).await
}

/// One exchange of a scripted contact session ([`apdu_session`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The C-APDU.
    pub command: Vec<u8>,
    /// The R-APDU data (without the status word).
    pub response: Vec<u8>,
    /// The status word.
    pub sw: u16,
}

/// A scripted session on the contact interface: the card of `dir` is loaded (as after a
/// reset), each C-APDU processed in order, and the state written back (atomically, 0600).
pub fn apdu_session(
    dir: &std::path::Path,
    apdus: &[Vec<u8>],
) -> Result<Vec<Exchange>, DeviceError> {
    let mut card = store::load_card(dir)?;
    let mut out = Vec::with_capacity(apdus.len());
    for a in apdus {
        let r = card.process_apdu(a);
        let split = r.len().saturating_sub(2);
        let sw = r
            .get(split..)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .map_or(0, u16::from_be_bytes);
        out.push(Exchange {
            command: a.clone(),
            response: r.get(..split).unwrap_or_default().to_vec(),
            sw,
        });
    }
    store::save_card(dir, &card)?;
    Ok(out)
}
