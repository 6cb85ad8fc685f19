//! The ISD-R's registry of ISD-Ps and the SGP.02 rules for changing it (SGP.02 §3.1–3.5, §4.1.1;
//! digest §2.7, §3.3–3.5, §4.1).
//!
//! This is the card's single source of truth about profiles. Every operation either applies
//! completely or returns an error and leaves the registry unchanged; each error maps to the status
//! word a real ISD-R returns ([`RegistryError::sw`]).
//!
//! Invariants kept by every operation (checked by [`Registry::check_invariants`] and a property
//! test over random operation sequences):
//! 1. at most one ISD-P is `Enabled`;
//! 2. at most one ISD-P holds the fall-back attribute, and once one holds it one always does
//!    (it moves with [`Registry::set_fallback`] and its holder can't be deleted);
//! 3. notification sequence numbers strictly increase;
//! 4. memory adds up: the quotas of all ISD-Ps plus the free memory equal the capacity, and no
//!    ISD-P uses more than its quota.
//!
//! Profile switches are two-phase, as on a real card: `enable`/`disable`/`fallback` switch at
//! once and record a pending change; the device then reports whether it attached to a network
//! with the new profile ([`Registry::network_attach`]). Success produces the default
//! notification (type 02, or 05 after fall-back); failure rolls back to the previous profile and
//! produces type 03 (SGP.02 §3.3 "connectivity failure", digest §3.3 step 7).

use crate::policy::Pol1;
use esim_codec::{Aid, Iccid};
use serde::{Deserialize, Serialize};

/// Life-cycle state of an ISD-P, with the GET STATUS coding (digest §2.7 "ISD-P life-cycle").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifeCycle {
    /// `07`: created by INSTALL [for install and make selectable]; no keys yet.
    Selectable,
    /// `0F`: SCP03 keys established by the SM-DP; profile download may proceed.
    Personalized,
    /// `1F`: profile installed and disabled.
    Disabled,
    /// `3F`: the profile in use.
    Enabled,
}

impl LifeCycle {
    /// The GET STATUS life-cycle byte (tag `9F70`).
    pub fn byte(self) -> u8 {
        match self {
            LifeCycle::Selectable => 0x07,
            LifeCycle::Personalized => 0x0F,
            LifeCycle::Disabled => 0x1F,
            LifeCycle::Enabled => 0x3F,
        }
    }
}

/// One ISD-P and what the ISD-R knows about its profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsdP {
    /// Instance AID (`A0000005591010FFFFFFFF89` ‖ TAR ‖ `00`).
    pub aid: Aid,
    /// Life-cycle state.
    pub state: LifeCycle,
    /// Whether this profile holds the fall-back attribute.
    pub fallback: bool,
    /// POL1 of the installed profile (zero until installed).
    pub pol1: Pol1,
    /// ICCID of the installed profile.
    pub iccid: Option<Iccid>,
    /// Non-volatile memory granted at creation (bytes).
    pub quota: u32,
    /// Memory used by the installed profile (bytes, ≤ `quota`).
    pub used: u32,
}

/// Default notification types (tag `4D`; SGP.02 §4.1.1.11, sgp02-gaps §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationType {
    /// `01`: eUICC declaration (first network attach).
    EuiccDeclaration,
    /// `02`: profile change succeeded.
    ProfileChangeSucceeded,
    /// `03`: profile change failed and rolled back.
    ProfileChangeFailedRolledBack,
    /// `05`: profile change after fall-back.
    ProfileChangeAfterFallback,
}

impl NotificationType {
    /// The `4D` byte.
    pub fn byte(self) -> u8 {
        match self {
            NotificationType::EuiccDeclaration => 0x01,
            NotificationType::ProfileChangeSucceeded => 0x02,
            NotificationType::ProfileChangeFailedRolledBack => 0x03,
            NotificationType::ProfileChangeAfterFallback => 0x05,
        }
    }
}

/// A default notification kept until the SM-SR confirms it (`3A08`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Sequence number (tag `4E`).
    pub seq: u16,
    /// Type (tag `4D`).
    pub kind: NotificationType,
    /// The profile enabled after the change (tag `2F`), if any.
    pub enabled: Option<Aid>,
    /// The profile the change disabled: POL1 "delete when disabled" applies to it on confirmation.
    pub disabled: Option<Aid>,
}

/// Why a switch is pending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SwitchCause {
    /// ES5 EnableProfile (`3A03`).
    Enable,
    /// ES5 DisableProfile (`3A04`), which enables the fall-back profile.
    Disable,
    /// Autonomous fall-back after loss of connectivity.
    Fallback,
    /// Roll-back after a failed attach.
    Rollback,
}

/// A profile switch waiting for the device's network-attach result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSwitch {
    /// What caused it.
    pub cause: SwitchCause,
    /// Enabled before the switch.
    pub previous: Option<Aid>,
    /// Enabled now.
    pub current: Option<Aid>,
}

/// A refused operation. The registry is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No ISD-P with this AID (SW `6A88` referenced data not found).
    #[error("no ISD-P {0}")]
    UnknownIsdP(Aid),
    /// The AID is not an SGP.02 ISD-P AID in the TAR range `000010`–`00FFFF` (SW `6A80`).
    #[error("{0} is not an ISD-P AID (A0000005591010FFFFFFFF89 + TAR 000010-00FFFF + 00)")]
    NotAnIsdPAid(Aid),
    /// An ISD-P with this AID exists already (SW `6A80`).
    #[error("ISD-P {0} exists already")]
    AlreadyExists(Aid),
    /// Not enough memory for the requested quota or data (SW `6A84`).
    #[error("not enough memory: {needed} bytes needed, {free} free")]
    NotEnoughMemory {
        /// Bytes asked for.
        needed: u32,
        /// Bytes available.
        free: u32,
    },
    /// The ISD-P is in the wrong state for the operation (SW `6985` conditions of use).
    #[error("ISD-P {aid} is {state:?}: {operation} not possible")]
    WrongState {
        /// The ISD-P.
        aid: Aid,
        /// Its state.
        state: LifeCycle,
        /// The operation refused.
        operation: &'static str,
    },
    /// POL1 of the profile forbids the operation (SW `69E1`, SGP.02).
    #[error("POL1 of {aid} forbids {operation}")]
    Pol1Forbids {
        /// The profile whose POL1 forbids it.
        aid: Aid,
        /// The operation refused.
        operation: &'static str,
    },
    /// The fall-back profile can't be disabled or deleted (SW `6985`).
    #[error("{aid} holds the fall-back attribute: {operation} not possible")]
    FallbackProfile {
        /// The fall-back holder.
        aid: Aid,
        /// The operation refused.
        operation: &'static str,
    },
    /// A profile switch is still waiting for its network-attach result (SW `6985`).
    #[error("a profile switch is still pending")]
    SwitchPending,
    /// No pending notification has this sequence number (SW `6A88`).
    #[error("no pending notification with sequence number {0}")]
    UnknownNotification(u16),
}

impl RegistryError {
    /// The status word an ISD-R answers with.
    pub fn sw(&self) -> u16 {
        match self {
            RegistryError::UnknownIsdP(_) | RegistryError::UnknownNotification(_) => 0x6A88,
            RegistryError::NotAnIsdPAid(_) | RegistryError::AlreadyExists(_) => 0x6A80,
            RegistryError::NotEnoughMemory { .. } => 0x6A84,
            RegistryError::Pol1Forbids { .. } => 0x69E1,
            RegistryError::WrongState { .. }
            | RegistryError::FallbackProfile { .. }
            | RegistryError::SwitchPending => 0x6985,
        }
    }
}

/// The ISD-R's registry. Serializable: it is part of the card's persisted state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registry {
    isdps: Vec<IsdP>,
    capacity: u32,
    last_seq: u16,
    notifications: Vec<Notification>,
    pending: Option<PendingSwitch>,
}

/// What a confirmed notification caused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// ISD-Ps deleted because of POL1 "delete when disabled" (reported as `80 {4F aid}*`).
    pub deleted: Vec<Aid>,
}

impl Registry {
    /// An empty registry with `capacity` bytes of non-volatile memory for ISD-Ps.
    pub fn new(capacity: u32) -> Self {
        Registry {
            isdps: Vec::new(),
            capacity,
            last_seq: 0,
            notifications: Vec::new(),
            pending: None,
        }
    }

    /// The ISD-Ps, in creation order.
    pub fn isdps(&self) -> &[IsdP] {
        &self.isdps
    }

    /// One ISD-P.
    pub fn get(&self, aid: &Aid) -> Option<&IsdP> {
        self.isdps.iter().find(|p| &p.aid == aid)
    }

    /// The enabled ISD-P, if any.
    pub fn enabled(&self) -> Option<&IsdP> {
        self.isdps.iter().find(|p| p.state == LifeCycle::Enabled)
    }

    /// The fall-back holder, if any.
    pub fn fallback_holder(&self) -> Option<&IsdP> {
        self.isdps.iter().find(|p| p.fallback)
    }

    /// Notifications not yet confirmed, oldest first.
    pub fn notifications(&self) -> &[Notification] {
        &self.notifications
    }

    /// The switch waiting for a network-attach result.
    pub fn pending(&self) -> Option<&PendingSwitch> {
        self.pending.as_ref()
    }

    /// Total memory for ISD-Ps.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Memory not granted to any ISD-P.
    pub fn free_memory(&self) -> u32 {
        self.capacity.saturating_sub(self.granted())
    }

    fn granted(&self) -> u32 {
        self.isdps.iter().map(|p| p.quota).sum()
    }

    fn index(&self, aid: &Aid) -> Result<usize, RegistryError> {
        self.isdps
            .iter()
            .position(|p| &p.aid == aid)
            .ok_or_else(|| RegistryError::UnknownIsdP(aid.clone()))
    }

    fn require_state(
        &self,
        i: usize,
        state: LifeCycle,
        operation: &'static str,
    ) -> Result<(), RegistryError> {
        let p = &self.isdps[i];
        if p.state == state {
            Ok(())
        } else {
            Err(RegistryError::WrongState {
                aid: p.aid.clone(),
                state: p.state,
                operation,
            })
        }
    }

    /// ES5 CreateISDP: INSTALL [for install and make selectable] of a new ISD-P with a memory
    /// quota (SGP.02 §4.1.1.1). The new ISD-P is `Selectable`.
    pub fn create_isdp(&mut self, aid: Aid, quota: u32) -> Result<(), RegistryError> {
        if !aid.sgp02_tar().is_some_and(|t| t.is_isd_p_range()) {
            return Err(RegistryError::NotAnIsdPAid(aid));
        }
        if self.get(&aid).is_some() {
            return Err(RegistryError::AlreadyExists(aid));
        }
        let free = self.free_memory();
        if quota > free {
            return Err(RegistryError::NotEnoughMemory {
                needed: quota,
                free,
            });
        }
        self.isdps.push(IsdP {
            aid,
            state: LifeCycle::Selectable,
            fallback: false,
            pol1: Pol1::default(),
            iccid: None,
            quota,
            used: 0,
        });
        Ok(())
    }

    /// Key establishment completed: `Selectable` → `Personalized` (SGP.02 §3.1.2).
    pub fn personalize(&mut self, aid: &Aid) -> Result<(), RegistryError> {
        let i = self.index(aid)?;
        self.require_state(i, LifeCycle::Selectable, "key establishment")?;
        self.isdps[i].state = LifeCycle::Personalized;
        Ok(())
    }

    /// Charges `bytes` of profile data to the ISD-P's quota (during installation).
    pub fn use_memory(&mut self, aid: &Aid, bytes: u32) -> Result<(), RegistryError> {
        let i = self.index(aid)?;
        let p = &self.isdps[i];
        let free = p.quota - p.used;
        if bytes > free {
            return Err(RegistryError::NotEnoughMemory {
                needed: bytes,
                free,
            });
        }
        self.isdps[i].used += bytes;
        Ok(())
    }

    /// The profile package was installed completely: `Personalized` → `Disabled`.
    pub fn install_complete(
        &mut self,
        aid: &Aid,
        iccid: Iccid,
        pol1: Pol1,
    ) -> Result<(), RegistryError> {
        let i = self.index(aid)?;
        self.require_state(i, LifeCycle::Personalized, "completing installation")?;
        if self.isdps.iter().any(|p| p.iccid.as_ref() == Some(&iccid)) {
            return Err(RegistryError::WrongState {
                aid: aid.clone(),
                state: LifeCycle::Personalized,
                operation: "installing a profile whose ICCID is already on the card",
            });
        }
        let p = &mut self.isdps[i];
        p.state = LifeCycle::Disabled;
        p.iccid = Some(iccid);
        p.pol1 = pol1;
        Ok(())
    }

    /// Gives the fall-back attribute to an installed profile, taking it from the previous holder
    /// (there is no "unset"; SGP.02 §3.27, digest §1.2).
    pub fn set_fallback(&mut self, aid: &Aid) -> Result<(), RegistryError> {
        let i = self.index(aid)?;
        let state = self.isdps[i].state;
        if !matches!(state, LifeCycle::Disabled | LifeCycle::Enabled) {
            return Err(RegistryError::WrongState {
                aid: aid.clone(),
                state,
                operation: "setting the fall-back attribute",
            });
        }
        for p in &mut self.isdps {
            p.fallback = false;
        }
        self.isdps[i].fallback = true;
        Ok(())
    }

    fn ensure_no_pending(&self) -> Result<(), RegistryError> {
        if self.pending.is_some() {
            Err(RegistryError::SwitchPending)
        } else {
            Ok(())
        }
    }

    fn enabled_index(&self) -> Option<usize> {
        self.isdps
            .iter()
            .position(|p| p.state == LifeCycle::Enabled)
    }

    /// ES5 EnableProfile (`3A03`): disables the current profile (POL1 permitting) and enables
    /// `aid`. The switch stays pending until [`Registry::network_attach`].
    pub fn enable(&mut self, aid: &Aid) -> Result<(), RegistryError> {
        self.ensure_no_pending()?;
        let i = self.index(aid)?;
        self.require_state(i, LifeCycle::Disabled, "enable")?;
        let current = self.enabled_index();
        if let Some(c) = current {
            if self.isdps[c].pol1.disable_not_allowed() {
                return Err(RegistryError::Pol1Forbids {
                    aid: self.isdps[c].aid.clone(),
                    operation: "disabling it to enable another profile",
                });
            }
            self.isdps[c].state = LifeCycle::Disabled;
        }
        self.isdps[i].state = LifeCycle::Enabled;
        self.pending = Some(PendingSwitch {
            cause: SwitchCause::Enable,
            previous: current.map(|c| self.isdps[c].aid.clone()),
            current: Some(aid.clone()),
        });
        Ok(())
    }

    /// ES5 DisableProfile (`3A04`): disables `aid` (POL1 permitting) and enables the fall-back
    /// profile. Pending until [`Registry::network_attach`].
    pub fn disable(&mut self, aid: &Aid) -> Result<(), RegistryError> {
        self.ensure_no_pending()?;
        let i = self.index(aid)?;
        self.require_state(i, LifeCycle::Enabled, "disable")?;
        let p = &self.isdps[i];
        if p.fallback {
            return Err(RegistryError::FallbackProfile {
                aid: aid.clone(),
                operation: "disable",
            });
        }
        if p.pol1.disable_not_allowed() {
            return Err(RegistryError::Pol1Forbids {
                aid: aid.clone(),
                operation: "disable",
            });
        }
        self.isdps[i].state = LifeCycle::Disabled;
        let fb = self.isdps.iter().position(|p| p.fallback);
        if let Some(f) = fb {
            self.isdps[f].state = LifeCycle::Enabled;
        }
        self.pending = Some(PendingSwitch {
            cause: SwitchCause::Disable,
            previous: Some(aid.clone()),
            current: fb.map(|f| self.isdps[f].aid.clone()),
        });
        Ok(())
    }

    /// Autonomous fall-back (SGP.02 §3.16, digest §3.4): the enabled profile lost connectivity,
    /// so it is disabled **ignoring its POL1** and the fall-back profile is enabled. Returns
    /// `false` (and changes nothing) when the fall-back profile is already enabled or there is
    /// none. A pending switch is superseded.
    pub fn fallback(&mut self) -> bool {
        let Some(f) = self.isdps.iter().position(|p| p.fallback) else {
            return false;
        };
        if self.isdps[f].state == LifeCycle::Enabled {
            return false;
        }
        if !matches!(self.isdps[f].state, LifeCycle::Disabled) {
            return false;
        }
        let current = self.enabled_index();
        if let Some(c) = current {
            self.isdps[c].state = LifeCycle::Disabled;
        }
        self.isdps[f].state = LifeCycle::Enabled;
        self.pending = Some(PendingSwitch {
            cause: SwitchCause::Fallback,
            previous: current.map(|c| self.isdps[c].aid.clone()),
            current: Some(self.isdps[f].aid.clone()),
        });
        true
    }

    /// The device reports the result of the network attach that follows a switch's REFRESH.
    ///
    /// * success: the switch is final; a default notification is queued and returned;
    /// * failure after an enable or disable: roll back to the previous profile (the roll-back is
    ///   itself pending, and its success yields notification type 03);
    /// * failure after a roll-back: fall back.
    /// * failure after fall-back: nothing more the card can do; the switch stays final.
    ///
    /// Returns the queued notification, if any. Without a pending switch this is a plain attach
    /// and does nothing.
    pub fn network_attach(&mut self, success: bool) -> Option<Notification> {
        let pending = self.pending.take()?;
        if success {
            let kind = match pending.cause {
                SwitchCause::Enable | SwitchCause::Disable => {
                    NotificationType::ProfileChangeSucceeded
                }
                SwitchCause::Fallback => NotificationType::ProfileChangeAfterFallback,
                SwitchCause::Rollback => NotificationType::ProfileChangeFailedRolledBack,
            };
            // Roll-back reverts the change: nothing was disabled by it for POL1 purposes.
            let disabled = match pending.cause {
                SwitchCause::Rollback => None,
                _ => pending.previous.clone(),
            };
            return Some(self.queue_notification(kind, pending.current, disabled));
        }
        match pending.cause {
            SwitchCause::Enable | SwitchCause::Disable => {
                for p in &mut self.isdps {
                    if Some(&p.aid) == pending.current.as_ref() {
                        p.state = LifeCycle::Disabled;
                    }
                }
                for p in &mut self.isdps {
                    if Some(&p.aid) == pending.previous.as_ref() {
                        p.state = LifeCycle::Enabled;
                    }
                }
                self.pending = Some(PendingSwitch {
                    cause: SwitchCause::Rollback,
                    previous: pending.current,
                    current: pending.previous,
                });
                None
            }
            SwitchCause::Rollback => {
                self.fallback();
                None
            }
            SwitchCause::Fallback => None,
        }
    }

    fn queue_notification(
        &mut self,
        kind: NotificationType,
        enabled: Option<Aid>,
        disabled: Option<Aid>,
    ) -> Notification {
        self.last_seq = self.last_seq.wrapping_add(1).max(1);
        let n = Notification {
            seq: self.last_seq,
            kind,
            enabled,
            disabled,
        };
        self.notifications.push(n.clone());
        n
    }

    /// Queues the eUICC declaration notification (type 01) sent on first attach.
    pub fn declare(&mut self) -> Notification {
        let enabled = self.enabled().map(|p| p.aid.clone());
        self.queue_notification(NotificationType::EuiccDeclaration, enabled, None)
    }

    /// ES5 NotificationConfirmation (`3A08 {4E seq}`): forgets the notification and applies POL1
    /// "delete when disabled" to the profile its change disabled (SGP.02 §4.1.1.12).
    pub fn confirm_notification(&mut self, seq: u16) -> Result<Confirmation, RegistryError> {
        let pos = self
            .notifications
            .iter()
            .position(|n| n.seq == seq)
            .ok_or(RegistryError::UnknownNotification(seq))?;
        let n = self.notifications.remove(pos);
        let mut deleted = Vec::new();
        if let Some(aid) = n.disabled {
            if let Some(i) = self.isdps.iter().position(|p| p.aid == aid) {
                let p = &self.isdps[i];
                if p.state == LifeCycle::Disabled && !p.fallback && p.pol1.delete_when_disabled() {
                    deleted.push(self.isdps.remove(i).aid);
                }
            }
        }
        Ok(Confirmation { deleted })
    }

    /// ES5 DeleteProfile (`80E40040 4F aid`): refused for the enabled profile, the fall-back
    /// profile, and when POL1 forbids deletion. Also used for ISD-P clean-up after a failed
    /// download (any state but `Enabled`).
    pub fn delete(&mut self, aid: &Aid) -> Result<(), RegistryError> {
        let i = self.index(aid)?;
        let p = &self.isdps[i];
        if p.state == LifeCycle::Enabled {
            return Err(RegistryError::WrongState {
                aid: aid.clone(),
                state: p.state,
                operation: "delete",
            });
        }
        if p.fallback {
            return Err(RegistryError::FallbackProfile {
                aid: aid.clone(),
                operation: "delete",
            });
        }
        if p.pol1.delete_not_allowed() {
            return Err(RegistryError::Pol1Forbids {
                aid: aid.clone(),
                operation: "delete",
            });
        }
        self.isdps.remove(i);
        Ok(())
    }

    /// Master delete (SGP.02 §3.10), after the caller verified the delete token: deletes a
    /// disabled profile regardless of POL1; never the fall-back profile.
    pub fn master_delete(&mut self, aid: &Aid) -> Result<(), RegistryError> {
        let i = self.index(aid)?;
        let p = &self.isdps[i];
        if p.fallback {
            return Err(RegistryError::FallbackProfile {
                aid: aid.clone(),
                operation: "master delete",
            });
        }
        if p.state == LifeCycle::Enabled {
            return Err(RegistryError::WrongState {
                aid: aid.clone(),
                state: p.state,
                operation: "master delete",
            });
        }
        self.isdps.remove(i);
        Ok(())
    }

    /// Checks the invariants listed in the module documentation; returns the first violation.
    pub fn check_invariants(&self) -> Result<(), String> {
        let enabled = self
            .isdps
            .iter()
            .filter(|p| p.state == LifeCycle::Enabled)
            .count();
        if enabled > 1 {
            return Err(format!("{enabled} profiles enabled"));
        }
        let holders = self.isdps.iter().filter(|p| p.fallback).count();
        if holders > 1 {
            return Err(format!("{holders} fall-back holders"));
        }
        if self.granted() > self.capacity {
            return Err(format!(
                "granted {} bytes of {} capacity",
                self.granted(),
                self.capacity
            ));
        }
        if self.granted() + self.free_memory() != self.capacity {
            return Err("memory does not add up".into());
        }
        if let Some(p) = self.isdps.iter().find(|p| p.used > p.quota) {
            return Err(format!("{} uses more than its quota", p.aid));
        }
        if self.notifications.windows(2).any(|w| w[0].seq >= w[1].seq) {
            return Err("notification sequence numbers do not increase".into());
        }
        for (i, p) in self.isdps.iter().enumerate() {
            if self.isdps[i + 1..].iter().any(|q| q.aid == p.aid) {
                return Err(format!("duplicate ISD-P {}", p.aid));
            }
        }
        Ok(())
    }
}
