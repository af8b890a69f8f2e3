//! Arrow output: every schema defined once, the column builders, and the lazy readers.

pub mod alloc;
pub mod builders;
pub mod reader;
pub mod schema;
pub mod table;
pub mod writer;
