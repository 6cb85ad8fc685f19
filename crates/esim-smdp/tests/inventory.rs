//! The Profile inventory on the memory and SQLite stores: import of TS.48 packages, generation
//! of a personalized range, sealing, and no ICCID issued twice.

mod common;

use std::sync::Arc;

use common::*;
use esim_codec::{Iccid, Imsi};
use esim_saip::ProfilePackage;
use esim_smdp::{GenerateRequest, ImportRequest, Inventory, InventoryError};
use esim_store::{InventoryState, StoreError, Timestamp};

const PACKAGES: &[&str] = &[
    "TS48V1-A-UNIQUE.der",
    "TS48V2-SAIP2-1-BERTLV-UNIQUE.der",
    "TS48V5-SAIP2-3-NOBERTLV-UNIQUE.der",
];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn import_ts48_packages_reads_ids_and_seals() {
    for b in stores().await {
        let (name, store) = (b.name, b.store.clone());
        let sealer = sealer();
        let inv = Inventory::new(store.clone(), sealer.clone());
        let packages: Vec<Vec<u8>> = PACKAGES.iter().map(|p| ts48(p)).collect();
        let req = ImportRequest {
            owner: MNO.into(),
            profile_type: Some("ts48".into()),
            packages: packages.clone(),
        };
        let recs = inv.import(&req, Timestamp(1)).await.unwrap();
        assert_eq!(recs.len(), PACKAGES.len(), "{name}");
        for (rec, der) in recs.iter().zip(&packages) {
            let pkg = ProfilePackage::decode(der).unwrap();
            assert_eq!(rec.iccid, pkg.iccid().unwrap(), "{name}");
            assert_eq!(rec.imsi, pkg.imsi().ok(), "{name}");
            assert!(rec.imsi.is_some(), "{name}: IMSI read from EF.IMSI");
            let stored = store.get_inventory(&rec.iccid).await.unwrap();
            assert_eq!(stored.state, InventoryState::Available);
            assert_eq!(stored.owner, MNO);
            // Sealed: not the package, opens only under its own ICCID's AAD.
            assert!(!contains(&stored.secrets.bytes, &der[..64]), "{name}");
            assert_eq!(
                inv.open_package(&stored).unwrap().as_slice(),
                der.as_slice()
            );
            let mut other = stored.clone();
            other.iccid = Iccid::parse("8900000000000000001").unwrap();
            assert!(
                inv.open_package(&other).is_err(),
                "{name}: AAD binds the ICCID"
            );
        }
        assert_eq!(
            inv.count_available(MNO, "ts48").await.unwrap(),
            PACKAGES.len() as u64
        );
        // The same ICCID again: refused, nothing imported.
        let again = ImportRequest {
            owner: MNO2.into(),
            profile_type: Some("other".into()),
            packages: vec![packages[0].clone()],
        };
        match inv.import(&again, Timestamp(2)).await {
            Err(InventoryError::Store(StoreError::Duplicate { .. })) => {}
            other => panic!("{name}: second import of an ICCID: {other:?}"),
        }
        assert_eq!(inv.count_available(MNO2, "other").await.unwrap(), 0);
        // Garbage and a batch with the same package twice are refused before the store.
        let bad = ImportRequest {
            owner: MNO.into(),
            profile_type: None,
            packages: vec![vec![0x30, 0x03, 1, 2]],
        };
        assert!(matches!(
            inv.import(&bad, Timestamp(3)).await,
            Err(InventoryError::Package { index: 0, .. })
        ));
        let twice = ImportRequest {
            owner: MNO.into(),
            profile_type: None,
            packages: vec![ts48("TS48V3-SAIP2-1-BERTLV-UNIQUE.der"); 2],
        };
        assert!(matches!(
            inv.import(&twice, Timestamp(3)).await,
            Err(InventoryError::Package { index: 1, .. })
        ));
    }
}

fn ki_opc(der: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let pkg = ProfilePackage::decode(der).unwrap();
    let aka = pkg.aka_parameters();
    let a = aka.first().expect("an akaParameter");
    (a.ki().unwrap().to_vec(), a.opc().unwrap().to_vec())
}

#[tokio::test]
async fn generate_range_personalizes_and_never_reissues() {
    for b in stores().await {
        let (name, store) = (b.name, b.store.clone());
        let sealer = sealer();
        let inv = Inventory::new(store.clone(), sealer.clone());
        let template = ts48("TS48V2-SAIP2-1-BERTLV-UNIQUE.der");
        let (template_ki, _) = ki_opc(&template);
        let req = GenerateRequest {
            owner: MNO.into(),
            profile_type: "iot".into(),
            template_name: "ts48v2".into(),
            template: template.clone(),
            iccid_start: "898821000000000099".into(),
            count: 4,
            imsi_start: Some(Imsi::parse("001010000000098").unwrap()),
        };
        let recs = inv.generate(&req, Timestamp(10)).await.unwrap();
        assert_eq!(recs.len(), 4);
        let mut keys = Vec::new();
        for (i, rec) in recs.iter().enumerate() {
            // Consecutive ICCIDs with a valid Luhn digit, consecutive IMSIs.
            assert!(rec.iccid.luhn_ok(), "{name}: {}", rec.iccid.as_str());
            let body = &rec.iccid.as_str()[..18];
            assert_eq!(body, format!("{}", 898821000000000099u64 + i as u64));
            let imsi = format!("{:015}", 1010000000098u64 + i as u64);
            assert_eq!(rec.imsi.as_ref().unwrap().as_str(), imsi);
            assert_eq!(rec.template.as_deref(), Some("ts48v2"));
            let stored = store.get_inventory(&rec.iccid).await.unwrap();
            let der = inv.open_package(&stored).unwrap();
            let pkg = ProfilePackage::decode(&der).unwrap();
            assert_eq!(
                pkg.iccid().unwrap(),
                rec.iccid,
                "{name}: ICCID in the package"
            );
            assert_eq!(
                pkg.imsi().unwrap().as_str(),
                imsi,
                "{name}: IMSI in the package"
            );
            assert!(esim_saip::validate(&pkg).is_empty());
            let (ki, opc) = ki_opc(&der);
            assert_eq!(ki.len(), 16);
            assert_ne!(ki, template_ki, "{name}: Ki replaced");
            // Never in the clear in the store's record (sealed bytes or any other field).
            let json = serde_json::to_string(&stored).unwrap();
            for secret in [&ki, &opc] {
                assert!(!contains(&stored.secrets.bytes, secret), "{name}");
                let hex = esim_codec::hex::encode(secret);
                assert!(!json.to_lowercase().contains(&hex.to_lowercase()), "{name}");
            }
            keys.push(ki);
            keys.push(opc);
        }
        // Nor anywhere in the database file.
        let file = b.file_bytes();
        assert_eq!(file.is_empty(), b.file.is_none(), "{name}");
        if b.file.is_some() {
            // The scan sees the inventory rows (their ICCIDs are not secret).
            assert!(contains(&file, recs[3].iccid.as_str().as_bytes()), "{name}");
        }
        for k in &keys {
            assert!(!contains(&file, k), "{name}: a Ki/OPc in the database file");
        }
        let n = keys.len();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), n, "{name}: every Ki and OPc distinct");
        // An overlapping range: refused as a whole, nothing added.
        let overlap = GenerateRequest {
            iccid_start: "898821000000000102".into(),
            count: 3,
            imsi_start: None,
            ..req.clone()
        };
        match inv.generate(&overlap, Timestamp(11)).await {
            Err(InventoryError::Store(StoreError::Duplicate { .. })) => {}
            other => panic!("{name}: overlapping range: {other:?}"),
        }
        assert_eq!(inv.count_available(MNO, "iot").await.unwrap(), 4);
        // A range that runs out of digits, and a zero count.
        let overflow = GenerateRequest {
            iccid_start: "899999999999999999".into(),
            count: 2,
            ..req.clone()
        };
        assert!(matches!(
            inv.generate(&overflow, Timestamp(12)).await,
            Err(InventoryError::Parameter(_))
        ));
        let zero = GenerateRequest { count: 0, ..req };
        assert!(matches!(
            inv.generate(&zero, Timestamp(12)).await,
            Err(InventoryError::Parameter(_))
        ));
        let _ = Arc::clone(&store);
    }
}
