//! Untrusted text of the device agent never panics: control request lines and PLMN strings.

use esim_device::control::execute;
use esim_device::{NetworkControl, Plmn};
use proptest::prelude::*;

proptest! {
    #[test]
    fn control_lines_never_panic(line in ".{0,200}") {
        let n = NetworkControl::new([]);
        let answer = execute(&n, &line);
        prop_assert!(answer.starts_with("ok") || answer.starts_with("error"));
    }

    #[test]
    fn plmn_round_trip(mcc in "[0-9]{3}", mnc in "[0-9]{2,3}") {
        let p = Plmn::parse(&format!("{mcc}{mnc}")).unwrap();
        prop_assert_eq!(Plmn::parse(&p.to_string()).unwrap(), p.clone());
        prop_assert_eq!(Plmn::parse(&format!("{mcc}-{mnc}")).unwrap(), p);
    }

    #[test]
    fn plmn_parse_never_panics(s in "\\PC{0,12}") {
        let _ = Plmn::parse(&s);
    }
}
