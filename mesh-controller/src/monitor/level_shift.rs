//! Level shifts in a route's series of window medians, so that a sustained
//! step in one-way delay (traffic took a detour) becomes one event while a
//! slow window or a short burst does not.
//!
//! # Method: a two-window median test
//!
//! The robust analogue of a two-sample test over adjacent windows. For each
//! candidate index `t` with `W` points before it and `W` points from it on:
//!
//! - `before` = median of `x[t-W..t]`, `after` = median of `x[t..t+W]`;
//! - `noise` = a robust standard deviation of the points (see below);
//! - the candidate passes when
//!   1. `|after - before|` exceeds `max(min_shift_ms, min_shift_fraction x
//!      |before|, k_sigma x noise)`;
//!   2. the boundary is at `t`: `x[t]` is closer to `after` than to `before`
//!      and `x[t-1]` closer to `before` than to `after`. This pins the
//!      location, so one step is not found again at `t-1` or `t+1`;
//!   3. the step is sustained: at least `ceil(0.75 W)` of each window lie on
//!      its own side of the midpoint `(before + after) / 2`. So a spike or a
//!      burst of fewer than `ceil(0.75 W)` points (5 for W = 6) is never an
//!      event, even when it is long enough to move a median;
//! - a passing candidate is reported unless another candidate passed in the
//!   `W - 1` indices before it (one event per step).
//!
//! Non-finite values are missing: they are dropped before testing, and the
//! reported index is the point's index in the caller's input.
//!
//! # Where this differs from the method first specified, and why
//!
//! Measured on the synthetic evaluation in [`synthetic`] (2,000 series,
//! `examples/level_shift_eval.rs`):
//!
//! - **Noise.** Specified: 1.4826 x the median absolute deviation of the `2W`
//!   points from their own window's median (pooled). With W = 6 that is 12
//!   deviations from medians fitted to 6 points: biased low and often far
//!   too low by chance, and every such candidate is a false event. Measured:
//!   precision 0.88, recall 0.93 and 520 false events per million points of
//!   step-free series at `k_sigma` 4; 0.96, 0.89 and 120 per million at 6;
//!   no `k_sigma` gave both 0.95 and 0.90. Here `noise` is the larger of that
//!   pooled figure and a standard deviation from successive differences: the
//!   mean of the smallest 80 % of `|x[i] - x[i-1]|` over the test windows
//!   and the `6W` points before them (the difference across the boundary
//!   left out), scaled to a standard deviation for normal noise. Differences
//!   ignore the level, so an earlier step in that stretch is one outlier and
//!   a spike two, both trimmed away; `8W` points and a trimmed mean (rather
//!   than a median) keep the figure from coming out low by chance, which is
//!   what false events in step-free series are made of (2 per million
//!   points with `8W` points, 10 with `4W`, both at `k_sigma` 3.5; the
//!   median of the differences over `4W` gave 190 at 3). The figure is unbiased for normal
//!   noise where the specified one is low, so `k_sigma` counts true
//!   standard deviations. The default, 3.5, is the largest (in steps of
//!   0.25) whose recall stayed at or above 0.92 on four 2,000-series seeds
//!   (0.90 plus a margin for the 200-series unit test's sampling error):
//!   precision 0.99, recall 0.92-0.93, 1-2 false events per million points.
//! - **Suppression.** Specified: "after reporting a shift at `t`, skip
//!   `(t, t+W)`", which makes a decision hang on a chain of earlier decisions
//!   reaching back to the start of the input. Here a candidate is suppressed
//!   by any *passing* candidate in the `W - 1` before it, reported or not,
//!   so once the input holds `x[t-8W+1 .. t+W)` the decision at `t`
//!   depends on that alone.
//!
//! Near the start of the input (fewer than `7W` points before `t`) the
//! noise figure uses the history there is: noisier, so more false events
//! there, but a short series is still examined.
//!
//! # Stability (what the controller relies on)
//!
//! From `8W - 1` points into the input on ([`history_needed`]), whether `t`
//! is reported, and with which `before_ms`/`after_ms`, depends on
//! `x[t-8W+1 .. t+W)` and nothing else. So:
//!
//! - a shift at `t` is reported once `W` points exist from `t` on; every
//!   later run over a longer series reports it again, identically, and never
//!   a second shift for it (from any index: the runs start at the same point);
//! - [`detect_settled`] over any stretch of the series reports exactly the
//!   whole series' shifts that have `8W - 1` points before them in it;
//! - a controller running [`detect_settled`] over its last `H >= 9W - 1`
//!   points (53 for W = 6) after each new one, keeping each `at_ms` once,
//!   gets exactly the whole series' shifts: every candidate is first seen
//!   `H - W` points into a run, with its full history. Running [`detect`]
//!   that way instead gives each candidate near a run's start one more
//!   chance per run with a poorer noise figure: in the evaluation, 60 times
//!   the false events (130 per million points instead of 2).
//!
//! Known miss: a spike exactly two points before a step can pull the
//! boundary onto itself (reported at `t - 2`, outside the ±1 the evaluation
//! accepts); under 1 % of steps in the evaluation.
//!
//! Nothing here reads a clock or the store: the caller passes the points.

/// Tuning of the detector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShiftParams {
    /// Points compared on each side of a candidate change (W).
    pub window: usize,
    /// Smallest shift reported, ms.
    pub min_shift_ms: f64,
    /// ... and at least this fraction of the level before.
    pub min_shift_fraction: f64,
    /// ... and at least this many robust standard deviations (1.4826 x MAD) of the noise.
    /// (The noise figure is described in the module doc.)
    pub k_sigma: f64,
}

impl Default for ShiftParams {
    fn default() -> Self {
        ShiftParams {
            window: 6,
            min_shift_ms: 0.5,
            min_shift_fraction: 0.05,
            k_sigma: 3.5,
        }
    }
}

/// A level shift: the series moved from one level to another at `at_ms`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    /// Time of the first point at the new level.
    pub at_ms: u64,
    /// Index of that point in the input.
    pub index: usize,
    /// Medians of the W points before and the W points from `index` on.
    pub before_ms: f64,
    pub after_ms: f64,
}

impl Shift {
    /// Signed size of the step: positive when the delay rose.
    pub fn delta_ms(&self) -> f64 {
        self.after_ms - self.before_ms
    }
}

/// Scale from the median absolute deviation to a standard deviation for
/// normal noise, so `k_sigma` reads as "standard deviations".
const MAD_TO_SIGMA: f64 = 1.4826;

/// Windows of history before the test windows that the noise estimate also
/// reads: the 2W test points alone leave it too often low by chance, and a
/// step measured against a noise figure low by chance is a false event.
const NOISE_HISTORY: usize = 6;

/// Fraction of the smallest successive differences the noise estimate
/// averages; the rest (a step, spikes) are left out.
const NOISE_KEEP: f64 = 0.8;

/// For normal noise of standard deviation 1, the mean of the smallest 80 %
/// of `|x[i] - x[i-1]|` (a |N(0, 2)|): `sqrt(2) x 2 (phi(0) - phi(q)) / 0.8`
/// with `q = 1.28155`, `P(|Z| < q) = 0.8`. Checked by a test.
const TRIMMED_DIFF_PER_SIGMA: f64 = 0.789_993;

/// Every level shift in `points` ((Unix ms, value ms), in time order), oldest first.
/// A shift at index t is reported only once W points exist from t on (so it is sustained).
///
/// Candidates with fewer than `7W` finite points before them get a noise
/// figure from the history there is, so a shift in the first `8W - 1` points
/// of the input may come out differently in a run that starts earlier; from
/// there on, the answer about `t` depends on `x[t-8W+1 .. t+W)` alone. A
/// caller re-running this over a sliding tail wants [`detect_settled`].
pub fn detect(points: &[(u64, f64)], p: &ShiftParams) -> Vec<Shift> {
    scan(points, p, false)
}

/// The shifts of [`detect`] that have at least [`history_needed`] finite
/// points before them: those judged on a full noise history, the same in
/// every run whose input holds `x[t-8W+1 .. t+W)`. A controller that runs
/// this over its last `H >= 9W - 1` points after each new one and keeps each
/// `at_ms` once gets exactly the whole series' shifts from index `8W - 1` on:
/// none from a run that saw too little history, none twice.
pub fn detect_settled(points: &[(u64, f64)], p: &ShiftParams) -> Vec<Shift> {
    scan(points, p, true)
}

/// Finite points a shift needs before it to be settled: `8W - 1` (the noise
/// figure reads `7W`, the one-event-per-step rule looks `W - 1` further).
pub fn history_needed(p: &ShiftParams) -> usize {
    let w = p.window.max(1);
    w.saturating_mul(NOISE_HISTORY + 2).saturating_sub(1)
}

fn scan(points: &[(u64, f64)], p: &ShiftParams, settled_only: bool) -> Vec<Shift> {
    let w = p.window.max(1);
    // Settled shifts start at `reported`; only candidates from `tested` on
    // (full noise history) can suppress them.
    let reported = if settled_only { history_needed(p) } else { w };
    let tested = if settled_only {
        reported.saturating_sub(w - 1)
    } else {
        w
    };
    // Finite values only, each with its index in the caller's input.
    let kept: Vec<(usize, f64)> = points
        .iter()
        .enumerate()
        .filter(|(_, (_, v))| v.is_finite())
        .map(|(i, (_, v))| (i, *v))
        .collect();
    let x: Vec<f64> = kept.iter().map(|(_, v)| *v).collect();
    let n = x.len();
    if n < reported.saturating_add(w) {
        return Vec::new();
    }
    let sustained = sustained_count(w);
    let mut scratch = Scratch::new(w, n);
    let mut shifts = Vec::new();
    let mut last_passed: Option<usize> = None;
    for (t, &(index, _)) in kept.iter().enumerate().take(n - w + 1).skip(tested) {
        let Some((before, after)) = test_at(&x, t, w, sustained, p, &mut scratch) else {
            continue;
        };
        let suppressed = last_passed.is_some_and(|lp| t - lp < w);
        last_passed = Some(t);
        if suppressed || t < reported {
            continue;
        }
        shifts.push(Shift {
            at_ms: points[index].0,
            index,
            before_ms: before,
            after_ms: after,
        });
    }
    shifts
}

/// `ceil(0.75 W)` without floating point: the points of a window that must
/// sit on its own side of the midpoint.
fn sustained_count(w: usize) -> usize {
    w - w / 4
}

/// Buffers reused across candidates so the scan allocates once.
struct Scratch {
    before: Vec<f64>,
    after: Vec<f64>,
    dev: Vec<f64>,
}

impl Scratch {
    fn new(w: usize, n: usize) -> Self {
        Scratch {
            before: Vec::with_capacity(w),
            after: Vec::with_capacity(w),
            dev: Vec::with_capacity(w.saturating_mul(NOISE_HISTORY + 2).min(n)),
        }
    }
}

/// The three conditions at `t`; `Some((before, after))` when all hold.
/// Cheap checks run first: most candidates fail the boundary condition.
fn test_at(
    x: &[f64],
    t: usize,
    w: usize,
    sustained: usize,
    p: &ShiftParams,
    s: &mut Scratch,
) -> Option<(f64, f64)> {
    let bw = &x[t - w..t];
    let aw = &x[t..t + w];
    s.before.clear();
    s.before.extend_from_slice(bw);
    s.after.clear();
    s.after.extend_from_slice(aw);
    let before = median_in_place(&mut s.before);
    let after = median_in_place(&mut s.after);

    // Boundary at t (strict, so equal levels never pass).
    let first = x[t];
    let last = x[t - 1];
    if (first - after).abs() >= (first - before).abs()
        || (last - before).abs() >= (last - after).abs()
    {
        return None;
    }

    let delta = (after - before).abs();
    let floor = p.min_shift_ms.max(p.min_shift_fraction * before.abs());
    // "Not greater", so a NaN floor (all parameters NaN) rejects.
    if delta.partial_cmp(&floor) != Some(std::cmp::Ordering::Greater) {
        return None;
    }

    // Halves first: the midpoint of two huge finite values must not overflow.
    let mid = before / 2.0 + after / 2.0;
    let up = after > before;
    let after_side = aw.iter().filter(|&&v| (v > mid) == up).count();
    let before_side = bw.iter().filter(|&&v| (v < mid) == up).count();
    if after_side < sustained || before_side < sustained {
        return None;
    }

    s.dev.clear();
    s.dev.extend(bw.iter().map(|v| (v - before).abs()));
    s.dev.extend(aw.iter().map(|v| (v - after).abs()));
    let pooled = MAD_TO_SIGMA * median_in_place(&mut s.dev);
    let noise = pooled.max(difference_noise(x, t, w, &mut s.dev));
    let noise_floor = p.k_sigma * noise;
    // A NaN here (0 x inf) means no usable noise figure: the floors above decide.
    if noise_floor.is_nan() || delta > noise_floor {
        Some((before, after))
    } else {
        None
    }
}

/// Robust standard deviation from successive differences over the test
/// windows and the `NOISE_HISTORY` windows before them (as many of those
/// as the input has), leaving out the difference across the candidate
/// boundary. A difference is blind to the level, so an earlier step in that
/// stretch is one outlier, not a window of inflated deviations, and no
/// median fitted to six points biases it low. The mean of the smallest
/// `NOISE_KEEP` of the `|x[i] - x[i-1]|` drops a step's and a few spikes'
/// differences yet varies far less than their median does, and a noise
/// figure low by chance is what false events are made of.
fn difference_noise(x: &[f64], t: usize, w: usize, dev: &mut Vec<f64>) -> f64 {
    // Clipped at the input's start: fewer points, a noisier figure.
    let lo = t.saturating_sub(w.saturating_mul(NOISE_HISTORY + 1));
    dev.clear();
    dev.extend(
        (lo + 1..t + w)
            .filter(|&i| i != t)
            .map(|i| (x[i] - x[i - 1]).abs()),
    );
    if dev.is_empty() {
        // W = 1 at t = 1: no difference but the boundary's. The caller's
        // pooled figure stands alone (`max` ignores NaN).
        return f64::NAN;
    }
    let keep = ((dev.len() as f64 * NOISE_KEEP).round() as usize).clamp(1, dev.len());
    let (smaller, kth, _) = dev.select_nth_unstable_by(keep - 1, f64::total_cmp);
    let sum = smaller.iter().sum::<f64>() + *kth;
    sum / keep as f64 / TRIMMED_DIFF_PER_SIGMA
}

/// Median of a non-empty slice of finite values (average of the two middle
/// ones for an even length); reorders the slice.
fn median_in_place(v: &mut [f64]) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let k = n / 2;
    let (left, mid, _) = v.select_nth_unstable_by(k, f64::total_cmp);
    let upper = *mid;
    if n % 2 == 1 {
        return upper;
    }
    let lower = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    lower / 2.0 + upper / 2.0
}

/// Synthetic series with known steps and a scorer, shared by the tests and
/// `examples/level_shift_eval.rs`, so the figures in both come from one
/// definition. Deterministic: a seed fixes every series.
#[doc(hidden)]
pub mod synthetic {
    use super::{detect, detect_settled, history_needed, Shift, ShiftParams};
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    /// SplitMix64: tiny, seedable and stable across crate versions, so a seed
    /// means the same series forever.
    #[derive(Debug, Clone)]
    pub struct Rng(u64);

    impl Rng {
        pub fn new(seed: u64) -> Self {
            Rng(seed)
        }

        pub fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in [0, 1).
        pub fn unit(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }

        pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
            lo + (hi - lo) * self.unit()
        }

        /// Uniform in `0..n` (`n > 0`); the modulo bias is negligible here.
        pub fn below(&mut self, n: usize) -> usize {
            (self.next_u64() % n.max(1) as u64) as usize
        }

        /// Standard normal (Box-Muller).
        pub fn gaussian(&mut self) -> f64 {
            let u1 = 1.0 - self.unit(); // (0, 1]: ln stays finite
            let u2 = self.unit();
            (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
        }
    }

    /// What the generator draws from. Defaults are the evaluation's.
    #[derive(Debug, Clone, Copy, PartialEq)]
    pub struct SeriesSpec {
        pub points: usize,
        /// Steps per series: uniform in `0..=max_steps`.
        pub max_steps: usize,
        /// Least distance between two steps, and twice the least distance
        /// of a step from either end of the series.
        pub min_gap: usize,
        /// Starting level, ms: log-uniform in this range.
        pub level_ms: (f64, f64),
        /// Step size, ms: uniform in this range, up or down.
        pub step_ms: (f64, f64),
        /// Lowest level a step down may reach, ms (else the step goes up).
        pub floor_ms: f64,
        /// Noise: standard deviation relative to the current level, uniform
        /// per series in this range.
        pub noise_rel: (f64, f64),
        /// Fraction of series with heavy-tailed spikes.
        pub spiky_fraction: f64,
        /// In a spiky series, chance per point of a spike, uniform per series.
        pub spike_rate: (f64, f64),
        /// A spike multiplies the point by `1 + uniform(spike_rel)`.
        pub spike_rel: (f64, f64),
        /// Time between points, ms.
        pub step_ms_time: u64,
    }

    impl Default for SeriesSpec {
        fn default() -> Self {
            SeriesSpec {
                points: 300,
                max_steps: 3,
                min_gap: 12,
                level_ms: (2.0, 40.0),
                step_ms: (1.0, 20.0),
                floor_ms: 1.0,
                noise_rel: (0.02, 0.05),
                spiky_fraction: 0.5,
                spike_rate: (0.005, 0.03),
                spike_rel: (0.5, 3.0),
                step_ms_time: 10_000,
            }
        }
    }

    /// A series and where its steps really are.
    #[derive(Debug, Clone)]
    pub struct Series {
        pub points: Vec<(u64, f64)>,
        /// Indices of the first point at each new level, ascending.
        pub steps: Vec<usize>,
        /// Each step's size relative to the noise's standard deviation just
        /// before it (how visible it is), in the order of `steps`.
        pub step_snr: Vec<f64>,
    }

    /// One series from `seed`.
    pub fn series(seed: u64, spec: &SeriesSpec) -> Series {
        let mut rng = Rng::new(seed);
        let n = spec.points;
        let margin = spec.min_gap.div_ceil(2);
        let wanted = rng.below(spec.max_steps + 1);
        let mut steps: Vec<usize> = Vec::new();
        // Rejection sampling of positions; bounded, so a spec that leaves no
        // room just yields fewer steps.
        let mut tries = 0;
        while steps.len() < wanted && tries < 1000 && n > 2 * margin {
            tries += 1;
            let at = margin + rng.below(n - 2 * margin + 1);
            if steps.iter().all(|&s| s.abs_diff(at) >= spec.min_gap) {
                steps.push(at);
            }
        }
        steps.sort_unstable();

        let (lo, hi) = spec.level_ms;
        let mut level = (lo.ln() + (hi.ln() - lo.ln()) * rng.unit()).exp();
        let rel = rng.uniform(spec.noise_rel.0, spec.noise_rel.1);
        let spike_rate = if rng.unit() < spec.spiky_fraction {
            rng.uniform(spec.spike_rate.0, spec.spike_rate.1)
        } else {
            0.0
        };
        let mut points = Vec::with_capacity(n);
        let mut step_snr = Vec::with_capacity(steps.len());
        let mut next = steps.iter().peekable();
        for i in 0..n {
            if next.peek().is_some_and(|&&s| s == i) {
                next.next();
                let size = rng.uniform(spec.step_ms.0, spec.step_ms.1);
                let down = rng.unit() < 0.5 && level - size >= spec.floor_ms;
                step_snr.push(size / (rel * level));
                level += if down { -size } else { size };
            }
            let mut v = level * (1.0 + rel * rng.gaussian());
            if spike_rate > 0.0 && rng.unit() < spike_rate {
                v *= 1.0 + rng.uniform(spec.spike_rel.0, spec.spike_rel.1);
            }
            points.push((i as u64 * spec.step_ms_time, v));
        }
        Series {
            points,
            steps,
            step_snr,
        }
    }

    /// Counts over many series.
    #[derive(Debug, Clone, Copy, Default, PartialEq)]
    pub struct Score {
        pub series: usize,
        pub points: usize,
        pub steps: usize,
        pub reported: usize,
        /// Reported within `tolerance` points of a true step (each true step
        /// matched once).
        pub true_pos: usize,
        pub false_pos: usize,
        pub false_neg: usize,
        /// True steps with a report within `W` points (found at all), and
        /// of those, found exactly at the right index.
        pub found_near: usize,
        pub exact: usize,
    }

    impl Score {
        pub fn precision(&self) -> f64 {
            ratio(self.true_pos, self.true_pos + self.false_pos)
        }
        pub fn recall(&self) -> f64 {
            ratio(self.true_pos, self.true_pos + self.false_neg)
        }
        /// Of the steps found within `W` points, the fraction found within
        /// the tolerance: how well a found step is located.
        pub fn located(&self) -> f64 {
            ratio(self.true_pos, self.found_near)
        }
        pub fn add(&mut self, o: &Score) {
            self.series += o.series;
            self.points += o.points;
            self.steps += o.steps;
            self.reported += o.reported;
            self.true_pos += o.true_pos;
            self.false_pos += o.false_pos;
            self.false_neg += o.false_neg;
            self.found_near += o.found_near;
            self.exact += o.exact;
        }
    }

    fn ratio(a: usize, b: usize) -> f64 {
        if b == 0 {
            1.0
        } else {
            a as f64 / b as f64
        }
    }

    /// Matches reports to true steps greedily, nearest first; `near` is the
    /// wider distance for `found_near`.
    pub fn score(truth: &[usize], found: &[Shift], tolerance: usize, near: usize) -> Score {
        let mut s = Score {
            steps: truth.len(),
            reported: found.len(),
            ..Score::default()
        };
        let mut pairs: Vec<(usize, usize, usize)> = Vec::new();
        for (ti, &t) in truth.iter().enumerate() {
            for (fi, f) in found.iter().enumerate() {
                let d = t.abs_diff(f.index);
                if d <= near.max(tolerance) {
                    pairs.push((d, ti, fi));
                }
            }
        }
        pairs.sort_unstable();
        let mut t_used = vec![false; truth.len()];
        let mut f_used = vec![false; found.len()];
        for (d, ti, fi) in pairs {
            if t_used[ti] || f_used[fi] {
                continue;
            }
            t_used[ti] = true;
            f_used[fi] = true;
            s.found_near += 1;
            if d <= tolerance {
                s.true_pos += 1;
            }
            if d == 0 {
                s.exact += 1;
            }
        }
        s.false_neg = s.steps - s.true_pos;
        s.false_pos = s.reported - s.true_pos;
        s
    }

    /// How the evaluation runs the detector over a series.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Run {
        /// [`detect`] once over the whole series.
        Whole,
        /// As a controller does, see [`detect_sliding`].
        Sliding { horizon: usize, settled_only: bool },
    }

    /// The same noise (levels, relative noise, spikes) with no step: every
    /// report is a false event. Returns (events, points).
    pub fn false_events_in_noise(
        n: usize,
        seed: u64,
        points: usize,
        spec: &SeriesSpec,
        p: &ShiftParams,
        run: Run,
    ) -> (usize, usize) {
        let flat = SeriesSpec {
            points,
            max_steps: 0,
            ..*spec
        };
        let (score, _, _) = evaluate(n, seed, &flat, p, run);
        (score.reported, score.points)
    }

    /// Runs the detector the way a controller does: after each new point,
    /// over the last `horizon` points only, keeping each shift the first
    /// time its `at_ms` is seen; [`detect_settled`] or, to show what that
    /// saves, [`detect`].
    pub fn detect_sliding(
        points: &[(u64, f64)],
        p: &ShiftParams,
        horizon: usize,
        settled_only: bool,
    ) -> Vec<Shift> {
        let mut seen: BTreeMap<u64, Shift> = BTreeMap::new();
        for end in 1..=points.len() {
            let start = end.saturating_sub(horizon.max(1));
            let tail = &points[start..end];
            let found = if settled_only {
                detect_settled(tail, p)
            } else {
                detect(tail, p)
            };
            for mut s in found {
                s.index += start;
                seen.entry(s.at_ms).or_insert(s);
            }
        }
        let mut all: Vec<Shift> = seen.into_values().collect();
        all.sort_by_key(|s| s.index);
        all
    }

    /// Generates `n` series from `seed`, runs the detector on each as `run`
    /// says and scores it (tolerance ±1 point). Settled runs are scored on
    /// the steps they can settle (`history_needed` points into the series).
    /// Also returns the time spent detecting, and the visibility (size over
    /// noise) of each true step missed.
    pub fn evaluate(
        n: usize,
        seed: u64,
        spec: &SeriesSpec,
        p: &ShiftParams,
        run: Run,
    ) -> (Score, Duration, Vec<f64>) {
        let mut total = Score::default();
        let mut spent = Duration::ZERO;
        let mut missed_snr = Vec::new();
        let mut seeds = Rng::new(seed);
        for _ in 0..n {
            let s = series(seeds.next_u64(), spec);
            let start = Instant::now();
            let found = match run {
                Run::Whole => detect(&s.points, p),
                Run::Sliding {
                    horizon,
                    settled_only,
                } => detect_sliding(&s.points, p, horizon, settled_only),
            };
            spent += start.elapsed();
            let from = match run {
                Run::Sliding {
                    settled_only: true, ..
                } => history_needed(p),
                _ => 0,
            };
            let steps: Vec<usize> = s.steps.iter().copied().filter(|&t| t >= from).collect();
            let mut one = score(&steps, &found, 1, p.window.max(1));
            for (i, &t) in s.steps.iter().enumerate() {
                if t >= from && !found.iter().any(|f| f.index.abs_diff(t) <= 1) {
                    missed_snr.push(s.step_snr.get(i).copied().unwrap_or(f64::NAN));
                }
            }
            one.series = 1;
            one.points = s.points.len();
            total.add(&one);
        }
        (total, spent, missed_snr)
    }
}

#[cfg(test)]
mod tests {
    use super::synthetic::{evaluate, series, Rng, Run, SeriesSpec};
    use super::*;
    use proptest::prelude::*;

    const T0: u64 = 1_700_000_000_000;

    /// `n` points every 10 s around `level(i)` with uniform noise ±`amp`.
    fn make(n: usize, amp: f64, seed: u64, level: impl Fn(usize) -> f64) -> Vec<(u64, f64)> {
        let mut rng = Rng::new(seed);
        (0..n)
            .map(|i| (T0 + i as u64 * 10_000, level(i) + rng.uniform(-amp, amp)))
            .collect()
    }

    fn p() -> ShiftParams {
        ShiftParams::default()
    }

    /// Where the test steps start: past the `8W - 1 = 47` points a
    /// candidate needs before it.
    const AT: usize = 60;

    #[test]
    fn clean_step_found_at_the_right_index_and_time() {
        let xs = make(AT + 30, 0.3, 1, |i| if i < AT { 10.0 } else { 17.8 });
        let found = detect(&xs, &p());
        assert_eq!(found.len(), 1, "{found:?}");
        let s = found[0];
        assert_eq!(s.index, AT);
        assert_eq!(s.at_ms, T0 + AT as u64 * 10_000);
        assert!((s.before_ms - 10.0).abs() <= 0.3, "{s:?}");
        assert!((s.after_ms - 17.8).abs() <= 0.3, "{s:?}");
        assert!((s.delta_ms() - 7.8).abs() <= 0.6);
    }

    #[test]
    fn step_down_found() {
        let xs = make(AT + 30, 0.3, 2, |i| if i < AT + 5 { 17.8 } else { 10.0 });
        let found = detect(&xs, &p());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].index, AT + 5);
        assert!(found[0].delta_ms() < -7.0);
    }

    #[test]
    fn two_steps_far_apart_both_found() {
        let xs = make(AT + 80, 0.3, 3, |i| match i {
            i if i < AT => 10.0,
            i if i < AT + 40 => 17.8,
            _ => 12.0,
        });
        let idx: Vec<usize> = detect(&xs, &p()).iter().map(|s| s.index).collect();
        assert_eq!(idx, vec![AT, AT + 40]);
    }

    #[test]
    fn two_steps_two_windows_apart_both_found() {
        // The generator's closest steps: 2W apart, each window clean.
        let xs = make(AT + 40, 0.3, 31, |i| match i {
            i if i < AT => 10.0,
            i if i < AT + 12 => 17.8,
            _ => 10.0,
        });
        let idx: Vec<usize> = detect(&xs, &p()).iter().map(|s| s.index).collect();
        assert_eq!(idx, vec![AT, AT + 12]);
    }

    #[test]
    fn the_earliest_report_needs_w_points_from_the_step_on() {
        let xs = make(AT + 30, 0.3, 4, |i| if i < AT { 10.0 } else { 17.8 });
        assert!(detect(&xs[..AT + 5], &p()).is_empty());
        assert_eq!(detect(&xs[..AT + 6], &p()).len(), 1);
    }

    #[test]
    fn a_step_near_the_start_is_found_but_not_settled() {
        // 22 windows, the step at the 13th: found with the history there
        // is; settled only with 8W - 1 = 47 finite points before it.
        let xs = make(22, 0.3, 5, |i| if i < 12 { 4.5 } else { 12.5 });
        let found = detect(&xs, &p());
        assert_eq!(found.iter().map(|s| s.index).collect::<Vec<_>>(), [12]);
        assert!(detect_settled(&xs, &p()).is_empty());
        assert_eq!(history_needed(&p()), 47);
        let ys = make(100, 0.3, 6, |i| if i < 47 { 4.5 } else { 12.5 });
        assert_eq!(detect_settled(&ys, &p()).len(), 1);
        assert!(detect_settled(&ys[1..], &p()).is_empty());
        assert_eq!(detect(&ys[1..], &p()).len(), 1);
    }

    #[test]
    fn spikes_and_short_bursts_are_not_shifts() {
        // A spike of 1 and bursts of 2, 3 and 4 windows (shorter than the
        // 5 of 6 the sustained rule asks for), up and down, far apart.
        for (len, sign) in [(1, 1.0), (2, 1.0), (3, 1.0), (4, 1.0), (1, -1.0), (2, -1.0)] {
            let xs = make(300, 0.3, 5 + len as u64, |i| {
                if (i % 40) >= 20 && (i % 40) < 20 + len {
                    20.0 + sign * 15.0
                } else {
                    20.0
                }
            });
            let found = detect(&xs, &p());
            assert!(found.is_empty(), "burst of {len} ({sign}): {found:?}");
        }
    }

    #[test]
    fn a_burst_long_enough_is_two_shifts() {
        // The rule must reject short bursts because of their length, not
        // because it rejects everything: a 10-window detour is an event out
        // and one back.
        let detour = AT..AT + 10;
        let xs = make(AT + 30, 0.3, 9, |i| {
            if detour.contains(&i) {
                27.8
            } else {
                20.0
            }
        });
        let idx: Vec<usize> = detect(&xs, &p()).iter().map(|s| s.index).collect();
        assert_eq!(idx, vec![AT, AT + 10]);
    }

    #[test]
    fn pure_noise_gives_no_shift() {
        // 2,000 points of gaussian noise, 4 % of a 20 ms level, at a fixed
        // seed. Not every seed passes, and none should be expected to: over
        // 5,000 such series about one in two hundred held a stretch the
        // detector cannot tell from a six-window step (seed 102 has one at
        // index 76: six points 1.9 standard deviations low, in a stretch
        // whose noise looks 45 % smaller than it is; reported, with the
        // return at 82). The rate is the next test's business.
        let mut rng = Rng::new(100);
        let xs: Vec<(u64, f64)> = (0..2000)
            .map(|i| (T0 + i * 10_000, 20.0 * (1.0 + 0.04 * rng.gaussian())))
            .collect();
        let found = detect(&xs, &p());
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn false_events_in_step_free_series_are_rare() {
        // The evaluation's noise (levels, 2-5 % noise, spiky series) with no
        // step: 200,000 points. The large run (examples/level_shift_eval)
        // measures about 2 per million; at that rate more than 2 here has a
        // chance under 1 %.
        let (events, points) = synthetic::false_events_in_noise(
            100,
            9,
            2000,
            &SeriesSpec::default(),
            &p(),
            Run::Whole,
        );
        assert_eq!(points, 200_000);
        assert!(events <= 2, "{events} false events");
    }

    #[test]
    fn every_prefix_reports_the_step_at_the_same_time_and_once() {
        for seed in 0..20 {
            let mut rng = Rng::new(200 + seed);
            let at = AT + rng.below(20);
            let xs: Vec<(u64, f64)> = (0..at + 30)
                .map(|i| {
                    let level = if i < at { 10.0 } else { 17.8 };
                    (
                        T0 + i as u64 * 10_000,
                        level * (1.0 + 0.03 * rng.gaussian()),
                    )
                })
                .collect();
            let full = detect(&xs, &p());
            assert_eq!(full.len(), 1, "seed {seed}: {full:?}");
            for end in 0..=xs.len() {
                let found = detect(&xs[..end], &p());
                assert!(found.len() <= 1, "seed {seed} prefix {end}: {found:?}");
                if let Some(s) = found.first() {
                    assert_eq!(*s, full[0], "seed {seed} prefix {end}");
                }
                // Reported from the first run that has W points from the step on.
                assert_eq!(found.len(), usize::from(end >= full[0].index + 6));
            }
        }
    }

    #[test]
    fn any_stretch_settles_on_the_whole_series_shifts_it_has_history_for() {
        let spec = SeriesSpec::default();
        let need = history_needed(&p());
        for seed in 0..30 {
            let s = series(300 + seed, &spec);
            let full = detect(&s.points, &p());
            for start in (0..150).step_by(5) {
                for end in [start + 60, start + 100, s.points.len()] {
                    let end = end.min(s.points.len());
                    let got: Vec<Shift> = detect_settled(&s.points[start..end], &p())
                        .into_iter()
                        .map(|mut x| {
                            x.index += start;
                            x
                        })
                        .collect();
                    let want: Vec<Shift> = full
                        .iter()
                        .copied()
                        .filter(|x| x.index >= start + need && x.index + 6 <= end)
                        .collect();
                    assert_eq!(got, want, "seed {seed} {start}..{end}");
                }
            }
        }
    }

    #[test]
    fn a_controller_running_over_its_last_points_sees_the_whole_series() {
        // detect_settled over the last 9W - 1 points after each new one,
        // deduplicated by at_ms: the whole series' shifts, each once.
        let spec = SeriesSpec::default();
        let need = history_needed(&p());
        let mut steps = 0;
        for seed in 0..30 {
            let s = series(700 + seed, &spec);
            let want: Vec<Shift> = detect(&s.points, &p())
                .into_iter()
                .filter(|x| x.index >= need)
                .collect();
            steps += want.len();
            let sliding = synthetic::detect_sliding(&s.points, &p(), need + 6, true);
            assert_eq!(sliding, want, "seed {seed}");
        }
        assert!(steps > 20, "the series must have steps to find: {steps}");
    }

    #[test]
    fn a_step_under_each_threshold_is_not_reported() {
        // Each case comes with a control: the same noise and a step over the
        // threshold is found, so "not reported" is about the step's size.
        // Under min_shift_ms: 0.4 ms on a quiet 2 ms line; found at 0.7 ms.
        for (step, want) in [(0.4, 0), (0.7, 1)] {
            let xs = make(AT + 30, 0.01, 10, |i| if i < AT { 2.0 } else { 2.0 + step });
            assert_eq!(detect(&xs, &p()).len(), want, "{step} ms on 2 ms");
        }
        // Under min_shift_fraction: 4 ms on 100 ms; found at 6 ms.
        for (step, want) in [(4.0, 0), (6.0, 1)] {
            let xs = make(
                AT + 30,
                0.05,
                11,
                |i| {
                    if i < AT {
                        100.0
                    } else {
                        100.0 + step
                    }
                },
            );
            assert_eq!(detect(&xs, &p()).len(), want, "{step} ms on 100 ms");
        }
        // Under k_sigma: 1.2 ms on 20 ms with gaussian noise of 0.8 ms (the
        // floor is 2.8 ms, well over the fluctuation of a median of 6);
        // found at 6 ms.
        for seed in 0..20 {
            for (step, want) in [(1.2, 0), (6.0, 1)] {
                let mut rng = Rng::new(400 + seed);
                let xs: Vec<(u64, f64)> = (0..AT as u64 + 30)
                    .map(|i| {
                        let level = if i < AT as u64 { 20.0 } else { 20.0 + step };
                        (T0 + i * 10_000, level + 0.8 * rng.gaussian())
                    })
                    .collect();
                assert_eq!(
                    detect(&xs, &p()).len(),
                    want,
                    "seed {seed}, {step} ms on 20 ms"
                );
            }
        }
    }

    #[test]
    fn nan_and_inf_are_skipped_and_indices_stay_the_callers() {
        let mut xs = make(AT + 30, 0.3, 13, |i| if i < AT { 10.0 } else { 17.8 });
        xs[10].1 = f64::NAN;
        xs[AT - 1].1 = f64::INFINITY;
        xs[AT + 3].1 = f64::NAN;
        let found = detect(&xs, &p());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].index, AT);
        assert_eq!(found[0].at_ms, xs[AT].0);
        // A NaN where the step starts moves it to the next finite point.
        xs[AT].1 = f64::NAN;
        let found = detect(&xs, &p());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].index, AT + 1);
        // Missing points do not count as history: with 47 finite points
        // before the step it is settled, with 46 (one NaN among them) not.
        let mut ys = make(100, 0.3, 14, |i| if i < 47 { 10.0 } else { 17.8 });
        assert_eq!(detect_settled(&ys, &p()).len(), 1);
        ys[5].1 = f64::NAN;
        assert!(detect_settled(&ys, &p()).is_empty());
        assert_eq!(detect(&ys, &p()).len(), 1);
    }

    #[test]
    fn degenerate_inputs() {
        assert!(detect(&[], &p()).is_empty());
        assert!(detect(&[(0, f64::NAN); 50], &p()).is_empty());
        assert!(detect(&[(0, 5.0); 50], &p()).is_empty());
        // W = 0 is W = 1: a plain two-point comparison (after 7 points).
        let xs: Vec<(u64, f64)> = (0..20)
            .map(|i| (i, if i < 10 { 1.0 } else { 3.0 }))
            .collect();
        let w0 = ShiftParams { window: 0, ..p() };
        let w1 = ShiftParams { window: 1, ..p() };
        assert_eq!(detect(&xs, &w0), detect(&xs, &w1));
        assert_eq!(detect(&xs, &w0).len(), 1);
        assert_eq!(detect(&xs, &w0)[0].index, 10);
        let huge = ShiftParams {
            window: usize::MAX,
            ..p()
        };
        assert!(detect(&xs, &huge).is_empty());
    }

    #[test]
    fn precision_and_recall_on_synthetic_series() {
        let (score, _, _) = evaluate(200, 42, &SeriesSpec::default(), &p(), Run::Whole);
        assert_eq!(score.series, 200);
        assert!(score.steps > 200, "{score:?}");
        assert!(score.precision() >= 0.95, "{score:?}");
        assert!(score.recall() >= 0.90, "{score:?}");
    }

    #[test]
    fn the_scorer_counts_what_it_should() {
        let shift = |index| Shift {
            at_ms: 0,
            index,
            before_ms: 0.0,
            after_ms: 1.0,
        };
        let s = synthetic::score(&[50, 100, 200], &[shift(51), shift(103), shift(150)], 1, 6);
        assert_eq!(
            (s.true_pos, s.false_pos, s.false_neg, s.found_near, s.exact),
            (1, 2, 2, 2, 0)
        );
    }

    #[test]
    fn the_difference_noise_is_the_standard_deviation_for_normal_noise() {
        // The constant, by numeric integration of |Z| over its lowest 80 %.
        let density = |z: f64| (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt();
        let (mut mass, mut first_moment, mut z) = (0.0, 0.0, 0.0);
        let h = 1e-5;
        while mass < NOISE_KEEP {
            let m = 2.0 * density(z + h / 2.0) * h;
            mass += m;
            first_moment += (z + h / 2.0) * m;
            z += h;
        }
        let per_sigma = std::f64::consts::SQRT_2 * first_moment / NOISE_KEEP;
        assert!(
            (per_sigma - TRIMMED_DIFF_PER_SIGMA).abs() < 1e-3,
            "{per_sigma}"
        );
        // And on data: over many stretches, the estimate's median is sigma.
        let mut rng = Rng::new(500);
        let x: Vec<f64> = (0..20_000).map(|_| 7.0 + 0.5 * rng.gaussian()).collect();
        let mut dev = Vec::new();
        let mut est: Vec<f64> = (42..x.len() - 6)
            .step_by(48)
            .map(|t| difference_noise(&x, t, 6, &mut dev))
            .collect();
        let m = median_in_place(&mut est);
        assert!((m - 0.5).abs() < 0.02, "{m}");
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => -1e3f64..1e3,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            1 => Just(f64::MAX),
            1 => Just(-f64::MAX),
            1 => Just(0.0),
        ]
    }

    fn param() -> impl Strategy<Value = f64> {
        prop_oneof![
            4 => 0.0f64..10.0,
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(-1.0),
        ]
    }

    proptest! {
        #[test]
        fn never_panics_and_reports_are_well_formed(
            vals in proptest::collection::vec(value(), 0..160),
            window in 0usize..8,
            min_shift_ms in param(),
            min_shift_fraction in param(),
            k_sigma in param(),
        ) {
            let xs: Vec<(u64, f64)> = vals.iter().enumerate().map(|(i, v)| (i as u64 * 7, *v)).collect();
            let p = ShiftParams { window, min_shift_ms, min_shift_fraction, k_sigma };
            let found = detect(&xs, &p);
            let w = window.max(1);
            for s in &found {
                prop_assert!(s.index < xs.len());
                prop_assert_eq!(s.at_ms, xs[s.index].0);
                prop_assert!(xs[s.index].1.is_finite());
                prop_assert!(s.before_ms.is_finite() && s.after_ms.is_finite());
            }
            for pair in found.windows(2) {
                prop_assert!(pair[1].index >= pair[0].index + w);
            }
            // Every prefix agrees with the whole on what it can already see.
            for end in 0..=xs.len() {
                let prefix = detect(&xs[..end], &p);
                prop_assert!(found.len() >= prefix.len());
                prop_assert_eq!(&found[..prefix.len()], &prefix[..]);
            }
        }
    }
}
