// tests/lookup.rs includes this file by its path. The example is the crate
// in examples/optimistic-concurrency/; delete this file once the test names
// its main.rs.
#[path = "optimistic-concurrency/src/main.rs"]
mod crate_main;

pub use crate_main::*;
