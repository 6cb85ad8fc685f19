//! The SM-SR's functions over the real ES5 delivery: the embedded SMSC simulator (SMPP), the
//! device agent hosting a software eUICC with a TS.48 bootstrap profile, SCP80 over SMS and a
//! SQLite store. The EIS is registered through the SM-SR (ES1, with the bootstrap Profile and
//! the MSISDN), the device's first attach declares the eUICC (a notification routed through
//! [`esim_smsr::SinkSlot`] to the SM-SR), and ES4.AuditEIS / SetFallbackAttribute run on the
//! card over SMS. Every wait is bounded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use esim_codec::{Aid, Iccid, Imsi, Tar};
use esim_crypto::SecretKey;
use esim_crypto::cert::Date;
use esim_crypto::pki::{self, EuiccParams, PkiParams, TestPki};
use esim_crypto::scp03::StaticKeys;
use esim_device::config::{CardEntry, DeviceConfig};
use esim_device::store::{self as card_store, Bootstrap};
use esim_device::{Device, EventKind, Listeners};
use esim_euicc::{CardConfig, Euicc};
use esim_proto::common::Status;
use esim_proto::function::{Function, decode_request};
use esim_service::{CallOutcome, Callback, Callbacks, Caller, ClientError, FunctionService, role};
use esim_smpp::Password;
use esim_smpp::smsc::SmscConfig;
use esim_smsr::delivery::{
    Delivery, DeliveryConfig, DeliveryListeners, HttpsSettings, SmppSettings,
};
use esim_smsr::{Registration, SinkSlot, Smsr, SmsrConfig};
use esim_store::{AesSealer, Backoff, ProfileRecord, ProfileState, Sealer, Store, Timestamp};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

const MSISDN: &str = "447700900077";
const SMSR_ADDRESS: &str = "SMSR";
const LIMIT: Duration = Duration::from_secs(90);
const BOOT_ICCID: &str = "8949449999000000029";

#[derive(Debug, Default)]
struct Recorder(Mutex<Vec<(String, Callback)>>);

#[async_trait]
impl Callbacks for Recorder {
    async fn deliver(&self, party: &str, message: Callback) -> Result<(), ClientError> {
        self.0.lock().unwrap().push((party.into(), message));
        Ok(())
    }
}

fn delivery_config(smsc: &str) -> DeliveryConfig {
    let mut c = DeliveryConfig::new(
        SMSR_ADDRESS,
        SmppSettings {
            server: smsc.to_string(),
            system_id: "smsr".into(),
            password: Password::new("pw"),
        },
    );
    c.initial_timeout_ms = 4_000;
    c.max_attempts = 3;
    c.backoff = Backoff {
        base_ms: 200,
        max_ms: 1_000,
    };
    c.poll_interval_ms = 100;
    c
}

fn request(f: Function, who: &Caller, fcid: &str, body: Value) -> esim_proto::AnyRequest {
    let j = json!({
        "Header": {"FunctionRequesterIdentifier": who.id, "FunctionCallIdentifier": fcid,
                   "ValidityPeriod": 300},
        "Body": body,
    });
    decode_request(f, &j.to_string()).unwrap()
}

async fn call(smsr: &Smsr, who: &Caller, f: Function, fcid: &str, body: Value) -> Value {
    let o = tokio::time::timeout(LIMIT, smsr.call(who, request(f, who, fcid, body), LIMIT))
        .await
        .expect("answered within the limit")
        .unwrap();
    match o {
        CallOutcome::Done(v) => v,
        other => panic!("not done: {other:?}"),
    }
}

fn status(v: &Value) -> Status {
    esim_service::status_of(v).expect("status").status
}

#[tokio::test(flavor = "multi_thread")]
async fn functions_over_sms_with_the_device_agent() {
    let pki = TestPki::generate(&PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap())).unwrap();
    let eid = pki::eid_from_prefix("8904903277", 5).unwrap();
    let p = EuiccParams::test_defaults(eid.clone(), Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
    let issued = pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap();

    // The card with its bootstrap profile, in the device agent's directory.
    let dir = tempfile::tempdir().unwrap();
    let card_dir = dir.path().join("card");
    let template = std::fs::read(
        esim_vectors::saip_files()
            .into_iter()
            .find(|p| p.ends_with("TS48V1-A-UNIQUE.der"))
            .expect("TS.48 template"),
    )
    .unwrap();
    let boot_iccid = Iccid::parse(BOOT_ICCID).unwrap();
    let package = card_store::personalize(&Bootstrap {
        template,
        iccid: Some(boot_iccid.clone()),
        imsi: Some(Imsi::parse("001010000000077").unwrap()),
    })
    .unwrap();
    let keys = StaticKeys::new(
        0x30,
        SecretKey::random(16).unwrap(),
        SecretKey::random(16).unwrap(),
        SecretKey::random(16).unwrap(),
    )
    .unwrap();
    let card = Euicc::with_bootstrap_profile(
        &issued,
        CardConfig {
            memory_capacity: 300_000,
            default_isdp_quota: 60_000,
        },
        &package,
        keys,
    )
    .unwrap();
    std::fs::create_dir_all(&card_dir).unwrap();
    card_store::save_card(&card_dir, &card).unwrap();

    // SMSC.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smsc = l.local_addr().unwrap().to_string();
    let (smsc_stop, smsc_rx) = oneshot::channel::<()>();
    tokio::spawn(esim_smpp::smsc::run(SmscConfig::default(), l, async {
        let _ = smsc_rx.await;
    }));

    // Store, delivery and SM-SR wired through the sink slot.
    let store: Arc<dyn Store> =
        esim_store::connect(&format!("sqlite:{}", dir.path().join("smsr.db").display()))
            .await
            .unwrap();
    let sealer: Arc<dyn Sealer> =
        Arc::new(AesSealer::new("k1", &SecretKey::random(32).unwrap()).unwrap());
    let slot = Arc::new(SinkSlot::new());
    let delivery = Delivery::new(
        delivery_config(&smsc),
        store.clone(),
        sealer.clone(),
        slot.clone(),
    )
    .unwrap();
    let cb = Arc::new(Recorder::default());
    let smsr = Arc::new(
        Smsr::new(
            SmsrConfig::new("smsr1", pki.ci.cert.clone(), vec![pki.eum.cert.clone()]),
            store.clone(),
            sealer.clone(),
            Arc::new(delivery.clone()),
            cb.clone(),
        )
        .unwrap(),
    );
    slot.attach(&smsr);

    // ES1 with the bootstrap Profile and the MSISDN the delivery sends SMS to.
    let eum = Caller {
        id: pki.eum.id.clone(),
        roles: vec![role::EUM.into()],
    };
    let boot = ProfileRecord {
        eid: eid.clone(),
        iccid: boot_iccid.clone(),
        isd_p_aid: Aid::isd_p(Tar([0, 0, 0x10])),
        mno_id: "mno1".into(),
        smdp_id: "smdp1".into(),
        profile_type: "bootstrap".into(),
        state: ProfileState::Enabled,
        fallback: true,
        subscription_address: Default::default(),
        pol2: None,
        allocated_memory: 0,
        free_memory: 0,
        updated_at: Timestamp(0),
    };
    let st = smsr
        .register_eis_with(
            &eum,
            &issued.eis,
            &Registration {
                msisdn: Some(MSISDN.into()),
                profiles: vec![boot],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(st.is_executed(), "{st:?}");

    let (dstop, drx) = oneshot::channel::<()>();
    let d2 = delivery.clone();
    let dtask = tokio::spawn(async move {
        d2.run(DeliveryListeners::default(), async {
            let _ = drx.await;
        })
        .await
    });

    // The device.
    let mut config = DeviceConfig::default();
    config.cards.push(CardEntry {
        dir: card_dir.clone(),
        msisdn: MSISDN.into(),
        system_id: Some("device77".into()),
    });
    config.smsc.address = smsc.clone();
    config.smsr.sms_address = SMSR_ADDRESS.into();
    config.network.reachable = vec!["00101".into()];
    config.timing.notification_retry_ms = 1_500;
    let device = Arc::new(Device::new(config).unwrap());
    let mut events = device.events();
    let (vstop, vrx) = oneshot::channel::<()>();
    let dev = device.clone();
    let vtask = tokio::spawn(async move {
        dev.run(Listeners::default(), async {
            let _ = vrx.await;
        })
        .await
    });
    tokio::time::timeout(LIMIT, async {
        loop {
            if let Ok(e) = events.recv().await
                && matches!(e.kind, EventKind::Started)
            {
                return;
            }
        }
    })
    .await
    .expect("device started");

    // ES4.AuditEIS by the bootstrap Profile's MNO: GET DATA + GET STATUS over SMS (SCP80).
    let mno = Caller {
        id: "mno1".into(),
        roles: vec![role::MNO.into()],
    };
    let r = call(
        &smsr,
        &mno,
        Function::Es4AuditEis,
        "e2e-audit",
        json!({ "Eid": eid }),
    )
    .await;
    assert_eq!(status(&r), Status::ExecutedSuccess, "{r}");
    let info = &r["Body"]["Eis"]["ProfileInfo"][0];
    assert_eq!(info["Iccid"], json!(boot_iccid));
    assert_eq!(info["State"], "Enabled");
    assert_eq!(info["FallbackAttribute"], true);
    assert!(info["AllocatedMemory"].as_u64().unwrap() > 0, "{info}");
    let rec = store.get_eis(&eid).await.unwrap();
    assert!(rec.last_audit.is_some());
    assert_eq!(rec.additional_properties["msisdn"], MSISDN);

    // The device's first attach declared the eUICC; the notification reached the SM-SR through
    // the slot and was confirmed (the card's pending list empties).
    let confirmed = tokio::time::timeout(LIMIT, async {
        loop {
            let mut confirmation_done = false;
            let mut id = 1;
            while let Ok(c) = store.get_command(id).await {
                let text = String::from_utf8_lossy(&c.payload).to_string();
                if text.contains("3A08") && c.status == esim_store::CommandStatus::Done {
                    confirmation_done = true;
                }
                id += 1;
            }
            let card = card_store::load_card(&card_dir).unwrap();
            if confirmation_done && card.registry().notifications().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(confirmed.is_ok(), "the declaration was confirmed");

    // A second identical request is answered from the operation, not sent again.
    let commands_before = store.pending_commands(&eid).await.unwrap().len();
    let r2 = call(
        &smsr,
        &mno,
        Function::Es4AuditEis,
        "e2e-audit",
        json!({ "Eid": eid }),
    )
    .await;
    assert_eq!(r2, r);
    assert_eq!(
        store.pending_commands(&eid).await.unwrap().len(),
        commands_before
    );

    let _ = vstop.send(());
    tokio::time::timeout(LIMIT, vtask)
        .await
        .expect("device stops")
        .unwrap()
        .unwrap();
    let _ = dstop.send(());
    tokio::time::timeout(LIMIT, dtask)
        .await
        .expect("delivery stops")
        .unwrap()
        .unwrap();
    drop(smsc_stop);
}

/// The canonical story over real transports: ES2.DownloadProfile (with enable) at the real SM-DP
/// service, which drives the SM-SR's ES3 in process; the SM-SR reaches the card through the
/// real delivery — SCP80 SMS triggers and SCP81 PSK-TLS admin sessions opened by the device
/// agent (the ISD-P's SCP03t data cannot travel by SMS). The card ends with the new Profile
/// enabled and the SM-SR's EIS says so.
#[tokio::test(flavor = "multi_thread")]
async fn es2_download_over_https_admin_sessions() {
    let pki = TestPki::generate(&PkiParams::test_defaults(Date::new(2025, 1, 1).unwrap())).unwrap();
    let eid = pki::eid_from_prefix("8904903277", 6).unwrap();
    let p = EuiccParams::test_defaults(eid.clone(), Date::new(2025, 2, 1).unwrap(), 3650).unwrap();
    let issued = pki::issue_euicc(&pki.eum, &pki.ci.cert, &p).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let card_dir = dir.path().join("card");
    let template = std::fs::read(
        esim_vectors::saip_files()
            .into_iter()
            .find(|p| p.ends_with("TS48V1-A-UNIQUE.der"))
            .expect("TS.48 template"),
    )
    .unwrap();
    let boot_iccid = Iccid::parse(BOOT_ICCID).unwrap();
    let package = card_store::personalize(&Bootstrap {
        template: template.clone(),
        iccid: Some(boot_iccid.clone()),
        imsi: Some(Imsi::parse("001010000000078").unwrap()),
    })
    .unwrap();
    let keys = StaticKeys::new(
        0x30,
        SecretKey::random(16).unwrap(),
        SecretKey::random(16).unwrap(),
        SecretKey::random(16).unwrap(),
    )
    .unwrap();
    let card = Euicc::with_bootstrap_profile(
        &issued,
        CardConfig {
            memory_capacity: 400_000,
            default_isdp_quota: 60_000,
        },
        &package,
        keys,
    )
    .unwrap();
    std::fs::create_dir_all(&card_dir).unwrap();
    card_store::save_card(&card_dir, &card).unwrap();

    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let smsc = l.local_addr().unwrap().to_string();
    let (smsc_stop, smsc_rx) = oneshot::channel::<()>();
    tokio::spawn(esim_smpp::smsc::run(SmscConfig::default(), l, async {
        let _ = smsc_rx.await;
    }));
    let https = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let https_addr = https.local_addr().unwrap().to_string();

    let store: Arc<dyn Store> =
        esim_store::connect(&format!("sqlite:{}", dir.path().join("smsr.db").display()))
            .await
            .unwrap();
    let sealer: Arc<dyn Sealer> =
        Arc::new(AesSealer::new("k1", &SecretKey::random(32).unwrap()).unwrap());
    let slot = Arc::new(SinkSlot::new());
    let mut dc = delivery_config(&smsc);
    dc.https = Some(HttpsSettings {
        admin_uri: "/gp/admin".into(),
        trigger_host: Some("smsr.test".into()),
    });
    let delivery = Delivery::new(dc, store.clone(), sealer.clone(), slot.clone()).unwrap();
    let cb = Arc::new(Recorder::default());
    let smsr = Arc::new(
        Smsr::new(
            SmsrConfig::new("smsr1", pki.ci.cert.clone(), vec![pki.eum.cert.clone()]),
            store.clone(),
            sealer.clone(),
            Arc::new(delivery.clone()),
            cb.clone(),
        )
        .unwrap(),
    );
    slot.attach(&smsr);
    let eum = Caller {
        id: pki.eum.id.clone(),
        roles: vec![role::EUM.into()],
    };
    let boot = ProfileRecord {
        eid: eid.clone(),
        iccid: boot_iccid.clone(),
        isd_p_aid: Aid::isd_p(Tar([0, 0, 0x10])),
        mno_id: "mno-0".into(),
        smdp_id: "smdp-0".into(),
        profile_type: "bootstrap".into(),
        state: ProfileState::Enabled,
        fallback: true,
        subscription_address: Default::default(),
        pol2: None,
        allocated_memory: 0,
        free_memory: 0,
        updated_at: Timestamp(0),
    };
    let mut props = std::collections::BTreeMap::new();
    props.insert("es5-transport".to_string(), "https".to_string());
    let st = smsr
        .register_eis_with(
            &eum,
            &issued.eis,
            &Registration {
                msisdn: Some(MSISDN.into()),
                additional_properties: props,
                profiles: vec![boot],
            },
        )
        .await
        .unwrap();
    assert!(st.is_executed(), "{st:?}");

    let (dstop, drx) = oneshot::channel::<()>();
    let d2 = delivery.clone();
    let dtask = tokio::spawn(async move {
        d2.run(DeliveryListeners { https: Some(https) }, async {
            let _ = drx.await;
        })
        .await
    });
    let mut config = DeviceConfig::default();
    config.cards.push(CardEntry {
        dir: card_dir.clone(),
        msisdn: MSISDN.into(),
        system_id: Some("device78".into()),
    });
    config.smsc.address = smsc.clone();
    config.smsr.sms_address = SMSR_ADDRESS.into();
    config.smsr.https_address = Some(https_addr);
    config.network.reachable = vec!["00101".into()];
    config.timing.notification_retry_ms = 1_500;
    config.timing.admin_backoff_ms = 100;
    let device = Arc::new(Device::new(config).unwrap());
    let mut events = device.events();
    let (vstop, vrx) = oneshot::channel::<()>();
    let dev = device.clone();
    let vtask = tokio::spawn(async move {
        dev.run(Listeners::default(), async {
            let _ = vrx.await;
        })
        .await
    });
    tokio::time::timeout(LIMIT, async {
        loop {
            if let Ok(e) = events.recv().await
                && matches!(e.kind, EventKind::Started)
            {
                return;
            }
        }
    })
    .await
    .expect("device started");

    // The SM-DP service, calling the SM-SR in process as "smdp-1".
    let client: Arc<dyn esim_service::FunctionClient> = Arc::new(esim_service::LocalClient::new(
        smsr.clone(),
        Caller {
            id: "smdp-1".into(),
            roles: vec![role::SM_DP.into()],
        },
    ));
    let mut smsrs = std::collections::HashMap::new();
    smsrs.insert("smsr1".to_string(), client);
    let mut sc = esim_smdp::SmdpConfig::new(
        "smdp-1",
        pki.smdp.key.clone(),
        pki.smdp.cert.clone(),
        pki.ci.cert.clone(),
        vec![pki.eum.cert.clone()],
    );
    sc.es3_timeout = LIMIT;
    let smdp = esim_smdp::Smdp::new(
        sc,
        Arc::new(esim_store::MemoryStore::new()),
        sealer.clone(),
        smsrs,
        Arc::new(Recorder::default()),
    );
    let new_iccid = Iccid::parse("89019990001234567893").unwrap();
    let pkg = card_store::personalize(&Bootstrap {
        template,
        iccid: Some(new_iccid.clone()),
        imsi: Some(Imsi::parse("001010000000079").unwrap()),
    })
    .unwrap();
    smdp.inventory()
        .import(
            &esim_smdp::ImportRequest {
                owner: "mno-1".into(),
                profile_type: Some("ts48".into()),
                packages: vec![pkg],
            },
            Timestamp(1),
        )
        .await
        .unwrap();
    let mno = Caller {
        id: "mno-1".into(),
        roles: vec![role::MNO.into()],
    };
    let dl = esim_proto::AnyRequest::Es2DownloadProfile(esim_proto::common::Request {
        header: esim_proto::common::RequestHeader {
            function_requester_identifier: "mno-1".into(),
            function_call_identifier: esim_proto::FunctionCallIdentifier::new("dl-https").unwrap(),
            validity_period: None,
            message_id: None,
            relates_to: None,
        },
        body: esim_proto::es2::DownloadProfileRequest {
            eid: eid.clone(),
            smsr_id: "smsr1".into(),
            profile: esim_proto::es2::ProfileSelector::Iccid(new_iccid.clone()),
            enable_profile: true,
        },
    });
    let v = match tokio::time::timeout(LIMIT, smdp.call(&mno, dl, LIMIT))
        .await
        .expect("download within the limit")
        .unwrap()
    {
        CallOutcome::Done(v) => v,
        other => panic!("not done: {other:?}"),
    };
    assert_eq!(status(&v), Status::ExecutedSuccess, "{v}");
    let p = store.get_profile(&eid, &new_iccid).await.unwrap();
    assert_eq!(p.state, ProfileState::Enabled);
    assert_eq!(
        store.get_profile(&eid, &boot_iccid).await.unwrap().state,
        ProfileState::Disabled
    );
    // On the card (as the device agent persisted it): the new Profile enabled.
    let enabled = tokio::time::timeout(LIMIT, async {
        loop {
            let card = card_store::load_card(&card_dir).unwrap();
            if let Some(e) = card.registry().enabled()
                && e.iccid.as_ref() == Some(&new_iccid)
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(enabled.is_ok(), "the card enabled the downloaded Profile");
    // After the REFRESH the device attaches with the new Profile; the card's notification
    // reaches the SM-SR and is confirmed: nothing stays pending on the card.
    let settled = tokio::time::timeout(LIMIT, async {
        loop {
            let card = card_store::load_card(&card_dir).unwrap();
            if card.registry().pending().is_none() && card.registry().notifications().is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(settled.is_ok(), "the switch was notified and confirmed");
    assert_eq!(
        store.get_profile(&eid, &new_iccid).await.unwrap().state,
        ProfileState::Enabled
    );

    let _ = vstop.send(());
    tokio::time::timeout(LIMIT, vtask)
        .await
        .expect("device stops")
        .unwrap()
        .unwrap();
    let _ = dstop.send(());
    tokio::time::timeout(LIMIT, dtask)
        .await
        .expect("delivery stops")
        .unwrap()
        .unwrap();
    drop(smsc_stop);
}
