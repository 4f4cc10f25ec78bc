#![no_main]

use libfuzzer_sys::fuzz_target;
use tower_conditional_fuzz::preconditions::{check, Input};

fuzz_target!(|input: Input| check(&input));
