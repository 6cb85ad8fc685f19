//! `../shared/vectors/eid.json`: validation and check-digit computation (SGP.29 §10).

use esim_codec::Eid;

#[test]
fn every_eid_vector() {
    let v = esim_vectors::json("eid.json");
    let cases = v["cases"].as_array().expect("cases");
    assert!(cases.len() >= 49);
    for c in cases {
        let eid = c["eid"].as_str().unwrap();
        let valid = c["valid"].as_bool().unwrap();
        assert_eq!(
            Eid::parse(eid).is_ok(),
            valid,
            "validity of {eid} ({})",
            c["note"]
        );
        let expected = c["expected_check_digits"].as_str().unwrap();
        assert_eq!(
            Eid::check_digits(&eid[..30]).unwrap(),
            expected,
            "check digits of {eid}"
        );
    }
}
