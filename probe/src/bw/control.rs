//! Reading and writing control frames on a TCP stream, every read bounded by
//! a deadline (a stalled or dripping peer cannot hold a thread past it) and
//! optionally cut short by a stop flag.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::protocol::{self, Message, ProtoError, HEADER_LEN, MAX_PAYLOAD};

/// Longest single wait before the stop flag is looked at again.
const SLICE: Duration = Duration::from_millis(200);

/// Why no message was read.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("timed out")]
    Timeout,
    #[error("stopped")]
    Stopped,
    #[error("connection closed")]
    Closed,
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Proto(#[from] ProtoError),
}

/// Writes one message.
pub fn write_msg(stream: &mut TcpStream, msg: &Message) -> io::Result<()> {
    let mut buf = Vec::with_capacity(64);
    protocol::encode(msg, &mut buf);
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(&buf)
}

/// Fills `buf` before `deadline`.
fn read_full(
    stream: &mut TcpStream,
    buf: &mut [u8],
    deadline: Instant,
    stop: Option<&AtomicBool>,
) -> Result<(), ControlError> {
    let mut got = 0;
    while got < buf.len() {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err(ControlError::Stopped);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ControlError::Timeout);
        }
        stream.set_read_timeout(Some(left.min(SLICE)))?;
        let rest = buf.get_mut(got..).unwrap_or(&mut []);
        match stream.read(rest) {
            Ok(0) => return Err(ControlError::Closed),
            Ok(n) => got += n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(ControlError::Io(e)),
        }
    }
    Ok(())
}

/// Reads one message, all of it before `timeout` has passed.
pub fn read_msg(
    stream: &mut TcpStream,
    timeout: Duration,
    stop: Option<&AtomicBool>,
) -> Result<Message, ControlError> {
    let deadline = Instant::now() + timeout;
    let mut header = [0u8; HEADER_LEN];
    read_full(stream, &mut header, deadline, stop)?;
    let (_, len) = protocol::decode_header(&header)?;
    let mut frame = [0u8; HEADER_LEN + MAX_PAYLOAD];
    frame[..HEADER_LEN].copy_from_slice(&header);
    let payload = frame
        .get_mut(HEADER_LEN..HEADER_LEN + len)
        .ok_or(ProtoError::TooLong(len))?;
    read_full(stream, payload, deadline, stop)?;
    let (msg, _) = protocol::decode(frame.get(..HEADER_LEN + len).unwrap_or(&[]))?;
    Ok(msg)
}
