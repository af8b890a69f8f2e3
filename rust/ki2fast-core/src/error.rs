//! The one error type of the core. Every decode error carries the byte offset (in the
//! decompressed stream) where the problem starts and says what was expected there.

use std::io;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while reading, decoding or writing ITCH.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input holds no bytes at all.
    #[error("empty input: expected ITCH 5.0 frames (2-byte big-endian length, then the message)")]
    Empty,

    /// The last frame is cut short: its length prefix promises more bytes than remain.
    #[error(
        "truncated frame at byte {offset}: expected {needed} bytes (length prefix + message), \
         found {available}; pass allow_truncated to stop cleanly at a partial tail"
    )]
    Truncated {
        /// Offset of the frame's length prefix.
        offset: u64,
        /// Bytes the frame needs (2 + length).
        needed: usize,
        /// Bytes actually left.
        available: usize,
    },

    /// A known message type whose frame length differs from the spec length.
    #[error(
        "message type {code:?} ({name}) at byte {offset}: expected length {expected}, found {found}"
    )]
    LengthMismatch {
        /// Offset of the message's type byte.
        offset: u64,
        /// Type code as a character.
        code: char,
        /// snake_case message name.
        name: &'static str,
        /// Length from the spec.
        expected: usize,
        /// Length in the frame prefix.
        found: usize,
    },

    /// The bytes frame, but nothing in them is an ITCH 5.0 message.
    #[error("not an ITCH 5.0 stream (from byte {offset}): {reason}")]
    NotItch {
        /// Where the check started (normally 0).
        offset: u64,
        /// What was found instead.
        reason: String,
    },

    /// The gzip layer failed (corrupt deflate data, bad header, cut-off member).
    #[error(
        "gzip stream is corrupt or cut off at compressed byte {compressed_offset}, after \
         {offset} decompressed bytes: {source}; pass allow_truncated to keep the whole \
         messages before it"
    )]
    Gzip {
        /// Decompressed bytes delivered before the failure.
        offset: u64,
        /// Compressed bytes the inflater had consumed when it failed.
        compressed_offset: u64,
        /// What the inflater reported.
        #[source]
        source: io::Error,
    },

    /// A file ended before the size it had when it was opened: another process truncated
    /// or replaced it while it was being read.
    #[error(
        "the file shrank while it was read: it had {opened} bytes when opened, but reading \
         stopped at byte {offset}{}; was it truncated or rotated by the tool writing it?",
        now.map(|n| format!(" (it now has {n})")).unwrap_or_default()
    )]
    Shrunk {
        /// Where reading found the end.
        offset: u64,
        /// Size when opened.
        opened: u64,
        /// Size after the short read, when it could be asked.
        now: Option<u64>,
    },

    /// A caller-supplied argument is not acceptable.
    #[error("{0}")]
    InvalidArgument(String),

    /// Operating-system I/O failure (missing file, permission, disk full).
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Error {
    /// Byte offset of the problem, when the error is about a position in the input.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Truncated { offset, .. }
            | Error::LengthMismatch { offset, .. }
            | Error::NotItch { offset, .. }
            | Error::Gzip { offset, .. }
            | Error::Shrunk { offset, .. } => Some(*offset),
            Error::Empty => Some(0),
            Error::InvalidArgument(_) | Error::Io(_) => None,
        }
    }

    /// True for errors about the content of the bytes (as opposed to I/O or arguments).
    pub fn is_decode_error(&self) -> bool {
        !matches!(self, Error::InvalidArgument(_) | Error::Io(_))
    }
}
