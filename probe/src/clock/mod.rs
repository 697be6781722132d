//! What the probe knows about its own clock: the kernel's error estimates
//! (`adjtimex`), what chrony or ptp4l say where they run ([`daemons`]), an
//! operator's stated error, and the boot id that tells two probes they read
//! the same kernel clock. One-way delays are only as good as this.
//!
//! Precedence: a stated error wins; else a daemon that says the clock is
//! synchronized gives the error and the source (for ptp4l plus the kernel's
//! estimate: pmc sees the PHC, not the system clock); else the kernel's view.
//!
//! The kernel keeps `maxerror` (a bound that grows while the clock is not
//! disciplined, capped at 16 s) and `esterror` (the discipline's estimate) in
//! microseconds. An unsynchronized clock (state `TIME_ERROR` or `STA_UNSYNC` set)
//! is reported with its `maxerror`: `esterror` means nothing without a discipline.

pub mod daemons;
pub mod test_clock;

use std::fmt;
use std::io;
use std::time::Duration;

use protocol::api::ClockSource;
use serde::{Serialize, Serializer};

use daemons::Discipline;

/// Kernel clock state as `adjtimex` returns it (`TIME_OK` ... `TIME_ERROR`).
pub type ClockState = i32;

const BOOT_ID_PATH: &str = "/proc/sys/kernel/random/boot_id";

/// The local clock as the kernel (or the operator) describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockStatus {
    /// Whether the kernel says the clock is synchronized (see
    /// [`ClockStatus::is_synchronized`] for what the probe announces).
    pub kernel_synchronized: bool,
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
    /// What chrony or ptp4l say, where one answers.
    pub discipline: Option<Discipline>,
}

impl ClockStatus {
    /// The kernel's view plus what a clock daemon says (cached, see
    /// [`daemons::cached`]).
    pub fn read() -> io::Result<ClockStatus> {
        Ok(ClockStatus::read_kernel()?.with_discipline(daemons::cached()))
    }

    /// Reads the kernel clock status with a read-only `adjtimex` (modes = 0).
    pub fn read_kernel() -> io::Result<ClockStatus> {
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
        let kernel_synchronized = state != libc::TIME_ERROR && status_flags & libc::STA_UNSYNC == 0;
        ClockStatus {
            kernel_synchronized,
            max_error,
            est_error,
            status_flags,
            state,
            stated_error: None,
            discipline: None,
        }
    }

    /// Adds a daemon's view.
    pub fn with_discipline(mut self, discipline: Option<Discipline>) -> ClockStatus {
        self.discipline = discipline;
        self
    }

    /// The daemon's view when it says the clock is synchronized.
    fn synchronized_discipline(&self) -> Option<&Discipline> {
        self.discipline.as_ref().filter(|d| d.synchronized)
    }

    /// Whether timestamps may carry the S bit: stated, a daemon says so, or
    /// the kernel does.
    pub fn is_synchronized(&self) -> bool {
        self.stated_error.is_some()
            || self.synchronized_discipline().is_some()
            || (self.kernel_synchronized && self.discipline.is_none())
    }

    /// What keeps the clock in time, as far as the probe can tell.
    pub fn source(&self) -> ClockSource {
        match (self.synchronized_discipline(), self.stated_error) {
            (Some(d), _) => d.source,
            (None, Some(_)) => ClockSource::Stated,
            (None, None) if self.is_synchronized() => ClockSource::Ntp,
            (None, None) => ClockSource::FreeRunning,
        }
    }

    /// The operator's override (e.g. a PTP-disciplined host whose discipline the
    /// kernel does not know about): the clock counts as synchronized with `error`.
    pub fn with_stated_error(mut self, error: Duration) -> ClockStatus {
        self.stated_error = Some(error);
        self
    }

    /// The error to announce (STAMP Error Estimate) and to add to one-way
    /// bounds: the stated error if any; else a synchronized daemon's bound
    /// (ptp4l's plus the kernel's `est_error`); else `est_error` when the
    /// kernel says synchronized and no daemon says otherwise; else
    /// `max_error`.
    pub fn error(&self) -> Duration {
        if let Some(stated) = self.stated_error {
            return stated;
        }
        match self.synchronized_discipline() {
            Some(d) if d.tool == "ptp4l" => d.error.saturating_add(self.est_error),
            Some(d) => d.error,
            None if self.is_synchronized() => self.est_error,
            None => self.max_error,
        }
    }

    /// This clock as one side of a one-way measurement.
    pub fn side(&self, boot_id: Option<String>) -> ClockSide {
        ClockSide {
            synchronized: self.is_synchronized(),
            error: self.error(),
            boot_id,
        }
    }

    /// Name of the kernel state (`TIME_OK`, `TIME_ERROR`, ...).
    pub fn state_name(&self) -> &'static str {
        state_name(self.state)
    }

    fn error_origin(&self) -> &'static str {
        match (self.stated_error, self.synchronized_discipline()) {
            (Some(_), _) => "stated by the operator",
            (None, Some(d)) if d.tool == "ptp4l" => "ptp4l master_offset plus est_error",
            (None, Some(_)) => "chrony: |offset| + root delay/2 + root dispersion",
            (None, None) if self.is_synchronized() => "est_error, clock synchronized",
            (None, None) => "max_error, clock unsynchronized",
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
        writeln!(f, "synchronized: {}", self.is_synchronized())?;
        writeln!(f, "source: {}", self.source().as_str())?;
        match &self.discipline {
            Some(d) => writeln!(
                f,
                "daemon: {} ({}synchronized, {}, error {:?})",
                d.tool,
                if d.synchronized { "" } else { "not " },
                d.reference,
                d.error
            )?,
            None => writeln!(f, "daemon: none answered (chronyc, pmc)")?,
        }
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
    source: ClockSource,
    daemon: Option<DaemonJson<'a>>,
    kernel_synchronized: bool,
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

#[derive(Serialize)]
struct DaemonJson<'a> {
    tool: &'a str,
    synchronized: bool,
    source: ClockSource,
    error_us: u64,
    reference: &'a str,
}

impl Serialize for ClockStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ClockStatusJson {
            synchronized: self.is_synchronized(),
            source: self.source(),
            daemon: self.discipline.as_ref().map(|d| DaemonJson {
                tool: d.tool,
                synchronized: d.synchronized,
                source: d.source,
                error_us: duration_us(d.error),
                reference: &d.reference,
            }),
            kernel_synchronized: self.kernel_synchronized,
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
/// None under a test clock: this process's clock is then not the kernel's.
pub fn boot_id() -> Option<String> {
    if test_clock::installed().is_some() {
        return None;
    }
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
        assert!(!s.is_synchronized());
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
        assert!(!s.is_synchronized());
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
        assert!(s.is_synchronized());
        assert_eq!(s.error(), Duration::from_micros(150));
    }

    #[test]
    fn stated_error_overrides_the_kernel() {
        let s = ClockStatus::from_kernel(libc::TIME_ERROR, libc::STA_UNSYNC, SIXTEEN_S, SIXTEEN_S)
            .with_stated_error(Duration::from_micros(2));
        assert!(s.is_synchronized());
        assert_eq!(s.error(), Duration::from_micros(2));
        assert!(s.to_string().contains("stated by the operator"));
    }

    fn chrony(synchronized: bool, error_us: u64) -> Option<Discipline> {
        Some(Discipline {
            tool: "chrony",
            synchronized,
            source: ClockSource::Ntp,
            error: Duration::from_micros(error_us),
            reference: "198.18.0.123".into(),
        })
    }

    #[test]
    fn a_synchronized_daemon_gives_the_error_and_source() {
        let kernel =
            ClockStatus::from_kernel(libc::TIME_ERROR, libc::STA_UNSYNC, SIXTEEN_S, SIXTEEN_S);
        let s = kernel.clone().with_discipline(chrony(true, 2_512));
        assert!(s.is_synchronized());
        assert_eq!(s.error(), Duration::from_micros(2_512));
        assert_eq!(s.source(), ClockSource::Ntp);
        let ptp = kernel.clone().with_discipline(Some(Discipline {
            tool: "ptp4l",
            synchronized: true,
            source: ClockSource::Ptp,
            error: Duration::from_nanos(800),
            reference: "grandmaster x".into(),
        }));
        assert_eq!(
            ptp.error(),
            SIXTEEN_S + Duration::from_nanos(800),
            "plus est_error"
        );
        assert_eq!(ptp.source(), ClockSource::Ptp);
    }

    #[test]
    fn an_unsynchronized_daemon_overrules_the_kernel_and_stated_wins() {
        let kernel = ClockStatus::from_kernel(
            libc::TIME_OK,
            libc::STA_PLL,
            Duration::from_millis(20),
            Duration::from_micros(150),
        );
        let s = kernel.with_discipline(chrony(false, 1));
        assert!(!s.is_synchronized());
        assert_eq!(s.error(), Duration::from_millis(20));
        assert_eq!(s.source(), ClockSource::FreeRunning);
        let stated = s.with_stated_error(Duration::from_micros(3));
        assert!(stated.is_synchronized());
        assert_eq!(stated.error(), Duration::from_micros(3));
        assert_eq!(stated.source(), ClockSource::Stated);
    }

    #[test]
    fn display_has_one_line_per_field() {
        let s = ClockStatus::from_kernel(libc::TIME_ERROR, libc::STA_UNSYNC, SIXTEEN_S, SIXTEEN_S);
        let text = s.to_string();
        assert_eq!(text.lines().count(), 9, "{text}");
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
        let s = ClockStatus::read_kernel()?;
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
