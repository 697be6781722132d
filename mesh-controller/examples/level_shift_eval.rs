//! Level-shift detector evaluation: runs `monitor::level_shift::detect` over
//! synthetic series with known steps (the generator and scorer the unit test
//! uses, with more series) and prints precision, recall, how well found steps
//! are located, the time per point, and false events in step-free series, so
//! a change to the detector or its defaults is judged on the same figures.
//! Then the same again run the way a controller runs it: after each new
//! point, over its last H points only, deduplicated by `at_ms`, with
//! `detect_settled` (as it should) and with `detect` (what that saves).
//!
//! usage: level_shift_eval [--series N] [--seed S] [--window W] [--k-sigma K] [--horizon H,...]

use mesh_controller::monitor::level_shift::synthetic::{
    evaluate, false_events_in_noise, Run, SeriesSpec,
};
use mesh_controller::monitor::level_shift::ShiftParams;
use std::io::Write;
use std::process::ExitCode;

const USAGE: &str =
    "usage: level_shift_eval [--series N] [--seed S] [--window W] [--k-sigma K] [--horizon H,...]";

struct Args {
    series: usize,
    seed: u64,
    params: ShiftParams,
    /// Horizons for the controller-like runs; empty: 9W + 4 (at least the
    /// 9W - 1 the module doc asks for). Shorter ones find nothing.
    horizons: Vec<usize>,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        series: 2000,
        seed: 7,
        params: ShiftParams::default(),
        horizons: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--series" => a.series = num(&flag, &value()?)?,
            "--seed" => a.seed = num(&flag, &value()?)?,
            "--window" => a.params.window = num(&flag, &value()?)?,
            "--k-sigma" => a.params.k_sigma = num(&flag, &value()?)?,
            "--horizon" => {
                a.horizons = value()?
                    .split(',')
                    .map(|h| num(&flag, h))
                    .collect::<Result<_, _>>()?
            }
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if a.horizons.is_empty() {
        let w = a.params.window.max(1);
        a.horizons = vec![9 * w + 4];
    }
    Ok(a)
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
}

fn per_million(events: usize, points: usize) -> f64 {
    events as f64 * 1e6 / points.max(1) as f64
}

fn run(args: &Args, out: &mut impl Write) -> std::io::Result<()> {
    let spec = SeriesSpec::default();
    let p = &args.params;
    let w = p.window.max(1);
    let (score, spent, mut missed) = evaluate(args.series, args.seed, &spec, p, Run::Whole);
    let per_point_us = spent.as_secs_f64() * 1e6 / score.points.max(1) as f64;
    writeln!(
        out,
        "level shift (two-window median test, W={w}): {} series, {} steps: precision {:.3}, recall {:.3}, located within ±1 point {:.2}, {:.2} us per point",
        score.series,
        score.steps,
        score.precision(),
        score.recall(),
        score.located(),
        per_point_us,
    )?;
    writeln!(
        out,
        "  {} reported: {} true, {} false; {} steps missed; {} found exactly at the step",
        score.reported, score.true_pos, score.false_pos, score.false_neg, score.exact
    )?;
    // Where the misses are: a step's size over the noise's standard deviation.
    missed.sort_by(f64::total_cmp);
    let below = missed.iter().filter(|&&r| r < p.k_sigma).count();
    writeln!(
        out,
        "  missed steps: {} of {} smaller than k_sigma = {} noise standard deviations; median missed size {:.1} sd",
        below,
        missed.len(),
        p.k_sigma,
        missed.get(missed.len() / 2).copied().unwrap_or(f64::NAN),
    )?;
    // What an operator lives with: series that never step. Same noise
    // model, 2,000 points per series.
    let noise_seed = args.seed ^ 0x5eed;
    let (events, points) =
        false_events_in_noise(args.series, noise_seed, 2000, &spec, p, Run::Whole);
    writeln!(
        out,
        "  step-free series: {events} false events in {points} points ({:.1} per million)",
        per_million(events, points)
    )?;
    // Sliding runs cost H times more; a quarter of the series is plenty.
    let n = (args.series / 4).max(1);
    for &horizon in &args.horizons {
        for (settled_only, name) in [(true, "detect_settled"), (false, "detect")] {
            let run = Run::Sliding {
                horizon,
                settled_only,
            };
            let (s, _, _) = evaluate(n, args.seed, &spec, p, run);
            let (events, points) = false_events_in_noise(n, noise_seed, 2000, &spec, p, run);
            writeln!(
                out,
                "  {name} over the last {horizon} points after each new one, deduplicated by at_ms ({n} series, {} steps): precision {:.3}, recall {:.3}; step-free {:.1} false events per million points",
                s.steps,
                s.precision(),
                s.recall(),
                per_million(events, points),
            )?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("level_shift_eval: {e}");
            return ExitCode::from(2);
        }
    };
    let stdout = std::io::stdout();
    match run(&args, &mut stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not worth a panic.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("level_shift_eval: {e}");
            ExitCode::from(2)
        }
    }
}
