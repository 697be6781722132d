//! What the clock daemons say, where they run: chrony (`chronyc -c
//! tracking`) and linuxptp (`pmc 'GET TIME_STATUS_NP'`). They know more than
//! the kernel's `adjtimex` fields: chrony's own bound on the clock's error,
//! and which reference disciplines it.
//!
//! chrony's bound is the one its documentation gives for the maximum error of
//! the system clock: |system time offset| + root delay / 2 + root dispersion.
//! A chrony serving its own clock (`local` reference, 127.127.1.1) or not
//! synchronised disciplines nothing.
//!
//! pmc reports the PTP port's offset from the grandmaster (`master_offset`,
//! ns) for the PHC; phc2sys ties the system clock to that PHC, and its own
//! offset is not visible to pmc, so the error announced adds the kernel's
//! estimate (see [`super::ClockStatus`]).
//!
//! Parsing is pure and tested on the tools' real output; running them is
//! bounded (half a second each) and done by a thread of its own every
//! [`CACHE_FOR`], so no caller (the reflector's packet loop reads the clock
//! every 10 s) ever waits on a daemon, except the very first, once.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex, Once};
use std::time::{Duration, Instant};

use protocol::api::ClockSource;

/// How long a daemon's answer is reused.
const CACHE_FOR: Duration = Duration::from_secs(16);
/// How long a daemon may take to answer.
const TOOL_TIMEOUT: Duration = Duration::from_millis(500);

/// A daemon's view of the clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discipline {
    /// `chrony` or `ptp4l` (read with pmc).
    pub tool: &'static str,
    pub synchronized: bool,
    pub source: ClockSource,
    /// The daemon's bound on the clock's error.
    pub error: Duration,
    /// What it follows, for people (a server's address, a refclock's name,
    /// a grandmaster's identity).
    pub reference: String,
}

/// Parses `chronyc -c tracking`: reference id, name, stratum, ref time,
/// system time offset, last offset, RMS offset, frequency, residual
/// frequency, skew, root delay, root dispersion, update interval, leap
/// status.
pub fn parse_chrony_tracking(csv: &str) -> Result<Discipline, String> {
    let line = csv.lines().next().unwrap_or("").trim();
    let f: Vec<&str> = line.split(',').collect();
    if f.len() < 14 {
        return Err(format!(
            "chronyc tracking: {} fields, expected 14: {line:?}",
            f.len()
        ));
    }
    let secs = |i: usize| -> Result<f64, String> {
        f[i].trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                format!(
                    "chronyc tracking: field {} is not a number: {:?}",
                    i + 1,
                    f[i]
                )
            })
    };
    let (offset, root_delay, root_dispersion) = (secs(4)?, secs(10)?, secs(11)?);
    let ref_id = f[0].trim();
    let name = f[1].trim();
    let leap_ok = f[13].trim() != "Not synchronised";
    let local = ref_id.eq_ignore_ascii_case("7F7F0101");
    let source = if local {
        ClockSource::FreeRunning
    } else {
        reference_source(ref_id)
    };
    let bound = offset.abs() + root_delay.abs() / 2.0 + root_dispersion.abs();
    let reference = match (name.is_empty(), local) {
        (_, true) => "local clock (chrony `local`)".to_owned(),
        (false, _) => name.to_owned(),
        (true, _) => ref_id_text(ref_id).unwrap_or_else(|| ref_id.to_owned()),
    };
    Ok(Discipline {
        tool: "chrony",
        synchronized: leap_ok && !local && ref_id != "00000000",
        source,
        error: Duration::try_from_secs_f64(bound).unwrap_or(Duration::MAX),
        reference,
    })
}

/// A refclock's reference id is its name in ASCII (`PHC0`, `GPS`, `PPS`).
fn ref_id_text(ref_id: &str) -> Option<String> {
    let n = u32::from_str_radix(ref_id, 16).ok()?;
    let text: String = n
        .to_be_bytes()
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| char::from(b))
        .collect();
    (!text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric())).then_some(text)
}

fn reference_source(ref_id: &str) -> ClockSource {
    match ref_id_text(ref_id).as_deref().map(str::to_ascii_uppercase) {
        Some(t) if t.starts_with("PHC") || t.starts_with("PTP") => ClockSource::Ptp,
        Some(t)
            if ["GPS", "PPS", "NMEA", "GNSS", "GNS"]
                .iter()
                .any(|p| t.starts_with(p)) =>
        {
            ClockSource::Gnss
        }
        _ => ClockSource::Ntp,
    }
}

/// Parses pmc's answer to `GET TIME_STATUS_NP` (one `key value` per line).
pub fn parse_pmc_time_status(text: &str) -> Result<Discipline, String> {
    let value = |key: &str| {
        text.lines().find_map(|l| {
            let mut it = l.split_whitespace();
            (it.next() == Some(key)).then(|| it.next().unwrap_or("").to_owned())
        })
    };
    let offset = value("master_offset")
        .ok_or("pmc: no TIME_STATUS_NP answer (is ptp4l running?)")?
        .parse::<i64>()
        .map_err(|_| "pmc: master_offset is not a number".to_owned())?;
    let gm_present = value("gmPresent").as_deref() == Some("true");
    let gm = value("gmIdentity").unwrap_or_default();
    Ok(Discipline {
        tool: "ptp4l",
        synchronized: gm_present,
        source: if gm_present {
            ClockSource::Ptp
        } else {
            ClockSource::FreeRunning
        },
        error: Duration::from_nanos(offset.unsigned_abs()),
        reference: if gm_present {
            format!("grandmaster {gm}")
        } else {
            "no grandmaster".to_owned()
        },
    })
}

/// The commands that ask the daemons (changeable for tests).
#[derive(Debug, Clone)]
pub struct Commands {
    pub chronyc: Vec<String>,
    pub pmc: Vec<String>,
}

impl Default for Commands {
    fn default() -> Self {
        let v = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect();
        Commands {
            chronyc: v(&["chronyc", "-n", "-c", "tracking"]),
            pmc: v(&["pmc", "-u", "-b", "0", "GET TIME_STATUS_NP"]),
        }
    }
}

/// Asks chrony, then ptp4l; the first that answers sensibly. Each is given
/// [`TOOL_TIMEOUT`]; a missing tool costs a failed exec.
pub fn ask(commands: &Commands) -> Option<Discipline> {
    let chrony = run_bounded(&commands.chronyc).and_then(|o| parse_chrony_tracking(&o).ok());
    if chrony.as_ref().is_some_and(|d| d.synchronized) {
        return chrony;
    }
    let ptp = run_bounded(&commands.pmc).and_then(|o| parse_pmc_time_status(&o).ok());
    match (chrony, ptp) {
        (_, Some(p)) if p.synchronized => Some(p),
        (Some(c), _) => Some(c),
        (None, p) => p,
    }
}

/// The latest answer (outer None: not asked yet).
static LATEST: Mutex<Option<Option<Discipline>>> = Mutex::new(None);
static ANSWERED: Condvar = Condvar::new();
static REFRESHER: Once = Once::new();

/// The daemons' latest answer, from a thread that asks them (with the
/// default commands) every [`CACHE_FOR`]. The first call starts it and waits
/// for its first answer, at most two tool timeouts; later calls never wait.
pub fn cached() -> Option<Discipline> {
    let lock = || {
        LATEST
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    REFRESHER.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("clock-daemons".to_string())
            .spawn(move || loop {
                let d = ask(&Commands::default());
                *lock() = Some(d);
                ANSWERED.notify_all();
                std::thread::sleep(CACHE_FOR);
            });
        if spawned.is_err() {
            // No thread: the kernel's view stands alone.
            *lock() = Some(None);
        }
    });
    let first_answer = 2 * TOOL_TIMEOUT + Duration::from_millis(100);
    let (latest, _) = ANSWERED
        .wait_timeout_while(lock(), first_answer, |l| l.is_none())
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    latest.clone().flatten()
}

/// Runs `argv`, returning its stdout when it exits 0 within the timeout.
fn run_bounded(argv: &[String]) -> Option<String> {
    let (program, args) = argv.split_first()?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let deadline = Instant::now() + TOOL_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let mut out = String::new();
    child.stdout.take()?.read_to_string(&mut out).ok()?;
    status.success().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real `chronyc -c tracking` lines: chrony 4.3 serving its own clock
    // (`local stratum 10`, this machine), and shapes of an NTP server and a
    // PHC refclock as chrony prints them.
    const LOCAL: &str = "7F7F0101,,10,1796545754.543220448,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,0.000000000,0.000000000,0.0,Normal\n";
    const NTP: &str = "C612007B,198.18.0.123,3,1796545754.543220448,-0.000012000,0.000003000,0.000020000,-12.345,0.001,0.012,0.004000000,0.000500000,64.2,Normal\n";
    const PHC: &str = "50484330,,1,1796545754.543220448,0.000000040,0.000000010,0.000000030,3.210,0.000,0.001,0.000000001,0.000000500,1.0,Normal\n";
    const UNSYNC: &str = "00000000,,0,0.000000000,0.000000000,0.000000000,0.000000000,0.000,0.000,0.000,1.000000000,1.000000000,0.0,Not synchronised\n";

    #[test]
    fn chrony_local_reference_is_free_running() {
        let d = parse_chrony_tracking(LOCAL).unwrap();
        assert!(!d.synchronized);
        assert_eq!(d.source, ClockSource::FreeRunning);
    }

    #[test]
    fn chrony_ntp_bound_is_offset_plus_half_delay_plus_dispersion() {
        let d = parse_chrony_tracking(NTP).unwrap();
        assert!(d.synchronized);
        assert_eq!(d.source, ClockSource::Ntp);
        assert_eq!(d.reference, "198.18.0.123");
        // 12 us + 4 ms / 2 + 500 us.
        assert_eq!(d.error, Duration::from_micros(2_512));
    }

    #[test]
    fn chrony_phc_refclock_is_ptp() {
        let d = parse_chrony_tracking(PHC).unwrap();
        assert_eq!(d.source, ClockSource::Ptp);
        assert_eq!(d.reference, "PHC0");
        assert!(d.error < Duration::from_micros(1));
    }

    #[test]
    fn chrony_not_synchronised_and_garbage() {
        assert!(!parse_chrony_tracking(UNSYNC).unwrap().synchronized);
        assert!(parse_chrony_tracking("506 Cannot talk to daemon").is_err());
        assert!(parse_chrony_tracking("a,b,c,d,x,f,g,h,i,j,k,l,m,Normal").is_err());
    }

    const PMC: &str = "sending: GET TIME_STATUS_NP
\t90e2ba.fffe.0a1b2c-1 seq 0 RESPONSE MANAGEMENT TIME_STATUS_NP
\t\tmaster_offset              -1234
\t\tingress_time               1796545754543220448
\t\tcumulativeScaledRateOffset +0.000000000
\t\tscaledLastGmPhaseChange    0
\t\tgmTimeBaseIndicator        0
\t\tlastGmPhaseChange          0x0000'0000000000000000.0000
\t\tgmPresent                  true
\t\tgmIdentity                 001122.fffe.334455
";

    #[test]
    fn pmc_time_status() {
        let d = parse_pmc_time_status(PMC).unwrap();
        assert!(d.synchronized);
        assert_eq!(d.source, ClockSource::Ptp);
        assert_eq!(d.error, Duration::from_nanos(1234));
        let lost = PMC.replace("gmPresent                  true", "gmPresent false");
        assert!(!parse_pmc_time_status(&lost).unwrap().synchronized);
        assert!(parse_pmc_time_status("sending: GET TIME_STATUS_NP\n").is_err());
    }

    #[test]
    fn missing_tools_answer_nothing_quickly() {
        let commands = Commands {
            chronyc: vec!["/nonexistent/chronyc".into()],
            pmc: vec!["/nonexistent/pmc".into()],
        };
        let t = Instant::now();
        assert_eq!(ask(&commands), None);
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn the_cached_view_never_waits_after_the_first() {
        let _ = cached();
        let t = Instant::now();
        for _ in 0..100 {
            let _ = cached();
        }
        assert!(t.elapsed() < Duration::from_millis(50), "{:?}", t.elapsed());
    }

    #[test]
    fn a_hung_tool_is_cut_off() {
        let commands = Commands {
            chronyc: vec!["sleep".into(), "5".into()],
            pmc: vec!["false".into()],
        };
        let t = Instant::now();
        assert_eq!(ask(&commands), None);
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}
