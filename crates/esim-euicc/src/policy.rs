//! POL1, the policy rules carried inside a Profile (SAIP `ProfileHeader.pol`; SGP.02 §2.4.5,
//! digest §4.3, sgp02-gaps §2).
//!
//! The bit coding is not in any public source. We use the coding the digest records as
//! background knowledge (docs/spec-choices.md, row "POL1 bits"), in this one place:
//! b1 (`01`) disabling not allowed, b2 (`02`) deletion not allowed, b3 (`04`) deletion mandatory
//! when disabled. A missing `pol` field means all zeros: no rules (TCA SAIP v3.3).

use serde::{Deserialize, Serialize};

/// POL1 of one Profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pol1(pub u8);

impl Pol1 {
    /// b1: the Profile may not be disabled (except by fall-back, SGP.02 §3.4).
    pub const DISABLE_NOT_ALLOWED: u8 = 0x01;
    /// b2: the Profile may not be deleted (except by master delete, SGP.02 §3.5).
    pub const DELETE_NOT_ALLOWED: u8 = 0x02;
    /// b3: the Profile is deleted when it is disabled (applied on notification confirmation).
    pub const DELETE_WHEN_DISABLED: u8 = 0x04;

    /// From the SAIP `pol` octet string; empty or absent means no rules.
    pub fn from_octets(octets: &[u8]) -> Self {
        Pol1(octets.first().copied().unwrap_or(0))
    }

    /// Whether disabling is forbidden.
    pub fn disable_not_allowed(self) -> bool {
        self.0 & Self::DISABLE_NOT_ALLOWED != 0
    }

    /// Whether deletion is forbidden.
    pub fn delete_not_allowed(self) -> bool {
        self.0 & Self::DELETE_NOT_ALLOWED != 0
    }

    /// Whether the Profile must be deleted once disabled.
    pub fn delete_when_disabled(self) -> bool {
        self.0 & Self::DELETE_WHEN_DISABLED != 0
    }
}
