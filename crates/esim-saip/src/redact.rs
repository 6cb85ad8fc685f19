//! Redacted `Debug` for the PE-Definitions types that carry secrets (keys, OPc, PINs, PUKs,
//! CDMA shared secrets). Project rule: secrets never appear in logs, errors or `Debug`.
//! Only lengths are shown.

use crate::asn1::{
    AlgoParameter, AnonymousKeyObjectKeyComponents, PECDMAParameter, PINConfiguration,
    PUKConfiguration,
};
use core::fmt;

/// Shows a secret as its length only.
struct Redacted(usize);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.0)
    }
}

fn opt_len(v: &Option<rasn::types::OctetString>) -> Option<Redacted> {
    v.as_ref().map(|b| Redacted(b.len()))
}

impl fmt::Debug for AlgoParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlgoParameter")
            .field("algorithm_id", &self.algorithm_id)
            .field("algorithm_options", &self.algorithm_options)
            .field("key", &Redacted(self.key.len()))
            .field("opc", &Redacted(self.opc.len()))
            .field("rotation_constants", &self.rotation_constants)
            .field("xoring_constants", &self.xoring_constants)
            .field("auth_counter_max", &self.auth_counter_max)
            .field("number_of_keccak", &self.number_of_keccak)
            .finish()
    }
}

impl fmt::Debug for AnonymousKeyObjectKeyComponents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyComponent")
            .field("key_type", &self.key_type)
            .field("key_data", &Redacted(self.key_data.len()))
            .field("mac_length", &self.mac_length)
            .finish()
    }
}

impl fmt::Debug for PECDMAParameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PECDMAParameter")
            .field("cdma_header", &self.cdma_header)
            .field(
                "authentication_key",
                &Redacted(self.authentication_key.len()),
            )
            .field("ssd", &opt_len(&self.ssd))
            .field(
                "hrpd_access_authentication_data",
                &opt_len(&self.hrpd_access_authentication_data),
            )
            .field(
                "simple_ipauthentication_data",
                &opt_len(&self.simple_ipauthentication_data),
            )
            .field(
                "mobile_ipauthentication_data",
                &opt_len(&self.mobile_ipauthentication_data),
            )
            .finish()
    }
}

impl fmt::Debug for PINConfiguration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PINConfiguration")
            .field("key_reference", &self.key_reference)
            .field("pin_value", &Redacted(self.pin_value.len()))
            .field("unblocking_pinreference", &self.unblocking_pinreference)
            .field("pin_attributes", &self.pin_attributes)
            .field(
                "max_num_of_attemps_retry_num_left",
                &self.max_num_of_attemps_retry_num_left,
            )
            .finish()
    }
}

impl fmt::Debug for PUKConfiguration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PUKConfiguration")
            .field("key_reference", &self.key_reference)
            .field("puk_value", &Redacted(self.puk_value.len()))
            .field(
                "max_num_of_attemps_retry_num_left",
                &self.max_num_of_attemps_retry_num_left,
            )
            .finish()
    }
}
