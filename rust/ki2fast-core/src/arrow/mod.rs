//! Arrow output: every schema defined once, the column builders, and the lazy readers.

pub mod builders;
pub mod reader;
pub mod schema;
