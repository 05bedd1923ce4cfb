#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| powersync_fuzz::json_diff::run(data));
