//! The delete token of ES5 Master Delete (SGP.02 §3.10; digest §3.5; sgp02-gaps §1).
//!
//! No public source gives the token format. We use the closest standard construction, the
//! GlobalPlatform delete token (Card Specification v2.3 §11.2.2.1 and Annex C): a DELETE
//! [card content] command `80 E4 P1 P2 {4F L AID ‖ B6 L CRT ‖ 9E L token}` whose token
//! authenticates `P1 ‖ P2 ‖ L ‖ 4F L AID ‖ B6 L CRT` (L = the length of the two TLVs). GP signs
//! this with the Card Issuer's token key; SGP.02 says the SM-DP issues the token and the ISD-P
//! verifies it, so the key is one the SM-DP and the ISD-P share: **the ISD-P's static SCP03
//! Key-MAC** (established by ECKA, or provisioned with the bootstrap profile), and the token is
//! the full 16-byte **AES-CMAC**. docs/spec-choices.md, row "Master Delete token".

use esim_codec::Aid;
use esim_codec::ber;
use esim_crypto::SecretKey;
use esim_crypto::primitives::{aes_cmac, ct_eq};

/// Length of a delete token.
pub const TOKEN_LEN: usize = 16;

/// The data the token authenticates, or `None` when the TLVs exceed 255 bytes.
pub fn token_input(p1: u8, p2: u8, aid: &Aid, crt: &[u8]) -> Option<Vec<u8>> {
    let mut tlvs = ber::tlv(0x4Fu8, aid.as_bytes());
    tlvs.extend_from_slice(&ber::tlv(0xB6u8, crt));
    let len = u8::try_from(tlvs.len()).ok()?;
    let mut out = vec![p1, p2, len];
    out.extend_from_slice(&tlvs);
    Some(out)
}

/// The delete token the SM-DP computes for DELETE `P1 P2` of `aid` with CRT value `crt`.
pub fn compute_token(
    token_key: &SecretKey,
    p1: u8,
    p2: u8,
    aid: &Aid,
    crt: &[u8],
) -> Option<[u8; TOKEN_LEN]> {
    let input = token_input(p1, p2, aid, crt)?;
    aes_cmac(token_key.expose(), &input).ok()
}

/// Whether `token` is valid (constant-time comparison).
pub fn verify_token(
    token_key: &SecretKey,
    p1: u8,
    p2: u8,
    aid: &Aid,
    crt: &[u8],
    token: &[u8],
) -> bool {
    compute_token(token_key, p1, p2, aid, crt).is_some_and(|t| ct_eq(&t, token))
}
