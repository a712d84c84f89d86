//! See `microroute::fuzzing::router` for the input format and what it checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| microroute::fuzzing::router(data));
