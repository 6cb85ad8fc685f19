//! Personalize a TS.48 profile, encode, decode, read the values back; validation messages.

use esim_codec::{Iccid, Imsi};
use esim_saip::{Personalization, ProfilePackage, asn1, validate};
use zeroize::Zeroizing;

fn template(name: &str) -> ProfilePackage {
    let der = std::fs::read(esim_vectors::path(&format!("saip/{name}"))).unwrap();
    ProfilePackage::decode(&der).unwrap()
}

#[test]
fn every_ts48_profile_is_valid() {
    for p in esim_vectors::saip_files() {
        let pkg = ProfilePackage::decode(&std::fs::read(&p).unwrap()).unwrap();
        let problems = validate(&pkg);
        assert!(problems.is_empty(), "{}: {problems:?}", p.display());
    }
}

#[test]
fn personalize_encode_decode_read_back() {
    let tpl = template("TS48V2-SAIP2-3-BERTLV-UNIQUE.der");
    let ki: Vec<u8> = (0x10..0x20).collect();
    let opc: Vec<u8> = (0xA0..0xB0).collect();
    let mut p = Personalization {
        iccid: Some(Iccid::parse("8949449999999991234").unwrap()),
        imsi: Some(Imsi::parse("001019876543210").unwrap()),
        ki: Some(Zeroizing::new(ki.clone())),
        opc: Some(Zeroizing::new(opc.clone())),
        pin1: Some(Zeroizing::new("9087".into())),
        puk1: Some(Zeroizing::new("87654321".into())),
        adm1: Some(Zeroizing::new(b"13572468".to_vec())),
        pol1: Some(vec![0x01]),
        connectivity_parameters: Some(vec![0xA0, 0x03, 0x06, 0x01, 0x91]),
        ..Default::default()
    };
    let kic = [0x11u8; 16];
    let kid = [0x22u8; 16];
    let kik = [0x33u8; 16];
    p.scp80_keys(0x01, &kic, &kid, Some(&kik));
    let s_enc = [0x44u8; 16];
    let s_mac = [0x55u8; 16];
    let dek = [0x66u8; 16];
    p.scp03_keys(0x30, &s_enc, &s_mac, &dek);
    // Debug never shows the secrets.
    let dbg = format!("{p:?}");
    assert!(!dbg.contains("9087") && !dbg.contains("16, 17"), "{dbg}");

    let out = p.apply(&tpl).unwrap();
    let der = out.encode().unwrap();
    let back = ProfilePackage::decode(&der).unwrap();
    assert_eq!(back, out);
    assert!(validate(&back).is_empty());

    assert_eq!(back.iccid().unwrap().as_str(), "8949449999999991234");
    assert_eq!(
        back.ef_iccid().unwrap(),
        Iccid::parse("8949449999999991234")
            .unwrap()
            .to_swapped_bcd()
    );
    assert_eq!(back.imsi().unwrap().as_str(), "001019876543210");
    for a in back.aka_parameters() {
        if a.algo().is_some() {
            assert_eq!(a.ki().unwrap(), &ki[..]);
            assert_eq!(a.opc().unwrap(), &opc[..]);
        }
    }
    let pin1 = back
        .pins()
        .into_iter()
        .find(|p| p.key_reference() == 1)
        .unwrap();
    assert_eq!(pin1.value(), b"9087\xFF\xFF\xFF\xFF");
    let adm1 = back
        .pins()
        .into_iter()
        .find(|p| p.key_reference() == 10)
        .unwrap();
    assert_eq!(adm1.value(), b"13572468");
    let puk1 = back
        .puks()
        .into_iter()
        .find(|p| p.key_reference() == 1)
        .unwrap();
    assert_eq!(puk1.value(), b"87654321");
    let sd = &back.security_domains()[0];
    assert_eq!(sd.key(0x01, 0x01).unwrap().data().unwrap(), &kic);
    assert_eq!(sd.key(0x01, 0x02).unwrap().data().unwrap(), &kid);
    assert_eq!(sd.key(0x01, 0x03).unwrap().data().unwrap(), &kik);
    let enc = sd.key(0x30, 0x01).unwrap();
    assert_eq!(enc.data().unwrap(), &s_enc);
    assert_eq!(enc.key_type(), Some(0x88));
    assert_eq!(enc.usage(), &[0x38]);
    assert_eq!(sd.key(0x30, 0x03).unwrap().data().unwrap(), &dek);
    assert_eq!(back.pol1(), Some(&[0x01u8][..]));
    assert_eq!(
        back.connectivity_parameters(),
        Some(&[0xA0u8, 0x03, 0x06, 0x01, 0x91][..])
    );
    // Untouched PEs stay byte-identical to the template.
    let tpl_der = tpl.encode().unwrap();
    let tpl_loc = ProfilePackage::decode_located(&tpl_der).unwrap();
    let out_loc = ProfilePackage::decode_located(&der).unwrap();
    for (a, b) in tpl_loc.iter().zip(&out_loc) {
        if ["telecom", "rfm", "end", "opt-usim"].contains(&a.element.type_name()) {
            assert_eq!(a.element, b.element);
        }
    }
}

#[test]
fn bad_ki_is_named_with_pe_index_type_and_identification() {
    let tpl = template("TS48V1-A-UNIQUE.der");
    let p = Personalization {
        ki: Some(Zeroizing::new(vec![0u8; 15])),
        ..Default::default()
    };
    let err = p.apply(&tpl).unwrap_err().to_string();
    // akaParameter is PE #10 (identification 11) in TS48V1-A.
    assert!(
        err.contains("PE #10 akaParameter (identification 11): ki must be 16 bytes, is 15"),
        "{err}"
    );
}

#[test]
fn bad_inputs_are_rejected_before_applying() {
    let tpl = template("TS48V1-A-UNIQUE.der");
    for (p, want) in [
        (
            Personalization {
                pin1: Some(Zeroizing::new("12a4".into())),
                ..Default::default()
            },
            "pin1: must be 4 to 8 decimal digits",
        ),
        (
            Personalization {
                puk1: Some(Zeroizing::new("1234".into())),
                ..Default::default()
            },
            "puk1: must be 8 to 8 decimal digits",
        ),
    ] {
        assert_eq!(p.apply(&tpl).unwrap_err().to_string(), want);
    }
}

#[test]
fn validation_finds_structural_problems() {
    let mut pkg = template("TS48V1-A-UNIQUE.der");
    // Swap header and mf; duplicate an identification; drop end.
    pkg.elements.swap(0, 1);
    pkg.elements.pop();
    if let Some(asn1::ProfileElement::pukCodes(p)) = pkg.elements[2].typed_mut() {
        p.puk_header.identification = asn1::UInt15(4); // mf's identification
    }
    let msgs: Vec<String> = validate(&pkg).iter().map(|e| e.to_string()).collect();
    let all = msgs.join("\n");
    assert!(
        all.contains("PE #1 header: must be the first element"),
        "{all}"
    );
    assert!(all.contains("package: end is missing"), "{all}");
    assert!(
        all.contains(
            "PE #2 pukCodes (identification 4): identification 4 is already used by PE #0"
        ),
        "{all}"
    );
}

#[test]
fn validation_checks_iccid_coherence_and_pin_coding() {
    let mut pkg = template("TS48V1-A-UNIQUE.der");
    if let Some(h) = pkg.header_mut() {
        h.iccid = vec![0x89, 0x49, 0x44, 0x99, 0x99, 0x99, 0x99, 0x90, 0x99, 0x9F].into();
    }
    for e in pkg.elements.iter_mut() {
        if let Some(asn1::ProfileElement::pinCodes(p)) = e.typed_mut() {
            if let asn1::PEPINCodesPinCodes::pinconfig(list) = &mut p.pin_codes {
                for c in list.iter_mut() {
                    if i64::try_from(&c.key_reference.0).unwrap() == 1 {
                        c.pin_value = vec![0x31, 0x32, 0xFF, 0x33, 0xFF, 0xFF, 0xFF, 0xFF].into();
                    }
                }
            }
        }
    }
    let all: Vec<String> = validate(&pkg).iter().map(|e| e.to_string()).collect();
    let all = all.join("\n");
    assert!(
        all.contains("PE #1 mf (identification 4): ef-iccid content"),
        "{all}"
    );
    assert!(
        all.contains("pinValue (keyReference 1) must be ASCII digits followed by FF padding"),
        "{all}"
    );
}
