//! PDU framing over a TCP stream (SMPP v3.4 §2.1: SMPP runs over TCP; each PDU is
//! delimited by its `command_length`, §3.2).
//!
//! A reader task owns the read half and forwards what it reads on a channel, so the session
//! loops can `select!` without cancelling a half-read PDU.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::pdu::{DecodeError, HEADER_LEN, Header, Pdu};

/// One framed unit read from the peer.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A well-formed PDU.
    Pdu(Pdu),
    /// A PDU whose header framed correctly but whose body did not decode; the stream is
    /// still in sync, so the session can answer `generic_nack` and go on.
    Malformed {
        /// The header read.
        header: Header,
        /// What is wrong with the body.
        error: DecodeError,
    },
}

/// Why the reader stopped.
#[derive(Debug)]
pub(crate) enum ReadEnd {
    /// The peer closed the stream between PDUs.
    Eof,
    /// The peer closed the stream inside a PDU (`got` octets of it read).
    Truncated { got: usize },
    /// The header's `command_length` is impossible; the stream cannot be re-synchronised.
    BadLength {
        /// The header's `sequence_number`, for the `generic_nack`.
        sequence_number: u32,
        /// The framing error.
        error: DecodeError,
    },
    /// A socket error.
    Io(io::Error),
}

/// Reads until `buf` is full; `Ok(n < buf.len())` means EOF after `n` octets.
async fn read_full<R: AsyncRead + Unpin>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        let Some(rest) = buf.get_mut(got..) else {
            break;
        };
        match r.read(rest).await? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Reads one PDU frame.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Inbound, ReadEnd> {
    let mut head = [0u8; HEADER_LEN];
    match read_full(r, &mut head).await.map_err(ReadEnd::Io)? {
        0 => return Err(ReadEnd::Eof),
        n if n < HEADER_LEN => return Err(ReadEnd::Truncated { got: n }),
        _ => {}
    }
    let header = Header::parse(&head).map_err(|error| ReadEnd::BadLength {
        sequence_number: u32::from_be_bytes([head[12], head[13], head[14], head[15]]),
        error,
    })?;
    let len = header.command_length as usize;
    let mut frame = vec![0u8; len];
    frame[..HEADER_LEN].copy_from_slice(&head);
    let got = read_full(r, &mut frame[HEADER_LEN..])
        .await
        .map_err(ReadEnd::Io)?;
    if got < len - HEADER_LEN {
        return Err(ReadEnd::Truncated {
            got: HEADER_LEN + got,
        });
    }
    Ok(match Pdu::decode(&frame) {
        Ok(pdu) => Inbound::Pdu(pdu),
        Err(error) => Inbound::Malformed { header, error },
    })
}

/// Spawns the reader task: frames go to the returned channel; the last item is the reason
/// the stream ended. Dropping the receiver stops the task after its current read.
pub(crate) fn spawn_reader<R>(mut r: R) -> mpsc::Receiver<Result<Inbound, ReadEnd>>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let item = read_frame(&mut r).await;
            let end = item.is_err();
            if tx.send(item).await.is_err() || end {
                break;
            }
        }
    });
    rx
}

/// Writes encoded PDU octets.
pub(crate) async fn write_bytes<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}

/// Encodes and writes a PDU this crate built itself (encoding cannot fail for the fixed
/// responses we build; an encode error is reported as `InvalidInput`).
pub(crate) async fn write_pdu<W: AsyncWrite + Unpin>(w: &mut W, pdu: &Pdu) -> io::Result<()> {
    let bytes = pdu
        .encode()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    write_bytes(w, &bytes).await
}
