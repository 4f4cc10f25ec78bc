// tests/tonic.rs includes this file by its path. The example is the crate in
// examples/tonic/; delete this file once the test names its main.rs.
#[path = "tonic/src/main.rs"]
mod crate_main;

pub use crate_main::*;
