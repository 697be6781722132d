//! The spool writer thread: every window a session cuts is numbered and
//! written (fsynced) to the on-disk [`Spool`] at once, whatever the uploads
//! are doing, and the main loop is told so it can try an upload. Sessions
//! also report their end through it, so the loop learns of an end only once
//! that session's last window is spooled.

use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use protocol::api::{Target, WindowUpload};
use tokio::sync::mpsc::UnboundedSender;

use super::log::log;
use super::spool::Spool;
use super::summary::Summary;
use crate::sender::WindowCut;

/// From the session threads to the spool writer.
pub(super) enum WriterMsg {
    Window {
        target: String,
        ssid: u16,
        cut: Box<WindowCut>,
    },
    Ended {
        target: Target,
        error: Option<String>,
    },
}

/// From the spool writer to the main loop.
pub(super) enum LoopMsg {
    /// A window was spooled: time to try an upload.
    Spooled,
    /// A session ended (its windows are all spooled by then).
    Ended {
        target: Target,
        error: Option<String>,
    },
}

/// The spool and the counters, shared by the spool writer thread (which
/// writes every window as soon as it is cut) and the main loop (which
/// uploads and deletes).
pub(super) struct Store {
    pub spool: Spool,
    pub summary: Summary,
    /// The spool was full at the last window (warned once per episode).
    full: bool,
    spool_dir: PathBuf,
    max_bytes: u64,
}

impl Store {
    pub fn new(spool: Spool, probe: &str, spool_dir: PathBuf, max_bytes: u64) -> Store {
        Store {
            spool,
            summary: Summary {
                probe: probe.to_owned(),
                ..Summary::default()
            },
            full: false,
            spool_dir,
            max_bytes,
        }
    }
}

pub(super) type SharedStore = Arc<Mutex<Store>>;

pub(super) fn lock(store: &SharedStore) -> MutexGuard<'_, Store> {
    store.lock().unwrap_or_else(|e| e.into_inner())
}

/// The thread's body: numbers and spools each window, in the order cut,
/// then tells the main loop; ends when every sender is gone.
pub(super) fn spool_writer(
    rx: mpsc::Receiver<WriterMsg>,
    store: SharedStore,
    out: UnboundedSender<LoopMsg>,
) {
    for msg in rx {
        match msg {
            WriterMsg::Window { target, ssid, cut } => {
                spool_window(&mut lock(&store), target, ssid, *cut);
                let _ = out.send(LoopMsg::Spooled);
            }
            WriterMsg::Ended { target, error } => {
                let _ = out.send(LoopMsg::Ended { target, error });
            }
        }
    }
}

fn millis(t: Duration) -> u64 {
    u64::try_from(t.as_millis()).unwrap_or(u64::MAX)
}

/// Numbers a window and spools it.
fn spool_window(st: &mut Store, target: String, ssid: u16, cut: WindowCut) {
    st.summary.windows_cut += 1;
    let sent = cut.window.counters.sent;
    st.summary.packets_sent += sent;
    let start_unix_ms = millis(cut.start);
    let duration_ms = millis(cut.duration).max(1);
    let timestamping = cut.window.sources.weakest();
    let window = cut.window;
    let pushed = st.spool.push(|seq| {
        let upload = WindowUpload {
            seq,
            target,
            start_unix_ms,
            duration_ms,
            window: &window,
            timestamping,
            ssid: Some(ssid),
        };
        serde_json::to_vec(&upload).unwrap_or_default()
    });
    match pushed {
        Ok(Some(_)) => {
            st.summary.windows_spooled += 1;
            st.summary.packets_sent_spooled += sent;
            if st.full {
                st.full = false;
                log(&format!(
                    "spool has room again; {} windows dropped in all",
                    st.spool.dropped
                ));
            }
        }
        Ok(None) => {
            st.summary.windows_dropped = st.spool.dropped;
            if !st.full {
                st.full = true;
                log(&format!(
                    "WARNING: spool full ({} bytes in {}, bound {} bytes): dropping NEW windows \
                     (the oldest are kept and replayed first); {} dropped so far",
                    st.spool.bytes(),
                    st.spool_dir.display(),
                    st.max_bytes,
                    st.spool.dropped
                ));
            }
        }
        Err(e) => {
            st.summary.windows_lost += 1;
            log(&format!(
                "ERROR: cannot write a window to the spool {}: {e}; {} windows lost so far",
                st.spool_dir.display(),
                st.summary.windows_lost
            ));
        }
    }
}
