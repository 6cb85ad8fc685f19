//! ES2.DownloadProfile end to end: the SM-DP over ES3 to a test-double SM-SR that executes
//! every ES3 function on a real software eUICC (memory and SQLite stores).

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use esim_codec::Iccid;
use esim_euicc::registry::LifeCycle;
use esim_proto::codes::{reason, subject};
use esim_proto::common::Request;
use esim_proto::es2::{self, ProfileSelector};
use esim_proto::{AnyRequest, Status};
use esim_service::{CallOutcome, FunctionService, ServiceError};
use esim_smdp::{ImportRequest, Smdp};
use esim_store::{AuditQuery, InventoryState, Store, Timestamp};

const WAIT: Duration = Duration::from_secs(120);

async fn import(smdp: &Smdp, owner: &str, file: &str) -> Iccid {
    let recs = smdp
        .inventory()
        .import(
            &ImportRequest {
                owner: owner.into(),
                profile_type: Some("ts48".into()),
                packages: vec![ts48(file)],
            },
            Timestamp(1),
        )
        .await
        .unwrap();
    recs[0].iccid.clone()
}

fn done(o: CallOutcome) -> serde_json::Value {
    match o {
        CallOutcome::Done(v) => v,
        other => panic!("not done: {other:?}"),
    }
}

#[tokio::test]
async fn download_installs_and_enables_on_the_card() {
    for b in stores().await {
        let (name, store) = (b.name, b.store.clone());
        let (pki, issued) = pki_and_card();
        let smsr = Arc::new(FakeSmsr::new(&issued, new_card(&issued)));
        let cb = Arc::new(Recorder::default());
        let smdp = smdp(&pki, store.clone(), smsr.clone(), cb.clone(), "r1", |_| {});
        let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
        let req = download_request(
            MNO,
            "dl-1",
            &issued.eid,
            ProfileSelector::Iccid(iccid.clone()),
            true,
        );
        let v = done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
        assert_eq!(status(&v).status, Status::ExecutedSuccess, "{name}: {v}");
        assert_eq!(v["Body"]["Iccid"], iccid.as_str());
        assert!(v["Body"]["EuiccResponseData"].is_string());
        // On the card: the Profile is installed in the ISD-P the SM-SR chose, and enabled.
        {
            let card = smsr.card.lock().unwrap();
            let enabled = card.registry().enabled().expect("an enabled profile");
            assert_eq!(enabled.iccid.as_ref(), Some(&iccid), "{name}");
            assert_eq!(enabled.state, LifeCycle::Enabled);
        }
        let calls = smsr.calls.lock().unwrap().clone();
        assert_eq!(
            calls[..4],
            ["GetEIS", "CreateISDP", "SendData:ISD-R", "SendData:ISD-R"],
            "{name}"
        );
        assert_eq!(
            calls[calls.len() - 2..],
            ["ProfileDownloadCompleted", "EnableProfile"]
        );
        assert!(!calls.contains(&"DeleteISDP".to_string()));
        let inv = store.get_inventory(&iccid).await.unwrap();
        assert_eq!(inv.state, InventoryState::Installed);
        assert_eq!(inv.eid.as_ref(), Some(&issued.eid));
        // The MNO got the result in its call (no result callback) and the downloaded
        // notification.
        cb.settle(MNO, 0, 1).await;
        assert_eq!(cb.results(MNO).len(), 0);
        assert_eq!(
            cb.notifications(MNO),
            ["HandleProfileDownloadedNotification"]
        );
        // Audited.
        let audit = store
            .query_audit(&AuditQuery {
                operator: Some(MNO.into()),
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap();
        assert!(
            audit.iter().any(|a| a.function == "ES2.DownloadProfile"
                && a.status == "Executed-Success"
                && a.iccid.as_ref() == Some(&iccid)),
            "{name}: {audit:?}"
        );

        // ES2.DisableProfile of the only (enabled) Profile, no fall-back: the card refuses and
        // the SM-SR's failure is passed on.
        let disable = AnyRequest::Es2DisableProfile(Request {
            header: header(MNO, "dis-1"),
            body: es2::ProfileRequest {
                eid: issued.eid.clone(),
                smsr_id: SMSR.into(),
                iccid: iccid.clone(),
            },
        });
        let v = done(smdp.call(&mno(MNO), disable, WAIT).await.unwrap());
        assert_eq!(status(&v).status, Status::Failed, "{v}");
        assert_eq!(
            status(&v).status_code_data.unwrap().subject_code,
            subject::EUICC_EXECUTION
        );
        assert!(smsr.card.lock().unwrap().registry().enabled().is_some());
        // A second Profile, installed disabled, then ES2.DeleteProfile: its ISD-P goes and the
        // Profile is released for good.
        let second = import(&smdp, MNO, "TS48V2-SAIP2-1-BERTLV-UNIQUE.der").await;
        let req = download_request(
            MNO,
            "dl-b",
            &issued.eid,
            ProfileSelector::Iccid(second.clone()),
            false,
        );
        let v = done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
        assert_eq!(status(&v).status, Status::ExecutedSuccess, "{name}: {v}");
        assert_eq!(smsr.card.lock().unwrap().registry().isdps().len(), 2);
        let delete = AnyRequest::Es2DeleteProfile(Request {
            header: header(MNO, "del-1"),
            body: es2::ProfileRequest {
                eid: issued.eid.clone(),
                smsr_id: SMSR.into(),
                iccid: second.clone(),
            },
        });
        let v = done(smdp.call(&mno(MNO), delete, WAIT).await.unwrap());
        assert_eq!(status(&v).status, Status::ExecutedSuccess, "{v}");
        {
            let card = smsr.card.lock().unwrap();
            assert_eq!(card.registry().isdps().len(), 1);
            assert_eq!(card.registry().isdps()[0].iccid.as_ref(), Some(&iccid));
        }
        let inv = store.get_inventory(&second).await.unwrap();
        assert_eq!(inv.state, InventoryState::Released);
        let iccid = second;
        // A released ICCID cannot be downloaded again.
        let again = download_request(
            MNO,
            "dl-2",
            &issued.eid,
            ProfileSelector::Iccid(iccid),
            false,
        );
        let v = done(smdp.call(&mno(MNO), again, WAIT).await.unwrap());
        let d = status(&v).status_code_data.unwrap();
        assert_eq!(
            (d.subject_code.as_str(), d.reason_code.as_str()),
            (subject::ICCID, reason::ALREADY_IN_USE)
        );
    }
}

#[tokio::test]
async fn download_by_type_without_enable_leaves_the_profile_disabled() {
    let b = stores().await.remove(0);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let smsr = Arc::new(FakeSmsr::new(&issued, new_card(&issued)));
    let cb = Arc::new(Recorder::default());
    let smdp = smdp(&pki, store.clone(), smsr.clone(), cb.clone(), "r1", |_| {});
    let iccid = import(&smdp, MNO, "TS48V2-SAIP2-1-BERTLV-UNIQUE.der").await;
    let req = download_request(
        MNO,
        "dl-t",
        &issued.eid,
        ProfileSelector::ProfileType("ts48".into()),
        false,
    );
    let v = done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
    assert_eq!(status(&v).status, Status::ExecutedSuccess, "{v}");
    assert_eq!(v["Body"]["Iccid"], iccid.as_str());
    {
        let card = smsr.card.lock().unwrap();
        assert!(card.registry().enabled().is_none());
        assert_eq!(card.registry().isdps().len(), 1);
        assert_eq!(card.registry().isdps()[0].state, LifeCycle::Disabled);
    }
    assert_eq!(smsr.count("EnableProfile"), 0);
    // None of the type left.
    let req = download_request(
        MNO,
        "dl-t2",
        &issued.eid,
        ProfileSelector::ProfileType("ts48".into()),
        false,
    );
    let v = done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
    let d = status(&v).status_code_data.unwrap();
    assert_eq!(d.subject_code, subject::PROFILE_TYPE);
}

#[tokio::test]
async fn card_refusal_deletes_the_isdp_and_releases_the_profile() {
    for b in stores().await {
        let (name, store) = (b.name, b.store.clone());
        let (pki, issued) = pki_and_card();
        let smsr = Arc::new(FakeSmsr::new(&issued, new_card(&issued)));
        let cb = Arc::new(Recorder::default());
        // An ISD-P quota far below the package: the card aborts the installation.
        let smdp = smdp(&pki, store.clone(), smsr.clone(), cb.clone(), "r1", |c| {
            c.download.required_memory = Some(2_000);
        });
        let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
        let req = download_request(
            MNO,
            "dl-r",
            &issued.eid,
            ProfileSelector::Iccid(iccid.clone()),
            true,
        );
        let v = done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
        let st = status(&v);
        assert_eq!(st.status, Status::Failed, "{name}: {v}");
        let d = st.status_code_data.unwrap();
        assert_eq!(d.subject_code, subject::PROFILE, "{name}: {d:?}");
        assert_eq!(d.subject_identifier.as_deref(), Some(iccid.as_str()));
        assert!(v.get("Body").is_none());
        assert_eq!(smsr.count("DeleteISDP"), 1, "{name}");
        assert_eq!(smsr.count("ProfileDownloadCompleted"), 0);
        assert!(
            smsr.card.lock().unwrap().registry().isdps().is_empty(),
            "{name}"
        );
        let inv = store.get_inventory(&iccid).await.unwrap();
        assert_eq!(inv.state, InventoryState::Released, "{name}");
        assert_eq!(cb.results(MNO).len(), 0, "answered in the call");
        assert!(cb.notifications(MNO).is_empty());
    }
}

#[tokio::test]
async fn ecasd_certificate_from_an_unknown_eum_is_refused_before_create_isdp() {
    let b = stores().await.remove(0);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let (other, _) = pki_and_card();
    let smsr = Arc::new(FakeSmsr::new(&issued, new_card(&issued)));
    let cb = Arc::new(Recorder::default());
    let smdp = smdp(&pki, store.clone(), smsr.clone(), cb, "r1", |c| {
        c.eum_certificates = vec![other.eum.cert.clone()];
    });
    let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
    let req = download_request(
        MNO,
        "dl-e",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        false,
    );
    let v = done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
    let d = status(&v).status_code_data.unwrap();
    assert_eq!(d.subject_code, subject::EUICC_CERTIFICATE);
    assert_eq!(d.reason_code, reason::VERIFICATION_FAILED);
    assert_eq!(smsr.count("CreateISDP"), 0);
    assert_eq!(
        store.get_inventory(&iccid).await.unwrap().state,
        InventoryState::Released
    );
}

#[tokio::test]
async fn restart_mid_download_rolls_back() {
    for b in stores().await {
        let (name, store) = (b.name, b.store.clone());
        let (pki, issued) = pki_and_card();
        let mut fake = FakeSmsr::new(&issued, new_card(&issued));
        // The third SendData (the SCP03t `84` to the ISD-P) never returns: the replica "dies".
        fake.block_send = Some(3);
        let smsr = Arc::new(fake);
        let cb = Arc::new(Recorder::default());
        let first = smdp(
            &pki,
            store.clone(),
            smsr.clone(),
            cb.clone(),
            "replica-a",
            |_| {},
        );
        let iccid = import(&first, MNO, "TS48V1-A-UNIQUE.der").await;
        let req = download_request(
            MNO,
            "dl-x",
            &issued.eid,
            ProfileSelector::Iccid(iccid.clone()),
            true,
        );
        let blocked = smsr.blocked.notified();
        let out = first
            .call(&mno(MNO), req.clone(), Duration::ZERO)
            .await
            .unwrap();
        let CallOutcome::Pending { operation_id, .. } = out else {
            panic!("{name}: expected Pending, got {out:?}")
        };
        tokio::time::timeout(WAIT, blocked)
            .await
            .expect("download reached SendData #3");
        assert_eq!(smsr.card.lock().unwrap().registry().isdps().len(), 1);
        // Another replica, after the first one's lease ran out.
        // A restarted replica: a new connection to the same database.
        let second = smdp(
            &pki,
            b.reopen().await,
            smsr.clone(),
            cb.clone(),
            "replica-b",
            |_| {},
        );
        let later = esim_service::now().plus_ms(3_600_000);
        assert_eq!(second.recover(later).await.unwrap(), 1, "{name}");
        let v = done(
            second
                .outcome(&mno(MNO), &operation_id, WAIT)
                .await
                .unwrap(),
        );
        let st = status(&v);
        assert_eq!(st.status, Status::Failed, "{name}: {v}");
        assert!(
            st.status_code_data
                .unwrap()
                .message
                .unwrap()
                .contains("rolled back"),
            "{name}"
        );
        assert_eq!(smsr.count("DeleteISDP"), 1);
        assert!(
            smsr.card.lock().unwrap().registry().isdps().is_empty(),
            "{name}: no ISD-P left"
        );
        assert_eq!(
            store.get_inventory(&iccid).await.unwrap().state,
            InventoryState::Released
        );
        // The repeated request is answered with the rolled-back result, not re-executed.
        let again = done(second.call(&mno(MNO), req, WAIT).await.unwrap());
        assert_eq!(again, v);
        assert_eq!(smsr.count("CreateISDP"), 1);
        // Nothing left to recover.
        assert_eq!(second.recover(later).await.unwrap(), 0);
    }
}

#[tokio::test]
async fn restart_after_the_card_installed_resumes() {
    let b = stores().await.remove(1);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let mut fake = FakeSmsr::new(&issued, new_card(&issued));
    fake.block_completed = true;
    let smsr = Arc::new(fake);
    let cb = Arc::new(Recorder::default());
    let first = smdp(
        &pki,
        store.clone(),
        smsr.clone(),
        cb.clone(),
        "replica-a",
        |_| {},
    );
    let iccid = import(&first, MNO, "TS48V1-A-UNIQUE.der").await;
    let req = download_request(
        MNO,
        "dl-y",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        true,
    );
    let blocked = smsr.blocked.notified();
    let CallOutcome::Pending { operation_id, .. } =
        first.call(&mno(MNO), req, Duration::ZERO).await.unwrap()
    else {
        panic!("expected Pending")
    };
    tokio::time::timeout(WAIT, blocked)
        .await
        .expect("reached ProfileDownloadCompleted");
    // A restarted replica: a new connection to the same database.
    let second = smdp(
        &pki,
        b.reopen().await,
        smsr.clone(),
        cb.clone(),
        "replica-b",
        |_| {},
    );
    assert_eq!(
        second
            .recover(esim_service::now().plus_ms(3_600_000))
            .await
            .unwrap(),
        1
    );
    let v = done(
        second
            .outcome(&mno(MNO), &operation_id, WAIT)
            .await
            .unwrap(),
    );
    assert_eq!(status(&v).status, Status::ExecutedSuccess, "{v}");
    assert_eq!(
        smsr.card
            .lock()
            .unwrap()
            .registry()
            .enabled()
            .unwrap()
            .iccid,
        Some(iccid.clone())
    );
    assert_eq!(smsr.count("DeleteISDP"), 0);
    assert_eq!(
        store.get_inventory(&iccid).await.unwrap().state,
        InventoryState::Installed
    );
}

#[tokio::test]
async fn repeated_call_identifier_is_answered_not_re_executed() {
    let b = stores().await.remove(0);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let smsr = Arc::new(FakeSmsr::new(&issued, new_card(&issued)));
    let cb = Arc::new(Recorder::default());
    let smdp = smdp(&pki, store.clone(), smsr.clone(), cb.clone(), "r1", |_| {});
    let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
    let req = download_request(
        MNO,
        "same",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        false,
    );
    let first = done(smdp.call(&mno(MNO), req.clone(), WAIT).await.unwrap());
    let second = done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
    assert_eq!(first, second);
    assert_eq!(status(&first).status, Status::ExecutedSuccess);
    assert_eq!(smsr.count("CreateISDP"), 1);
    assert_eq!(smsr.count("GetEIS"), 1);
    assert_eq!(cb.results(MNO).len(), 0, "answered in the call");
    // Same identifier, different request: a conflict.
    let other = download_request(
        MNO,
        "same",
        &issued.eid,
        ProfileSelector::Iccid(iccid),
        true,
    );
    assert!(matches!(
        smdp.call(&mno(MNO), other, WAIT).await,
        Err(ServiceError::Conflict(_))
    ));
}

#[tokio::test]
async fn another_mno_is_denied() {
    let b = stores().await.remove(0);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let smsr = Arc::new(FakeSmsr::new(&issued, new_card(&issued)));
    let cb = Arc::new(Recorder::default());
    let smdp = smdp(&pki, store.clone(), smsr.clone(), cb.clone(), "r1", |_| {});
    let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
    // MNO 2 asks for MNO 1's Profile.
    let req = download_request(
        MNO2,
        "x1",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        true,
    );
    let v = done(smdp.call(&mno(MNO2), req, WAIT).await.unwrap());
    let d = status(&v).status_code_data.unwrap();
    assert_eq!(
        (d.subject_code.as_str(), d.reason_code.as_str()),
        (subject::ICCID, reason::NOT_ALLOWED)
    );
    // By type: MNO 2 has none (MNO 1's stock is not visible to it).
    let req = download_request(
        MNO2,
        "x2",
        &issued.eid,
        ProfileSelector::ProfileType("ts48".into()),
        true,
    );
    let v = done(smdp.call(&mno(MNO2), req, WAIT).await.unwrap());
    assert_eq!(status(&v).status, Status::Failed);
    assert!(
        smsr.calls.lock().unwrap().is_empty(),
        "nothing reached the SM-SR"
    );
    assert_eq!(
        store.get_inventory(&iccid).await.unwrap().state,
        InventoryState::Available
    );
    // MNO 1 installs it; MNO 2 may not enable, disable or delete it.
    let req = download_request(
        MNO,
        "ok",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        false,
    );
    assert_eq!(
        status(&done(smdp.call(&mno(MNO), req, WAIT).await.unwrap())).status,
        Status::ExecutedSuccess
    );
    let before = smsr.calls.lock().unwrap().len();
    let enable = AnyRequest::Es2EnableProfile(Request {
        header: header(MNO2, "x3"),
        body: es2::ProfileRequest {
            eid: issued.eid.clone(),
            smsr_id: SMSR.into(),
            iccid: iccid.clone(),
        },
    });
    let v = done(smdp.call(&mno(MNO2), enable, WAIT).await.unwrap());
    assert_eq!(
        status(&v).status_code_data.unwrap().reason_code,
        reason::NOT_ALLOWED
    );
    assert_eq!(smsr.calls.lock().unwrap().len(), before);
    // Impersonation and wrong roles are refused before anything runs.
    let req = download_request(
        MNO,
        "x4",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        true,
    );
    assert!(matches!(
        smdp.call(&mno(MNO2), req.clone(), WAIT).await,
        Err(ServiceError::Forbidden(_))
    ));
    let sr = esim_service::Caller {
        id: MNO.into(),
        roles: vec![esim_service::role::SM_SR.into()],
    };
    assert!(matches!(
        smdp.call(&sr, req, WAIT).await,
        Err(ServiceError::Forbidden(_))
    ));

    let refused = store
        .query_audit(&AuditQuery {
            operator: Some(MNO2.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(refused.iter().any(|a| a.status == "Refused"), "{refused:?}");
    assert!(refused.iter().any(|a| a.status == "Failed"));
}

#[tokio::test]
async fn es3_notifications_update_the_inventory_and_reach_the_mno() {
    let b = stores().await.remove(0);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let smsr = Arc::new(FakeSmsr::new(&issued, new_card(&issued)));
    let cb = Arc::new(Recorder::default());
    let smdp = smdp(&pki, store.clone(), smsr.clone(), cb.clone(), "r1", |_| {});
    let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
    let req = download_request(
        MNO,
        "d",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        false,
    );
    done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
    cb.settle(MNO, 0, 1).await;
    let sr = esim_service::Caller {
        id: SMSR.into(),
        roles: vec![esim_service::role::SM_SR.into()],
    };
    let body = es2::ProfileNotification {
        eid: issued.eid.clone(),
        iccid: iccid.clone(),
        completion_time_stamp: esim_proto::Timestamp::parse("2026-11-26T00:00:00Z").unwrap(),
    };
    let enabled = AnyRequest::Es3HandleProfileEnabledNotification(Request {
        header: header(SMSR, "n1"),
        body: body.clone(),
    });
    let v = done(smdp.call(&sr, enabled, WAIT).await.unwrap());
    assert_eq!(status(&v).status, Status::ExecutedSuccess);
    let deleted = AnyRequest::Es3HandleProfileDeletedNotification(Request {
        header: header(SMSR, "n2"),
        body,
    });
    done(smdp.call(&sr, deleted, WAIT).await.unwrap());
    assert_eq!(
        cb.notifications(MNO),
        [
            "HandleProfileDownloadedNotification",
            "HandleProfileEnabledNotification",
            "HandleProfileDeletedNotification"
        ]
    );
    assert_eq!(
        store.get_inventory(&iccid).await.unwrap().state,
        InventoryState::Released
    );
    // An MNO may not send ES3 notifications.
    let fake = AnyRequest::Es3HandleProfileDeletedNotification(Request {
        header: header(MNO, "n3"),
        body: es2::ProfileNotification {
            eid: issued.eid.clone(),
            iccid,
            completion_time_stamp: esim_proto::Timestamp::parse("2026-11-26T00:00:00Z").unwrap(),
        },
    });
    assert!(matches!(
        smdp.call(&mno(MNO), fake, WAIT).await,
        Err(ServiceError::Forbidden(_))
    ));
    let _: &dyn Store = &*store;
}

#[tokio::test]
async fn run_loop_recovers_an_abandoned_download() {
    let b = stores().await.remove(1);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let mut fake = FakeSmsr::new(&issued, new_card(&issued));
    fake.block_send = Some(4);
    let smsr = Arc::new(fake);
    let cb = Arc::new(Recorder::default());
    // The first replica's lease is short: once it stops renewing, the loop takes over.
    let first = smdp(
        &pki,
        store.clone(),
        smsr.clone(),
        cb.clone(),
        "replica-a",
        |c| {
            c.lease = Duration::from_millis(300);
        },
    );
    let iccid = import(&first, MNO, "TS48V1-A-UNIQUE.der").await;
    let req = download_request(
        MNO,
        "dl-run",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        true,
    );
    // The first replica runs on its own runtime, which is then shut down: the process died
    // (its tasks, including the lease renewal, stop).
    let doomed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let blocked = smsr.blocked.notified();
    let caller = first.clone();
    let started =
        doomed.spawn(async move { caller.call(&mno(MNO), req, Duration::ZERO).await.unwrap() });
    let CallOutcome::Pending { operation_id, .. } = started.await.unwrap() else {
        panic!("expected Pending")
    };
    tokio::time::timeout(WAIT, blocked)
        .await
        .expect("reached SendData #4");
    doomed.shutdown_background();
    let mut config = first.config().clone();
    config.holder = "replica-b".into();
    config.poll_interval = Duration::from_millis(50);
    let mut smsrs: std::collections::HashMap<String, Arc<dyn esim_service::FunctionClient>> =
        std::collections::HashMap::new();
    smsrs.insert(SMSR.into(), smsr.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn(esim_smdp::run(
        config,
        store.clone(),
        sealer(),
        smsrs,
        cb.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    let v = done(first.outcome(&mno(MNO), &operation_id, WAIT).await.unwrap());
    assert_eq!(status(&v).status, Status::Failed, "{v}");
    assert!(smsr.card.lock().unwrap().registry().isdps().is_empty());
    assert_eq!(
        store.get_inventory(&iccid).await.unwrap().state,
        InventoryState::Released
    );
    stop.send(()).unwrap();
    tokio::time::timeout(WAIT, runner)
        .await
        .expect("run stops on shutdown")
        .unwrap();
}

#[tokio::test]
async fn get_eis_and_update_policy_rules_are_forwarded() {
    let b = stores().await.remove(0);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let smsr = Arc::new(FakeSmsr::new(&issued, new_card(&issued)));
    let cb = Arc::new(Recorder::default());
    let smdp = smdp(&pki, store.clone(), smsr.clone(), cb.clone(), "r1", |_| {});
    let get = AnyRequest::Es2GetEis(Request {
        header: header(MNO, "g1"),
        body: es2::GetEisRequest {
            eid: issued.eid.clone(),
            smsr_id: SMSR.into(),
        },
    });
    let v = done(smdp.call(&mno(MNO), get, WAIT).await.unwrap());
    assert_eq!(status(&v).status, Status::ExecutedSuccess, "{v}");
    let eis: es2::GetEisResponse = serde_json::from_value(v["Body"].clone()).unwrap();
    assert_eq!(eis.eis.eid(), &issued.eid);
    // With Profiles of two MNOs on the card, each MNO sees only its own.
    let info = |iccid: &str, owner: &str, tar: u8| esim_proto::eis::ProfileInfo {
        iccid: Iccid::with_luhn(iccid).unwrap(),
        isd_p_aid: esim_codec::Aid::isd_p(esim_codec::Tar([0, 0, tar])),
        mno_id: owner.into(),
        fallback_attribute: false,
        subscription_address: None,
        state: esim_proto::eis::ProfileState::Disabled,
        smdp_id: "smdp-1".into(),
        profile_type: None,
        allocated_memory: 1,
        free_memory: 1,
        pol2: Default::default(),
    };
    *smsr.listed.lock().unwrap() = vec![
        info("898800000000000010", MNO, 0x30),
        info("898800000000000020", MNO2, 0x31),
    ];
    for (who, fcid) in [(MNO, "g3"), (MNO2, "g4")] {
        let get = AnyRequest::Es2GetEis(Request {
            header: header(who, fcid),
            body: es2::GetEisRequest {
                eid: issued.eid.clone(),
                smsr_id: SMSR.into(),
            },
        });
        let v = done(smdp.call(&mno(who), get, WAIT).await.unwrap());
        let eis: es2::GetEisResponse = serde_json::from_value(v["Body"].clone()).unwrap();
        assert_eq!(eis.eis.profiles.len(), 1, "{who}");
        assert_eq!(eis.eis.profiles[0].mno_id, who);
    }
    smsr.listed.lock().unwrap().clear();
    // An SM-SR without an ES3 connection.
    let get = AnyRequest::Es2GetEis(Request {
        header: header(MNO, "g2"),
        body: es2::GetEisRequest {
            eid: issued.eid.clone(),
            smsr_id: "elsewhere".into(),
        },
    });
    let v = done(smdp.call(&mno(MNO), get, WAIT).await.unwrap());
    assert_eq!(
        status(&v).status_code_data.unwrap().subject_code,
        subject::SM_SR
    );
    // UpdatePolicyRules of an installed Profile reaches the SM-SR; of an unknown one, not.
    let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
    let req = download_request(
        MNO,
        "d",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        false,
    );
    done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
    let upr = |fcid: &str, iccid: Iccid| {
        AnyRequest::Es2UpdatePolicyRules(Request {
            header: header(MNO, fcid),
            body: es2::UpdatePolicyRulesRequest {
                eid: issued.eid.clone(),
                iccid,
                smsr_id: SMSR.into(),
                pol2: esim_proto::pol2::Pol2::default(),
            },
        })
    };
    let v = done(smdp.call(&mno(MNO), upr("u1", iccid), WAIT).await.unwrap());
    assert_eq!(status(&v).status, Status::ExecutedSuccess, "{v}");
    assert_eq!(smsr.count("UpdatePolicyRules"), 1);
    let unknown = Iccid::with_luhn("898800000000000001").unwrap();
    let v = done(
        smdp.call(&mno(MNO), upr("u2", unknown), WAIT)
            .await
            .unwrap(),
    );
    assert_eq!(
        status(&v).status_code_data.unwrap().reason_code,
        reason::UNKNOWN
    );
    assert_eq!(smsr.count("UpdatePolicyRules"), 1);
    // Every result was returned in its call: none is called back.
    assert_eq!(cb.results(MNO).len(), 0);
}

#[tokio::test]
async fn validity_period_passed_ends_expired_without_touching_the_card() {
    let b = stores().await.remove(0);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let smsr = Arc::new(FakeSmsr::new(&issued, new_card(&issued)));
    let cb = Arc::new(Recorder::default());
    let smdp = smdp(&pki, store.clone(), smsr.clone(), cb, "r1", |_| {});
    let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
    let mut req = download_request(
        MNO,
        "dl-v",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        true,
    );
    if let AnyRequest::Es2DownloadProfile(r) = &mut req {
        r.header.validity_period = Some(esim_proto::ValidityPeriod(0));
    }
    let v = done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
    let st = status(&v);
    assert_eq!(st.status, Status::Expired, "{v}");
    assert_eq!(st.status_code_data.unwrap().reason_code, reason::EXPIRED);
    assert_eq!(smsr.count("CreateISDP"), 0);
    assert!(smsr.card.lock().unwrap().registry().isdps().is_empty());
    assert_eq!(
        store.get_inventory(&iccid).await.unwrap().state,
        InventoryState::Released
    );
}

#[tokio::test]
async fn two_concurrent_downloads_of_one_iccid_install_it_once() {
    let b = stores().await.remove(1);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let smsr = Arc::new(FakeSmsr::new(&issued, new_card(&issued)));
    let cb = Arc::new(Recorder::default());
    let smdp = smdp(&pki, store.clone(), smsr.clone(), cb, "r1", |_| {});
    let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
    let one = download_request(
        MNO,
        "c1",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        false,
    );
    let two = download_request(
        MNO,
        "c2",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        false,
    );
    let caller = mno(MNO);
    let (a, b2) = tokio::join!(smdp.call(&caller, one, WAIT), smdp.call(&caller, two, WAIT));
    let mut statuses = [status(&done(a.unwrap())), status(&done(b2.unwrap()))];
    statuses.sort_by_key(|s| s.status != Status::ExecutedSuccess);
    assert_eq!(statuses[0].status, Status::ExecutedSuccess);
    let d = statuses[1].status_code_data.clone().unwrap();
    assert_eq!(
        (d.subject_code.as_str(), d.reason_code.as_str()),
        (subject::ICCID, reason::ALREADY_IN_USE)
    );
    assert_eq!(smsr.count("CreateISDP"), 1);
    assert_eq!(smsr.card.lock().unwrap().registry().isdps().len(), 1);
}

#[tokio::test]
async fn a_slow_smsr_call_keeps_the_lease() {
    let b = stores().await.remove(1);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let mut fake = FakeSmsr::new(&issued, new_card(&issued));
    fake.hold_send = Some(3);
    let smsr = Arc::new(fake);
    let cb = Arc::new(Recorder::default());
    let first = smdp(
        &pki,
        store.clone(),
        smsr.clone(),
        cb.clone(),
        "replica-a",
        |c| c.lease = Duration::from_secs(6),
    );
    let iccid = import(&first, MNO, "TS48V1-A-UNIQUE.der").await;
    let req = download_request(
        MNO,
        "slow",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        true,
    );
    let blocked = smsr.blocked.notified();
    let CallOutcome::Pending { operation_id, .. } =
        first.call(&mno(MNO), req, Duration::ZERO).await.unwrap()
    else {
        panic!("expected Pending")
    };
    tokio::time::timeout(WAIT, blocked)
        .await
        .expect("reached SendData #3");
    // The lease is renewed while the SendData is outstanding.
    let until = |op: esim_store::Operation| op.lease.unwrap().until;
    let held = until(store.get_operation(&operation_id).await.unwrap());
    let mut renewed = held;
    for _ in 0..1200 {
        renewed = until(store.get_operation(&operation_id).await.unwrap());
        if renewed > held {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(renewed > held, "lease never renewed");
    // So another replica finds nothing abandoned.
    let second = smdp(
        &pki,
        b.reopen().await,
        smsr.clone(),
        cb,
        "replica-b",
        |_| {},
    );
    assert_eq!(second.recover(esim_service::now()).await.unwrap(), 0);
    smsr.release.notify_one();
    let v = done(first.outcome(&mno(MNO), &operation_id, WAIT).await.unwrap());
    assert_eq!(status(&v).status, Status::ExecutedSuccess, "{v}");
    assert_eq!(
        smsr.card
            .lock()
            .unwrap()
            .registry()
            .enabled()
            .unwrap()
            .iccid,
        Some(iccid)
    );
}

#[tokio::test]
async fn a_corrupted_answer_at_any_step_cleans_up() {
    let (pki, issued) = pki_and_card();
    // SendData 1-2: ECKA over the ISD-R; 3: `84`; 4: `85`; 5 and on: the `86` chunks.
    for n in 1..=6 {
        let b = stores().await.remove(0);
        let store = b.store.clone();
        let mut fake = FakeSmsr::new(&issued, new_card(&issued));
        fake.corrupt_send = Some(n);
        let smsr = Arc::new(fake);
        let cb = Arc::new(Recorder::default());
        let smdp = smdp(&pki, store.clone(), smsr.clone(), cb, "r1", |_| {});
        let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
        let req = download_request(
            MNO,
            "bad",
            &issued.eid,
            ProfileSelector::Iccid(iccid.clone()),
            true,
        );
        let v = done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
        assert_eq!(status(&v).status, Status::Failed, "step {n}: {v}");
        assert_eq!(smsr.count("DeleteISDP"), 1, "step {n}");
        assert_eq!(smsr.count("ProfileDownloadCompleted"), 0, "step {n}");
        assert!(
            smsr.card.lock().unwrap().registry().isdps().is_empty(),
            "step {n}: ISD-P left"
        );
        assert_eq!(
            store.get_inventory(&iccid).await.unwrap().state,
            InventoryState::Released,
            "step {n}"
        );
    }
}

/// ES2.UpdateSubscriptionAddress is forwarded as ES3.UpdateSubscriptionAddress for an installed
/// Profile of the requester, and refused without an ES3 call otherwise.
#[tokio::test]
async fn update_subscription_address_is_forwarded() {
    let b = stores().await.remove(0);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let smsr = Arc::new(FakeSmsr::new(&issued, new_card(&issued)));
    let cb = Arc::new(Recorder::default());
    let smdp = smdp(&pki, store.clone(), smsr.clone(), cb.clone(), "r1", |_| {});
    let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
    let req = download_request(
        MNO,
        "d",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        false,
    );
    done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
    let usa = |who: &str, fcid: &str, iccid: Iccid| {
        AnyRequest::Es2UpdateSubscriptionAddress(Request {
            header: header(who, fcid),
            body: es2::UpdateSubscriptionAddressRequest {
                eid: issued.eid.clone(),
                iccid,
                smsr_id: SMSR.into(),
                subscription_address: esim_proto::eis::SubscriptionAddress {
                    imsi: None,
                    msisdn: Some("447700900555".into()),
                },
            },
        })
    };
    let v = done(
        smdp.call(&mno(MNO), usa(MNO, "a1", iccid.clone()), WAIT)
            .await
            .unwrap(),
    );
    assert_eq!(status(&v).status, Status::ExecutedSuccess, "{v}");
    {
        let got = smsr.addresses.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].iccid, iccid);
        assert_eq!(got[0].eid, issued.eid);
        assert_eq!(
            got[0].subscription_address.msisdn.as_deref(),
            Some("447700900555")
        );
    }
    // Another MNO's request for this Profile, and an unknown ICCID: refused, nothing sent.
    let v = done(
        smdp.call(&mno(MNO2), usa(MNO2, "a2", iccid.clone()), WAIT)
            .await
            .unwrap(),
    );
    assert_eq!(
        status(&v).status_code_data.unwrap().reason_code,
        reason::NOT_ALLOWED
    );
    let unknown = Iccid::with_luhn("898800000000000001").unwrap();
    let v = done(
        smdp.call(&mno(MNO), usa(MNO, "a3", unknown), WAIT)
            .await
            .unwrap(),
    );
    assert_eq!(
        status(&v).status_code_data.unwrap().reason_code,
        reason::UNKNOWN
    );
    assert_eq!(smsr.count("UpdateSubscriptionAddress"), 1);
    // The result is returned in the call (not called back) and audited.
    assert_eq!(cb.results(MNO).len(), 0);
    let audit = store
        .query_audit(&AuditQuery {
            operator: Some(MNO.into()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        audit.iter().any(
            |a| a.function == "ES2.UpdateSubscriptionAddress" && a.status == "Executed-Success"
        ),
        "{audit:?}"
    );
}

/// The SM-DP keeps the ISD-P's token key from the download and answers ES3.GetDeleteToken (an
/// SM-SR only) with a token the real card accepts for Master Delete; wrong AID, CRT or P1/P2
/// are refused; the key survives a restart (SQL stores) and is erased with the Profile.
#[tokio::test]
async fn delete_token_from_the_download_keys_deletes_on_the_card() {
    use esim_apdu::gp::delete::Delete;
    use esim_proto::es3::GetDeleteTokenRequest;
    use esim_service::{Caller, role};
    for b in stores().await {
        let (name, store) = (b.name, b.store.clone());
        let (pki, issued) = pki_and_card();
        let smsr = Arc::new(FakeSmsr::new(&issued, new_card(&issued)));
        let cb = Arc::new(Recorder::default());
        let smdp = smdp(&pki, store.clone(), smsr.clone(), cb.clone(), "r1", |_| {});
        let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
        let req = download_request(
            MNO,
            "d",
            &issued.eid,
            ProfileSelector::Iccid(iccid.clone()),
            false,
        );
        let v = done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
        assert_eq!(status(&v).status, Status::ExecutedSuccess, "{name}: {v}");
        let sealed = store
            .token_key(&iccid)
            .await
            .unwrap()
            .expect("token key kept");
        let aid = smsr.aid_of(&iccid).expect("ISD-P");
        // Sealed: the stored bytes are not the key the card holds.
        assert!(sealed.bytes.len() > 16, "{name}");
        let sr = Caller {
            id: "smsr-x".into(),
            roles: vec![role::SM_SR.into()],
        };
        let crt = esim_codec::ber::tlv(0x45u8, &issued.eid.to_bcd());
        let ask = |fcid: &str, aid: &esim_codec::Aid, p2: u8, crt: &[u8]| {
            AnyRequest::Es3GetDeleteToken(Request {
                header: header("smsr-x", fcid),
                body: GetDeleteTokenRequest {
                    eid: issued.eid.clone(),
                    iccid: iccid.clone(),
                    isd_p_aid: aid.clone(),
                    p1: 0,
                    p2,
                    crt: esim_proto::HexBytes(crt.to_vec()),
                },
            })
        };
        let code = |v: &serde_json::Value| {
            let d = status(v).status_code_data.expect("status code data");
            (d.subject_code, d.reason_code)
        };
        // An MNO may not ask for tokens.
        let mut as_mno = ask("t0", &aid, 0x80, &crt);
        if let AnyRequest::Es3GetDeleteToken(r) = &mut as_mno {
            r.header = header(MNO, "t0");
        }
        assert!(matches!(
            smdp.call(&mno(MNO), as_mno, WAIT).await,
            Err(ServiceError::Forbidden(_))
        ));
        // Another ISD-P, another CRT, another P2: refused.
        let other = esim_codec::Aid::isd_p(esim_codec::Tar([0, 0, 0x7F]));
        let v = done(
            smdp.call(&sr, ask("t1", &other, 0x80, &crt), WAIT)
                .await
                .unwrap(),
        );
        assert_eq!(
            code(&v),
            (subject::ISD_P.into(), reason::INVALID_ASSOCIATION.into())
        );
        let v = done(
            smdp.call(&sr, ask("t2", &aid, 0x80, &[0x45, 0x01, 0x00]), WAIT)
                .await
                .unwrap(),
        );
        assert_eq!(
            code(&v),
            (subject::REQUEST_FIELD.into(), reason::INVALID_FORMAT.into())
        );
        let v = done(
            smdp.call(&sr, ask("t3", &aid, 0x00, &crt), WAIT)
                .await
                .unwrap(),
        );
        assert_eq!(
            code(&v),
            (subject::REQUEST_FIELD.into(), reason::INVALID_FORMAT.into())
        );
        // The token, after a restart of the store where there is one.
        let store = b.reopen().await;
        let smdp = common::smdp(&pki, store.clone(), smsr.clone(), cb.clone(), "r2", |_| {});
        let v = done(
            smdp.call(&sr, ask("t4", &aid, 0x80, &crt), WAIT)
                .await
                .unwrap(),
        );
        assert_eq!(status(&v).status, Status::ExecutedSuccess, "{name}: {v}");
        let token = hex::decode(v["Body"]["DeleteToken"].as_str().unwrap()).unwrap();
        assert_eq!(token.len(), 16);
        // The card refuses a forged token and accepts the SM-DP's.
        let mut forged = token.clone();
        forged[0] ^= 1;
        let mut d = Delete::new(aid.clone(), true);
        d.token_crt = Some(crt.clone());
        d.token = Some(forged);
        let rs = smsr.isd_r(vec![d.to_command()]);
        assert_eq!(rs.last().unwrap().sw.to_u16(), 0x6982, "{name}");
        d.token = Some(token);
        let rs = smsr.isd_r(vec![d.to_command()]);
        assert!(rs.last().unwrap().is_success(), "{name}: {rs:?}");
        assert!(
            smsr.card.lock().unwrap().registry().get(&aid).is_none(),
            "{name}: the ISD-P is gone"
        );
        // Once the Profile is released (deleted notification), no token any more.
        store.release(&iccid, Timestamp(5)).await.unwrap();
        assert_eq!(store.token_key(&iccid).await.unwrap(), None);
        let v = done(
            smdp.call(&sr, ask("t5", &aid, 0x80, &crt), WAIT)
                .await
                .unwrap(),
        );
        assert_eq!(status(&v).status, Status::Failed, "{name}: {v}");
    }
}

#[tokio::test]
async fn lost_es3_answers_are_asked_again_with_the_same_call_identifier() {
    for b in stores().await {
        let (name, store) = (b.name, b.store.clone());
        let (pki, issued) = pki_and_card();
        let fake = FakeSmsr::new(&issued, new_card(&issued));
        // Every ES3 call of the download is executed by the SM-SR but its first answers are
        // lost (connection reset): the SM-DP repeats them; the SM-SR answers from its record.
        fake.lose_answers
            .store(3, std::sync::atomic::Ordering::SeqCst);
        let smsr = Arc::new(fake);
        let cb = Arc::new(Recorder::default());
        let smdp = smdp(&pki, store.clone(), smsr.clone(), cb.clone(), "r1", |_| {});
        let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
        let req = download_request(
            MNO,
            "dl-lost",
            &issued.eid,
            ProfileSelector::Iccid(iccid.clone()),
            true,
        );
        let v = done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
        assert_eq!(status(&v).status, Status::ExecutedSuccess, "{name}: {v}");
        assert_eq!(
            smsr.lose_answers.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "{name}: the lost answers were asked again"
        );
        // Executed once each: the repeats were answered from the record, not executed again.
        let calls = smsr.calls.lock().unwrap().clone();
        assert_eq!(calls[..2], ["GetEIS", "CreateISDP"], "{name}: {calls:?}");
        let card = smsr.card.lock().unwrap();
        assert_eq!(card.registry().isdps().len(), 1, "{name}: one ISD-P");
        let enabled = card.registry().enabled().expect("an enabled profile");
        assert_eq!(enabled.iccid.as_ref(), Some(&iccid), "{name}");
    }
}

/// A failed download whose clean-up cannot reach the SM-SR is not finished: it stays in its
/// clean-up step (the ISD-P may exist) and the recovery loop completes the roll-back later.
#[tokio::test]
async fn clean_up_waits_for_an_unreachable_smsr() {
    let b = stores().await.remove(0);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let mut fake = FakeSmsr::new(&issued, new_card(&issued));
    fake.corrupt_send = Some(3);
    fake.delete_down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let smsr = Arc::new(fake);
    let cb = Arc::new(Recorder::default());
    let smdp = smdp(&pki, store.clone(), smsr.clone(), cb, "r1", |c| {
        c.es3_timeout = Duration::from_millis(600);
    });
    let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
    let req = download_request(
        MNO,
        "cleanup-later",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        true,
    );
    let out = smdp
        .call(&mno(MNO), req, Duration::from_secs(3))
        .await
        .unwrap();
    let CallOutcome::Pending { operation_id, .. } = out else {
        panic!("the roll-back must wait for the SM-SR, got {out:?}")
    };
    assert_eq!(
        smsr.card.lock().unwrap().registry().isdps().len(),
        1,
        "the ISD-P is still there"
    );
    assert_eq!(
        store.get_inventory(&iccid).await.unwrap().state,
        InventoryState::Allocated,
        "not released before the ISD-P is gone"
    );
    // The SM-SR is back; once the lease has run out the recovery finishes the roll-back.
    smsr.delete_down
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let later = esim_service::now().plus_ms(3_600_000);
    assert_eq!(smdp.recover(later).await.unwrap(), 1);
    let v = done(smdp.outcome(&mno(MNO), &operation_id, WAIT).await.unwrap());
    assert_eq!(status(&v).status, Status::Failed, "{v}");
    assert!(smsr.card.lock().unwrap().registry().isdps().is_empty());
    assert_eq!(
        store.get_inventory(&iccid).await.unwrap().state,
        InventoryState::Released
    );
}

/// A caller answered `Pending` gets the result as a callback, once; a caller whose call
/// returned the result (`Done`) is not sent it again (docs/spec-choices.md row 78).
#[tokio::test]
async fn the_result_is_called_back_only_to_a_caller_answered_pending() {
    let b = stores().await.remove(0);
    let store = b.store.clone();
    let (pki, issued) = pki_and_card();
    let smsr = Arc::new(FakeSmsr::new(&issued, new_card(&issued)));
    let cb = Arc::new(Recorder::default());
    let smdp = smdp(&pki, store.clone(), smsr.clone(), cb.clone(), "r1", |_| {});
    let iccid = import(&smdp, MNO, "TS48V1-A-UNIQUE.der").await;
    let req = download_request(
        MNO,
        "pending",
        &issued.eid,
        ProfileSelector::Iccid(iccid.clone()),
        false,
    );
    let first = smdp
        .call(&mno(MNO), req.clone(), Duration::ZERO)
        .await
        .unwrap();
    assert!(matches!(first, CallOutcome::Pending { .. }), "{first:?}");
    cb.settle(MNO, 1, 1).await;
    assert_eq!(cb.results(MNO).len(), 1);
    // The repeated call returns the stored answer; nothing more is called back.
    let again = done(smdp.call(&mno(MNO), req, WAIT).await.unwrap());
    assert_eq!(status(&again).status, Status::ExecutedSuccess, "{again}");
    // A call that waits for a long function's result gets it, and no callback: the next
    // Pending caller's callback is the only other one.
    let v = done(
        smdp.call(&mno(MNO), upr_request(&issued, &iccid, "waits"), WAIT)
            .await
            .unwrap(),
    );
    assert_eq!(status(&v).status, Status::ExecutedSuccess, "{v}");
    let p = smdp
        .call(
            &mno(MNO),
            upr_request(&issued, &iccid, "polls"),
            Duration::ZERO,
        )
        .await
        .unwrap();
    assert!(matches!(p, CallOutcome::Pending { .. }), "{p:?}");
    cb.settle(MNO, 2, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        cb.results(MNO).len(),
        2,
        "the waiting call's result was not called back"
    );
}

fn upr_request(issued: &esim_crypto::pki::IssuedEuicc, iccid: &Iccid, fcid: &str) -> AnyRequest {
    AnyRequest::Es2UpdatePolicyRules(Request {
        header: header(MNO, fcid),
        body: es2::UpdatePolicyRulesRequest {
            eid: issued.eid.clone(),
            iccid: iccid.clone(),
            smsr_id: SMSR.into(),
            pol2: esim_proto::pol2::Pol2::default(),
        },
    })
}
