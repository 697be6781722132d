//! Suggestions as an aligned terminal report (one block per suggestion with the
//! routes it fixes) and as JSON. Pure string building.

use super::{Suggestion, SuggestionKind, Suggestions};
use crate::render::Table;

/// Fixes listed per suggestion in the terminal report; JSON lists them all.
pub const TABLE_MAX_FIXES: usize = 20;

fn head(i: usize, s: &Suggestion) -> String {
    let nets = if s.networks.is_empty() {
        String::new()
    } else {
        format!(" on {}", s.networks.join(", "))
    };
    match s.kind {
        SuggestionKind::DirectLink => format!(
            "{}. direct-link {} <-> {}{nets}: {:.1} km, {:.2} ms one way",
            i + 1,
            s.sites.first().map_or("?", String::as_str),
            s.sites.get(1).map_or("?", String::as_str),
            s.distance_km,
            s.one_way_ms
        ),
        SuggestionKind::ExchangePoint => format!(
            "{}. exchange-point at {}{nets}: +{:.2} ms",
            i + 1,
            s.sites.first().map_or("?", String::as_str),
            s.one_way_ms
        ),
    }
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// One block per suggestion, best first, then a summary line.
pub fn suggestions_table(s: &Suggestions) -> String {
    let mut out = String::new();
    for (i, sug) in s.suggestions.iter().enumerate() {
        out.push_str(&head(i, sug));
        out.push('\n');
        out.push_str(&format!(
            "   fixes {}, saves {:.2} ms over {}\n",
            plural(sug.fixes.len(), "route"),
            sug.saved_ms_total,
            plural(sug.routes_improved, "covered route"),
        ));
        out.push_str(&format!("   why: {}\n", sug.why));
        if !sug.fixes.is_empty() {
            let mut t = Table::new(
                ["FROM", "TO", "BEFORE ms", "AFTER ms", "BUDGET ms", "RULE"]
                    .iter()
                    .map(|h| h.to_string())
                    .collect(),
            );
            t.right_align(&[2, 3, 4]);
            for f in sug.fixes.iter().take(TABLE_MAX_FIXES) {
                t.row(vec![
                    f.from.clone(),
                    f.to.clone(),
                    f.before_ms
                        .map_or_else(|| "-".to_string(), |v| format!("{v:.2}")),
                    format!("{:.2}", f.after_ms),
                    format!("{:.2}", f.budget_ms),
                    f.rule.clone(),
                ]);
            }
            for line in t.render().lines() {
                out.push_str("   ");
                out.push_str(line);
                out.push('\n');
            }
            if sug.fixes.len() > TABLE_MAX_FIXES {
                out.push_str(&format!(
                    "   ... and {} more (--format json lists all)\n",
                    sug.fixes.len() - TABLE_MAX_FIXES
                ));
            }
        }
        out.push('\n');
    }
    out.push_str(&summary_line(s));
    out.push('\n');
    out
}

/// One line: how many suggestions, what they fix and save.
fn summary_line(s: &Suggestions) -> String {
    let m = &s.summary;
    if s.suggestions.is_empty() {
        return if m.violations_before == 0 {
            format!(
                "no suggestions: all {} are within budget and no candidate saves enough",
                plural(m.routes, "covered route")
            )
        } else {
            format!(
                "no suggestions: no candidate helps the {} over budget ({} covered)",
                plural(m.violations_before, "route"),
                m.routes
            )
        };
    }
    format!(
        "{}: {} of {} over budget brought within ({} remain), {:.2} ms saved over {}",
        plural(s.suggestions.len(), "suggestion"),
        m.violations_before - m.violations_after.min(m.violations_before),
        plural(m.violations_before, "route"),
        m.violations_after,
        m.saved_ms_total,
        plural(m.routes, "covered route"),
    )
}

/// Pretty-printed JSON, stable field order.
pub fn suggestions_json(s: &Suggestions) -> String {
    // Plain structs of strings and numbers always serialize.
    serde_json::to_string_pretty(s).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
