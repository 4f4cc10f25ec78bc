//! The integration tests: the layer's behaviour through real sockets, a real
//! server and a real client, one module per subject.
//!
//! They are one test binary, so the harness in [`support`] is compiled once
//! and the layer and its dependencies are linked once. Tests that need a
//! process of their own are separate binaries: `tests/allocations.rs`
//! installs a counting global allocator, and `tests/ecosystem.rs` runs
//! outside programs in a CI step of its own.

mod support;

mod composition;
mod errors;
mod etag;
mod faults;
mod first_byte;
mod head;
mod lookup;
mod memory_store;
mod not_modified;
mod outcomes;
mod passthrough;
mod precondition_matrix;
mod properties;
mod ranges;
mod robustness;
mod security;
mod streaming;
mod tonic;
mod tower_http_composition;
