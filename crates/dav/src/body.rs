//! Response bodies: whole, or written while they are sent.
//!
//! Most answers are small and sent whole, with a Content-Length. A multiget of thousands of
//! members is tens of megabytes of XML: building it whole before sending would hold it all in
//! memory at once (next to the texts it is made of), so such answers are produced chunk by chunk
//! as the connection takes them, and sent with chunked transfer encoding.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

pub enum Body {
    /// The whole body (taken when sent).
    Full(Option<Bytes>),
    /// Chunks produced on demand.
    Chunks(Box<dyn Iterator<Item = Bytes> + Send>),
}

impl Body {
    pub fn empty() -> Self {
        Body::Full(None)
    }

    pub fn chunks(chunks: impl Iterator<Item = Bytes> + Send + 'static) -> Self {
        Body::Chunks(Box::new(chunks))
    }
}

impl<T: Into<Bytes>> From<T> for Body {
    fn from(bytes: T) -> Self {
        let bytes = bytes.into();
        Body::Full((!bytes.is_empty()).then_some(bytes))
    }
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Full(bytes) => write!(f, "Body::Full({} bytes)", bytes.as_ref().map_or(0, Bytes::len)),
            Body::Chunks(_) => f.write_str("Body::Chunks"),
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = match self.get_mut() {
            Body::Full(bytes) => bytes.take(),
            // Writing a chunk is a few dozen microseconds of CPU: no need to leave the task.
            Body::Chunks(chunks) => chunks.find(|chunk| !chunk.is_empty()),
        };
        Poll::Ready(next.map(|bytes| Ok(Frame::data(bytes))))
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Chunks(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[tokio::test]
    async fn whole_bodies_have_a_length_and_chunks_arrive_in_order() {
        let whole = Body::from("abc");
        assert_eq!(http_body::Body::size_hint(&whole).exact(), Some(3));
        assert_eq!(whole.collect().await.unwrap().to_bytes(), "abc");
        assert!(http_body::Body::is_end_stream(&Body::empty()));

        let chunks = Body::chunks(["<a>", "", "b", "</a>"].into_iter().map(Bytes::from));
        assert_eq!(http_body::Body::size_hint(&chunks).exact(), None);
        assert_eq!(chunks.collect().await.unwrap().to_bytes(), "<a>b</a>");
    }
}
