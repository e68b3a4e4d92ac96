//! Bounded memory of `ReplayBody`: bodies up to several times larger than the cap, streamed in
//! random chunk sizes (with trailers now and then, and a `Content-Length` that may lie), never
//! make the replay buffer hold more than the cap — `buffered_bytes` counts the buffer's
//! capacity, so this is real memory — and the body is always sent whole once, whether or not
//! it stays replayable. A body that fits replays byte for byte.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bulwark_http::ReplayBody;
use bytes::Bytes;
use futures_util::stream;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, StreamBody};
use proptest::prelude::*;

type Frames = StreamBody<stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, Infallible>>>>;

fn body(chunks: &[Vec<u8>], trailers: bool) -> Frames {
    let mut frames: Vec<_> = chunks
        .iter()
        .map(|c| Ok(Frame::data(Bytes::from(c.clone()))))
        .collect();
    if trailers {
        let mut map = http::HeaderMap::new();
        map.insert("x-checksum", http::HeaderValue::from_static("abc"));
        frames.push(Ok(Frame::trailers(map)));
    }
    StreamBody::new(stream::iter(frames))
}

/// Chunks of 0 to 8 KiB, up to 48 KiB in all, with a fill that shows their order.
fn chunks() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(prop_oneof![0usize..16, 0usize..1024, 0usize..8192], 0..24).prop_map(
        |sizes| {
            sizes
                .into_iter()
                .enumerate()
                .map(|(i, n)| vec![i as u8; n])
                .collect()
        },
    )
}

fn check(
    chunks: &[Vec<u8>],
    cap: usize,
    trailers: bool,
    declared: Option<u64>,
) -> Result<(), TestCaseError> {
    let total: usize = chunks.iter().map(Vec::len).sum();
    let mut first = match declared {
        None => ReplayBody::with_max_bytes(body(chunks, trailers), cap),
        Some(length) => {
            let req = http::Request::builder()
                .header(http::header::CONTENT_LENGTH, length)
                .body(body(chunks, trailers))
                .unwrap();
            ReplayBody::wrap_request(req, cap).into_body()
        }
    };
    prop_assert_eq!(first.max_bytes(), cap);
    // A copy made before the first send, as retry makes it: it keeps the record alive.
    let copy = first.replay();
    let mut sent = Vec::new();
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match Pin::new(&mut first).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Ok(data) = frame.into_data() {
                    sent.extend_from_slice(&data);
                }
            }
            Poll::Ready(Some(Err(e))) => return Err(TestCaseError::fail(format!("{e}"))),
            Poll::Ready(None) => break,
            Poll::Pending => return Err(TestCaseError::fail("a ready stream was pending")),
        }
        prop_assert!(
            first.buffered_bytes() <= cap,
            "{} held, cap {}",
            first.buffered_bytes(),
            cap
        );
        if let Some(copy) = &copy {
            prop_assert!(copy.buffered_bytes() <= cap);
        }
    }
    // Sent once, whole, whatever the cap.
    prop_assert_eq!(sent.len(), total);
    prop_assert_eq!(&sent, &chunks.concat());
    if total > cap {
        prop_assert!(
            first.replay().is_none(),
            "{} bytes kept under a cap of {}",
            total,
            cap
        );
    }
    // A body that fits (no trailers, which count against the cap too; no declared length over
    // the cap) stays replayable, so the byte-for-byte check below is never skipped for it.
    if !trailers && total <= cap && declared.is_none_or(|d| d <= cap as u64) {
        prop_assert!(
            first.replay().is_some(),
            "{} bytes under a cap of {} are not replayable",
            total,
            cap
        );
    }
    if let (Some(copy), Some(_)) = (copy, first.replay()) {
        let replayed = tokio_test::block_on(copy.collect()).unwrap();
        prop_assert_eq!(replayed.trailers().is_some(), trailers);
        prop_assert_eq!(&replayed.to_bytes()[..], &sent[..]);
    }
    prop_assert!(first.buffered_bytes() <= cap);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn the_replay_buffer_never_holds_more_than_its_cap(
        chunks in chunks(),
        cap in prop_oneof![0usize..64, 0usize..4096, 0usize..65_536],
        trailers in any::<bool>(),
        declared in proptest::option::of(prop_oneof![0u64..100, any::<u64>(), 0u64..100_000]),
    ) {
        check(&chunks, cap, trailers, declared)?;
    }
}

/// One large body, sixteen times the cap, in odd chunk sizes.
#[test]
fn a_body_sixteen_times_the_cap_is_sent_whole_and_never_buffered_past_it() {
    let cap = 64 * 1024;
    let chunks: Vec<Vec<u8>> = (0..400)
        .map(|i| vec![i as u8; 1 + (i * 7919) % 7000])
        .collect();
    assert!(chunks.iter().map(Vec::len).sum::<usize>() > 16 * cap);
    check(&chunks, cap, true, Some(10)).unwrap();
}
