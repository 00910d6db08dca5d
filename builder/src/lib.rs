//! ftforge's build pipeline: recipes → variants → sources → build → package → tests.

pub mod recipe;
pub mod variants;
