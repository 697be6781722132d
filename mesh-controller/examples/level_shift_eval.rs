//! Level-shift detector evaluation: runs `monitor::level_shift::detect` over
//! synthetic series with known steps (the generator and scorer the unit test
//! uses, with more series) and prints precision, recall, how well found steps
//! are located and the time per point, so a change to the detector or its
//! defaults is judged on the same figures.
//!
//! usage: level_shift_eval [--series N] [--seed S] [--window W] [--k-sigma K]

use mesh_controller::monitor::level_shift::synthetic::{evaluate, SeriesSpec};
use mesh_controller::monitor::level_shift::ShiftParams;
use std::process::ExitCode;

struct Args {
    series: usize,
    seed: u64,
    params: ShiftParams,
}

fn parse() -> Result<Args, String> {
    let mut a = Args {
        series: 2000,
        seed: 7,
        params: ShiftParams::default(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--series" => a.series = num(&flag, &value()?)?,
            "--seed" => a.seed = num(&flag, &value()?)?,
            "--window" => a.params.window = num(&flag, &value()?)?,
            "--k-sigma" => a.params.k_sigma = num(&flag, &value()?)?,
            "-h" | "--help" => {
                return Err(
                    "usage: level_shift_eval [--series N] [--seed S] [--window W] [--k-sigma K]"
                        .into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: {v:?} is not a valid number"))
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("level_shift_eval: {e}");
            return ExitCode::from(2);
        }
    };
    let spec = SeriesSpec::default();
    let (score, spent, mut missed) = evaluate(args.series, args.seed, &spec, &args.params);
    let per_point_us = spent.as_secs_f64() * 1e6 / score.points.max(1) as f64;
    println!(
        "level shift (two-window median test, W={}): {} series, {} steps: precision {:.3}, recall {:.3}, located within ±1 point {:.2}, {:.2} us per point",
        args.params.window.max(1),
        score.series,
        score.steps,
        score.precision(),
        score.recall(),
        score.located(),
        per_point_us,
    );
    println!(
        "  {} reported: {} true, {} false; {} steps missed; {} found exactly at the step",
        score.reported, score.true_pos, score.false_pos, score.false_neg, score.exact
    );
    // Where the misses are: a step's size over the noise's standard deviation.
    // Steps below k_sigma of the noise are out of reach by design.
    missed.sort_by(f64::total_cmp);
    let below = missed.iter().filter(|&&r| r < args.params.k_sigma).count();
    println!(
        "  missed steps: {} of {} under {} noise standard deviations (not detectable at k_sigma), median size {:.1} sd",
        below,
        missed.len(),
        args.params.k_sigma,
        missed.get(missed.len() / 2).copied().unwrap_or(f64::NAN),
    );
    ExitCode::SUCCESS
}
