use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bulwark_policy::{BoxError, Replay};
use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use proptest::prelude::*;
use tokio::sync::mpsc;
use tokio_test::{assert_pending, assert_ready, task};

use super::*;

type Sender = mpsc::UnboundedSender<Result<Frame<Bytes>, io::Error>>;

/// A body fed by hand, one frame at a time.
struct ChannelBody {
    rx: mpsc::UnboundedReceiver<Result<Frame<Bytes>, io::Error>>,
    dropped: Arc<AtomicBool>,
}

impl Drop for ChannelBody {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        self.rx.poll_recv(cx)
    }
}

fn channel() -> (Sender, ChannelBody, Arc<AtomicBool>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let dropped = Arc::new(AtomicBool::new(false));
    let body = ChannelBody {
        rx,
        dropped: dropped.clone(),
    };
    (tx, body, dropped)
}

fn data(s: &'static str) -> Result<Frame<Bytes>, io::Error> {
    Ok(Frame::data(Bytes::from_static(s.as_bytes())))
}

fn trailers() -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert("grpc-status", "0".parse().unwrap());
    map
}

/// Polls once; the frame's data or trailers, or the error, as text.
fn poll_text<B>(body: &mut ReplayBody<B>) -> Poll<Option<Result<String, String>>>
where
    ReplayBody<B>: Body<Data = Bytes, Error = BoxError> + Unpin,
{
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    Pin::new(body).poll_frame(&mut cx).map(|frame| {
        frame.map(|frame| {
            frame
                .map(|frame| match frame.into_data() {
                    Ok(bytes) => String::from_utf8(bytes.to_vec()).unwrap(),
                    Err(frame) => format!("{:?}", frame.into_trailers().unwrap()),
                })
                .map_err(|err| err.to_string())
        })
    })
}

async fn collect<B>(body: ReplayBody<B>) -> Result<(Bytes, Option<HeaderMap>), BoxError>
where
    ReplayBody<B>: Body<Data = Bytes, Error = BoxError>,
{
    let collected = body.collect().await?;
    let trailers = collected.trailers().cloned();
    Ok((collected.to_bytes(), trailers))
}

#[tokio::test]
async fn a_full_body_replays_any_number_of_times() {
    let first = ReplayBody::new(Full::new(Bytes::from_static(b"payload")));
    let second = first.replay().unwrap();
    let third = second.replay().unwrap();
    assert_eq!(collect(first).await.unwrap().0, "payload");
    assert_eq!(collect(third).await.unwrap().0, "payload");
    let fourth = second.replay().unwrap();
    assert_eq!(collect(second).await.unwrap().0, "payload");
    assert_eq!(collect(fourth).await.unwrap().0, "payload");
}

#[tokio::test]
async fn a_stream_body_with_trailers_replays_data_and_trailers() {
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = vec![
        Ok(Frame::data(Bytes::from_static(b"a"))),
        Ok(Frame::data(Bytes::from_static(b"bc"))),
        Ok(Frame::trailers(trailers())),
    ];
    let first = ReplayBody::new(StreamBody::new(futures_util::stream::iter(frames)));
    let copy = first.replay().unwrap();
    let sent = collect(first).await.unwrap();
    assert_eq!(sent.0, "abc");
    assert_eq!(sent.1, Some(trailers()));
    assert_eq!(collect(copy).await.unwrap(), sent);
}

#[test]
fn the_first_attempt_gets_each_frame_as_soon_as_it_arrives() {
    let (tx, body, _) = channel();
    let body = ReplayBody::new(body);
    let copy = body.replay().unwrap();
    let mut first = task::spawn(body);

    assert_pending!(first.enter(|cx, b| b.poll_frame(cx)));
    tx.send(data("one")).unwrap();
    assert!(first.is_woken());
    let frame = assert_ready!(first.enter(|cx, b| b.poll_frame(cx)));
    assert_eq!(frame.unwrap().unwrap().into_data().unwrap(), "one");
    assert_pending!(first.enter(|cx, b| b.poll_frame(cx)));
    assert_eq!(copy.buffered_bytes(), 3);
}

#[test]
fn a_copy_made_mid_stream_catches_up_then_reads_on() {
    let (tx, body, _) = channel();
    let mut first = ReplayBody::new(body);
    tx.send(data("one")).unwrap();
    assert!(first.replay().is_some(), "made before anything streamed");
    let keep_alive = first.replay().unwrap();
    assert_eq!(poll_text(&mut first), Poll::Ready(Some(Ok("one".into()))));

    let mut copy = task::spawn(first.replay().unwrap());
    let frame = assert_ready!(copy.enter(|cx, b| b.poll_frame(cx)));
    assert_eq!(frame.unwrap().unwrap().into_data().unwrap(), "one");
    // Both wait at the frontier; one frame wakes both.
    assert_pending!(copy.enter(|cx, b| b.poll_frame(cx)));
    let mut first = task::spawn(first);
    assert_pending!(first.enter(|cx, b| b.poll_frame(cx)));
    tx.send(data("two")).unwrap();
    assert!(copy.is_woken() && first.is_woken());
    let frame = assert_ready!(copy.enter(|cx, b| b.poll_frame(cx)));
    assert_eq!(frame.unwrap().unwrap().into_data().unwrap(), "two");
    let frame = assert_ready!(first.enter(|cx, b| b.poll_frame(cx)));
    assert_eq!(frame.unwrap().unwrap().into_data().unwrap(), "two");

    drop(tx);
    assert!(assert_ready!(first.enter(|cx, b| b.poll_frame(cx))).is_none());
    assert!(assert_ready!(copy.enter(|cx, b| b.poll_frame(cx))).is_none());
    drop(keep_alive);
}

#[test]
fn a_copy_dropped_mid_stream_hands_the_body_to_the_next() {
    let (tx, body, dropped) = channel();
    let mut first = ReplayBody::new(body);
    let original = first.replay().unwrap();
    tx.send(data("one")).unwrap();
    assert_eq!(poll_text(&mut first), Poll::Ready(Some(Ok("one".into()))));
    drop(first);
    assert!(!dropped.load(Ordering::SeqCst));

    let mut second = original.replay().unwrap();
    tx.send(data("two")).unwrap();
    drop(tx);
    assert_eq!(poll_text(&mut second), Poll::Ready(Some(Ok("one".into()))));
    assert_eq!(poll_text(&mut second), Poll::Ready(Some(Ok("two".into()))));
    assert_eq!(poll_text(&mut second), Poll::Ready(None));
    drop((original, second));
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn over_the_cap_it_stops_keeping_frees_the_buffer_and_still_sends_everything() {
    let (tx, body, _) = channel();
    let mut first = ReplayBody::with_max_bytes(body, 5);
    let mut early = first.replay().unwrap();
    tx.send(data("abc")).unwrap();
    tx.send(data("def")).unwrap();
    tx.send(Ok(Frame::trailers(trailers()))).unwrap();
    drop(tx);

    assert_eq!(poll_text(&mut first), Poll::Ready(Some(Ok("abc".into()))));
    assert_eq!(first.buffered_bytes(), 3);
    assert_eq!(poll_text(&mut first), Poll::Ready(Some(Ok("def".into()))));
    assert_eq!(first.buffered_bytes(), 0);
    assert!(!first.is_replayable());
    assert!(first.replay().is_none());
    assert!(matches!(poll_text(&mut first), Poll::Ready(Some(Ok(t))) if t.contains("grpc-status")));
    assert_eq!(poll_text(&mut first), Poll::Ready(None));

    // The copy made before the cap was crossed fails rather than sending a truncated body.
    let not_replayable = NotReplayable::new().to_string();
    assert_eq!(
        poll_text(&mut early),
        Poll::Ready(Some(Err(not_replayable)))
    );
}

#[test]
fn a_declared_length_over_the_cap_decides_early() {
    let req = http::Request::post("/")
        .header("content-length", "6")
        .body(Full::new(Bytes::from_static(b"123456")))
        .unwrap();
    let req = ReplayBody::wrap_request(req, 5);
    assert!(HttpReplay.replay(&req).is_none());
    let req = http::Request::post("/")
        .header("content-length", "5")
        .body(Full::new(Bytes::from_static(b"12345")))
        .unwrap();
    assert!(HttpReplay
        .replay(&ReplayBody::wrap_request(req, 5))
        .is_some());
    // The size hint decides without a header.
    let big = ReplayBody::with_max_bytes(Full::new(Bytes::from_static(b"123456")), 5);
    assert!(!big.is_replayable());
}

#[tokio::test]
async fn an_unreplayable_body_is_still_sent_whole() {
    let big = ReplayBody::with_max_bytes(Full::new(Bytes::from(vec![7u8; 100])), 10);
    assert_eq!(collect(big).await.unwrap().0.len(), 100);
}

#[test]
fn a_body_streamed_with_no_copy_alive_keeps_nothing() {
    let (tx, body, _) = channel();
    let mut only = ReplayBody::new(body);
    tx.send(data("abc")).unwrap();
    assert_eq!(poll_text(&mut only), Poll::Ready(Some(Ok("abc".into()))));
    assert_eq!(only.buffered_bytes(), 0);
    assert!(only.replay().is_none());
}

#[test]
fn a_failed_body_fails_the_copy_being_sent_and_cannot_be_replayed() {
    let (tx, body, dropped) = channel();
    let mut first = ReplayBody::new(body);
    let mut copy = first.replay().unwrap();
    tx.send(data("abc")).unwrap();
    tx.send(Err(io::Error::other("reset"))).unwrap();
    assert_eq!(poll_text(&mut first), Poll::Ready(Some(Ok("abc".into()))));
    assert_eq!(
        poll_text(&mut first),
        Poll::Ready(Some(Err("reset".into())))
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "the failed body is released"
    );
    assert!(first.replay().is_none());
    let not_replayable = NotReplayable::new().to_string();
    assert_eq!(poll_text(&mut copy), Poll::Ready(Some(Err(not_replayable))));
}

#[test]
fn size_hints_and_end_of_stream_match_the_original() {
    let first = ReplayBody::new(Full::new(Bytes::from_static(b"12345")));
    let copy = first.replay().unwrap();
    assert_eq!(first.size_hint().exact(), Some(5));
    assert_eq!(copy.size_hint().exact(), Some(5));
    let mut first = first;
    assert_eq!(poll_text(&mut first), Poll::Ready(Some(Ok("12345".into()))));
    assert!(first.is_end_stream());
    assert_eq!(first.size_hint().exact(), Some(0));
    assert!(!copy.is_end_stream());
    assert_eq!(copy.size_hint().exact(), Some(5));

    let empty = ReplayBody::new(Empty::<Bytes>::new());
    assert!(empty.is_end_stream());
    assert!(empty.replay().unwrap().is_end_stream());
}

#[test]
fn http_replay_copies_every_part() {
    #[derive(Clone, Debug, PartialEq)]
    struct Tag(u8);
    let mut req = http::Request::patch("http://example.com/a?b=c")
        .version(http::Version::HTTP_2)
        .header("x-one", "1")
        .body(Full::new(Bytes::from_static(b"x")))
        .unwrap();
    req.extensions_mut().insert(Tag(3));
    let req = ReplayBody::wrap_request(req, 8);
    let copy = HttpReplay.replay(&req).unwrap();
    assert_eq!(copy.method(), req.method());
    assert_eq!(copy.uri(), req.uri());
    assert_eq!(copy.version(), http::Version::HTTP_2);
    assert_eq!(copy.headers(), req.headers());
    assert_eq!(copy.extensions().get::<Tag>(), Some(&Tag(3)));
}

#[tokio::test]
async fn the_layer_wraps_bodies_with_its_cap() {
    use tower::{service_fn, ServiceExt};
    let svc = ReplayBodyLayer::new().max_bytes(4);
    let svc = tower_layer::Layer::layer(
        &svc,
        service_fn(|req: http::Request<ReplayBody<Full<Bytes>>>| async move {
            let copy = HttpReplay.replay(&req);
            let sent = collect(req.into_body()).await?.0;
            let replayed = match copy {
                Some(copy) => Some(collect(copy.into_body()).await?.0),
                None => None,
            };
            Ok::<_, BoxError>((sent, replayed))
        }),
    );
    let small = http::Request::new(Full::new(Bytes::from_static(b"1234")));
    let (sent, replayed) = svc.clone().oneshot(small).await.unwrap();
    assert_eq!((sent, replayed), ("1234".into(), Some("1234".into())));
    let big = http::Request::new(Full::new(Bytes::from_static(b"12345")));
    assert_eq!(svc.oneshot(big).await.unwrap(), ("12345".into(), None));
}

fn chunks() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..12)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn memory_stays_under_the_cap_and_nothing_is_lost(chunks in chunks(), cap in 0usize..200) {
        let (tx, body, _) = channel();
        let mut first = ReplayBody::with_max_bytes(body, cap);
        let copy = first.replay().unwrap();
        let mut sent = Vec::new();
        for chunk in &chunks {
            tx.send(Ok(Frame::data(Bytes::from(chunk.clone())))).unwrap();
            let Poll::Ready(Some(Ok(frame))) = Pin::new(&mut first)
                .poll_frame(&mut Context::from_waker(std::task::Waker::noop()))
            else {
                panic!("a frame was sent");
            };
            sent.extend_from_slice(&frame.into_data().unwrap());
            prop_assert!(first.buffered_bytes() <= cap);
        }
        drop(tx);
        prop_assert_eq!(&sent, &chunks.concat());

        let total: usize = chunks.iter().map(Vec::len).sum();
        prop_assert_eq!(first.replay().is_some(), total <= cap);
        if total <= cap {
            let replayed = tokio_test::block_on(collect(copy)).unwrap().0;
            prop_assert_eq!(&replayed[..], &sent[..]);
        }
    }
}

#[tokio::test]
async fn many_tiny_frames_fit_and_replay_byte_for_byte() {
    let frames: Vec<Result<Frame<Bytes>, Infallible>> = (0..20_000u32)
        .map(|i| Ok(Frame::data(Bytes::from(vec![(i % 251) as u8]))))
        .collect();
    let expected: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let first = ReplayBody::new(StreamBody::new(futures_util::stream::iter(frames)));
    let copy = first.replay().unwrap();
    assert_eq!(collect(first).await.unwrap().0, expected);
    assert!(copy.buffered_bytes() <= DEFAULT_MAX_BYTES);
    assert_eq!(collect(copy).await.unwrap().0, expected);
}

#[test]
fn the_record_holds_copies_not_the_bodys_buffers() {
    let (tx, body, _) = channel();
    let mut first = ReplayBody::new(body);
    let copy = first.replay().unwrap();
    let read_buffer = Bytes::from(vec![b'x'; 1 << 20]);
    tx.send(Ok(Frame::data(read_buffer.slice(0..10)))).unwrap();
    assert_eq!(poll_text(&mut first), Poll::Ready(Some(Ok("x".repeat(10)))));
    assert!(
        read_buffer.is_unique(),
        "a 10-byte slice must not pin a 1 MiB buffer"
    );
    assert_eq!(copy.buffered_bytes(), 10);
}

#[test]
fn bodies_and_copies_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<ReplayBody<Full<Bytes>>>();
    send_sync::<http::Request<ReplayBody<ChannelBody>>>();
}

#[test]
fn copies_read_on_two_threads_at_once_both_get_everything() {
    let (tx, body, _) = channel();
    let first = ReplayBody::new(body);
    let copy = first.replay().unwrap();
    let expected: Vec<u8> = (0..2_000u32).map(|i| (i % 256) as u8).collect();
    let readers: Vec<_> = [first, copy]
        .into_iter()
        .map(|body| {
            std::thread::spawn(move || {
                tokio_test::block_on(async {
                    // A guard against a lost wake-up, which would otherwise hang the test.
                    tokio::time::timeout(std::time::Duration::from_secs(60), collect(body))
                        .await
                        .expect("a copy was never woken")
                        .unwrap()
                        .0
                })
            })
        })
        .collect();
    for chunk in expected.chunks(7) {
        tx.send(Ok(Frame::data(Bytes::copy_from_slice(chunk))))
            .unwrap();
        std::thread::yield_now();
    }
    drop(tx);
    for reader in readers {
        assert_eq!(reader.join().unwrap(), expected);
    }
}

#[derive(Debug, Clone)]
enum Op {
    Send(u8),
    Poll(usize),
    Copy(usize),
    Drop(usize),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        (1u8..24).prop_map(Op::Send),
        (0usize..4).prop_map(Op::Poll),
        (0usize..4).prop_map(Op::Copy),
        (0usize..4).prop_map(Op::Drop),
    ];
    proptest::collection::vec(op, 0..60)
}

struct Copy {
    body: ReplayBody<ChannelBody>,
    got: Vec<u8>,
    end: Option<Result<(), String>>,
}

impl Copy {
    fn poll(&mut self) {
        if self.end.is_some() {
            return;
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match Pin::new(&mut self.body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => self.got.extend_from_slice(&frame.into_data().unwrap()),
            Poll::Ready(Some(Err(err))) => self.end = Some(Err(err.to_string())),
            Poll::Ready(None) => self.end = Some(Ok(())),
            Poll::Pending => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    /// Any interleaving of frames arriving, copies being made, polled and dropped: every copy
    /// sees a prefix of the body, in order; it ends with the whole body or with
    /// `NotReplayable`, never with a truncated body; a body under the cap replays to every
    /// copy; and the record never holds more than the cap.
    #[test]
    fn copies_never_see_a_wrong_or_truncated_body(ops in ops(), cap in 0usize..120) {
        let (tx, body, _) = channel();
        let mut copies = vec![Copy { body: ReplayBody::with_max_bytes(body, cap), got: vec![], end: None }];
        let mut sent: Vec<u8> = Vec::new();
        for op in ops {
            match op {
                Op::Send(len) => {
                    let chunk: Vec<u8> = (0..len).map(|i| (sent.len() as u8).wrapping_add(i)).collect();
                    sent.extend_from_slice(&chunk);
                    tx.send(Ok(Frame::data(Bytes::from(chunk)))).unwrap();
                }
                Op::Poll(i) => {
                    let n = copies.len();
                    copies[i % n].poll();
                }
                Op::Copy(i) => {
                    let n = copies.len();
                    if let Some(body) = copies[i % n].body.replay() {
                        copies.push(Copy { body, got: vec![], end: None });
                    }
                }
                Op::Drop(i) => {
                    if copies.len() > 1 {
                        let n = copies.len();
                        copies.remove(i % n);
                    }
                }
            }
            for c in &copies {
                prop_assert!(sent.starts_with(&c.got));
                prop_assert!(c.body.buffered_bytes() <= cap);
            }
        }
        drop(tx);
        for c in &mut copies {
            for _ in 0..sent.len() + 2 {
                c.poll();
            }
            match &c.end {
                Some(Ok(())) => prop_assert_eq!(&c.got, &sent),
                Some(Err(e)) => {
                    prop_assert_eq!(e, &NotReplayable::new().to_string());
                    prop_assert!(sent.len() > cap, "a body under the cap failed to replay");
                }
                None => prop_assert!(false, "a copy never finished"),
            }
        }
    }
}

/// Drives a request the way bulwark's retry layer does: a copy is made before the first
/// send and the original is held; each retry sends a fresh copy of the original.
async fn send_like_retry(
    req: http::Request<ReplayBody<ChannelBody>>,
    attempts: usize,
) -> (Vec<Bytes>, usize) {
    let mut seen = Vec::new();
    let mut not_replayable = 0;
    let (mut send, original) = match HttpReplay.replay(&req) {
        Some(copy) => (copy, Some(req)),
        None => {
            not_replayable += 1;
            (req, None)
        }
    };
    for attempt in 1..=attempts {
        // The upstream reads the whole body, then fails.
        seen.push(collect(send.into_body()).await.unwrap().0);
        if attempt == attempts {
            break;
        }
        let Some(held) = &original else { break };
        match HttpReplay.replay(held) {
            Some(copy) => send = copy,
            None => {
                not_replayable += 1;
                break;
            }
        }
    }
    (seen, not_replayable)
}

#[tokio::test]
async fn the_retry_pattern_sends_the_same_streamed_bytes_each_time() {
    let (tx, body, _) = channel();
    for chunk in ["stream", "ing ", "body"] {
        tx.send(data(chunk)).unwrap();
    }
    drop(tx);
    let req = ReplayBody::wrap_request(http::Request::post("/").body(body).unwrap(), 64);
    let (seen, not_replayable) = send_like_retry(req, 3).await;
    assert_eq!(seen, ["streaming body"; 3]);
    assert_eq!(not_replayable, 0);
}

#[tokio::test]
async fn the_retry_pattern_sends_an_over_cap_body_once() {
    let (tx, body, _) = channel();
    for chunk in ["stream", "ing ", "body"] {
        tx.send(data(chunk)).unwrap();
    }
    drop(tx);
    let req = ReplayBody::wrap_request(http::Request::post("/").body(body).unwrap(), 8);
    let (seen, not_replayable) = send_like_retry(req, 3).await;
    assert_eq!(seen, ["streaming body"]);
    assert_eq!(not_replayable, 1);
}
