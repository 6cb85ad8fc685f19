//! Property tests: the decoder never panics (arbitrary bytes, mutated TS.48 profiles), whatever it
//! accepts re-encodes byte for byte (also through JSON), and streaming decode in random chunks
//! equals whole-buffer decode.

use esim_saip::{PeStreamDecoder, ProfilePackage, json};
use proptest::prelude::*;
use std::sync::OnceLock;

fn profile() -> &'static [u8] {
    static P: OnceLock<Vec<u8>> = OnceLock::new();
    P.get_or_init(|| std::fs::read(esim_vectors::path("saip/TS48V1-A-UNIQUE.der")).unwrap())
}

/// Whole decode must agree with a streaming decode in the given chunk sizes.
fn stream_decode(
    data: &[u8],
    chunks: &[usize],
) -> Result<Vec<esim_saip::LocatedElement>, esim_saip::SaipError> {
    let mut dec = PeStreamDecoder::with_max_element_len(data.len().max(1));
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = chunks
            .get(i % chunks.len().max(1))
            .copied()
            .unwrap_or(1)
            .clamp(1, rest.len());
        let (a, b) = rest.split_at(n);
        out.extend(dec.push(a)?);
        rest = b;
        i += 1;
    }
    dec.finish()?;
    if out.is_empty() {
        return Err(esim_saip::SaipError::Empty);
    }
    Ok(out)
}

fn check_accepted_round_trips(data: &[u8]) {
    if let Ok(pkg) = ProfilePackage::decode(data) {
        assert_eq!(
            pkg.encode().unwrap(),
            data,
            "accepted input must re-encode identically"
        );
        let doc = json::to_json(&pkg).unwrap();
        let back = json::from_json(&doc).unwrap();
        assert_eq!(
            back.encode().unwrap(),
            data,
            "JSON round trip must be identical"
        );
        // Accessors and validation never panic either.
        let _ = esim_saip::validate(&pkg);
        let _ = pkg.iccid();
        let _ = pkg.imsi();
        let _ = pkg.pins();
        let _ = pkg.security_domains();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        check_accepted_round_trips(&data);
    }

    #[test]
    fn arbitrary_pe_shaped_bytes_never_panic(
        tag in 0xA0u8..=0xBF,
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut data = vec![tag];
        if body.len() < 128 {
            data.push(body.len() as u8);
        } else {
            data.extend([0x82, (body.len() >> 8) as u8, body.len() as u8]);
        }
        data.extend(&body);
        check_accepted_round_trips(&data);
    }

    #[test]
    fn mutated_profiles_never_panic(
        muts in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut data = profile().to_vec();
        for (at, v) in &muts {
            let i = at.index(data.len());
            data[i] = *v;
        }
        if truncate {
            data.truncate(cut.index(data.len()));
        }
        check_accepted_round_trips(&data);
    }

    #[test]
    fn streaming_equals_whole_decode(
        chunks in proptest::collection::vec(1usize..700, 1..20),
        flip in proptest::option::of((any::<prop::sample::Index>(), any::<u8>())),
    ) {
        let mut data = profile().to_vec();
        if let Some((at, v)) = flip {
            let i = at.index(data.len());
            data[i] = v;
        }
        let whole = ProfilePackage::decode_located(&data);
        let streamed = stream_decode(&data, &chunks);
        match (&whole, &streamed) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            _ => prop_assert!(false, "whole {:?} vs streamed {:?}", whole.is_ok(), streamed.is_ok()),
        }
    }
}
