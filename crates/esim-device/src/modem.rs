//! One modem: a card, its SMPP binding and its radio, driven as one task. Every interaction with
//! the card is followed by an atomic write of its state.
//!
//! * MT SMS-PP (SMS-DELIVER, TP-PID `7F`, digest §5.1) → concatenation reassembly (TS 23.040
//!   §9.2.3.24.1) → [`Euicc::sms_pp_download`] → the PoR as MO SMS to the SM-SR (split when
//!   longer than one SMS; SMPP has no SMS-DELIVER-REPORT user data, so a PoR the SPI asks for
//!   "in the delivery report" is also sent as an SMS-SUBMIT — docs/spec-choices.md).
//! * [`Action::Refresh`] → card reset, network attach with the enabled profile's PLMN,
//!   [`Euicc::network_attach`].
//! * Reachable-PLMN changes → [`Euicc::connectivity_lost`] when the attached network goes away,
//!   a new attach when it comes back.
//! * [`Action::SendNotification`] → MO SMS (or PSK-TLS `POST ?msg=`), re-sent with back-off
//!   until the SM-SR confirms ([`Euicc::resend_notifications`]).
//! * [`Action::OpenAdminSession`] → [`crate::admin`].

use crate::admin;
use crate::config::{DeviceConfig, NotificationTransport, TimingSettings};
use crate::error::DeviceError;
use crate::network::{NetworkControl, Plmn, enabled_plmn};
use crate::store;
use crate::{DeviceEvent, EventKind};
use esim_apdu::sms::{
    Address as SmsAddress, AddressValue, Alphabet, ConcatRef, PacketKind, Reassembler,
    ReassemblyLimits, UserData, split_packet,
};
use esim_codec::Eid;
use esim_euicc::{Action, Euicc};
use esim_smpp::{Address, EsmeHandle, Incoming, Sms};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

/// Actions handled per event before the modem stops to look at the world again (a card that
/// keeps asking is not allowed to starve the others).
const MAX_ACTIONS_PER_TURN: usize = 64;

pub(crate) struct Modem {
    pub(crate) dir: PathBuf,
    pub(crate) card: Euicc,
    pub(crate) eid: Eid,
    pub(crate) msisdn: String,
    pub(crate) config: Arc<DeviceConfig>,
    pub(crate) esme: EsmeHandle,
    pub(crate) network: NetworkControl,
    pub(crate) events: broadcast::Sender<DeviceEvent>,
    reassembler: Reassembler,
    reassembly_started: HashMap<(SmsAddress, ConcatRef), Instant>,
    attached: Option<Plmn>,
    concat_ref: u8,
    notification_delay: Duration,
    notification_due: Option<Instant>,
}

impl Modem {
    pub(crate) fn new(
        dir: PathBuf,
        card: Euicc,
        msisdn: String,
        config: Arc<DeviceConfig>,
        esme: EsmeHandle,
        network: NetworkControl,
        events: broadcast::Sender<DeviceEvent>,
    ) -> Self {
        let eid = card.eid().clone();
        let delay = TimingSettings::ms(config.timing.notification_retry_ms);
        Modem {
            dir,
            card,
            eid,
            msisdn,
            config,
            esme,
            network,
            events,
            reassembler: Reassembler::new(ReassemblyLimits::default()),
            reassembly_started: HashMap::new(),
            attached: None,
            concat_ref: 0,
            notification_delay: delay,
            notification_due: None,
        }
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        let _ = self.events.send(DeviceEvent {
            eid: self.eid.clone(),
            kind,
        });
    }

    /// Writes the card state; a failure is logged and reported (the card keeps running).
    pub(crate) async fn persist(&mut self) {
        let bytes = match store::encode_state(&self.card) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(eid = %self.eid, error = %e, "cannot serialize the card state");
                return;
            }
        };
        let path = self.dir.join(store::STATE_FILE);
        let r = tokio::task::spawn_blocking(move || store::write_atomic(&path, &bytes)).await;
        match r {
            Ok(Ok(())) => self.emit(EventKind::Persisted),
            Ok(Err(e)) => {
                tracing::error!(eid = %self.eid, error = %e, "cannot persist the card state")
            }
            Err(e) => tracing::error!(eid = %self.eid, error = %e, "persist task failed"),
        }
    }

    /// Runs until `stop` turns true; the state is persisted at the end.
    pub(crate) async fn run(mut self, mut incoming: Incoming, mut stop: watch::Receiver<bool>) {
        let mut net = self.network.subscribe();
        net.borrow_and_update();
        // Power-on: reset, attach with the enabled profile.
        self.card.reset();
        self.attach();
        if self.attached.is_none() && self.card.registry().pending().is_none() {
            self.lose_connectivity();
        }
        if !self.card.registry().notifications().is_empty() {
            self.notification_due = Some(Instant::now() + self.notification_delay);
        }
        self.turn().await;
        self.emit(EventKind::Started);
        let sweep_every = TimingSettings::ms(self.config.timing.reassembly_timeout_ms / 4)
            .max(Duration::from_millis(50));
        let mut sweep = tokio::time::interval(sweep_every);
        loop {
            let due = self.notification_due;
            tokio::select! {
                _ = stop.changed() => break,
                sms = incoming.recv() => match sms {
                    Some(sms) => self.on_sms(sms).await,
                    None => {
                        tracing::warn!(eid = %self.eid, "SMPP session closed");
                        break;
                    }
                },
                r = net.changed() => {
                    if r.is_err() { break; }
                    net.borrow_and_update();
                    self.on_network_change();
                }
                () = sleep_until_opt(due) => self.on_notification_timer(),
                _ = sweep.tick() => self.sweep_reassembly(),
            }
            self.turn().await;
        }
        self.persist().await;
        let _ = self.esme.shutdown().await;
        self.emit(EventKind::Stopped);
    }

    /// Performs what the card asks, then persists.
    async fn turn(&mut self) {
        for _ in 0..MAX_ACTIONS_PER_TURN {
            let Some(action) = self.card.poll_action() else {
                break;
            };
            match action {
                Action::Refresh => {
                    tracing::info!(eid = %self.eid, "REFRESH");
                    self.card.reset();
                    self.attach();
                }
                Action::SendNotification {
                    sequence,
                    notification,
                    sms_user_data,
                } => {
                    self.persist().await;
                    self.send_notification(sequence, &notification, sms_user_data)
                        .await;
                    if self.notification_due.is_none() {
                        self.notification_due = Some(Instant::now() + self.notification_delay);
                    }
                }
                Action::OpenAdminSession(trigger) => {
                    self.persist().await;
                    admin::run_with_retries(self, &trigger).await;
                }
            }
        }
        self.persist().await;
    }

    /// Network attach with the enabled profile; reports the outcome to the card.
    fn attach(&mut self) {
        let plmn = enabled_plmn(&self.card, self.config.network.mnc_length);
        let ok = plmn.as_ref().is_some_and(|p| self.network.is_reachable(p));
        self.card.network_attach(ok);
        tracing::info!(eid = %self.eid, plmn = ?plmn.as_ref().map(ToString::to_string), ok, "network attach");
        self.attached = if ok { plmn.clone() } else { None };
        self.emit(EventKind::Attach { plmn, success: ok });
    }

    fn lose_connectivity(&mut self) {
        tracing::info!(eid = %self.eid, "connectivity lost");
        self.attached = None;
        self.card.connectivity_lost();
        self.emit(EventKind::ConnectivityLost);
    }

    fn on_network_change(&mut self) {
        let plmn = enabled_plmn(&self.card, self.config.network.mnc_length);
        let ok = plmn.as_ref().is_some_and(|p| self.network.is_reachable(p));
        match (self.attached.is_some(), ok) {
            (true, false) => self.lose_connectivity(),
            (false, true) => self.attach(),
            _ => {}
        }
    }

    fn on_notification_timer(&mut self) {
        if self.card.registry().notifications().is_empty() {
            self.notification_due = None;
            self.notification_delay = TimingSettings::ms(self.config.timing.notification_retry_ms);
            return;
        }
        tracing::info!(
            eid = %self.eid,
            pending = self.card.registry().notifications().len(),
            "re-sending unconfirmed notifications"
        );
        self.card.resend_notifications();
        self.notification_delay = (self.notification_delay * 2).min(TimingSettings::ms(
            self.config.timing.notification_retry_max_ms,
        ));
        self.notification_due = Some(Instant::now() + self.notification_delay);
    }

    fn sweep_reassembly(&mut self) {
        let limit = TimingSettings::ms(self.config.timing.reassembly_timeout_ms);
        let stale: Vec<(SmsAddress, ConcatRef)> = self
            .reassembly_started
            .iter()
            .filter(|(_, t)| t.elapsed() >= limit)
            .map(|(k, _)| k.clone())
            .collect();
        for (sender, reference) in stale {
            self.reassembly_started.remove(&(sender.clone(), reference));
            if let Some(a) = self.reassembler.abandon(&sender, reference) {
                tracing::warn!(eid = %self.eid, missing = ?a.missing, "incomplete concatenated SMS dropped");
            }
        }
    }

    async fn on_sms(&mut self, sms: Sms) {
        if !sms.has_udh() {
            tracing::debug!(eid = %self.eid, "SMS without user data header ignored");
            return;
        }
        let sender = SmsAddress {
            ton: sms.source.ton,
            npi: sms.source.npi,
            value: AddressValue::Digits(sms.source.address.clone()),
        };
        let ud = &sms.user_data;
        // Longer than one SMS: only possible through SMPP message_payload; taken whole when it
        // is a complete command packet.
        if ud.len() > esim_apdu::sms::MAX_UD_OCTETS {
            if ud.starts_with(&[0x02, 0x70, 0x00]) {
                self.emit(EventKind::SmsReceived { segments: 1 });
                self.sms_pp(ud.clone(), &sms.source).await;
            } else {
                tracing::warn!(eid = %self.eid, len = ud.len(), "oversized SMS without a command packet header ignored");
            }
            return;
        }
        let parsed = match UserData::decode(ud.len() as u8, ud, true, Alphabet::EightBit, 0) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(eid = %self.eid, error = %e, "malformed SMS user data ignored");
                return;
            }
        };
        let key = parsed
            .concatenation()
            .map(|c| (sender.clone(), c.reference));
        match self.reassembler.push(&sender, &parsed) {
            Ok(pushed) => {
                for a in pushed.evicted {
                    self.reassembly_started.remove(&(a.sender, a.reference));
                }
                match pushed.complete {
                    Some(r) => {
                        if let Some(k) = &key {
                            self.reassembly_started.remove(k);
                        }
                        self.emit(EventKind::SmsReceived {
                            segments: r.segments,
                        });
                        if r.packet_kind() == Some(PacketKind::Command) {
                            let mut u = vec![0x02, 0x70, 0x00];
                            u.extend_from_slice(&r.data);
                            self.sms_pp(u, &sms.source).await;
                        } else {
                            tracing::debug!(eid = %self.eid, "SMS without command packet identifier ignored");
                        }
                    }
                    None => {
                        if let Some(k) = key {
                            self.reassembly_started
                                .entry(k)
                                .or_insert_with(Instant::now);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(eid = %self.eid, error = %e, "SMS segment refused"),
        }
    }

    /// SMS-PP data download to the card and the PoR back to the command's originator (its
    /// TP-OA: the Sending Entity, TS 102 225 §5.2 / TS 31.115; docs/spec-choices.md row 80),
    /// so that each SM-SR gets its own PoRs whatever address notifications go to.
    async fn sms_pp(&mut self, user_data: Vec<u8>, originator: &Address) {
        let out = self.card.sms_pp_download(&user_data);
        tracing::info!(eid = %self.eid, status = ?out.status, detail = %out.detail, "SMS-PP data download");
        self.persist().await;
        let Some(por) = out.por else {
            self.emit(EventKind::PacketProcessed {
                status: out.status.map(|s| s.byte()),
                por_segments: 0,
            });
            return;
        };
        let to = if originator.address.is_empty() {
            smsr_address(&self.config.smsr.sms_address)
        } else {
            originator.clone()
        };
        let segments = match self.send_packet(&por, PacketKind::Response, to).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(eid = %self.eid, error = %e, "PoR not sent");
                0
            }
        };
        self.emit(EventKind::PacketProcessed {
            status: out.status.map(|s| s.byte()),
            por_segments: segments,
        });
    }

    /// Sends SMS user data `02 7x 00 ‖ packet` to `to` as one or more MO SMS; returns the
    /// number of SMS.
    pub(crate) async fn send_packet(
        &mut self,
        user_data: &[u8],
        kind: PacketKind,
        to: Address,
    ) -> Result<usize, DeviceError> {
        let packet = user_data.get(3..).unwrap_or_default();
        self.concat_ref = self.concat_ref.wrapping_add(1);
        let parts = split_packet(packet, kind, ConcatRef::Eight(self.concat_ref))
            .map_err(|e| DeviceError::Card(format!("splitting a packet: {e}")))?;
        let n = parts.len();
        for part in parts {
            let (_, bytes) = part
                .encode(Alphabet::EightBit)
                .map_err(|e| DeviceError::Card(format!("encoding an SMS: {e}")))?;
            let sms = Sms::sim_data_download(
                Address::international(self.msisdn.clone()),
                to.clone(),
                bytes,
            );
            self.esme.submit(&sms).await?;
        }
        Ok(n)
    }

    async fn send_notification(
        &mut self,
        sequence: u16,
        notification: &[u8],
        sms_user_data: Option<Vec<u8>>,
    ) {
        let https = self.config.smsr.notification_transport == NotificationTransport::Https
            && self.config.smsr.https_address.is_some();
        let result = if https {
            admin::notify_https(self, notification)
                .await
                .map(|()| "https")
        } else if let Some(ud) = sms_user_data {
            let to = smsr_address(&self.config.smsr.sms_address);
            self.send_packet(&ud, PacketKind::Command, to)
                .await
                .map(|_| "sms")
        } else {
            Err(DeviceError::Config(
                "no SCP80 keyset for an SMS notification and no HTTPS address".into(),
            ))
        };
        match result {
            Ok(via) => {
                tracing::info!(eid = %self.eid, sequence, via, "notification sent");
                self.emit(EventKind::NotificationSent {
                    sequence,
                    via: via.to_string(),
                });
            }
            Err(e) => {
                tracing::warn!(eid = %self.eid, sequence, error = %e, "notification not sent; will retry")
            }
        }
    }
}

/// The SM-SR's SMS address: international when all digits, else alphanumeric/unknown.
fn smsr_address(a: &str) -> Address {
    if !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) {
        Address::international(a)
    } else {
        Address::unknown(a)
    }
}

async fn sleep_until_opt(due: Option<Instant>) {
    match due {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
