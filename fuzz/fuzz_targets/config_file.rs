//! The config reader (`iocd::config::Config::parse`, what `iocd serve` and
//! `iocd check-config` run on `iocd.toml`) on arbitrary text. Beyond "no
//! panic": a refusal names at least one error, each with a message.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = iocd::config::Config::parse(text, "iocd.toml") {
        assert!(!errors.is_empty(), "a refused config names no error");
        for e in &errors {
            assert!(
                !e.message.trim().is_empty(),
                "an error without a message: {e:?}"
            );
        }
    }
});
