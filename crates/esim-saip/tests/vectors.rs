//! Every TS.48 profile in shared/vectors/saip: PE list, header, byte-identical re-encoding,
//! JSON round trip and streaming decode (vectors/README.md §saip).

use esim_saip::{PeStreamDecoder, ProfilePackage, json};

fn cases() -> Vec<(String, Vec<u8>, serde_json::Value)> {
    let files = esim_vectors::saip_files();
    assert_eq!(files.len(), 36, "expected the 36 TS.48 profiles");
    files
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            let der = std::fs::read(&p).unwrap();
            let desc = esim_vectors::json(&format!("saip/{}", name.replace(".der", ".pes.json")));
            (name, der, desc)
        })
        .collect()
}

#[test]
fn pe_list_matches_description() {
    for (name, der, desc) in cases() {
        let located =
            ProfilePackage::decode_located(&der).unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = desc["cases"].as_array().unwrap();
        assert_eq!(located.len(), expected.len(), "{name}: PE count");
        assert_eq!(
            located.len() as u64,
            desc["pe_count"].as_u64().unwrap(),
            "{name}"
        );
        for (l, c) in located.iter().zip(expected) {
            let what = format!("{name} PE #{}", l.index);
            assert_eq!(
                l.index as u64,
                c["index"].as_u64().unwrap(),
                "{what}: index"
            );
            assert_eq!(
                l.element.type_name(),
                c["type"].as_str().unwrap(),
                "{what}: type"
            );
            assert_eq!(
                l.element.identification().map(u64::from),
                c["identification"].as_u64(),
                "{what}: identification"
            );
            assert_eq!(
                l.offset as u64,
                c["offset"].as_u64().unwrap(),
                "{what}: offset"
            );
            assert_eq!(
                l.len as u64,
                c["length"].as_u64().unwrap(),
                "{what}: length"
            );
            assert_eq!(
                l.header_len as u64,
                c["header_length"].as_u64().unwrap(),
                "{what}: header length"
            );
            assert_eq!(
                l.element.tag().to_string().to_lowercase(),
                c["tag"].as_str().unwrap(),
                "{what}: tag"
            );
            assert_eq!(
                l.element.template_id().as_deref(),
                c.get("templateID").and_then(|t| t.as_str()),
                "{what}: templateID"
            );
            assert!(
                matches!(l.element, esim_saip::ProfileElement::Typed(_)),
                "{what}: every TS.48 PE is typed"
            );
        }
    }
}

#[test]
fn header_fields_match_description() {
    for (name, der, desc) in cases() {
        let pkg = ProfilePackage::decode(&der).unwrap();
        let h = &desc["header"];
        assert_eq!(
            pkg.saip_version().unwrap().to_string(),
            desc["saip_version"].as_str().unwrap(),
            "{name}: SAIP version"
        );
        let hdr = pkg.header().unwrap();
        assert_eq!(
            esim_codec::hex::encode(&hdr.iccid).to_lowercase(),
            h["iccid"].as_str().unwrap(),
            "{name}: header iccid bytes"
        );
        let digits = h["iccid"].as_str().unwrap().trim_end_matches('f');
        assert_eq!(pkg.iccid().unwrap().as_str(), digits, "{name}: ICCID");
        // EF.ICCID holds the same ICCID, nibble-swapped.
        let ef = pkg.ef_iccid().unwrap();
        assert_eq!(
            esim_codec::Iccid::from_swapped_bcd(&ef).unwrap().as_str(),
            digits,
            "{name}: EF.ICCID"
        );
        assert_eq!(
            pkg.profile_type(),
            h["profile_type"].as_str(),
            "{name}: profile type"
        );
        let services: Vec<&str> = h["euicc_mandatory_services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let mut ours = pkg.mandatory_services();
        ours.sort();
        let mut theirs = services.clone();
        theirs.sort();
        assert_eq!(ours, theirs, "{name}: mandatory services");
        let gfste: Vec<String> = h["euicc_mandatory_gfste_list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(pkg.mandatory_gfste(), gfste, "{name}: GFSTE list");
        // Every TS.48 profile has a USIM with a readable IMSI and a 16-byte K.
        pkg.imsi().unwrap_or_else(|e| panic!("{name}: {e}"));
        let aka = pkg.aka_parameters();
        assert!(!aka.is_empty(), "{name}: akaParameter");
        assert_eq!(aka[0].ki().unwrap().len(), 16, "{name}");
    }
}

#[test]
fn reencode_is_byte_identical() {
    for (name, der, desc) in cases() {
        assert!(desc["whole_profile_reencode_identical"].as_bool().unwrap());
        let pkg = ProfilePackage::decode(&der).unwrap();
        assert_eq!(pkg.encode().unwrap(), der, "{name}: re-encoding differs");
    }
}

#[test]
fn json_round_trip_is_byte_identical() {
    for (name, der, _) in cases() {
        let pkg = ProfilePackage::decode(&der).unwrap();
        let doc = json::to_json(&pkg).unwrap();
        let text = serde_json::to_string(&doc).unwrap();
        let back = json::from_json(&serde_json::from_str(&text).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back, pkg, "{name}: JSON round trip changes the model");
        assert_eq!(
            back.encode().unwrap(),
            der,
            "{name}: JSON round trip changes the DER"
        );
    }
}

#[test]
fn streaming_in_small_chunks_equals_whole_decode() {
    for (name, der, _) in cases() {
        let whole = ProfilePackage::decode_located(&der).unwrap();
        for chunk in [1usize, 7, 255, 512] {
            let mut dec = PeStreamDecoder::new();
            let mut got = Vec::new();
            for c in der.chunks(chunk) {
                got.extend(dec.push(c).unwrap());
                assert!(dec.buffered() <= dec.max_element_len());
            }
            dec.finish().unwrap();
            assert_eq!(got, whole, "{name}: chunk size {chunk}");
        }
    }
}

#[test]
fn truncated_and_corrupted_inputs_are_errors_naming_the_place() {
    let (_, der, _) = cases()
        .into_iter()
        .find(|(n, _, _)| n == "TS48V1-A-UNIQUE.der")
        .unwrap();
    let e = ProfilePackage::decode(&der[..der.len() - 3])
        .unwrap_err()
        .to_string();
    assert!(e.contains("PE #27") && e.contains("truncated"), "{e}");
    // PE #2 (pukCodes at 903): break the inner PEHeader tag.
    let mut bad = der.clone();
    bad[903 + 2] = 0x30;
    let e = ProfilePackage::decode(&bad).unwrap_err().to_string();
    assert!(e.starts_with("PE #2 pukCodes (tag A3) at byte 903:"), "{e}");
    // A universal SEQUENCE where a PE should be.
    let mut bad = der.clone();
    bad[0] = 0x30;
    let e = ProfilePackage::decode(&bad).unwrap_err().to_string();
    assert!(
        e.contains("PE #0 at byte 0: tag 30 is not a ProfileElement"),
        "{e}"
    );
    assert!(ProfilePackage::decode(&[]).is_err());
}

#[test]
fn template_files_are_listed_in_order_with_names() {
    for (name, der, _) in cases() {
        let pkg = ProfilePackage::decode(&der).unwrap();
        let (_, usim) = pkg
            .typed()
            .find(|(_, e)| matches!(e, esim_saip::asn1::ProfileElement::usim(_)))
            .unwrap();
        let files = esim_saip::access::template_files(usim);
        assert_eq!(files[0].field, "adf-usim", "{name}");
        let imsi = files.iter().find(|f| f.field == "ef-imsi").unwrap();
        assert_eq!(imsi.number, 3);
        let content = esim_saip::access::file_content(&imsi.file);
        assert_eq!(
            esim_codec::Imsi::from_ef_imsi(&content).unwrap(),
            pkg.imsi().unwrap(),
            "{name}"
        );
        assert!(
            files.windows(2).all(|w| w[0].number < w[1].number),
            "{name}"
        );
        // Every template PE lists at least one file, and every file of mf is named.
        let (_, mf) = pkg
            .typed()
            .find(|(_, e)| matches!(e, esim_saip::asn1::ProfileElement::mf(_)))
            .unwrap();
        let names: Vec<_> = esim_saip::access::template_files(mf)
            .iter()
            .map(|f| f.field)
            .collect();
        assert!(
            names.starts_with(&["mf"]) && names.contains(&"ef-iccid"),
            "{name}: {names:?}"
        );
    }
}
