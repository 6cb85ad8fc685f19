//! The SM-SR's ES5 engine (SGP.02 §2.7, §3.3, §5.1–5.3; digest §2.7, §3.3, §5.1–5.3) as a
//! sans-I/O core in the style of quinn-proto: the caller passes `now` (milliseconds of its own
//! clock) and incoming bytes in, and takes [`Action`]s out with [`Channel::poll_action`]. No
//! sockets, no clock, no database: SCP80 counters come from a [`CounterSource`] the caller
//! supplies (and persists).
//!
//! One [`Channel`] per eUICC keeps an ordered queue of ES5 commands ([`Es5Request`]): exactly one
//! is outstanding at a time, the next one starts only when the previous one completed, failed or
//! expired.
//!
//! **SMS transport** (digest §5.1, §5.2): the C-APDUs become a TS 102 226 expanded command script
//! (`AA …`), secured as an SCP80 command packet (SPI `16 39` by default) under the ISD-R keyset,
//! with a counter allocated from the [`CounterSource`] *before* the packet is handed out (a crash
//! never reuses a counter), cut into short messages ([`esim_apdu::sms::split_packet`]) and
//! handed out as [`Action::SendSms`]. The PoR ([`Channel::handle_sms`]) must carry the TAR and
//! counter of the outstanding packet; its response script (or compact response) yields
//! [`Action::Completed`] or [`Action::Failed`]. Without a PoR, [`Channel::handle_timeout`]
//! re-sends the *same* secured packet (same counter: a card that executed it and lost the PoR
//! answers PoR status `02` instead of executing twice; docs/spec-choices.md) with exponential
//! back-off, up to [`Config::max_attempts`], then fails. A command whose ValidityPeriod has
//! passed is reported [`Action::Expired`] (SGP.02 "Expired") without being sent (again).
//!
//! **HTTPS transport** (digest §5.3): the channel sends the administration session trigger
//! (`81 …`) as an SCP80 packet to the ISD-R (PoR on error only), then hands the queued scripts
//! to the open admin session ([`Channel::next_script`], [`Channel::handle_script_response`]).
//!
//! **Notifications** (digest §3.3; docs/spec-choices.md rows 46, 50): an MO command packet to the
//! ISD-R TAR under the ISD-R keys, SPI without counter, holding the `E1` notification, is
//! reported as [`Action::Notification`]; [`Channel::confirm_notification`] queues the `3A08`
//! confirmation.

use esim_apdu::apdu::{CommandApdu, ResponseApdu};
use esim_apdu::etsi102226::{CommandScript, ResponseScript, ScriptError};
use esim_apdu::gp::GpError;
use esim_apdu::gp::sgp02::{Es5Command, Notification};
use esim_apdu::sms::{ConcatRef, PacketKind, SmsError, UserData, split_packet};
use esim_apdu::sw::StatusWord;
use esim_codec::{Aid, Eid, Tar};
use esim_crypto::scp80::{
    CompactResponse, Counter, CounterMode, Integrity, Keyset, PorRequest, PorStatus, Scp80Error,
    Spi, decode_por, parse_command, udh,
};
use std::collections::VecDeque;

/// Milliseconds on the caller's clock (any epoch, monotonic); the engine never reads a clock.
pub type Millis = u64;

/// The caller's identifier of an ES5 operation, echoed in the outcome actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OperationId(pub u64);

/// Where the ES5 command goes (digest §2.7): the ISD-R, or an ISD-P (TAR from its AID).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// The ISD-R (TAR `000001`).
    IsdR,
    /// An ISD-P.
    IsdP(Aid),
}

/// What is sent to the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// C-APDUs, sent as a TS 102 226 expanded command script (`AA`); the answer is a response
    /// script (`AB`).
    Apdus(Vec<CommandApdu>),
    /// Bytes sent as they are (e.g. SCP03t data for an ISD-P); the answer is returned raw.
    Raw(Vec<u8>),
}

/// An ES5 command as queued by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Es5Request {
    /// The caller's operation id.
    pub operation: OperationId,
    /// ISD-R or ISD-P.
    pub target: Target,
    /// The content.
    pub payload: Payload,
    /// End of the ValidityPeriod: at or after this instant the command is not sent (again) and is
    /// reported [`Action::Expired`].
    pub deadline: Millis,
}

/// How the channel reaches the card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// SCP80 over SMS-PP (digest §5.1).
    Sms,
    /// SCP81 admin sessions, triggered by SMS with this `81` TLV (GP Amd B Table 3-3; e.g.
    /// from `esim_scp81::admin::AdminSessionTrigger`).
    Https {
        /// The whole `81` TLV.
        trigger: Vec<u8>,
    },
}

/// Retry and security settings of a channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// SPI of the command packets (SGP.02 default `16 39`).
    pub spi: Spi,
    /// Time to wait for a PoR (or an admin session) after the first send.
    pub initial_timeout: Millis,
    /// Sends of one packet in all (first send included); at least 1.
    pub max_attempts: u32,
    /// ValidityPeriod given to notification confirmations ([`Channel::confirm_notification`]).
    pub confirmation_validity: Millis,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            spi: Spi::SGP02_DEFAULT,
            initial_timeout: 30_000,
            max_attempts: 3,
            confirmation_validity: 24 * 3600 * 1000,
        }
    }
}

/// Why a counter could not be allocated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SCP80 counter allocation failed: {0}")]
pub struct CounterSourceError(pub String);

/// Allocates SCP80 counters for the ISD-R keyset of an eUICC. An implementation must persist the
/// allocation before returning (allocate-before-send) and never return a value twice.
pub trait CounterSource {
    /// The next counter for `eid`'s ISD-R keyset `kvn`.
    fn allocate(&mut self, eid: &Eid, kvn: u8) -> Result<Counter, CounterSourceError>;
}

/// An in-memory [`CounterSource`] for one keyset: hands out the value after the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NextCounter(pub Counter);

impl CounterSource for NextCounter {
    fn allocate(&mut self, _eid: &Eid, _kvn: u8) -> Result<Counter, CounterSourceError> {
        let next = self
            .0
            .next()
            .ok_or_else(|| CounterSourceError("counter exhausted".into()))?;
        self.0 = next;
        Ok(next)
    }
}

/// `X-Admin-Script-Status` of an SCP81 answer (GP Amd B §3.3; digest §5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptStatus {
    /// `ok`.
    Ok,
    /// `unknown-application`.
    UnknownApplication,
    /// `security-error`.
    SecurityError,
    /// Any other value, as received.
    Other(String),
}

/// A script handed to an open admin session ([`Channel::next_script`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminScript {
    /// `X-Admin-Targeted-Application`: `None` for the ISD-R.
    pub targeted: Option<Aid>,
    /// The POST answer body: an expanded command script, or raw data for an ISD-P.
    pub script: Vec<u8>,
}

/// Why an operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureReason {
    /// The PoR carried a status other than OK (TS 102 225 §5.1.2).
    PorStatus(PorStatus),
    /// A command answered with an error status word (the responses up to it are kept).
    Sw {
        /// Response APDUs received, the failing one last.
        responses: Vec<ResponseApdu>,
        /// The failing status word.
        sw: u16,
    },
    /// The script was not executed in full or the response could not be read.
    BadResponse(String),
    /// No PoR (or admin session) after every attempt.
    NoResponse {
        /// Sends made.
        attempts: u32,
    },
    /// The SCP81 script status was not `ok`.
    ScriptStatus(ScriptStatus),
    /// The admin session ended before the script was answered.
    SessionClosed,
    /// The command could not be built or secured.
    Build(String),
    /// No counter could be allocated.
    Counter(CounterSourceError),
}

/// What the engine asks the caller to do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these short messages (8-bit, TP-PID `7F`, class 2) to the eUICC.
    SendSms {
        /// The eUICC.
        eid: Eid,
        /// The user data of each message, in order.
        parts: Vec<UserData>,
    },
    /// The operation completed: every command ran.
    Completed {
        /// The caller's id.
        operation: OperationId,
        /// The response APDUs (for a compact response, the last one only; empty for
        /// [`Payload::Raw`]).
        responses: Vec<ResponseApdu>,
        /// Status word of the last command (`9000` for [`Payload::Raw`]).
        last_sw: u16,
        /// The raw PoR additional data or admin session response body.
        raw: Vec<u8>,
    },
    /// The operation failed.
    Failed {
        /// The caller's id.
        operation: OperationId,
        /// Why.
        reason: FailureReason,
    },
    /// The ValidityPeriod passed before the operation completed (SGP.02 "Expired").
    Expired {
        /// The caller's id.
        operation: OperationId,
    },
    /// A default notification arrived from the eUICC (digest §3.3).
    Notification {
        /// The eUICC (checked against the notification's `4C`).
        eid: Eid,
        /// The decoded `E1`.
        notification: Notification,
        /// Its sequence number (`4E`), for [`Channel::confirm_notification`].
        seq: u16,
    },
}

/// Errors of [`Channel::handle_sms`] and the session calls. The channel's state is unchanged when
/// one is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Es5Error {
    /// The user data is neither a response packet (RPI `71`) nor a command packet (CPI `70`).
    #[error("SMS user data is not a secured packet (no CPI/RPI)")]
    NotSecured,
    /// The packet failed SCP80 decoding or verification (offsets in the error).
    #[error("SCP80: {0}")]
    Scp80(#[from] Scp80Error),
    /// A PoR arrived while no SMS command is outstanding (late or replayed).
    #[error("PoR while no command is outstanding")]
    NoOutstanding,
    /// The PoR's TAR is not the outstanding command's.
    #[error("PoR TAR {found} does not match the outstanding command's {expected}")]
    TarMismatch {
        /// TAR of the outstanding command.
        expected: Tar,
        /// TAR in the PoR.
        found: Tar,
    },
    /// The PoR's counter is not the outstanding command's (replayed or stale PoR).
    #[error("PoR counter {found} does not match the outstanding command's {expected}")]
    CounterMismatch {
        /// Counter of the outstanding command.
        expected: u64,
        /// Counter in the PoR.
        found: u64,
    },
    /// An MO command packet that is not a notification: wrong TAR or an SPI with a counter.
    #[error("MO packet is not a notification: {0}")]
    NotANotification(&'static str),
    /// The notification `E1` could not be decoded.
    #[error("notification: {0}")]
    Notification(#[from] GpError),
    /// The notification names another eUICC.
    #[error("notification from EID {found}, channel is for {expected}")]
    EidMismatch {
        /// The channel's EID.
        expected: Eid,
        /// The EID in `4C`.
        found: Eid,
    },
    /// An admin session call while no admin session script is outstanding.
    #[error("no admin session script is outstanding")]
    NoScriptOutstanding,
}

#[derive(Debug, Clone)]
enum Outstanding {
    /// An SCP80 packet is out (command or session trigger); waiting for the PoR or timeout.
    Sms {
        request: Es5Request,
        /// Set for a session trigger (HTTPS transport): the request stays queued.
        trigger: bool,
        tar: Tar,
        counter: Counter,
        parts: Vec<UserData>,
        attempts: u32,
        retry_at: Millis,
    },
    /// The session trigger was delivered (or is awaited without PoR); waiting for the session.
    AwaitingSession {
        request: Es5Request,
        attempts: u32,
        retry_at: Millis,
    },
    /// A script is in an open admin session; waiting for its answer.
    InSession { request: Es5Request },
}

/// The ES5 engine for one eUICC (see the module documentation).
#[derive(Debug)]
pub struct Channel {
    eid: Eid,
    kvn: u8,
    keys: Keyset,
    config: Config,
    transport: Transport,
    queue: VecDeque<Es5Request>,
    outstanding: Option<Outstanding>,
    session_open: bool,
    actions: VecDeque<Action>,
    concat_ref: u8,
}

impl Channel {
    /// A channel to `eid` using the SM-SR's copy of the ISD-R SCP80 keyset `keys` (key version
    /// `kvn`, passed to the [`CounterSource`]).
    pub fn new(eid: Eid, kvn: u8, keys: Keyset, transport: Transport, config: Config) -> Self {
        Channel {
            eid,
            kvn,
            keys,
            config,
            transport,
            queue: VecDeque::new(),
            outstanding: None,
            session_open: false,
            actions: VecDeque::new(),
            concat_ref: 0,
        }
    }

    /// The eUICC.
    pub fn eid(&self) -> &Eid {
        &self.eid
    }

    /// Commands queued behind the outstanding one.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether a command (or session trigger) is outstanding.
    pub fn is_busy(&self) -> bool {
        self.outstanding.is_some()
    }

    /// The next action for the caller, in order.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When the caller should call [`Channel::handle_timeout`] next.
    pub fn poll_timeout(&self) -> Option<Millis> {
        match &self.outstanding {
            Some(Outstanding::Sms {
                retry_at, request, ..
            })
            | Some(Outstanding::AwaitingSession {
                retry_at, request, ..
            }) => Some((*retry_at).min(request.deadline)),
            Some(Outstanding::InSession { request }) => Some(request.deadline),
            None => None,
        }
    }

    /// Queues a command behind the others and starts it if the channel is idle.
    pub fn enqueue(&mut self, request: Es5Request, now: Millis, counters: &mut dyn CounterSource) {
        self.queue.push_back(request);
        self.drive(now, counters);
    }

    /// Queues the `3A08` confirmation of notification `seq` (SGP.02 ES5.HandleNotificationConfirmation)
    /// to the ISD-R, valid for [`Config::confirmation_validity`].
    pub fn confirm_notification(
        &mut self,
        seq: u16,
        operation: OperationId,
        now: Millis,
        counters: &mut dyn CounterSource,
    ) {
        let payload = Es5Command::NotificationConfirmation { sequence: seq }.to_commands(255);
        match payload {
            Ok(apdus) => self.enqueue(
                Es5Request {
                    operation,
                    target: Target::IsdR,
                    payload: Payload::Apdus(apdus),
                    deadline: now.saturating_add(self.config.confirmation_validity),
                },
                now,
                counters,
            ),
            Err(e) => self.actions.push_back(Action::Failed {
                operation,
                reason: FailureReason::Build(e.to_string()),
            }),
        }
    }

    /// Starts queued commands while the channel is idle (expiring those past their deadline).
    fn drive(&mut self, now: Millis, counters: &mut dyn CounterSource) {
        while self.outstanding.is_none() {
            let Some(request) = self.queue.pop_front() else {
                return;
            };
            if now >= request.deadline {
                self.actions.push_back(Action::Expired {
                    operation: request.operation,
                });
                continue;
            }
            match &self.transport {
                Transport::Sms => {
                    let built = self.command_data(&request).and_then(|data| {
                        let tar = self.tar_of(&request.target)?;
                        Ok((tar, data))
                    });
                    match built {
                        Ok((tar, data)) => self.send_packet(
                            request,
                            tar,
                            data,
                            self.config.spi,
                            false,
                            1,
                            now,
                            counters,
                        ),
                        Err(reason) => self.actions.push_back(Action::Failed {
                            operation: request.operation,
                            reason,
                        }),
                    }
                }
                Transport::Https { trigger } => {
                    if self.session_open {
                        // Handed out by `next_script`; keep it at the head.
                        self.queue.push_front(request);
                        return;
                    }
                    let trigger = trigger.clone();
                    let spi = self.trigger_spi();
                    self.send_packet(request, Tar::ISD_R, trigger, spi, true, 1, now, counters);
                }
            }
        }
    }

    fn tar_of(&self, target: &Target) -> Result<Tar, FailureReason> {
        match target {
            Target::IsdR => Ok(Tar::ISD_R),
            Target::IsdP(aid) => aid
                .sgp02_tar()
                .ok_or_else(|| FailureReason::Build(format!("{aid} is not an SGP.02 ISD-P AID"))),
        }
    }

    fn command_data(&self, request: &Es5Request) -> Result<Vec<u8>, FailureReason> {
        match &request.payload {
            Payload::Apdus(apdus) => CommandScript::of_apdus(apdus.iter().cloned())
                .encode()
                .map_err(|e| FailureReason::Build(e.to_string())),
            Payload::Raw(data) => Ok(data.clone()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn send_packet(
        &mut self,
        request: Es5Request,
        tar: Tar,
        data: Vec<u8>,
        spi: Spi,
        trigger: bool,
        attempts: u32,
        now: Millis,
        counters: &mut dyn CounterSource,
    ) {
        let counter = match counters.allocate(&self.eid, self.kvn) {
            Ok(c) => c,
            Err(e) => {
                self.actions.push_back(Action::Failed {
                    operation: request.operation,
                    reason: FailureReason::Counter(e),
                });
                return;
            }
        };
        let packet = esim_crypto::scp80::CommandPacket {
            spi,
            tar,
            counter,
            data,
        }
        .encode(&self.keys);
        self.concat_ref = self.concat_ref.wrapping_add(1);
        let parts = packet.map_err(|e| e.to_string()).and_then(|p| {
            split_packet(&p, PacketKind::Command, ConcatRef::Eight(self.concat_ref))
                .map_err(|e: SmsError| e.to_string())
        });
        match parts {
            Ok(parts) => {
                self.actions.push_back(Action::SendSms {
                    eid: self.eid.clone(),
                    parts: parts.clone(),
                });
                self.outstanding = Some(Outstanding::Sms {
                    request,
                    trigger,
                    tar,
                    counter,
                    parts,
                    attempts,
                    retry_at: now.saturating_add(self.back_off(attempts)),
                });
            }
            Err(e) => self.actions.push_back(Action::Failed {
                operation: request.operation,
                reason: FailureReason::Build(e),
            }),
        }
    }

    /// The SPI of the session trigger: the configured one with a PoR on error only.
    fn trigger_spi(&self) -> Spi {
        Spi {
            por: PorRequest::OnError,
            ..self.config.spi
        }
    }

    fn back_off(&self, attempts: u32) -> Millis {
        let factor = 1u64 << attempts.saturating_sub(1).min(20);
        self.config.initial_timeout.saturating_mul(factor)
    }

    /// Timers: re-sends the outstanding packet with exponential back-off (`initial_timeout`,
    /// then twice, four times … as long), fails it after [`Config::max_attempts`] sends, and
    /// expires it once its ValidityPeriod has passed; then starts the next command.
    pub fn handle_timeout(&mut self, now: Millis, counters: &mut dyn CounterSource) {
        match self.outstanding.take() {
            Some(Outstanding::Sms {
                request,
                trigger,
                tar,
                counter,
                parts,
                attempts,
                retry_at,
            }) => {
                if now >= request.deadline {
                    self.actions.push_back(Action::Expired {
                        operation: request.operation,
                    });
                } else if now < retry_at {
                    self.outstanding = Some(Outstanding::Sms {
                        request,
                        trigger,
                        tar,
                        counter,
                        parts,
                        attempts,
                        retry_at,
                    });
                } else if attempts >= self.config.max_attempts.max(1) {
                    self.fail(request, FailureReason::NoResponse { attempts });
                } else if trigger {
                    // No session came: trigger again, under a new counter (the trigger is
                    // idempotent; the old counter would be refused as a replay).
                    if let Transport::Https { trigger } = &self.transport {
                        let data = trigger.clone();
                        let spi = self.trigger_spi();
                        self.send_packet(
                            request,
                            Tar::ISD_R,
                            data,
                            spi,
                            true,
                            attempts + 1,
                            now,
                            counters,
                        );
                    }
                } else {
                    let attempts = attempts + 1;
                    self.actions.push_back(Action::SendSms {
                        eid: self.eid.clone(),
                        parts: parts.clone(),
                    });
                    self.outstanding = Some(Outstanding::Sms {
                        request,
                        trigger,
                        tar,
                        counter,
                        parts,
                        attempts,
                        retry_at: now.saturating_add(self.back_off(attempts)),
                    });
                }
            }
            Some(Outstanding::AwaitingSession {
                request,
                attempts,
                retry_at,
            }) => {
                if now >= request.deadline {
                    self.actions.push_back(Action::Expired {
                        operation: request.operation,
                    });
                } else if now < retry_at {
                    self.outstanding = Some(Outstanding::AwaitingSession {
                        request,
                        attempts,
                        retry_at,
                    });
                } else {
                    self.fail(request, FailureReason::NoResponse { attempts });
                }
            }
            Some(Outstanding::InSession { request }) => {
                if now >= request.deadline {
                    self.actions.push_back(Action::Expired {
                        operation: request.operation,
                    });
                } else {
                    self.outstanding = Some(Outstanding::InSession { request });
                }
            }
            None => {}
        }
        self.drive(now, counters);
    }

    fn fail(&mut self, request: Es5Request, reason: FailureReason) {
        self.actions.push_back(Action::Failed {
            operation: request.operation,
            reason,
        });
    }

    /// An MO short message's user data from the eUICC, reassembled by the caller
    /// ([`esim_apdu::sms::Reassembler`]): a PoR for the outstanding packet or a notification.
    /// Anything else is an error and changes nothing.
    pub fn handle_sms(
        &mut self,
        user_data: &[u8],
        now: Millis,
        counters: &mut dyn CounterSource,
    ) -> Result<(), Es5Error> {
        if udh::split_udh(user_data, udh::IEI_RPI).is_ok() {
            self.handle_por(user_data, now)?;
            self.drive(now, counters);
            Ok(())
        } else if udh::split_udh(user_data, udh::IEI_CPI).is_ok() {
            self.handle_notification(user_data)
        } else {
            Err(Es5Error::NotSecured)
        }
    }

    fn handle_por(&mut self, user_data: &[u8], now: Millis) -> Result<(), Es5Error> {
        let Some(Outstanding::Sms {
            tar,
            counter,
            trigger,
            ..
        }) = &self.outstanding
        else {
            return Err(Es5Error::NoOutstanding);
        };
        let spi = if *trigger {
            self.trigger_spi()
        } else {
            self.config.spi
        };
        let por = decode_por(user_data, &spi, &self.keys)?;
        if por.packet.tar != *tar {
            return Err(Es5Error::TarMismatch {
                expected: *tar,
                found: por.packet.tar,
            });
        }
        if por.packet.counter != *counter {
            return Err(Es5Error::CounterMismatch {
                expected: counter.value(),
                found: por.packet.counter.value(),
            });
        }
        let Some(Outstanding::Sms {
            request,
            trigger,
            attempts,
            ..
        }) = self.outstanding.take()
        else {
            return Err(Es5Error::NoOutstanding);
        };
        if por.packet.status != PorStatus::Ok {
            self.fail(request, FailureReason::PorStatus(por.packet.status));
            return Ok(());
        }
        if trigger {
            // A PoR OK for the trigger (only sent when the SPI asks always): wait for the session.
            self.outstanding = Some(Outstanding::AwaitingSession {
                request,
                attempts,
                retry_at: now.saturating_add(self.back_off(attempts)),
            });
            return Ok(());
        }
        let action = outcome(request, &por.packet.data);
        self.actions.push_back(action);
        Ok(())
    }

    fn handle_notification(&mut self, user_data: &[u8]) -> Result<(), Es5Error> {
        let packet = udh::strip_command_udh(user_data)?;
        let secured = parse_command(packet)?;
        let h = *secured.header();
        if h.tar != Tar::ISD_R {
            return Err(Es5Error::NotANotification("TAR is not the ISD-R's"));
        }
        if h.spi.counter != CounterMode::None {
            return Err(Es5Error::NotANotification("SPI requests counter checking"));
        }
        if h.spi.integrity == Integrity::None {
            return Err(Es5Error::NotANotification("SPI without RC/CC"));
        }
        let opened = secured.open(&self.keys)?;
        let notification = Notification::decode(&opened.data)?;
        if notification.eid != self.eid {
            return Err(Es5Error::EidMismatch {
                expected: self.eid.clone(),
                found: notification.eid.clone(),
            });
        }
        let seq = notification.sequence;
        self.actions.push_back(Action::Notification {
            eid: self.eid.clone(),
            notification,
            seq,
        });
        Ok(())
    }

    /// The device opened an admin session for this eUICC (HTTPS transport).
    pub fn session_opened(&mut self, now: Millis, counters: &mut dyn CounterSource) {
        self.session_open = true;
        if let Some(Outstanding::Sms { trigger: true, .. } | Outstanding::AwaitingSession { .. }) =
            &self.outstanding
        {
            if let Some(
                Outstanding::Sms { request, .. } | Outstanding::AwaitingSession { request, .. },
            ) = self.outstanding.take()
            {
                self.queue.push_front(request);
            }
        }
        self.drive(now, counters);
    }

    /// The next script for the open admin session, or `None` (the session may end). Expired
    /// commands are reported and skipped.
    pub fn next_script(&mut self, now: Millis) -> Option<AdminScript> {
        if self.outstanding.is_some() || !self.session_open {
            return None;
        }
        while let Some(request) = self.queue.pop_front() {
            if now >= request.deadline {
                self.actions.push_back(Action::Expired {
                    operation: request.operation,
                });
                continue;
            }
            let targeted = match &request.target {
                Target::IsdR => None,
                Target::IsdP(aid) => Some(aid.clone()),
            };
            match self.command_data(&request) {
                Ok(script) => {
                    self.outstanding = Some(Outstanding::InSession { request });
                    return Some(AdminScript { targeted, script });
                }
                Err(reason) => self.fail(request, reason),
            }
        }
        None
    }

    /// The card's answer to the script handed out by [`Channel::next_script`].
    pub fn handle_script_response(
        &mut self,
        status: ScriptStatus,
        body: &[u8],
    ) -> Result<(), Es5Error> {
        let Some(Outstanding::InSession { request }) = self.outstanding.take() else {
            return Err(Es5Error::NoScriptOutstanding);
        };
        if status != ScriptStatus::Ok {
            self.fail(request, FailureReason::ScriptStatus(status));
        } else {
            let action = outcome(request, body);
            self.actions.push_back(action);
        }
        Ok(())
    }

    /// The admin session ended. A script handed out and not answered fails (it may have run).
    pub fn session_closed(&mut self, now: Millis, counters: &mut dyn CounterSource) {
        self.session_open = false;
        if let Some(Outstanding::InSession { request }) = self.outstanding.take() {
            self.fail(request, FailureReason::SessionClosed);
        }
        self.drive(now, counters);
    }
}

/// Reads the answer to `request` (PoR additional data or admin session body).
fn outcome(request: Es5Request, data: &[u8]) -> Action {
    let operation = request.operation;
    let expected = match &request.payload {
        Payload::Raw(_) => {
            return Action::Completed {
                operation,
                responses: Vec::new(),
                last_sw: 0x9000,
                raw: data.to_vec(),
            };
        }
        Payload::Apdus(a) => a.len(),
    };
    let parsed: Result<(Vec<ResponseApdu>, usize), String> = match data.first() {
        Some(0xAB | 0xAF) => ResponseScript::decode(data)
            .map_err(|e: ScriptError| format!("response script: {e}"))
            .map(|rs| {
                let responses: Vec<ResponseApdu> = rs.responses().cloned().collect();
                let executed = rs.executed().map_or(responses.len(), usize::from);
                (responses, executed)
            }),
        Some(_) => CompactResponse::decode(data)
            .map_err(|e| format!("compact response: {e}"))
            .map(|c| {
                let sw = StatusWord::from_u16(u16::from_be_bytes(c.last_sw));
                (
                    vec![ResponseApdu::new(c.last_data, sw)],
                    usize::from(c.commands_executed),
                )
            }),
        None => Err("PoR without response data".into()),
    };
    let (responses, executed) = match parsed {
        Ok(p) => p,
        Err(e) => {
            return Action::Failed {
                operation,
                reason: FailureReason::BadResponse(e),
            };
        }
    };
    let Some(last) = responses.last() else {
        return Action::Failed {
            operation,
            reason: FailureReason::BadResponse("no response APDU".into()),
        };
    };
    let last_sw = last.sw.to_u16();
    if !last.sw.is_success() {
        return Action::Failed {
            operation,
            reason: FailureReason::Sw {
                responses,
                sw: last_sw,
            },
        };
    }
    if executed != expected {
        return Action::Failed {
            operation,
            reason: FailureReason::BadResponse(format!(
                "{executed} of {expected} commands executed"
            )),
        };
    }
    Action::Completed {
        operation,
        responses,
        last_sw,
        raw: data.to_vec(),
    }
}
