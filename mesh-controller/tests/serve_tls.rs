//! HTTPS end to end with a CA made here (rcgen): `serve --tls-cert/--tls-key`
//! answers the agent's client and the client commands that trust the CA
//! (and pin its key); a wrong CA, an expired certificate, a wrong host name
//! and a wrong pin each end `probe agent` and `report --server` with one
//! clear line and exit 2, at once (no retry loop); a renewed certificate is
//! served after SIGHUP without a restart; plain HTTP is refused on an address
//! that is not loopback unless `--insecure-plaintext`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_common;

use protocol::api::Hello;
use protocol::client::{Client, ClientError};
use protocol::tls::{hex, pin_of, TlsFailure, TlsOptions};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serve_common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const PROBES: [(&str, &str); 2] = [("cl-1", "cl"), ("a-1", "city-a")];

/// A test CA.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("hubmesh test CA {name}"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    /// A server certificate for `names`, valid from `years` (start, end)
    /// when given: (certificate PEM, key PEM, its pin).
    fn issue(&self, names: &[&str], years: Option<(i32, i32)>) -> (String, String, [u8; 32]) {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, names[0].to_string());
        if let Some((from, to)) = years {
            params.not_before = rcgen::date_time_ymd(from, 1, 1);
            params.not_after = rcgen::date_time_ymd(to, 1, 1);
        }
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        let pin = pin_of(cert.der()).unwrap();
        (cert.pem(), key.serialize_pem(), pin)
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A controller over HTTPS with this certificate and key.
fn tls_ctl(dir: &Path, cert: &str, key: &str) -> Ctl {
    let cert = write(dir, "cert.pem", cert);
    let key = write(dir, "key.pem", key);
    Ctl::start_with(
        &config_with(&PROBES, ""),
        &["cl-1", "a-1"],
        &[
            "--tls-cert".to_string(),
            cert.display().to_string(),
            "--tls-key".to_string(),
            key.display().to_string(),
        ],
    )
}

fn hello(probe: &str) -> Hello {
    serde_json::from_value(serde_json::json!({
        "probe": probe, "version": "test", "boot_id": "b",
        "clock": {"synchronized": false, "error_us": 1000}
    }))
    .unwrap()
}

/// The agent's client's answer to a hello at `url` with these options.
fn try_hello(url: &str, token: &str, opts: &TlsOptions) -> Result<(), ClientError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = Client::new(url, token)?
            .with_timeout(Duration::from_secs(10))
            .with_tls(opts)?;
        client.hello(&hello("cl-1")).await.map(|_| ())
    })
}

fn trusting(ca: &Path) -> TlsOptions {
    TlsOptions {
        ca_file: Some(ca.to_path_buf()),
        pin_sha256: None,
    }
}

/// `report --server URL` with more arguments: (exit code, stderr).
fn report(url: &str, more: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["report", "--server", url, "--format", "json"];
    args.extend_from_slice(more);
    let out = run(&args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_right_ca_works_and_pins_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("right");
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let (cert, key, pin) = ca.issue(&["localhost", "127.0.0.1"], None);
    let ctl = tls_ctl(dir.path(), &cert, &key);
    let url = format!("https://localhost:{}", ctl.addr.port());

    // The agent's client, by name and by address.
    try_hello(&url, ctl.token("cl-1"), &trusting(&ca_file)).unwrap();
    let by_ip = format!("https://127.0.0.1:{}", ctl.addr.port());
    try_hello(&by_ip, ctl.token("cl-1"), &trusting(&ca_file)).unwrap();
    // With the right pin, and a wrong one.
    let pinned = TlsOptions {
        ca_file: Some(ca_file.clone()),
        pin_sha256: Some(pin),
    };
    try_hello(&url, ctl.token("cl-1"), &pinned).unwrap();
    let wrong_pin = TlsOptions {
        ca_file: Some(ca_file.clone()),
        pin_sha256: Some([7; 32]),
    };
    match try_hello(&url, ctl.token("cl-1"), &wrong_pin) {
        Err(ClientError::Tls(TlsFailure::PinMismatch(got))) => assert_eq!(got, hex(&pin)),
        other => panic!("{other:?}"),
    }

    // The client commands.
    let (code, err) = report(&url, &["--ca-file", ca_file.to_str().unwrap()]);
    assert!(matches!(code, Some(0 | 1)), "{code:?}: {err}");
    let (code, err) = report(
        &url,
        &[
            "--ca-file",
            ca_file.to_str().unwrap(),
            "--pin-sha256",
            &hex(&pin),
        ],
    );
    assert!(matches!(code, Some(0 | 1)), "{code:?}: {err}");
    let (code, err) = report(
        &url,
        &[
            "--ca-file",
            ca_file.to_str().unwrap(),
            "--pin-sha256",
            &"ab".repeat(32),
        ],
    );
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("does not match --pin-sha256"), "{err}");
    // Plain HTTP to an HTTPS port is not an answer.
    let (code, _) = report(&format!("http://127.0.0.1:{}", ctl.addr.port()), &[]);
    assert_eq!(code, Some(2));
}

/// The probe binary built beside the controller's (scripts/test.sh builds
/// every binary first).
fn probe_bin() -> Option<PathBuf> {
    let p = Path::new(BIN).with_file_name("probe");
    if p.exists() {
        return Some(p);
    }
    let msg = format!(
        "the probe binary is not built beside mesh-controller ({}); run scripts/test.sh",
        p.display()
    );
    assert!(std::env::var("CI").is_err(), "{msg}");
    eprintln!("skipped the probe agent part: {msg}");
    None
}

/// `probe agent` against `url` trusting `ca_file`: it must stop at once with
/// exit 2 and one line naming `why`.
fn agent_refuses(url: &str, token: &str, ca_file: &Path, why: &str) {
    let Some(probe) = probe_bin() else { return };
    let dir = tempfile::tempdir().unwrap();
    let token_file = write(dir.path(), "token", token);
    let t0 = Instant::now();
    let out = Command::new(probe)
        .args(["agent", "--controller", url, "--id", "cl-1", "--token-file"])
        .arg(&token_file)
        .args(["--listen", "127.0.0.1:0", "--no-bw", "--spool"])
        .arg(dir.path().join("spool"))
        .arg("--ca-file")
        .arg(ca_file)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "took {:?}",
        t0.elapsed()
    );
    let lines: Vec<&str> = err.lines().filter(|l| l.contains("controller")).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].contains(why), "{err}");
    assert!(!err.contains("retrying"), "{err}");
}

#[test]
fn a_wrong_ca_an_expired_certificate_and_a_wrong_name_stop_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("right");
    let other = Ca::new("other");
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let other_file = write(dir.path(), "other.pem", &other.pem);
    // (what, validity years, whom the client trusts, what it must say)
    type Case = (&'static str, Option<(i32, i32)>, &'static str, TlsFailure);
    let cases: [Case; 3] = [
        ("wrong CA", None, "other", TlsFailure::UnknownIssuer),
        ("expired", Some((2001, 2002)), "right", TlsFailure::Expired),
        (
            "wrong name",
            None,
            "right-but-elsewhere",
            TlsFailure::WrongName("localhost".to_string()),
        ),
    ];
    for (what, years, trust, want) in cases {
        let names: &[&str] = if trust == "right-but-elsewhere" {
            &["ctl.example.net"]
        } else {
            &["localhost", "127.0.0.1"]
        };
        let (cert, key, _) = ca.issue(names, years);
        let sub = dir.path().join(what.replace(' ', "-"));
        std::fs::create_dir(&sub).unwrap();
        let ctl = tls_ctl(&sub, &cert, &key);
        let url = format!("https://localhost:{}", ctl.addr.port());
        let trusted = if trust == "other" {
            &other_file
        } else {
            &ca_file
        };

        let got = try_hello(&url, ctl.token("cl-1"), &trusting(trusted));
        match &got {
            Err(e @ ClientError::Tls(f)) => {
                assert_eq!(f, &want, "{what}");
                assert!(!e.is_retryable(), "{what}");
            }
            other => panic!("{what}: {other:?}"),
        }
        let (code, err) = report(&url, &["--ca-file", trusted.to_str().unwrap()]);
        assert_eq!(code, Some(2), "{what}: {err}");
        assert_eq!(err.lines().count(), 1, "{what}: {err}");
        assert!(err.contains(&want.to_string()), "{what}: {err}");
        agent_refuses(&url, ctl.token("cl-1"), trusted, &want.to_string());
    }
}

#[test]
fn a_renewed_certificate_is_served_after_sighup() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("right");
    let ca_file = write(dir.path(), "ca.pem", &ca.pem);
    let (cert, key, old_pin) = ca.issue(&["localhost"], None);
    let ctl = tls_ctl(dir.path(), &cert, &key);
    let url = format!("https://localhost:{}", ctl.addr.port());
    let pinned = |pin| TlsOptions {
        ca_file: Some(ca_file.clone()),
        pin_sha256: Some(pin),
    };
    try_hello(&url, ctl.token("cl-1"), &pinned(old_pin)).unwrap();

    // A renewal with a new key, written in place, then SIGHUP.
    let (cert, key, new_pin) = ca.issue(&["localhost"], None);
    assert_ne!(old_pin, new_pin);
    write(dir.path(), "cert.pem", &cert);
    write(dir.path(), "key.pem", &key);
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(ctl.pid().unwrap() as i32, libc::SIGHUP) };
    ctl.wait_for("the renewed certificate", || {
        try_hello(&url, ctl.token("cl-1"), &pinned(new_pin)).is_ok()
    });
    assert!(try_hello(&url, ctl.token("cl-1"), &pinned(old_pin)).is_err());
    assert!(
        ctl.log
            .lock()
            .unwrap()
            .contains("reloaded the TLS certificate"),
        "{}",
        ctl.log.lock().unwrap()
    );

    // A broken pair is refused and the running one kept.
    write(dir.path(), "key.pem", "not a key\n");
    unsafe { libc::kill(ctl.pid().unwrap() as i32, libc::SIGHUP) };
    ctl.wait_for("the refusal", || {
        ctl.log
            .lock()
            .unwrap()
            .contains("keeping the running certificate")
    });
    try_hello(&url, ctl.token("cl-1"), &pinned(new_pin)).unwrap();
}

#[test]
fn plain_http_is_refused_off_loopback_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "mesh.yaml", &config_with(&PROBES, ""));
    let db = dir.path().join("x.db");
    // Not loopback: the unspecified address (bound only if it were allowed;
    // port 0, and the controller is stopped at once below).
    let out = run(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--listen",
        "0.0.0.0:0",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("refusing plain HTTP on 0.0.0.0:0"), "{err}");
    assert!(!db.exists(), "nothing made before refusing");

    // With --insecure-plaintext it starts, with a warning (stopped as soon
    // as it listens; nothing is sent to it).
    let mut child = Command::new(BIN)
        .args(["serve", "--config", config.to_str().unwrap(), "--db"])
        .arg(&db)
        .args(["--listen", "0.0.0.0:0", "--insecure-plaintext"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = String::new();
    for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)) {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if line.contains("listening on") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(seen.contains("warning: --insecure-plaintext"), "{seen}");
    assert!(seen.contains("listening on http://0.0.0.0:"), "{seen}");
}
