//! Bit rates on the command line: `500M`, `100m`, `1G`, `2.5g`, `800k`, a
//! bare number of bits/s; SI multiples (k = 1,000), upper or lower case.

/// Parses a rate in bits per second; zero, negative, unknown units and
/// values beyond `u64` are refused with one line.
pub fn parse_rate(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    if number.is_empty() {
        return Err(format!(
            "{text:?} is not a rate (expected e.g. 500M, 100m, 1G, 800k bits/s)"
        ));
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a number with a unit (k, M, G)"))?;
    let scale = match unit {
        "" => 1.0,
        "k" | "K" => 1e3,
        "m" | "M" => 1e6,
        "g" | "G" => 1e9,
        _ => return Err(format!("{text:?}: unknown unit {unit:?} (k, M, G: bits/s)")),
    };
    let bps = value * scale;
    if !bps.is_finite() || bps >= u64::MAX as f64 {
        return Err(format!("{text:?} is out of range"));
    }
    let bps = bps.round() as u64;
    if bps == 0 {
        return Err(format!("{text:?}: the rate must be above 0"));
    }
    Ok(bps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("500M"), Ok(500_000_000));
        assert_eq!(parse_rate("100m"), Ok(100_000_000));
        assert_eq!(parse_rate("1G"), Ok(1_000_000_000));
        assert_eq!(parse_rate("2.5g"), Ok(2_500_000_000));
        assert_eq!(parse_rate("800k"), Ok(800_000));
        assert_eq!(parse_rate("1200"), Ok(1200));
        for bad in [
            "",
            "M",
            "0",
            "0M",
            "-5M",
            "5T",
            "5 M",
            "1..2M",
            "1e3M",
            "99999999999G",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?}");
        }
    }
}
