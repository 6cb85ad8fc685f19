//! The radio network model: which operator networks (PLMNs) the device can reach, changeable at
//! run time, and the PLMN an enabled profile attaches to.
//!
//! A profile's home PLMN is the MCC (3 digits) and MNC (2 or 3 digits) at the start of the IMSI
//! of its USIM (3GPP TS 23.003 §2.2). The MNC length is taken from the configuration when given,
//! else from EF.AD byte 4 (3GPP TS 31.102 §4.2.18) when the profile has one with the value 2 or
//! 3, else 2 (docs/spec-choices.md). Attach succeeds iff that PLMN is reachable.

use esim_codec::Imsi;
use esim_euicc::Euicc;
use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use tokio::sync::watch;

/// A PLMN identity: MCC and MNC as decimal digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Plmn {
    mcc: String,
    mnc: String,
}

impl Plmn {
    /// Parses `MCCMNC` (`00101`, `310410`) or `MCC-MNC` (`001-01`): 3 MCC digits, 2 or 3 MNC
    /// digits.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        let (mcc, mnc) = match t.split_once(['-', '/']) {
            Some((a, b)) => (a, b),
            None => match (t.get(..3), t.get(3..)) {
                (Some(a), Some(b)) if !b.is_empty() => (a, b),
                _ => return Err(format!("PLMN {t:?}: expected MCC+MNC (5 or 6 digits)")),
            },
        };
        if mcc.len() != 3 || !(2..=3).contains(&mnc.len()) {
            return Err(format!("PLMN {t:?}: MCC must have 3 digits and MNC 2 or 3"));
        }
        if !mcc.bytes().chain(mnc.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(format!("PLMN {t:?}: only decimal digits are allowed"));
        }
        Ok(Plmn {
            mcc: mcc.to_string(),
            mnc: mnc.to_string(),
        })
    }

    /// The home PLMN of an IMSI with an MNC of `mnc_len` digits (2 or 3).
    pub fn from_imsi(imsi: &Imsi, mnc_len: u8) -> Option<Self> {
        let d = imsi.as_str();
        let n = 3 + usize::from(mnc_len.clamp(2, 3));
        let mcc = d.get(..3)?;
        let mnc = d.get(3..n)?;
        Some(Plmn {
            mcc: mcc.to_string(),
            mnc: mnc.to_string(),
        })
    }

    /// Mobile country code.
    pub fn mcc(&self) -> &str {
        &self.mcc
    }

    /// Mobile network code.
    pub fn mnc(&self) -> &str {
        &self.mnc
    }
}

impl fmt::Display for Plmn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.mcc, self.mnc)
    }
}

/// The PLMN the enabled profile of `card` attaches to, or `None` without an enabled profile
/// with an IMSI. `mnc_len` overrides the MNC length (else EF.AD, else 2).
pub fn enabled_plmn(card: &Euicc, mnc_len: Option<u8>) -> Option<Plmn> {
    let enabled = card.registry().enabled()?;
    let slot = card.profiles().iter().find(|p| p.aid == enabled.aid)?;
    let profile = slot.isdp.installed_profile()?;
    let imsi = profile.imsi()?;
    let len = mnc_len.or_else(|| {
        profile
            .usim_file(0x6FAD)
            .and_then(|f| f.content.get(3).map(|b| b & 0x0F))
            .filter(|l| (2..=3).contains(l))
    });
    Plmn::from_imsi(&imsi, len.unwrap_or(2))
}

/// The set of reachable PLMNs, shared by every card of the device and changeable at run time
/// (the library's control channel; the loopback control endpoint uses it too). Cheap to clone.
#[derive(Debug, Clone)]
pub struct NetworkControl {
    tx: Arc<watch::Sender<BTreeSet<Plmn>>>,
}

impl NetworkControl {
    /// A network where `reachable` can be attached to.
    pub fn new(reachable: impl IntoIterator<Item = Plmn>) -> Self {
        NetworkControl {
            tx: Arc::new(watch::channel(reachable.into_iter().collect()).0),
        }
    }

    /// The PLMNs reachable now.
    pub fn reachable(&self) -> BTreeSet<Plmn> {
        self.tx.borrow().clone()
    }

    /// Whether `plmn` is reachable now.
    pub fn is_reachable(&self, plmn: &Plmn) -> bool {
        self.tx.borrow().contains(plmn)
    }

    /// Replaces the reachable set.
    pub fn set(&self, plmns: impl IntoIterator<Item = Plmn>) {
        self.tx.send_replace(plmns.into_iter().collect());
    }

    /// Makes `plmn` reachable.
    pub fn add(&self, plmn: Plmn) {
        self.tx.send_if_modified(|s| s.insert(plmn));
    }

    /// Makes `plmn` unreachable.
    pub fn remove(&self, plmn: &Plmn) {
        self.tx.send_if_modified(|s| s.remove(plmn));
    }

    /// A receiver notified at every change.
    pub fn subscribe(&self) -> watch::Receiver<BTreeSet<Plmn>> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_imsi() {
        let p = Plmn::parse("00101").unwrap();
        assert_eq!((p.mcc(), p.mnc()), ("001", "01"));
        assert_eq!(Plmn::parse("310-410").unwrap().to_string(), "310410");
        assert!(Plmn::parse("0010").is_err());
        assert!(Plmn::parse("001a1").is_err());
        assert!(Plmn::parse("0010123").is_err());
        let imsi = Imsi::parse("310410123456789").unwrap();
        assert_eq!(Plmn::from_imsi(&imsi, 3).unwrap().to_string(), "310410");
        assert_eq!(Plmn::from_imsi(&imsi, 2).unwrap().to_string(), "31041");
    }

    #[test]
    fn control_changes_are_seen() {
        let n = NetworkControl::new([Plmn::parse("00101").unwrap()]);
        let mut rx = n.subscribe();
        n.add(Plmn::parse("00102").unwrap());
        assert!(rx.has_changed().unwrap());
        rx.borrow_and_update();
        n.remove(&Plmn::parse("00101").unwrap());
        assert!(rx.has_changed().unwrap());
        assert_eq!(n.reachable().len(), 1);
    }
}
