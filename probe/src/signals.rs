//! SIGINT and SIGTERM as a flag the blocking loops poll, so the reflector can
//! log its final summary and exit cleanly.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOP.store(true, Ordering::SeqCst);
}

/// The flag set once SIGINT or SIGTERM arrives.
pub fn stop_flag() -> &'static AtomicBool {
    &STOP
}

/// Installs the handler for SIGINT and SIGTERM. Without `SA_RESTART`, so a
/// blocked `recvmsg` returns `EINTR` at once in the thread that got it.
pub fn install() -> io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: sigaction is plain old data; zero is a valid value
        // (empty mask, no flags), then the handler is set.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: `action` is a valid sigaction whose handler only touches an
        // atomic; the old action is not wanted (null).
        let rc = unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}
