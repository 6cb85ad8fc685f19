//! The store conformance suite: the same cases run on every backend
//! (memory, SQLite in a temporary file, PostgreSQL when `ESIM_TEST_PG_URL` is
//! set, e.g. `postgres://postgres@127.0.0.1:5432/test`, in a fresh schema per
//! test that is dropped afterwards).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use esim_codec::ids::{Aid, Eid, Iccid, Imsi, Tar};
use esim_crypto::primitives::SecretKey;
use esim_store::*;
use serde_json::json;

// ---------------------------------------------------------------- backends

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let r: [u8; 4] = esim_crypto::primitives::random_array().expect("random");
    format!(
        "{prefix}_{}_{n}_{}",
        std::process::id(),
        esim_codec::hex::encode(&r).to_ascii_lowercase()
    )
}

/// Raw access to the database behind a store, to check what is really stored.
enum Raw {
    None,
    Sqlite(SqliteStore),
    Pg(PgStore),
}

struct Backend {
    store: Arc<dyn Store>,
    raw: Raw,
    /// How to open the same database again (a restarted server).
    reopen: Option<String>,
    _guard: Option<Guard>,
}

/// Removes the SQLite file or drops the PostgreSQL schema, also when a test panics.
enum Guard {
    File(std::path::PathBuf),
    Schema(String, String),
}

impl Drop for Guard {
    fn drop(&mut self) {
        match self {
            Guard::File(p) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut f = p.clone().into_os_string();
                    f.push(suffix);
                    let _ = std::fs::remove_file(f);
                }
            }
            Guard::Schema(url, schema) => {
                let (url, schema) = (url.clone(), schema.clone());
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    rt.block_on(PgStore::drop_schema(&url, &schema))
                })
                .join();
            }
        }
    }
}

async fn memory() -> Option<Backend> {
    Some(Backend {
        store: Arc::new(MemoryStore::new()),
        raw: Raw::None,
        reopen: None,
        _guard: None,
    })
}

async fn sqlite() -> Option<Backend> {
    let path = std::env::temp_dir().join(format!("{}.db", unique("esim_store")));
    let url = format!("sqlite:{}", path.display());
    let s = SqliteStore::connect(&url).await.expect("sqlite connect");
    Some(Backend {
        store: Arc::new(s.clone()),
        raw: Raw::Sqlite(s),
        reopen: Some(url),
        _guard: Some(Guard::File(path)),
    })
}

async fn postgres() -> Option<Backend> {
    let Ok(url) = std::env::var("ESIM_TEST_PG_URL") else {
        // Written to the real stderr (not captured by the test harness).
        let _ = writeln!(
            std::io::stderr(),
            "SKIP postgres conformance: ESIM_TEST_PG_URL not set"
        );
        return None;
    };
    let schema = unique("esim_test");
    let guard = Guard::Schema(url.clone(), schema.clone());
    let s = PgStore::connect_in_schema(&url, &schema)
        .await
        .expect("postgres connect");
    Some(Backend {
        store: Arc::new(s.clone()),
        raw: Raw::Pg(s),
        reopen: Some(format!("{url}\u{0}{schema}")),
        _guard: Some(guard),
    })
}

impl Backend {
    async fn reopen(&self) -> Option<Arc<dyn Store>> {
        let r = self.reopen.as_ref()?;
        Some(match r.split_once('\u{0}') {
            Some((url, schema)) => Arc::new(
                PgStore::connect_in_schema(url, schema)
                    .await
                    .expect("reconnect"),
            ),
            None => Arc::new(SqliteStore::connect(r).await.expect("reopen")),
        })
    }

    /// Every byte of the rows that `sql` selects (all columns as text or blob).
    async fn raw_bytes(&self, sql: &'static str) -> Option<Vec<u8>> {
        use sqlx::{Row, ValueRef};
        fn collect<R: Row>(rows: &[R], out: &mut Vec<u8>)
        where
            for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
            usize: sqlx::ColumnIndex<R>,
        {
            for row in rows {
                for (i, _c) in row.columns().iter().enumerate() {
                    if row.try_get_raw(i).map(|v| v.is_null()).unwrap_or(true) {
                        continue;
                    }
                    if let Ok(b) = row.try_get_unchecked::<Vec<u8>, _>(i) {
                        out.extend_from_slice(&b);
                    } else if let Ok(s) = row.try_get_unchecked::<String, _>(i) {
                        out.extend_from_slice(s.as_bytes());
                    } else if let Ok(n) = row.try_get_unchecked::<i64, _>(i) {
                        out.extend_from_slice(n.to_string().as_bytes());
                    }
                }
            }
        }
        let mut out = Vec::new();
        match &self.raw {
            Raw::None => return None,
            Raw::Sqlite(s) => {
                let rows = sqlx::query(sql).fetch_all(s.pool()).await.expect("raw");
                assert!(!rows.is_empty(), "raw query returned nothing: {sql}");
                collect(&rows, &mut out);
            }
            Raw::Pg(s) => {
                let rows = sqlx::query(sql).fetch_all(s.pool()).await.expect("raw");
                assert!(!rows.is_empty(), "raw query returned nothing: {sql}");
                collect(&rows, &mut out);
            }
        }
        Some(out)
    }
}

// ---------------------------------------------------------------- fixtures

fn eid(n: u32) -> Eid {
    Eid::from_body(&format!("8904903200000000000000{n:08}")).expect("eid")
}

fn iccid(n: u32) -> Iccid {
    Iccid::with_luhn(&format!("8988303{n:012}")).expect("iccid")
}

fn aid(n: u16) -> Aid {
    let [a, b] = n.to_be_bytes();
    Aid::isd_p(Tar([0x00, a, b.max(0x10)]))
}

fn sealer() -> AesSealer {
    AesSealer::new("test-key-1", &SecretKey::new(&[0x42; 32])).expect("sealer")
}

fn t(ms: i64) -> Timestamp {
    Timestamp(ms)
}

fn eis_record(e: &Eid, sealer: &AesSealer) -> EisRecord {
    let doc = json!({"eumSignedInfo": {"eid": e.to_string(), "isdR": {"keysets": [{"keys": ["SECRET-ISDR-KEY-0123456789ABCDEF"]}]}}});
    EisRecord {
        eid: e.clone(),
        eum_id: "EUM-1".into(),
        smsr_id: "SMSR-1".into(),
        platform_type: "esim-rsp".into(),
        platform_version: "1.0".into(),
        signed_eis: sealer
            .seal(doc.to_string().as_bytes(), format!("eis/{e}").as_bytes())
            .expect("seal"),
        remaining_memory: 500_000,
        available_memory_for_profiles: 400_000,
        last_audit: None,
        locked_by: None,
        additional_properties: BTreeMap::from([("color".to_string(), "blue".to_string())]),
        version: 0,
        registered_at: t(1000),
        updated_at: t(1000),
    }
}

fn profile(e: &Eid, n: u32, state: ProfileState) -> ProfileRecord {
    ProfileRecord {
        eid: e.clone(),
        iccid: iccid(n),
        isd_p_aid: aid(0x10 + n as u16),
        mno_id: "MNO-A".into(),
        smdp_id: "SMDP-1".into(),
        profile_type: "bootstrap".into(),
        state,
        fallback: false,
        subscription_address: SubscriptionAddress {
            imsi: Some(Imsi::parse(&format!("0010100000{n:05}")).expect("imsi")),
            msisdn: Some(format!("4915100{n:05}")),
        },
        pol2: Some(json!([{"subject": "PROFILE", "action": "DISABLE_NOT_ALLOWED"}])),
        allocated_memory: 50_000,
        free_memory: 10_000,
        updated_at: t(1000),
    }
}

fn keyset(e: &Eid, kvn: u8, counter: u64, sealer: &AesSealer) -> KeysetRecord {
    KeysetRecord {
        eid: e.clone(),
        kvn,
        kind: KeysetKind::Scp80,
        keys: sealer
            .seal(
                b"KIC-KID-DEK-SECRETS",
                format!("keyset/{e}/{kvn}").as_bytes(),
            )
            .expect("seal"),
        psk_identity: None,
        counter,
        created_at: t(1000),
    }
}

async fn register(s: &Arc<dyn Store>, e: &Eid) {
    let sl = sealer();
    s.register_eis(&eis_record(e, &sl), &[keyset(e, 1, 0, &sl)], &[])
        .await
        .expect("register");
}

fn new_op(owner: &str, fcid: Option<&str>, e: Option<&Eid>, now: i64) -> NewOperation {
    NewOperation {
        id: OperationId::random().expect("id"),
        kind: "ES2.DownloadProfile".into(),
        owner: owner.into(),
        function_call_id: fcid.map(str::to_string),
        eid: e.cloned(),
        state: json!({"step": "CreateIsdp"}),
        status: OperationStatus::Runnable,
        wake_at: None,
        lease: None,
        now: t(now),
    }
}

fn step(name: &str, status: OperationStatus, now: i64) -> OperationUpdate {
    OperationUpdate {
        state: json!({"step": name}),
        status,
        wake_at: None,
        result: None,
        release_lease: false,
        now: t(now),
    }
}

fn cmd(e: &Eid, payload: &[u8], now: i64, expires: Option<i64>) -> NewCommand {
    NewCommand {
        eid: e.clone(),
        operation_id: None,
        payload: payload.to_vec(),
        not_before: t(now),
        expires_at: expires.map(t),
        now: t(now),
    }
}

// ---------------------------------------------------------------- cases

mod cases {
    use super::*;

    pub async fn eis_crud(b: &Backend) {
        let s = &b.store;
        let sl = sealer();
        let e = eid(1);
        let rec = eis_record(&e, &sl);
        let p1 = profile(&e, 1, ProfileState::Enabled);
        let mut p2 = profile(&e, 2, ProfileState::Disabled);
        p2.fallback = true;
        s.register_eis(
            &rec,
            &[keyset(&e, 1, 5, &sl), keyset(&e, 2, 0, &sl)],
            &[p1.clone(), p2.clone()],
        )
        .await
        .expect("register");
        let got = s.get_eis(&e).await.expect("get");
        assert_eq!(got.version, 1);
        assert_eq!(got.eid, e);
        assert_eq!(got.additional_properties, rec.additional_properties);
        assert_eq!(got.signed_eis, rec.signed_eis);
        let doc = sl
            .open(&got.signed_eis, format!("eis/{e}").as_bytes())
            .expect("open");
        assert!(String::from_utf8_lossy(&doc).contains("SECRET-ISDR-KEY"));
        assert!(matches!(
            s.register_eis(&rec, &[], &[]).await,
            Err(StoreError::Duplicate { .. })
        ));
        assert_eq!(
            s.profiles(&e).await.expect("profiles"),
            vec![p1.clone(), p2.clone()]
        );

        // Optimistic update.
        let mut upd = got.clone();
        upd.remaining_memory = 123;
        upd.last_audit = Some(t(2000));
        upd.locked_by = Some(OperationId::parse("op-1").expect("id"));
        upd.updated_at = t(2000);
        assert_eq!(s.update_eis(&upd).await.expect("update"), 2);
        let got2 = s.get_eis(&e).await.expect("get");
        assert_eq!(got2.remaining_memory, 123);
        assert_eq!(got2.last_audit, Some(t(2000)));
        assert_eq!(got2.locked_by, upd.locked_by);
        assert_eq!(got2.version, 2);
        assert!(matches!(
            s.update_eis(&upd).await,
            Err(StoreError::VersionMismatch { expected: 1, .. })
        ));
        let mut ghost = upd.clone();
        ghost.eid = eid(99);
        assert!(matches!(
            s.update_eis(&ghost).await,
            Err(StoreError::NotFound { .. })
        ));

        // Listing.
        for n in 2..=4 {
            register(s, &eid(n)).await;
        }
        let first = s.list_eids(None, 2).await.expect("list");
        assert_eq!(first, vec![eid(1), eid(2)]);
        let rest = s.list_eids(Some(&eid(2)), 10).await.expect("list");
        assert_eq!(rest, vec![eid(3), eid(4)]);

        // Profiles.
        let p3 = profile(&e, 3, ProfileState::InCreation);
        s.insert_profile(&p3).await.expect("insert");
        assert!(matches!(
            s.insert_profile(&p3).await,
            Err(StoreError::Duplicate { .. })
        ));
        let mut same_aid = profile(&e, 4, ProfileState::Created);
        same_aid.isd_p_aid = p3.isd_p_aid.clone();
        assert!(matches!(
            s.insert_profile(&same_aid).await,
            Err(StoreError::Duplicate { .. })
        ));
        let orphan = profile(&eid(77), 5, ProfileState::Created);
        assert!(matches!(
            s.insert_profile(&orphan).await,
            Err(StoreError::NotFound { what: "eis", .. })
        ));
        s.set_profile_state(&e, &p3.iccid, ProfileState::Created, t(3000))
            .await
            .expect("state");
        s.set_profile_state(&e, &p3.iccid, ProfileState::Disabled, t(3001))
            .await
            .expect("state");
        // Enabling p3 disables p1: one enabled Profile per eUICC.
        s.set_profile_state(&e, &p3.iccid, ProfileState::Enabled, t(3002))
            .await
            .expect("enable");
        let states: Vec<_> = s
            .profiles(&e)
            .await
            .expect("profiles")
            .into_iter()
            .map(|p| (p.iccid, p.state))
            .collect();
        assert_eq!(
            states,
            vec![
                (iccid(1), ProfileState::Disabled),
                (iccid(2), ProfileState::Disabled),
                (iccid(3), ProfileState::Enabled)
            ]
        );
        assert_eq!(
            s.get_profile(&e, &iccid(1)).await.expect("p1").updated_at,
            t(3002)
        );
        assert!(matches!(
            s.set_profile_state(&e, &iccid(9), ProfileState::Enabled, t(1))
                .await,
            Err(StoreError::NotFound { .. })
        ));
        // Fall-back attribute moves.
        s.set_fallback(&e, &iccid(3), t(3003))
            .await
            .expect("fallback");
        let fb: Vec<_> = s
            .profiles(&e)
            .await
            .expect("profiles")
            .into_iter()
            .filter(|p| p.fallback)
            .map(|p| p.iccid)
            .collect();
        assert_eq!(fb, vec![iccid(3)]);
        assert!(s.set_fallback(&e, &iccid(9), t(1)).await.is_err());
        // Full update and delete.
        let mut p3u = s.get_profile(&e, &iccid(3)).await.expect("p3");
        p3u.pol2 = None;
        p3u.subscription_address.msisdn = None;
        p3u.free_memory = 7;
        s.update_profile(&p3u).await.expect("update profile");
        assert_eq!(s.get_profile(&e, &iccid(3)).await.expect("p3"), p3u);
        s.delete_profile(&e, &iccid(1)).await.expect("delete");
        assert!(matches!(
            s.get_profile(&e, &iccid(1)).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.delete_profile(&e, &iccid(1)).await,
            Err(StoreError::NotFound { .. })
        ));

        // Keysets: replacing never lowers the counter.
        let ks = s.keysets(&e).await.expect("keysets");
        assert_eq!(
            ks.iter().map(|k| (k.kvn, k.counter)).collect::<Vec<_>>(),
            vec![(1, 5), (2, 0)]
        );
        let mut lower = keyset(&e, 1, 2, &sl);
        lower.kind = KeysetKind::Scp81;
        lower.psk_identity = Some(vec![1, 2, 3]);
        s.put_keyset(&lower).await.expect("put");
        let k1 = s.get_keyset(&e, 1).await.expect("k1");
        assert_eq!(
            (k1.kind, k1.counter, k1.psk_identity),
            (KeysetKind::Scp81, 5, Some(vec![1, 2, 3]))
        );
        assert!(matches!(
            s.put_keyset(&keyset(&eid(77), 1, 0, &sl)).await,
            Err(StoreError::NotFound { what: "eis", .. })
        ));
        s.delete_keyset(&e, 2).await.expect("delete keyset");
        assert!(matches!(
            s.get_keyset(&e, 2).await,
            Err(StoreError::NotFound { .. })
        ));

        // Delete the eUICC with everything.
        s.delete_eis(&e).await.expect("delete eis");
        assert!(matches!(
            s.get_eis(&e).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(s.profiles(&e).await.expect("profiles").is_empty());
        assert!(s.keysets(&e).await.expect("keysets").is_empty());
        assert!(matches!(
            s.delete_eis(&e).await,
            Err(StoreError::NotFound { .. })
        ));
        // Re-registration after an SM-SR change back works.
        s.register_eis(&rec, &[], &[]).await.expect("re-register");
        // Registration is all or nothing.
        let e5 = eid(5);
        let wrong = profile(&eid(6), 1, ProfileState::Disabled);
        assert!(matches!(
            s.register_eis(&eis_record(&e5, &sl), &[], &[wrong]).await,
            Err(StoreError::InvalidState { .. })
        ));
        assert!(matches!(
            s.get_eis(&e5).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.register_eis(
                &eis_record(&e5, &sl),
                &[keyset(&e5, 1, 0, &sl), keyset(&e5, 1, 0, &sl)],
                &[]
            )
            .await,
            Err(StoreError::Duplicate { .. })
        ));
        assert!(matches!(
            s.get_eis(&e5).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(s.keysets(&e5).await.expect("keysets").is_empty());
    }

    pub async fn secrets_sealed(b: &Backend) {
        let s = &b.store;
        let sl = sealer();
        let ki = [
            0x46u8, 0x5B, 0x5C, 0xE8, 0xB1, 0x99, 0xB4, 0x9F, 0xAA, 0x5F, 0x0A, 0x2E, 0xE2, 0x38,
            0xA6, 0xBC,
        ];
        let opc = [
            0xCDu8, 0x63, 0xCB, 0x71, 0x95, 0x4A, 0x9F, 0x4E, 0x48, 0xA5, 0x99, 0x4E, 0x37, 0xA0,
            0x2B, 0xAF,
        ];
        let mut plain = ki.to_vec();
        plain.extend_from_slice(&opc);
        let ic = iccid(500);
        let p = InventoryProfile {
            iccid: ic.clone(),
            imsi: Some(Imsi::parse("001010000000500").expect("imsi")),
            profile_type: "iot".into(),
            owner: "MNO-A".into(),
            template: Some("tpl-1".into()),
            secrets: sl
                .seal(&plain, format!("inventory/{ic}").as_bytes())
                .expect("seal"),
            state: InventoryState::Available,
            eid: None,
            imported_at: t(1),
            updated_at: t(1),
        };
        s.import_profiles(std::slice::from_ref(&p))
            .await
            .expect("import");
        let e = eid(1);
        register(s, &e).await;
        let got = s.get_inventory(&ic).await.expect("get");
        assert_eq!(got.secrets, p.secrets);
        assert_eq!(
            &*sl.open(&got.secrets, format!("inventory/{ic}").as_bytes())
                .expect("open"),
            &plain[..]
        );
        // Bound to its row.
        assert!(
            sl.open(&got.secrets, format!("inventory/{}", iccid(501)).as_bytes())
                .is_err()
        );
        assert!(!format!("{got:?}").contains(&esim_codec::hex::encode(&ki)));

        let needles: Vec<Vec<u8>> = [&ki[..], &opc[..]]
            .iter()
            .flat_map(|k| {
                [
                    k.to_vec(),
                    esim_codec::hex::encode(k).to_ascii_lowercase().into_bytes(),
                    esim_codec::hex::encode(k).to_ascii_uppercase().into_bytes(),
                ]
            })
            .collect();
        let rows = [
            b.raw_bytes("SELECT * FROM inventory").await,
            b.raw_bytes("SELECT * FROM eis").await,
            b.raw_bytes("SELECT * FROM keysets").await,
        ];
        for (i, raw) in rows.into_iter().enumerate() {
            let Some(raw) = raw else { return };
            assert!(raw.len() > 40, "raw row {i} too short to be meaningful");
            for n in &needles {
                assert!(
                    !raw.windows(n.len()).any(|w| w == n.as_slice()),
                    "plaintext secret found in raw table {i}"
                );
            }
            for secret in [&b"SECRET-ISDR-KEY"[..], b"KIC-KID-DEK-SECRETS"] {
                assert!(
                    !raw.windows(secret.len()).any(|w| w == secret),
                    "plaintext key in table {i}"
                );
            }
        }
        // The check can fail: the ciphertext itself is in the raw row.
        let raw = b.raw_bytes("SELECT * FROM inventory").await.expect("raw");
        assert!(
            raw.windows(got.secrets.bytes.len())
                .any(|w| w == got.secrets.bytes.as_slice())
        );
    }

    pub async fn counters_concurrent(b: &Backend) {
        let s = &b.store;
        let sl = sealer();
        let e = eid(1);
        s.register_eis(
            &eis_record(&e, &sl),
            &[keyset(&e, 1, 5, &sl), keyset(&e, 2, 0, &sl)],
            &[],
        )
        .await
        .expect("register");
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let s = s.clone();
            let e = e.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for _ in 0..100 {
                    got.push(s.allocate_counter(&e, 1).await.expect("allocate"));
                }
                got
            }));
        }
        let mut all = BTreeSet::new();
        for t in tasks {
            let got = t.await.expect("join");
            assert!(
                got.windows(2).all(|w| w[0] < w[1]),
                "not increasing within a task"
            );
            for v in got {
                assert!(all.insert(v), "counter {v} handed out twice");
            }
        }
        assert_eq!(all.len(), 400);
        assert_eq!(all.first(), Some(&6));
        assert_eq!(all.last(), Some(&405));
        // The other keyset is independent.
        assert_eq!(s.allocate_counter(&e, 2).await.expect("kvn 2"), 1);
        // Raise to a counter seen from the card; never lower.
        assert_eq!(s.raise_counter(&e, 1, 1000).await.expect("raise"), 1000);
        assert_eq!(s.raise_counter(&e, 1, 10).await.expect("raise"), 1000);
        assert_eq!(s.allocate_counter(&e, 1).await.expect("allocate"), 1001);
        assert_eq!(s.get_keyset(&e, 1).await.expect("keyset").counter, 1001);
        assert!(matches!(
            s.allocate_counter(&e, 9).await,
            Err(StoreError::NotFound { .. })
        ));
        // Five bytes at most.
        s.raise_counter(&e, 2, 0xFF_FFFF_FFFE).await.expect("raise");
        assert_eq!(
            s.allocate_counter(&e, 2).await.expect("last"),
            0xFF_FFFF_FFFF
        );
        assert!(matches!(
            s.allocate_counter(&e, 2).await,
            Err(StoreError::Exhausted(_))
        ));
        assert!(s.raise_counter(&e, 2, 1 << 40).await.is_err());
        // A restarted server continues above every value handed out.
        if let Some(s2) = b.reopen().await {
            assert_eq!(
                s2.allocate_counter(&e, 1).await.expect("after restart"),
                1002
            );
        }
    }

    pub async fn idempotency(b: &Backend) {
        let s = &b.store;
        let rec = IdempotencyRecord {
            caller: "MNO-A".into(),
            function_call_id: "fc-1".into(),
            function: "ES2.DownloadProfile".into(),
            request_hash: [7; 32],
            operation_id: Some(OperationId::parse("op-x").expect("id")),
            response: Some(b"ignored".to_vec()),
            created_at: t(10),
            completed_at: None,
        };
        let BeginOutcome::New(first) = s.begin_call(&rec).await.expect("begin") else {
            panic!("first call must be new")
        };
        assert_eq!(first.response, None);
        assert_eq!(first.operation_id, rec.operation_id);
        let BeginOutcome::Repeat(again) = s.begin_call(&rec).await.expect("begin") else {
            panic!("repeat must be detected")
        };
        assert_eq!(again.response, None, "in progress");
        let body = b"<Envelope>Executed-Success</Envelope>".to_vec();
        let done = s
            .complete_call("MNO-A", "fc-1", &body, t(20))
            .await
            .expect("complete");
        assert_eq!(done.response.as_deref(), Some(&body[..]));
        let mut other_hash = rec.clone();
        other_hash.request_hash = [8; 32];
        let BeginOutcome::Repeat(stored) = s.begin_call(&other_hash).await.expect("begin") else {
            panic!("repeat must be detected")
        };
        assert_eq!(stored.response.as_deref(), Some(&body[..]));
        assert_eq!(
            stored.request_hash, [7; 32],
            "the first request's hash is kept"
        );
        assert_eq!(stored.completed_at, Some(t(20)));
        assert!(matches!(
            s.complete_call("MNO-A", "fc-1", b"other", t(30)).await,
            Err(StoreError::InvalidState { .. })
        ));
        assert!(matches!(
            s.complete_call("MNO-A", "fc-nope", b"x", t(30)).await,
            Err(StoreError::NotFound { .. })
        ));
        // Identifiers are per caller.
        let mut other_caller = rec.clone();
        other_caller.caller = "MNO-B".into();
        assert!(matches!(
            s.begin_call(&other_caller).await.expect("b"),
            BeginOutcome::New(_)
        ));
        assert_eq!(s.get_call("MNO-Z", "fc-1").await.expect("get"), None);

        // Operations: the same FunctionCallIdentifier is answered by the
        // existing operation, not a new one — also under concurrency.
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.create_operation(&new_op("MNO-A", Some("fc-op"), None, 100))
                    .await
                    .expect("create")
            }));
        }
        let mut created = 0;
        let mut ids = HashSet::new();
        for t in tasks {
            let o = t.await.expect("join");
            if matches!(o, CreateOutcome::Created(_)) {
                created += 1;
            }
            ids.insert(o.operation().id.clone());
        }
        assert_eq!(created, 1, "exactly one create wins");
        assert_eq!(ids.len(), 1, "all repeats see the same operation");
        let id = ids.into_iter().next().expect("id");
        assert_eq!(
            s.find_operation("MNO-A", "fc-op")
                .await
                .expect("find")
                .map(|o| o.id),
            Some(id.clone())
        );
        let other = s
            .create_operation(&new_op("MNO-B", Some("fc-op"), None, 100))
            .await
            .expect("other owner");
        assert!(matches!(other, CreateOutcome::Created(_)));
        // Without an identifier every request is new; a reused operation id is a duplicate.
        let n1 = new_op("MNO-A", None, None, 100);
        assert!(matches!(
            s.create_operation(&n1).await.expect("c"),
            CreateOutcome::Created(_)
        ));
        assert!(matches!(
            s.create_operation(&n1).await,
            Err(StoreError::Duplicate { .. })
        ));
        assert!(matches!(
            s.create_operation(&new_op("MNO-A", None, None, 100))
                .await
                .expect("c"),
            CreateOutcome::Created(_)
        ));
    }

    pub async fn operation_claims(b: &Backend) {
        let s = &b.store;
        let e = eid(1);
        // 20 runnable operations, 4 concurrent claimers: each claimed once.
        let mut ids = BTreeSet::new();
        for i in 0..20 {
            let o = s
                .create_operation(&new_op("MNO-A", None, Some(&e), 100 + i))
                .await
                .expect("create");
            ids.insert(o.operation().id.clone());
        }
        let mut tasks = Vec::new();
        for w in 0..4 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let holder = format!("replica-{w}");
                let mut mine = Vec::new();
                loop {
                    let got = s
                        .claim_runnable(&holder, t(1000), t(61_000), 3)
                        .await
                        .expect("claim");
                    if got.is_empty() {
                        break;
                    }
                    for o in got {
                        assert_eq!(
                            o.lease.as_ref().map(|l| l.holder.as_str()),
                            Some(holder.as_str())
                        );
                        mine.push(o.id);
                    }
                    tokio::task::yield_now().await;
                }
                mine
            }));
        }
        let mut claimed = BTreeSet::new();
        for t in tasks {
            for id in t.await.expect("join") {
                assert!(claimed.insert(id.clone()), "operation {id} claimed twice");
            }
        }
        assert_eq!(claimed, ids);
        // Nothing more to claim while the leases live.
        assert!(
            s.claim_runnable("late", t(60_999), t(70_000), 100)
                .await
                .expect("c")
                .is_empty()
        );
        assert_eq!(s.active_operations_for(&e).await.expect("active").len(), 20);

        // One operation, many simultaneous claimers: one wins.
        let solo = s
            .create_operation(&new_op("MNO-B", None, None, 5000))
            .await
            .expect("c");
        let solo_id = solo.operation().id.clone();
        let mut tasks = Vec::new();
        for w in 0..8 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                s.claim_runnable(&format!("r{w}"), t(6000), t(16_000), 10)
                    .await
                    .expect("claim")
            }));
        }
        let mut winners = 0;
        for t in tasks {
            let got = t.await.expect("join");
            winners += got.iter().filter(|o| o.id == solo_id).count();
        }
        assert_eq!(winners, 1);
        let held = s.get_operation(&solo_id).await.expect("get");
        let holder = held.lease.clone().expect("lease").holder;

        // The holder saves a step (keeps the lease).
        let after = s
            .save_step(
                &solo_id,
                held.version,
                &step("EstablishKeys", OperationStatus::Runnable, 7000),
            )
            .await
            .expect("save");
        assert_eq!(after.version, held.version + 1);
        assert_eq!(after.state, json!({"step": "EstablishKeys"}));
        assert_eq!(after.lease.as_ref().map(|l| &l.holder), Some(&holder));
        // Another replica cannot take a live lease...
        assert!(matches!(
            s.claim_operation(&solo_id, "intruder", t(8000), t(9000))
                .await,
            Err(StoreError::InvalidState { .. })
        ));
        // ...but the holder may renew it.
        let renewed = s
            .claim_operation(&solo_id, &holder, t(8000), t(20_000))
            .await
            .expect("renew");
        assert_eq!(renewed.lease.as_ref().map(|l| l.until), Some(t(20_000)));
        // A restarted replica with the same holder name ends its old leases at once; others'
        // leases are untouched.
        assert_eq!(s.release_leases("nobody", t(8001)).await.expect("rel"), 0);
        assert_eq!(s.release_leases(&holder, t(8001)).await.expect("rel"), 1);
        let released = s.get_operation(&solo_id).await.expect("get");
        assert_eq!(released.lease.as_ref().map(|l| l.until), Some(t(8001)));
        assert!(
            released.version > renewed.version,
            "a release changes the version"
        );
        assert_eq!(s.release_leases(&holder, t(8001)).await.expect("rel"), 0);
        // Claimable by anyone now; the holder takes it back as it was.
        let renewed = s
            .claim_operation(&solo_id, &holder, t(8002), t(20_000))
            .await
            .expect("re-claim");
        assert_eq!(renewed.lease.as_ref().map(|l| l.until), Some(t(20_000)));
        // The holder dies. After the lease ends the operation is listed for recovery
        // and another replica takes it over.
        assert!(
            s.expired_leases(t(19_999), 100)
                .await
                .expect("e")
                .iter()
                .all(|o| o.id != solo_id)
        );
        let expired = s.expired_leases(t(20_000), 100).await.expect("expired");
        assert!(expired.iter().any(|o| o.id == solo_id));
        let taken = s
            .claim_runnable("survivor", t(20_000), t(30_000), 100)
            .await
            .expect("claim");
        assert!(taken.iter().any(|o| o.id == solo_id));
        let taken = s.get_operation(&solo_id).await.expect("get");
        assert_eq!(
            taken.lease.as_ref().map(|l| l.holder.as_str()),
            Some("survivor")
        );
        assert_eq!(
            taken.state,
            json!({"step": "EstablishKeys"}),
            "continues from the saved step"
        );
        // The dead holder's stale save is refused.
        assert!(matches!(
            s.save_step(
                &solo_id,
                renewed.version,
                &step("Stale", OperationStatus::Runnable, 20_001)
            )
            .await,
            Err(StoreError::VersionMismatch { .. })
        ));

        // Waiting operations are continued by events, or woken by their timer.
        let mut w = new_op("MNO-C", None, None, 100);
        w.status = OperationStatus::Waiting;
        w.wake_at = Some(t(50_000));
        let w = s.create_operation(&w).await.expect("c").operation().clone();
        assert!(
            s.claim_runnable("x", t(49_999), t(60_000), 100)
                .await
                .expect("c")
                .iter()
                .all(|o| o.id != w.id)
        );
        let ev = s
            .claim_operation(&w.id, "event", t(40_000), t(41_000))
            .await
            .expect("event claim");
        let done = s
            .save_step(
                &w.id,
                ev.version,
                &OperationUpdate {
                    state: json!({"step": "Done"}),
                    status: OperationStatus::Succeeded,
                    wake_at: None,
                    result: Some(json!({"status": "Executed-Success"})),
                    release_lease: true,
                    now: t(40_001),
                },
            )
            .await
            .expect("finish");
        assert_eq!(done.lease, None);
        assert_eq!(done.result, Some(json!({"status": "Executed-Success"})));
        // Terminal operations never change and are not claimed or listed.
        assert!(matches!(
            s.save_step(
                &w.id,
                done.version,
                &step("Again", OperationStatus::Runnable, 1)
            )
            .await,
            Err(StoreError::InvalidState { .. })
        ));
        assert!(matches!(
            s.claim_operation(&w.id, "x", t(99_999), t(100_000)).await,
            Err(StoreError::InvalidState { .. })
        ));
        assert!(
            s.claim_runnable("x", t(99_999), t(100_000), 100)
                .await
                .expect("c")
                .iter()
                .all(|o| o.id != w.id)
        );
        let mut timer = new_op("MNO-C", None, None, 100);
        timer.status = OperationStatus::Waiting;
        timer.wake_at = Some(t(50_000));
        let timer = s
            .create_operation(&timer)
            .await
            .expect("c")
            .operation()
            .id
            .clone();
        let woke = s
            .claim_runnable("x", t(100_001), t(110_000), 1000)
            .await
            .expect("c");
        assert!(
            woke.iter().any(|o| o.id == timer),
            "timer wakes a waiting operation"
        );
        assert!(matches!(
            s.get_operation(&OperationId::parse("nope").expect("id"))
                .await,
            Err(StoreError::NotFound { .. })
        ));
        // Created with a lease: not claimable by others until it ends.
        let mut own = new_op("MNO-D", None, None, 200_000);
        own.lease = Some(Lease {
            holder: "creator".into(),
            until: t(210_000),
        });
        let own = s
            .create_operation(&own)
            .await
            .expect("c")
            .operation()
            .id
            .clone();
        assert!(
            s.claim_runnable("x", t(200_001), t(300_000), 1000)
                .await
                .expect("c")
                .iter()
                .all(|o| o.id != own)
        );
    }

    pub async fn version_conflict(b: &Backend) {
        let s = &b.store;
        let op = s
            .create_operation(&new_op("MNO-A", None, None, 1))
            .await
            .expect("c")
            .operation()
            .clone();
        let a = s.get_operation(&op.id).await.expect("a");
        let bb = s.get_operation(&op.id).await.expect("b");
        s.save_step(&op.id, a.version, &step("A", OperationStatus::Runnable, 2))
            .await
            .expect("a wins");
        assert!(matches!(
            s.save_step(&op.id, bb.version, &step("B", OperationStatus::Runnable, 3))
                .await,
            Err(StoreError::VersionMismatch { .. })
        ));
        assert_eq!(
            s.get_operation(&op.id).await.expect("get").state,
            json!({"step": "A"})
        );
        // Concurrent savers with the same base version: exactly one wins.
        let base = s.get_operation(&op.id).await.expect("get").version;
        let mut tasks = Vec::new();
        for i in 0..8 {
            let s = s.clone();
            let id = op.id.clone();
            tasks.push(tokio::spawn(async move {
                s.save_step(
                    &id,
                    base,
                    &step(&format!("w{i}"), OperationStatus::Runnable, 10),
                )
                .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.expect("join") {
                Ok(_) => ok += 1,
                Err(e) => assert!(e.is_conflict(), "unexpected {e}"),
            }
        }
        assert_eq!(ok, 1);
        // The same for the EIS.
        let e = eid(1);
        register(s, &e).await;
        let r1 = s.get_eis(&e).await.expect("r1");
        let mut r2 = r1.clone();
        s.update_eis(&r1).await.expect("first");
        r2.smsr_id = "SMSR-2".into();
        let err = s.update_eis(&r2).await.expect_err("stale");
        assert!(err.is_conflict());
        assert_eq!(s.get_eis(&e).await.expect("get").smsr_id, "SMSR-1");
    }

    pub async fn operation_commands(b: &Backend) {
        let s = &b.store;
        let (e1, e2) = (eid(11), eid(12));
        let (a, other) = (
            OperationId::random().expect("id"),
            OperationId::random().expect("id"),
        );
        let of = |e: &Eid, op: &OperationId, p: &[u8]| NewCommand {
            operation_id: Some(op.clone()),
            ..cmd(e, p, 100, None)
        };
        let a1 = s.enqueue(&of(&e1, &a, b"a1")).await.expect("q");
        let b1 = s.enqueue(&of(&e1, &other, b"b1")).await.expect("q");
        s.enqueue(&cmd(&e1, b"none", 100, None)).await.expect("q");
        let a2 = s.enqueue(&of(&e2, &a, b"a2")).await.expect("q");
        // a1 is sent and answered: still found, with its answer.
        let h = s
            .claim_next(&e1, "w1", t(200), t(1200))
            .await
            .expect("c")
            .expect("head");
        assert_eq!(h.id, a1.id);
        s.ack(a1.id, "w1", Some(b"answer")).await.expect("ack");
        let got = s.operation_commands(&a).await.expect("op");
        assert_eq!(
            got.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![a1.id, a2.id]
        );
        assert_eq!(got[0].status, CommandStatus::Done);
        assert_eq!(got[0].result.as_deref(), Some(&b"answer"[..]));
        assert_eq!(got[1].status, CommandStatus::Pending);
        assert_eq!(
            s.operation_commands(&other)
                .await
                .expect("op")
                .iter()
                .map(|c| c.id)
                .collect::<Vec<_>>(),
            vec![b1.id]
        );
        let unknown = OperationId::random().expect("id");
        assert!(s.operation_commands(&unknown).await.expect("op").is_empty());
    }

    pub async fn queue(b: &Backend) {
        let s = &b.store;
        let (e1, e2) = (eid(1), eid(2));
        let c1 = s.enqueue(&cmd(&e1, b"one", 100, None)).await.expect("q");
        let c2 = s.enqueue(&cmd(&e1, b"two", 100, None)).await.expect("q");
        let c3 = s
            .enqueue(&cmd(&e1, b"three", 100, Some(5000)))
            .await
            .expect("q");
        let d1 = s.enqueue(&cmd(&e2, b"d-one", 100, None)).await.expect("q");
        assert_eq!((c1.seq, c2.seq, c3.seq, d1.seq), (1, 2, 3, 1));
        assert_eq!(c1.status, CommandStatus::Pending);
        assert_eq!(
            s.pending_commands(&e1)
                .await
                .expect("p")
                .iter()
                .map(|c| c.payload.clone())
                .collect::<Vec<_>>(),
            vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
        );
        // Head only, one at a time.
        let h = s
            .claim_next(&e1, "w1", t(200), t(1200))
            .await
            .expect("c")
            .expect("head");
        assert_eq!(
            (h.id, h.attempts, h.status),
            (c1.id, 1, CommandStatus::InFlight)
        );
        assert_eq!(
            s.claim_next(&e1, "w2", t(201), t(1201)).await.expect("c"),
            None
        );
        // "w1" restarts: releasing its command leases makes the head claimable again.
        assert_eq!(s.release_command_leases("w2", t(202)).await.expect("r"), 0);
        assert_eq!(s.release_command_leases("w1", t(202)).await.expect("r"), 1);
        let again = s
            .claim_next(&e1, "w1", t(203), t(1200))
            .await
            .expect("c")
            .expect("head again");
        assert_eq!((again.id, again.attempts), (c1.id, 2));
        assert!(matches!(
            s.ack(c1.id, "w2", None).await,
            Err(StoreError::InvalidState { .. })
        ));
        s.ack(c1.id, "w1", Some(&[0x90, 0x00])).await.expect("ack");
        assert_eq!(
            s.get_command(c1.id).await.expect("get").result.as_deref(),
            Some(&[0x90, 0x00][..]),
            "the answer is kept with the command"
        );
        assert!(matches!(
            s.ack(c1.id, "w1", None).await,
            Err(StoreError::InvalidState { .. })
        ));
        assert_eq!(
            s.get_command(c1.id).await.expect("g").status,
            CommandStatus::Done
        );
        // Retry with back-off: the failed head blocks the queue until not_before.
        let h = s
            .claim_next(&e1, "w1", t(300), t(1300))
            .await
            .expect("c")
            .expect("two");
        assert_eq!(h.id, c2.id);
        let backoff = Backoff {
            base_ms: 1000,
            max_ms: 60_000,
        };
        let nb = backoff.next_attempt(t(300), h.attempts);
        s.retry(c2.id, "w1", nb, "no PoR").await.expect("retry");
        let r = s.get_command(c2.id).await.expect("g");
        assert_eq!(
            (r.status, r.not_before, r.last_error.as_deref()),
            (CommandStatus::Pending, t(1300), Some("no PoR"))
        );
        assert_eq!(
            s.claim_next(&e1, "w1", t(1299), t(2000)).await.expect("c"),
            None,
            "later commands wait"
        );
        let h = s
            .claim_next(&e1, "w1", t(1300), t(2300))
            .await
            .expect("c")
            .expect("retry");
        assert_eq!((h.id, h.attempts), (c2.id, 2));
        // A sender that dies: its lease ends, another takes the same command.
        assert_eq!(
            s.claim_next(&e1, "w9", t(2299), t(3000)).await.expect("c"),
            None
        );
        let h = s
            .claim_next(&e1, "w9", t(2300), t(3300))
            .await
            .expect("c")
            .expect("taken over");
        assert_eq!((h.id, h.attempts), (c2.id, 3));
        assert!(matches!(
            s.ack(c2.id, "w1", None).await,
            Err(StoreError::InvalidState { .. })
        ));
        s.ack(c2.id, "w9", None).await.expect("ack");
        assert_eq!(s.get_command(c2.id).await.expect("get").result, None);
        // ValidityPeriod: not sent after expiry, and expired by expire_due.
        assert_eq!(
            s.claim_next(&e1, "w1", t(5000), t(6000)).await.expect("c"),
            None
        );
        let expired = s.expire_due(t(5000)).await.expect("expire");
        assert_eq!(
            expired.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![c3.id]
        );
        assert_eq!(expired[0].status, CommandStatus::Expired);
        assert!(s.expire_due(t(9000)).await.expect("expire").is_empty());
        assert!(s.pending_commands(&e1).await.expect("p").is_empty());
        // An in-flight command with a live lease is not expired under its sender.
        let c4 = s
            .enqueue(&cmd(&e1, b"four", 6000, Some(7000)))
            .await
            .expect("q");
        assert_eq!(c4.seq, 4);
        s.claim_next(&e1, "w1", t(6000), t(8000))
            .await
            .expect("c")
            .expect("four");
        assert!(s.expire_due(t(7500)).await.expect("e").is_empty());
        assert_eq!(s.expire_due(t(8000)).await.expect("e").len(), 1);
        // fail() on a terminal command is refused; on a pending one it works.
        assert!(matches!(
            s.fail(c4.id, "x").await,
            Err(StoreError::InvalidState { .. })
        ));
        let c5 = s.enqueue(&cmd(&e1, b"five", 9000, None)).await.expect("q");
        s.fail(c5.id, "operation cancelled").await.expect("fail");
        assert_eq!(
            s.get_command(c5.id).await.expect("g").status,
            CommandStatus::Failed
        );
        assert!(matches!(
            s.get_command(424242).await,
            Err(StoreError::NotFound { .. })
        ));

        // claim_ready: one head per eUICC, in not_before order.
        let d2 = s.enqueue(&cmd(&e2, b"d-two", 100, None)).await.expect("q");
        let f1 = s
            .enqueue(&cmd(&eid(3), b"f-one", 50, None))
            .await
            .expect("q");
        let got = s
            .claim_ready("w1", t(10_000), t(20_000), 10)
            .await
            .expect("ready");
        assert_eq!(
            got.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![f1.id, d1.id]
        );
        assert!(
            s.claim_ready("w2", t(10_000), t(20_000), 10)
                .await
                .expect("ready")
                .is_empty()
        );
        s.ack(d1.id, "w1", None).await.expect("ack");
        let got = s
            .claim_ready("w2", t(10_001), t(20_000), 10)
            .await
            .expect("ready");
        assert_eq!(got.iter().map(|c| c.id).collect::<Vec<_>>(), vec![d2.id]);
    }

    pub async fn queue_concurrent_order(b: &Backend) {
        let s = &b.store;
        let eids: Vec<Eid> = (1..=6).map(eid).collect();
        let mut expected = 0;
        for round in 0..5u8 {
            for e in &eids {
                s.enqueue(&cmd(e, &[round], 0, None)).await.expect("q");
                expected += 1;
            }
        }
        let log = Arc::new(std::sync::Mutex::new(Vec::<(Eid, i64, i64)>::new()));
        let mut tasks = Vec::new();
        for w in 0..4 {
            let s = s.clone();
            let log = log.clone();
            tasks.push(tokio::spawn(async move {
                let holder = format!("sender-{w}");
                let mut idle = 0;
                while idle < 20 {
                    let got = s
                        .claim_ready(&holder, t(10), t(1_000_000), 2)
                        .await
                        .expect("claim");
                    if got.is_empty() {
                        idle += 1;
                        tokio::task::yield_now().await;
                        continue;
                    }
                    idle = 0;
                    for c in got {
                        log.lock().expect("log").push((c.eid.clone(), c.seq, c.id));
                        s.ack(c.id, &holder, None).await.expect("ack");
                    }
                }
            }));
        }
        for t in tasks {
            t.await.expect("join");
        }
        let log = log.lock().expect("log").clone();
        assert_eq!(log.len(), expected, "every command sent exactly once");
        let ids: HashSet<_> = log.iter().map(|x| x.2).collect();
        assert_eq!(ids.len(), expected);
        for e in &eids {
            let seqs: Vec<i64> = log.iter().filter(|x| &x.0 == e).map(|x| x.1).collect();
            assert_eq!(seqs, vec![1, 2, 3, 4, 5], "queue order of {e}");
        }
    }

    pub async fn inventory(b: &Backend) {
        let s = &b.store;
        let sl = sealer();
        let mk = |n: u32, ty: &str| InventoryProfile {
            iccid: iccid(n),
            imsi: Some(Imsi::parse(&format!("0010100000{n:05}")).expect("imsi")),
            profile_type: ty.into(),
            owner: "MNO-A".into(),
            template: Some("tpl".into()),
            secrets: sl
                .seal(
                    &n.to_be_bytes(),
                    format!("inventory/{}", iccid(n)).as_bytes(),
                )
                .expect("seal"),
            state: InventoryState::Available,
            eid: None,
            imported_at: t(1),
            updated_at: t(1),
        };
        let batch: Vec<_> = (0..50).map(|n| mk(n, "iot")).collect();
        assert_eq!(s.import_profiles(&batch).await.expect("import"), 50);
        s.import_profiles(&[mk(100, "other")])
            .await
            .expect("import");
        // Overlapping import: refused as a whole.
        let overlap: Vec<_> = (45..55).map(|n| mk(n, "iot")).collect();
        assert!(matches!(
            s.import_profiles(&overlap).await,
            Err(StoreError::Duplicate { .. })
        ));
        assert!(matches!(
            s.get_inventory(&iccid(52)).await,
            Err(StoreError::NotFound { .. })
        ));
        let mut not_avail = mk(60, "iot");
        not_avail.state = InventoryState::Installed;
        assert!(s.import_profiles(&[not_avail]).await.is_err());
        assert_eq!(s.count_available("MNO-A", "iot").await.expect("count"), 50);

        // 8 concurrent allocators drain the range: no ICCID twice.
        let mut tasks = Vec::new();
        for w in 0..8u32 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    match s.allocate_by_type("MNO-A", "iot", &eid(w + 1), t(10)).await {
                        Ok(p) => {
                            assert_eq!(p.state, InventoryState::Allocated);
                            assert_eq!(p.eid, Some(eid(w + 1)));
                            mine.push(p.iccid);
                        }
                        Err(StoreError::Exhausted(_)) => break,
                        Err(e) => panic!("allocate: {e}"),
                    }
                }
                mine
            }));
        }
        let mut seen = BTreeSet::new();
        for t in tasks {
            for ic in t.await.expect("join") {
                assert!(seen.insert(ic.clone()), "ICCID {ic} issued twice");
            }
        }
        assert_eq!(seen.len(), 50);
        assert_eq!(s.count_available("MNO-A", "iot").await.expect("count"), 0);
        // Each allocator's Profiles are found by its EID, sorted; none of another eUICC.
        let mut found = BTreeSet::new();
        for w in 0..8u32 {
            let mine = s.allocated_to(&eid(w + 1)).await.expect("allocated_to");
            assert!(
                mine.windows(2)
                    .all(|p| p[0].iccid.as_str() < p[1].iccid.as_str())
            );
            for p in mine {
                assert_eq!(p.eid, Some(eid(w + 1)));
                assert_eq!(p.state, InventoryState::Allocated);
                assert!(found.insert(p.iccid));
            }
        }
        assert_eq!(found, seen);
        assert!(s.allocated_to(&eid(99)).await.expect("none").is_empty());
        assert!(matches!(
            s.allocate_by_type("MNO-A", "iot", &eid(1), t(11)).await,
            Err(StoreError::Exhausted(_))
        ));
        assert!(matches!(
            s.allocate_by_type("MNO-B", "other", &eid(1), t(11)).await,
            Err(StoreError::Exhausted(_))
        ));
        // By ICCID.
        let o = s
            .allocate_iccid(&iccid(100), &eid(9), t(12))
            .await
            .expect("by iccid");
        assert_eq!(
            (o.state, o.eid.clone()),
            (InventoryState::Allocated, Some(eid(9)))
        );
        assert!(matches!(
            s.allocate_iccid(&iccid(100), &eid(8), t(13)).await,
            Err(StoreError::InvalidState { .. })
        ));
        assert!(matches!(
            s.allocate_iccid(&iccid(999), &eid(8), t(13)).await,
            Err(StoreError::NotFound { .. })
        ));
        assert_eq!(s.allocated_to(&eid(9)).await.expect("allocated").len(), 1);
        // Life cycle, forward only.
        s.mark_installed(&iccid(100), t(14))
            .await
            .expect("installed");
        assert!(s.allocated_to(&eid(9)).await.expect("installed").is_empty());
        assert!(matches!(
            s.mark_installed(&iccid(100), t(15)).await,
            Err(StoreError::InvalidState { .. })
        ));
        s.release(&iccid(100), t(16)).await.expect("release");
        assert!(matches!(
            s.release(&iccid(100), t(17)).await,
            Err(StoreError::InvalidState { .. })
        ));
        let r = s.get_inventory(&iccid(100)).await.expect("get");
        assert_eq!((r.state, r.updated_at), (InventoryState::Released, t(16)));
        // A released ICCID is never issued again, not even by re-import.
        assert!(s.allocate_iccid(&iccid(100), &eid(8), t(18)).await.is_err());
        assert!(matches!(
            s.import_profiles(&[mk(100, "other")]).await,
            Err(StoreError::Duplicate { .. })
        ));
        s.release(&iccid(0), t(19))
            .await
            .expect("release allocated");
    }

    /// The sealed Master Delete token key of an inventory Profile: stored only while the
    /// Profile is allocated or installed, replaced on a second write, erased by `release`,
    /// survives a restart.
    pub async fn token_keys(b: &Backend) {
        let s = &b.store;
        let sl = sealer();
        let mk = |n: u32| InventoryProfile {
            iccid: iccid(n),
            imsi: None,
            profile_type: "tk".into(),
            owner: "MNO-T".into(),
            template: None,
            secrets: sl.seal(&[1, 2, 3], b"inventory").expect("seal"),
            state: InventoryState::Available,
            eid: None,
            imported_at: t(1),
            updated_at: t(1),
        };
        s.import_profiles(&[mk(700), mk(701)])
            .await
            .expect("import");
        let key1 = sl
            .seal(&[0x11; 16], format!("token-key/{}", iccid(700)).as_bytes())
            .expect("seal");
        let key2 = sl
            .seal(&[0x22; 16], format!("token-key/{}", iccid(700)).as_bytes())
            .expect("seal");
        assert!(matches!(
            s.token_key(&iccid(799)).await,
            Err(StoreError::NotFound { .. })
        ));
        assert!(matches!(
            s.put_token_key(&iccid(799), &key1, t(2)).await,
            Err(StoreError::NotFound { .. })
        ));
        // Available: no key may be attached.
        assert!(matches!(
            s.put_token_key(&iccid(700), &key1, t(2)).await,
            Err(StoreError::InvalidState { .. })
        ));
        assert_eq!(s.token_key(&iccid(700)).await.expect("none"), None);
        s.allocate_iccid(&iccid(700), &eid(70), t(3))
            .await
            .expect("alloc");
        s.put_token_key(&iccid(700), &key1, t(4))
            .await
            .expect("put");
        assert_eq!(
            s.token_key(&iccid(700)).await.expect("get"),
            Some(key1.clone())
        );
        s.mark_installed(&iccid(700), t(5))
            .await
            .expect("installed");
        s.put_token_key(&iccid(700), &key2, t(6))
            .await
            .expect("replace");
        assert_eq!(
            s.token_key(&iccid(700)).await.expect("get"),
            Some(key2.clone())
        );
        assert_eq!(s.token_key(&iccid(701)).await.expect("other"), None);
        let plain = sl
            .open(
                &s.token_key(&iccid(700)).await.expect("get").expect("some"),
                format!("token-key/{}", iccid(700)).as_bytes(),
            )
            .expect("open");
        assert_eq!(&plain[..], &[0x22; 16]);
        if let Some(s2) = b.reopen().await {
            assert_eq!(
                s2.token_key(&iccid(700)).await.expect("reopened"),
                Some(key2)
            );
        }
        s.release(&iccid(700), t(7)).await.expect("release");
        assert_eq!(s.token_key(&iccid(700)).await.expect("released"), None);
        assert!(matches!(
            s.put_token_key(&iccid(700), &key1, t(8)).await,
            Err(StoreError::InvalidState { .. })
        ));
    }

    pub async fn audit_and_operators(b: &Backend) {
        let s = &b.store;
        let entry = |n: i64, e: u32, op: &str| AuditEntry {
            id: 0,
            at: t(n),
            eid: Some(eid(e)),
            iccid: Some(iccid(e)),
            isd_p_aid: Some(aid(0x10)),
            operator: Some(op.into()),
            function: "ES4.EnableProfile".into(),
            function_call_id: Some(format!("fc-{n}")),
            status: "Executed-Success".into(),
            detail: json!({"n": n}),
        };
        let mut ids = Vec::new();
        for (n, e, op) in [
            (10, 1, "MNO-A"),
            (20, 2, "MNO-A"),
            (30, 1, "MNO-B"),
            (40, 1, "MNO-A"),
            (50, 3, "MNO-B"),
        ] {
            ids.push(s.append_audit(&entry(n, e, op)).await.expect("append"));
        }
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase");
        let by_eid = s
            .query_audit(&AuditQuery {
                eid: Some(eid(1)),
                ..Default::default()
            })
            .await
            .expect("q");
        assert_eq!(
            by_eid.iter().map(|a| a.at.0).collect::<Vec<_>>(),
            vec![10, 30, 40]
        );
        assert_eq!(
            by_eid[0],
            AuditEntry {
                id: ids[0],
                ..entry(10, 1, "MNO-A")
            }
        );
        let by_op = s
            .query_audit(&AuditQuery {
                operator: Some("MNO-B".into()),
                ..Default::default()
            })
            .await
            .expect("q");
        assert_eq!(
            by_op.iter().map(|a| a.at.0).collect::<Vec<_>>(),
            vec![30, 50]
        );
        let both = s
            .query_audit(&AuditQuery {
                eid: Some(eid(1)),
                operator: Some("MNO-A".into()),
                since: Some(t(20)),
                ..Default::default()
            })
            .await
            .expect("q");
        assert_eq!(both.iter().map(|a| a.at.0).collect::<Vec<_>>(), vec![40]);
        let window = s
            .query_audit(&AuditQuery {
                since: Some(t(20)),
                until: Some(t(50)),
                limit: 2,
                ..Default::default()
            })
            .await
            .expect("q");
        assert_eq!(
            window.iter().map(|a| a.at.0).collect::<Vec<_>>(),
            vec![20, 30]
        );
        let page2 = s
            .query_audit(&AuditQuery {
                after_id: Some(window[1].id),
                until: Some(t(50)),
                ..Default::default()
            })
            .await
            .expect("q");
        assert_eq!(page2.iter().map(|a| a.at.0).collect::<Vec<_>>(), vec![40]);
        let mut bare = entry(60, 1, "x");
        bare.eid = None;
        bare.iccid = None;
        bare.isd_p_aid = None;
        bare.operator = None;
        bare.function_call_id = None;
        let id = s.append_audit(&bare).await.expect("append");
        let all = s.query_audit(&AuditQuery::default()).await.expect("q");
        assert_eq!(all.len(), 6);
        assert_eq!(all[5], AuditEntry { id, ..bare });

        // Operators and hashed tokens.
        let op = OperatorRecord {
            id: "MNO-A".into(),
            name: "Operator A".into(),
            roles: vec!["MNO".into(), "M2M-SP".into()],
            token_hashes: vec![hash_token("token-a-1"), hash_token("token-a-2")],
            created_at: t(1),
        };
        s.put_operator(&op).await.expect("put");
        let mut got = s.get_operator("MNO-A").await.expect("get");
        got.token_hashes.sort();
        let mut want = op.clone();
        want.token_hashes.sort();
        assert_eq!(got, want);
        assert_eq!(
            s.operator_by_token_hash(&hash_token("token-a-2"))
                .await
                .expect("by token")
                .map(|o| o.id),
            Some("MNO-A".to_string())
        );
        assert_eq!(
            s.operator_by_token_hash(&hash_token("wrong"))
                .await
                .expect("by token"),
            None
        );
        let thief = OperatorRecord {
            id: "MNO-X".into(),
            token_hashes: vec![hash_token("token-a-1")],
            ..op.clone()
        };
        assert!(matches!(
            s.put_operator(&thief).await,
            Err(StoreError::Duplicate { .. })
        ));
        // Replacing an operator replaces its tokens.
        let rotated = OperatorRecord {
            token_hashes: vec![hash_token("token-a-3")],
            ..op.clone()
        };
        s.put_operator(&rotated).await.expect("rotate");
        assert_eq!(
            s.operator_by_token_hash(&hash_token("token-a-1"))
                .await
                .expect("q"),
            None
        );
        assert!(
            s.operator_by_token_hash(&hash_token("token-a-3"))
                .await
                .expect("q")
                .is_some()
        );
        assert!(matches!(
            s.get_operator("nobody").await,
            Err(StoreError::NotFound { .. })
        ));
        if let Some(raw) = b.raw_bytes("SELECT * FROM operator_tokens").await {
            assert!(
                !raw.windows(9).any(|w| w == b"token-a-3"),
                "token stored in clear"
            );
        }
    }

    /// A server killed between steps: a new process sees the saved step, the
    /// lease expires and another worker continues; queued commands survive.
    pub async fn restart_recovery(b: &Backend) {
        let s = &b.store;
        let e = eid(1);
        let mut n = new_op("MNO-A", Some("fc-crash"), Some(&e), 1);
        n.lease = Some(Lease {
            holder: "crashed".into(),
            until: t(10_000),
        });
        let op = s
            .create_operation(&n)
            .await
            .expect("create")
            .operation()
            .clone();
        let op = s
            .save_step(
                &op.id,
                op.version,
                &step("SentCreateIsdp", OperationStatus::Runnable, 2),
            )
            .await
            .expect("save");
        let c = s.enqueue(&cmd(&e, b"INSTALL", 2, None)).await.expect("q");
        let Some(s2) = b.reopen().await else {
            // The memory backend does not survive a restart by design.
            return;
        };
        let again = s2.get_operation(&op.id).await.expect("after restart");
        assert_eq!(again, op);
        assert!(
            s2.claim_runnable("new", t(9_999), t(20_000), 10)
                .await
                .expect("c")
                .is_empty()
        );
        let rec = s2.expired_leases(t(10_000), 10).await.expect("expired");
        assert_eq!(
            rec.iter().map(|o| o.id.clone()).collect::<Vec<_>>(),
            vec![op.id.clone()]
        );
        let took = s2
            .claim_runnable("new", t(10_000), t(20_000), 10)
            .await
            .expect("claim");
        assert_eq!(took.len(), 1);
        assert_eq!(took[0].state, json!({"step": "SentCreateIsdp"}));
        // The repeated request finds the same operation.
        let rep = s2
            .create_operation(&new_op("MNO-A", Some("fc-crash"), Some(&e), 3))
            .await
            .expect("c");
        assert!(matches!(rep, CreateOutcome::Existing(ref o) if o.id == op.id));
        assert_eq!(
            s2.pending_commands(&e)
                .await
                .expect("p")
                .iter()
                .map(|x| x.id)
                .collect::<Vec<_>>(),
            vec![c.id]
        );
    }
}

// ---------------------------------------------------------------- runners

macro_rules! conformance {
    ($backend:ident: $($case:ident),+ $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let Some(b) = super::$backend().await else { return };
                    super::cases::$case(&b).await;
                }
            )+
        }
    };
}

macro_rules! all_backends {
    ($($case:ident),+ $(,)?) => {
        conformance!(memory: $($case),+);
        conformance!(sqlite: $($case),+);
        conformance!(postgres: $($case),+);
    };
}

all_backends!(
    eis_crud,
    secrets_sealed,
    counters_concurrent,
    idempotency,
    operation_claims,
    version_conflict,
    queue,
    operation_commands,
    queue_concurrent_order,
    inventory,
    token_keys,
    audit_and_operators,
    restart_recovery,
);

#[tokio::test]
async fn connect_by_url() {
    assert!(esim_store::connect("memory:").await.is_ok());
    let s = esim_store::connect("sqlite::memory:")
        .await
        .expect("sqlite memory");
    register(&s, &eid(1)).await;
    assert_eq!(s.list_eids(None, 10).await.expect("list"), vec![eid(1)]);
    let err = esim_store::connect("mysql://user:pw@h/db")
        .await
        .expect_err("scheme");
    assert!(
        !err.to_string().contains("pw"),
        "no credentials in errors: {err}"
    );
}
