//! Administration session triggering parameters (GP Amd B §3.8 and Table 3-3; sgp02-gaps §7,
//! digest §5.3 "Trigger"): the `81` TLV an SM-SR sends, SCP80-secured, to the ISD-R TAR to make
//! the card open an HTTPS administration session.
//!
//! ```text
//! 81 admin session triggering parameters
//!    83 security-domain admin session parameters
//!       84 connection parameters (BIP OPEN CHANNEL TLVs, kept as bytes)
//!       85 security parameters: len ‖ PSK-ID ‖ 02 ‖ KVN ‖ KID [‖ SHA type]
//!       A5 extended security parameters (kept as bytes)
//!       86 retry policy: counter(2) ‖ waiting delay(5) [‖ failure report]
//!       89 HTTP POST parameters: 8A admin host, 8B agent id, 8C admin URI
//!    B3 DNS resolution parameters: D6 FQDN, FA DNS connection parameters (kept as bytes)
//! ```
//!
//! `81 00` (no `83`, no `B3`) means "use the defaults" (sgp02-gaps §7). Decoding is strict:
//! every sub-TLV at most once, no unknown tags, no trailing bytes. Encoding writes the sub-TLVs in
//! the order above (decoding accepts any order).

use bytes::Bytes;
use esim_codec::ber::{self, DecodeError, DecodeErrorKind, Tlv, Writer};

use super::AdminError;

const T_TRIGGER: u8 = 0x81;
const T_SESSION: u8 = 0x83;
const T_CONNECTION: u8 = 0x84;
const T_SECURITY: u8 = 0x85;
const T_EXT_SECURITY: u8 = 0xA5;
const T_RETRY: u8 = 0x86;
const T_HTTP_POST: u8 = 0x89;
const T_HOST: u8 = 0x8A;
const T_AGENT_ID: u8 = 0x8B;
const T_URI: u8 = 0x8C;
const T_DNS: u8 = 0xB3;
const T_FQDN: u8 = 0xD6;
const T_DNS_CONNECTION: u32 = 0xFA;

/// The `81` TLV (GP Amd B Table 3-3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminSessionTrigger {
    /// `83` security-domain administration session parameters.
    pub session: Option<AdminSessionParams>,
    /// `B3` DNS resolution parameters.
    pub dns: Option<DnsResolutionParams>,
}

/// `83` security-domain administration session parameters (GP Amd B Table 3-3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminSessionParams {
    /// `84` connection parameters: the value (BIP OPEN CHANNEL TLVs, ETSI TS 102 223 §6.6.27),
    /// kept as bytes.
    pub connection: Option<Bytes>,
    /// `85` security parameters.
    pub security: Option<SecurityParams>,
    /// `A5` extended security parameters, kept as bytes.
    pub extended_security: Option<Bytes>,
    /// `86` retry policy.
    pub retry: Option<RetryPolicy>,
    /// `89` HTTP POST parameters.
    pub http_post: Option<HttpPostParams>,
}

/// `85` security parameters (GP Amd B §3.8.2): which PSK the card uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityParams {
    /// PSK identity (up to 255 bytes).
    pub psk_id: Bytes,
    /// Key version number.
    pub kvn: u8,
    /// Key identifier.
    pub kid: u8,
    /// Optional SHA type byte.
    pub sha_type: Option<u8>,
}

/// `86` session retry policy (GP Amd B §3.8.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retry counter.
    pub counter: u16,
    /// Retry waiting delay, 5 bytes as sent (Njiwa writes a TS 102 223 timer value TLV
    /// `A5 03 hh mm ss`; sgp02-gaps §7).
    pub waiting_delay: [u8; 5],
    /// Retry failure report bytes (Njiwa: `87 00`); empty = absent.
    pub failure_report: Bytes,
}

/// `89` HTTP POST parameters (GP Amd B §3.8.4–§3.8.6), UTF-8 strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpPostParams {
    /// `8A` administration host (the `Host` header).
    pub host: Option<String>,
    /// `8B` agent identity.
    pub agent_id: Option<String>,
    /// `8C` administration URI (the first `POST`'s target).
    pub uri: Option<String>,
}

/// `B3` DNS resolution parameters (GP Amd B §3.11).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsResolutionParams {
    /// `D6` FQDN of the remote administration server, as bytes.
    pub fqdn: Option<Bytes>,
    /// `FA` DNS connection parameters (BIP OPEN CHANNEL TLVs), as bytes.
    pub connection: Option<Bytes>,
}

impl AdminSessionTrigger {
    /// The minimal trigger `81 00` (defaults).
    pub fn minimal() -> Self {
        Self::default()
    }

    /// Encodes the `81` TLV.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new();
        w.constructed(T_TRIGGER, |w| {
            if let Some(s) = &self.session {
                w.constructed(T_SESSION, |w| s.write(w));
            }
            if let Some(d) = &self.dns {
                w.constructed(T_DNS, |w| {
                    if let Some(f) = &d.fqdn {
                        w.put(T_FQDN, f);
                    }
                    if let Some(c) = &d.connection {
                        w.put(T_DNS_CONNECTION, c);
                    }
                });
            }
        });
        w.into_bytes()
    }

    /// Decodes a whole buffer holding one `81` TLV.
    pub fn decode(buf: &[u8]) -> Result<Self, AdminError> {
        Self::decode_inner(buf).map_err(AdminError::Trigger)
    }

    fn decode_inner(buf: &[u8]) -> Result<Self, DecodeError> {
        let top = ber::parse_one(buf)?.expect_tag(T_TRIGGER)?;
        let mut out = AdminSessionTrigger::default();
        for child in top.children() {
            let child = child?;
            match child.tag.0 {
                0x83 => {
                    once(&out.session, &child)?;
                    out.session = Some(AdminSessionParams::decode(&child)?);
                }
                0xB3 => {
                    once(&out.dns, &child)?;
                    let mut d = DnsResolutionParams::default();
                    for c in child.children() {
                        let c = c?;
                        match c.tag.0 {
                            0xD6 => {
                                once(&d.fqdn, &c)?;
                                d.fqdn = Some(Bytes::copy_from_slice(c.value));
                            }
                            0xFA => {
                                once(&d.connection, &c)?;
                                d.connection = Some(Bytes::copy_from_slice(c.value));
                            }
                            _ => return Err(unknown(&c, "B3 DNS resolution parameters")),
                        }
                    }
                    out.dns = Some(d);
                }
                _ => return Err(unknown(&child, "81 trigger parameters")),
            }
        }
        Ok(out)
    }
}

impl AdminSessionParams {
    fn write(&self, w: &mut Writer) {
        if let Some(c) = &self.connection {
            w.put(T_CONNECTION, c);
        }
        if let Some(s) = &self.security {
            let mut v = Vec::with_capacity(s.psk_id.len() + 5);
            // The length byte is bounded by the constructor check in `SecurityParams::new`;
            // a longer identity is truncated to its first 255 bytes rather than mis-encoded.
            let id = &s.psk_id[..s.psk_id.len().min(255)];
            v.push(id.len() as u8);
            v.extend_from_slice(id);
            v.extend_from_slice(&[0x02, s.kvn, s.kid]);
            if let Some(sha) = s.sha_type {
                v.push(sha);
            }
            w.put(T_SECURITY, &v);
        }
        if let Some(x) = &self.extended_security {
            w.put(T_EXT_SECURITY, x);
        }
        if let Some(r) = &self.retry {
            let mut v = r.counter.to_be_bytes().to_vec();
            v.extend_from_slice(&r.waiting_delay);
            v.extend_from_slice(&r.failure_report);
            w.put(T_RETRY, &v);
        }
        if let Some(h) = &self.http_post {
            w.constructed(T_HTTP_POST, |w| {
                if let Some(x) = &h.host {
                    w.put(T_HOST, x.as_bytes());
                }
                if let Some(x) = &h.agent_id {
                    w.put(T_AGENT_ID, x.as_bytes());
                }
                if let Some(x) = &h.uri {
                    w.put(T_URI, x.as_bytes());
                }
            });
        }
    }

    fn decode(t: &Tlv<'_>) -> Result<Self, DecodeError> {
        let mut out = AdminSessionParams::default();
        for c in t.children() {
            let c = c?;
            match c.tag.0 {
                0x84 => {
                    once(&out.connection, &c)?;
                    out.connection = Some(Bytes::copy_from_slice(c.value));
                }
                0x85 => {
                    once(&out.security, &c)?;
                    out.security = Some(SecurityParams::decode(&c)?);
                }
                0xA5 => {
                    once(&out.extended_security, &c)?;
                    out.extended_security = Some(Bytes::copy_from_slice(c.value));
                }
                0x86 => {
                    once(&out.retry, &c)?;
                    let v = c.value;
                    if v.len() < 7 {
                        return Err(DecodeError::bad_value(
                            c.value_offset,
                            "86 retry policy",
                            format!("{} byte(s), needs at least 7", v.len()),
                        ));
                    }
                    let mut delay = [0u8; 5];
                    delay.copy_from_slice(&v[2..7]);
                    out.retry = Some(RetryPolicy {
                        counter: u16::from_be_bytes([v[0], v[1]]),
                        waiting_delay: delay,
                        failure_report: Bytes::copy_from_slice(&v[7..]),
                    });
                }
                0x89 => {
                    once(&out.http_post, &c)?;
                    let mut h = HttpPostParams::default();
                    for p in c.children() {
                        let p = p?;
                        let slot = match p.tag.0 {
                            0x8A => &mut h.host,
                            0x8B => &mut h.agent_id,
                            0x8C => &mut h.uri,
                            _ => return Err(unknown(&p, "89 HTTP POST parameters")),
                        };
                        once(slot, &p)?;
                        let text = std::str::from_utf8(p.value).map_err(|e| {
                            DecodeError::bad_value(
                                p.value_offset + e.valid_up_to(),
                                format!("{} HTTP POST parameter", p.tag),
                                "not UTF-8",
                            )
                        })?;
                        *slot = Some(text.to_string());
                    }
                    out.http_post = Some(h);
                }
                _ => return Err(unknown(&c, "83 admin session parameters")),
            }
        }
        Ok(out)
    }
}

impl SecurityParams {
    /// Security parameters; `psk_id` must be at most 255 bytes.
    pub fn new(psk_id: Bytes, kvn: u8, kid: u8, sha_type: Option<u8>) -> Result<Self, AdminError> {
        if psk_id.len() > 255 {
            return Err(AdminError::Trigger(DecodeError::bad_value(
                0,
                "85 PSK identity",
                format!("{} bytes, at most 255", psk_id.len()),
            )));
        }
        Ok(SecurityParams {
            psk_id,
            kvn,
            kid,
            sha_type,
        })
    }

    fn decode(t: &Tlv<'_>) -> Result<Self, DecodeError> {
        let v = t.value;
        let at = t.value_offset;
        let id_len = usize::from(
            *v.first()
                .ok_or_else(|| DecodeError::bad_value(at, "85 security parameters", "empty"))?,
        );
        let rest = v.get(1 + id_len..).ok_or_else(|| {
            DecodeError::bad_value(
                at,
                "85 PSK identity",
                format!("length {id_len} exceeds the {} byte(s) left", v.len() - 1),
            )
        })?;
        let psk_id = Bytes::copy_from_slice(&v[1..1 + id_len]);
        let off = at + 1 + id_len;
        match rest {
            [0x02, kvn, kid] => Ok(SecurityParams {
                psk_id,
                kvn: *kvn,
                kid: *kid,
                sha_type: None,
            }),
            [0x02, kvn, kid, sha] => Ok(SecurityParams {
                psk_id,
                kvn: *kvn,
                kid: *kid,
                sha_type: Some(*sha),
            }),
            [l, ..] if *l != 0x02 => Err(DecodeError::bad_value(
                off,
                "85 key reference length",
                format!("{l:02X} instead of 02"),
            )),
            _ => Err(DecodeError::bad_value(
                off,
                "85 key reference",
                format!(
                    "{} byte(s) after the PSK identity, expected 3 or 4",
                    rest.len()
                ),
            )),
        }
    }
}

fn once<T>(slot: &Option<T>, t: &Tlv<'_>) -> Result<(), DecodeError> {
    if slot.is_some() {
        Err(DecodeError::bad_value(
            t.offset,
            format!("tag {}", t.tag),
            "appears twice",
        ))
    } else {
        Ok(())
    }
}

fn unknown(t: &Tlv<'_>, inside: &str) -> DecodeError {
    DecodeError::new(
        t.offset,
        DecodeErrorKind::BadValue {
            field: inside.to_string(),
            reason: format!("unknown tag {}", t.tag),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        esim_codec::hex::decode(s).expect("hex")
    }

    #[test]
    fn minimal_is_81_00() {
        assert_eq!(AdminSessionTrigger::minimal().encode(), vec![0x81, 0x00]);
        assert_eq!(
            AdminSessionTrigger::decode(&[0x81, 0x00]).expect("decode"),
            AdminSessionTrigger::minimal()
        );
    }

    /// pySim's `SecurityParams` test vector (sgp02-gaps §7): `850804deadbeef020040`.
    #[test]
    fn pysim_security_params_vector() {
        let bytes = hex("810c830a850804deadbeef020040");
        let t = AdminSessionTrigger::decode(&bytes).expect("decode");
        let s = t
            .session
            .as_ref()
            .and_then(|s| s.security.as_ref())
            .expect("85");
        assert_eq!(&s.psk_id[..], &hex("deadbeef")[..]);
        assert_eq!((s.kvn, s.kid, s.sha_type), (0x00, 0x40, None));
        assert_eq!(t.encode(), bytes);
    }

    /// pySim's `AdminHostParam` / `AdminUriParam` test vectors.
    #[test]
    fn pysim_http_post_vectors() {
        let host = "8a0a61646d696e2e686f7374";
        let uri = "8c1668747470733a2f2f61646d696e2e686f73742f757269";
        let inner = format!("89{:02x}{host}{uri}", (host.len() + uri.len()) / 2);
        let session = format!("83{:02x}{inner}", inner.len() / 2);
        let bytes = hex(&format!("81{:02x}{session}", session.len() / 2));
        let t = AdminSessionTrigger::decode(&bytes).expect("decode");
        let h = t
            .session
            .as_ref()
            .and_then(|s| s.http_post.as_ref())
            .expect("89");
        assert_eq!(h.host.as_deref(), Some("admin.host"));
        assert_eq!(h.uri.as_deref(), Some("https://admin.host/uri"));
        assert_eq!(h.agent_id, None);
        assert_eq!(t.encode(), bytes);
    }

    #[test]
    fn full_form_round_trip() {
        let t = AdminSessionTrigger {
            session: Some(AdminSessionParams {
                connection: Some(Bytes::from_static(&[0x35, 0x01, 0x03])),
                security: Some(
                    SecurityParams::new(Bytes::from_static(b"id"), 0x40, 0x01, Some(0x02))
                        .expect("params"),
                ),
                extended_security: None,
                retry: Some(RetryPolicy {
                    counter: 3,
                    waiting_delay: [0xA5, 0x03, 0x00, 0x01, 0x00],
                    failure_report: Bytes::from_static(&[0x87, 0x00]),
                }),
                http_post: Some(HttpPostParams {
                    host: None,
                    agent_id: Some("agent".into()),
                    uri: Some("/admin".into()),
                }),
            }),
            dns: Some(DnsResolutionParams {
                fqdn: Some(Bytes::from_static(b"smsr.example")),
                connection: None,
            }),
        };
        let b = t.encode();
        assert_eq!(AdminSessionTrigger::decode(&b).expect("decode"), t);
    }

    #[test]
    fn rejects_malformed() {
        for (bytes, needle) in [
            ("8100ff", "trailing"),
            ("8200", "expected tag 81"),
            ("81028f00", "unknown tag"),
            ("8106830484008400", "appears twice"),
            ("81058303860100", "86 retry policy"),
            ("8106830485020500", "exceeds"),
            ("810a83088506010103400102", "key reference length"),
            ("8107830589038a01ff", "UTF-8"),
        ] {
            let e = AdminSessionTrigger::decode(&hex(bytes)).expect_err(bytes);
            assert!(e.to_string().contains(needle), "{bytes}: {e}");
        }
    }
}
