//! Where bytes come from: a memory-mapped file, a caller's buffer (borrowed, never copied),
//! or a gzip stream. Compression is detected by the magic bytes `1F 8B`, never by the file
//! name, and every member of a multi-member file is read (a plain single-member decoder
//! would silently drop the rest of the day). Inflating runs on its own thread and hands
//! chunks to the decoder through a small bounded channel, so gzip input costs about what
//! inflating alone costs, with a few megabytes in flight.

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use flate2::bufread::MultiGzDecoder;
use memmap2::Mmap;

use crate::error::{Error, Result};

/// Bytes that stay valid for as long as they are shared (a mapping, a `Vec`, a Python buffer).
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// Decompressed bytes per chunk handed from the inflate thread to the decoder.
pub const GZIP_CHUNK: usize = 2 << 20;
const CHUNKS_IN_FLIGHT: usize = 3;

/// A source of ITCH bytes.
pub enum Input {
    /// The whole stream is addressable memory.
    Memory(SharedBytes),
    /// A memory-mapped raw file (pages already read can be handed back to the kernel).
    Mapped(Arc<Mmap>),
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
            Input::Mapped(m) => write!(f, "Input::Mapped({} bytes)", m.len()),
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
    /// A second handle on the same bytes, for reading them again: memory and mappings
    /// only (a gzip stream is read once).
    pub fn try_clone(&self) -> Option<Input> {
        match self {
            Input::Memory(bytes) => Some(Input::Memory(bytes.clone())),
            Input::Mapped(map) => Some(Input::Mapped(map.clone())),
            Input::Gzip { .. } => None,
        }
    }

    /// Opens a file: memory-mapped when raw, streamed when gzip.
    pub fn open(path: &Path) -> Result<Input> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        if len == 0 {
            return Ok(Input::Memory(Arc::new(Vec::<u8>::new())));
        }
        let mut magic = [0u8; 2];
        let got = read_up_to(&mut file, &mut magic)?;
        if is_gzip(&magic[..got]) {
            let file = File::open(path)?;
            return Ok(Input::Gzip {
                reader: Box::new(file),
                compressed_len: Some(len),
            });
        }
        // SAFETY: the mapping is read-only and private to this reader. Like every mmap-based
        // reader, it assumes no other process truncates the file while it is being read.
        let map = unsafe { Mmap::map(&file)? };
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(Input::Mapped(Arc::new(map)))
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
            Input::Mapped(m) => Some(m.len() as u64),
            Input::Gzip { compressed_len, .. } => *compressed_len,
        }
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
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

/// Decompressed chunks from a background inflate thread, in order.
#[derive(Debug)]
pub struct Inflater {
    chunks: Receiver<io::Result<Vec<u8>>>,
    recycle: SyncSender<Vec<u8>>,
    compressed_read: Arc<AtomicU64>,
    delivered: u64,
}

impl Inflater {
    /// Starts inflating `reader` (every gzip member) on a new thread.
    pub fn spawn(reader: Box<dyn Read + Send>) -> Inflater {
        let compressed_read = Arc::new(AtomicU64::new(0));
        let counted = Counting {
            inner: reader,
            count: compressed_read.clone(),
        };
        let (tx, chunks) = sync_channel::<io::Result<Vec<u8>>>(CHUNKS_IN_FLIGHT);
        let (recycle, spare) = sync_channel::<Vec<u8>>(CHUNKS_IN_FLIGHT + 2);
        let body = move || {
            let mut gz = MultiGzDecoder::new(BufReader::with_capacity(1 << 18, counted));
            loop {
                let mut buf = spare.try_recv().unwrap_or_default();
                buf.resize(GZIP_CHUNK, 0);
                let result = read_up_to(&mut gz, &mut buf).map(|n| {
                    buf.truncate(n);
                    buf
                });
                let stop = !matches!(&result, Ok(b) if !b.is_empty());
                if tx.send(result).is_err() || stop {
                    break;
                }
            }
        };
        // A failed spawn leaves the channel closed, which reads as an I/O error below.
        let _ = thread::Builder::new()
            .name("ki2fast-inflate".into())
            .spawn(body);
        Inflater {
            chunks,
            recycle,
            compressed_read,
            delivered: 0,
        }
    }

    /// The next decompressed chunk; `None` at the end of the last member.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        match self.chunks.recv() {
            Ok(Ok(chunk)) if chunk.is_empty() => Ok(None),
            Ok(Ok(chunk)) => {
                self.delivered += chunk.len() as u64;
                Ok(Some(chunk))
            }
            Ok(Err(source)) => Err(Error::Gzip {
                offset: self.delivered,
                source,
            }),
            Err(_) => Err(Error::Io(io::Error::other(
                "the inflate thread stopped unexpectedly",
            ))),
        }
    }

    /// Hands a consumed chunk back for reuse.
    pub fn recycle(&self, chunk: Vec<u8>) {
        let _ = self.recycle.try_send(chunk);
    }

    /// Compressed bytes read so far.
    pub fn compressed_read(&self) -> u64 {
        self.compressed_read.load(Ordering::Relaxed)
    }
}

/// Hands the pages of `map` before `upto` back to the kernel, from `released` on, in steps of
/// at least `RELEASE_STEP`; returns the new released offset. Keeps a streaming read of a
/// multi-gigabyte file from growing its resident set with pages it will not read again.
pub fn release_read_pages(map: &Mmap, released: usize, upto: usize) -> usize {
    const RELEASE_STEP: usize = 8 << 20;
    const PAGE: usize = 4096;
    let end = upto / PAGE * PAGE;
    if end < released + RELEASE_STEP {
        return released;
    }
    #[cfg(unix)]
    {
        // SAFETY: the mapping is a private, read-only view of a file; dropping its pages only
        // makes a later access fault them in again from the file, and the reader never goes
        // back before `upto`.
        let _ = unsafe {
            map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, released, end - released)
        };
    }
    #[cfg(not(unix))]
    let _ = map;
    end
}

/// Inflates a whole gzip file (every member) and returns the decompressed size: the
/// inflate-only baseline that gzip reading is measured against.
pub fn inflate_len(path: &Path) -> Result<u64> {
    let file = File::open(path)?;
    let mut gz = MultiGzDecoder::new(BufReader::with_capacity(1 << 18, file));
    let mut buf = vec![0u8; GZIP_CHUNK];
    let mut total = 0u64;
    loop {
        match gz.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => total += n as u64,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => {
                return Err(Error::Gzip {
                    offset: total,
                    source,
                });
            }
        }
    }
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
        let mut inflater = Inflater::spawn(reader);
        let mut out = Vec::new();
        while let Some(chunk) = inflater.next_chunk()? {
            out.extend_from_slice(&chunk);
            inflater.recycle(chunk);
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
