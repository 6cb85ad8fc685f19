//! Notifications from the cards (digest §3.3, §3.4) and to the Profile owners
//! (`Handle{ProfileEnabled,ProfileDisabled,ProfileDeleted}Notification` on ES3 to the SM-DP
//! and ES4 to the MNO).

use std::sync::Arc;

use async_trait::async_trait;
use esim_apdu::gp::sgp02::{Notification, NotificationType};
use esim_codec::Eid;
use esim_proto::common::{FunctionCallIdentifier, Request, RequestHeader};
use esim_proto::es2::ProfileNotification;
use esim_proto::es3::EidIccidRequest;
use esim_proto::function::{AnyRequest, Function};
use esim_proto::pol2::{Decision, Operation as Pol2Op};
use esim_service::Callback;
use esim_store::{OperationId, ProfileRecord, ProfileState, StoreError};

use crate::delivery::{DeliveryError, NotificationSink};
use crate::ops::pol2_of;
use crate::service::{Inner, now};

/// EIS additional property: sequence number of the last card notification applied.
pub const LAST_NOTIFICATION_SEQ: &str = "last-notification-seq";

/// A change of a Profile reported to its owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    Enabled,
    Disabled,
    Deleted,
}

fn header(inner: &Inner) -> Option<RequestHeader> {
    let id = OperationId::random().ok()?;
    Some(RequestHeader {
        function_requester_identifier: inner.config.smsr_id.clone(),
        function_call_identifier: FunctionCallIdentifier::new(&format!(
            "{}-{}",
            inner.config.smsr_id,
            id.as_str()
        ))
        .ok()?,
        validity_period: None,
        message_id: None,
        relates_to: None,
    })
}

/// Sends the notification of `event` on `p` to its SM-DP (ES3) and its MNO (ES4), except to
/// `skip` (the party that asked for the change and gets the function's response).
pub(crate) async fn profile_event(
    inner: &Inner,
    event: Event,
    p: &ProfileRecord,
    skip: Option<&str>,
) {
    let body = ProfileNotification {
        eid: p.eid.clone(),
        iccid: p.iccid.clone(),
        completion_time_stamp: esim_service::xs_datetime(now()),
    };
    let mut out: Vec<(String, AnyRequest)> = Vec::new();
    if let Some(h) = header(inner) {
        let r = Request {
            header: h,
            body: body.clone(),
        };
        out.push((
            p.smdp_id.clone(),
            match event {
                Event::Enabled => AnyRequest::Es3HandleProfileEnabledNotification(r),
                Event::Disabled => AnyRequest::Es3HandleProfileDisabledNotification(r),
                Event::Deleted => AnyRequest::Es3HandleProfileDeletedNotification(r),
            },
        ));
    }
    if let Some(h) = header(inner) {
        let r = Request { header: h, body };
        out.push((
            p.mno_id.clone(),
            match event {
                Event::Enabled => AnyRequest::Es4HandleProfileEnabledNotification(r),
                Event::Disabled => AnyRequest::Es4HandleProfileDisabledNotification(r),
                Event::Deleted => AnyRequest::Es4HandleProfileDeletedNotification(r),
            },
        ));
    }
    for (party, msg) in out {
        if party.is_empty() || Some(party.as_str()) == skip {
            continue;
        }
        if let Err(e) = inner
            .callbacks
            .deliver(&party, Callback::Notification(msg))
            .await
        {
            tracing::warn!(party, error = %e, "notification callback failed");
        }
    }
}

impl Inner {
    /// Starts the deletion of `p` if its POL2 says DISABLE + Auto-Delete (digest §4.3), as an
    /// operation of the SM-SR keyed by `tag`.
    pub(crate) async fn auto_delete_if_pol2(
        self: &Arc<Self>,
        eid: &Eid,
        p: &ProfileRecord,
        tag: &str,
    ) -> Result<(), StoreError> {
        let auto = matches!(
            pol2_of(p).evaluate(Pol2Op::Disable, p.iccid.as_str()),
            Decision::Allowed {
                auto_delete_after_disable: true
            }
        );
        if !auto || p.fallback {
            return Ok(());
        }
        let Some(h) = header(self) else {
            return Ok(());
        };
        let req = AnyRequest::Es3DeleteIsdp(Request {
            header: h,
            body: EidIccidRequest {
                eid: eid.clone(),
                iccid: p.iccid.clone(),
            },
        });
        let call_id = format!("auto-delete-{}-{}-{tag}", eid.as_str(), p.iccid.as_str());
        self.start_internal(Function::Es3DeleteIsdp, req, eid, &call_id)
            .await
    }

    /// Applies a card notification to the EIS (digest §3.3 step 5–6, §3.4).
    /// A verified notification from the card: applied unless it is older than the last one
    /// applied (a card re-sends an unconfirmed notification, possibly after a newer one was
    /// handled: applying it would undo the newer change; docs/spec-choices.md row 76), then
    /// its sequence number is recorded in the EIS (`last-notification-seq`).
    pub(crate) async fn on_card_notification(
        self: &Arc<Self>,
        eid: &Eid,
        n: &Notification,
        seq: u16,
    ) -> Result<(), StoreError> {
        let eis = match self.store.get_eis(eid).await {
            Ok(e) => e,
            Err(StoreError::NotFound { .. }) => {
                tracing::warn!(eid = %eid.as_str(), "notification from an unknown eUICC ignored");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let last = eis
            .additional_properties
            .get(LAST_NOTIFICATION_SEQ)
            .and_then(|v| v.parse::<u16>().ok());
        // Sequence numbers wrap: `seq` is not newer when it is at most half the range behind.
        if let Some(last) = last
            && last.wrapping_sub(seq) < 0x8000
        {
            tracing::info!(
                eid = %eid.as_str(),
                seq,
                last,
                "notification not newer than the last one applied: confirmed, not applied"
            );
            return Ok(());
        }
        self.apply_card_notification(eid, n, seq).await?;
        // Record it (a concurrent EIS change makes the version check fail: read again once).
        for _ in 0..2 {
            let mut eis = self.store.get_eis(eid).await?;
            eis.additional_properties
                .insert(LAST_NOTIFICATION_SEQ.into(), seq.to_string());
            match self.store.update_eis(&eis).await {
                Ok(_) => break,
                Err(StoreError::VersionMismatch { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn apply_card_notification(
        self: &Arc<Self>,
        eid: &Eid,
        n: &Notification,
        seq: u16,
    ) -> Result<(), StoreError> {
        let profiles = match self.store.profiles(eid).await {
            Ok(p) => p,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        if self.store.get_eis(eid).await.is_err() {
            tracing::warn!(eid = %eid.as_str(), "notification from an unknown eUICC ignored");
            return Ok(());
        }
        let t = now();
        let changed = matches!(
            n.kind,
            NotificationType::ProfileChangeSucceeded
                | NotificationType::ProfileChangeAfterFallback
                | NotificationType::ProfileChangeFailedRolledBack
                | NotificationType::EuiccDeclaration
        );
        let Some(aid) = n.isdp_aid.as_ref().filter(|_| changed) else {
            return Ok(());
        };
        let Some(now_enabled) = profiles.iter().find(|p| &p.isd_p_aid == aid) else {
            tracing::warn!(eid = %eid.as_str(), aid = %aid, "notification names an ISD-P unknown to the EIS");
            return Ok(());
        };
        let before = profiles
            .iter()
            .find(|p| p.state == ProfileState::Enabled)
            .cloned();
        if now_enabled.state != ProfileState::Enabled {
            self.store
                .set_profile_state(eid, &now_enabled.iccid, ProfileState::Enabled, t)
                .await?;
        }
        let mut disabled: Vec<ProfileRecord> = Vec::new();
        if let Some(b) = &before
            && b.iccid != now_enabled.iccid
        {
            disabled.push(b.clone());
        }
        // The owners learn of every change the EIS did not know yet (a switch the SM-SR
        // ordered was reported by its function already).
        if before.as_ref().map(|b| &b.iccid) != Some(&now_enabled.iccid) {
            profile_event(self, Event::Enabled, now_enabled, None).await;
        }
        for d in &disabled {
            profile_event(self, Event::Disabled, d, None).await;
        }
        // A Profile the card disabled on its own by fall-back is subject to its POL2 DISABLE +
        // Auto-Delete (switches the SM-SR ordered are handled by their function; a roll-back
        // only undoes a switch that never took effect).
        if n.kind == NotificationType::ProfileChangeAfterFallback {
            for p in &disabled {
                self.auto_delete_if_pol2(eid, p, &format!("n{seq}")).await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl NotificationSink for crate::Smsr {
    async fn on_notification(
        &self,
        eid: &Eid,
        notification: Notification,
        seq: u16,
    ) -> Result<(), DeliveryError> {
        self.inner
            .on_card_notification(eid, &notification, seq)
            .await
            .map_err(DeliveryError::Store)
    }
}

/// A [`NotificationSink`] that can be handed to the ES5 delivery before the [`crate::Smsr`]
/// exists (the delivery needs a sink, the SM-SR needs the delivery as its executor): attach the
/// SM-SR afterwards with [`SinkSlot::attach`]. Until then, and after the SM-SR is gone,
/// notifications are refused (not confirmed, so the card sends them again).
#[derive(Debug, Default)]
pub struct SinkSlot(std::sync::OnceLock<std::sync::Weak<Inner>>);

impl SinkSlot {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes notifications to `smsr` (the first attach wins).
    pub fn attach(&self, smsr: &crate::Smsr) {
        let _ = self.0.set(Arc::downgrade(&smsr.inner));
    }
}

#[async_trait]
impl NotificationSink for SinkSlot {
    async fn on_notification(
        &self,
        eid: &Eid,
        notification: Notification,
        seq: u16,
    ) -> Result<(), DeliveryError> {
        let inner = self
            .0
            .get()
            .and_then(std::sync::Weak::upgrade)
            .ok_or(DeliveryError::Shutdown)?;
        inner
            .on_card_notification(eid, &notification, seq)
            .await
            .map_err(DeliveryError::Store)
    }
}
