//! Length-prefixed framing of an ITCH 5.0 byte stream (day files; the same `len | message`
//! block is MoldUDP64's message unit). The 2-byte big-endian length is authoritative: the
//! walker advances by `2 + len` whatever the type byte says. It never allocates and never
//! panics; a frame that runs past the end is left as the remainder for the caller to carry
//! into the next chunk or to report as a truncated tail.

use crate::error::{Error, Result};
use crate::itch::spec::{COUNT, Dispatch, MessageKind, SPEC_LEN, Visitor, dispatch};

/// Iterator over the whole frames of a buffer: yields `(offset of the length prefix, message)`.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Frames<'a> {
    /// Walks `buf` from its start.
    pub fn new(buf: &'a [u8]) -> Frames<'a> {
        Frames { buf, pos: 0 }
    }

    /// Bytes consumed so far (always at a frame boundary).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The bytes after the last whole frame: empty, or the start of a frame cut short.
    pub fn remainder(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = (usize, &'a [u8]);

    #[inline(always)]
    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        let rest = &self.buf[self.pos..];
        let [hi, lo, ..] = *rest else { return None };
        let len = u16::from_be_bytes([hi, lo]) as usize;
        let msg = rest.get(2..2 + len)?;
        let at = self.pos;
        self.pos += 2 + len;
        Some((at, msg))
    }
}

/// Bytes a partial frame needs in all (prefix included), if its prefix is complete.
pub fn frame_needs(partial: &[u8]) -> usize {
    match partial {
        [hi, lo, ..] => 2 + u16::from_be_bytes([*hi, *lo]) as usize,
        _ => 2,
    }
}

/// How strict the framing layer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FramePolicy {
    /// Stop cleanly at a partial last frame (a capture still being written) and report the
    /// bytes left, instead of failing.
    pub allow_truncated: bool,
    /// Count and skip known types with a wrong length instead of failing.
    pub skip_length_mismatch: bool,
}

/// The integrity counters of the framing layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameChecks {
    /// Frames per type byte: well-formed messages of the 23 types, and frames of unknown
    /// types (which are skipped by their length).
    pub by_code: [u64; 256],
    /// Known types with a wrong frame length (only counted when skipping is allowed).
    pub length_mismatch: u64,
    /// Frames with length 0.
    pub zero_length_frames: u64,
    /// Bytes left after the last whole frame (only when a partial tail is allowed).
    pub truncated_tail_bytes: u64,
    /// Bytes consumed (decompressed), i.e. the offset of the next frame.
    pub bytes: u64,
    /// The compressed offset where a damaged or cut-off gzip stream stopped being read
    /// (only when a partial tail is allowed; the whole messages before it were read).
    pub gzip_cut_at: Option<u64>,
}

impl Default for FrameChecks {
    fn default() -> Self {
        FrameChecks {
            by_code: [0; 256],
            length_mismatch: 0,
            zero_length_frames: 0,
            truncated_tail_bytes: 0,
            bytes: 0,
            gzip_cut_at: None,
        }
    }
}

impl FrameChecks {
    /// Well-formed messages of one type.
    pub fn messages(&self, kind: MessageKind) -> u64 {
        self.by_code[kind.code() as usize]
    }

    /// Well-formed messages per type, in catalogue order.
    pub fn counts(&self) -> [u64; COUNT] {
        MessageKind::ALL.map(|k| self.messages(k))
    }

    /// Well-formed messages of all known types.
    pub fn known_messages(&self) -> u64 {
        MessageKind::ALL.iter().map(|&k| self.messages(k)).sum()
    }

    /// Frames with an unknown type byte.
    pub fn unknown_messages(&self) -> u64 {
        self.unknown_codes().map(|(_, n)| n).sum()
    }

    /// `(type byte, count)` for each unknown type seen.
    pub fn unknown_codes(&self) -> impl Iterator<Item = (u8, u64)> + '_ {
        (0..=255u8)
            .zip(self.by_code.iter().copied())
            .filter(|&(code, n)| n > 0 && SPEC_LEN[code as usize] == 0)
    }

    /// Handles a frame that is not a well-formed known message: counts it, or fails.
    #[inline]
    pub fn irregular(
        &mut self,
        offset: u64,
        msg: &[u8],
        skip_length_mismatch: bool,
    ) -> Result<(), Error> {
        let Some(&code) = msg.first() else {
            self.zero_length_frames += 1;
            return Ok(());
        };
        match MessageKind::from_code(code) {
            None => {
                self.by_code[code as usize] += 1;
                Ok(())
            }
            Some(kind) if skip_length_mismatch => {
                debug_assert_ne!(msg.len(), kind.len());
                self.length_mismatch += 1;
                Ok(())
            }
            Some(kind) => Err(Error::LengthMismatch {
                offset: offset + 2,
                code: code as char,
                name: kind.name(),
                expected: kind.len(),
                found: msg.len(),
            }),
        }
    }

    /// Handles the bytes left when the input ends: a clean end, a tolerated partial tail, or
    /// a truncation error. `offset` is where the remainder starts.
    pub fn finish(
        &mut self,
        offset: u64,
        remainder: &[u8],
        allow_truncated: bool,
    ) -> Result<(), Error> {
        if remainder.is_empty() {
            return Ok(());
        }
        if allow_truncated {
            self.truncated_tail_bytes = remainder.len() as u64;
            return Ok(());
        }
        Err(Error::Truncated {
            offset,
            needed: frame_needs(remainder),
            available: remainder.len(),
        })
    }

    /// Fails when the stream held no ITCH at all, or when `err` struck before the first
    /// well-formed message (which says more about the input than the error itself does).
    pub fn not_itch(&self, err: Option<Error>) -> Result<(), Error> {
        if self.known_messages() > 0 {
            return err.map_or(Ok(()), Err);
        }
        if self.bytes == 0 && err.is_none() {
            return Err(Error::Empty);
        }
        let reason = match err {
            Some(Error::Empty) => return Err(Error::Empty),
            Some(
                e @ (Error::Io(_)
                | Error::Gzip { .. }
                | Error::Shrunk { .. }
                | Error::InvalidArgument(_)),
            ) => {
                return Err(e);
            }
            Some(e) => format!("no well-formed ITCH 5.0 message before the first error ({e})"),
            None => format!(
                "{} bytes hold no well-formed ITCH 5.0 message ({} unknown-type frames, {} empty frames)",
                self.bytes,
                self.unknown_messages(),
                self.zero_length_frames
            ),
        };
        Err(Error::NotItch { offset: 0, reason })
    }
}

/// Something that consumes well-formed messages frame by frame: the per-type decoder, the
/// order-event builder, the counters-only walk, the summary.
pub trait FrameSink: Visitor<Output = ()> {
    /// The framing counters.
    fn checks(&self) -> &FrameChecks;
    /// The framing counters, mutable.
    fn checks_mut(&mut self) -> &mut FrameChecks;
    /// How strict to be.
    fn policy(&self) -> FramePolicy;
    /// True when output is waiting to be taken: the frame loop stops after this message.
    fn has_output(&self) -> bool {
        false
    }
    /// Called with each whole frame (and its offset in the stream) before it is decoded:
    /// true when the sink has taken what it needs from the raw bytes, and the message is
    /// then counted as visited without being decoded. Only for frames of their type's exact
    /// length (the sink checks).
    #[inline(always)]
    fn glance(&mut self, _msg: &[u8], _offset: u64) -> bool {
        false
    }
    /// True when the sink wants to see messages ahead of time ([`FrameSink::ahead`]).
    const LOOKAHEAD: bool = false;
    /// Called with the message `LOOKAHEAD_DISTANCES[STAGE]` frames ahead of the one about
    /// to be visited, so the sink can prefetch what that message will touch, one dependent
    /// load per stage. A hint: it must not change any state.
    #[inline(always)]
    fn ahead<const STAGE: usize>(&self, _msg: &[u8]) {}
    /// Asked before each buffer is walked: whether [`FrameSink::ahead`] is worth its cost
    /// now (for a book, once its orders no longer fit in cache).
    #[inline(always)]
    fn lookahead_now(&self) -> bool {
        Self::LOOKAHEAD
    }
    /// Walks the whole frames of `buf` (at stream offset `base`) into the sink, as [`feed`]
    /// describes. A sink made of parts may override it to walk them in parallel.
    #[inline(always)]
    fn feed_frames(&mut self, buf: &[u8], base: u64) -> Result<usize>
    where
        Self: Sized,
    {
        walk_frames(self, buf, base)
    }
}

/// How far ahead [`FrameSink::ahead`] sees, farthest first: a pipeline of dependent loads
/// (index slot, then the order, then its neighbours) each issued a few messages before use.
pub const LOOKAHEAD_DISTANCES: [usize; 3] = [12, 6, 2];
/// Bytes ahead of the farthest lookahead cursor at which the input is prefetched.
const INPUT_AHEAD: usize = 1024;

/// The one frame loop: decodes whole frames of `buf` (at stream offset `base`) into `sink`
/// until the buffer holds no whole frame or the sink has output. Returns bytes consumed;
/// the rest is a partial frame (or unread frames when the sink stopped).
#[inline(always)]
pub fn feed<S: FrameSink>(sink: &mut S, buf: &[u8], base: u64) -> Result<usize> {
    sink.feed_frames(buf, base)
}

/// [`feed`] for one sink, in the calling thread: the default of [`FrameSink::feed_frames`].
#[inline(always)]
pub fn walk_frames<S: FrameSink>(sink: &mut S, buf: &[u8], base: u64) -> Result<usize> {
    // Decided per call (per step of the driver): the lookahead walks cost instructions on
    // every message and only pay off once the sink's working set has left the caches.
    if S::LOOKAHEAD && sink.lookahead_now() {
        walk::<S, true>(sink, buf, base)
    } else {
        walk::<S, false>(sink, buf, base)
    }
}

#[inline(always)]
fn walk<S: FrameSink, const AHEAD: bool>(sink: &mut S, buf: &[u8], base: u64) -> Result<usize> {
    let mut frames = Frames::new(buf);
    // Lookahead cursors, each `distance` whole frames in front of the visiting cursor.
    let mut ahead = LOOKAHEAD_DISTANCES.map(|d| {
        let mut f = Frames::new(buf);
        if AHEAD {
            for _ in 0..d {
                f.next();
            }
        }
        f
    });
    for (at, msg) in frames.by_ref() {
        if AHEAD {
            // The input itself, well ahead of the farthest cursor: page-cache pages are not
            // streamed in by the hardware prefetcher across page boundaries.
            crate::mem::prefetch(buf.as_ptr().wrapping_add(ahead[0].position() + INPUT_AHEAD));
            let [far, mid, near] = &mut ahead;
            if let Some((_, m)) = far.next() {
                sink.ahead::<0>(m);
            }
            if let Some((_, m)) = mid.next() {
                sink.ahead::<1>(m);
            }
            if let Some((_, m)) = near.next() {
                sink.ahead::<2>(m);
            }
        }
        if sink.glance(msg, base + at as u64) {
            sink.checks_mut().by_code[msg[0] as usize] += 1;
            continue;
        }
        match dispatch(msg, sink) {
            Dispatch::Visited(()) => {
                sink.checks_mut().by_code[msg[0] as usize] += 1;
                if sink.has_output() {
                    break;
                }
            }
            _ => {
                let skip = sink.policy().skip_length_mismatch;
                let checks = sink.checks_mut();
                if let Err(e) = checks.irregular(base + at as u64, msg, skip) {
                    checks.bytes = base + at as u64;
                    return Err(e);
                }
            }
        }
    }
    let used = frames.position();
    sink.checks_mut().bytes = base + used as u64;
    Ok(used)
}

/// Counts frames and nothing else (`count_itch`): the message structs are never built.
#[derive(Debug, Default)]
pub struct CountSink {
    checks: FrameChecks,
    policy: FramePolicy,
}

impl CountSink {
    /// A counter with the given strictness.
    pub fn new(policy: FramePolicy) -> CountSink {
        CountSink {
            checks: FrameChecks::default(),
            policy,
        }
    }
}

impl Visitor for CountSink {
    type Output = ();
    #[inline(always)]
    fn visit<M: crate::itch::spec::MessageDef>(&mut self, _: M) {}
}

impl FrameSink for CountSink {
    fn checks(&self) -> &FrameChecks {
        &self.checks
    }
    fn checks_mut(&mut self) -> &mut FrameChecks {
        &mut self.checks
    }
    fn policy(&self) -> FramePolicy {
        self.policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Records what each lookahead stage saw (by a frame's sequence number, its second
    /// byte).
    #[derive(Default)]
    struct Peek {
        checks: FrameChecks,
        seen: RefCell<[Vec<u8>; 3]>,
    }

    impl Visitor for Peek {
        type Output = ();
        fn visit<M: crate::itch::spec::MessageDef>(&mut self, _: M) {}
    }

    impl FrameSink for Peek {
        fn checks(&self) -> &FrameChecks {
            &self.checks
        }
        fn checks_mut(&mut self) -> &mut FrameChecks {
            &mut self.checks
        }
        fn policy(&self) -> FramePolicy {
            FramePolicy::default()
        }
        const LOOKAHEAD: bool = true;
        fn ahead<const STAGE: usize>(&self, msg: &[u8]) {
            self.seen.borrow_mut()[STAGE].push(msg[1]);
        }
    }

    #[test]
    fn lookahead_stages_see_every_frame_once_in_order_ahead_of_its_visit() {
        // 40 frames of an unknown type ('!'), each carrying its sequence number.
        let buf: Vec<u8> = (0..40u8).flat_map(|i| [0, 2, b'!', i]).collect();
        let mut sink = Peek::default();
        let used = feed(&mut sink, &buf, 0).unwrap();
        assert_eq!(used, buf.len());
        assert_eq!(sink.checks.unknown_messages(), 40);
        for (stage, distance) in LOOKAHEAD_DISTANCES.iter().enumerate() {
            let seen = &sink.seen.borrow()[stage];
            let expected: Vec<u8> = (*distance as u8..40).collect();
            assert_eq!(seen, &expected, "stage {stage}");
        }
    }

    #[test]
    fn walks_whole_frames_and_leaves_the_partial_tail() {
        let buf = [0, 1, b'x', 0, 0, 0, 2, b'a', b'b', 0, 5, b'c'];
        let mut frames = Frames::new(&buf);
        assert_eq!(frames.next(), Some((0, &b"x"[..])));
        assert_eq!(frames.next(), Some((3, &b""[..])));
        assert_eq!(frames.next(), Some((5, &b"ab"[..])));
        assert_eq!(frames.next(), None);
        assert_eq!(frames.position(), 9);
        assert_eq!(frames.remainder(), &[0, 5, b'c']);
        assert_eq!(frame_needs(frames.remainder()), 7);
        assert_eq!(frame_needs(&[7]), 2);
    }

    #[test]
    fn a_single_byte_is_a_partial_prefix() {
        let mut frames = Frames::new(&[9]);
        assert_eq!(frames.next(), None);
        assert_eq!(frames.remainder(), &[9]);
    }

    #[test]
    fn truncation_is_an_error_unless_allowed() {
        let mut checks = FrameChecks::default();
        let err = checks.finish(100, &[0, 36, b'A'], false).unwrap_err();
        assert!(matches!(
            err,
            Error::Truncated {
                offset: 100,
                needed: 38,
                available: 3
            }
        ));
        checks.finish(100, &[0, 36, b'A'], true).unwrap();
        assert_eq!(checks.truncated_tail_bytes, 3);
    }

    #[test]
    fn wrong_length_of_a_known_type_fails_or_counts() {
        let mut checks = FrameChecks::default();
        let err = checks.irregular(10, b"Axx", false).unwrap_err();
        assert!(
            matches!(
                err,
                Error::LengthMismatch {
                    offset: 12,
                    code: 'A',
                    expected: 36,
                    found: 3,
                    ..
                }
            ),
            "{err:?}"
        );
        checks.irregular(10, b"Axx", true).unwrap();
        checks.irregular(10, b"zq", true).unwrap();
        checks.irregular(10, b"", true).unwrap();
        assert_eq!(
            (
                checks.length_mismatch,
                checks.by_code[b'z' as usize],
                checks.zero_length_frames
            ),
            (1, 1, 1)
        );
        assert_eq!(checks.unknown_codes().collect::<Vec<_>>(), [(b'z', 1)]);
    }
}
