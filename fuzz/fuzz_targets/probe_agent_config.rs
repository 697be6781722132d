//! Feeds arbitrary text to `probe agent --config`'s reader
//! (`probe::agent::config_file::parse`, as a file in /nonexistent; it never
//! reads other files) and settles what loads as the agent does. None may
//! panic; an error is one line; relative paths come out under the file's
//! directory; the command line saying nothing leaves the file as it is.

#![no_main]

use libfuzzer_sys::fuzz_target;
use probe::agent::config_file::{parse, AgentConfig};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse(text, "fuzz.yaml", Path::new("/nonexistent")) {
        Ok(config) => {
            for path in [
                &config.token_file,
                &config.spool,
                &config.auth_key_file,
                &config.ca_file,
            ]
            .into_iter()
            .flatten()
            {
                assert!(path.is_absolute(), "{path:?}");
            }
            let merged = AgentConfig::default().over(config.clone());
            assert_eq!(merged, config);
            if let Err(e) = merged.resolve(Some(Path::new("fuzz.yaml"))) {
                let shown = e.to_string();
                assert!(!shown.contains('\n'), "{shown:?}");
            }
        }
        Err(e) => {
            let shown = e.to_string();
            assert!(!shown.contains('\n'), "{shown:?}");
        }
    }
});
