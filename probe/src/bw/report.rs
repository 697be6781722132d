//! The report as JSON (one line, the shape of [`BwReport`]) or as a short
//! human-readable summary.

use super::{BwProtocol, BwReport, Direction};

/// One line of JSON.
pub fn to_json(r: &BwReport) -> String {
    serde_json::to_string(r).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// A few aligned lines.
pub fn render_table(r: &BwReport) -> String {
    let mut out = format!(
        "target      {}\ntest        {} {}, {} stream{}, {:.1} s\nthroughput  {:.1} Mbit/s (received)\n",
        r.target,
        match r.protocol {
            BwProtocol::Tcp => "tcp",
            BwProtocol::Udp => "udp",
        },
        match r.direction {
            Direction::Forward => "forward (we send)",
            Direction::Reverse => "reverse (server sends)",
        },
        r.streams,
        if r.streams == 1 { "" } else { "s" },
        r.duration_s,
        r.throughput_mbit,
    );
    if let Some(n) = r.retransmits {
        out.push_str(&format!("retransmits {n}\n"));
    }
    if let Some(l) = r.loss_pct {
        out.push_str(&format!("loss        {l:.3} %\n"));
    }
    if let Some(j) = r.jitter_us {
        out.push_str(&format!(
            "jitter      {j:.1} us (RFC 3550, kernel receive stamps)\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_agreed_shape_and_order() {
        let r = BwReport {
            target: "127.0.0.1:8620".parse().unwrap_or_else(|_| unreachable!()),
            direction: Direction::Forward,
            protocol: BwProtocol::Tcp,
            streams: 1,
            duration_s: 10.0,
            throughput_mbit: 941.2,
            retransmits: Some(0),
            loss_pct: None,
            jitter_us: None,
        };
        assert_eq!(
            to_json(&r),
            r#"{"target":"127.0.0.1:8620","direction":"forward","protocol":"tcp","streams":1,"duration_s":10.0,"throughput_mbit":941.2,"retransmits":0,"loss_pct":null,"jitter_us":null}"#
        );
        let back: BwReport = serde_json::from_str(&to_json(&r)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, r);
        assert!(render_table(&r).contains("941.2 Mbit/s"));
    }
}
