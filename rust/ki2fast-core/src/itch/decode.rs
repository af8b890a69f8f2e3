//! Decoding frames into per-type Arrow column sets. One pass, one `match` on the type byte
//! (in `spec::dispatch`), straight-line field loads, and one `push` per column; filters are
//! a bit test per message. A column set that reaches the batch size is finished into a
//! `RecordBatch` by the reader; the decoder just says so and stops.

use arrow_array::{RecordBatch, RecordBatchOptions};

use crate::arrow::builders::FinishOptions;
use crate::arrow::schema::{PriceRepr, message_schema};
use crate::error::{Error, Result};
use crate::itch::framing::{FrameChecks, FramePolicy, FrameSink};
use crate::itch::spec::{AllColumns, MessageColumns, MessageDef, MessageKind, MessageSet, Visitor};
use crate::itch::symbols::Symbols;

/// Rows per record batch unless the caller says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 65_536;

/// What to decode and how to shape it.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    /// Message types to keep (all by default).
    pub messages: MessageSet,
    /// Symbols to keep (all when `None`); market-wide messages always pass.
    pub symbols: Option<Vec<String>>,
    /// Integer or float prices.
    pub prices: PriceRepr,
    /// UTC ns of the session's midnight; adds the zoned `ts` column.
    pub midnight_utc_ns: Option<i64>,
    /// Rows per record batch.
    pub batch_size: usize,
    /// Start batches small and double them per type up to `batch_size` (for reading a whole
    /// stream at once); otherwise every batch but a type's last has `batch_size` rows.
    pub grow_batches: bool,
    /// Strictness of the framing layer.
    pub policy: FramePolicy,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            messages: MessageSet::ALL,
            symbols: None,
            prices: PriceRepr::Int,
            midnight_utc_ns: None,
            batch_size: DEFAULT_BATCH_SIZE,
            grow_batches: false,
            policy: FramePolicy::default(),
        }
    }
}

impl DecodeOptions {
    /// Shapes of finished arrays.
    pub fn finish_options(&self) -> FinishOptions {
        FinishOptions {
            prices: self.prices,
            midnight_utc_ns: self.midnight_utc_ns,
        }
    }
}

/// Frame-by-frame decoder into column sets.
#[derive(Debug)]
pub struct Decoder {
    opts: DecodeOptions,
    columns: AllColumns,
    symbols: Symbols,
    checks: FrameChecks,
    full: u32,
}

impl Visitor for Decoder {
    type Output = ();

    #[inline(always)]
    fn visit<M: MessageDef>(&mut self, m: M) {
        let key = self.symbols.key_of(&m);
        let Some(columns) = M::slot(&mut self.columns) else {
            return;
        };
        if self.symbols.filtering() && !self.symbols.allows(key, m.header().stock_locate) {
            return;
        }
        columns.push(&m, key);
        if columns.len() >= columns.capacity() {
            self.full |= 1 << M::KIND.index();
        }
    }
}

impl Decoder {
    /// A decoder with empty column sets for the selected types.
    pub fn new(opts: DecodeOptions) -> Result<Decoder> {
        if opts.batch_size == 0 {
            return Err(Error::InvalidArgument(
                "batch_size must be at least 1".into(),
            ));
        }
        Ok(Decoder {
            columns: AllColumns::new(&opts.messages, opts.batch_size, opts.grow_batches),
            symbols: Symbols::new(opts.symbols.as_deref()),
            checks: FrameChecks::default(),
            full: 0,
            opts,
        })
    }

    /// True when some column set has reached the batch size.
    pub fn has_full(&self) -> bool {
        self.full != 0
    }

    /// Finishes the full column sets (all non-empty ones when `all`) into record batches.
    pub fn take_batches(&mut self, all: bool) -> Vec<(MessageKind, RecordBatch)> {
        let mut out = Vec::new();
        let symbols = self.symbols.dictionary();
        let finish = self.opts.finish_options();
        for kind in MessageKind::ALL {
            let full = self.full & (1 << kind.index()) != 0;
            if !(full || all && self.columns.len_of(kind) > 0) {
                continue;
            }
            let rows = self.columns.len_of(kind);
            if let Some(arrays) = self.columns.take(kind, &finish, &symbols) {
                let schema =
                    message_schema(kind, self.opts.prices, self.opts.midnight_utc_ns.is_some());
                let batch = RecordBatch::try_new_with_options(
                    schema,
                    arrays,
                    &RecordBatchOptions::new().with_row_count(Some(rows)),
                )
                .expect("column sets finish in the order of the schema they are generated with");
                out.push((kind, batch));
            }
        }
        self.full = 0;
        out
    }

    /// The symbol table so far.
    pub fn symbols(&mut self) -> &mut Symbols {
        &mut self.symbols
    }

    /// The options in force.
    pub fn options(&self) -> &DecodeOptions {
        &self.opts
    }
}

impl FrameSink for Decoder {
    fn checks(&self) -> &FrameChecks {
        &self.checks
    }
    fn checks_mut(&mut self) -> &mut FrameChecks {
        &mut self.checks
    }
    fn policy(&self) -> FramePolicy {
        self.opts.policy
    }
    #[inline(always)]
    fn has_output(&self) -> bool {
        self.full != 0
    }
}
