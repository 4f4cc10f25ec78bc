#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tower_conditional_fuzz::response_fields::check_bytes(data));
