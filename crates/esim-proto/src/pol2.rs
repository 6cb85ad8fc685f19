//! POL2 (digest §4.3): the SM-SR-side policy rules of a Profile, stored in
//! the EIS, and the evaluator the SM-SR runs before any OTA command (digest
//! §3.3 step 1 and step 6).

use serde::{Deserialize, Serialize};

use crate::codes::{reason, subject};
use crate::common::FunctionExecutionStatus;

/// `Subject` of a POL2 rule: only `PROFILE` exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Pol2Subject {
    /// The Profile the rule belongs to.
    #[serde(rename = "PROFILE")]
    Profile,
}

/// `Action` of a POL2 rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Pol2Action {
    /// Enabling the Profile.
    #[serde(rename = "ENABLE")]
    Enable,
    /// Disabling the Profile (also implied by enabling another Profile).
    #[serde(rename = "DISABLE")]
    Disable,
    /// Deleting the Profile.
    #[serde(rename = "DELETE")]
    Delete,
}

/// `Qualification` of a POL2 rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub enum Pol2Qualification {
    /// The action is not allowed.
    #[serde(rename = "Not-Allowed")]
    NotAllowed,
    /// With `DISABLE`: the Profile is deleted once disabled.
    #[serde(rename = "Auto-Delete")]
    AutoDelete,
}

/// One POL2 rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Pol2Rule {
    /// `Subject`.
    #[serde(rename = "Subject")]
    pub subject: Pol2Subject,
    /// `Action`.
    #[serde(rename = "Action")]
    pub action: Pol2Action,
    /// `Qualification`.
    #[serde(rename = "Qualification")]
    pub qualification: Pol2Qualification,
}

/// A Profile's POL2: a list of rules. Empty is valid and explicit (no
/// restriction).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Pol2 {
    /// `Rule*`.
    #[serde(rename = "Rule", default)]
    pub rules: Vec<Pol2Rule>,
}

/// An operation the SM-SR is asked to perform, as POL2 sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Enable this Profile (the target's own `ENABLE` rule).
    Enable,
    /// Enable a target Profile: the currently enabled Profile is disabled.
    EnableOther,
    /// Disable this (enabled) Profile.
    Disable,
    /// Delete this Profile.
    Delete,
    /// Master Delete (digest §3.5): ignores POL1 and POL2.
    MasterDelete,
}

/// The evaluator's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The operation may be sent to the card. `auto_delete_after_disable` is
    /// true when the Profile that ends up disabled carries DISABLE +
    /// Auto-Delete: the SM-SR deletes it after the card confirms (§3.3 step 6).
    Allowed {
        /// Whether a DELETE must follow the disable.
        auto_delete_after_disable: bool,
    },
    /// Refused by POL2, with the status to return (`Failed`, subject
    /// [`subject::POL2`], reason [`reason::REFUSED`]).
    Refused(FunctionExecutionStatus),
}

impl Pol2 {
    /// Whether the rule `(PROFILE, action, qualification)` is present.
    pub fn has(&self, action: Pol2Action, qualification: Pol2Qualification) -> bool {
        self.rules
            .iter()
            .any(|r| r.action == action && r.qualification == qualification)
    }

    /// Evaluates `op` against this POL2, the POL2 of the Profile the
    /// operation acts on (for [`Operation::EnableOther`]: the currently
    /// enabled Profile, which will be disabled). `iccid` is reported as the
    /// `SubjectIdentifier` when refused.
    pub fn evaluate(&self, op: Operation, iccid: &str) -> Decision {
        let refuse = |what: &str| {
            Decision::Refused(FunctionExecutionStatus::failed_for(
                subject::POL2,
                reason::REFUSED,
                iccid,
                &format!("POL2 of profile {iccid}: {what} not allowed"),
            ))
        };
        match op {
            Operation::MasterDelete => Decision::Allowed {
                auto_delete_after_disable: false,
            },
            Operation::Enable => {
                if self.has(Pol2Action::Enable, Pol2Qualification::NotAllowed) {
                    refuse("enabling")
                } else {
                    Decision::Allowed {
                        auto_delete_after_disable: false,
                    }
                }
            }
            Operation::Delete => {
                if self.has(Pol2Action::Delete, Pol2Qualification::NotAllowed) {
                    refuse("deletion")
                } else {
                    Decision::Allowed {
                        auto_delete_after_disable: false,
                    }
                }
            }
            Operation::Disable | Operation::EnableOther => {
                if self.has(Pol2Action::Disable, Pol2Qualification::NotAllowed) {
                    refuse("disabling")
                } else {
                    Decision::Allowed {
                        auto_delete_after_disable: self
                            .has(Pol2Action::Disable, Pol2Qualification::AutoDelete)
                            && !self.has(Pol2Action::Delete, Pol2Qualification::NotAllowed),
                    }
                }
            }
        }
    }
}
