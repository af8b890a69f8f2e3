//! Writing ITCH 5.0: any message struct to its framed bytes (2-byte big-endian length, then
//! the message), buffered, into a file, a gzip stream or memory. The inverse of
//! `spec::dispatch`; `Message::encode` and `MessageDef::write_to` do the byte layout.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::{self, JoinHandle};

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::error::Result;
use crate::itch::spec::{COUNT, Message, MessageDef};

const FLUSH_AT: usize = 1 << 20;

/// Buffered ITCH writer.
#[derive(Debug)]
pub struct ItchWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    counts: [u64; COUNT],
    total: u64,
}

impl<W: Write> ItchWriter<W> {
    /// Writes frames to `out`.
    pub fn new(out: W) -> ItchWriter<W> {
        ItchWriter {
            out,
            buf: Vec::with_capacity(FLUSH_AT + 64),
            counts: [0; COUNT],
            total: 0,
        }
    }

    /// Appends one message.
    #[inline]
    pub fn write<M: MessageDef>(&mut self, m: &M) -> io::Result<()> {
        let len = M::KIND.len();
        self.buf.extend_from_slice(&(len as u16).to_be_bytes());
        let start = self.buf.len();
        self.buf.resize(start + len, 0);
        m.write_to(&mut self.buf[start..]);
        self.counts[M::KIND.index()] += 1;
        self.total += 1;
        if self.buf.len() >= FLUSH_AT {
            self.flush_buffer()?;
        }
        Ok(())
    }

    /// Appends any message.
    pub fn write_message(&mut self, m: &Message) -> io::Result<()> {
        m.encode(&mut self.buf);
        self.counts[m.kind().index()] += 1;
        self.total += 1;
        if self.buf.len() >= FLUSH_AT {
            self.flush_buffer()?;
        }
        Ok(())
    }

    /// Appends bytes as they are (a raw frame, possibly malformed: for tests of readers).
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    fn flush_buffer(&mut self) -> io::Result<()> {
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Messages written per type (catalogue order).
    pub fn counts(&self) -> &[u64; COUNT] {
        &self.counts
    }

    /// Messages written in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Flushes and returns the inner writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.flush_buffer()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// gzip compression on a background thread: the writer hands over full buffers through a
/// small bounded channel, so producing and compressing a day use both cores.
pub struct GzipPipe {
    tx: Option<SyncSender<Vec<u8>>>,
    worker: Option<JoinHandle<io::Result<()>>>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for GzipPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GzipPipe({} bytes pending)", self.buf.len())
    }
}

impl GzipPipe {
    /// Compresses into `out` at `level` (0–9).
    pub fn new<W: Write + Send + 'static>(out: W, level: u32) -> io::Result<GzipPipe> {
        let (tx, rx) = sync_channel::<Vec<u8>>(4);
        let worker = thread::Builder::new()
            .name("ki2fast-gzip".into())
            .spawn(move || {
                let mut gz = GzEncoder::new(out, Compression::new(level.min(9)));
                for chunk in rx {
                    gz.write_all(&chunk)?;
                }
                gz.finish()?.flush()
            })?;
        Ok(GzipPipe {
            tx: Some(tx),
            worker: Some(worker),
            buf: Vec::with_capacity(FLUSH_AT),
        })
    }

    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(FLUSH_AT));
        match &self.tx {
            Some(tx) if tx.send(chunk).is_ok() => Ok(()),
            _ => Err(self.failure()),
        }
    }

    fn failure(&mut self) -> io::Error {
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(Err(e))) => e,
            _ => io::Error::other("the gzip thread stopped"),
        }
    }

    /// Compresses what is left, writes the gzip trailer and waits for the thread.
    pub fn finish(mut self) -> io::Result<()> {
        self.send()?;
        self.tx = None;
        match self.worker.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            _ => Err(io::Error::other("the gzip thread panicked")),
        }
    }
}

impl Write for GzipPipe {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= FLUSH_AT {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Where a writer's bytes go: a raw file, a gzip file, or memory.
pub enum Destination {
    /// Raw file (the writer already buffers, so writes go straight to the file).
    File(File),
    /// gzip file (one member), compressed on a background thread.
    Gzip(GzipPipe),
    /// In-memory buffer.
    Memory(Vec<u8>),
}

impl std::fmt::Debug for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Destination::File(_) => "Destination::File",
            Destination::Gzip(_) => "Destination::Gzip",
            Destination::Memory(_) => "Destination::Memory",
        })
    }
}

impl Destination {
    /// Creates (truncates) `path`, gzip-compressed at `level` (0–9) when given.
    pub fn create(path: &Path, gzip_level: Option<u32>) -> Result<Destination> {
        let file = File::create(path)?;
        Ok(match gzip_level {
            Some(level) => Destination::Gzip(GzipPipe::new(
                BufWriter::with_capacity(1 << 20, file),
                level,
            )?),
            None => Destination::File(file),
        })
    }

    /// Finishes the stream (gzip trailer, flush); returns the bytes for `Memory`.
    pub fn finish(self) -> Result<Option<Vec<u8>>> {
        match self {
            Destination::File(mut f) => {
                f.flush()?;
                Ok(None)
            }
            Destination::Gzip(gz) => {
                gz.finish()?;
                Ok(None)
            }
            Destination::Memory(v) => Ok(Some(v)),
        }
    }
}

impl Write for Destination {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Destination::File(f) => f.write(buf),
            Destination::Gzip(g) => g.write(buf),
            Destination::Memory(v) => v.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Destination::File(f) => f.write_all(buf),
            Destination::Gzip(g) => g.write_all(buf),
            Destination::Memory(v) => v.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Destination::File(f) => f.flush(),
            Destination::Gzip(g) => g.flush(),
            Destination::Memory(_) => Ok(()),
        }
    }
}
