//! The message as the SM-SR and the device agents see it: addresses, TP-PID, TP-DCS,
//! `esm_class` and the user data (UDH included when `esm_class` has UDHI set).
//!
//! SGP.02 ES5 over SMS (digest §5.1) uses SMS-PP with TP-PID `7F` ((U)SIM data download),
//! TP-DCS `F6` (8-bit data, class 2) and a user data header whose first element is the
//! command packet identifier IEI `70` (responses: IEI `71`), carried in SMPP as `esm_class`
//! `0x40` (UDHI, SMPP v3.4 §5.2.12), `protocol_id` `0x7F` (§5.2.13), `data_coding` `0xF6`
//! (§5.2.19).

use crate::pdu::{Address, ShortMessage, Tlv, tag};

/// `esm_class` bit 6: the user data begins with a user data header (SMPP v3.4 §5.2.12).
pub const ESM_CLASS_UDHI: u8 = 0x40;
/// `protocol_id` `0x7F`: (U)SIM data download (3GPP TS 23.040 §9.2.3.9).
pub const PID_SIM_DATA_DOWNLOAD: u8 = 0x7F;
/// `data_coding` `0xF6`: 8-bit data, message class 2 (SIM specific) (3GPP TS 23.038 §4).
pub const DCS_8BIT_CLASS2: u8 = 0xF6;

/// One short message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sms {
    /// Originator.
    pub source: Address,
    /// Recipient.
    pub destination: Address,
    /// `esm_class` (`0x40` when `user_data` starts with a UDH).
    pub esm_class: u8,
    /// `protocol_id` (TP-PID).
    pub protocol_id: u8,
    /// `data_coding` (TP-DCS).
    pub data_coding: u8,
    /// `registered_delivery` (SMPP v3.4 §5.2.17); the simulator does not issue receipts.
    pub registered_delivery: u8,
    /// TP-UD: the user data, UDH included, byte-exact.
    pub user_data: Vec<u8>,
}

impl Sms {
    /// A binary SMS-PP for (U)SIM data download whose `user_data` starts with a UDH
    /// (e.g. `02 70 00 …` for an SCP80 command packet): UDHI, PID `7F`, DCS `F6`.
    #[must_use]
    pub fn sim_data_download(source: Address, destination: Address, user_data: Vec<u8>) -> Self {
        Self {
            source,
            destination,
            esm_class: ESM_CLASS_UDHI,
            protocol_id: PID_SIM_DATA_DOWNLOAD,
            data_coding: DCS_8BIT_CLASS2,
            registered_delivery: 0,
            user_data,
        }
    }

    /// The `submit_sm` / `deliver_sm` body: user data up to 254 octets go in `short_message`,
    /// longer user data in the `message_payload` TLV (SMPP v3.4 §5.3.2.32).
    #[must_use]
    pub fn to_short_message(&self) -> ShortMessage {
        let (short_message, tlvs) = if self.user_data.len() <= 254 {
            (self.user_data.clone(), Vec::new())
        } else {
            (
                Vec::new(),
                vec![Tlv {
                    tag: tag::MESSAGE_PAYLOAD,
                    value: self.user_data.clone(),
                }],
            )
        };
        ShortMessage {
            source: self.source.clone(),
            destination: self.destination.clone(),
            esm_class: self.esm_class,
            protocol_id: self.protocol_id,
            data_coding: self.data_coding,
            registered_delivery: self.registered_delivery,
            short_message,
            tlvs,
            ..ShortMessage::default()
        }
    }

    /// The message carried by a `submit_sm` / `deliver_sm` body.
    #[must_use]
    pub fn from_short_message(sm: &ShortMessage) -> Self {
        Self {
            source: sm.source.clone(),
            destination: sm.destination.clone(),
            esm_class: sm.esm_class,
            protocol_id: sm.protocol_id,
            data_coding: sm.data_coding,
            registered_delivery: sm.registered_delivery,
            user_data: sm.user_data().to_vec(),
        }
    }

    /// `true` if `esm_class` signals a user data header.
    #[must_use]
    pub fn has_udh(&self) -> bool {
        self.esm_class & ESM_CLASS_UDHI != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_user_data_uses_message_payload() {
        let sms = Sms::sim_data_download(
            Address::unknown("smsr"),
            Address::international("447700900001"),
            vec![0xAB; 300],
        );
        let sm = sms.to_short_message();
        assert!(sm.short_message.is_empty());
        assert_eq!(sm.tlvs.len(), 1);
        assert_eq!(Sms::from_short_message(&sm), sms);
        let short = Sms {
            user_data: vec![2, 0x70, 0],
            ..sms
        };
        assert_eq!(Sms::from_short_message(&short.to_short_message()), short);
        assert!(short.has_udh());
    }
}
