//! The loopback control endpoint: changes the reachable networks at run time.
//!
//! Line protocol over TCP (one request line, one answer line, then the next request):
//! `net list`, `net set [PLMN…]`, `net add PLMN…`, `net remove PLMN…`; the answer is
//! `ok` followed by the reachable PLMNs, or `error <reason>`. Lines are bounded (1 KiB); bind
//! it to a loopback address (it has no authentication).

use crate::error::DeviceError;
use crate::network::{NetworkControl, Plmn};
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

const MAX_LINE: usize = 1024;
const IDLE: Duration = Duration::from_secs(30);

/// Executes one request line against `net`; returns the answer line (without newline).
pub fn execute(net: &NetworkControl, line: &str) -> String {
    match apply(net, line) {
        Ok(()) => {
            let list: Vec<String> = net.reachable().iter().map(ToString::to_string).collect();
            if list.is_empty() {
                "ok".to_string()
            } else {
                format!("ok {}", list.join(" "))
            }
        }
        Err(e) => format!("error {e}"),
    }
}

fn apply(net: &NetworkControl, line: &str) -> Result<(), String> {
    let mut words = line.split_whitespace();
    if words.next() != Some("net") {
        return Err("unknown request (expected: net list|set|add|remove PLMN…)".into());
    }
    let op = words.next().unwrap_or("list");
    let plmns = words.map(Plmn::parse).collect::<Result<Vec<_>, _>>()?;
    match op {
        "list" if plmns.is_empty() => {}
        "set" => net.set(plmns),
        "add" if !plmns.is_empty() => plmns.into_iter().for_each(|p| net.add(p)),
        "remove" if !plmns.is_empty() => plmns.iter().for_each(|p| net.remove(p)),
        _ => return Err(format!("bad request {op:?}")),
    }
    Ok(())
}

/// Serves the control endpoint on `listener` until `shutdown` completes.
pub async fn serve(
    net: NetworkControl,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<(), DeviceError> {
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "control connection");
                    tokio::spawn(connection(net.clone(), stream));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "control accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

async fn connection(net: NetworkControl, stream: TcpStream) {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r).take(64 * 1024);
    let mut line = String::new();
    loop {
        line.clear();
        match tokio::time::timeout(IDLE, r.read_line(&mut line)).await {
            Ok(Ok(0)) | Err(_) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
        }
        let answer = if line.len() > MAX_LINE {
            "error request line too long".to_string()
        } else {
            let a = execute(&net, line.trim());
            tracing::info!(request = line.trim(), answer = %a, "control");
            a
        };
        if w.write_all(format!("{answer}\n").as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Sends one request to a control endpoint and returns its answer (`ok …`); an `error …`
/// answer becomes [`DeviceError::Control`].
pub async fn request(addr: &str, line: &str) -> Result<String, DeviceError> {
    let io = |e: std::io::Error| DeviceError::Control(format!("{addr}: {e}"));
    let run = async {
        let mut s = TcpStream::connect(addr).await.map_err(io)?;
        s.write_all(format!("{}\n", line.trim()).as_bytes())
            .await
            .map_err(io)?;
        let mut answer = String::new();
        BufReader::new(s)
            .take(MAX_LINE as u64 * 4)
            .read_line(&mut answer)
            .await
            .map_err(io)?;
        Ok::<_, DeviceError>(answer.trim().to_string())
    };
    let answer = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .map_err(|_| DeviceError::Control(format!("{addr}: no answer")))??;
    match answer.strip_prefix("error") {
        Some(e) => Err(DeviceError::Control(e.trim().to_string())),
        None if answer.starts_with("ok") => Ok(answer),
        None => Err(DeviceError::Control(format!(
            "unexpected answer {answer:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        let n = NetworkControl::new([]);
        assert_eq!(execute(&n, "net add 00101 00102"), "ok 00101 00102");
        assert_eq!(execute(&n, "net remove 00101"), "ok 00102");
        assert_eq!(execute(&n, "net set"), "ok");
        assert!(execute(&n, "net add").starts_with("error"));
        assert!(execute(&n, "net add 1").starts_with("error"));
        assert!(execute(&n, "bogus").starts_with("error"));
        assert_eq!(execute(&n, "net list"), "ok");
    }
}
