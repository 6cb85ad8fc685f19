//! The eUICC as a whole (SGP.02 §2.2; digest §1.2): ECASD, ISD-R, the ISD-Ps and the OTA layers,
//! driven without I/O.
//!
//! Entry points (each consumes bytes and returns bytes; nothing blocks, nothing reads a clock):
//!
//! | entry point | carries | spec |
//! |---|---|---|
//! | [`Euicc::process_apdu`] | one C-APDU on the contact interface (MANAGE CHANNEL, SELECT, GP commands, ES5 STORE DATA) | ISO 7816-4, GPCS v2.3 |
//! | [`Euicc::sms_pp_download`] | an SCP80 command packet from an MT SMS-PP (UDH `02 70 00`) | TS 102 225, TS 31.115, TS 102 226 |
//! | [`Euicc::admin_script`] | the body of an SCP81 admin session POST answer | GP Amd B, digest §5.3 |
//! | [`Euicc::network_attach`] / [`Euicc::connectivity_lost`] | what the device observed | SGP.02 §3.3, §3.16 |
//! | [`Euicc::poll_action`] | what the card asks the device to do (REFRESH, send a notification, open an admin session) | TS 102 223, digest §3.3 |
//!
//! Every command either completes or returns an error status word with the persistent state
//! unchanged ([`CardState`] is what a real card keeps in non-volatile memory). Volatile state
//! (selected applications, STORE DATA chain, personalization target, a key establishment between
//! its two messages) is not serialized and is lost on reset, as on a real card.

use crate::ecasd::{Ecasd, KeyEstablishment};
use crate::isdp;
use crate::master_delete;
use crate::ota::{self, Refused, Scp80Keyset, Scp81Keyset};
use crate::persist;
use crate::policy::Pol1;
use crate::registry::{self, LifeCycle, Registry, RegistryError};
use esim_apdu::StatusWord;
use esim_apdu::apdu::{CommandApdu, ResponseApdu, cla};
use esim_apdu::etsi102226::{
    CommandItem, CommandScript, CompactResponse, ResponseItem, ResponseScript, ScriptForm,
    decode_compact,
};
use esim_apdu::gp::delete::Delete;
use esim_apdu::gp::get_data::{CardResources, GetData, TAG_CARD_RESOURCES, TAG_SGP02_BF30};
use esim_apdu::gp::install::{CreateIsdp, Install, SCP03_I70};
use esim_apdu::gp::sgp02::{
    self, Es5Command, NotificationConfirmationResponse, TAG_CERTIFICATE, TAG_KEY_ESTABLISHMENT,
};
use esim_apdu::gp::status::{
    GetStatus, PROFILE_PROPERTY_FALLBACK, RegistryEntry, StatusSubset, encode_entries,
};
use esim_apdu::gp::store_data::{AwaitingBlock, Received as BlockReceived};
use esim_apdu::gp::{Privileges, ins, life_cycle};
use esim_codec::ber::{self, Reader, Writer};
use esim_codec::{Aid, Eid, Tar};
use esim_crypto::SecretKey;
use esim_crypto::cert::CertType;
use esim_crypto::ecka::{KEY_TYPE_AES, KEY_TYPE_PSK_TLS};
use esim_crypto::pki::{IssuedEuicc, scp81_psk_identity};
use esim_crypto::scp03::StaticKeys;
use esim_crypto::scp80::{Counter, PorStatus};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Status words used by the card (ISO/IEC 7816-4 Table 6, GPCS v2.3 §11, SGP.02).
mod sw {
    pub const OK: u16 = 0x9000;
    pub const WRONG_LENGTH: u16 = 0x6700;
    pub const CHANNEL_NOT_SUPPORTED: u16 = 0x6881;
    pub const SECURITY: u16 = 0x6982;
    pub const CONDITIONS: u16 = 0x6985;
    pub const INCORRECT_DATA: u16 = 0x6A80;
    pub const FUNCTION_NOT_SUPPORTED: u16 = 0x6A81;
    pub const NOT_FOUND: u16 = 0x6A82;
    pub const MEMORY: u16 = 0x6A84;
    pub const P1P2: u16 = 0x6A86;
    pub const REF_NOT_FOUND: u16 = 0x6A88;
    pub const INS: u16 = 0x6D00;
    pub const CLA: u16 = 0x6E00;
}

/// Largest STORE DATA chain the ISD-R buffers (bytes).
const MAX_CHAIN: usize = 4096;
/// Logical channels (ISO/IEC 7816-4: 0–19).
const CHANNELS: usize = 20;
/// Free volatile memory reported in `FF21/83`.
const FREE_VOLATILE: u32 = 8 * 1024;
/// TAR of the bootstrap ISD-P created at manufacture.
pub const BOOTSTRAP_TAR: Tar = Tar([0x00, 0x00, 0x10]);

/// Card configuration fixed at manufacture.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardConfig {
    /// Non-volatile memory available for ISD-Ps (bytes).
    pub memory_capacity: u32,
    /// Quota granted to an ISD-P whose CreateISDP carries no memory parameter (bytes).
    pub default_isdp_quota: u32,
}

impl CardConfig {
    /// The memory the EIS announces for profiles, and a default quota of 64 KiB.
    pub fn from_issued(issued: &IssuedEuicc) -> Self {
        CardConfig {
            memory_capacity: issued.eis.eum_signed_info.available_memory_for_profiles,
            default_isdp_quota: 64 * 1024,
        }
    }
}

/// What the card asks the device to do, in order ([`Euicc::poll_action`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// Proactive REFRESH (UICC reset; TS 102 223 §6.4.7): the enabled profile changed. The
    /// device re-attaches and reports with [`Euicc::network_attach`].
    Refresh,
    /// Send a default notification to the SM-SR (digest §3.3), by SMS or HTTPS.
    SendNotification {
        /// Sequence number (`4E`), for matching the confirmation.
        sequence: u16,
        /// The `E1` TLV: for HTTPS, POSTed as `?msg=<hex>`.
        notification: Vec<u8>,
        /// For SMS: the MO SMS user data (`02 70 00` ‖ SCP80 command packet to TAR `000001`,
        /// ISD-R keys, counter `0000000000`, SPI "no counter"); `None` without an SCP80 keyset.
        sms_user_data: Option<Vec<u8>>,
    },
    /// Open an SCP81 admin session (GP Amd B §3; sgp02-gaps §7), triggered by the SM-SR.
    OpenAdminSession(AdminSessionTrigger),
}

/// The administration session triggering parameters (`81` TLV, GP Amd B Table 3-3 / 4-3) as far
/// as the card reads them; the device agent uses them to open the PSK-TLS session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminSessionTrigger {
    /// The whole `81` TLV as received.
    pub raw: Vec<u8>,
    /// From `85` security parameters: KVN of the SCP81 keyset to use.
    pub kvn: Option<u8>,
    /// From `85`: key identifier.
    pub kid: Option<u8>,
    /// From `85`: the PSK identity.
    pub psk_identity: Option<Vec<u8>>,
    /// `8A` admin host.
    pub admin_host: Option<String>,
    /// `8B` agent id.
    pub agent_id: Option<String>,
    /// `8C` admin URI.
    pub admin_uri: Option<String>,
}

impl AdminSessionTrigger {
    /// Parses the `81` TLV (the whole buffer). Unknown inner TLVs are kept only in `raw`.
    pub fn parse(data: &[u8]) -> Result<Self, esim_codec::DecodeError> {
        let t = ber::parse_one(data)?.expect_tag(0x81u8)?;
        let mut out = AdminSessionTrigger {
            raw: data.to_vec(),
            kvn: None,
            kid: None,
            psk_identity: None,
            admin_host: None,
            agent_id: None,
            admin_uri: None,
        };
        for t83 in Reader::with_offset(t.value, t.value_offset) {
            let t83 = t83?;
            if t83.tag.0 != 0x83 {
                continue;
            }
            for p in Reader::with_offset(t83.value, t83.value_offset) {
                let p = p?;
                match p.tag.0 {
                    0x85 => {
                        // len ‖ PSK identity ‖ 02 ‖ KVN ‖ KID [‖ …]
                        let v = p.value;
                        if let Some((&n, rest)) = v.split_first() {
                            let n = usize::from(n);
                            if let (Some(id), Some(tail)) = (rest.get(..n), rest.get(n..)) {
                                out.psk_identity = Some(id.to_vec());
                                out.kvn = tail.get(1).copied();
                                out.kid = tail.get(2).copied();
                            }
                        }
                    }
                    0x89 => {
                        for h in Reader::with_offset(p.value, p.value_offset) {
                            let h = h?;
                            let s = String::from_utf8_lossy(h.value).into_owned();
                            match h.tag.0 {
                                0x8A => out.admin_host = Some(s),
                                0x8B => out.agent_id = Some(s),
                                0x8C => out.admin_uri = Some(s),
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(out)
    }
}

/// The result of [`Euicc::sms_pp_download`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsPpOutcome {
    /// The PoR status, or `None` when the packet was discarded without any answer.
    pub status: Option<PorStatus>,
    /// The PoR as SMS user data (`02 71 00 …`), when the SPI asks for one.
    pub por: Option<Vec<u8>>,
    /// Whether the PoR goes in an SMS-SUBMIT (SPI byte 2 b6) rather than the
    /// SMS-DELIVER-REPORT.
    pub por_via_submit: bool,
    /// What happened, for logs (never key material).
    pub detail: String,
}

/// `X-Admin-Script-Status` of an SCP81 answer (GP Amd B §3.3; digest §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptStatus {
    /// `ok`.
    Ok,
    /// `unknown-application`: the targeted application does not exist.
    UnknownApplication,
    /// `security-error`: the targeted application refused the script's security.
    SecurityError,
}

impl ScriptStatus {
    /// The header value.
    pub fn header_value(self) -> &'static str {
        match self {
            ScriptStatus::Ok => "ok",
            ScriptStatus::UnknownApplication => "unknown-application",
            ScriptStatus::SecurityError => "security-error",
        }
    }
}

/// The result of [`Euicc::admin_script`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminOutcome {
    /// Script status header.
    pub status: ScriptStatus,
    /// Response body (a response script, or the ISD-P's SCP03t responses).
    pub response: Vec<u8>,
}

/// Why a card could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// The registry refused a step of the factory set-up.
    #[error("registry: {0}")]
    Registry(#[from] RegistryError),
    /// The bootstrap profile package is unusable.
    #[error("bootstrap profile: {0}")]
    Package(String),
    /// The bootstrap profile's installation failed in the ISD-P.
    #[error("bootstrap profile installation: {0}")]
    Installation(String),
}

/// What the ISD-R keeps per ISD-P beyond the registry row.
#[derive(Debug, Serialize, Deserialize)]
pub struct ProfileSlot {
    /// The ISD-P.
    pub aid: Aid,
    /// The ISD-P's static SCP03 Key-MAC, the Master Delete token key
    /// ([`crate::master_delete`]).
    #[serde(with = "persist::opt_secret")]
    token_key: Option<SecretKey>,
    /// Connectivity parameters last stored with `3A07` (opaque, sgp02-gaps §5).
    pub connectivity_parameters: Option<Vec<u8>>,
    /// The ISD-P itself (SCP03t session and Profile Package Interpreter).
    pub isdp: isdp::IsdP,
}

/// Everything the card keeps in non-volatile memory. Serializable.
#[derive(Debug, Serialize, Deserialize)]
pub struct CardState {
    ecasd: Ecasd,
    registry: Registry,
    scp80: Vec<Scp80Keyset>,
    scp81: Vec<Scp81Keyset>,
    profiles: Vec<ProfileSlot>,
    declared: bool,
    actions: VecDeque<Action>,
    config: CardConfig,
}

/// What is selected on a logical channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Selected {
    IsdR,
    Ecasd,
}

/// Where STORE DATA goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    IsdR,
    IsdP(Aid),
}

#[derive(Debug)]
struct Chain {
    awaiting: AwaitingBlock,
    buffer: Vec<u8>,
    target: Target,
}

/// Volatile state (RAM): lost on reset and not serialized.
#[derive(Debug)]
struct Volatile {
    open: [bool; CHANNELS],
    selected: [Option<Selected>; CHANNELS],
    personalization: Option<Aid>,
    chain: Option<Chain>,
    ecka: Option<(Target, KeyEstablishment)>,
}

impl Default for Volatile {
    fn default() -> Self {
        let mut open = [false; CHANNELS];
        open[0] = true;
        Volatile {
            open,
            selected: [None; CHANNELS],
            personalization: None,
            chain: None,
            ecka: None,
        }
    }
}

/// A software SGP.02 eUICC.
#[derive(Debug, Serialize, Deserialize)]
pub struct Euicc {
    #[serde(flatten)]
    state: CardState,
    #[serde(skip)]
    volatile: Volatile,
}

fn status(code: u16) -> ResponseApdu {
    ResponseApdu::status(code)
}

fn ok(data: Vec<u8>) -> ResponseApdu {
    ResponseApdu::new(data, sw::OK)
}

/// How far a framed `3Axx` payload at the start of `buf` reaches.
enum Framed {
    Complete(usize),
    Incomplete,
    Invalid,
}

fn framed_len(buf: &[u8]) -> Framed {
    let Some(&first) = buf.get(2) else {
        return Framed::Incomplete;
    };
    let (hdr, len) = match first {
        0x00..=0x7F => (3usize, usize::from(first)),
        0x81..=0x83 => {
            let n = usize::from(first & 0x7F);
            let Some(b) = buf.get(3..3 + n) else {
                return Framed::Incomplete;
            };
            (
                3 + n,
                b.iter().fold(0usize, |a, &x| (a << 8) | usize::from(x)),
            )
        }
        _ => return Framed::Invalid,
    };
    Framed::Complete(hdr + len)
}

impl Euicc {
    /// A card as the EUM issued it: ECASD, ISD-R keysets, empty registry.
    pub fn new(issued: &IssuedEuicc, config: CardConfig) -> Self {
        let scp80 = issued.scp80.iter().map(Scp80Keyset::from_keys).collect();
        let scp81 = issued
            .scp81
            .iter()
            .map(|k| Scp81Keyset::new(k.kvn, k.kid, k.identity.clone(), k.psk.clone()))
            .collect();
        Euicc {
            state: CardState {
                ecasd: Ecasd::from_issued(issued),
                registry: Registry::new(config.memory_capacity),
                scp80,
                scp81,
                profiles: Vec::new(),
                declared: false,
                actions: VecDeque::new(),
                config,
            },
            volatile: Volatile::default(),
        }
    }

    /// A card as it leaves the factory with a bootstrap profile: the SAIP `package` is installed
    /// into ISD-P `…00001000` (TAR [`BOOTSTRAP_TAR`]) through the ISD-P's own installation path,
    /// with SCP03 `keys` (the bootstrap SM-DP's), and that profile is enabled and holds the
    /// fall-back attribute. No notification is pending; the first attach declares the eUICC.
    pub fn with_bootstrap_profile(
        issued: &IssuedEuicc,
        config: CardConfig,
        package: &[u8],
        keys: StaticKeys,
    ) -> Result<Self, CardError> {
        let mut card = Euicc::new(issued, config);
        let aid = Aid::isd_p(BOOTSTRAP_TAR);
        let len = u32::try_from(package.len())
            .map_err(|_| CardError::Package("larger than 4 GiB".into()))?;
        let quota = card.state.config.default_isdp_quota.max(len);
        let reg = &mut card.state.registry;
        reg.create_isdp(aid.clone(), quota)?;
        reg.personalize(&aid)?;
        let mut p = isdp::IsdP::new(aid.clone(), quota);
        let token_key = keys.mac().clone();
        p.personalize(keys.clone())
            .map_err(|e| CardError::Installation(e.to_string()))?;
        let installed = install_through_scp03t(&mut p, keys, package)?;
        reg.use_memory(&aid, installed.memory_used)?;
        reg.install_complete(&aid, installed.iccid.clone(), installed.pol1)?;
        reg.set_fallback(&aid)?;
        reg.enable(&aid)?;
        if let Some(n) = reg.network_attach(true) {
            reg.confirm_notification(n.seq)?;
        }
        card.state.profiles.push(ProfileSlot {
            aid,
            token_key: Some(token_key),
            connectivity_parameters: installed.connectivity_parameters,
            isdp: p,
        });
        Ok(card)
    }

    /// The persistent state.
    pub fn state(&self) -> &CardState {
        &self.state
    }

    /// A card from persisted state (volatile state starts fresh, as after a reset).
    pub fn from_state(state: CardState) -> Self {
        Euicc {
            state,
            volatile: Volatile::default(),
        }
    }

    /// The EID.
    pub fn eid(&self) -> &Eid {
        self.state.ecasd.eid()
    }

    /// The ECASD.
    pub fn ecasd(&self) -> &Ecasd {
        &self.state.ecasd
    }

    /// The ISD-R's registry of ISD-Ps.
    pub fn registry(&self) -> &Registry {
        &self.state.registry
    }

    /// The ISD-P objects.
    pub fn profiles(&self) -> &[ProfileSlot] {
        &self.state.profiles
    }

    /// Key version numbers of the ISD-R's SCP80 keysets.
    pub fn scp80_kvns(&self) -> Vec<u8> {
        self.state.scp80.iter().map(|k| k.kvn).collect()
    }

    /// The ISD-R's SCP80 keysets.
    pub fn scp80_keysets(&self) -> &[Scp80Keyset] {
        &self.state.scp80
    }

    /// The ISD-R's SCP81 keysets.
    pub fn scp81_keysets(&self) -> &[Scp81Keyset] {
        &self.state.scp81
    }

    /// The SCP81 PSK and its identity for `kvn` (for the device agent's PSK-TLS client).
    pub fn scp81_psk(&self, kvn: u8) -> Option<(&[u8], &SecretKey)> {
        self.state
            .scp81
            .iter()
            .find(|k| k.kvn == kvn)
            .map(|k| (k.identity.as_slice(), k.psk()))
    }

    /// The next thing the card asks the device to do.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.state.actions.pop_front()
    }

    /// Card reset (power cycle, or the device acting on REFRESH): clears volatile state and
    /// drops any download in progress (the ISD-P stays `PERSONALIZED` and empty).
    pub fn reset(&mut self) {
        self.volatile = Volatile::default();
        // An SCP03t session lives in RAM: an interrupted download is dropped.
        for slot in &mut self.state.profiles {
            slot.isdp.abort();
        }
    }

    /// Queues every unconfirmed notification again (the device retries after a failed
    /// delivery; notifications stay until confirmed, SGP.02 §4.1.1.11).
    pub fn resend_notifications(&mut self) {
        let pending: Vec<registry::Notification> = self.state.registry.notifications().to_vec();
        for n in &pending {
            self.queue_notification(n);
        }
    }

    fn queue_notification(&mut self, n: &registry::Notification) {
        let e1 = sgp02::Notification {
            eid: self.eid().clone(),
            kind: sgp02::NotificationType::from_byte(n.kind.byte()),
            sequence: n.seq,
            isdp_aid: n.enabled.clone(),
            imei: None,
            meid: None,
            other: Vec::new(),
        }
        .encode();
        let sms = self
            .state
            .scp80
            .iter()
            .min_by_key(|k| k.kvn)
            .and_then(|k| ota::notification_packet(k, &e1));
        self.state.actions.push_back(Action::SendNotification {
            sequence: n.seq,
            notification: e1,
            sms_user_data: sms,
        });
    }

    /// The device reports a network attach (after REFRESH, or at power-on). Success after a
    /// switch queues its notification; failure rolls back (and falls back after a failed
    /// roll-back), each with a REFRESH. The first successful attach of the card queues the
    /// eUICC declaration (type `01`).
    pub fn network_attach(&mut self, success: bool) {
        let had_pending = self.state.registry.pending().is_some();
        if let Some(n) = self.state.registry.network_attach(success) {
            self.state.declared = true;
            self.queue_notification(&n);
        } else if had_pending {
            if self.state.registry.pending().is_some() {
                self.state.actions.push_back(Action::Refresh);
            }
        } else if success && !self.state.declared {
            let n = self.state.registry.declare();
            self.state.declared = true;
            self.queue_notification(&n);
        }
    }

    /// The device lost connectivity with the enabled profile: autonomous fall-back (SGP.02
    /// §3.16; digest §3.4), ignoring POL1, followed by REFRESH. Nothing happens when the
    /// fall-back profile is already enabled.
    pub fn connectivity_lost(&mut self) {
        if self.state.registry.fallback() {
            self.state.actions.push_back(Action::Refresh);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Contact interface.

    /// Processes one C-APDU from the device (contact interface) and returns the R-APDU bytes.
    pub fn process_apdu(&mut self, apdu: &[u8]) -> Vec<u8> {
        let cmd = match CommandApdu::decode(apdu) {
            Ok(c) => c,
            Err(_) => return status(sw::WRONG_LENGTH).encode(),
        };
        self.contact(&cmd).encode()
    }

    fn contact(&mut self, cmd: &CommandApdu) -> ResponseApdu {
        let Some(ch) = cla::logical_channel(cmd.cla) else {
            return status(sw::CLA);
        };
        let ch = usize::from(ch);
        if ch >= CHANNELS || !self.volatile.open[ch] {
            return status(sw::CHANNEL_NOT_SUPPORTED);
        }
        let interindustry = cmd.cla & 0x80 == 0;
        match (interindustry, cmd.ins) {
            (true, 0x70) => self.manage_channel(ch, cmd),
            (true, 0xA4) => self.select(ch, cmd),
            _ => match self.volatile.selected[ch] {
                Some(Selected::IsdR) => self.isd_r(cmd),
                Some(Selected::Ecasd) => self.ecasd_command(cmd),
                None => status(sw::INS),
            },
        }
    }

    /// MANAGE CHANNEL (ISO/IEC 7816-4 §11.1.2): P1 `00` open (P2 `00`: card assigns), `80`
    /// close channel P2.
    fn manage_channel(&mut self, ch: usize, cmd: &CommandApdu) -> ResponseApdu {
        match (cmd.p1, cmd.p2) {
            (0x00, 0x00) => {
                if !cmd.data.is_empty() {
                    return status(sw::WRONG_LENGTH);
                }
                match (1..CHANNELS).find(|&c| !self.volatile.open[c]) {
                    Some(c) => {
                        self.volatile.open[c] = true;
                        self.volatile.selected[c] = None;
                        ok(vec![c as u8])
                    }
                    None => status(sw::FUNCTION_NOT_SUPPORTED),
                }
            }
            (0x80, p2) => {
                let target = if p2 == 0 { ch } else { usize::from(p2) };
                if target == 0 || target >= CHANNELS || !self.volatile.open[target] {
                    return status(sw::P1P2);
                }
                self.volatile.open[target] = false;
                self.volatile.selected[target] = None;
                ok(Vec::new())
            }
            _ => status(sw::P1P2),
        }
    }

    /// SELECT by DF name (`00 A4 04 00 L AID`): the ISD-R or the ECASD. The answer is the FCI
    /// `6F {84 AID}`.
    fn select(&mut self, ch: usize, cmd: &CommandApdu) -> ResponseApdu {
        if cmd.p1 != 0x04 || (cmd.p2 & !0x0C) != 0 {
            return status(sw::P1P2);
        }
        let Ok(aid) = Aid::new(&cmd.data) else {
            return status(sw::NOT_FOUND);
        };
        let sel = if aid == Aid::isd_r() {
            Selected::IsdR
        } else if aid == Aid::ecasd() {
            Selected::Ecasd
        } else {
            return status(sw::NOT_FOUND);
        };
        self.volatile.selected[ch] = Some(sel);
        let mut w = Writer::new();
        w.constructed(0x6Fu8, |w| {
            w.put(0x84u8, aid.as_bytes());
        });
        ok(w.into_bytes())
    }

    /// Commands to the selected ECASD: GET DATA EID (`5A`), certificate (`7F21`, or `BF30`
    /// with a tag list naming `7F21`).
    fn ecasd_command(&mut self, cmd: &CommandApdu) -> ResponseApdu {
        if cmd.ins != ins::GET_DATA {
            return status(sw::INS);
        }
        self.get_data(cmd)
    }

    fn get_data(&self, cmd: &CommandApdu) -> ResponseApdu {
        let gd = match GetData::parse(cmd) {
            Ok(g) => g,
            Err(e) => return status(e.status_word().to_u16()),
        };
        match gd.tag {
            0x005A => ok(ber::tlv(0x5Au8, &self.eid().to_bcd())),
            0x7F21 => ok(self.state.ecasd.certificate().encode()),
            TAG_SGP02_BF30 => {
                let wants_cert = gd
                    .tag_list
                    .as_deref()
                    .is_none_or(|l| l.windows(2).any(|w| w == [0x7F, 0x21]));
                if !wants_cert {
                    return status(sw::REF_NOT_FOUND);
                }
                ok(ber::tlv(
                    TAG_SGP02_BF30,
                    &self.state.ecasd.certificate().encode(),
                ))
            }
            TAG_CARD_RESOURCES => ok(CardResources {
                installed_applications: self.state.registry.isdps().len() as u32,
                free_non_volatile: self.state.registry.free_memory(),
                free_volatile: FREE_VOLATILE,
            }
            .encode()),
            _ => status(sw::REF_NOT_FOUND),
        }
    }

    // -----------------------------------------------------------------------------------------
    // ISD-R.

    /// One command to the ISD-R (from any interface).
    fn isd_r(&mut self, cmd: &CommandApdu) -> ResponseApdu {
        if cmd.ins != ins::STORE_DATA {
            // INSTALL [for personalization] directs STORE DATA until another command arrives
            // (GPCS v2.3 §11.5.2.3).
            self.volatile.personalization = None;
            self.volatile.chain = None;
        }
        if cla::logical_channel(cmd.cla).is_none() {
            return status(sw::CLA);
        }
        match cmd.ins {
            ins::INSTALL => self.install(cmd),
            ins::STORE_DATA => self.store_data(cmd),
            ins::DELETE => self.delete(cmd),
            ins::GET_STATUS => self.get_status(cmd),
            ins::GET_DATA => self.get_data(cmd),
            _ => status(sw::INS),
        }
    }

    /// INSTALL [for install and make selectable] = CreateISDP; INSTALL [for personalization]
    /// directs the following STORE DATA to an ISD-P (digest §2.7, §3.2).
    fn install(&mut self, cmd: &CommandApdu) -> ResponseApdu {
        let install = match Install::parse(cmd) {
            Ok(i) => i,
            Err(e) => return status(e.status_word().to_u16()),
        };
        match install {
            Install::ForInstall(fi) => {
                let c = match CreateIsdp::from_install(&fi) {
                    Ok(c) => c,
                    Err(e) => return status(e.status_word().to_u16()),
                };
                if c.scp != SCP03_I70 {
                    return status(sw::INCORRECT_DATA);
                }
                let quota = c
                    .required_memory
                    .unwrap_or(self.state.config.default_isdp_quota);
                if let Err(e) = self.state.registry.create_isdp(c.isdp_aid.clone(), quota) {
                    return status(e.sw());
                }
                self.state.profiles.push(ProfileSlot {
                    aid: c.isdp_aid.clone(),
                    token_key: None,
                    connectivity_parameters: None,
                    isdp: isdp::IsdP::new(c.isdp_aid, quota),
                });
                ok(vec![0x00])
            }
            Install::ForPersonalization { application } => {
                if self.state.registry.get(&application).is_none() {
                    return status(sw::REF_NOT_FOUND);
                }
                self.volatile.personalization = Some(application);
                ok(vec![0x00])
            }
        }
    }

    /// STORE DATA (GPCS v2.3 §11.11) to the ISD-R, or on behalf of the ISD-P named by INSTALL
    /// [for personalization]. The blocks of a chain are buffered; every complete `3Axx` payload
    /// is executed as soon as it is complete and its response returned with the block that
    /// completed it (key establishment answers block 0 before block 1 is sent).
    fn store_data(&mut self, cmd: &CommandApdu) -> ResponseApdu {
        let chain = self.volatile.chain.take().unwrap_or_else(|| Chain {
            awaiting: AwaitingBlock::new(),
            buffer: Vec::new(),
            target: match &self.volatile.personalization {
                Some(a) => Target::IsdP(a.clone()),
                None => Target::IsdR,
            },
        });
        let BlockReceived { block, next } = match chain.awaiting.handle(cmd) {
            Ok(r) => r,
            Err(e) => return status(e.status_word().to_u16()),
        };
        let target = chain.target;
        let mut buffer = chain.buffer;
        if buffer.len() + block.data.len() > MAX_CHAIN {
            return status(sw::MEMORY);
        }
        buffer.extend_from_slice(&block.data);
        let mut response = Vec::new();
        let last = next.is_none();
        loop {
            // Key establishment message 2 is `3A02 {A6 CRT}` followed by the `7F49` and `5F37`
            // TLVs outside the frame: it takes the rest of the chain.
            let framed = if buffer.starts_with(&TAG_KEY_ESTABLISHMENT.to_be_bytes()) {
                if last {
                    Framed::Complete(buffer.len())
                } else {
                    Framed::Incomplete
                }
            } else {
                framed_len(&buffer)
            };
            match framed {
                Framed::Complete(n) if n <= buffer.len() => {
                    let item: Vec<u8> = buffer.drain(..n).collect();
                    match self.es5_payload(&target, &item) {
                        Ok(data) => response.extend(data),
                        Err(code) => return status(code),
                    }
                    if buffer.is_empty() {
                        break;
                    }
                }
                Framed::Invalid => return status(sw::INCORRECT_DATA),
                _ => break,
            }
        }
        match next {
            Some(awaiting) => {
                self.volatile.chain = Some(Chain {
                    awaiting,
                    buffer,
                    target,
                })
            }
            None => {
                // The last block ends the chain and the INSTALL [for personalization] context
                // (GPCS v2.3 §11.11.2).
                self.volatile.personalization = None;
                if !buffer.is_empty() {
                    return status(sw::INCORRECT_DATA);
                }
            }
        }
        ok(response)
    }

    /// One framed `3Axx` payload.
    fn es5_payload(&mut self, target: &Target, item: &[u8]) -> Result<Vec<u8>, u16> {
        if item.starts_with(&TAG_KEY_ESTABLISHMENT.to_be_bytes()) {
            return self.key_establishment_2(target, item);
        }
        let (tag, value) = sgp02::unframe(item).map_err(|e| e.status_word().to_u16())?;
        match (target, tag) {
            (_, TAG_CERTIFICATE) => self.key_establishment_1(target, item),
            (Target::IsdP(aid), sgp02::TAG_UPDATE_CONNECTIVITY_PARAMETERS) => {
                let slot = self.slot_mut(aid).ok_or(sw::REF_NOT_FOUND)?;
                slot.connectivity_parameters = Some(value.to_vec());
                Ok(Vec::new())
            }
            (Target::IsdP(_), _) => Err(sw::INCORRECT_DATA),
            (Target::IsdR, TAG_SET_FALLBACK) => {
                let aid = single_aid(value, item.len() - value.len())?;
                self.state.registry.set_fallback(&aid).map_err(|e| e.sw())?;
                Ok(Vec::new())
            }
            (Target::IsdR, _) => {
                let c = Es5Command::decode(item).map_err(|e| e.status_word().to_u16())?;
                match c {
                    Es5Command::EnableProfile { isdp_aid } => {
                        self.state.registry.enable(&isdp_aid).map_err(|e| e.sw())?;
                        self.state.actions.push_back(Action::Refresh);
                        Ok(Vec::new())
                    }
                    Es5Command::DisableProfile { isdp_aid } => {
                        self.state.registry.disable(&isdp_aid).map_err(|e| e.sw())?;
                        self.state.actions.push_back(Action::Refresh);
                        Ok(Vec::new())
                    }
                    Es5Command::NotificationConfirmation { sequence } => {
                        let conf = self
                            .state
                            .registry
                            .confirm_notification(sequence)
                            .map_err(|e| e.sw())?;
                        self.state
                            .profiles
                            .retain(|s| !conf.deleted.contains(&s.aid));
                        Ok(NotificationConfirmationResponse {
                            deleted: conf.deleted,
                        }
                        .encode())
                    }
                    Es5Command::UpdateConnectivityParameters { .. } => Err(sw::CONDITIONS),
                    Es5Command::Other { .. } => Err(sw::INCORRECT_DATA),
                }
            }
        }
    }

    fn slot_mut(&mut self, aid: &Aid) -> Option<&mut ProfileSlot> {
        self.state.profiles.iter_mut().find(|s| &s.aid == aid)
    }

    fn slot(&self, aid: &Aid) -> Option<&ProfileSlot> {
        self.state.profiles.iter().find(|s| &s.aid == aid)
    }

    /// `3A01`: to the ECASD, on behalf of the ISD-P (SM-DP certificate; the ISD-P must be
    /// `SELECTABLE`) or of the ISD-R (SM-SR certificate; SM-SR change).
    fn key_establishment_1(&mut self, target: &Target, item: &[u8]) -> Result<Vec<u8>, u16> {
        self.volatile.ecka = None;
        let expected = match target {
            Target::IsdP(aid) => {
                let p = self.state.registry.get(aid).ok_or(sw::REF_NOT_FOUND)?;
                if p.state != LifeCycle::Selectable {
                    return Err(sw::CONDITIONS);
                }
                CertType::SmDp
            }
            Target::IsdR => CertType::SmSr,
        };
        let (ke, response) = self
            .state
            .ecasd
            .start_key_establishment(item, expected)
            .map_err(|e| e.status_word())?;
        self.volatile.ecka = Some((target.clone(), ke));
        Ok(response)
    }

    /// `3A02`: completes the establishment; the ISD-P becomes `PERSONALIZED` with the new SCP03
    /// keyset, or the ISD-R gets a new SCP80 (key type `88`) or SCP81 (key type `85`) keyset.
    fn key_establishment_2(&mut self, target: &Target, item: &[u8]) -> Result<Vec<u8>, u16> {
        let (t, ke) = self.volatile.ecka.take().ok_or(sw::CONDITIONS)?;
        if &t != target {
            return Err(sw::CONDITIONS);
        }
        let done = ke.state.handle(item).map_err(|e| e.status_word())?;
        let params = done.keys.params().clone();
        match target {
            Target::IsdP(aid) => {
                let k = done.keys.scp03().map_err(|e| e.status_word())?;
                let keys = StaticKeys::new(k.kvn, k.enc, k.mac.clone(), k.dek)
                    .map_err(|_| sw::INCORRECT_DATA)?;
                let p = self.state.registry.get(aid).ok_or(sw::REF_NOT_FOUND)?;
                if p.state != LifeCycle::Selectable {
                    return Err(sw::CONDITIONS);
                }
                let slot = self.slot_mut(aid).ok_or(sw::REF_NOT_FOUND)?;
                slot.isdp.personalize(keys).map_err(|e| e.sw())?;
                slot.token_key = Some(k.mac);
                self.state.registry.personalize(aid).map_err(|e| e.sw())?;
            }
            Target::IsdR => match params.key_type {
                KEY_TYPE_AES => {
                    if !(0x01..=0x0F).contains(&params.kvn) {
                        return Err(sw::INCORRECT_DATA);
                    }
                    let k = done.keys.scp80().map_err(|e| e.status_word())?;
                    let ks = Scp80Keyset::from_keys(&k);
                    self.state.scp80.retain(|x| x.kvn != ks.kvn);
                    self.state.scp80.push(ks);
                }
                KEY_TYPE_PSK_TLS => {
                    let psk = done.keys.psk().map_err(|e| e.status_word())?;
                    let identity = scp81_psk_identity(self.eid(), params.kvn, params.kid);
                    self.state.scp81.retain(|x| x.kvn != params.kvn);
                    self.state
                        .scp81
                        .push(Scp81Keyset::new(params.kvn, params.kid, identity, psk));
                }
                _ => return Err(sw::INCORRECT_DATA),
            },
        }
        Ok(done.response)
    }

    /// DELETE (GPCS v2.3 §11.2): an ISD-P (`4F`; with `B6` + `9E` a Master Delete,
    /// [`crate::master_delete`]), or an ISD-R keyset (`D2` KVN, optional `D0` KID) after an
    /// SM-SR change.
    fn delete(&mut self, cmd: &CommandApdu) -> ResponseApdu {
        match cmd.data.first() {
            Some(0x4F) => {}
            Some(0xD0 | 0xD2) => return self.delete_keyset(cmd),
            _ => return status(sw::INCORRECT_DATA),
        }
        let d = match Delete::parse(cmd) {
            Ok(d) => d,
            Err(e) => return status(e.status_word().to_u16()),
        };
        if d.aid == Aid::isd_r() || d.aid == Aid::ecasd() {
            return status(sw::CONDITIONS);
        }
        let result = match (&d.token_crt, &d.token) {
            (None, None) => self.state.registry.delete(&d.aid),
            (Some(crt), Some(token)) => {
                let Some(key) = self.slot(&d.aid).and_then(|s| s.token_key.as_ref()) else {
                    return status(if self.state.registry.get(&d.aid).is_some() {
                        sw::SECURITY
                    } else {
                        sw::REF_NOT_FOUND
                    });
                };
                if !master_delete::verify_token(key, cmd.p1, cmd.p2, &d.aid, crt, token) {
                    return status(sw::SECURITY);
                }
                self.state.registry.master_delete(&d.aid)
            }
            _ => return status(sw::INCORRECT_DATA),
        };
        if let Err(e) = result {
            return status(e.sw());
        }
        self.state.profiles.retain(|s| s.aid != d.aid);
        ok(vec![0x00])
    }

    /// DELETE key (GPCS v2.3 §11.2.2.3): `D0 01 KID` (optional) ‖ `D2 01 KVN`: deletes the ISD-R
    /// keysets with that KVN (SCP80 and SCP81). The last SCP80 keyset cannot be deleted (the
    /// card would become unreachable).
    fn delete_keyset(&mut self, cmd: &CommandApdu) -> ResponseApdu {
        if cmd.cla & 0x80 == 0 {
            return status(sw::CLA);
        }
        if cmd.p1 & 0x7F != 0 || cmd.p2 != 0 {
            return status(sw::P1P2);
        }
        let mut r = Reader::new(&cmd.data);
        let parsed = (|| {
            let _kid = r.read_optional(0xD0u8)?;
            let kvn = r.read_tag(0xD2u8)?;
            r.finish()?;
            Ok::<_, esim_codec::DecodeError>(kvn.value.to_vec())
        })();
        let kvn = match parsed.as_deref() {
            Ok([k]) => *k,
            _ => return status(sw::INCORRECT_DATA),
        };
        let in80 = self.state.scp80.iter().any(|k| k.kvn == kvn);
        let in81 = self.state.scp81.iter().any(|k| k.kvn == kvn);
        if !in80 && !in81 {
            return status(sw::REF_NOT_FOUND);
        }
        if in80 && self.state.scp80.len() == 1 {
            return status(sw::CONDITIONS);
        }
        self.state.scp80.retain(|k| k.kvn != kvn);
        self.state.scp81.retain(|k| k.kvn != kvn);
        ok(vec![0x00])
    }

    /// GET STATUS (GPCS v2.3 §11.4): `80` the ISD-R, `40` the ISD-Ps with SGP.02's `53`
    /// (fall-back bit), `8F` granted and `91` remaining memory (sgp02-gaps §1).
    fn get_status(&self, cmd: &CommandApdu) -> ResponseApdu {
        let gs = match GetStatus::parse(cmd) {
            Ok(g) => g,
            Err(e) => return status(e.status_word().to_u16()),
        };
        let entries: Vec<RegistryEntry> = match gs.subset {
            StatusSubset::IssuerSecurityDomain => {
                let mut e = RegistryEntry::new(Aid::isd_r(), life_cycle::PERSONALIZED);
                e.privileges =
                    Some(Privileges::SECURITY_DOMAIN.union(Privileges::AUTHORIZED_MANAGEMENT));
                vec![e]
            }
            StatusSubset::Applications => self
                .state
                .registry
                .isdps()
                .iter()
                .filter(|p| p.aid.as_bytes().starts_with(&gs.aid_filter))
                .map(|p| {
                    let mut e = RegistryEntry::new(p.aid.clone(), p.state.byte());
                    e.privileges = Some(Privileges::ISD_P);
                    e.profile_properties = Some(vec![if p.fallback {
                        PROFILE_PROPERTY_FALLBACK
                    } else {
                        0
                    }]);
                    e.granted_memory = Some(p.quota);
                    e.remaining_memory = Some(p.quota.saturating_sub(p.used));
                    e
                })
                .collect(),
            _ => Vec::new(),
        };
        if entries.is_empty() {
            return status(sw::REF_NOT_FOUND);
        }
        ok(encode_entries(&entries))
    }

    // -----------------------------------------------------------------------------------------
    // Scripts (TS 102 226) and OTA.

    /// Runs the C-APDUs of a script on the ISD-R, stopping after the first command that ends
    /// with an error status word (TS 102 226 §5.1.2/§5.2.2). Returns the R-APDUs.
    fn run_apdus<'a>(&mut self, apdus: impl Iterator<Item = &'a CommandApdu>) -> Vec<ResponseApdu> {
        let mut out = Vec::new();
        for a in apdus {
            let r = self.isd_r(a);
            let stop = !(r.sw.is_success() || r.sw.is_warning());
            out.push(r);
            if stop {
                break;
            }
        }
        out
    }

    /// An expanded-format script (`AA`/`AE`) on the ISD-R; a malformed script is answered with
    /// the Bad Format TLV `90` and nothing is executed.
    fn expanded_script(&mut self, script: &[u8]) -> Vec<u8> {
        let form = if script.first() == Some(&0xAE) {
            ScriptForm::Indefinite
        } else {
            ScriptForm::Definite
        };
        match CommandScript::decode(script) {
            Ok(s) => {
                let apdus: Vec<CommandApdu> = s
                    .items
                    .iter()
                    .filter_map(|i| match i {
                        CommandItem::Apdu(a) => Some(a.clone()),
                        _ => None,
                    })
                    .collect();
                let responses = self.run_apdus(apdus.iter());
                ResponseScript::of_responses(s.form, responses).encode()
            }
            Err(e) => ResponseScript {
                form,
                items: vec![
                    ResponseItem::Executed(0),
                    ResponseItem::BadFormat(
                        e.bad_format()
                            .unwrap_or(esim_apdu::etsi102226::BadFormat::WrongLength),
                    ),
                ],
            }
            .encode(),
        }
    }

    /// Processes an SCP80 command packet from an MT SMS-PP (SMS user data with UDH `02 70 00`):
    /// security checks (TS 102 225), TAR routing (ISD-R `000001`, ISD-P TARs; anything else
    /// `09`), the ISD-R's minimum security level (`0A`), execution (expanded or compact script,
    /// or the `81` admin session trigger), and the PoR as the SPI asks. A packet that fails a
    /// check is not executed and does not move the counter.
    pub fn sms_pp_download(&mut self, user_data: &[u8]) -> SmsPpOutcome {
        let rx = match ota::receive(&self.state.scp80, user_data) {
            Ok(r) => r,
            Err(Refused::Discarded(reason)) => {
                return SmsPpOutcome {
                    status: None,
                    por: None,
                    por_via_submit: false,
                    detail: format!("discarded: {reason}"),
                };
            }
            Err(Refused::Status {
                header,
                counter,
                status,
                kvn,
                reason,
            }) => return self.por_outcome(&header, kvn, counter, status, Vec::new(), reason),
        };
        let h = rx.header;
        let isdp_target = if h.tar == Tar::ISD_R {
            None
        } else {
            match self
                .state
                .registry
                .isdps()
                .iter()
                .find(|p| p.aid.sgp02_tar() == Some(h.tar))
            {
                Some(p) => Some(p.aid.clone()),
                None => {
                    return self.por_outcome(
                        &h,
                        rx.kvn,
                        rx.counter,
                        PorStatus::TarUnknown,
                        Vec::new(),
                        format!("TAR {} unknown", h.tar),
                    );
                }
            }
        };
        if !ota::meets_minimum_security(&h.spi) {
            return self.por_outcome(
                &h,
                rx.kvn,
                rx.counter,
                PorStatus::InsufficientSecurityLevel,
                Vec::new(),
                format!("SPI {} below the minimum security level", h.spi),
            );
        }
        // Executed from here on: the counter moves.
        if let Some(ks) = self.state.scp80.iter_mut().find(|k| k.kvn == rx.kvn) {
            ks.accept_counter(rx.counter);
        }
        let (data, detail) = match isdp_target {
            Some(aid) => match self.feed_isdp(&aid, &rx.data) {
                Ok(r) => (r, format!("SCP03t data for {aid}")),
                Err(code) => (Vec::new(), format!("ISD-P {aid} refused: {code:04X}")),
            },
            None => match rx.data.first() {
                Some(0x81) => match AdminSessionTrigger::parse(&rx.data) {
                    Ok(t) => {
                        self.state.actions.push_back(Action::OpenAdminSession(t));
                        (Vec::new(), "admin session trigger".to_string())
                    }
                    Err(e) => (Vec::new(), format!("bad admin session trigger: {e}")),
                },
                Some(0xAA | 0xAE) => (
                    self.expanded_script(&rx.data),
                    "expanded script".to_string(),
                ),
                _ => match decode_compact(&rx.data) {
                    Ok(cmds) => {
                        let rs = self.run_apdus(cmds.iter());
                        let executed = rs.len().min(255) as u8;
                        let last = rs
                            .into_iter()
                            .last()
                            .unwrap_or_else(|| ResponseApdu::status(StatusWord::Success));
                        (
                            CompactResponse { executed, last }.encode(),
                            "compact script".to_string(),
                        )
                    }
                    Err(e) => (Vec::new(), format!("bad compact script: {e}")),
                },
            },
        };
        self.por_outcome(&h, rx.kvn, rx.counter, PorStatus::Ok, data, detail)
    }

    fn por_outcome(
        &self,
        header: &esim_crypto::scp80::CommandHeader,
        kvn: u8,
        counter: Counter,
        st: PorStatus,
        data: Vec<u8>,
        detail: String,
    ) -> SmsPpOutcome {
        let por = self
            .state
            .scp80
            .iter()
            .find(|k| k.kvn == kvn)
            .and_then(|ks| ota::por(header, ks, counter, st, data));
        SmsPpOutcome {
            status: Some(st),
            por,
            por_via_submit: header.spi.por_via_submit,
            detail,
        }
    }

    /// Executes the body of an SCP81 admin session answer (GP Amd B; digest §5.3). Without a
    /// target (or targeting the ISD-R) the body is an expanded command script for the ISD-R and
    /// the answer a response script; targeting an ISD-P
    /// (`X-Admin-Targeted-Application: //aid/…`) the body is SCP03t data for that ISD-P and the
    /// answer its SCP03t responses.
    pub fn admin_script(&mut self, targeted: Option<&Aid>, script: &[u8]) -> AdminOutcome {
        match targeted {
            None => AdminOutcome {
                status: ScriptStatus::Ok,
                response: self.expanded_script(script),
            },
            Some(a) if *a == Aid::isd_r() => AdminOutcome {
                status: ScriptStatus::Ok,
                response: self.expanded_script(script),
            },
            Some(a) if self.slot(a).is_some() => match self.feed_isdp(a, script) {
                Ok(response) => AdminOutcome {
                    status: ScriptStatus::Ok,
                    response,
                },
                Err(_) => AdminOutcome {
                    status: ScriptStatus::SecurityError,
                    response: Vec::new(),
                },
            },
            Some(_) => AdminOutcome {
                status: ScriptStatus::UnknownApplication,
                response: Vec::new(),
            },
        }
    }

    /// Hands SCP03t bytes to an ISD-P and applies what it reports to the registry: a complete
    /// installation charges the memory and makes the profile `DISABLED`; a failed one leaves the
    /// ISD-P `PERSONALIZED` and empty (the SM-DP then deletes it).
    fn feed_isdp(&mut self, aid: &Aid, bytes: &[u8]) -> Result<Vec<u8>, u16> {
        let state = self.state.registry.get(aid).ok_or(sw::REF_NOT_FOUND)?.state;
        if state != LifeCycle::Personalized {
            return Err(sw::CONDITIONS);
        }
        let in_use: Vec<esim_codec::Iccid> = self
            .state
            .registry
            .isdps()
            .iter()
            .filter(|p| &p.aid != aid)
            .filter_map(|p| p.iccid.clone())
            .collect();
        let slot = self.slot_mut(aid).ok_or(sw::REF_NOT_FOUND)?;
        slot.isdp.set_iccids_in_use(in_use);
        let out = slot.isdp.feed_scp03t(bytes);
        for ev in &out.events {
            if let isdp::IsdpEvent::InstallationComplete {
                iccid,
                pol1,
                memory_used,
                connectivity_parameters,
            } = ev
            {
                // Registry first: both steps are checked before anything changes.
                let reg = &self.state.registry;
                let p = reg.get(aid).ok_or(sw::REF_NOT_FOUND)?;
                let fits = *memory_used <= p.quota.saturating_sub(p.used);
                let unique = !reg.isdps().iter().any(|q| q.iccid.as_ref() == Some(iccid));
                if fits && unique {
                    let reg = &mut self.state.registry;
                    reg.use_memory(aid, *memory_used).map_err(|e| e.sw())?;
                    reg.install_complete(aid, iccid.clone(), *pol1)
                        .map_err(|e| e.sw())?;
                    if let Some(slot) = self.slot_mut(aid) {
                        slot.connectivity_parameters = connectivity_parameters.clone();
                    }
                } else {
                    // The ISD-R refuses the profile: the ISD-P stays PERSONALIZED; the SM-DP
                    // deletes it (digest §3.1 step 10).
                    if let Some(slot) = self.slot_mut(aid) {
                        slot.isdp = isdp::IsdP::new(aid.clone(), slot.isdp.quota());
                    }
                }
            }
        }
        Ok(out.response)
    }
}

/// What the bootstrap installation produced.
struct Installed {
    iccid: esim_codec::Iccid,
    pol1: Pol1,
    memory_used: u32,
    connectivity_parameters: Option<Vec<u8>>,
}

/// Installs `package` into the personalized ISD-P `p` the way an SM-DP does: an SCP03t session
/// under `keys` (`84`, `85`, then the package in `86` segments) fed to
/// [`isdp::IsdP::feed_scp03t`]. Used for the factory bootstrap profile.
fn install_through_scp03t(
    p: &mut isdp::IsdP,
    keys: StaticKeys,
    package: &[u8],
) -> Result<Installed, CardError> {
    use esim_crypto::scp03t::Scp03tHostAwaitingInitUpdateResponse;
    let err = |e: &dyn std::fmt::Display| CardError::Installation(e.to_string());
    let (host, c84) =
        Scp03tHostAwaitingInitUpdateResponse::start_random(keys, 0x00).map_err(|e| err(&e))?;
    let r84 = p.feed_scp03t(&c84);
    let (mut host, c85) = host.handle(&r84.response).map_err(|e| err(&e))?;
    let r85 = p.feed_scp03t(&c85);
    if r85.response.first() != Some(&0x85) {
        return Err(CardError::Installation(format!(
            "EXTERNAL AUTHENTICATE refused: {}",
            esim_codec::hex::encode(&r85.response)
        )));
    }
    for seg in host.wrap_profile(package).map_err(|e| err(&e))? {
        let out = p.feed_scp03t(&seg);
        if let Some(ev) = out.events.into_iter().next() {
            return match ev {
                isdp::IsdpEvent::InstallationComplete {
                    iccid,
                    pol1,
                    memory_used,
                    connectivity_parameters,
                } => Ok(Installed {
                    iccid,
                    pol1,
                    memory_used,
                    connectivity_parameters,
                }),
                isdp::IsdpEvent::InstallationFailed { reason } => {
                    Err(CardError::Installation(reason.to_string()))
                }
            };
        }
    }
    Err(CardError::Installation(
        "the package ended before its end PE".into(),
    ))
}

/// `3A05`: SetFallBackAttribute (no public tag; docs/spec-choices.md).
pub const TAG_SET_FALLBACK: u16 = 0x3A05;

fn single_aid(value: &[u8], base: usize) -> Result<Aid, u16> {
    let mut r = Reader::with_offset(value, base);
    let t = r.read_tag(0x4Fu8).map_err(|_| sw::INCORRECT_DATA)?;
    r.finish().map_err(|_| sw::INCORRECT_DATA)?;
    Aid::new(t.value).map_err(|_| sw::INCORRECT_DATA)
}
