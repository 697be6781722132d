//! Command-line values: durations (`10ms`, `1.5s`, `250us`, `2m`) and key
//! files, each refused with one clear line.

use std::path::Path;
use std::time::Duration;

/// Parses a duration: a non-negative decimal number with a unit `ns`, `us`,
/// `ms`, `s`, `m` or `h` (a bare `0` is allowed).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("{text:?} has no unit (ns, us, ms, s, m, h)"))?;
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a number with a unit"))?;
    let scale = match unit {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (ns, us, ms, s, m, h)"
            ))
        }
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| format!("{text:?} is out of range"))
}

/// Why a key file was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {path} is empty")]
    Empty { path: String },
    #[error("key file {path} is larger than 4096 octets")]
    TooLarge { path: String },
}

/// Reads HMAC key material from `path`: the file's octets, one trailing
/// newline (`\n` or `\r\n`) removed.
pub fn read_key_file(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    let shown = path.display().to_string();
    let mut key = std::fs::read(path).map_err(|source| KeyFileError::Read {
        path: shown.clone(),
        source,
    })?;
    if key.len() > 4096 {
        return Err(KeyFileError::TooLarge { path: shown });
    }
    if key.last() == Some(&b'\n') {
        key.pop();
        if key.last() == Some(&b'\r') {
            key.pop();
        }
    }
    if key.is_empty() {
        return Err(KeyFileError::Empty { path: shown });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10ms"), Ok(Duration::from_millis(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "10", "ms", "-1s", "1x", "1e3s", "1..2s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn key_file_trims_one_newline() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("probe-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let f = dir.join("k");
        std::fs::write(&f, b"secret\r\n")?;
        assert_eq!(read_key_file(&f)?, b"secret");
        std::fs::write(&f, b"a b\n\n")?;
        assert_eq!(read_key_file(&f)?, b"a b\n");
        std::fs::write(&f, b"\n")?;
        assert!(matches!(read_key_file(&f), Err(KeyFileError::Empty { .. })));
        assert!(matches!(
            read_key_file(&dir.join("missing")),
            Err(KeyFileError::Read { .. })
        ));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
