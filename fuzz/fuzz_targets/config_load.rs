//! The config loader (`config::load_str`: TOML text, then `CASSFLOW_*` environment
//! variables, then validation) on arbitrary input. The input is TOML text, optionally
//! followed by a NUL byte and `NAME=value` lines that are set as `CASSFLOW_NAME` for this
//! run. Properties: it never panics; an error is one line that names what to fix.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let (toml, env) = input.split_once('\0').unwrap_or((input, ""));
    // The fuzzer runs one input at a time on one thread: setting variables is safe here.
    let mut set = Vec::new();
    for line in env.lines() {
        if let Some((name, value)) = line.split_once('=') {
            let name = format!(
                "{}{}",
                cassflow::config::ENV_PREFIX,
                name.to_ascii_uppercase()
            );
            if !name.contains(['=', '\0']) && !value.contains('\0') {
                std::env::set_var(&name, value);
                set.push(name);
            }
        }
    }
    let result = cassflow::config::load_str(toml);
    for name in set {
        std::env::remove_var(name);
    }
    if let Err(e) = result {
        let message = e.to_string();
        assert!(!message.contains('\n'), "error spans lines: {message:?}");
        assert!(message.contains("fix"), "error says no fix: {message:?}");
    }
});
