//! Arguments in, errors out: Python sources become core `Input`s (paths are opened, buffers
//! are borrowed without copying), option strings become core options, and core errors
//! become the `ki2fast.exceptions` classes (or the builtin I/O errors).

use std::path::PathBuf;
use std::sync::Arc;

use ki2fast_core::Error;
use ki2fast_core::arrow::schema::PriceRepr;
use ki2fast_core::itch::decode::DecodeOptions;
use ki2fast_core::itch::framing::FramePolicy;
use ki2fast_core::itch::spec::{MessageKind, MessageSet};
use ki2fast_core::session;
use ki2fast_core::source::{Input, is_gzip};
use pyo3::buffer::PyUntypedBuffer;
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

/// A Python buffer held for as long as the core reads it. Holding the export pins the
/// memory (a `bytearray` cannot be resized while exported).
struct Borrowed(PyUntypedBuffer);

impl AsRef<[u8]> for Borrowed {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: the buffer is C-contiguous (checked on creation) and stays exported, hence
        // valid and unmoved, until `self` is dropped; `len_bytes` is its size in bytes.
        unsafe { std::slice::from_raw_parts(self.0.buf_ptr() as *const u8, self.0.len_bytes()) }
    }
}

/// A source argument resolved: the input and, for files, the path (for messages and dates).
pub struct Source {
    pub input: Input,
    pub path: Option<PathBuf>,
}

/// Resolves `src`: a path (`str` or `os.PathLike`) or any object with the buffer protocol.
pub fn source(src: &Bound<'_, PyAny>) -> PyResult<Source> {
    if src.is_instance_of::<PyString>() || src.hasattr("__fspath__")? {
        let path: PathBuf = src.extract()?;
        let input = Input::open(&path).map_err(|e| to_py(e, Some(&path)))?;
        return Ok(Source {
            input,
            path: Some(path),
        });
    }
    let Ok(buffer) = PyUntypedBuffer::get(src) else {
        return Err(PyTypeError::new_err(format!(
            "src must be a path or a bytes-like object, not {}",
            src.get_type().name()?
        )));
    };
    if !buffer.is_c_contiguous() {
        return Err(PyValueError::new_err("src buffer must be C-contiguous"));
    }
    let owner = Borrowed(buffer);
    let input = if is_gzip(owner.as_ref()) {
        // Compressed bytes are inflated on a background thread, which must not own a Python
        // object: copy them (they are the small side of the data).
        Input::from_vec(owner.as_ref().to_vec())
    } else {
        Input::from_shared(Arc::new(owner))
    };
    Ok(Source { input, path: None })
}

/// Core error → Python exception, naming the file when there is one.
pub fn to_py(err: Error, path: Option<&PathBuf>) -> PyErr {
    Python::attach(|py| {
        let where_ = path
            .map(|p| format!("{}: ", p.display()))
            .unwrap_or_default();
        match err {
            Error::Io(e) => {
                let e = match path {
                    Some(p) => std::io::Error::new(e.kind(), format!("{}: {e}", p.display())),
                    None => e,
                };
                PyErr::from(e)
            }
            Error::InvalidArgument(msg) => PyValueError::new_err(msg),
            other => {
                let offset = other.offset();
                let message = format!("{where_}{other}");
                let make = || -> PyResult<PyErr> {
                    let cls = py
                        .import("ki2fast.exceptions")?
                        .getattr("ItchDecodeError")?;
                    let kwargs = PyDict::new(py);
                    kwargs.set_item("path", path.map(|p| p.display().to_string()))?;
                    kwargs.set_item("offset", offset)?;
                    let exc = cls.call((message.clone(),), Some(&kwargs))?;
                    Ok(PyErr::from_value(exc))
                };
                make().unwrap_or_else(|_| PyOSError::new_err(message))
            }
        }
    })
}

/// `"int"` / `"float"`.
pub fn prices(text: &str) -> PyResult<PriceRepr> {
    PriceRepr::parse(text).ok_or_else(|| {
        PyValueError::new_err(format!("prices must be 'int' or 'float', not {text:?}"))
    })
}

/// Message names or codes → set (all when `None`).
pub fn messages(names: Option<Vec<String>>) -> PyResult<MessageSet> {
    let Some(names) = names else {
        return Ok(MessageSet::ALL);
    };
    names
        .iter()
        .map(|n| {
            MessageKind::parse(n).ok_or_else(|| {
                PyValueError::new_err(format!(
                    "unknown ITCH message {n:?}: use a snake_case name (e.g. 'add_order') or a one-letter code (e.g. 'A')"
                ))
            })
        })
        .collect()
}

/// `"raise"` / `"skip"` for known types with a wrong length.
pub fn policy(allow_truncated: bool, errors: &str) -> PyResult<FramePolicy> {
    let skip_length_mismatch = match errors {
        "raise" => false,
        "skip" => true,
        other => {
            return Err(PyValueError::new_err(format!(
                "errors must be 'raise' or 'skip', not {other:?}"
            )));
        }
    };
    Ok(FramePolicy {
        allow_truncated,
        skip_length_mismatch,
    })
}

/// The session midnight: from `date` (YYYY-MM-DD) if given, else from the file name.
pub fn midnight(date: Option<&str>, path: Option<&PathBuf>) -> PyResult<Option<i64>> {
    let day = match date {
        Some(d) => Some(session::parse_date(d).map_err(|e| to_py(e, None))?),
        None => path.and_then(|p| session::date_from_file_name(p)),
    };
    day.map(session::midnight_utc_ns)
        .transpose()
        .map_err(|e| to_py(e, None))
}

/// All decode options from keyword arguments.
#[allow(clippy::too_many_arguments)]
pub fn decode_options(
    src: &Source,
    messages_: Option<Vec<String>>,
    symbols: Option<Vec<String>>,
    date: Option<&str>,
    prices_: &str,
    batch_size: usize,
    grow_batches: bool,
    allow_truncated: bool,
    errors: &str,
) -> PyResult<DecodeOptions> {
    if batch_size == 0 {
        return Err(PyValueError::new_err("batch_size must be at least 1"));
    }
    Ok(DecodeOptions {
        messages: messages(messages_)?,
        symbols,
        prices: prices(prices_)?,
        midnight_utc_ns: midnight(date, src.path.as_ref())?,
        batch_size,
        grow_batches,
        policy: policy(allow_truncated, errors)?,
    })
}
