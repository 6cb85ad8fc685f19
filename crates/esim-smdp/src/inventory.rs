//! The SM-DP's Profile inventory (SGP.02 §2.3: the SM-DP prepares and stores Profiles for the
//! MNO; digest §3.1 step 1).
//!
//! Profiles enter the inventory in two ways:
//!
//! - [`Inventory::import`]: SAIP Profile Packages (DER, TCA eUICC Profile Package) prepared
//!   elsewhere; ICCID and IMSI are read from the package (header and EF.IMSI).
//! - [`Inventory::generate`]: a range personalized from a template package — ICCIDs from a
//!   start value (with a Luhn check digit), IMSIs from a start value, fresh random Ki and OPc
//!   per Profile ([`esim_crypto::primitives::fill_random`]).
//!
//! Every package is sealed with the store's [`Sealer`] under the AAD `inventory/<ICCID>` and
//! kept in [`InventoryProfile::secrets`]; Ki/OPc never reach the store in the clear. An ICCID is
//! imported once and never issued twice (the store refuses a second import of it).

use std::sync::Arc;

use esim_codec::{Iccid, Imsi};
use esim_saip::{Personalization, ProfilePackage, Zeroizing};
use esim_store::{InventoryProfile, InventoryState, Sealer, Store, StoreError, Timestamp};

/// Why an inventory change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InventoryError {
    /// A package could not be decoded or is not a valid Profile Package (index in the batch).
    #[error("package {index}: {reason}")]
    Package {
        /// Position of the package in the request.
        index: usize,
        /// What is wrong (never key material).
        reason: String,
    },
    /// A request parameter is out of range (ICCID/IMSI range, count, profile type).
    #[error("{0}")]
    Parameter(String),
    /// The template could not be personalized.
    #[error("personalizing {iccid}: {reason}")]
    Personalization {
        /// The ICCID being generated.
        iccid: String,
        /// What failed.
        reason: String,
    },
    /// Randomness for Ki/OPc was not available.
    #[error("random number generator failed")]
    Rng,
    /// The store refused the change (e.g. an ICCID already imported: `Duplicate`).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The AAD a Profile's sealed package is bound to.
pub fn sealing_aad(iccid: &Iccid) -> Vec<u8> {
    format!("inventory/{}", iccid.as_str()).into_bytes()
}

/// Import of ready packages.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// Owning MNO (the only operator that may download these Profiles).
    pub owner: String,
    /// Profile type; `None` takes each package's header `profileType`.
    pub profile_type: Option<String>,
    /// The packages (DER).
    pub packages: Vec<Vec<u8>>,
}

/// Generation of a range of Profiles from a template.
#[derive(Clone)]
pub struct GenerateRequest {
    /// Owning MNO.
    pub owner: String,
    /// Profile type.
    pub profile_type: String,
    /// Name of the template (kept in [`InventoryProfile::template`]).
    pub template_name: String,
    /// The template package (DER).
    pub template: Vec<u8>,
    /// First ICCID without its check digit (17–19 digits starting with `89`); a Luhn digit is
    /// appended to each.
    pub iccid_start: String,
    /// Number of Profiles (1–100 000).
    pub count: u32,
    /// First IMSI (incremented per Profile, same number of digits); `None` keeps the template's.
    pub imsi_start: Option<Imsi>,
}

impl std::fmt::Debug for GenerateRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerateRequest")
            .field("owner", &self.owner)
            .field("profile_type", &self.profile_type)
            .field("template_name", &self.template_name)
            .field("template_len", &self.template.len())
            .field("iccid_start", &self.iccid_start)
            .field("count", &self.count)
            .field("imsi_start", &self.imsi_start)
            .finish()
    }
}

/// Largest range generated in one call.
pub const MAX_GENERATE: u32 = 100_000;

/// The inventory over a store and a sealer.
#[derive(Debug, Clone)]
pub struct Inventory {
    store: Arc<dyn Store>,
    sealer: Arc<dyn Sealer>,
}

/// `start + i` as a decimal string of the same width; `None` when it does not fit.
fn add_decimal(start: &str, i: u64) -> Option<String> {
    let width = start.len();
    let v: u128 = start.parse().ok()?;
    let s = format!("{:0width$}", v.checked_add(u128::from(i))?);
    (s.len() == width).then_some(s)
}

impl Inventory {
    /// An inventory over `store`, sealing with `sealer`.
    pub fn new(store: Arc<dyn Store>, sealer: Arc<dyn Sealer>) -> Self {
        Inventory { store, sealer }
    }

    fn record(
        &self,
        (owner, profile_type, template): (&str, &str, Option<&str>),
        iccid: Iccid,
        imsi: Option<Imsi>,
        der: &[u8],
        now: Timestamp,
    ) -> Result<InventoryProfile, InventoryError> {
        let secrets = self.sealer.seal(der, &sealing_aad(&iccid))?;
        Ok(InventoryProfile {
            iccid,
            imsi,
            profile_type: profile_type.to_owned(),
            owner: owner.to_owned(),
            template: template.map(str::to_owned),
            secrets,
            state: InventoryState::Available,
            eid: None,
            imported_at: now,
            updated_at: now,
        })
    }

    /// Imports packages in one transaction (all or none). Each is decoded and validated; ICCID
    /// and IMSI are read from it. `Store(Duplicate)` if an ICCID was ever imported before.
    pub async fn import(
        &self,
        req: &ImportRequest,
        now: Timestamp,
    ) -> Result<Vec<InventoryProfile>, InventoryError> {
        if req.owner.is_empty() {
            return Err(InventoryError::Parameter("owner is empty".into()));
        }
        let mut records = Vec::with_capacity(req.packages.len());
        let mut seen = std::collections::BTreeSet::new();
        for (index, der) in req.packages.iter().enumerate() {
            let bad = |reason: String| InventoryError::Package { index, reason };
            let pkg = ProfilePackage::decode(der).map_err(|e| bad(e.to_string()))?;
            let problems = esim_saip::validate(&pkg);
            if let Some(first) = problems.first() {
                return Err(bad(format!(
                    "not a valid Profile Package ({} problems, first: {first})",
                    problems.len()
                )));
            }
            let iccid = pkg.iccid().map_err(|e| bad(e.to_string()))?;
            if !seen.insert(iccid.clone()) {
                return Err(bad(format!("ICCID {} twice in the batch", iccid.as_str())));
            }
            let imsi = pkg.imsi().ok();
            let profile_type = match (&req.profile_type, pkg.profile_type()) {
                (Some(t), _) => t.clone(),
                (None, Some(t)) => t.to_owned(),
                (None, None) => {
                    return Err(bad("no profile type given and none in the header".into()));
                }
            };
            if profile_type.is_empty() {
                return Err(bad("empty profile type".into()));
            }
            records.push(self.record((&req.owner, &profile_type, None), iccid, imsi, der, now)?);
        }
        self.store.import_profiles(&records).await?;
        Ok(records)
    }

    /// Generates `count` Profiles from the template: ICCID `iccid_start + i` with its Luhn
    /// digit, IMSI `imsi_start + i`, random 16-byte Ki and OPc; each personalized package is
    /// validated, sealed and imported in one transaction.
    pub async fn generate(
        &self,
        req: &GenerateRequest,
        now: Timestamp,
    ) -> Result<Vec<InventoryProfile>, InventoryError> {
        if req.count == 0 || req.count > MAX_GENERATE {
            return Err(InventoryError::Parameter(format!(
                "count {} outside 1..={MAX_GENERATE}",
                req.count
            )));
        }
        if req.owner.is_empty() || req.profile_type.is_empty() {
            return Err(InventoryError::Parameter(
                "owner and profile type must not be empty".into(),
            ));
        }
        if !(17..=19).contains(&req.iccid_start.len())
            || !req.iccid_start.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(InventoryError::Parameter(
                "ICCID start must be 17 to 19 digits (without the check digit)".into(),
            ));
        }
        let template =
            ProfilePackage::decode(&req.template).map_err(|e| InventoryError::Package {
                index: 0,
                reason: format!("template: {e}"),
            })?;
        let mut records = Vec::with_capacity(req.count as usize);
        for i in 0..u64::from(req.count) {
            let body = add_decimal(&req.iccid_start, i).ok_or_else(|| {
                InventoryError::Parameter("ICCID range overflows its digits".into())
            })?;
            let iccid = Iccid::with_luhn(&body)
                .map_err(|e| InventoryError::Parameter(format!("ICCID {body}: {e}")))?;
            let imsi = match &req.imsi_start {
                Some(start) => {
                    let s = add_decimal(start.as_str(), i).ok_or_else(|| {
                        InventoryError::Parameter("IMSI range overflows its digits".into())
                    })?;
                    Some(
                        Imsi::parse(&s)
                            .map_err(|e| InventoryError::Parameter(format!("IMSI {s}: {e}")))?,
                    )
                }
                None => None,
            };
            let mut ki = Zeroizing::new(vec![0u8; 16]);
            let mut opc = Zeroizing::new(vec![0u8; 16]);
            esim_crypto::primitives::fill_random(&mut ki).map_err(|_| InventoryError::Rng)?;
            esim_crypto::primitives::fill_random(&mut opc).map_err(|_| InventoryError::Rng)?;
            let p = Personalization {
                iccid: Some(iccid.clone()),
                imsi: imsi.clone(),
                ki: Some(ki),
                opc: Some(opc),
                ..Default::default()
            };
            let perr = |reason: String| InventoryError::Personalization {
                iccid: iccid.as_str().to_owned(),
                reason,
            };
            let pkg = p.apply(&template).map_err(|e| perr(e.to_string()))?;
            let der = Zeroizing::new(pkg.encode().map_err(|e| perr(e.to_string()))?);
            let imsi = imsi.or_else(|| pkg.imsi().ok());
            records.push(self.record(
                (&req.owner, &req.profile_type, Some(&req.template_name)),
                iccid,
                imsi,
                &der,
                now,
            )?);
        }
        self.store.import_profiles(&records).await?;
        Ok(records)
    }

    /// The sealed package of an inventory Profile, opened (DER; zeroized on drop).
    pub fn open_package(&self, p: &InventoryProfile) -> Result<Zeroizing<Vec<u8>>, StoreError> {
        self.sealer.open(&p.secrets, &sealing_aad(&p.iccid))
    }

    /// One inventory Profile.
    pub async fn get(&self, iccid: &Iccid) -> Result<InventoryProfile, StoreError> {
        self.store.get_inventory(iccid).await
    }

    /// Number of Available Profiles of `owner` and `profile_type`.
    pub async fn count_available(
        &self,
        owner: &str,
        profile_type: &str,
    ) -> Result<u64, StoreError> {
        self.store.count_available(owner, profile_type).await
    }
}

#[cfg(test)]
mod tests {
    use super::add_decimal;

    #[test]
    fn decimal_ranges_keep_their_width() {
        assert_eq!(add_decimal("0099", 1).as_deref(), Some("0100"));
        assert_eq!(add_decimal("8949", 0).as_deref(), Some("8949"));
        assert_eq!(add_decimal("99", 1), None);
        assert_eq!(add_decimal("x1", 1), None);
    }
}
