//! ftforge's build pipeline: recipes → variants → sources → build → package → tests.

pub mod recipe;
pub mod variants;
pub mod mirrors;
pub mod progress;
pub mod source;
pub mod package;
pub mod script;
pub mod testing;
pub mod build;
pub mod plan;
