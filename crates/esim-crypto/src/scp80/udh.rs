//! The SMS user data header in front of SCP80 packets (3GPP TS 31.115 §4.2, §4.4; 3GPP TS 23.040
//! §9.2.3.24): UDHL, then information elements. A command packet carries the Command Packet
//! Identifier (IEI `70`, length 0), a response packet the Response Packet Identifier (IEI `71`,
//! length 0). SMS TPDUs and concatenation are `esim_apdu::sms`'s job; these helpers handle only the
//! user data of one (reassembled) message.

use super::Scp80Error;

/// IEI of the Command Packet Identifier.
pub const IEI_CPI: u8 = 0x70;
/// IEI of the Response Packet Identifier.
pub const IEI_RPI: u8 = 0x71;
/// The UDH of a command packet: `02 70 00`.
pub const COMMAND_UDH: [u8; 3] = [0x02, IEI_CPI, 0x00];
/// The UDH of a response packet: `02 71 00`.
pub const RESPONSE_UDH: [u8; 3] = [0x02, IEI_RPI, 0x00];

/// `02 70 00 ‖ packet`: SMS user data of a command packet.
pub fn add_command_udh(packet: &[u8]) -> Vec<u8> {
    [&COMMAND_UDH[..], packet].concat()
}

/// `02 71 00 ‖ packet`: SMS user data of a response packet.
pub fn add_response_udh(packet: &[u8]) -> Vec<u8> {
    [&RESPONSE_UDH[..], packet].concat()
}

/// Splits SMS user data into its UDH (including UDHL) and the packet after it, requiring an
/// information element `iei` of length 0 among the header's elements. Other elements (e.g. a
/// concatenation header) are allowed.
pub fn split_udh(user_data: &[u8], iei: u8) -> Result<(&[u8], &[u8]), Scp80Error> {
    let udhl = usize::from(*user_data.first().ok_or(Scp80Error::Udh {
        offset: 0,
        what: "empty user data",
    })?);
    let header = user_data.get(1..1 + udhl).ok_or(Scp80Error::Udh {
        offset: 0,
        what: "UDHL runs past the end of the user data",
    })?;
    let mut pos = 0usize;
    let mut found = false;
    while pos < header.len() {
        let id = header[pos];
        let len = usize::from(*header.get(pos + 1).ok_or(Scp80Error::Udh {
            offset: 1 + pos,
            what: "information element without a length",
        })?);
        if pos + 2 + len > header.len() {
            return Err(Scp80Error::Udh {
                offset: 1 + pos,
                what: "information element runs past UDHL",
            });
        }
        if id == iei {
            if len != 0 {
                return Err(Scp80Error::Udh {
                    offset: 1 + pos,
                    what: "packet identifier element with a non-zero length",
                });
            }
            found = true;
        }
        pos += 2 + len;
    }
    if !found {
        return Err(Scp80Error::Udh {
            offset: 0,
            what: if iei == IEI_CPI {
                "no Command Packet Identifier (IEI 70)"
            } else {
                "no Response Packet Identifier (IEI 71)"
            },
        });
    }
    Ok(user_data.split_at(1 + udhl))
}

/// The command packet inside SMS user data (UDH with IEI `70`).
pub fn strip_command_udh(user_data: &[u8]) -> Result<&[u8], Scp80Error> {
    split_udh(user_data, IEI_CPI).map(|(_, p)| p)
}

/// The response packet inside SMS user data (UDH with IEI `71`).
pub fn strip_response_udh(user_data: &[u8]) -> Result<&[u8], Scp80Error> {
    split_udh(user_data, IEI_RPI).map(|(_, p)| p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_and_strip() {
        let ud = add_command_udh(&[1, 2, 3]);
        assert_eq!(ud, [2, 0x70, 0, 1, 2, 3]);
        assert_eq!(strip_command_udh(&ud).unwrap(), [1, 2, 3]);
        assert!(strip_response_udh(&ud).is_err());
        // With a concatenation element before the CPI.
        let ud = [7, 0x00, 3, 9, 2, 1, 0x70, 0, 0xAA];
        assert_eq!(strip_command_udh(&ud).unwrap(), [0xAA]);
        for bad in [
            &[][..],
            &[5, 0x70, 0][..],
            &[2, 0x70][..],
            &[2, 0x70, 1][..],
        ] {
            assert!(strip_command_udh(bad).is_err(), "{bad:?}");
        }
    }
}
