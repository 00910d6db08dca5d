//! ftforge's build pipeline: recipes → variants → sources → build → package → tests.

pub mod build;
pub mod check;
pub mod compiler_cache;
pub mod dask;
pub mod depends;
pub mod diagnose;
pub mod env;
pub mod generate;
pub mod job;
pub mod linkage;
pub mod mirrors;
pub mod package;
pub mod plan;
pub mod progress;
pub mod pypi;
pub mod recipe;
pub mod remote;
pub mod script;
pub mod session;
pub mod source;
pub mod testing;
pub mod toolchain;
pub mod variants;
pub mod verdict;
