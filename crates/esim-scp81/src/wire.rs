//! HTTP/1.1 plumbing shared by the client and the server: bodies sent with
//! `Transfer-Encoding: chunked` (GP Amd B §3.4; digest §5.3 step 5) and bounded body reading.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::{Body, Frame};
use hyper::header::{HeaderName, HeaderValue};

/// Default size of the chunks bodies are cut into.
pub(crate) const DEFAULT_CHUNK: usize = 1024;

/// A body of known bytes that does not announce its length, so that hyper frames it with
/// `Transfer-Encoding: chunked` (one chunk per `chunk` bytes).
#[derive(Debug)]
pub(crate) struct ChunkedBody {
    data: Bytes,
    chunk: usize,
}

impl ChunkedBody {
    pub(crate) fn new(data: Bytes, chunk: usize) -> Self {
        ChunkedBody {
            data,
            chunk: chunk.max(1),
        }
    }
}

impl Body for ChunkedBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.data.is_empty() {
            return Poll::Ready(None);
        }
        let n = self.chunk.min(self.data.len());
        let part = self.data.split_to(n);
        Poll::Ready(Some(Ok(Frame::data(part))))
    }
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Longer than the limit.
    TooLong(usize),
    /// The connection failed or the framing was wrong.
    Broken(String),
}

/// Reads a whole body, at most `limit` bytes.
pub(crate) async fn read_body<B>(body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(BodyError::TooLong(limit)),
        Err(e) => Err(BodyError::Broken(e.to_string())),
    }
}

/// Converts protocol header fields to hyper's types.
pub(crate) fn header_pairs(
    fields: Vec<(&'static str, String)>,
) -> Result<Vec<(HeaderName, HeaderValue)>, String> {
    fields
        .into_iter()
        .map(|(n, v)| {
            let name =
                HeaderName::from_bytes(n.as_bytes()).map_err(|e| format!("header {n}: {e}"))?;
            let value = HeaderValue::from_str(&v).map_err(|e| format!("header {n}: {e}"))?;
            Ok((name, value))
        })
        .collect()
}
