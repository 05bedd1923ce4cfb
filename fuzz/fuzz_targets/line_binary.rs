#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| powersync_fuzz::line_binary::run(data));
