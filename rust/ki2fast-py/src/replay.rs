//! The fused replay and the order books, exported to Python. The replay steps with the GIL
//! released (Ctrl-C is checked between steps); tables leave as Arrow objects.

use std::path::PathBuf;
use std::sync::Mutex;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use ki2fast_core::arrow::reader::{DEFAULT_STEP, Driver};
use ki2fast_core::arrow::schema::PriceRepr;
use ki2fast_core::book::tables::{Event, SymbolBooks, depth_table, orders_table};
use ki2fast_core::replay::{ParallelReplay, ReplayOptions, ReplayOutput};
use ki2fast_core::source::Input;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pyo3_arrow::PyTable;

use crate::convert::{self, Source, to_py};
use crate::itch::{checks_dict, lock};

fn table(batch: RecordBatch) -> PyResult<PyTable> {
    let schema = batch.schema();
    PyTable::try_new(vec![batch], schema)
}

/// Where a replay's bytes can be read again from the start.
#[derive(Debug)]
enum Again {
    /// Memory or a raw file: a second handle on the same bytes.
    Input(Input),
    /// A gzip file: opened again (its stream is read once).
    Path(PathBuf),
}

impl Again {
    fn input(self) -> ki2fast_core::Result<Input> {
        match self {
            Again::Input(input) => Ok(input),
            Again::Path(path) => Input::open(&path),
        }
    }
}

/// A replay in progress, with what it takes to start it again serially: the input and the
/// options. Only a parallel replay keeps them.
#[derive(Debug)]
struct Run {
    driver: Driver<ParallelReplay>,
    again: Option<(Again, ReplayOptions)>,
    /// Times it started again from the beginning (a streaming reader discards what it
    /// was handed before).
    restarts: u32,
}

impl Run {
    /// One step; a parallel replay whose shards saw signs of going apart from one replay
    /// starts again from the beginning in one thread.
    fn step(&mut self) -> ki2fast_core::Result<()> {
        self.driver.step(DEFAULT_STEP)?;
        if self.driver.sink.may_straddle() {
            *self = Run::serial(self.again.take(), self.restarts)?;
        }
        Ok(())
    }

    /// The replay from the beginning in one thread; an error when it cannot start again (it
    /// ran in one thread already, or its input cannot be read twice).
    fn serial(again: Option<(Again, ReplayOptions)>, restarts: u32) -> ki2fast_core::Result<Run> {
        let (again, opts) = again.ok_or_else(|| {
            ki2fast_core::Error::InvalidArgument("this replay cannot start again".into())
        })?;
        Ok(Run {
            driver: Driver::new(again.input()?, ParallelReplay::new(opts, 1)),
            again: None,
            restarts: restarts + 1,
        })
    }

    fn finish(
        mut self,
        midnight: Option<i64>,
        prices: PriceRepr,
    ) -> ki2fast_core::Result<(ReplayOutput, u32)> {
        loop {
            while !self.driver.is_done() {
                self.step()?;
            }
            let Run {
                driver,
                again,
                restarts,
            } = self;
            if let Some(out) = driver.into_sink().finish(midnight, prices)? {
                return Ok((out, restarts));
            }
            // The shards' books clashed when merged: one thread, from the start.
            self = Run::serial(again, restarts)?;
        }
    }
}

/// A replay that can be stepped (for progress bars) and then finished.
#[pyclass(module = "ki2fast._core", name = "ReplayRun")]
#[derive(Debug)]
pub struct ReplayRun {
    driver: Mutex<Option<Run>>,
    path: Option<PathBuf>,
    midnight: Option<i64>,
    prices: PriceRepr,
}

#[pymethods]
impl ReplayRun {
    #[new]
    #[pyo3(signature = (src, *, symbols=None, date=None, prices="float", trades=true, bar_every_ns=Some(60_000_000_000), clock_hours=false, bbo=false, snapshot_every_ns=None, depth=5, allow_truncated=false, errors="raise", threads=1, activity_every_ns=None, sliding=None, activity_crosses=false, spill_dir=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        src: &Bound<'_, PyAny>,
        symbols: Option<Vec<String>>,
        date: Option<&str>,
        prices: &str,
        trades: bool,
        bar_every_ns: Option<u64>,
        clock_hours: bool,
        bbo: bool,
        snapshot_every_ns: Option<u64>,
        depth: usize,
        allow_truncated: bool,
        errors: &str,
        threads: usize,
        activity_every_ns: Option<u64>,
        sliding: Option<(u64, usize, u64)>,
        activity_crosses: bool,
        spill_dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        if bar_every_ns == Some(0) || snapshot_every_ns == Some(0) || activity_every_ns == Some(0) {
            return Err(PyValueError::new_err("intervals must be positive"));
        }
        if depth == 0 || depth > 100 {
            return Err(PyValueError::new_err("depth must be between 1 and 100"));
        }
        let prices = convert::prices(prices)?;
        let policy = convert::policy(allow_truncated, errors)?;
        let Source { input, path } = convert::source(src)?;
        let midnight = convert::midnight(date, path.as_ref())?;
        let opts = ReplayOptions {
            symbols,
            policy,
            trades,
            bar_ns: bar_every_ns,
            clock_hours,
            bbo,
            snapshot_ns: snapshot_every_ns,
            depth,
            activity_ns: activity_every_ns,
            sliding: crate::monitor::sliding_params(sliding)?,
            activity_crosses,
            spill_dir,
            ..ReplayOptions::default()
        };
        // A gzip stream is read once: a gzip file can start again by opening it anew; gzip
        // bytes in memory replay in one thread.
        let again = match input.try_clone() {
            Some(i) => Some(Again::Input(i)),
            None => path.clone().map(Again::Path),
        };
        let again = again.map(|a| (a, opts.clone()));
        let threads = if again.is_some() { threads } else { 1 };
        let sink = ParallelReplay::new(opts, threads);
        let again = again.filter(|_| sink.threads() > 1);
        Ok(ReplayRun {
            driver: Mutex::new(Some(Run {
                driver: Driver::new(input, sink),
                again,
                restarts: 0,
            })),
            path,
            midnight,
            prices,
        })
    }

    /// Replays about 16 MiB with the GIL released; False once the input is exhausted.
    fn step(&self, py: Python<'_>) -> PyResult<bool> {
        let mut guard = lock(&self.driver)?;
        let Some(run) = guard.as_mut() else {
            return Ok(false);
        };
        py.detach(|| run.step())
            .map_err(|e| to_py(e, self.path.as_ref()))?;
        py.check_signals()?;
        Ok(!run.driver.is_done())
    }

    /// Streaming (a replay made with `spill_dir`): the rows that became final since the last
    /// call, as `{table: Arrow table or None}`.
    fn drain<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut guard = lock(&self.driver)?;
        let Some(run) = guard.as_mut() else {
            return Err(PyValueError::new_err("the replay was already finished"));
        };
        if !run.driver.sink.streaming() {
            return Err(PyValueError::new_err(
                "only a streaming replay (spill_dir=...) drains",
            ));
        }
        let (midnight, prices) = (self.midnight, self.prices);
        let out = py
            .detach(|| run.driver.sink.drain(midnight, prices))
            .map_err(|e| to_py(e, self.path.as_ref()))?;
        let d = PyDict::new(py);
        put_tables(
            &d,
            [
                ("bars", out.bars),
                ("trades", out.trades),
                ("bbo", out.bbo),
                ("snapshots", out.snapshots),
                ("activity", out.activity),
                ("activity_late", out.activity_late),
                ("episodes", out.episodes),
            ],
        )?;
        Ok(d)
    }

    /// Times the replay started again from the beginning (in one thread, when its shards
    /// went apart): a streaming reader discards the rows it was handed before.
    #[getter]
    fn restarts(&self) -> PyResult<u32> {
        Ok(lock(&self.driver)?.as_ref().map_or(0, |r| r.restarts))
    }

    /// `(stored bytes read, stored size or None)`.
    #[getter]
    fn progress(&self) -> PyResult<(u64, Option<u64>)> {
        let guard = lock(&self.driver)?;
        Ok(guard.as_ref().map_or((0, None), |r| r.driver.progress()))
    }

    /// Runs to the end (if not there yet) and returns every output.
    fn finish<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        while self.step(py)? {}
        let run = lock(&self.driver)?
            .take()
            .ok_or_else(|| PyValueError::new_err("the replay was already finished"))?;
        let (midnight, prices) = (self.midnight, self.prices);
        let (out, restarts) = py
            .detach(|| run.finish(midnight, prices))
            .map_err(|e| to_py(e, self.path.as_ref()))?;
        let d = output_dict(py, out, prices)?;
        d.set_item("restarts", restarts)?;
        Ok(d)
    }
}

/// `d[name]` = each batch as a table, or None.
fn put_tables<const N: usize>(
    d: &Bound<'_, PyDict>,
    tables: [(&str, Option<RecordBatch>); N],
) -> PyResult<()> {
    for (name, batch) in tables {
        match batch {
            Some(b) => d.set_item(name, table(b)?)?,
            None => d.set_item(name, d.py().None())?,
        }
    }
    Ok(())
}

fn output_dict<'py>(
    py: Python<'py>,
    out: ReplayOutput,
    prices: PriceRepr,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("breaks", out.breaks)?;
    d.set_item("bar_redo", out.bar_redo)?;
    d.set_item("hourly_vwap", table(out.hourly_vwap)?)?;
    put_tables(
        &d,
        [
            ("trades", out.trades),
            ("bars", out.bars),
            ("bar_fixes", out.bar_fixes),
            ("bbo", out.bbo),
            ("snapshots", out.snapshots),
            ("activity", out.activity),
            ("activity_late", out.activity_late),
            ("episodes", out.episodes),
        ],
    )?;
    let stats = PyDict::new(py);
    for (k, v) in out.book_checks.items() {
        stats.set_item(k, v)?;
    }
    d.set_item("stats", stats)?;
    d.set_item("checks", checks_dict(py, &out.checks)?)?;
    let examples = PyList::empty(py);
    for e in &out.examples {
        let row = PyDict::new(py);
        row.set_item("counter", e.counter)?;
        row.set_item("timestamp", e.timestamp)?;
        row.set_item("stock_locate", e.locate)?;
        row.set_item("reference", e.reference)?;
        examples.append(row)?;
    }
    d.set_item("examples", examples)?;
    let names: Vec<String> = (0..out.books.book_count().max(1))
        .map(|l| {
            u16::try_from(l)
                .ok()
                .and_then(|l| out.symbols.symbol_of_locate(l))
                .map_or_else(|| format!("#{l}"), str::to_string)
        })
        .collect();
    let book = OrderBook {
        inner: Mutex::new(SymbolBooks::from_books(out.books, names)),
        prices,
    };
    d.set_item("book", Py::new(py, book)?)?;
    Ok(d)
}

/// Full-depth order books keyed by symbol.
#[pyclass(module = "ki2fast._core", name = "OrderBook")]
#[derive(Debug)]
pub struct OrderBook {
    inner: Mutex<SymbolBooks>,
    prices: PriceRepr,
}

fn column<'a>(batch: &'a RecordBatch, name: &str) -> PyResult<&'a dyn Array> {
    batch
        .column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| PyValueError::new_err(format!("order events need a {name:?} column")))
}

fn typed<'a, T>(
    batch: &'a RecordBatch,
    name: &str,
    cast: impl Fn(&'a dyn Array) -> Option<T>,
    ty: &str,
) -> PyResult<T> {
    let c = column(batch, name)?;
    cast(c).ok_or_else(|| {
        PyValueError::new_err(format!(
            "order event column {name:?} must be {ty}, not {}",
            c.data_type()
        ))
    })
}

fn apply_batch(books: &mut SymbolBooks, batch: &RecordBatch) -> PyResult<()> {
    let text = |name| typed(batch, name, |a| a.as_string_opt::<i32>(), "utf8");
    let (event, stock, side) = (text("event")?, text("stock")?, text("side")?);
    let u64s = |name| {
        typed(
            batch,
            name,
            |a| a.as_primitive_opt::<UInt64Type>(),
            "uint64",
        )
    };
    let (reference, new_reference) = (
        u64s("order_reference_number")?,
        u64s("new_order_reference_number")?,
    );
    let u32s = |name| {
        typed(
            batch,
            name,
            |a| a.as_primitive_opt::<UInt32Type>(),
            "uint32",
        )
    };
    let (shares, price) = (u32s("shares")?, u32s("price")?);
    let timestamp = typed(
        batch,
        "timestamp",
        |a| a.as_primitive_opt::<Int64Type>(),
        "int64",
    )?;
    let bad =
        |row: usize, what: &str| PyValueError::new_err(format!("order event row {row}: {what}"));
    for row in 0..batch.num_rows() {
        if event.is_null(row) || reference.is_null(row) {
            return Err(bad(
                row,
                "event and order_reference_number must not be null",
            ));
        }
        let r = reference.value(row);
        let ts = u64::try_from(timestamp.value(row)).unwrap_or(0);
        let need = |a: &dyn Array, name: &str| -> PyResult<()> {
            if a.is_null(row) {
                Err(bad(row, &format!("{name} is null")))
            } else {
                Ok(())
            }
        };
        let e = match event.value(row) {
            "add" => {
                need(stock, "stock")?;
                need(side, "side")?;
                need(shares, "shares")?;
                need(price, "price")?;
                Event::Add {
                    stock: stock.value(row),
                    reference: r,
                    // One byte, as in ITCH; anything but B or S is counted as bad_side.
                    side: match side.value(row).as_bytes() {
                        [b] => *b,
                        _ => 0,
                    },
                    shares: shares.value(row),
                    price: price.value(row),
                    timestamp: ts,
                }
            }
            kind @ ("execute" | "execute_price" | "cancel") => {
                need(shares, "shares")?;
                Event::Reduce {
                    reference: r,
                    shares: shares.value(row),
                    execution: kind != "cancel",
                }
            }
            "delete" => Event::Delete { reference: r },
            "replace" => {
                need(new_reference, "new_order_reference_number")?;
                need(shares, "shares")?;
                need(price, "price")?;
                Event::Replace {
                    reference: r,
                    new_reference: new_reference.value(row),
                    shares: shares.value(row),
                    price: price.value(row),
                    timestamp: ts,
                }
            }
            other => return Err(bad(row, &format!("unknown event {other:?}"))),
        };
        books.apply(e);
    }
    Ok(())
}

impl OrderBook {
    fn book_id(books: &SymbolBooks, symbol: &str) -> PyResult<u32> {
        books
            .id(symbol)
            .ok_or_else(|| PyKeyError::new_err(symbol.to_string()))
    }
}

#[pymethods]
impl OrderBook {
    #[new]
    #[pyo3(signature = (*, prices="float"))]
    fn new(prices: &str) -> PyResult<Self> {
        Ok(OrderBook {
            inner: Mutex::new(SymbolBooks::new()),
            prices: convert::prices(prices)?,
        })
    }

    /// Applies order events already normalised by the Python shell (utf8 `event`, `stock`,
    /// `side`; u64 references; u32 shares and price ticks; i64 `timestamp`).
    fn apply(&self, py: Python<'_>, events: PyTable) -> PyResult<()> {
        let (batches, _) = events.into_inner();
        let mut books = lock(&self.inner)?;
        let books: &mut SymbolBooks = &mut books;
        py.detach(|| batches.iter().try_for_each(|b| apply_batch(books, b)))
    }

    /// Best bid and offer of a symbol.
    fn bbo<'py>(&self, py: Python<'py>, symbol: &str) -> PyResult<Bound<'py, PyDict>> {
        let books = lock(&self.inner)?;
        let top = books.books.top(Self::book_id(&books, symbol)?);
        let d = PyDict::new(py);
        for (name, level) in [("bid", top.bid), ("ask", top.ask)] {
            match level {
                Some(l) => {
                    match self.prices {
                        PriceRepr::Int => d.set_item(name, l.price)?,
                        PriceRepr::Float => d.set_item(name, f64::from(l.price) / 10_000.0)?,
                    }
                    d.set_item(format!("{name}_size"), l.shares)?;
                    d.set_item(format!("{name}_orders"), l.orders)?;
                }
                None => {
                    d.set_item(name, py.None())?;
                    d.set_item(format!("{name}_size"), 0)?;
                    d.set_item(format!("{name}_orders"), 0)?;
                }
            }
        }
        Ok(d)
    }

    /// Top `levels` levels of each side: `side, level, price, shares, orders`.
    #[pyo3(signature = (symbol, levels=10))]
    fn depth(&self, symbol: &str, levels: usize) -> PyResult<PyTable> {
        let books = lock(&self.inner)?;
        table(depth_table(
            &books.books,
            Self::book_id(&books, symbol)?,
            levels,
            self.prices,
        ))
    }

    /// Every live order of a symbol in priority order.
    fn orders(&self, symbol: &str) -> PyResult<PyTable> {
        let books = lock(&self.inner)?;
        table(orders_table(
            &books.books,
            Self::book_id(&books, symbol)?,
            self.prices,
        ))
    }

    /// Symbols with live orders.
    fn symbols(&self) -> PyResult<Vec<String>> {
        Ok(lock(&self.inner)?.symbols())
    }

    /// Live orders in all books.
    #[getter]
    fn live_orders(&self) -> PyResult<usize> {
        Ok(lock(&self.inner)?.books.live_orders())
    }

    /// Counters of applied events.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = lock(&self.inner)?.stats.clone();
        let d = PyDict::new(py);
        d.set_item("events", s.events)?;
        d.set_item("unknown_ref", s.unknown_ref)?;
        d.set_item("duplicate_add_ref", s.duplicate_add_ref)?;
        d.set_item("over_execution", s.over_execution)?;
        d.set_item("over_cancel", s.over_cancel)?;
        d.set_item("bad_side", s.bad_side)?;
        Ok(d)
    }
}
