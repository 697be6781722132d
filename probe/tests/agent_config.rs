//! `probe agent --config FILE` through the real binary: a bad file is one
//! `file:line:column` line and exit 2, a required value missing from both the
//! file and the flags is named, and flags override the file (seen through
//! which token file the agent then fails to read). None of these reach a
//! controller: each stops before the agent starts.

use std::path::Path;
use std::process::{Command, Output};

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_probe"))
        .arg("agent")
        .args(args)
        .output()
        .expect("run probe")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

/// Exit 2 and exactly one line on stderr, which is returned.
fn one_line_exit_2(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "stderr: {err}");
    assert!(out.stdout.is_empty());
    err.trim_end().to_string()
}

#[test]
fn a_bad_file_is_one_line_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "probe.yaml",
        "controller: http://127.0.0.1:9\nid: p-1\ncontroler: http://x:1\n",
    );
    let err = one_line_exit_2(&agent(&["--config", &file]));
    let want = format!("probe: {file}:3:12: controler: unknown option; expected one of controller, id, token_file,");
    assert!(err.starts_with(&want), "{err}");

    let file = write(dir.path(), "bad-poll.yaml", "# agent\npoll: soon\n");
    let err = one_line_exit_2(&agent(&["--config", &file]));
    assert_eq!(
        err,
        format!("probe: {file}:2:7: poll: \"soon\" is not a number with a unit")
    );

    let missing = dir.path().join("absent.yaml").display().to_string();
    let err = one_line_exit_2(&agent(&["--config", &missing]));
    assert!(
        err.starts_with(&format!("probe: {missing}: cannot read configuration: ")),
        "{err}"
    );
}

#[test]
fn a_required_value_from_neither_side_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "probe.yaml",
        "controller: http://127.0.0.1:9\ntoken_file: t\n",
    );
    let err = one_line_exit_2(&agent(&["--config", &file]));
    assert_eq!(
        err,
        format!("probe: missing --id: give --id ID or `id:` in {file}")
    );
    // Without a file.
    let err = one_line_exit_2(&agent(&["--id", "p-1"]));
    assert_eq!(
        err,
        "probe: missing --controller: give --controller URL or `controller:` in a --config file"
    );
}

#[test]
fn flags_override_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Neither token file exists: the agent names the one it uses.
    let file = write(
        dir.path(),
        "probe.yaml",
        "controller: http://127.0.0.1:9\nid: p-1\ntoken-file: from-file.token\n",
    );
    let err = one_line_exit_2(&agent(&["--config", &file]));
    let from_file = dir.path().join("from-file.token").display().to_string();
    assert!(
        err.starts_with(&format!("probe: cannot read the token file {from_file}")),
        "{err}"
    );
    let from_flag = dir.path().join("from-flag.token").display().to_string();
    let err = one_line_exit_2(&agent(&["--config", &file, "--token-file", &from_flag]));
    assert!(
        err.starts_with(&format!("probe: cannot read the token file {from_flag}")),
        "{err}"
    );
}
