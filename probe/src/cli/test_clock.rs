//! The test clock flags shared by `reflect`, `stamp` and `agent`.

use super::super::*;
use probe::clock::test_clock;

/// Test knobs: move this probe's clock (see `probe::clock::test_clock`).
#[derive(Args, Debug, Default)]
#[command(next_help_heading = "Test knobs (never on a real host)")]
pub(crate) struct TestClockArgs {
    /// TEST KNOB: add this offset to every timestamp the probe takes and
    /// puts on the wire, kernel stamps included ("2.5ms", "-300us"). The
    /// probe announces it in its hello and stops claiming the kernel's boot
    /// id, so its data is labelled as test data.
    #[arg(long, value_name = "DUR", allow_hyphen_values = true, value_parser = test_clock::parse_offset)]
    pub(crate) test_clock_offset: Option<i64>,
    /// TEST KNOB: make that offset grow by this much per second ("20ppm",
    /// "-500ppb").
    #[arg(long, value_name = "RATE", allow_hyphen_values = true, value_parser = test_clock::parse_drift)]
    pub(crate) test_clock_drift: Option<i64>,
}

impl TestClockArgs {
    /// Installs the test clock for this process, when asked for.
    pub(crate) fn install(&self, command: &str) {
        let settings = protocol::api::TestClock {
            offset_ns: self.test_clock_offset.unwrap_or(0),
            drift_ppb: self.test_clock_drift.unwrap_or(0),
        };
        if settings == protocol::api::TestClock::default() {
            return;
        }
        test_clock::install(settings, probe::timestamping::raw_realtime_now());
        eprintln!(
            "probe {command}: TEST CLOCK: every timestamp off by {} ns, drifting {} ppb",
            settings.offset_ns, settings.drift_ppb
        );
    }
}
