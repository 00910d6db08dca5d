//! CPython specifics for ftforge: ABI tags, per-variant layout and metadata, and the
//! probes that check what a built interpreter really does.

pub mod abi;
pub mod extensions;
pub mod facts;
pub mod probes;

pub use abi::{AbiError, PythonAbi};
pub use facts::{relocation_problems, InterpreterFacts, FACTS_SCRIPT, REQUIRED_STDLIB_MODULES};
