//! `probe stamp` output: the session report as JSON (with what the sender
//! adds: same-clock basis, packet, counters, notes), or an aligned table.

use std::fmt::Write;

use serde_json::{json, Value};

use super::StampResult;
use crate::session::Summary;

fn us(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The JSON object: the [`SessionReport`](crate::session::SessionReport)
/// fields, `clock` extended with `same_kernel_clock` and `basis`, plus
/// `packet`, `sender` and `notes`.
pub fn to_json(result: &StampResult) -> Value {
    let mut v = serde_json::to_value(&result.report).unwrap_or(Value::Null);
    if let Some(clock) = v.get_mut("clock").and_then(Value::as_object_mut) {
        clock.insert(
            "same_kernel_clock".to_owned(),
            Value::Bool(result.same_clock.is_some()),
        );
        let basis = match result.same_clock {
            Some(why) => format!("one kernel clock on both ends ({why}): one-way error 0"),
            None => "two clocks: one-way error = local + remote error".to_owned(),
        };
        clock.insert("basis".to_owned(), Value::String(basis));
    }
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "packet".to_owned(),
            json!({
                "size": result.packet_size,
                "authenticated": result.authenticated,
                "interval_us": us(result.interval),
                "schedule": result.schedule.describe(),
                "timeout_us": us(result.timeout),
            }),
        );
        obj.insert(
            "sender".to_owned(),
            serde_json::to_value(result.counters).unwrap_or(Value::Null),
        );
        if let Some(cos) = result.class_of_service {
            obj.insert(
                "class_of_service".to_owned(),
                serde_json::to_value(cos).unwrap_or(Value::Null),
            );
        }
        if let Some(clock) = &result.reflector_clock {
            obj.insert(
                "reflector_clock".to_owned(),
                serde_json::to_value(clock).unwrap_or(Value::Null),
            );
        }
        obj.insert("notes".to_owned(), json!(result.notes));
    }
    v
}

fn row(out: &mut String, name: &str, s: Option<&Summary>) {
    match s {
        Some(s) => {
            let _ = writeln!(
                out,
                "{name:<10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
                s.min, s.mean, s.p50, s.p90, s.p99, s.max
            );
        }
        None => {
            let _ = writeln!(out, "{name:<10}{:>10}", "-");
        }
    }
}

fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| "n/a".to_owned(), |p| format!("{p:.2}%"))
}

/// An aligned table for people.
pub fn render_table(result: &StampResult) -> String {
    let r = &result.report;
    let mut out = String::new();
    let ts = r
        .timestamping
        .map_or_else(|| "none".to_owned(), |t| t.to_string());
    let _ = writeln!(
        out,
        "target {}  sent {}  received {}  timestamping {}  size {}{}",
        r.target,
        r.sent,
        r.received,
        ts,
        result.packet_size,
        if result.authenticated {
            " (authenticated)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        out,
        "{:<10}{:>10}{:>10}{:>10}{:>10}{:>10}{:>10}",
        "(us)", "min", "mean", "p50", "p90", "p99", "max"
    );
    row(&mut out, "rtt", r.rtt_us.as_ref());
    row(&mut out, "forward", r.forward_us.as_ref());
    row(&mut out, "reverse", r.reverse_us.as_ref());
    row(&mut out, "ipdv", r.ipdv_us.as_ref());
    let l = &r.loss;
    let _ = writeln!(
        out,
        "loss      round trip {}  forward {}  reverse {}",
        pct(Some(l.round_trip_pct)),
        pct(l.forward_pct),
        pct(l.reverse_pct)
    );
    let _ = writeln!(
        out,
        "packets   duplicates {}  reordered {}  late {}",
        r.duplicates, r.reordered, r.late
    );
    let c = &r.clock;
    let sync = |s: bool| if s { "synchronized" } else { "unsynchronized" };
    let _ = writeln!(
        out,
        "clock     local {} ({} us)  remote {} ({} us)  one-way bound {} us{}",
        sync(c.local_synchronized),
        c.local_error_us,
        sync(c.remote_synchronized),
        c.remote_error_us,
        c.one_way_error_us,
        result
            .same_clock
            .map_or_else(String::new, |why| format!(" (same kernel clock: {why})"))
    );
    if let Some(c) = &result.reflector_clock {
        let name = |n: Option<&str>| n.unwrap_or("-").to_owned();
        let _ = writeln!(
            out,
            "reflector clock  in {} ({})  out {} ({})  reported by {} replies, not by {}",
            name(c.sync_source_in),
            name(c.timestamp_in),
            name(c.sync_source_out),
            name(c.timestamp_out),
            c.reported,
            c.not_reported
        );
    }
    if let Some(cos) = &result.class_of_service {
        let _ = writeln!(
            out,
            "dscp      asked {}  at the reflector: kept {} changed {} (last {})  on replies: kept {} changed {}{}",
            cos.dscp,
            cos.forward_kept,
            cos.forward_changed,
            cos.last_forward_dscp
                .map_or_else(|| "-".to_owned(), |d| d.to_string()),
            cos.reverse_kept,
            cos.reverse_changed,
            if cos.not_reported > 0 {
                format!("  not reported {}", cos.not_reported)
            } else {
                String::new()
            }
        );
    }
    if r.negative_one_way > 0 {
        let _ = writeln!(
            out,
            "WARNING   {} negative one-way delays (forward min {:?} us, reverse min {:?} us): \
             the clocks disagree; shown as measured, not clamped{}",
            r.negative_one_way,
            r.one_way_us.forward_min,
            r.one_way_us.reverse_min,
            if c.one_way_beyond_error > 0 {
                format!("; {} beyond the stated error bound", c.one_way_beyond_error)
            } else {
                String::new()
            }
        );
    }
    for note in &result.notes {
        let _ = writeln!(out, "note      {note}");
    }
    out
}
