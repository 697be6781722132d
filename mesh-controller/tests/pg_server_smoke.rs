//! The PostgreSQL test server the storage conformance suite will run against
//! (`tests/pg_server`): it starts in a temporary folder on a private port and
//! socket, answers over TCP on loopback and over its socket, and is gone
//! when dropped. Skips with the reason without PostgreSQL (fails under CI).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pg_server;

use pg_server::PgServer;
use std::net::TcpStream;
use std::time::Duration;

#[test]
fn a_private_server_starts_answers_and_is_gone_when_dropped() {
    let Some(pg) = PgServer::start() else {
        return;
    };
    let version = pg.psql("SHOW server_version_num").unwrap();
    let n: u32 = version.parse().unwrap_or_else(|_| panic!("{version:?}"));
    assert!(n >= 150_000, "PostgreSQL 15 or newer, found {n}");
    pg.psql("CREATE TABLE t (k bigint PRIMARY KEY); INSERT INTO t VALUES (1), (2)")
        .unwrap();
    assert_eq!(pg.psql("SELECT sum(k) FROM t").unwrap(), "3");
    // Bad SQL is an error, not an empty answer.
    assert!(pg.psql("SELECT * FROM missing").is_err());
    let addr = format!("127.0.0.1:{}", pg.port);
    assert!(
        TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2)).is_ok(),
        "{} does not answer on {addr}",
        pg.url()
    );
    let socket_dir = pg.socket_dir().to_path_buf();
    drop(pg);
    assert!(
        TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_millis(500)).is_err(),
        "still listening on {addr} after drop"
    );
    assert!(!socket_dir.exists(), "{} left behind", socket_dir.display());
}

#[test]
fn an_immediate_stop_is_an_outage() {
    let Some(pg) = PgServer::start() else {
        return;
    };
    assert_eq!(pg.psql("SELECT 1").unwrap(), "1");
    pg.stop_immediately().unwrap();
    assert!(pg.psql("SELECT 1").is_err());
}
