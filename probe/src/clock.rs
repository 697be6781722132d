//! What the probe knows about its own clock: the kernel's error estimates
//! (`adjtimex`), an operator's stated error, and the boot id that tells two probes
//! they read the same kernel clock. One-way delays are only as good as this.
//!
//! The kernel keeps `maxerror` (a bound that grows while the clock is not
//! disciplined, capped at 16 s) and `esterror` (the discipline's estimate) in
//! microseconds. An unsynchronized clock (state `TIME_ERROR` or `STA_UNSYNC` set)
//! is reported with its `maxerror`: `esterror` means nothing without a discipline.

use std::fmt;
use std::io;
use std::time::Duration;

use serde::{Serialize, Serializer};

/// Kernel clock state as `adjtimex` returns it (`TIME_OK` ... `TIME_ERROR`).
pub type ClockState = i32;

const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// The local clock as the kernel (or the operator) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockStatus {
    /// Whether timestamps from this clock may carry the S bit.
    pub synchronized: bool,
    /// Kernel `maxerror`: the worst-case error.
    pub max_error: Duration,
    /// Kernel `esterror`: the estimated error, meaningful only when synchronized.
    pub est_error: Duration,
    /// Kernel `status` bits (`STA_*`).
    pub status_flags: i32,
    /// Return value of `adjtimex` (`TIME_OK`, `TIME_ERROR`, ...).
    pub state: ClockState,
    /// An error stated by the operator, overriding the kernel's view.
    pub stated_error: Option<Duration>,
}

impl ClockStatus {
    /// Reads the kernel clock status with a read-only `adjtimex` (modes = 0).
    pub fn read() -> io::Result<ClockStatus> {
        // SAFETY: `timex` is plain old data; all-zero is a valid value, and
        // modes = 0 asks the kernel to only fill it in.
        let mut tx: libc::timex = unsafe { std::mem::zeroed() };
        tx.modes = 0;
        // SAFETY: `tx` is a valid, exclusively borrowed `timex` for the call.
        let state = unsafe { libc::adjtimex(&mut tx) };
        if state < 0 {
            return Err(io::Error::last_os_error());
        }
        // c_long is i32 on 32-bit targets.
        #[allow(clippy::useless_conversion)]
        let (max_error, est_error) = (i64::from(tx.maxerror), i64::from(tx.esterror));
        Ok(ClockStatus::from_kernel(
            state,
            tx.status,
            micros_to_duration(max_error),
            micros_to_duration(est_error),
        ))
    }

    /// Builds a status from the raw kernel values (what [`ClockStatus::read`] does
    /// after the system call; separate so the rules are testable).
    pub fn from_kernel(
        state: ClockState,
        status_flags: i32,
        max_error: Duration,
        est_error: Duration,
    ) -> ClockStatus {
        let synchronized = state != libc::TIME_ERROR && status_flags & libc::STA_UNSYNC == 0;
        ClockStatus {
            synchronized,
            max_error,
            est_error,
            status_flags,
            state,
            stated_error: None,
        }
    }

    /// The operator's override (e.g. a PTP-disciplined host whose discipline the
    /// kernel does not know about): the clock counts as synchronized with `error`.
    pub fn with_stated_error(mut self, error: Duration) -> ClockStatus {
        self.synchronized = true;
        self.stated_error = Some(error);
        self
    }

    /// The error to announce (STAMP Error Estimate) and to add to one-way bounds:
    /// the stated error if any, else `est_error` when synchronized, else
    /// `max_error`.
    pub fn error(&self) -> Duration {
        match self.stated_error {
            Some(stated) => stated,
            None if self.synchronized => self.est_error,
            None => self.max_error,
        }
    }

    /// This clock as one side of a one-way measurement.
    pub fn side(&self, boot_id: Option<String>) -> ClockSide {
        ClockSide {
            synchronized: self.synchronized,
            error: self.error(),
            boot_id,
        }
    }

    /// Name of the kernel state (`TIME_OK`, `TIME_ERROR`, ...).
    pub fn state_name(&self) -> &'static str {
        state_name(self.state)
    }

    fn error_origin(&self) -> &'static str {
        match self.stated_error {
            Some(_) => "stated by the operator",
            None if self.synchronized => "est_error, clock synchronized",
            None => "max_error, clock unsynchronized",
        }
    }
}

fn state_name(state: ClockState) -> &'static str {
    match state {
        libc::TIME_OK => "TIME_OK",
        libc::TIME_INS => "TIME_INS",
        libc::TIME_DEL => "TIME_DEL",
        libc::TIME_OOP => "TIME_OOP",
        libc::TIME_WAIT => "TIME_WAIT",
        libc::TIME_ERROR => "TIME_ERROR",
        _ => "unknown",
    }
}

const STATUS_NAMES: &[(i32, &str)] = &[
    (libc::STA_PLL, "STA_PLL"),
    (libc::STA_PPSFREQ, "STA_PPSFREQ"),
    (libc::STA_PPSTIME, "STA_PPSTIME"),
    (libc::STA_FLL, "STA_FLL"),
    (libc::STA_INS, "STA_INS"),
    (libc::STA_DEL, "STA_DEL"),
    (libc::STA_UNSYNC, "STA_UNSYNC"),
    (libc::STA_FREQHOLD, "STA_FREQHOLD"),
    (libc::STA_PPSSIGNAL, "STA_PPSSIGNAL"),
    (libc::STA_PPSJITTER, "STA_PPSJITTER"),
    (libc::STA_PPSWANDER, "STA_PPSWANDER"),
    (libc::STA_PPSERROR, "STA_PPSERROR"),
    (libc::STA_CLOCKERR, "STA_CLOCKERR"),
    (libc::STA_NANO, "STA_NANO"),
    (libc::STA_MODE, "STA_MODE"),
    (libc::STA_CLK, "STA_CLK"),
];

fn status_names(flags: i32) -> Vec<&'static str> {
    STATUS_NAMES
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|&(_, name)| name)
        .collect()
}

fn micros_to_duration(micros: i64) -> Duration {
    Duration::from_micros(u64::try_from(micros).unwrap_or(0))
}

fn duration_us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl fmt::Display for ClockStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "synchronized: {}", self.synchronized)?;
        writeln!(f, "state: {} ({})", self.state_name(), self.state)?;
        writeln!(
            f,
            "status: {:#06x} ({})",
            self.status_flags,
            status_names(self.status_flags).join(" ")
        )?;
        writeln!(f, "max_error: {:?}", self.max_error)?;
        writeln!(f, "est_error: {:?}", self.est_error)?;
        match self.stated_error {
            Some(stated) => writeln!(f, "stated_error: {stated:?}")?,
            None => writeln!(f, "stated_error: none")?,
        }
        write!(f, "error: {:?} ({})", self.error(), self.error_origin())
    }
}

#[derive(Serialize)]
struct ClockStatusJson<'a> {
    synchronized: bool,
    state: i32,
    state_name: &'a str,
    status_flags: i32,
    status_names: Vec<&'a str>,
    max_error_us: u64,
    est_error_us: u64,
    stated_error_us: Option<u64>,
    error_us: u64,
    error_origin: &'a str,
}

impl Serialize for ClockStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ClockStatusJson {
            synchronized: self.synchronized,
            state: self.state,
            state_name: self.state_name(),
            status_flags: self.status_flags,
            status_names: status_names(self.status_flags),
            max_error_us: duration_us(self.max_error),
            est_error_us: duration_us(self.est_error),
            stated_error_us: self.stated_error.map(duration_us),
            error_us: duration_us(self.error()),
            error_origin: self.error_origin(),
        }
        .serialize(serializer)
    }
}

/// This boot's id: two probes reporting the same id read the same kernel clock
/// (namespaces of one machine), so there is no clock error between them.
pub fn boot_id() -> Option<String> {
    let raw = std::fs::read_to_string(BOOT_ID_PATH).ok()?;
    parse_boot_id(&raw)
}

fn parse_boot_id(raw: &str) -> Option<String> {
    let id = raw.trim();
    let plausible =
        !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    plausible.then(|| id.to_ascii_lowercase())
}

/// One end of a one-way measurement, as far as its clock goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClockSide {
    /// Whether this side claims a synchronized clock.
    pub synchronized: bool,
    /// The error this side announces (see [`ClockStatus::error`]).
    #[serde(rename = "error_us", serialize_with = "serialize_us")]
    pub error: Duration,
    /// This side's boot id, when known.
    pub boot_id: Option<String>,
}

fn serialize_us<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(duration_us(*d))
}

/// Bound on the error of a one-way delay measured between two clocks: the sum of
/// both sides' errors, or zero when both read the same kernel clock (same boot id).
pub fn one_way_error_bound(local: &ClockSide, remote: &ClockSide) -> Duration {
    match (&local.boot_id, &remote.boot_id) {
        (Some(a), Some(b)) if a == b => Duration::ZERO,
        _ => local.error.saturating_add(remote.error),
    }
}

/// The clocks behind one reply, from both sides' clock descriptions (see
/// [`one_way_error_bound`]).
pub fn clock_sample(local: &ClockSide, remote: &ClockSide) -> protocol::window::ClockSample {
    protocol::window::ClockSample {
        local_synchronized: local.synchronized,
        local_error: local.error,
        remote_synchronized: remote.synchronized,
        remote_error: remote.error,
        one_way_error: one_way_error_bound(local, remote),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIXTEEN_S: Duration = Duration::from_secs(16);

    #[test]
    fn time_error_is_unsynchronized_and_uses_max_error() {
        let s = ClockStatus::from_kernel(libc::TIME_ERROR, 0, SIXTEEN_S, Duration::ZERO);
        assert!(!s.synchronized);
        assert_eq!(s.error(), SIXTEEN_S);
    }

    #[test]
    fn sta_unsync_is_unsynchronized_even_when_time_ok() {
        let s = ClockStatus::from_kernel(
            libc::TIME_OK,
            libc::STA_UNSYNC | libc::STA_PLL,
            SIXTEEN_S,
            Duration::from_micros(5),
        );
        assert!(!s.synchronized);
        assert_eq!(s.error(), SIXTEEN_S);
    }

    #[test]
    fn synchronized_uses_est_error() {
        let s = ClockStatus::from_kernel(
            libc::TIME_OK,
            libc::STA_PLL,
            Duration::from_millis(20),
            Duration::from_micros(150),
        );
        assert!(s.synchronized);
        assert_eq!(s.error(), Duration::from_micros(150));
    }

    #[test]
    fn stated_error_overrides_the_kernel() {
        let s = ClockStatus::from_kernel(libc::TIME_ERROR, libc::STA_UNSYNC, SIXTEEN_S, SIXTEEN_S)
            .with_stated_error(Duration::from_micros(2));
        assert!(s.synchronized);
        assert_eq!(s.error(), Duration::from_micros(2));
        assert!(s.to_string().contains("stated by the operator"));
    }

    #[test]
    fn display_has_one_line_per_field() {
        let s = ClockStatus::from_kernel(libc::TIME_ERROR, libc::STA_UNSYNC, SIXTEEN_S, SIXTEEN_S);
        let text = s.to_string();
        assert_eq!(text.lines().count(), 7, "{text}");
        assert!(text.contains("state: TIME_ERROR (5)"), "{text}");
        assert!(text.contains("STA_UNSYNC"), "{text}");
    }

    #[test]
    fn serializes_microseconds() -> Result<(), serde_json::Error> {
        let s = ClockStatus::from_kernel(libc::TIME_ERROR, libc::STA_UNSYNC, SIXTEEN_S, SIXTEEN_S);
        let v = serde_json::to_value(&s)?;
        assert_eq!(v["synchronized"], false);
        assert_eq!(v["max_error_us"], 16_000_000);
        assert_eq!(v["error_us"], 16_000_000);
        assert_eq!(v["state_name"], "TIME_ERROR");
        Ok(())
    }

    #[test]
    fn reads_the_kernel_clock() -> io::Result<()> {
        let s = ClockStatus::read()?;
        // Whatever the state, the announced error is one of the kernel's values.
        assert!(s.error() == s.max_error || s.error() == s.est_error);
        Ok(())
    }

    fn side(error_us: u64, boot: Option<&str>) -> ClockSide {
        ClockSide {
            synchronized: false,
            error: Duration::from_micros(error_us),
            boot_id: boot.map(str::to_owned),
        }
    }

    #[test]
    fn one_way_bound_sums_both_sides() {
        let bound = one_way_error_bound(&side(100, Some("a")), &side(250, Some("b")));
        assert_eq!(bound, Duration::from_micros(350));
        let bound = one_way_error_bound(&side(100, None), &side(250, None));
        assert_eq!(bound, Duration::from_micros(350));
    }

    #[test]
    fn one_way_bound_is_zero_on_the_same_kernel_clock() {
        let bound = one_way_error_bound(
            &side(16_000_000, Some("abc")),
            &side(16_000_000, Some("abc")),
        );
        assert_eq!(bound, Duration::ZERO);
    }

    #[test]
    fn boot_id_is_parsed_strictly() {
        assert_eq!(
            parse_boot_id("0F1e2d3c-aaaa-bbbb-cccc-0123456789ab\n").as_deref(),
            Some("0f1e2d3c-aaaa-bbbb-cccc-0123456789ab")
        );
        assert_eq!(parse_boot_id("\n"), None);
        assert_eq!(parse_boot_id("not a boot id"), None);
    }

    #[test]
    fn this_machine_has_a_boot_id() {
        if std::path::Path::new(BOOT_ID_PATH).exists() {
            assert!(boot_id().is_some());
        }
    }
}
