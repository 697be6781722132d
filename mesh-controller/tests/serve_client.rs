//! The agent's client (`protocol::client`) against the real controller:
//! every call, the error classes an agent acts on, and a kept-alive connection
//! surviving a controller restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod serve_common;

use protocol::api::{ClockInfo, Hello, WindowBatch, WindowUpload};
use protocol::client::{Client, ClientError};
use serve_common::*;

const PROBES: [(&str, &str); 2] = [("cl-1", "cl"), ("a-1", "city-a")];

fn hello(probe: &str) -> Hello {
    Hello {
        probe: probe.to_string(),
        version: "test".to_string(),
        boot_id: Some("boot".to_string()),
        clock: ClockInfo {
            synchronized: false,
            error_us: 16_000_000,
            ..ClockInfo::default()
        },
        stamp: None,
    }
}

fn batch_of(probe: &str, seqs: &[u64]) -> WindowBatch<protocol::window::Window> {
    let w = window(10, 0, 1.0, 2.0, unsync_clock());
    WindowBatch {
        probe: probe.to_string(),
        windows: seqs
            .iter()
            .map(|&seq| WindowUpload {
                seq,
                target: "a-1".to_string(),
                start_unix_ms: now_ms(),
                duration_ms: 10_000,
                window: w.clone(),
                timestamping: None,
                ssid: Some(1),
            })
            .collect(),
    }
}

#[test]
fn client_calls_errors_and_reconnects() {
    let mut ctl = Ctl::start(&config_with(&PROBES, ""), &["cl-1", "a-1"]);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::new(&ctl.url(), ctl.token("cl-1")).unwrap();
    rt.block_on(async {
        let a = client.hello(&hello("cl-1")).await.unwrap();
        assert_eq!(a.targets.len(), 1);
        assert_eq!(a.next_seq, 1);
        assert_eq!(client.targets(a.generation).await.unwrap(), None);
        assert_eq!(
            client
                .targets(a.generation + 1)
                .await
                .unwrap()
                .map(|x| x.generation),
            Some(a.generation)
        );
        // The controller said it takes CBOR: uploads go binary from here on.
        assert_eq!(client.upload_encoding(), protocol::window::Encoding::Cbor);
        let ack = client.upload(&batch_of("cl-1", &[1, 2])).await.unwrap();
        assert_eq!((ack.accepted, ack.next_seq), (vec![1, 2], 3));
        let ack = client.upload(&batch_of("cl-1", &[2, 3])).await.unwrap();
        assert_eq!((ack.accepted, ack.duplicate), (vec![3], vec![2]));

        // A JSON client alongside, and a Content-Type no one takes (415).
        let json = Client::new(&ctl.url(), ctl.token("cl-1"))
            .unwrap()
            .with_encoding(protocol::window::Encoding::Json);
        json.hello(&hello("cl-1")).await.unwrap();
        assert_eq!(json.upload_encoding(), protocol::window::Encoding::Json);
        let ack = json.upload(&batch_of("cl-1", &[4])).await.unwrap();
        assert_eq!(ack.accepted, vec![4]);
        let body = serde_json::to_vec(&batch_of("cl-1", &[5])).unwrap();
        let err = json
            .upload_encoded(body, protocol::window::Encoding::Cbor)
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(400), "JSON sent as CBOR: {err}");

        // Refusals: not retryable, with the controller's reason.
        let err = client.upload(&batch_of("a-1", &[9])).await.unwrap_err();
        assert_eq!(err.status(), Some(403));
        assert!(!err.is_retryable());
        let bad = Client::new(&ctl.url(), "not-a-token").unwrap();
        match bad.hello(&hello("cl-1")).await.unwrap_err() {
            ClientError::Status {
                status,
                code,
                reason,
            } => {
                assert_eq!((status, code.as_deref()), (401, Some("unauthorized")));
                assert!(reason.contains("unknown token"), "{reason}");
            }
            other => panic!("{other}"),
        }
    });

    // While the controller is down calls fail with a retryable error; after a
    // restart (on a new port here) the probe carries on where it left off.
    ctl.kill9();
    let err = rt
        .block_on(client.targets(0))
        .expect_err("controller is down");
    assert!(err.is_retryable(), "{err}");
    ctl.spawn();
    let client = Client::new(&ctl.url(), ctl.token("cl-1")).unwrap();
    rt.block_on(async {
        let a = client.hello(&hello("cl-1")).await.unwrap();
        assert_eq!(a.next_seq, 5);
    });
}

#[test]
fn a_kept_alive_connection_closed_by_the_server_is_replaced() {
    // A plain TCP server that answers one request per connection and closes
    // it, advertising keep-alive: the client's second call finds the kept
    // connection dead and must retry on a new one.
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        for _ in 0..2 {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let body = br#"{"probes":[]}"#;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(body).unwrap();
            // Closing without `Connection: close`.
        }
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = Client::new(&format!("http://{addr}"), "t").unwrap();
    rt.block_on(async {
        assert!(client.probes().await.unwrap().probes.is_empty());
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert!(client.probes().await.unwrap().probes.is_empty());
    });
    server.join().unwrap();
}
