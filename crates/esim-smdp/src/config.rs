//! Configuration of the SM-DP (its identity and credentials, SGP.02 §4.1.3; timing).

use std::time::Duration;

use esim_crypto::cert::Certificate;
use esim_crypto::ec::KeyPair;
use esim_crypto::x509::X509Certificate;
use esim_proto::ValidityPeriod;

/// What an SM-DP needs to run.
#[derive(Clone)]
pub struct SmdpConfig {
    /// The SM-DP identifier: `FunctionRequesterIdentifier` of its ES3 calls and of its ES2
    /// notifications.
    pub smdp_id: String,
    /// SK.DP.ECDSA (key establishment with the ISD-P, digest §3.2).
    pub signing_key: KeyPair,
    /// CERT.DP.ECDSA, signed by the CI.
    pub certificate: Certificate,
    /// The CI certificate that CERT.ECASD.ECKA chains to (through an EUM certificate).
    pub ci_certificate: X509Certificate,
    /// EUM certificates accepted for CERT.ECASD.ECKA (matched by the EIS `EumCertificateId`,
    /// the certificate's subject key identifier; otherwise each is tried).
    pub eum_certificates: Vec<X509Certificate>,
    /// `ValidityPeriod` of the SM-DP's ES3 calls.
    pub validity_period: ValidityPeriod,
    /// Download tunables (segment and chunk sizes, ISD-P key version, `RequiredMemory`; with no
    /// `required_memory` the SM-DP asks for the package size plus a quarter and 1 KiB).
    pub download: esim_proto::smdp::Config,
    /// Time limit of one ES3 call (following up on the SM-SR's pending operation).
    pub es3_timeout: Duration,
    /// How long a running operation's lease lasts; renewed before each ES3 call. An operation
    /// whose lease expired is recovered by [`crate::run`] (on any replica).
    pub lease: Duration,
    /// Identifier of this replica in operation leases. Random by default; a stable name (one
    /// per replica) lets a restarted replica recover its previous incarnation's operations at
    /// start instead of after their lease ([`crate::Smdp::run_recovery`]).
    pub holder: String,
    /// How often the recovery loop looks for abandoned operations.
    pub poll_interval: Duration,
}

impl SmdpConfig {
    /// A configuration with the default timing (ValidityPeriod 1 h, ES3 limit 120 s, lease
    /// 30 s renewed every 10 s while an ES3 call runs, poll every 5 s) and a random replica
    /// identifier.
    pub fn new(
        smdp_id: &str,
        signing_key: KeyPair,
        certificate: Certificate,
        ci_certificate: X509Certificate,
        eum_certificates: Vec<X509Certificate>,
    ) -> Self {
        let holder = esim_crypto::primitives::random_array::<8>()
            .map(|b| format!("{smdp_id}/{}", esim_codec::hex::encode(&b)))
            .unwrap_or_else(|_| format!("{smdp_id}/{}", std::process::id()));
        SmdpConfig {
            smdp_id: smdp_id.to_owned(),
            signing_key,
            certificate,
            ci_certificate,
            eum_certificates,
            validity_period: ValidityPeriod(3600),
            download: esim_proto::smdp::Config::default(),
            es3_timeout: Duration::from_secs(120),
            lease: Duration::from_secs(30),
            holder,
            poll_interval: Duration::from_secs(5),
        }
    }

    pub(crate) fn lease_ms(&self) -> i64 {
        i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX)
    }
}

impl std::fmt::Debug for SmdpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmdpConfig")
            .field("smdp_id", &self.smdp_id)
            .field("validity_period", &self.validity_period)
            .field("download", &self.download)
            .field("es3_timeout", &self.es3_timeout)
            .field("lease", &self.lease)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use esim_crypto::cert::Date;
    use esim_crypto::pki::{PkiParams, TestPki};

    #[test]
    fn debug_shows_no_key_material() {
        let pki =
            TestPki::generate(&PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap())).unwrap();
        let c = SmdpConfig::new(
            "dp",
            pki.smdp.key.clone(),
            pki.smdp.cert.clone(),
            pki.ci.cert.clone(),
            vec![pki.eum.cert.clone()],
        );
        let d = format!("{c:?}");
        assert!(d.contains("\"dp\"") && !d.contains("signing_key") && !d.contains("KeyPair"));
        assert!(c.holder.starts_with("dp/"));
        assert_eq!(c.lease_ms(), 30_000);
    }
}
