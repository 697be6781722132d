//! A measured mesh on a lab, as the end-to-end tests run it: a configuration
//! and a token per probe in a work folder of the test's own, the controller
//! in one site (plain HTTP: the lab is an emulated private network, and TLS
//! has its own test), a probe agent per site, and the controller's report.

use super::{logs, retry, sibling_bin, spawn_logged, stderr, Lab, Server, TempDir};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

pub struct Mesh {
    pub dir: TempDir,
    pub probe: String,
    pub controller: String,
    pub cfg: String,
    pub db: String,
    /// `http://LISTEN` once [`Mesh::serve`] ran.
    pub url: String,
    /// The controller and the agents, stopped when dropped.
    pub servers: Vec<Server>,
}

impl Mesh {
    /// Writes `config` (the whole controller configuration; `secrets:
    /// secrets.yaml` is relative to it) and adds a token for each of `ids`.
    /// None when the binaries are not built (a skip; under CI a failure).
    pub fn new(tag: &str, config: &str, ids: &[&str]) -> Option<Mesh> {
        Mesh::with_files(tag, config, ids, &[])
    }

    /// [`Mesh::new`] with files the configuration names (name, contents),
    /// written beside it first.
    pub fn with_files(
        tag: &str,
        config: &str,
        ids: &[&str],
        files: &[(&str, &str)],
    ) -> Option<Mesh> {
        let probe = sibling_bin("probe")?.to_str()?.to_owned();
        let controller = sibling_bin("mesh-controller")?.to_str()?.to_owned();
        let dir = TempDir::new(tag);
        for (name, contents) in files {
            std::fs::write(dir.0.join(name), contents).unwrap();
        }
        let cfg = dir.0.join("controller.yaml");
        std::fs::write(&cfg, config).unwrap();
        let cfg = cfg.to_str().unwrap().to_owned();
        let db = dir.0.join("hubmesh.db").to_str().unwrap().to_owned();
        for id in ids {
            let out = Command::new(&controller)
                .args(["token", "add", "--config", &cfg, id])
                .output()
                .expect("token add");
            assert!(out.status.success(), "token add {id}: {}", stderr(&out));
            std::fs::write(dir.0.join(format!("{id}.token")), &out.stdout).unwrap();
        }
        Some(Mesh {
            dir,
            probe,
            controller,
            cfg,
            db,
            url: String::new(),
            servers: Vec::new(),
        })
    }

    pub fn work(&self) -> &Path {
        &self.dir.0
    }

    /// The logs of the controller and the agents, for a failure message.
    pub fn logs(&self) -> String {
        logs(self.work())
    }

    /// Starts the controller in `site` on `listen`, logging to `log`.
    pub fn spawn_controller(&self, lab: &Lab, site: &str, listen: &str, log: &str) -> Server {
        spawn_logged(
            lab,
            site,
            &[
                &self.controller,
                "serve",
                "--config",
                &self.cfg,
                "--db",
                &self.db,
                "--listen",
                listen,
                "--insecure-plaintext",
            ],
            &self.work().join(log),
        )
    }

    /// Waits until `report --server` answers from `site` (0 or 1; 2 before).
    pub fn wait_up(&self, lab: &Lab, site: &str) {
        let up = retry(Duration::from_secs(15), || {
            let out = lab.exec(site, &[&self.controller, "report", "--server", &self.url]);
            matches!(out.status.code(), Some(0 | 1)).then_some(())
        });
        assert!(
            up.is_some(),
            "the controller never answered\n{}",
            self.logs()
        );
    }

    /// The controller in `site` on `listen` (`ADDR:PORT`), up.
    pub fn serve(&mut self, lab: &Lab, site: &str, listen: &str) {
        self.url = format!("http://{listen}");
        let s = self.spawn_controller(lab, site, listen, "controller.log");
        self.servers.push(s);
        self.wait_up(lab, site);
    }

    /// A probe agent in `site` as probe `id`, its reflector on `listen`.
    pub fn agent(&mut self, lab: &Lab, site: &str, id: &str, listen: &str, extra: &[&str]) {
        let token = self.work().join(format!("{id}.token"));
        let spool = self.work().join(format!("spool-{id}"));
        let mut args = vec![
            self.probe.as_str(),
            "agent",
            "--controller",
            &self.url,
            "--id",
            id,
            "--token-file",
            token.to_str().unwrap(),
            "--listen",
            listen,
            "--spool",
            spool.to_str().unwrap(),
            "--poll",
            "1s",
        ];
        args.extend_from_slice(extra);
        let log = self.work().join(format!("agent-{id}.log"));
        self.servers.push(spawn_logged(lab, site, &args, &log));
    }

    /// `report` from the store, with extra arguments (e.g. `--format json`).
    pub fn report(&self, extra: &[&str]) -> Output {
        Command::new(&self.controller)
            .args(["report", "--db", &self.db, "--config", &self.cfg])
            .args(extra)
            .output()
            .expect("report")
    }

    /// The report as JSON, when it parses.
    pub fn report_json(&self) -> Option<Value> {
        serde_json::from_slice(&self.report(&["--format", "json"]).stdout).ok()
    }

    /// Stops the controller and the agents.
    pub fn stop(&mut self) {
        self.servers.clear();
    }
}
