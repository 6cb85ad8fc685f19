//! The generated XML Schema against the messages the codec writes, checked by an independent XSD
//! processor (python lxml, installed with zeep): every sample request, a success response with
//! a full EIS, and a header-only response of every function must be valid.

mod common;

use common::{iccid, request, sample_eis};
use esim_proto::common::FunctionExecutionStatus;
use esim_proto::function::Function;
use esim_soap::codec::schemas;
use esim_soap::schema::{request_element, response_element};
use esim_soap::xml::Writer;
use esim_store::Timestamp;
use serde_json::{Value, json};

fn body_xml(name: &str, message: &Value, request: bool, f: Function) -> String {
    let s = schemas();
    let (rq, rs) = s.body(f).unwrap();
    let mut w = Writer::new();
    if request {
        s.message_to_xml(&mut w, name, message, s.request_header(), rq);
    } else {
        s.message_to_xml(&mut w, name, message, s.response_header(), rs);
    }
    w.finish()
}

#[test]
fn messages_are_valid_against_the_generated_xsd() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import lxml.etree"])
        .output();
    if !probe.map(|o| o.status.success()).unwrap_or(false) {
        println!("SKIP: python zeep not installed (pip install zeep)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("esim-soap-xsd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let xsd_path = dir.join("gsma.xsd");
    std::fs::write(&xsd_path, esim_soap::wsdl::xsd(Function::ALL)).unwrap();
    let mut docs = Vec::new();
    let mut write = |name: String, xml: String| {
        let p = dir.join(name);
        std::fs::write(&p, xml).unwrap();
        docs.push(p.to_string_lossy().into_owned());
    };
    let failed = esim_service::response::<Value>(
        Timestamp(0),
        Timestamp(1),
        FunctionExecutionStatus::failed("8.1.1", "3.9", "Unknown EID"),
        None,
    );
    for &f in Function::ALL {
        if let Some(text) = request(f) {
            let v: Value = serde_json::from_str(&text).unwrap();
            write(
                format!("{}.xml", request_element(f)),
                body_xml(&request_element(f), &v, true, f),
            );
        }
        write(
            format!("{}-failed.xml", response_element(f)),
            body_xml(&response_element(f), &failed, false, f),
        );
    }
    let ok = |body: Value| {
        esim_service::response(
            Timestamp(0),
            Timestamp(1),
            FunctionExecutionStatus::success(),
            Some(body),
        )
    };
    let eis = serde_json::to_value(sample_eis().redacted()).unwrap();
    for (f, body) in [
        (Function::Es2GetEis, json!({"Eis": eis})),
        (Function::Es3AuditEis, json!({"Eis": eis})),
        (
            Function::Es2DownloadProfile,
            json!({"Iccid": iccid().to_string(), "EuiccResponseData": "9000"}),
        ),
    ] {
        write(
            format!("{}-ok.xml", response_element(f)),
            body_xml(&response_element(f), &ok(body), false, f),
        );
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/zeep/validate_xsd.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .arg(&xsd_path)
        .args(&docs)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.matches("VALID ").count(), docs.len(), "{stdout}");
}
