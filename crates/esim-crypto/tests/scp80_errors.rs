//! SCP80 failures: each names the field and offset and maps to the TS 102 225 PoR status.

use esim_codec::Tar;
use esim_crypto::SecretKey;
use esim_crypto::scp80::{
    CommandPacket, Counter, Integrity, Keyset, Kic, Kid, PorStatus, ResponsePacket, Scp80Error,
    Spi, decode_por, parse_command,
};

fn h(s: &str) -> Vec<u8> {
    esim_codec::hex::decode(s).unwrap()
}

fn aes_keys() -> Keyset {
    Keyset::new(
        Kic(0x12),
        SecretKey::new(&h("00112233445566778899aabbccddeeff")),
        Kid(0x12),
        SecretKey::new(&h("ffeeddccbbaa99887766554433221100")),
    )
}

/// GEN-AES128-SPI1639-17-cmd of scp80.json.
const PKT_1639: &str =
    "00281516391212000001aa8a97a6e783d898cd809d7d42e3561f92d2f3a04f579ba88087fc20a2c22316";

#[test]
fn length_and_header_errors_name_field_and_offset() {
    let mut p = h(PKT_1639);
    p.push(0);
    let e = parse_command(&p).unwrap_err();
    assert!(
        matches!(
            e,
            Scp80Error::LengthMismatch {
                field: "CPL",
                offset: 0,
                declared: 40,
                actual: 41
            }
        ),
        "{e}"
    );
    assert_eq!(e.por_status(), None);

    let e = parse_command(&h("0028150216")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "command header (CPL..TAR) at byte 0: needs 10 bytes, only 5 left"
    );

    // CHL 0x14 with a CC SPI.
    let mut p = h(PKT_1639);
    p[2] = 0x14;
    let e = parse_command(&p).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("CHL at byte 2 is 20, expected 21"),
        "{e}"
    );

    // Reserved SPI bit.
    let mut p = h(PKT_1639);
    p[3] |= 0x80;
    let e = parse_command(&p).unwrap_err();
    assert!(matches!(e, Scp80Error::Reserved { offset: 3, .. }), "{e}");
}

#[test]
fn security_errors_map_to_por_status() {
    let p = h(PKT_1639);
    let parsed = parse_command(&p).unwrap();
    assert_eq!(parsed.header().tar, Tar::ISD_R);

    // Wrong MAC key: CC failure, status 01.
    let wrong = Keyset::new(
        Kic(0x12),
        SecretKey::new(&h("00112233445566778899aabbccddeeff")),
        Kid(0x12),
        SecretKey::new(&[0; 16]),
    );
    let e = parsed.open(&wrong).unwrap_err();
    assert!(matches!(e, Scp80Error::CcMismatch { offset: 16 }), "{e}");
    assert_eq!(e.por_status(), Some(PorStatus::RcCcDsFailed));

    // A keyset for another KIc.
    let other = Keyset::new(
        Kic(0x22),
        SecretKey::new(&[0; 16]),
        Kid(0x12),
        SecretKey::new(&[0; 16]),
    );
    let e = parsed.open(&other).unwrap_err();
    assert!(
        matches!(
            e,
            Scp80Error::KeyMismatch {
                field: "KIc",
                offset: 5,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.por_status(), Some(PorStatus::UnidentifiedSecurityError));

    // No keys at all.
    let none = Keyset::with_optional_keys(Kic(0x12), None, Kid(0x12), None);
    assert_eq!(
        parsed.open(&none).unwrap_err(),
        Scp80Error::MissingKey("KIc")
    );

    // Ciphered part cut to a non-multiple of the block (CPL fixed up).
    let mut cut = p[..p.len() - 1].to_vec();
    cut[1] -= 1;
    let e = parse_command(&cut).unwrap().open(&aes_keys()).unwrap_err();
    assert!(
        matches!(
            e,
            Scp80Error::CipherLength {
                offset: 10,
                len: 31,
                block: 16
            }
        ),
        "{e}"
    );
    assert_eq!(e.por_status(), Some(PorStatus::CipheringError));

    // Counter policy on the opened packet: 0000000101, must be higher.
    let opened = parsed.open(&aes_keys()).unwrap();
    assert_eq!(opened.check_counter(Counter::new(0x100).unwrap()), Ok(()));
    assert_eq!(
        opened.check_counter(Counter::new(0x101).unwrap()),
        Err(PorStatus::CounterLow)
    );
}

#[test]
fn pcntr_larger_than_data_is_a_ciphering_error() {
    // Unsecured packet (SPI 0000) with PCNTR 9 but 2 data bytes.
    let p = h("00100d000012120000010000000000090102");
    let e = parse_command(&p).unwrap().open(&aes_keys()).unwrap_err();
    assert!(
        matches!(
            e,
            Scp80Error::Padding {
                offset: 15,
                pcntr: 9,
                available: 2
            }
        ),
        "{e}"
    );
    assert_eq!(e.por_status(), Some(PorStatus::CipheringError));
}

#[test]
fn digital_signature_is_refused_not_faked() {
    let spi = Spi {
        integrity: Integrity::Ds,
        ..Spi::SGP02_DEFAULT
    };
    let cmd = CommandPacket {
        spi,
        tar: Tar::ISD_R,
        counter: Counter::ZERO,
        data: vec![1],
    };
    let e = cmd.encode(&aes_keys()).unwrap_err();
    assert!(matches!(
        e,
        Scp80Error::UnsupportedAlgorithm {
            what: "digital signature",
            ..
        }
    ));
}

#[test]
fn por_errors() {
    // GEN-AES128-SPI1639-18-por.
    let por =
        h("027100002412000001019dfb5f4962e1c40fe44e717ed21865e4b0788f7dac35cce8fc9d2c03a0939f");
    let spi = Spi::SGP02_DEFAULT;
    assert!(decode_por(&por, &spi, &aes_keys()).is_ok());
    // Without the UDH.
    let e = decode_por(&por[3..], &spi, &aes_keys()).unwrap_err();
    assert!(matches!(e, Scp80Error::Udh { .. }), "{e}");
    // RHL that does not fit the SPI (PoR without CC expected).
    let spi_plain = Spi {
        por_integrity: Integrity::None,
        ..spi
    };
    let e = decode_por(&por, &spi_plain, &aes_keys()).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("RHL at byte 5 is 18, expected 10"),
        "{e}"
    );
    // Trailing byte.
    let mut long = por.clone();
    long.push(0);
    let e = decode_por(&long, &spi, &aes_keys()).unwrap_err();
    assert!(
        matches!(
            e,
            Scp80Error::LengthMismatch {
                field: "RPL",
                offset: 3,
                ..
            }
        ),
        "{e}"
    );
    // An error PoR round-trips with its status.
    let err_por = ResponsePacket {
        tar: Tar::ISD_R,
        counter: Counter::new(7).unwrap(),
        status: PorStatus::CounterLow,
        data: vec![],
    };
    let ud = err_por.encode(&spi, &aes_keys()).unwrap();
    let d = decode_por(&ud, &spi, &aes_keys()).unwrap();
    assert_eq!(d.packet, err_por);
    assert!(d.compact_response().is_none());
}
