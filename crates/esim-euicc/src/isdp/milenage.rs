//! MILENAGE (3GPP TS 35.206 §4) and the USIM side of AKA (3GPP TS 33.102 §6.3.3) for the NAA
//! parameters of an installed profile (`akaParameter` with `algorithmID` milenage).
//!
//! `OUTi = E_K(rot(TEMP ⊕ OPc, ri) ⊕ ci) ⊕ OPc` with `TEMP = E_K(RAND ⊕ OPc)`; OUT1 uses
//! `TEMP ⊕ rot(IN1 ⊕ OPc, r1)` with `IN1 = SQN ‖ AMF ‖ SQN ‖ AMF`. The rotation constants of the
//! SAIP `rotationConstants` are in bits (default `40 00 20 40 60`: 64, 0, 32, 64, 96), the XOR
//! constants `c1..c5` are 5 × 16 bytes.

use esim_crypto::CryptoError;
use esim_crypto::primitives::aes_encrypt_block;
use zeroize::Zeroizing;

/// The outputs f1…f5* for one RAND (TS 35.206 §4.1).
#[derive(Clone, PartialEq, Eq)]
pub struct MilenageOutput {
    /// f1: MAC-A.
    pub mac_a: [u8; 8],
    /// f1*: MAC-S.
    pub mac_s: [u8; 8],
    /// f2: RES.
    pub res: [u8; 8],
    /// f3: CK.
    pub ck: [u8; 16],
    /// f4: IK.
    pub ik: [u8; 16],
    /// f5: AK.
    pub ak: [u8; 6],
    /// f5*: AK for resynchronisation.
    pub ak_star: [u8; 6],
}

impl std::fmt::Debug for MilenageOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MilenageOutput(..)")
    }
}

impl Drop for MilenageOutput {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.ck.zeroize();
        self.ik.zeroize();
        self.res.zeroize();
        self.ak.zeroize();
        self.ak_star.zeroize();
    }
}

fn xor16(a: &[u8; 16], b: &[u8; 16]) -> [u8; 16] {
    let mut o = [0u8; 16];
    for (i, x) in o.iter_mut().enumerate() {
        *x = a[i] ^ b[i];
    }
    o
}

/// Cyclic rotation of a 128-bit value by `bits` towards the most significant end.
fn rot(x: &[u8; 16], bits: u8) -> [u8; 16] {
    u128::from_be_bytes(*x)
        .rotate_left(u32::from(bits % 128))
        .to_be_bytes()
}

/// OPc = OP ⊕ E_K(OP) (TS 35.206 §4.1).
pub fn opc_from_op(k: &[u8], op: &[u8; 16]) -> Result<[u8; 16], CryptoError> {
    Ok(xor16(&aes_encrypt_block(k, op)?, op))
}

/// Computes f1, f1*, f2, f3, f4, f5, f5*. `r` are the five rotation constants in bits, `c` the
/// 80 bytes of XOR constants.
pub fn compute(
    k: &[u8],
    opc: &[u8; 16],
    rand: &[u8; 16],
    sqn: &[u8; 6],
    amf: &[u8; 2],
    r: &[u8; 5],
    c: &[u8; 80],
) -> Result<MilenageOutput, CryptoError> {
    let ci = |i: usize| -> [u8; 16] {
        let mut o = [0u8; 16];
        if let Some(s) = c.get(i * 16..i * 16 + 16) {
            o.copy_from_slice(s);
        }
        o
    };
    let temp = Zeroizing::new(aes_encrypt_block(k, &xor16(rand, opc))?);
    let mut in1 = [0u8; 16];
    in1[..6].copy_from_slice(sqn);
    in1[6..8].copy_from_slice(amf);
    in1[8..14].copy_from_slice(sqn);
    in1[14..].copy_from_slice(amf);
    let out1 = xor16(
        &aes_encrypt_block(
            k,
            &xor16(&xor16(&temp, &rot(&xor16(&in1, opc), r[0])), &ci(0)),
        )?,
        opc,
    );
    let out = |i: usize| -> Result<Zeroizing<[u8; 16]>, CryptoError> {
        let x = xor16(&rot(&xor16(&temp, opc), r[i]), &ci(i));
        Ok(Zeroizing::new(xor16(&aes_encrypt_block(k, &x)?, opc)))
    };
    let (o2, o3, o4, o5) = (out(1)?, out(2)?, out(3)?, out(4)?);
    let mut m = MilenageOutput {
        mac_a: [0; 8],
        mac_s: [0; 8],
        res: [0; 8],
        ck: *o3,
        ik: *o4,
        ak: [0; 6],
        ak_star: [0; 6],
    };
    m.mac_a.copy_from_slice(&out1[..8]);
    m.mac_s.copy_from_slice(&out1[8..]);
    m.res.copy_from_slice(&o2[8..]);
    m.ak.copy_from_slice(&o2[..6]);
    m.ak_star.copy_from_slice(&o5[..6]);
    Ok(m)
}

/// Result of AUTHENTICATE on the USIM (3GPP TS 31.102 §7.1.2.1, TS 33.102 §6.3.3).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AkaResult {
    /// The network is authenticated: RES, CK, IK (response tag `DB`).
    Success {
        /// RES (f2).
        res: Vec<u8>,
        /// CK (f3).
        ck: [u8; 16],
        /// IK (f4).
        ik: [u8; 16],
    },
    /// The SQN is not fresh: AUTS = (SQNms ⊕ AK*) ‖ MAC-S (response tag `DC`).
    SyncFailure {
        /// AUTS (14 bytes).
        auts: [u8; 14],
    },
    /// MAC-A wrong (status `9862`).
    MacFailure,
}

impl std::fmt::Debug for AkaResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AkaResult::Success { .. } => f.write_str("Success(..)"),
            AkaResult::SyncFailure { auts } => write!(f, "SyncFailure({auts:02X?})"),
            AkaResult::MacFailure => f.write_str("MacFailure"),
        }
    }
}

/// USIM AKA: recovers SQN from AUTN = (SQN ⊕ AK) ‖ AMF ‖ MAC-A, checks MAC-A, and accepts SQN
/// if it is above `sqn_ms` (the highest accepted so far; simplified TS 33.102 Annex C: no IND
/// array, no age limit), which it then updates.
pub fn authenticate(
    k: &[u8],
    opc: &[u8; 16],
    r: &[u8; 5],
    c: &[u8; 80],
    sqn_ms: &mut [u8; 6],
    rand: &[u8; 16],
    autn: &[u8; 16],
) -> Result<AkaResult, CryptoError> {
    let mut amf = [0u8; 2];
    amf.copy_from_slice(&autn[6..8]);
    let first = compute(k, opc, rand, &[0; 6], &amf, r, c)?;
    let mut sqn = [0u8; 6];
    for (i, s) in sqn.iter_mut().enumerate() {
        *s = autn[i] ^ first.ak[i];
    }
    let m = compute(k, opc, rand, &sqn, &amf, r, c)?;
    if !esim_crypto::primitives::ct_eq(&m.mac_a, &autn[8..16]) {
        return Ok(AkaResult::MacFailure);
    }
    let as_u64 = |b: &[u8; 6]| b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
    if as_u64(&sqn) <= as_u64(sqn_ms) {
        let resync = compute(k, opc, rand, sqn_ms, &[0, 0], r, c)?;
        let mut auts = [0u8; 14];
        for i in 0..6 {
            auts[i] = sqn_ms[i] ^ resync.ak_star[i];
        }
        auts[6..].copy_from_slice(&resync.mac_s);
        return Ok(AkaResult::SyncFailure { auts });
    }
    *sqn_ms = sqn;
    Ok(AkaResult::Success {
        res: m.res.to_vec(),
        ck: m.ck,
        ik: m.ik,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h<const N: usize>(s: &str) -> [u8; N] {
        esim_codec::hex::decode(s).unwrap().try_into().unwrap()
    }

    const R: [u8; 5] = [0x40, 0x00, 0x20, 0x40, 0x60];

    fn c() -> [u8; 80] {
        esim_saip::access::default_xoring_constants()
    }

    /// 3GPP TS 35.207 §4.3 / TS 35.208 §4.3 test set 1.
    #[test]
    fn test_set_1() {
        let k: [u8; 16] = h("465b5ce8b199b49faa5f0a2ee238a6bc");
        let op: [u8; 16] = h("cdc202d5123e20f62b6d676ac72cb318");
        let opc = opc_from_op(&k, &op).unwrap();
        assert_eq!(opc, h::<16>("cd63cb71954a9f4e48a5994e37a02baf"));
        let rand = h("23553cbe9637a89d218ae64dae47bf35");
        let m = compute(&k, &opc, &rand, &h("ff9bb4d0b607"), &h("b9b9"), &R, &c()).unwrap();
        assert_eq!(m.mac_a, h::<8>("4a9ffac354dfafb3"));
        assert_eq!(m.mac_s, h::<8>("01cfaf9ec4e871e9"));
        assert_eq!(m.res, h::<8>("a54211d5e3ba50bf"));
        assert_eq!(m.ck, h::<16>("b40ba9a3c58b2a05bbf0d987b21bf8cb"));
        assert_eq!(m.ik, h::<16>("f769bcd751044604127672711c6d3441"));
        assert_eq!(m.ak, h::<6>("aa689c648370"));
        assert_eq!(m.ak_star, h::<6>("451e8beca43b"));
    }

    #[test]
    fn usim_aka_success_replay_and_mac_failure() {
        let k: [u8; 16] = h("465b5ce8b199b49faa5f0a2ee238a6bc");
        let opc: [u8; 16] = h("cd63cb71954a9f4e48a5994e37a02baf");
        let rand: [u8; 16] = h("23553cbe9637a89d218ae64dae47bf35");
        let sqn: [u8; 6] = h("000000000021");
        let amf: [u8; 2] = h("8000");
        let m = compute(&k, &opc, &rand, &sqn, &amf, &R, &c()).unwrap();
        let mut autn = [0u8; 16];
        for i in 0..6 {
            autn[i] = sqn[i] ^ m.ak[i];
        }
        autn[6..8].copy_from_slice(&amf);
        autn[8..].copy_from_slice(&m.mac_a);
        let mut sqn_ms = [0u8; 6];
        let r = authenticate(&k, &opc, &R, &c(), &mut sqn_ms, &rand, &autn).unwrap();
        assert_eq!(
            r,
            AkaResult::Success {
                res: m.res.to_vec(),
                ck: m.ck,
                ik: m.ik
            }
        );
        assert_eq!(sqn_ms, sqn);
        // Replay: sync failure whose AUTS reveals SQNms to the network.
        let AkaResult::SyncFailure { auts } =
            authenticate(&k, &opc, &R, &c(), &mut sqn_ms, &rand, &autn).unwrap()
        else {
            panic!("expected sync failure")
        };
        let resync = compute(&k, &opc, &rand, &sqn, &[0, 0], &R, &c()).unwrap();
        let mut recovered = [0u8; 6];
        for i in 0..6 {
            recovered[i] = auts[i] ^ resync.ak_star[i];
        }
        assert_eq!(recovered, sqn);
        assert_eq!(&auts[6..], &resync.mac_s);
        autn[15] ^= 1;
        assert_eq!(
            authenticate(&k, &opc, &R, &c(), &mut sqn_ms, &rand, &autn).unwrap(),
            AkaResult::MacFailure
        );
    }
}
