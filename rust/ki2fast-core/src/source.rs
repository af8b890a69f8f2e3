//! Where bytes come from: a file, a caller's buffer (borrowed, never copied), or a gzip
//! stream. Compression is detected by the magic bytes `1F 8B`, never by the file name, and
//! every member of a multi-member file is read (a plain single-member decoder would silently
//! drop the rest of the day).
//!
//! Files are read, not memory-mapped. A mapped file that another process truncates kills
//! the reader with `SIGBUS` as soon as it touches a page past the new end, and capture tools
//! rotate and truncate their files; a read just returns fewer bytes, which becomes a typed
//! error here. Reading costs one copy from the page cache, which a background thread does
//! while the decoder works on the previous chunk (the same pipeline that inflates gzip), and
//! it keeps file pages out of the process's resident set.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use flate2::bufread::MultiGzDecoder;

use crate::error::{Error, Result};

/// Bytes that stay valid for as long as they are shared (a `Vec`, a Python buffer).
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// Decompressed bytes per chunk handed from the inflate thread to the decoder.
pub const GZIP_CHUNK: usize = 8 << 20;
/// Bytes per read of a raw file.
pub const FILE_CHUNK: usize = 8 << 20;
const CHUNKS_IN_FLIGHT: usize = 3;

/// A source of ITCH bytes.
pub enum Input {
    /// The whole stream is addressable memory.
    Memory(SharedBytes),
    /// A raw file of `len` bytes (its size when opened), read in chunks.
    File {
        /// The open file (read by position, so handles can share it).
        file: Arc<File>,
        /// Its size when opened: the reader stops there, and fails if the file ends sooner.
        len: u64,
    },
    /// A gzip stream, inflated on the fly.
    Gzip {
        /// The compressed bytes.
        reader: Box<dyn Read + Send>,
        /// Compressed size, when known (for progress).
        compressed_len: Option<u64>,
    },
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Input::Memory(b) => write!(f, "Input::Memory({} bytes)", (**b).as_ref().len()),
            Input::File { len, .. } => write!(f, "Input::File({len} bytes)"),
            Input::Gzip { compressed_len, .. } => {
                write!(f, "Input::Gzip({compressed_len:?} compressed bytes)")
            }
        }
    }
}

/// True when `bytes` starts like a gzip member. A raw ITCH stream cannot start this way: its
/// first two bytes are a frame length, and no message is 0x1F8B bytes long.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

struct Shared(SharedBytes);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        (*self.0).as_ref()
    }
}

impl Input {
    /// A second handle on the same bytes, for reading them again: memory and raw files
    /// only (a gzip stream is read once).
    pub fn try_clone(&self) -> Option<Input> {
        match self {
            Input::Memory(bytes) => Some(Input::Memory(bytes.clone())),
            Input::File { file, len } => Some(Input::File {
                file: file.clone(),
                len: *len,
            }),
            Input::Gzip { .. } => None,
        }
    }

    /// Opens a file: read in chunks when raw, streamed through the inflater when gzip.
    pub fn open(path: &Path) -> Result<Input> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(Input::Memory(Arc::new(Vec::<u8>::new())));
        }
        let mut magic = [0u8; 2];
        let got = read_at_most(&file, &mut magic, 0)?;
        if is_gzip(&magic[..got]) {
            return Ok(Input::Gzip {
                reader: Box::new(file),
                compressed_len: Some(len),
            });
        }
        Ok(Input::File {
            file: Arc::new(file),
            len,
        })
    }

    /// Wraps bytes already in memory; gzip bytes are inflated, raw bytes are used in place.
    pub fn from_shared(bytes: SharedBytes) -> Input {
        if is_gzip((*bytes).as_ref()) {
            let compressed_len = Some((*bytes).as_ref().len() as u64);
            Input::Gzip {
                reader: Box::new(Cursor::new(Shared(bytes))),
                compressed_len,
            }
        } else {
            Input::Memory(bytes)
        }
    }

    /// Wraps an owned vector.
    pub fn from_vec(bytes: Vec<u8>) -> Input {
        Input::from_shared(Arc::new(bytes))
    }

    /// Size of the input as stored (compressed size for gzip), when known.
    pub fn stored_len(&self) -> Option<u64> {
        match self {
            Input::Memory(b) => Some((**b).as_ref().len() as u64),
            Input::File { len, .. } => Some(*len),
            Input::Gzip { compressed_len, .. } => *compressed_len,
        }
    }
}

/// One positional read (retried when interrupted): bytes read, 0 at the end of the file.
fn read_at_most(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        #[cfg(unix)]
        let got = std::os::unix::fs::FileExt::read_at(file, buf, offset);
        #[cfg(windows)]
        let got = std::os::windows::fs::FileExt::seek_read(file, buf, offset);
        match got {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Fills `buf` from `r` as far as it goes: the bytes filled, and the error that stopped it
/// early, if one did (the bytes before an error are kept, not dropped with it).
fn fill(r: &mut impl Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (filled, Some(e)),
        }
    }
    (filled, None)
}

struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The bytes of an input, chunk by chunk, from a background thread that reads (raw files)
/// or inflates (gzip) the next chunks while the caller decodes this one. A few chunks are in
/// flight; consumed ones are handed back for reuse.
#[derive(Debug)]
pub struct Chunks {
    chunks: Receiver<Result<Vec<u8>>>,
    recycle: SyncSender<Vec<u8>>,
    /// Stored bytes consumed so far (compressed bytes for gzip).
    stored_read: Arc<AtomicU64>,
}

impl Chunks {
    /// Runs `next` on a new thread: each call fills a chunk of `size` bytes and returns how
    /// many it filled (0: the end) and the error that stopped it, if any. The bytes before an
    /// error are delivered first, then the error.
    fn spawn(
        name: &str,
        size: usize,
        stored_read: Arc<AtomicU64>,
        mut next: impl FnMut(&mut [u8]) -> (usize, Option<Error>) + Send + 'static,
    ) -> Chunks {
        let (tx, chunks) = sync_channel::<Result<Vec<u8>>>(CHUNKS_IN_FLIGHT);
        let (recycle, spare) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT + 2);
        let body = move || {
            loop {
                let mut buf = spare.try_recv().unwrap_or_default();
                buf.resize(size, 0);
                let (n, err) = next(&mut buf);
                buf.truncate(n);
                // An empty chunk marks the end.
                if (n > 0 || err.is_none()) && tx.send(Ok(buf)).is_err() {
                    return;
                }
                if let Some(e) = err {
                    let _ = tx.send(Err(e));
                    return;
                }
                if n == 0 {
                    return;
                }
            }
        };
        // A failed spawn leaves the channel closed, which reads as an I/O error below.
        let _ = thread::Builder::new().name(name.into()).spawn(body);
        Chunks {
            chunks,
            recycle,
            stored_read,
        }
    }

    /// Inflates `reader` (every gzip member) on a new thread. A corrupt or cut-off member
    /// delivers every byte inflated before the damage, then an [`Error::Gzip`] with the
    /// exact decompressed offset and the compressed offset the inflater had reached.
    pub fn gzip(reader: Box<dyn Read + Send>) -> Chunks {
        let stored_read = Arc::new(AtomicU64::new(0));
        let counted = Counting {
            inner: reader,
            count: stored_read.clone(),
        };
        let mut gz = MultiGzDecoder::new(BufReader::with_capacity(1 << 18, counted));
        let mut delivered = 0u64;
        let read = stored_read.clone();
        Chunks::spawn("ki2fast-inflate", GZIP_CHUNK, stored_read, move |buf| {
            let (n, err) = fill(&mut gz, buf);
            delivered += n as u64;
            let err = err.map(|source| Error::Gzip {
                offset: delivered,
                compressed_offset: read.load(Ordering::Relaxed)
                    - gz.get_ref().buffer().len() as u64,
                source,
            });
            (n, err)
        })
    }

    /// Reads `len` bytes of `file` from the start on a new thread; a file that ends sooner
    /// (truncated while it is read) gives [`Error::Shrunk`] after its last bytes.
    pub fn file(file: Arc<File>, len: u64) -> Chunks {
        let stored_read = Arc::new(AtomicU64::new(0));
        let read = stored_read.clone();
        let mut pos = 0u64;
        Chunks::spawn("ki2fast-read", FILE_CHUNK, stored_read, move |buf| {
            let want = buf.len().min((len - pos) as usize);
            let mut filled = 0;
            let mut err = None;
            while filled < want {
                match read_at_most(&file, &mut buf[filled..want], pos + filled as u64) {
                    Ok(0) => {
                        let now = file.metadata().map(|m| m.len()).ok();
                        err = Some(Error::Shrunk {
                            offset: pos + filled as u64,
                            opened: len,
                            now,
                        });
                        break;
                    }
                    Ok(n) => filled += n,
                    Err(e) => {
                        err = Some(Error::Io(e));
                        break;
                    }
                }
            }
            pos += filled as u64;
            read.store(pos, Ordering::Relaxed);
            (filled, err)
        })
    }

    /// The next chunk; `None` at the end of the input.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        match self.chunks.recv() {
            Ok(Ok(chunk)) if chunk.is_empty() => Ok(None),
            Ok(Ok(chunk)) => Ok(Some(chunk)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::Io(io::Error::other(
                "the reading thread stopped unexpectedly",
            ))),
        }
    }

    /// Hands a consumed chunk back for reuse.
    pub fn recycle(&self, chunk: Vec<u8>) {
        let _ = self.recycle.try_send(chunk);
    }

    /// Stored bytes read so far (compressed bytes for gzip).
    pub fn stored_read(&self) -> u64 {
        self.stored_read.load(Ordering::Relaxed)
    }
}

/// Inflates a whole gzip file (every member) and returns the decompressed size: the
/// inflate-only baseline that gzip reading is measured against.
pub fn inflate_len(path: &Path) -> Result<u64> {
    let mut chunks = Chunks::gzip(Box::new(File::open(path)?));
    let mut total = 0u64;
    while let Some(chunk) = chunks.next_chunk()? {
        total += chunk.len() as u64;
        chunks.recycle(chunk);
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn inflate_all(input: Input) -> Result<Vec<u8>> {
        let Input::Gzip { reader, .. } = input else {
            panic!("expected gzip")
        };
        let mut chunks = Chunks::gzip(reader);
        let mut out = Vec::new();
        while let Some(chunk) = chunks.next_chunk()? {
            out.extend_from_slice(&chunk);
            chunks.recycle(chunk);
        }
        Ok(out)
    }

    #[test]
    fn every_gzip_member_is_read() {
        let a: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let b = b"second member".to_vec();
        let mut both = gzip(&a);
        both.extend(gzip(&b));
        let out = inflate_all(Input::from_vec(both)).unwrap();
        assert_eq!(out.len(), a.len() + b.len());
        assert_eq!(&out[a.len()..], &b[..]);
    }

    #[test]
    fn corrupt_gzip_is_a_gzip_error() {
        let mut z = gzip(&[7u8; 100_000]);
        let mid = z.len() / 2;
        z[mid..mid + 8].copy_from_slice(&[0xff; 8]);
        z.truncate(z.len() - 4);
        let err = inflate_all(Input::from_vec(z)).unwrap_err();
        assert!(matches!(err, Error::Gzip { .. }), "{err:?}");
    }

    #[test]
    fn raw_bytes_stay_in_place() {
        let input = Input::from_vec(vec![0, 1, b'x']);
        assert!(matches!(input, Input::Memory(_)));
        assert_eq!(input.stored_len(), Some(3));
    }
}
