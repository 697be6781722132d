//! Alertmanager's webhook format (version 4): what each receiver is sent when
//! an alert fires and when it resolves, the fingerprint that names an alert
//! across both, and the HMAC-SHA-256 signature of a body for receivers that
//! check who sent it. Pure: bodies are built once, stored with the delivery,
//! and sent byte for byte on every retry.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::{Duration, UNIX_EPOCH};

/// The header carrying the signature: `sha256=<hex>` of the body.
pub const SIGNATURE_HEADER: &str = "x-hubmesh-signature";
/// The header naming the delivery, the same on every retry (a receiver that
/// saw it already may drop the repeat).
pub const DELIVERY_HEADER: &str = "x-hubmesh-delivery";
/// What Alertmanager writes for "not ended yet".
pub const NOT_ENDED: &str = "0001-01-01T00:00:00Z";

/// Labels of an alert, sorted by name.
pub type Labels = BTreeMap<String, String>;

/// Unix ms as RFC 3339 in UTC with milliseconds.
pub fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// The alert's identity: FNV-1a (64 bit) over the sorted label names and
/// values, each followed by the byte 0xff, as Prometheus signs a label set;
/// 16 hex digits.
pub fn fingerprint(labels: &Labels) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// One alert as a webhook carries it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    pub status: String,
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: String,
    pub ends_at: String,
    #[serde(rename = "generatorURL")]
    pub generator_url: String,
    pub fingerprint: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Message<'a> {
    version: &'static str,
    group_key: String,
    truncated_alerts: u32,
    status: &'a str,
    receiver: &'a str,
    group_labels: Labels,
    common_labels: &'a Labels,
    common_annotations: &'a Labels,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    alerts: [&'a WebhookAlert; 1],
}

/// The webhook body for one alert (a group of one, grouped by every label).
pub fn body(receiver: &str, alert: &WebhookAlert, external_url: &str) -> String {
    let group_key = format!(
        "{{}}:{{{}}}",
        alert
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let group_labels: Labels = alert
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() == "alertname")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let m = Message {
        version: "4",
        group_key,
        truncated_alerts: 0,
        status: &alert.status,
        receiver,
        group_labels,
        common_labels: &alert.labels,
        common_annotations: &alert.annotations,
        external_url,
        alerts: [alert],
    };
    serde_json::to_string(&m).unwrap_or_default()
}

/// `sha256=<hex>` of HMAC-SHA-256 over `body` with `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes keys of any length; this is not reached.
        Err(_) => return String::new(),
    };
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut out = String::from("sha256=");
    for b in tag {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> Labels {
        [
            ("alertname", "HubmeshRouteOverBudget"),
            ("from", "kunming@telecom"),
            ("to", "guiyang@telecom"),
            ("direction", "forward"),
            ("rule", "realtime"),
            ("severity", "critical"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn body_has_the_alertmanager_v4_fields() {
        let a = WebhookAlert {
            status: "firing".into(),
            labels: labels(),
            annotations: [("summary".to_string(), "x".to_string())]
                .into_iter()
                .collect(),
            starts_at: rfc3339(1_764_936_000_123),
            ends_at: NOT_ENDED.into(),
            generator_url: "http://c/".into(),
            fingerprint: fingerprint(&labels()),
        };
        let v: serde_json::Value =
            serde_json::from_str(&body("ops", &a, "http://c")).unwrap_or_default();
        assert_eq!(v["version"], "4");
        assert_eq!(v["status"], "firing");
        assert_eq!(v["receiver"], "ops");
        assert_eq!(v["groupLabels"]["alertname"], "HubmeshRouteOverBudget");
        assert_eq!(v["commonLabels"]["from"], "kunming@telecom");
        assert_eq!(v["externalURL"], "http://c");
        let alert = &v["alerts"][0];
        assert_eq!(alert["startsAt"], "2025-12-05T12:00:00.123Z");
        assert_eq!(alert["endsAt"], NOT_ENDED);
        assert_eq!(alert["generatorURL"], "http://c/");
        assert_eq!(alert["fingerprint"].as_str().map(str::len), Some(16));
    }

    #[test]
    fn fingerprints_name_label_sets() {
        let mut other = labels();
        assert_eq!(fingerprint(&labels()), fingerprint(&other));
        other.insert("direction".into(), "reverse".into());
        assert_ne!(fingerprint(&labels()), fingerprint(&other));
        // Name/value boundaries count: {a=bc} is not {ab=c}.
        let l = |k: &str, v: &str| Labels::from([(k.to_string(), v.to_string())]);
        assert_ne!(fingerprint(&l("a", "bc")), fingerprint(&l("ab", "c")));
    }

    #[test]
    fn signature_is_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
