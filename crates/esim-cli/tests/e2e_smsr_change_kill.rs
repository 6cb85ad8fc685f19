//! End-to-end: an SM-SR change (SGP.02 §3.8, digest §3.6; docs/spec-choices.md rows 75, 79)
//! between two real `esim smsr` processes, with SM-SR1 (the lab's, the eUICCs' current SM-SR)
//! or SM-SR2 (a second process with its own store, CERT.SR.ECDSA from the same CI, SMS address
//! `SMSR2`, ES7 links both ways; `Lab::add_second_smsr`) SIGKILLed during the change and
//! restarted on its store.
//!
//! Each run takes a fresh eUICC (bootstrap Profile of mno-a, registered at SM-SR1):
//! `ES4.PrepareSMSRChange` at SM-SR2, then `ES4.SMSRChange` at SM-SR1 by mno-a in the
//! background, then the kill and the restart. When:
//! - `e2e_smsr_change_kill_*`: at a seeded fraction of the kill window after the call, the
//!   victim by a seeded coin. Run 0 kills nothing and measures the window (how long its
//!   uninterrupted `esim mno` call took), so the kills land across the whole change.
//! - `e2e_smsr_change_kill_at_each_step_*`: each step of the change ([`STEPS`]: the four ECKA
//!   relays answered by SM-SR1, SM-SR2's notifications, SM-SR2's HandoverEUICC answer, as
//!   their log lines appear) × each victim, a seeded 0–10 ms after the step.
//!
//! The operator repeats the call with the same FunctionCallIdentifier until it gets a final
//! answer, and after a Failed/Expired one tries again (new PrepareSMSRChange, new call) up to
//! twice, as an operator would. After every final answer: exactly one store holds the EIS,
//! unlocked, and it moved iff the answer is Executed. At the end, the invariant of the issue:
//! exactly one of the two stores holds the EIS (unlocked, naming its holder), the other SM-SR
//! refuses the EID (ES4.GetEIS as ADMIN and as mno-a, ES4.AuditEIS); ES4.AuditEIS through the
//! manager succeeds, its EIS equals the card's GET STATUS and card.json, and the card's ISD-R
//! holds every SCP80/SCP81 keyset the manager has.
//!
//! Knobs: `ESIM_E2E_SEED` (printed; reproduces the schedule), `ESIM_E2E_KILL_RUNS` (timed
//! tests; default 16 on SQLite, 8 on PostgreSQL), `ESIM_E2E_KILL_VICTIM` (`smsr1`, `smsr2`;
//! timed tests; default: seeded coin), `ESIM_E2E_CHANGE_WINDOW_MS` (default: measured by run
//! 0), `ESIM_E2E_KEEP` (keep the lab and its logs). PostgreSQL variants need
//! `ESIM_TEST_PG_URL` (else SKIP). Every run is checked; the violations of all runs are
//! reported together, with the seed.

mod e2e;

use e2e::{Backend, Lab, Proc, Rng, SMSR_ID, SMSR2_ID, SecondSmsr};
use esim_store::{KeysetKind, Store};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn seed() -> u64 {
    std::env::var("ESIM_E2E_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// A final `FunctionExecutionStatus.Status` (the call was answered).
fn is_final(status: &str) -> bool {
    matches!(
        status,
        "Executed-Success" | "Executed-WithWarning" | "Failed" | "Expired"
    )
}

/// Whose log shows a step of the change.
#[derive(Debug, Clone, Copy)]
enum LogOf {
    /// SM-SR1 (`logs/smsr.err`).
    Smsr1,
    /// SM-SR2 (`logs/smsr2.err`).
    Smsr2,
}

/// A step of the change as seen in a log: the `nth` line containing `needle` since the run
/// began (the servers' access-log lines are written once the call was answered).
#[derive(Debug, Clone, Copy)]
struct Step {
    name: &'static str,
    log: LogOf,
    needle: &'static str,
    nth: usize,
}

/// The steps of an SM-SR change, in order (smsr_change.rs module doc): SM-SR1 answered
/// SM-SR2's relays (each one ECKA exchange with the card), SM-SR2 notified (after its commit
/// point, registration and the DELETEs of SM-SR1's keysets), SM-SR2 answered HandoverEUICC
/// (SM-SR1 then deletes its copy).
const STEPS: [Step; 6] = [
    Step {
        name: "SCP80 AuthenticateSMSR relayed",
        log: LogOf::Smsr1,
        needle: "function=ES7.AuthenticateSMSR",
        nth: 1,
    },
    Step {
        name: "SCP80 CreateAdditionalKeySet relayed",
        log: LogOf::Smsr1,
        needle: "function=ES7.CreateAdditionalKeySet",
        nth: 1,
    },
    Step {
        name: "SCP81 AuthenticateSMSR relayed",
        log: LogOf::Smsr1,
        needle: "function=ES7.AuthenticateSMSR",
        nth: 2,
    },
    Step {
        name: "SCP81 CreateAdditionalKeySet relayed (commit point next)",
        log: LogOf::Smsr1,
        needle: "function=ES7.CreateAdditionalKeySet",
        nth: 2,
    },
    Step {
        name: "SM-SR2 sent its change notifications",
        log: LogOf::Smsr2,
        needle: "callback for a party with no endpoint dropped",
        nth: 1,
    },
    Step {
        name: "SM-SR2 answered HandoverEUICC",
        log: LogOf::Smsr2,
        needle: "function=ES7.HandoverEUICC",
        nth: 1,
    },
];

/// When a run kills.
#[derive(Debug, Clone, Copy)]
enum When {
    /// No kill (run 0: measures the window).
    Never,
    /// This long after the `SMSRChange` call started.
    After(Duration),
    /// This long after the step showed in its log.
    AtStep(Step, Duration),
}

/// How a test schedules its kills.
#[derive(Debug, Clone, Copy)]
enum Mode {
    /// A seeded fraction of the measured (or given) window, victim by a seeded coin.
    Timed,
    /// Every step of [`STEPS`] × both victims, a seeded 0–10 ms after the step.
    Steps,
}

/// Length of a file (0 when missing).
fn len_of(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// Waits until `step` showed in its log after `from` (bounded: `false` when the change
/// answered first or after 60 s).
fn wait_step(path: &std::path::Path, from: u64, step: &Step, client: &mut Proc) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read(path).unwrap_or_default();
        let text = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
        if text.matches(step.needle).count() >= step.nth {
            return true;
        }
        let answered = std::fs::read_to_string(&client.stdout)
            .unwrap_or_default()
            .contains("FunctionExecutionStatus");
        if answered || Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(3));
    }
}

/// `Status` with `Subject/Reason` when there is one.
fn answer(status: &str, o: &e2e::Out) -> String {
    match o.subject_reason() {
        Some((s, r)) => format!("{status} {s}/{r}"),
        None => status.to_string(),
    }
}

/// What the two stores say about one EID.
#[derive(Debug)]
struct StoreView {
    /// SM-SR1 holds the EIS (`Some(locked_by)`).
    at1: Option<Option<String>>,
    /// SM-SR2 holds the EIS (`Some(locked_by)`).
    at2: Option<Option<String>>,
    /// `Smsr-id` of the record(s).
    smsr_ids: Vec<String>,
    /// Keysets of the holder(s): `SCP80/01`, `SCP81/40`, …
    keysets: BTreeSet<String>,
}

/// Opens both stores (SQLite files or PostgreSQL schemas) and reads the EIS records.
fn stores(rt: &tokio::runtime::Runtime, url1: &str, url2: &str, eid: &str) -> StoreView {
    rt.block_on(async {
        let eid = esim_codec::Eid::parse(eid).expect("EID");
        let mut view = StoreView {
            at1: None,
            at2: None,
            smsr_ids: vec![],
            keysets: BTreeSet::new(),
        };
        for (i, url) in [url1, url2].into_iter().enumerate() {
            let store: Arc<dyn Store> = esim_store::connect(url)
                .await
                .unwrap_or_else(|e| panic!("opening {url}: {e}"));
            match store.get_eis(&eid).await {
                Ok(rec) => {
                    let lock = rec.locked_by.as_ref().map(|o| o.as_str().to_string());
                    if i == 0 {
                        view.at1 = Some(lock);
                    } else {
                        view.at2 = Some(lock);
                    }
                    view.smsr_ids.push(rec.smsr_id.clone());
                    for k in store.keysets(&eid).await.expect("keysets") {
                        if matches!(k.kind, KeysetKind::Scp80 | KeysetKind::Scp81) {
                            view.keysets.insert(format!("{}/{:02X}", k.kind, k.kvn));
                        }
                    }
                }
                Err(esim_store::StoreError::NotFound { .. }) => {}
                Err(e) => panic!("get_eis at {url}: {e}"),
            }
        }
        view
    })
}

/// The card's ISD-R keysets from card.json (agent stopped): `SCP80/01`, `SCP81/40`, …
fn card_keysets(lab: &Lab, eid: &str) -> BTreeSet<String> {
    let card = esim_device::store::load_card(&lab.path().join("cards").join(eid))
        .unwrap_or_else(|e| panic!("card {eid}: {e}"));
    let mut s: BTreeSet<String> = card
        .scp80_kvns()
        .iter()
        .map(|k| format!("SCP80/{k:02X}"))
        .collect();
    s.extend(
        card.scp81_keysets()
            .iter()
            .map(|k| format!("SCP81/{:02X}", k.kvn)),
    );
    s
}

/// Runs `ES4.SMSRChange` at SM-SR1 with `call_id` until a final answer (bounded).
fn change_until_final(lab: &Lab, ctx: &str, call_id: &str, body: &str) -> (String, e2e::Out) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let o = lab.mno_at(
            &lab.smsr_url(),
            "mno-a",
            Some(call_id),
            &["call", "ES4.SMSRChange", body],
        );
        if let Some(s) = o.status_str().filter(|s| is_final(s)) {
            return (s, o);
        }
        assert!(
            Instant::now() < deadline,
            "{ctx}: no final answer to the repeated SMSRChange:\n{o}\n{}",
            lab.logs()
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn prepare(lab: &Lab, sr2: &SecondSmsr, ctx: &str, eid: &str) {
    let body = json!({"Eid": eid, "CurrentSMSRid": SMSR_ID}).to_string();
    let o = lab.mno_at(
        &sr2.url,
        "mno-a",
        None,
        &["call", "ES4.PrepareSMSRChange", &body],
    );
    assert!(
        o.success(),
        "{ctx}: PrepareSMSRChange at SM-SR2:\n{o}\n{}",
        sr2.tail(30)
    );
}

#[allow(clippy::too_many_lines)]
fn smsr_change_kill(tag: &str, backend: Backend, mode: Mode, default_runs: u64) {
    let seed = seed();
    println!("{tag}: seed {seed} (ESIM_E2E_SEED={seed} reproduces the schedule)");
    let mut rng = Rng::new(seed);
    let runs = match mode {
        Mode::Timed => env_num("ESIM_E2E_KILL_RUNS", default_runs) as usize,
        Mode::Steps => STEPS.len() * 2,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut lab = Lab::new(tag, runs + 1, 0, backend);
    let mut sr2 = lab.add_second_smsr();
    let (url1, url2) = (lab.smsr_store_url(), sr2.store_url.clone());
    let mut summary = Vec::new();
    let mut violations: Vec<String> = Vec::new();
    // Run 0 kills nothing: it measures how long an uninterrupted change takes (the kill window
    // of the other runs, unless ESIM_E2E_CHANGE_WINDOW_MS sets it).
    let mut window = env_num("ESIM_E2E_CHANGE_WINDOW_MS", 0);
    for run in 0..=runs {
        let eid = lab.eids[run].clone();
        let coin = rng.below(2) == 0;
        let frac = rng.below(1001);
        let extra = Duration::from_millis(rng.below(11));
        let (kill, when, at) = match mode {
            _ if run == 0 => (None, When::Never, String::new()),
            Mode::Timed => {
                let d = Duration::from_millis(window * frac / 1000);
                let victim = match std::env::var("ESIM_E2E_KILL_VICTIM").as_deref() {
                    Ok("smsr1") => true,
                    Ok("smsr2") => false,
                    _ => coin,
                };
                (
                    Some(victim),
                    When::After(d),
                    format!(" after {d:?} ({frac}/1000 of {window} ms)"),
                )
            }
            Mode::Steps => {
                let step = STEPS[(run - 1) / 2];
                (
                    Some((run - 1) % 2 == 0),
                    When::AtStep(step, extra),
                    format!(" {extra:?} after step '{}'", step.name),
                )
            }
        };
        let victim = match kill {
            None => "nothing",
            Some(true) => "SM-SR1",
            Some(false) => "SM-SR2",
        };
        let call_id = format!("{seed:016X}{:016X}", run as u64);
        let ctx = format!(
            "{tag} run {run} (seed {seed}): kill {victim}{at}, SMSRChange call {call_id}, eid {eid}"
        );
        println!("{ctx}");
        let t0 = Instant::now();
        let body = json!({"Eid": eid, "Target-Smsr-id": SMSR2_ID}).to_string();

        // 1. PrepareSMSRChange at SM-SR2; 2. SMSRChange at SM-SR1 in the background; the kill.
        prepare(&lab, &sr2, &ctx, &eid);
        let args = lab.mno_args_at(
            &lab.smsr_url(),
            "mno-a",
            Some(&call_id),
            &["call", "ES4.SMSRChange", &body],
        );
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        // Where the logs stand (steps are counted from here; what the restarted victim resumed
        // tells when it was killed).
        let (lab_log1, log2) = (
            lab.path().join("logs/smsr.err"),
            lab.path().join("logs/smsr2.err"),
        );
        let (from1, from2) = (len_of(&lab_log1), len_of(&log2));
        let t_change = Instant::now();
        let mut client = Proc::spawn(lab.path(), &format!("change-{run}"), 0, &args);
        let mut answered_before_kill = false;
        let mut step_reached = None;
        let mut log_from = 0;
        if let Some(kill1) = kill {
            match when {
                When::After(d) => std::thread::sleep(d),
                When::AtStep(step, extra) => {
                    let (path, from) = match step.log {
                        LogOf::Smsr1 => (&lab_log1, from1),
                        LogOf::Smsr2 => (&log2, from2),
                    };
                    step_reached = Some(wait_step(path, from, &step, &mut client));
                    std::thread::sleep(extra);
                }
                When::Never => {}
            }
            answered_before_kill = std::fs::read_to_string(&client.stdout)
                .unwrap_or_default()
                .contains("FunctionExecutionStatus");
            if kill1 {
                if let Some(p) = lab.smsr.as_mut() {
                    p.kill();
                }
                log_from = len_of(&lab_log1);
                lab.restart_smsr();
            } else {
                sr2.kill();
                log_from = len_of(&log2);
                sr2.start();
            }
        }
        let first = client.wait_exit(Duration::from_secs(240));
        if run == 0 && window == 0 {
            window = u64::try_from(t_change.elapsed().as_millis())
                .unwrap_or(u64::MAX)
                .max(100);
            println!("  kill window of the next runs: {window} ms");
        }
        let first_out = std::fs::read_to_string(&client.stdout).unwrap_or_default();
        println!(
            "  first answer ({first:?}{}): {}",
            if answered_before_kill {
                ", before the kill"
            } else {
                ""
            },
            first_out.lines().take(1).collect::<String>()
        );

        // 3. The operator repeats the call until it is answered; after a failure it tries again
        //    (new PrepareSMSRChange, new call), at most twice.
        let (mut status, mut o) = change_until_final(&lab, &ctx, &call_id, &body);
        let mut answers = vec![answer(&status, &o)];
        let mut problems = Vec::new();
        let mut attempt = 0;
        loop {
            let v = stores(&rt, &url1, &url2, &eid);
            if v.at1.is_some() == v.at2.is_some() {
                problems.push(format!(
                    "after answer {status} (attempt {attempt}): EIS at SM-SR1 {:?}, at SM-SR2 {:?}",
                    v.at1, v.at2
                ));
            }
            if v.at1.iter().chain(v.at2.iter()).any(Option::is_some) {
                problems.push(format!(
                    "after answer {status} (attempt {attempt}): the EIS is still locked: {v:?}"
                ));
            }
            let moved = v.at2.is_some() && v.at1.is_none();
            let executed = status.starts_with("Executed");
            if executed != moved {
                problems.push(format!(
                    "answer {status} (attempt {attempt}) but the EIS is at SM-SR1 {:?}, SM-SR2 {:?}:\n    {}",
                    v.at1.is_some(),
                    v.at2.is_some(),
                    o.stdout.trim()
                ));
            }
            if executed || attempt == 2 || !problems.is_empty() {
                break;
            }
            attempt += 1;
            prepare(&lab, &sr2, &ctx, &eid);
            let id = format!("{seed:016X}{:014X}{attempt:02X}", run as u64);
            (status, o) = change_until_final(&lab, &ctx, &id, &body);
            answers.push(answer(&status, &o));
        }
        let fes = o
            .json()
            .pointer("/Header/FunctionExecutionStatus")
            .cloned()
            .unwrap_or_default();
        println!("  answers {answers:?} after {:?}: {fes}", t0.elapsed());
        let resumed = kill.map(|k| {
            let text = std::fs::read(if k { &lab_log1 } else { &log2 }).unwrap_or_default();
            let text = String::from_utf8_lossy(text.get(log_from as usize..).unwrap_or_default());
            text.lines()
                .find(|l| l.contains("resuming the operations"))
                .and_then(|l| l.split("n=").nth(1))
                .map(|n| format!("restart resumed {} operation(s)", n.trim()))
                .unwrap_or_else(|| "restart resumed nothing".to_string())
        });

        // 4. Exactly one manager, both stores agree, and the manager reaches the card.
        let v = stores(&rt, &url1, &url2, &eid);
        let manager = match (&v.at1, &v.at2) {
            (Some(_), None) => Some((lab.smsr_url(), SMSR_ID, sr2.url.clone())),
            (None, Some(_)) => Some((sr2.url.clone(), SMSR2_ID, lab.smsr_url())),
            _ => {
                problems.push(format!(
                    "not exactly one SM-SR holds the EIS: SM-SR1 {:?}, SM-SR2 {:?}",
                    v.at1, v.at2
                ));
                None
            }
        };
        let mut who = "none";
        if let Some((murl, mid, other)) = manager {
            who = if mid == SMSR_ID { "SM-SR1" } else { "SM-SR2" };
            if v.at1.iter().chain(v.at2.iter()).any(Option::is_some) {
                problems.push(format!("the EIS at {who} is still locked: {v:?}"));
            }
            if v.smsr_ids != [mid.to_string()] {
                problems.push(format!("the EIS at {who} names Smsr-id {:?}", v.smsr_ids));
            }
            // The other SM-SR refuses the EID, to an ADMIN (unknown) and to the owner.
            for r in ["admin", "mno-a"] {
                let (o, m) = e2e::eis_at(&lab, &other, r, &eid);
                if m.is_some() {
                    problems.push(format!("GetEIS as {r} at the other SM-SR answered:\n{o}"));
                }
            }
            let a = lab.mno_at(&other, "mno-a", None, &["es4", "audit", "--eid", &eid]);
            if a.success() {
                problems.push(format!("AuditEIS at the other SM-SR succeeded:\n{a}"));
            }
            // AuditEIS through the manager (ES5 with its keys).
            let a = lab.mno_at(&murl, "mno-a", None, &["es4", "audit", "--eid", &eid]);
            if !a.success() {
                problems.push(format!("AuditEIS through the manager {who} failed:\n{a}"));
            }
            // Its EIS equals the card (GET STATUS and card.json, agent stopped); the card
            // holds every keyset the manager has.
            lab.stop_device();
            let (o, eis) = e2e::eis_at(&lab, &murl, "mno-a", &eid);
            let get_status = lab.card_via_get_status(&eid);
            let card = lab.card(&eid);
            match eis {
                None => problems.push(format!("GetEIS at the manager {who} failed:\n{o}")),
                Some(eis) => {
                    if e2e::states(&eis) != get_status {
                        problems.push(format!(
                            "EIS at {who} differs from GET STATUS:\n    EIS  {eis:?}\n    card {get_status:?}"
                        ));
                    }
                    if eis != card {
                        problems.push(format!(
                            "EIS at {who} differs from card.json:\n    EIS  {eis:?}\n    card {card:?}"
                        ));
                    }
                }
            }
            let on_card = card_keysets(&lab, &eid);
            if v.keysets.is_empty() || !v.keysets.is_subset(&on_card) {
                problems.push(format!(
                    "keysets of {who} {:?} not all on the card's ISD-R {on_card:?}",
                    v.keysets
                ));
            }
            println!(
                "  manager {who}: keysets {:?}, card ISD-R {on_card:?}",
                v.keysets
            );
            lab.start_device();
        }
        for p in &problems {
            println!("  VIOLATION: {p}");
        }
        if !problems.is_empty() {
            violations.push(format!(
                "{ctx}: answers {answers:?} {fes}\n  {}",
                problems.join("\n  ")
            ));
        }
        println!("  run done after {:?}", t0.elapsed());
        summary.push(format!(
            "run {run}: kill {victim}{at}{}{}{} -> answers {answers:?}, manager {who}",
            if step_reached == Some(false) {
                " (step not seen)"
            } else {
                ""
            },
            if answered_before_kill {
                " (after the answer)"
            } else {
                ""
            },
            resumed.map(|r| format!(" ({r})")).unwrap_or_default()
        ));
    }
    println!("{tag} (seed {seed}):\n  {}", summary.join("\n  "));
    assert!(
        violations.is_empty(),
        "{} of {runs} runs violated 'exactly one SM-SR manages the card' (ESIM_E2E_SEED={seed} reproduces the schedule):\n{}\n{}\n{}",
        violations.len(),
        violations.join("\n"),
        lab.logs(),
        sr2.tail(40)
    );
}

#[test]
fn e2e_smsr_change_kill_sqlite() {
    smsr_change_kill("chg-kill-sqlite", Backend::Sqlite, Mode::Timed, 16);
}

#[test]
fn e2e_smsr_change_kill_at_each_step_sqlite() {
    smsr_change_kill("chg-step-sqlite", Backend::Sqlite, Mode::Steps, 0);
}

#[test]
fn e2e_smsr_change_kill_postgres() {
    let Some(url) = e2e::pg_url_or_skip("e2e_smsr_change_kill_postgres") else {
        return;
    };
    smsr_change_kill("chg-kill-pg", Backend::Pg(url), Mode::Timed, 8);
}

#[test]
fn e2e_smsr_change_kill_at_each_step_postgres() {
    let Some(url) = e2e::pg_url_or_skip("e2e_smsr_change_kill_at_each_step_postgres") else {
        return;
    };
    smsr_change_kill("chg-step-pg", Backend::Pg(url), Mode::Steps, 0);
}
