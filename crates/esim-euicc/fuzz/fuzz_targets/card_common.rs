//! A card shared by the card fuzz targets (issuing the PKI is expensive; the card is rebuilt
//! from its serialized state for every input).
use esim_crypto::cert::Date;
use esim_crypto::pki::{self, EuiccParams, PkiParams, TestPki};
use esim_euicc::{CardConfig, Euicc};
use std::sync::OnceLock;

pub fn card() -> Euicc {
    static S: OnceLock<String> = OnceLock::new();
    let json = S.get_or_init(|| {
        let params = PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap());
        let pki = TestPki::generate(&params).unwrap();
        let eid = pki::eid_from_prefix("8904903200", 1).unwrap();
        let p = EuiccParams::test_defaults(eid, Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
        let issued = pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap();
        let card = Euicc::new(&issued, CardConfig::from_issued(&issued));
        serde_json::to_string(card.state()).unwrap()
    });
    Euicc::from_state(serde_json::from_str(json).unwrap())
}
