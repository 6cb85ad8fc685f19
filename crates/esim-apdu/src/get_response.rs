//! GET RESPONSE / `61xx` / `6Cxx` handling for a terminal that talks T=0 style (ISO/IEC 7816-3
//! §10.3.5 and ISO/IEC 7816-4 §5.6, §11.5.5; ETSI TS 102 221 §7.3.1), without I/O.
//!
//! Start with [`AwaitingResponse::new`] for the command you sent, then feed every response to
//! [`AwaitingResponse::handle`]:
//!
//! * `61xx`: the data received so far is kept and the next step is
//!   [`Exchange::Send`] of `GET RESPONSE` (`0X C0 00 00 xx`, on the command's logical channel);
//! * `6Cxx`: the previous command is to be sent again with `Le = xx`;
//! * anything else: [`Exchange::Done`] with all the data accumulated and the final status word.
//!
//! ```
//! use esim_apdu::apdu::{CommandApdu, ResponseApdu};
//! use esim_apdu::get_response::{AwaitingResponse, Exchange};
//! let cmd = CommandApdu::new(0x80, 0xCA, 0xBF, 0x30).with_data([0x5C, 0x02, 0x7F, 0x21]);
//! let state = AwaitingResponse::new(&cmd);
//! let Exchange::Send { command, state } = state.handle(ResponseApdu::status(0x6104u16))? else {
//!     unreachable!()
//! };
//! assert_eq!(command.encode()?, [0x00, 0xC0, 0x00, 0x00, 0x04]);
//! let done = state.handle(ResponseApdu::new([1, 2, 3, 4], 0x9000u16))?;
//! assert!(matches!(done, Exchange::Done(r) if r.data == [1, 2, 3, 4]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::apdu::{ApduError, CommandApdu, ResponseApdu, cla};
use crate::sw::StatusWord;

/// Default bound on the data accumulated over `61xx` rounds (bytes).
pub const DEFAULT_MAX_TOTAL: usize = 65_536 * 4;
/// How many `6Cxx` answers in a row are accepted before giving up (a correct card needs one).
pub const MAX_WRONG_LE_RETRIES: u8 = 2;

/// Why the exchange cannot continue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GetResponseError {
    /// The card keeps answering `6Cxx`.
    #[error("card answered 6Cxx {0} times in a row")]
    WrongLeLoop(u8),
    /// More than the configured number of bytes were announced or received.
    #[error("response data exceeds {limit} bytes")]
    TooMuchData {
        /// The limit.
        limit: usize,
    },
    /// The command's class byte has no logical channel (CLA `FF`).
    #[error(transparent)]
    Apdu(#[from] ApduError),
}

/// The next step of the exchange.
#[derive(Debug)]
#[must_use]
pub enum Exchange {
    /// Send `command` and pass its response to `state`.
    Send {
        /// The command to transmit next.
        command: CommandApdu,
        /// The state waiting for its response.
        state: AwaitingResponse,
    },
    /// The exchange is complete: all data and the final status word.
    Done(ResponseApdu),
}

/// Waiting for the response to the last command sent.
#[derive(Debug, Clone)]
pub struct AwaitingResponse {
    last_sent: CommandApdu,
    data: Vec<u8>,
    wrong_le: u8,
    max_total: usize,
}

impl AwaitingResponse {
    /// Waits for the response to `sent`.
    pub fn new(sent: &CommandApdu) -> Self {
        Self::with_limit(sent, DEFAULT_MAX_TOTAL)
    }

    /// Like [`AwaitingResponse::new`], bounding the data accumulated over `61xx` rounds.
    pub fn with_limit(sent: &CommandApdu, max_total: usize) -> Self {
        AwaitingResponse {
            last_sent: sent.clone(),
            data: Vec::new(),
            wrong_le: 0,
            max_total,
        }
    }

    /// The data accumulated so far.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Processes the response to the last command sent.
    pub fn handle(mut self, response: ResponseApdu) -> Result<Exchange, GetResponseError> {
        if self.data.len() + response.data.len() > self.max_total {
            return Err(GetResponseError::TooMuchData {
                limit: self.max_total,
            });
        }
        match response.sw {
            StatusWord::BytesAvailable(n) => {
                self.data.extend_from_slice(&response.data);
                self.wrong_le = 0;
                let channel =
                    cla::logical_channel(self.last_sent.cla).ok_or(ApduError::BadChannel(0xFF))?;
                let get_response =
                    CommandApdu::new(cla::with_logical_channel(0x00, channel)?, 0xC0, 0x00, 0x00)
                        .with_le(if n == 0 { 256 } else { usize::from(n) });
                self.last_sent = get_response.clone();
                Ok(Exchange::Send {
                    command: get_response,
                    state: self,
                })
            }
            StatusWord::WrongLe(n) => {
                self.wrong_le += 1;
                if self.wrong_le > MAX_WRONG_LE_RETRIES {
                    return Err(GetResponseError::WrongLeLoop(self.wrong_le));
                }
                // Any data that came with 6Cxx is not part of the answer (ISO/IEC 7816-4 §5.6).
                let mut again = self.last_sent.clone();
                again.le = Some(if n == 0 { 256 } else { usize::from(n) });
                self.last_sent = again.clone();
                Ok(Exchange::Send {
                    command: again,
                    state: self,
                })
            }
            sw => {
                self.data.extend_from_slice(&response.data);
                Ok(Exchange::Done(ResponseApdu {
                    data: self.data,
                    sw,
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send(x: Exchange) -> (CommandApdu, AwaitingResponse) {
        match x {
            Exchange::Send { command, state } => (command, state),
            Exchange::Done(r) => panic!("unexpected end: {r:?}"),
        }
    }

    #[test]
    fn accumulates_over_61xx() {
        let cmd = CommandApdu::new(0x81, 0xF2, 0x40, 0x02).with_data([0x4F, 0x00]);
        let s = AwaitingResponse::new(&cmd);
        let (c, s) = send(s.handle(ResponseApdu::status(0x6100u16)).unwrap());
        assert_eq!(c.encode().unwrap(), [0x01, 0xC0, 0, 0, 0x00]);
        let (c, s) = send(
            s.handle(ResponseApdu::new(vec![7; 256], 0x6102u16))
                .unwrap(),
        );
        assert_eq!(c.le, Some(2));
        match s.handle(ResponseApdu::new([8, 9], 0x6310u16)).unwrap() {
            Exchange::Done(r) => {
                assert_eq!(r.data.len(), 258);
                assert_eq!(&r.data[256..], &[8, 9]);
                assert_eq!(r.sw, StatusWord::MoreDataAvailable);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn resends_with_exact_le() {
        let cmd = CommandApdu::new(0x00, 0xB0, 0x00, 0x00).with_le(256);
        let s = AwaitingResponse::new(&cmd);
        let (c, s) = send(s.handle(ResponseApdu::status(0x6C10u16)).unwrap());
        assert_eq!(c.encode().unwrap(), [0x00, 0xB0, 0, 0, 0x10]);
        let (_, s) = send(s.handle(ResponseApdu::status(0x6C10u16)).unwrap());
        assert_eq!(
            s.handle(ResponseApdu::status(0x6C10u16)).unwrap_err(),
            GetResponseError::WrongLeLoop(3)
        );
    }

    #[test]
    fn bounds_memory() {
        let cmd = CommandApdu::new(0x00, 0xB0, 0x00, 0x00).with_le(256);
        let s = AwaitingResponse::with_limit(&cmd, 10);
        assert!(matches!(
            s.handle(ResponseApdu::new(vec![0; 11], 0x9000u16)),
            Err(GetResponseError::TooMuchData { limit: 10 })
        ));
    }
}
