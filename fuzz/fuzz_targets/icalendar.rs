#![no_main]
//! See fuzz/src/lib.rs for what is checked.
libfuzzer_sys::fuzz_target!(|data: &[u8]| crmdav_fuzz::icalendar(data));
