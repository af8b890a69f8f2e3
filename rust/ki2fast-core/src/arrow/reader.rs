//! The lazy ITCH reader: `(message type, RecordBatch)` pairs from any `Input`, decoding a
//! bounded amount per step so a caller can release the GIL per step and check for Ctrl-C
//! between steps. Memory stays bounded by the batch size times the number of types (plus a
//! few gzip chunks in flight), whatever the size of the file.

use std::collections::VecDeque;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, DictionaryArray, RecordBatch, RecordBatchReader, types::UInt16Type,
};
use arrow_schema::{ArrowError, SchemaRef};

use crate::error::{Error, Result};
use crate::itch::decode::{DecodeOptions, Decoder};
use crate::itch::events::EventSink;
use crate::itch::framing::{CountSink, FrameChecks, FramePolicy, FrameSink, feed, frame_needs};
use crate::itch::spec::MessageKind;
use crate::itch::symbols::Symbols;
use crate::source::{Chunks, Input, SharedBytes};

/// Bytes decoded per step when the caller does not say.
pub const DEFAULT_STEP: usize = 16 << 20;

enum Data {
    Memory {
        bytes: SharedBytes,
        pos: usize,
    },
    Stream {
        chunks: Chunks,
        chunk: Vec<u8>,
        pos: usize,
        chunk_base: u64,
        carry: Vec<u8>,
    },
}

/// Drives a `FrameSink` over an `Input`: memory in place, files and gzip chunk by chunk with
/// the frame that straddles two chunks reassembled in a small carry buffer.
pub struct Driver<S> {
    data: Data,
    stored_len: Option<u64>,
    /// The sink being fed.
    pub sink: S,
    done: bool,
}

impl<S> Driver<S> {
    /// The sink, with the input released (its mapping or inflate buffers), so that what the
    /// sink builds next does not sit on top of them.
    pub fn into_sink(self) -> S {
        self.sink
    }
}

impl<S: FrameSink> Driver<S> {
    /// Starts reading `input` into `sink`.
    pub fn new(input: Input, sink: S) -> Driver<S> {
        let stored_len = input.stored_len();
        let data = match input {
            Input::Memory(bytes) => Data::Memory { bytes, pos: 0 },
            Input::File { file, len } => Data::Stream {
                chunks: Chunks::file(file, len),
                chunk: Vec::new(),
                pos: 0,
                chunk_base: 0,
                carry: Vec::new(),
            },
            Input::Gzip { reader, .. } => Data::Stream {
                chunks: Chunks::gzip(reader),
                chunk: Vec::new(),
                pos: 0,
                chunk_base: 0,
                carry: Vec::new(),
            },
        };
        Driver {
            data,
            stored_len,
            sink,
            done: false,
        }
    }

    /// True once the input is exhausted (or failed).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// `(stored bytes read, stored size)`: compressed figures for gzip, for progress bars.
    pub fn progress(&self) -> (u64, Option<u64>) {
        let read = match &self.data {
            Data::Memory { pos, .. } => *pos as u64,
            Data::Stream { chunks, .. } => chunks.stored_read(),
        };
        (read, self.stored_len)
    }

    /// Feeds about `budget` bytes (or until the sink has output). At the end of the input,
    /// settles the tail and checks that the stream held ITCH at all.
    pub fn step(&mut self, budget: usize) -> Result<()> {
        if self.done {
            return Ok(());
        }
        let result = self.step_inner(budget.max(1 << 20));
        if let Err(e) = result {
            self.done = true;
            return self.sink.checks_mut().not_itch(Some(e));
        }
        if self.done {
            self.sink.checks_mut().not_itch(None)?;
        }
        Ok(())
    }

    fn step_inner(&mut self, budget: usize) -> Result<()> {
        match &mut self.data {
            Data::Memory { bytes, pos } => {
                let all = (**bytes).as_ref();
                let end = all.len().min(*pos + budget);
                let used = feed(&mut self.sink, &all[*pos..end], *pos as u64)?;
                *pos += used;
                if end == all.len() && !self.sink.has_output() {
                    let allow = self.sink.policy().allow_truncated;
                    self.sink
                        .checks_mut()
                        .finish(*pos as u64, &all[*pos..], allow)?;
                    self.done = true;
                }
                Ok(())
            }
            Data::Stream {
                chunks,
                chunk,
                pos,
                chunk_base,
                carry,
            } => {
                let mut fed = 0;
                while fed < budget && !self.sink.has_output() {
                    if *pos == chunk.len() {
                        let allow = self.sink.policy().allow_truncated;
                        let next = match chunks.next_chunk() {
                            Ok(next) => next,
                            // A damaged gzip stream, tolerated: what inflated before the
                            // damage is the input, and where it stopped is recorded.
                            Err(Error::Gzip {
                                compressed_offset, ..
                            }) if allow => {
                                self.sink.checks_mut().gzip_cut_at = Some(compressed_offset);
                                None
                            }
                            Err(e) => return Err(e),
                        };
                        let Some(next) = next else {
                            let at = *chunk_base + *pos as u64 - carry.len() as u64;
                            self.sink.checks_mut().finish(at, carry, allow)?;
                            self.done = true;
                            return Ok(());
                        };
                        *chunk_base += chunk.len() as u64;
                        chunks.recycle(std::mem::replace(chunk, next));
                        *pos = 0;
                    }
                    if !carry.is_empty() {
                        // Complete the frame cut by the previous chunk's end: first its length
                        // prefix, then its body.
                        let carry_base = *chunk_base - carry.len() as u64;
                        while *pos < chunk.len() && carry.len() < frame_needs(carry) {
                            let take = (frame_needs(carry) - carry.len()).min(chunk.len() - *pos);
                            carry.extend_from_slice(&chunk[*pos..*pos + take]);
                            *pos += take;
                        }
                        if carry.len() < frame_needs(carry) {
                            continue;
                        }
                        let used = feed(&mut self.sink, carry, carry_base)?;
                        debug_assert_eq!(used, carry.len());
                        carry.clear();
                        continue;
                    }
                    let base = *chunk_base + *pos as u64;
                    let used = feed(&mut self.sink, &chunk[*pos..], base)?;
                    *pos += used;
                    fed += used;
                    if !self.sink.has_output() && *pos < chunk.len() {
                        carry.extend_from_slice(&chunk[*pos..]);
                        *pos = chunk.len();
                    }
                }
                Ok(())
            }
        }
    }
}

impl<S> std::fmt::Debug for Driver<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("stored_len", &self.stored_len)
            .field("done", &self.done)
            .finish()
    }
}

/// A frame sink that produces output batches.
pub trait BatchSink: FrameSink {
    /// One unit of output.
    type Item;
    /// Finishes the batches that are full (and, with `all`, every partial one).
    fn take(&mut self, all: bool) -> Vec<Self::Item>;
}

impl BatchSink for Decoder {
    type Item = (MessageKind, RecordBatch);
    fn take(&mut self, all: bool) -> Vec<(MessageKind, RecordBatch)> {
        self.take_batches(all)
    }
}

impl BatchSink for EventSink {
    type Item = RecordBatch;
    fn take(&mut self, all: bool) -> Vec<RecordBatch> {
        if self.has_output() || (all && !self.is_empty()) {
            vec![self.take_batch()]
        } else {
            Vec::new()
        }
    }
}

/// Lazy batches from a whole input: decodes a bounded step at a time and queues the batches
/// that fill up (the partial ones too, at the end).
#[derive(Debug)]
pub struct BatchReader<S: BatchSink> {
    driver: Driver<S>,
    ready: VecDeque<S::Item>,
    flushed: bool,
}

/// `(message type, batch)` pairs over an ITCH stream.
pub type ItchReader = BatchReader<Decoder>;

/// The order-event stream (`A F E C X D U` as one table).
pub type OrderEventReader = BatchReader<EventSink>;

impl<S: BatchSink> BatchReader<S> {
    /// Prepares to feed `input` into `sink`; nothing is decoded yet.
    pub fn with_sink(input: Input, sink: S) -> BatchReader<S> {
        BatchReader {
            driver: Driver::new(input, sink),
            ready: VecDeque::new(),
            flushed: false,
        }
    }

    /// Decodes about `budget` bytes, queueing finished batches. Returns false once everything
    /// has been decoded and queued (or after an error, which is returned once).
    pub fn step(&mut self, budget: usize) -> Result<bool> {
        if self.flushed {
            return Ok(false);
        }
        if let Err(e) = self.driver.step(budget) {
            self.flushed = true;
            return Err(e);
        }
        let done = self.driver.is_done();
        if self.driver.sink.has_output() || done {
            self.ready.extend(self.driver.sink.take(done));
        }
        self.flushed = done;
        Ok(!done)
    }

    /// A finished batch, if one is queued.
    pub fn pop(&mut self) -> Option<S::Item> {
        self.ready.pop_front()
    }

    /// The next batch, decoding as much as needed.
    pub fn next_batch(&mut self) -> Result<Option<S::Item>> {
        loop {
            if let Some(b) = self.pop() {
                return Ok(Some(b));
            }
            if !self.step(DEFAULT_STEP)? {
                return Ok(self.pop());
            }
        }
    }

    /// Steps to the end and returns every queued batch.
    fn drain(&mut self) -> Result<Vec<S::Item>> {
        while self.step(DEFAULT_STEP)? {}
        Ok(self.ready.drain(..).collect())
    }

    /// Framing counters so far.
    pub fn checks(&self) -> &FrameChecks {
        FrameSink::checks(&self.driver.sink)
    }

    /// Progress in stored bytes (compressed for gzip).
    pub fn progress(&self) -> (u64, Option<u64>) {
        self.driver.progress()
    }

    /// The sink.
    pub fn sink(&mut self) -> &mut S {
        &mut self.driver.sink
    }
}

impl BatchReader<Decoder> {
    /// Prepares to read `input` into per-type tables.
    pub fn new(input: Input, opts: DecodeOptions) -> Result<ItchReader> {
        Ok(BatchReader::with_sink(input, Decoder::new(opts)?))
    }

    /// Everything, grouped by type (every selected type, empty ones included), with one
    /// shared symbol dictionary across all batches.
    pub fn read_all(mut self) -> Result<Vec<(MessageKind, Vec<RecordBatch>)>> {
        let batches = self.drain()?;
        let selected = self.driver.sink.options().messages;
        let mut grouped: Vec<(MessageKind, Vec<RecordBatch>)> =
            selected.iter().map(|k| (k, Vec::new())).collect();
        let dictionary = self.driver.sink.symbols().dictionary();
        for (kind, batch) in batches {
            let batch = with_dictionary(batch, &dictionary)?;
            if let Some((_, list)) = grouped.iter_mut().find(|(k, _)| *k == kind) {
                list.push(batch);
            }
        }
        Ok(grouped)
    }

    /// Symbols so far.
    pub fn symbols(&mut self) -> &mut Symbols {
        self.driver.sink.symbols()
    }

    /// Options in force.
    pub fn options(&self) -> &DecodeOptions {
        self.driver.sink.options()
    }
}

impl BatchReader<EventSink> {
    /// Prepares to read `input` as order events.
    pub fn new(input: Input, opts: DecodeOptions) -> Result<OrderEventReader> {
        if opts.batch_size == 0 {
            return Err(Error::InvalidArgument(
                "batch_size must be at least 1".into(),
            ));
        }
        Ok(BatchReader::with_sink(input, EventSink::new(opts)))
    }

    /// Every batch, sharing one symbol dictionary.
    pub fn read_all(mut self) -> Result<Vec<RecordBatch>> {
        let batches = self.drain()?;
        let dictionary = self.driver.sink.symbols_dictionary();
        batches
            .into_iter()
            .map(|b| with_dictionary(b, &dictionary))
            .collect()
    }

    /// Schema of every batch.
    pub fn schema(&self) -> SchemaRef {
        self.driver.sink.schema()
    }
}

impl Iterator for BatchReader<EventSink> {
    type Item = std::result::Result<RecordBatch, ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch()
            .map_err(|e| ArrowError::ExternalError(Box::new(e)))
            .transpose()
    }
}

impl RecordBatchReader for BatchReader<EventSink> {
    fn schema(&self) -> SchemaRef {
        self.driver.sink.schema()
    }
}

/// Replaces the dictionary of a batch's `stock` column with `dictionary`, of which the old
/// one is a prefix (keys are append-only), so every batch of a table shares one dictionary.
pub fn with_dictionary(batch: RecordBatch, dictionary: &ArrayRef) -> Result<RecordBatch> {
    let Some(idx) = batch.schema().index_of("stock").ok() else {
        return Ok(batch);
    };
    let Some(old) = batch
        .column(idx)
        .as_any()
        .downcast_ref::<DictionaryArray<UInt16Type>>()
    else {
        return Ok(batch);
    };
    if Arc::ptr_eq(old.values(), dictionary) {
        return Ok(batch);
    }
    let rebased = DictionaryArray::<UInt16Type>::try_new(old.keys().clone(), dictionary.clone())
        .map_err(|e| Error::InvalidArgument(format!("symbol dictionary: {e}")))?;
    let mut columns = batch.columns().to_vec();
    columns[idx] = Arc::new(rebased);
    RecordBatch::try_new(batch.schema(), columns)
        .map_err(|e| Error::InvalidArgument(format!("symbol dictionary: {e}")))
}

/// Runs a sink over a whole input (no output besides the sink's own state).
pub fn drive<S: FrameSink>(input: Input, sink: S) -> Result<S> {
    let mut driver = Driver::new(input, sink);
    while !driver.is_done() {
        driver.step(DEFAULT_STEP)?;
    }
    Ok(driver.sink)
}

/// Messages per type (framing walk only).
pub fn count(input: Input, policy: FramePolicy) -> Result<FrameChecks> {
    Ok(drive(input, CountSink::new(policy))?.checks().clone())
}
