//! Shared harness of the end-to-end tests: real `esim` processes (SMSC simulator, SM-SR, SM-DP,
//! device agent) on loopback ports, a temporary directory per lab, every child killed on drop.
//!
//! Included by each `tests/e2e_*.rs` file with `mod e2e;`; not every file uses every helper.
//!
//! Run: `cargo test -p esim-cli --test 'e2e_*'` (set `ESIM_TEST_PG_URL`, e.g.
//! `postgres://root@127.0.0.1:5432/test`, for the PostgreSQL variants: each lab uses two fresh
//! schemas, dropped with `psql` at the end). `ESIM_E2E_KEEP=1` keeps each lab directory (configs,
//! stores, cards, `logs/*.err` of every process). Children are killed when the lab is dropped
//! (also on a test failure); a test binary killed by a signal leaves them running.
//!
//! Ports: four free loopback ports per lab (bound, read, released); the device agent's control
//! endpoint is read from its JSON start line.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The `esim` binary under test.
pub const ESIM: &str = env!("CARGO_BIN_EXE_esim");
/// Identifier of the SM-SR (its operator entry and `[[smdp.smsr]]`).
pub const SMSR_ID: &str = "smsr.esim-rsp.test";
/// Identifier of the SM-DP.
pub const SMDP_ID: &str = "smdp.esim-rsp.test";
/// Generous bound of one command, only against hangs.
const CMD_TIMEOUT: Duration = Duration::from_secs(240);
/// Generous bound of a server start, only against hangs.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The SAIP template used for the bootstrap and the downloaded Profiles.
pub fn template() -> PathBuf {
    esim_vectors::path("saip/TS48V2-SAIP2-3-NOBERTLV-UNIQUE.der")
}

/// `ESIM_TEST_PG_URL`, or `None` after printing the SKIP line.
pub fn pg_url_or_skip(test: &str) -> Option<String> {
    match std::env::var("ESIM_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            println!("SKIP: ESIM_TEST_PG_URL not set ({test})");
            None
        }
    }
}

/// A free loopback port (bound, read, dropped).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local_addr").port()
}

/// A small seeded generator (SplitMix64): reproducible random delays.
#[derive(Debug)]
pub struct Rng(u64);

impl Rng {
    /// From a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The last `n` lines of a file (or a note that it is missing).
pub fn tail(path: &Path, n: usize) -> String {
    match fs::read(path) {
        Ok(b) => {
            let s = String::from_utf8_lossy(&b);
            let lines: Vec<&str> = s.lines().collect();
            let start = lines.len().saturating_sub(n);
            lines[start..].join("\n")
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

/// One long-running child process; SIGKILLed on drop.
#[derive(Debug)]
pub struct Proc {
    /// Name in messages and log file names.
    pub name: String,
    child: Option<Child>,
    /// Standard output of the current generation (the JSON start line).
    pub stdout: PathBuf,
    /// Standard error (all generations appended: the logs).
    pub stderr: PathBuf,
}

impl Proc {
    /// Starts `esim ARGS` in `dir`, output into `dir/logs/NAME.GEN.out` and `dir/logs/NAME.err`.
    pub fn spawn(dir: &Path, name: &str, generation: u32, args: &[&str]) -> Proc {
        Proc::spawn_env(dir, name, generation, args, &[])
    }

    /// [`Proc::spawn`] with extra environment variables.
    pub fn spawn_env(
        dir: &Path,
        name: &str,
        generation: u32,
        args: &[&str],
        env: &[(String, String)],
    ) -> Proc {
        let logs = dir.join("logs");
        fs::create_dir_all(&logs).expect("logs dir");
        let stdout = logs.join(format!("{name}.{generation}.out"));
        let stderr = logs.join(format!("{name}.err"));
        let out = File::create(&stdout).expect("stdout file");
        let err = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr)
            .expect("stderr file");
        let child = Command::new(ESIM)
            .args(args)
            .current_dir(dir)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        Proc {
            name: name.to_string(),
            child: Some(child),
            stdout,
            stderr,
        }
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits for the first JSON value on standard output (the listen addresses).
    pub fn wait_json(&mut self) -> Value {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let text = fs::read_to_string(&self.stdout).unwrap_or_default();
            if let Some(Ok(v)) = serde_json::Deserializer::from_str(&text)
                .into_iter::<Value>()
                .next()
            {
                return v;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!(
                    "{} exited ({st}) before printing its addresses:\n{}",
                    self.name,
                    self.tail(40)
                );
            }
            if Instant::now() > deadline {
                panic!("{} printed no addresses:\n{}", self.name, self.tail(40));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits (bounded) for the process to exit; SIGKILL at the bound (`None`).
    pub fn wait_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let c = self.child.as_mut()?;
        let deadline = Instant::now() + bound;
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                self.child = None;
                return Some(st);
            }
            if Instant::now() > deadline {
                self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, wait (bounded) for a clean exit, SIGKILL otherwise.
    pub fn terminate(&mut self) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                return c.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines of the logs.
    pub fn tail(&self, n: usize) -> String {
        format!(
            "--- {} stdout:\n{}\n--- {} stderr:\n{}",
            self.name,
            tail(&self.stdout, 10),
            self.name,
            tail(&self.stderr, n)
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The outcome of one `esim` command.
#[derive(Debug)]
pub struct Out {
    /// Exit status (`None`: killed at the timeout).
    pub status: Option<ExitStatus>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Exited with 0.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }
    /// The JSON printed on standard output (`Null` when none).
    pub fn json(&self) -> Value {
        serde_json::Deserializer::from_str(&self.stdout)
            .into_iter::<Value>()
            .next()
            .and_then(Result::ok)
            .unwrap_or(Value::Null)
    }
    /// `Header.FunctionExecutionStatus.Status` of an SGP.02 response.
    pub fn status_str(&self) -> Option<String> {
        self.json()
            .pointer("/Header/FunctionExecutionStatus/Status")
            .and_then(Value::as_str)
            .map(str::to_string)
    }
    /// `(Subject, Reason)` of a Failed response.
    pub fn subject_reason(&self) -> Option<(String, String)> {
        let j = self.json();
        let d = j.pointer("/Header/FunctionExecutionStatus/StatusCodeData")?;
        Some((
            d.get("Subject")?.as_str()?.to_string(),
            d.get("Reason")?.as_str()?.to_string(),
        ))
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `esim ARGS` in `dir` to completion (bounded by a generous timeout).
pub fn run_in(dir: &Path, args: &[&str]) -> Out {
    run_in_env(dir, args, &[])
}

/// [`run_in`] with extra environment variables.
pub fn run_in_env(dir: &Path, args: &[&str], env: &[(String, String)]) -> Out {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).expect("logs dir");
    let o = logs.join(format!("cmd-{n}.out"));
    let e = logs.join(format!("cmd-{n}.err"));
    let mut child = Command::new(ESIM)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(File::create(&o).expect("out"))
        .stderr(File::create(&e).expect("err"))
        .spawn()
        .expect("spawn esim");
    let deadline = Instant::now() + CMD_TIMEOUT;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Out {
        status,
        stdout: fs::read_to_string(&o).unwrap_or_default(),
        stderr: fs::read_to_string(&e).unwrap_or_default(),
    }
}

/// Where the stores live.
#[derive(Debug, Clone)]
pub enum Backend {
    /// SQLite files in the lab directory.
    Sqlite,
    /// PostgreSQL at this URL, one fresh schema per server.
    Pg(String),
}

/// Which server an `esim mno` call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// The SM-DP (ES2).
    Dp,
    /// The SM-SR (ES4).
    Sr,
}

/// A life-cycle state in lower case, with the card's `selectable`/`personalized` and the EIS's
/// `in-creation`/`created` (a Profile being downloaded) all named `in-creation`.
pub fn norm_state(s: &str) -> String {
    let s = s.to_lowercase();
    match s.as_str() {
        "selectable" | "personalized" | "created" | "in-creation" => "in-creation".to_string(),
        _ => s,
    }
}

/// The state of one Profile (ISD-P), keyed by ISD-P AID in the maps below. The ICCID of a
/// Profile in creation is left empty (the card learns it only at the end of the download).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileView {
    /// ICCID (empty when the card has none yet).
    pub iccid: String,
    /// Life-cycle state, lower case (`enabled`, `disabled`, …).
    pub state: String,
    /// Fall-back attribute.
    pub fallback: bool,
}

/// A whole platform on loopback: SMSC simulator, SM-SR, SM-DP, device agent with N cards.
#[derive(Debug)]
pub struct Lab {
    /// The lab directory (kept when `ESIM_E2E_KEEP` is set).
    dir: Option<tempfile::TempDir>,
    root: PathBuf,
    /// The eUICCs, in order (their cards are `cards/EID`).
    pub eids: Vec<String>,
    /// SMSC port.
    pub smsc_port: u16,
    /// SM-SR JSON API port.
    pub sr_port: u16,
    /// SM-DP JSON API port.
    pub dp_port: u16,
    /// SMSC simulator.
    pub smsc: Option<Proc>,
    /// SM-SR (`esim smsr`).
    pub smsr: Option<Proc>,
    /// SM-DP (`esim smdp`).
    pub smdp: Option<Proc>,
    /// Device agent.
    pub device: Option<Proc>,
    /// Its control endpoint.
    pub control: String,
    generation: u32,
    schemas: Vec<String>,
    pg: Option<String>,
    env: Vec<(String, String)>,
}

/// How a [`Lab`] runs its servers.
#[derive(Debug, Clone, Default)]
pub struct LabOptions {
    /// One `esim serve` process (kept in [`Lab::smsr`]) instead of `esim smsr` + `esim smdp`.
    pub serve: bool,
    /// Environment of every `esim` command and process (e.g. `ESIM__STORE__SMSR` overrides).
    pub env: Vec<(String, String)>,
}

impl Lab {
    /// Builds the PKI, N eUICCs with a bootstrap Profile (owner mno-a, PLMN 00101), registers
    /// them at the SM-SR, fills the SM-DP inventory with `profiles` Profiles of type `demo-b`
    /// (owner mno-b, PLMN 00102), then starts every process.
    pub fn new(tag: &str, euiccs: usize, profiles: usize, backend: Backend) -> Lab {
        Lab::with(tag, euiccs, profiles, backend, LabOptions::default())
    }

    /// [`Lab::new`] with options.
    pub fn with(
        tag: &str,
        euiccs: usize,
        profiles: usize,
        backend: Backend,
        options: LabOptions,
    ) -> Lab {
        let dir = tempfile::Builder::new()
            .prefix(&format!("esim-e2e-{tag}-"))
            .tempdir()
            .expect("tempdir");
        let d = dir.path();
        // Below the ephemeral range: a server killed and restarted gets its port back.
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 4 {
            let p = free_port_outside_ephemeral();
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        let (smsc_port, sr_port, scp81_port, dp_port) = (ports[0], ports[1], ports[2], ports[3]);
        let unique = format!(
            "e2e_{}_{}_{}",
            tag.replace('-', "_"),
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|t| t.as_micros() % 1_000_000_000)
                .unwrap_or(0)
        );
        let (smsr_store, smdp_store, schemas, pg) = match &backend {
            Backend::Sqlite => (
                "sqlite:smsr.db".to_string(),
                "sqlite:smdp.db".to_string(),
                vec![],
                None,
            ),
            Backend::Pg(url) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                let a = format!("{unique}_smsr");
                let b = format!("{unique}_smdp");
                (
                    format!("{url}{sep}schema={a}"),
                    format!("{url}{sep}schema={b}"),
                    vec![a, b],
                    Some(url.clone()),
                )
            }
        };
        let config = format!(
            r#"pki = "pki"
[store]
smsr = "{smsr_store}"
smdp = "{smdp_store}"
master_key = "000102030405060708090A0B0C0D0E0F"
[smsr]
api_listen = "127.0.0.1:{sr_port}"
scp81_listen = "127.0.0.1:{scp81_port}"
[[smsr.smdp]]
id = "{SMDP_ID}"
url = "http://127.0.0.1:{dp_port}"
token = "sr-token"
[smsr.smsc]
address = "127.0.0.1:{smsc_port}"
[smdp]
api_listen = "127.0.0.1:{dp_port}"
[[smdp.smsr]]
id = "{SMSR_ID}"
url = "http://127.0.0.1:{sr_port}"
token = "dp-token"
[[operators]]
id = "{SMDP_ID}"
roles = ["SM-DP"]
token = "dp-token"
callback_url = "http://127.0.0.1:{dp_port}"
callback_token = "sr-token"
[[operators]]
id = "{SMSR_ID}"
roles = ["SM-SR"]
token = "sr-token"
[[operators]]
id = "mno-a"
roles = ["MNO"]
token = "mno-a-token"
[[operators]]
id = "mno-b"
roles = ["MNO"]
token = "mno-b-token"
[[operators]]
id = "mno-c"
roles = ["MNO"]
token = "mno-c-token"
"#
        );
        fs::write(d.join("esim.toml"), config).expect("esim.toml");
        fs::write(
            d.join("device.toml"),
            format!(
                "cards_dir = \"cards\"\n[smsc]\naddress = \"127.0.0.1:{smsc_port}\"\n\
                 [network]\nreachable = [\"00101\", \"00102\"]\n"
            ),
        )
        .expect("device.toml");
        let mut lab = Lab {
            root: d.to_path_buf(),
            dir: Some(dir),
            eids: vec![],
            smsc_port,
            sr_port,
            dp_port,
            smsc: None,
            smsr: None,
            smdp: None,
            device: None,
            control: String::new(),
            generation: 0,
            env: options.env.clone(),
            schemas,
            pg,
        };
        lab.must(&["pki", "init", "--out", "pki"]);
        let n = euiccs.to_string();
        let issued = lab.must(&[
            "--json", "pki", "euicc", "--eum", "pki/eum", "--out", "euiccs", "--count", &n,
        ]);
        let eids: Vec<String> = issued.json()["issued"]
            .as_array()
            .expect("issued EIDs")
            .iter()
            .map(|v| v.as_str().expect("EID").to_string())
            .collect();
        assert_eq!(eids.len(), euiccs, "issued: {issued}");
        let tpl = template();
        let tpl = tpl.to_str().expect("template path");
        for (i, eid) in eids.iter().enumerate() {
            let iccid = format!("89001010000000{i:04}");
            let imsi = format!("0010100000{i:05}");
            let msisdn = format!("447700{i:05}");
            let pki = format!("euiccs/{eid}");
            let card = format!("cards/{eid}");
            lab.must(&[
                "device",
                "init",
                "--pki",
                &pki,
                "--card",
                &card,
                "--bootstrap",
                tpl,
                "--iccid",
                &iccid,
                "--imsi",
                &imsi,
                "--msisdn",
                &msisdn,
            ]);
            lab.must(&[
                "smsr",
                "register",
                "-c",
                "esim.toml",
                "--euicc",
                &pki,
                "--msisdn",
                &msisdn,
                "--card",
                &card,
            ]);
        }
        lab.eids = eids;
        if profiles > 0 {
            let count = profiles.to_string();
            lab.must(&[
                "smdp",
                "generate",
                "-c",
                "esim.toml",
                "--owner",
                "mno-b",
                "--type",
                "demo-b",
                "--template",
                tpl,
                "--iccid-start",
                "890010200000000000",
                "--imsi-start",
                "001020000000001",
                "--count",
                &count,
            ]);
        }
        lab.start_smsc();
        if options.serve {
            lab.start_serve();
        } else {
            lab.start_smsr();
            lab.start_smdp();
        }
        lab.start_device();
        lab
    }

    /// The lab directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Runs `esim ARGS` in the lab directory.
    pub fn run(&self, args: &[&str]) -> Out {
        run_in_env(self.path(), args, &self.env)
    }

    /// Runs `esim ARGS` and requires exit status 0.
    pub fn must(&self, args: &[&str]) -> Out {
        let o = self.run(args);
        assert!(o.success(), "esim {args:?} failed:\n{o}");
        o
    }

    fn next_gen(&mut self) -> u32 {
        self.generation += 1;
        self.generation
    }

    /// Starts the SMSC simulator.
    pub fn start_smsc(&mut self) {
        let g = self.next_gen();
        let listen = format!("127.0.0.1:{}", self.smsc_port);
        let mut p = Proc::spawn_env(
            self.path(),
            "smsc",
            g,
            &[
                "--json",
                "smsc",
                "--listen",
                &listen,
                "--route",
                "SMSR=smsr",
            ],
            &self.env,
        );
        p.wait_json();
        self.smsc = Some(p);
    }

    /// Starts (or restarts) the SM-SR.
    pub fn start_smsr(&mut self) {
        let g = self.next_gen();
        let mut p = Proc::spawn_env(
            self.path(),
            "smsr",
            g,
            &["--json", "smsr", "-c", "esim.toml"],
            &self.env,
        );
        p.wait_json();
        self.smsr = Some(p);
    }

    /// Starts `esim serve` (SM-SR and SM-DP in one process), kept in [`Lab::smsr`]; waits for
    /// both of its JSON start lines.
    pub fn start_serve(&mut self) {
        let g = self.next_gen();
        let mut p = Proc::spawn_env(
            self.path(),
            "serve",
            g,
            &["--json", "serve", "-c", "esim.toml"],
            &self.env,
        );
        p.wait_json();
        let deadline = Instant::now() + START_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", self.dp_port)).is_err() {
            assert!(Instant::now() < deadline, "serve: no SM-DP\n{}", p.tail(40));
            std::thread::sleep(Duration::from_millis(50));
        }
        self.smsr = Some(p);
    }

    /// Starts (or restarts) the SM-DP.
    pub fn start_smdp(&mut self) {
        let g = self.next_gen();
        let mut p = Proc::spawn_env(
            self.path(),
            "smdp",
            g,
            &["--json", "smdp", "-c", "esim.toml"],
            &self.env,
        );
        p.wait_json();
        self.smdp = Some(p);
    }

    /// Starts (or restarts) the device agent and records its control endpoint.
    pub fn start_device(&mut self) {
        let g = self.next_gen();
        let mut p = Proc::spawn_env(
            self.path(),
            "device",
            g,
            &[
                "--json",
                "device",
                "run",
                "--config",
                "device.toml",
                "--control",
                "127.0.0.1:0",
            ],
            &self.env,
        );
        let v = p.wait_json();
        self.control = v["control"]
            .as_str()
            .unwrap_or_else(|| panic!("device control address in {v}"))
            .to_string();
        self.device = Some(p);
    }

    /// Stops the device agent cleanly (SIGTERM): its cards are saved.
    pub fn stop_device(&mut self) {
        if let Some(mut p) = self.device.take() {
            p.terminate();
        }
    }

    /// The tails of every process log, for failure messages.
    pub fn logs(&self) -> String {
        let mut s = format!("lab directory: {}\n", self.path().display());
        for p in [&self.smsc, &self.smsr, &self.smdp, &self.device]
            .into_iter()
            .flatten()
        {
            s.push_str(&p.tail(25));
            s.push('\n');
        }
        s
    }

    /// `esim --json mno --url SERVER --token … --requester R [--call-id ID] ARGS`.
    pub fn mno(
        &self,
        server: Server,
        requester: &str,
        call_id: Option<&str>,
        args: &[&str],
    ) -> Out {
        let a = self.mno_args(server, requester, call_id, args);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        self.run(&a)
    }

    /// The arguments of an `esim mno` call (see [`Lab::mno`]).
    pub fn mno_args(
        &self,
        server: Server,
        requester: &str,
        call_id: Option<&str>,
        args: &[&str],
    ) -> Vec<String> {
        let url = match server {
            Server::Dp => format!("http://127.0.0.1:{}", self.dp_port),
            Server::Sr => format!("http://127.0.0.1:{}", self.sr_port),
        };
        let mut a: Vec<String> = vec![
            "--json".into(),
            "mno".into(),
            "--url".into(),
            url,
            "--token".into(),
            format!("{requester}-token"),
            "--requester".into(),
            requester.into(),
            "--wait".into(),
            "180".into(),
        ];
        if let Some(id) = call_id {
            a.extend(["--call-id".to_string(), id.to_string()]);
        }
        a.extend(args.iter().map(|s| s.to_string()));
        a
    }

    /// ES2.DownloadProfile of a `demo-b` Profile for mno-b; returns its ICCID.
    pub fn download(&self, eid: &str, enable: bool) -> String {
        let mut args = vec![
            "download",
            "--eid",
            eid,
            "--smsr-id",
            SMSR_ID,
            "--profile-type",
            "demo-b",
        ];
        if enable {
            args.push("--enable");
        }
        let o = self.mno(Server::Dp, "mno-b", None, &args);
        assert!(
            o.success(),
            "DownloadProfile on {eid}:\n{o}\n{}",
            self.logs()
        );
        o.json()
            .pointer("/Body/Iccid")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no Body.Iccid in {o}"))
            .to_string()
    }

    /// ES4.GetEIS as `requester`: the Profiles it may see, by ISD-P AID (`None`: Failed).
    pub fn eis_as(
        &self,
        requester: &str,
        eid: &str,
    ) -> (Out, Option<BTreeMap<String, ProfileView>>) {
        let o = self.mno(
            Server::Sr,
            requester,
            None,
            &["es4", "get-eis", "--eid", eid],
        );
        if !o.success() {
            return (o, None);
        }
        let j = o.json();
        let mut m = BTreeMap::new();
        for p in j
            .pointer("/Body/Eis/ProfileInfo")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let aid = p["Isd-p-aid"].as_str().unwrap_or_default().to_uppercase();
            m.insert(
                aid,
                ProfileView {
                    iccid: if norm_state(p["State"].as_str().unwrap_or_default()) == "in-creation" {
                        String::new()
                    } else {
                        p["Iccid"].as_str().unwrap_or_default().to_string()
                    },
                    state: norm_state(p["State"].as_str().unwrap_or_default()),
                    fallback: p["FallbackAttribute"].as_bool().unwrap_or(false),
                },
            );
        }
        (o, Some(m))
    }

    /// The EIS as the union of what mno-a (bootstrap owner) and mno-b see.
    pub fn eis(&self, eid: &str) -> BTreeMap<String, ProfileView> {
        let mut all = BTreeMap::new();
        for r in ["mno-a", "mno-b"] {
            let (o, m) = self.eis_as(r, eid);
            match m {
                Some(m) => all.extend(m),
                None => {
                    // An operator without any Profile on the eUICC is refused (1.2).
                    let sr = o.subject_reason();
                    assert!(
                        sr.as_ref().is_some_and(|(_, r)| r == "1.2"),
                        "GetEIS as {r} on {eid}:\n{o}\n{}",
                        self.logs()
                    );
                }
            }
        }
        all
    }

    /// The card's Profiles (from its card.json), by ISD-P AID.
    pub fn card(&self, eid: &str) -> BTreeMap<String, ProfileView> {
        let path = self.path().join("cards").join(eid).join("card.json");
        let deadline = Instant::now() + Duration::from_secs(10);
        let v: Value = loop {
            // The agent may be writing it; retry a torn read.
            match fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
            {
                Some(v) => break v,
                None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                None => panic!("cannot read {}", path.display()),
            }
        };
        let mut m = BTreeMap::new();
        for p in v
            .pointer("/registry/isdps")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            m.insert(
                p["aid"].as_str().unwrap_or_default().to_uppercase(),
                ProfileView {
                    iccid: if norm_state(p["state"].as_str().unwrap_or_default()) == "in-creation" {
                        String::new()
                    } else {
                        p["iccid"].as_str().unwrap_or_default().to_string()
                    },
                    state: norm_state(p["state"].as_str().unwrap_or_default()),
                    fallback: p["fallback"].as_bool().unwrap_or(false),
                },
            );
        }
        m
    }

    /// Polls (bounded) until the EIS equals the card; returns the last pair.
    pub fn wait_eis_equals_card(
        &self,
        eid: &str,
        bound: Duration,
    ) -> (BTreeMap<String, ProfileView>, BTreeMap<String, ProfileView>) {
        let deadline = Instant::now() + bound;
        loop {
            let eis = self.eis(eid);
            let card = self.card(eid);
            if eis == card || Instant::now() > deadline {
                return (eis, card);
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Hex C-APDUs on the contact interface of a card (the agent must be stopped).
    pub fn apdu(&self, eid: &str, apdus: &[&str]) -> Vec<(String, String)> {
        let card = format!("cards/{eid}");
        let mut args = vec!["--json", "device", "apdu", "--card", &card];
        args.extend(apdus);
        let o = self.must(&args);
        o.json()
            .as_array()
            .expect("exchanges")
            .iter()
            .map(|e| {
                (
                    e["response"].as_str().unwrap_or_default().to_string(),
                    e["sw"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in [
            &mut self.device,
            &mut self.smdp,
            &mut self.smsr,
            &mut self.smsc,
        ] {
            if let Some(mut p) = p.take() {
                p.kill();
            }
        }
        if let Some(url) = &self.pg {
            let base = url.split('?').next().unwrap_or(url);
            for s in &self.schemas {
                let _ = Command::new("psql")
                    .args([
                        base,
                        "-q",
                        "-c",
                        &format!("DROP SCHEMA IF EXISTS {s} CASCADE"),
                    ])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
        if std::env::var_os("ESIM_E2E_KEEP").is_some()
            && let Some(d) = self.dir.take()
        {
            println!("kept lab directory {}", d.keep().display());
        }
    }
}

/// ISD-R AID (SELECT on the contact interface).
pub const ISD_R: &str = "A0000005591010FFFFFFFF8900000100";

/// `SELECT ISD-R`.
pub fn select_isd_r() -> String {
    format!("00A4040010{ISD_R}")
}

/// STORE DATA of an ES5 command `TAG {4F AID}` to the ISD-R (e.g. `3A03` enable, `3A05`
/// set fall-back attribute).
pub fn store_data_aid(tag: &str, aid: &str) -> String {
    format!("80E28800153A{tag}124F10{aid}")
}

/// Splits BER-TLV data into `(tag, value)` pairs (one level; test helper, panics on bad data).
pub fn tlvs(mut data: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (tag, rest) = if data[0] & 0x1F == 0x1F {
            (u16::from_be_bytes([data[0], data[1]]), &data[2..])
        } else {
            (u16::from(data[0]), &data[1..])
        };
        let (len, rest) = match rest[0] {
            0x81 => (usize::from(rest[1]), &rest[2..]),
            0x82 => (
                usize::from(u16::from_be_bytes([rest[1], rest[2]])),
                &rest[3..],
            ),
            l => (usize::from(l), &rest[1..]),
        };
        out.push((tag, rest[..len].to_vec()));
        data = &rest[len..];
    }
    out
}

impl Lab {
    /// The card's ISD-Ps as it answers GET STATUS (ISD-R, P1 `40`) on the contact interface
    /// (`esim device apdu`; the agent must be stopped): ISD-P AID → normalized state.
    pub fn card_via_get_status(&self, eid: &str) -> BTreeMap<String, String> {
        let r = self.apdu(eid, &[&select_isd_r(), "80F24002024F0000"]);
        let (data, sw) = &r[1];
        assert_eq!(sw, "9000", "GET STATUS on {eid}: {r:?}");
        let bytes = hex::decode(data).expect("hex");
        let mut m = BTreeMap::new();
        for (tag, value) in tlvs(&bytes) {
            assert_eq!(tag, 0xE3, "GET STATUS entry tag");
            let inner = tlvs(&value);
            let aid = inner
                .iter()
                .find(|(t, _)| *t == 0x4F)
                .map(|(_, v)| hex::encode_upper(v))
                .expect("4F");
            let state = match inner.iter().find(|(t, _)| *t == 0x9F70).map(|(_, v)| v[0]) {
                Some(0x07) => "selectable",
                Some(0x0F) => "personalized",
                Some(0x1F) => "disabled",
                Some(0x3F) => "enabled",
                other => panic!("life cycle {other:?}"),
            };
            m.insert(aid, norm_state(state));
        }
        m
    }
}

/// AID → state of a Profile map (to compare with [`Lab::card_via_get_status`]).
pub fn states(m: &BTreeMap<String, ProfileView>) -> BTreeMap<String, String> {
    m.iter()
        .map(|(a, p)| (a.clone(), p.state.clone()))
        .collect()
}

/// Identifier of the second SM-SR of [`Lab::add_second_smsr`] (SM-SR change tests).
pub const SMSR2_ID: &str = "smsr2.esim-rsp.test";
/// Its SMS address (source of its MT SMS; the card's PoRs come back to it).
pub const SMSR2_SMS_ADDRESS: &str = "SMSR2";

/// A free loopback port below the kernel's ephemeral range (`ip_local_port_range`), so that
/// no outgoing connection (of any process) can take it as its source port while the server
/// that listens on it is down between a SIGKILL and its restart. Falls back to [`free_port`].
pub fn free_port_outside_ephemeral() -> u16 {
    let low = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if low <= 12_000 {
        return free_port();
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut rng = Rng::new(t ^ u64::from(std::process::id()));
    let span = u64::from(low - 1 - 10_000);
    for _ in 0..200 {
        let port = 10_000 + u16::try_from(rng.below(span)).unwrap_or(0);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    free_port()
}

/// Whether a start failed because its listen address was taken (see
/// [`free_port_outside_ephemeral`]): the log says so.
fn address_in_use(log: &str) -> bool {
    log.contains("Address already in use") || log.contains("os error 98")
}

/// Copies a directory tree (test helper, panics on I/O errors).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for entry in fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())) {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
}

/// A second `esim smsr` process beside the lab's (SM-SR change, SGP.02 §3.8): its own
/// configuration (`smsr2.toml`), store (`smsr2.db` or its own PostgreSQL schema), PKI copy
/// (`pki2/`, with its own CERT.SR.ECDSA and key issued by the lab's CI), API and SCP81 ports,
/// SMPP account `smsr2` with SMS address [`SMSR2_SMS_ADDRESS`], and ES7 links both ways with
/// the lab's SM-SR. Killed on drop.
#[derive(Debug)]
pub struct SecondSmsr {
    /// Its identifier ([`SMSR2_ID`]).
    pub id: String,
    /// Its JSON API URL.
    pub url: String,
    /// Its store URL, as a process outside the lab directory opens it.
    pub store_url: String,
    /// The running process.
    pub proc: Option<Proc>,
    dir: PathBuf,
    generation: u32,
}

impl SecondSmsr {
    /// Starts (or restarts) it on its store; waits for its JSON start line.
    pub fn start(&mut self) {
        self.generation += 1;
        let mut p = Proc::spawn(
            &self.dir,
            "smsr2",
            self.generation,
            &["--json", "smsr", "-c", "smsr2.toml"],
        );
        p.wait_json();
        self.proc = Some(p);
    }

    /// SIGKILL (no clean shutdown).
    pub fn kill(&mut self) {
        if let Some(p) = self.proc.as_mut() {
            p.kill();
        }
    }

    /// The last lines of its logs.
    pub fn tail(&self, n: usize) -> String {
        self.proc.as_ref().map(|p| p.tail(n)).unwrap_or_else(|| {
            format!(
                "--- smsr2 stderr:\n{}",
                tail(&self.dir.join("logs/smsr2.err"), n)
            )
        })
    }
}

impl Proc {
    /// [`Proc::wait_json`] that returns the logs instead of panicking when the process exits
    /// before printing its addresses.
    pub fn try_wait_json(&mut self) -> Result<Value, String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let text = fs::read_to_string(&self.stdout).unwrap_or_default();
            if let Some(Ok(v)) = serde_json::Deserializer::from_str(&text)
                .into_iter::<Value>()
                .next()
            {
                return Ok(v);
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                return Err(format!(
                    "{} exited ({st}) before printing its addresses:\n{}",
                    self.name,
                    self.tail(40)
                ));
            }
            if Instant::now() > deadline {
                panic!("{} printed no addresses:\n{}", self.name, self.tail(40));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Lab {
    /// Restarts the SM-SR after a SIGKILL ([`Lab::start_smsr`]); a start that failed only
    /// because its (ephemeral-range) port was taken meanwhile by some outgoing connection's
    /// source port is tried again (at most 50 times, 200 ms apart). Any other failure panics.
    pub fn restart_smsr(&mut self) {
        for _ in 0..50 {
            let g = self.next_gen();
            let mut p = Proc::spawn_env(
                self.path(),
                "smsr",
                g,
                &["--json", "smsr", "-c", "esim.toml"],
                &self.env,
            );
            match p.try_wait_json() {
                Ok(_) => {
                    self.smsr = Some(p);
                    return;
                }
                Err(e) if address_in_use(&e) => {
                    println!("  (SM-SR restart: its port is taken, trying again)");
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => panic!("{e}"),
            }
        }
        panic!("the SM-SR's port stayed taken\n{}", self.logs());
    }

    /// The lab SM-SR's store URL, as a process outside the lab directory opens it.
    pub fn smsr_store_url(&self) -> String {
        match &self.pg {
            None => format!("sqlite:{}", self.path().join("smsr.db").display()),
            Some(url) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}schema={}", self.schemas[0])
            }
        }
    }

    /// The arguments of an `esim mno` call to the server at `url` (see [`Lab::mno_args`]).
    pub fn mno_args_at(
        &self,
        url: &str,
        requester: &str,
        call_id: Option<&str>,
        args: &[&str],
    ) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "--json".into(),
            "mno".into(),
            "--url".into(),
            url.into(),
            "--token".into(),
            format!("{requester}-token"),
            "--requester".into(),
            requester.into(),
            "--wait".into(),
            "180".into(),
        ];
        if let Some(id) = call_id {
            a.extend(["--call-id".to_string(), id.to_string()]);
        }
        a.extend(args.iter().map(|s| s.to_string()));
        a
    }

    /// `esim --json mno` to the server at `url` (see [`Lab::mno`]).
    pub fn mno_at(&self, url: &str, requester: &str, call_id: Option<&str>, args: &[&str]) -> Out {
        let a = self.mno_args_at(url, requester, call_id, args);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        self.run(&a)
    }

    /// The lab SM-SR's JSON API URL.
    pub fn smsr_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.sr_port)
    }

    /// Adds a second SM-SR ([`SecondSmsr`]) and starts it: writes `pki2/` (the lab's PKI with
    /// a fresh CERT.SR.ECDSA + key for [`SMSR2_ID`] signed by the lab's CI), `smsr2.toml`
    /// (operators mno-a, mno-b, `admin` (ADMIN), the lab SM-SR (role SM-SR, token
    /// `sr1-at-sr2`); peer the lab SM-SR with token `sr2-at-sr1`), and appends to `esim.toml`
    /// the ES7 peer [`SMSR2_ID`], its operator entry and an `admin` operator; then restarts the
    /// lab SM-SR (SIGTERM) so that it reads them.
    pub fn add_second_smsr(&mut self) -> SecondSmsr {
        use esim_crypto::cert::{CertType, Certificate, KEY_USAGE_SIGNATURE_VERIFICATION};
        let d = self.path().to_path_buf();
        let pki2 = d.join("pki2");
        copy_tree(&d.join("pki"), &pki2);
        let read =
            |p: &Path| fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let ci = esim_crypto::pki::CaIdentity {
            id: read(&d.join("pki/ci/id.txt")).trim().to_string(),
            key: esim_crypto::ec::KeyPair::from_pem(&read(&d.join("pki/ci/key.pem")))
                .expect("CI key"),
            cert: esim_crypto::x509::X509Certificate::from_pem(&read(&d.join("pki/ci/cert.pem")))
                .expect("CI certificate"),
        };
        let model = Certificate::decode(&fs::read(d.join("pki/smsr/cert.gp")).expect("cert.gp"))
            .expect("CERT.SR.ECDSA");
        let key = esim_crypto::ec::KeyPair::generate().expect("key pair");
        let cert = esim_crypto::pki::issue_gp_certificate(
            &ci,
            SMSR2_ID.as_bytes(),
            key.public_key(),
            CertType::SmSr,
            &KEY_USAGE_SIGNATURE_VERIFICATION,
            esim_crypto::x509::ValidityDays {
                not_before: model.body().effective_date.expect("effective date"),
                not_after: model.body().expiry_date,
            },
        )
        .expect("issuing CERT.SR.ECDSA of SM-SR2");
        let gp = cert.encode();
        fs::write(pki2.join("smsr/cert.gp"), &gp).expect("cert.gp");
        fs::write(
            pki2.join("smsr/cert.gp.hex"),
            format!("{}\n", hex::encode_upper(&gp)),
        )
        .expect("cert.gp.hex");
        fs::write(
            pki2.join("smsr/key.pem"),
            key.to_pkcs8_pem().expect("key PEM").as_bytes(),
        )
        .expect("key.pem");
        fs::write(pki2.join("smsr/id.txt"), format!("{SMSR2_ID}\n")).expect("id.txt");

        let (port, scp81) = (free_port_outside_ephemeral(), free_port_outside_ephemeral());
        let (store, store_url) = match &self.pg {
            None => (
                "sqlite:smsr2.db".to_string(),
                format!("sqlite:{}", d.join("smsr2.db").display()),
            ),
            Some(url) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                let schema = format!("{}2", self.schemas[0]);
                self.schemas.push(schema.clone());
                let u = format!("{url}{sep}schema={schema}");
                (u.clone(), u)
            }
        };
        let (sr_port, smsc_port) = (self.sr_port, self.smsc_port);
        fs::write(
            d.join("smsr2.toml"),
            format!(
                r#"pki = "pki2"
[store]
smsr = "{store}"
master_key = "000102030405060708090A0B0C0D0E0F"
[smsr]
id = "{SMSR2_ID}"
api_listen = "127.0.0.1:{port}"
scp81_listen = "127.0.0.1:{scp81}"
[[smsr.peers]]
id = "{SMSR_ID}"
url = "http://127.0.0.1:{sr_port}"
token = "sr2-at-sr1"
[smsr.smsc]
address = "127.0.0.1:{smsc_port}"
system_id = "smsr2"
sms_address = "{SMSR2_SMS_ADDRESS}"
[[operators]]
id = "{SMSR_ID}"
roles = ["SM-SR"]
token = "sr1-at-sr2"
[[operators]]
id = "admin"
roles = ["ADMIN"]
token = "admin-token"
[[operators]]
id = "mno-a"
roles = ["MNO"]
token = "mno-a-token"
[[operators]]
id = "mno-b"
roles = ["MNO"]
token = "mno-b-token"
"#
            ),
        )
        .expect("smsr2.toml");
        let mut toml = fs::read_to_string(d.join("esim.toml")).expect("esim.toml");
        toml.push_str(&format!(
            r#"[[smsr.peers]]
id = "{SMSR2_ID}"
url = "http://127.0.0.1:{port}"
token = "sr1-at-sr2"
[[operators]]
id = "{SMSR2_ID}"
roles = ["SM-SR"]
token = "sr2-at-sr1"
[[operators]]
id = "admin"
roles = ["ADMIN"]
token = "admin-token"
"#
        ));
        fs::write(d.join("esim.toml"), toml).expect("esim.toml");
        if let Some(mut p) = self.smsr.take() {
            p.terminate();
        }
        self.start_smsr();
        let mut sr2 = SecondSmsr {
            id: SMSR2_ID.to_string(),
            url: format!("http://127.0.0.1:{port}"),
            store_url,
            proc: None,
            dir: d,
            generation: 0,
        };
        sr2.start();
        sr2
    }
}

/// ES4.GetEIS as `requester` at the SM-SR at `url`: the Profiles it may see, by ISD-P AID
/// (`None`: Failed). Same view as [`Lab::eis_as`].
pub fn eis_at(
    lab: &Lab,
    url: &str,
    requester: &str,
    eid: &str,
) -> (Out, Option<BTreeMap<String, ProfileView>>) {
    let o = lab.mno_at(url, requester, None, &["es4", "get-eis", "--eid", eid]);
    if !o.success() {
        return (o, None);
    }
    let j = o.json();
    let mut m = BTreeMap::new();
    for p in j
        .pointer("/Body/Eis/ProfileInfo")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let state = norm_state(p["State"].as_str().unwrap_or_default());
        m.insert(
            p["Isd-p-aid"].as_str().unwrap_or_default().to_uppercase(),
            ProfileView {
                iccid: if state == "in-creation" {
                    String::new()
                } else {
                    p["Iccid"].as_str().unwrap_or_default().to_string()
                },
                state,
                fallback: p["FallbackAttribute"].as_bool().unwrap_or(false),
            },
        );
    }
    (o, Some(m))
}
