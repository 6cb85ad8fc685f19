//! The 5-byte replay counter CNTR and the receiver's counter policy (ETSI TS 102 225 §5.1.1
//! SPI b5b4; response status codes `02`–`04`, table 5).

use super::{CounterMode, PorStatus, Scp80Error};
use std::fmt;

/// CNTR: a 40-bit big-endian counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Counter(u64);

impl Counter {
    /// `0000000000`.
    pub const ZERO: Counter = Counter(0);
    /// `FFFFFFFFFF`, the largest value; a stored counter at this value is blocked.
    pub const MAX: Counter = Counter((1 << 40) - 1);

    /// From a value; more than 2^40 − 1 is an error.
    pub fn new(value: u64) -> Result<Self, Scp80Error> {
        if value > Self::MAX.0 {
            return Err(Scp80Error::TooLong {
                field: "CNTR",
                value,
                max: Self::MAX.0,
            });
        }
        Ok(Counter(value))
    }

    /// From the five CNTR bytes.
    pub fn from_bytes(bytes: [u8; 5]) -> Self {
        let [a, b, c, d, e] = bytes;
        Counter(u64::from_be_bytes([0, 0, 0, a, b, c, d, e]))
    }

    /// The five CNTR bytes.
    pub fn to_bytes(self) -> [u8; 5] {
        let [_, _, _, a, b, c, d, e] = self.0.to_be_bytes();
        [a, b, c, d, e]
    }

    /// The value.
    pub fn value(self) -> u64 {
        self.0
    }

    /// The next value, or `None` at [`Counter::MAX`].
    pub fn next(self) -> Option<Counter> {
        (self.0 < Self::MAX.0).then_some(Counter(self.0 + 1))
    }
}

impl fmt::Display for Counter {
    /// Ten hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:010x}", self.0)
    }
}

/// The receiving entity's replay check (TS 102 225 §5.1.1 b5b4): `stored` is the last counter
/// value it accepted for this key set, `received` the packet's CNTR. On success the caller stores
/// `received` (for modes that check it). Errors are the PoR status to send:
/// [`PorStatus::CounterLow`], [`PorStatus::CounterHigh`] (only for "one higher") or
/// [`PorStatus::CounterBlocked`] when the stored counter has reached [`Counter::MAX`].
pub fn check_counter(
    mode: CounterMode,
    stored: Counter,
    received: Counter,
) -> Result<(), PorStatus> {
    match mode {
        CounterMode::None | CounterMode::NoReplayCheck => Ok(()),
        CounterMode::MustBeHigher => {
            if stored == Counter::MAX {
                Err(PorStatus::CounterBlocked)
            } else if received > stored {
                Ok(())
            } else {
                Err(PorStatus::CounterLow)
            }
        }
        CounterMode::MustBeOneHigher => match stored.next() {
            None => Err(PorStatus::CounterBlocked),
            Some(want) if received == want => Ok(()),
            Some(want) if received < want => Err(PorStatus::CounterLow),
            Some(_) => Err(PorStatus::CounterHigh),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(v: u64) -> Counter {
        Counter::new(v).unwrap()
    }

    #[test]
    fn bytes_round_trip() {
        let x = Counter::from_bytes([0, 0, 0, 1, 1]);
        assert_eq!(x.value(), 0x101);
        assert_eq!(x.to_bytes(), [0, 0, 0, 1, 1]);
        assert_eq!(x.to_string(), "0000000101");
        assert!(Counter::new(1 << 40).is_err());
        assert_eq!(Counter::MAX.next(), None);
    }

    #[test]
    fn policy() {
        use CounterMode::*;
        assert_eq!(check_counter(None, c(5), c(1)), Ok(()));
        assert_eq!(check_counter(NoReplayCheck, c(5), c(1)), Ok(()));
        assert_eq!(check_counter(MustBeHigher, c(5), c(6)), Ok(()));
        assert_eq!(check_counter(MustBeHigher, c(5), c(100)), Ok(()));
        assert_eq!(
            check_counter(MustBeHigher, c(5), c(5)),
            Err(PorStatus::CounterLow)
        );
        assert_eq!(
            check_counter(MustBeHigher, c(5), c(4)),
            Err(PorStatus::CounterLow)
        );
        assert_eq!(check_counter(MustBeOneHigher, c(5), c(6)), Ok(()));
        assert_eq!(
            check_counter(MustBeOneHigher, c(5), c(5)),
            Err(PorStatus::CounterLow)
        );
        assert_eq!(
            check_counter(MustBeOneHigher, c(5), c(7)),
            Err(PorStatus::CounterHigh)
        );
        assert_eq!(
            check_counter(MustBeHigher, Counter::MAX, Counter::MAX),
            Err(PorStatus::CounterBlocked)
        );
        assert_eq!(
            check_counter(MustBeOneHigher, Counter::MAX, c(1)),
            Err(PorStatus::CounterBlocked)
        );
    }
}
