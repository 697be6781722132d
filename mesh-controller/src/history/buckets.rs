//! Rollup buckets: the levels (fine, one minute by default; mid, ten
//! minutes; coarse, one hour), which buckets a window lands in, and which rows
//! to read to cover a time range with as few rows as possible: coarse rows for
//! the hours the range covers whole, mid rows for the ten minutes it covers
//! whole within the others, fine rows at its ragged ends, and coarse rows
//! there too where the fine (and mid) rows have already been dropped by
//! retention. A look-back of an hour that starts at minute 1 reads 9 fine, 5
//! mid and 1 coarse row per session direction, not 59 fine and 1 coarse.

/// Length of a coarse bucket: one hour.
pub const COARSE_MS: u64 = 3_600_000;
/// Length of a mid bucket: ten minutes. Kept (and dropped) like fine rows;
/// there is a mid level when the fine bucket is shorter and divides it.
pub const MID_MS: u64 = 600_000;
/// Default length of a fine bucket: one minute.
pub const DEFAULT_FINE_MS: u64 = 60_000;

/// The two bucket lengths in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Levels {
    /// Fine bucket length (ms); divides [`COARSE_MS`].
    pub fine_ms: u64,
}

impl Default for Levels {
    fn default() -> Self {
        Levels {
            fine_ms: DEFAULT_FINE_MS,
        }
    }
}

/// Start of the bucket of length `len` holding `t`.
pub fn floor(t: u64, len: u64) -> u64 {
    t - t % len.max(1)
}

/// Start of the first bucket of length `len` at or after `t`.
pub fn ceil(t: u64, len: u64) -> u64 {
    let f = floor(t, len);
    if f == t {
        t
    } else {
        f.saturating_add(len)
    }
}

/// Rows of one level whose bucket starts in `[from, until)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Bucket length (ms): which level.
    pub level_ms: u64,
    pub from: u64,
    pub until: u64,
}

/// Where the rows of the finer levels begin: fine (and mid) rows before
/// `fine_from` are gone (retention), and mid rows hold every window only from
/// `mid_from` on (a store from before the mid level has none before it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kept {
    pub fine_from: u64,
    pub mid_from: u64,
}

impl Levels {
    /// The mid bucket length, when there is a mid level (see [`MID_MS`]).
    pub fn mid_ms(&self) -> Option<u64> {
        (self.fine_ms < MID_MS && MID_MS.is_multiple_of(self.fine_ms)).then_some(MID_MS)
    }

    /// The buckets a window starting at `start_ms` is added to: (level, bucket
    /// start) for the fine, the mid (if any) and the coarse level.
    pub fn buckets_of(&self, start_ms: u64) -> impl Iterator<Item = (u64, u64)> {
        [
            Some((self.fine_ms, floor(start_ms, self.fine_ms))),
            self.mid_ms().map(|m| (m, floor(start_ms, m))),
            Some((COARSE_MS, floor(start_ms, COARSE_MS))),
        ]
        .into_iter()
        .flatten()
    }

    /// The rows to read for windows that started in `[from, until)`, given
    /// where the finer levels' rows begin (`kept`). The range is
    /// widened to whole fine buckets at both ends (a bucket counts when it
    /// starts in the range's first fine bucket or later and before `until`),
    /// and to whole coarse buckets where only coarse rows are left. A range
    /// that runs to `now` reads the hour in progress from its coarse row: it
    /// holds nothing later than now.
    pub fn plan(&self, from: u64, until: u64, kept: Kept, now: u64) -> Vec<Span> {
        let fine_kept_from = kept.fine_from;
        let from = floor(from, self.fine_ms);
        let until = ceil(until, self.fine_ms);
        // One step per hour: a range must be bounded (callers pass now plus
        // a little for ranges that run to now).
        debug_assert!(until - from < 100 * 365 * 24 * COARSE_MS, "unbounded range");
        if from >= until {
            return Vec::new();
        }
        let mut out: Vec<Span> = Vec::new();
        let mut push = |s: Span| {
            if s.from >= s.until {
                return;
            }
            match out.last_mut() {
                Some(l) if l.level_ms == s.level_ms && l.until == s.from => l.until = s.until,
                _ => out.push(s),
            }
        };
        let mut t = from;
        while t < until {
            let hour = floor(t, COARSE_MS);
            let hour_end = hour.saturating_add(COARSE_MS);
            let whole = t == hour && (until >= hour_end || until >= now);
            if whole || t < fine_kept_from {
                // The whole hour from its row (with fine rows gone, the hour
                // row is the finest left: the range widens to it).
                push(Span {
                    level_ms: COARSE_MS,
                    from: hour,
                    until: hour_end,
                });
                t = hour_end;
            } else if let Some(mid) = self.mid_ms() {
                let m = floor(t, mid);
                let m_end = m.saturating_add(mid);
                let whole = t == m && m >= kept.mid_from && (until >= m_end || until >= now);
                if whole {
                    push(Span {
                        level_ms: mid,
                        from: m,
                        until: m_end,
                    });
                    t = m_end;
                } else {
                    // Fine rows up to the next mid boundary.
                    let end = m_end.min(until);
                    push(Span {
                        level_ms: self.fine_ms,
                        from: t,
                        until: end,
                    });
                    t = end;
                }
            } else {
                let end = hour_end.min(until);
                push(Span {
                    level_ms: self.fine_ms,
                    from: t,
                    until: end,
                });
                t = end;
            }
        }
        out
    }
}

impl Levels {
    /// The rows a series at `step` reads for `[from, until)`: hourly rows
    /// when the step is whole hours; otherwise fine rows, and hourly rows for
    /// the hours whose fine rows retention may have dropped (those before
    /// `fine_kept_from`, rounded out to whole hours).
    pub fn plan_series(&self, from: u64, until: u64, step: u64, fine_kept_from: u64) -> Vec<Span> {
        if from >= until {
            return Vec::new();
        }
        if step.is_multiple_of(COARSE_MS) {
            return vec![Span {
                level_ms: COARSE_MS,
                from: floor(from, COARSE_MS),
                until,
            }];
        }
        let fine_from = ceil(fine_kept_from, COARSE_MS).max(floor(from, self.fine_ms));
        let mut out = Vec::new();
        if from < fine_from {
            out.push(Span {
                level_ms: COARSE_MS,
                from: floor(from, COARSE_MS),
                until: fine_from.min(until),
            });
        }
        if fine_from < until {
            out.push(Span {
                level_ms: self.fine_ms,
                from: fine_from,
                until,
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 60_000;
    const H: u64 = COARSE_MS;

    fn fine(from: u64, until: u64) -> Span {
        Span {
            level_ms: M,
            from,
            until,
        }
    }
    fn coarse(from: u64, until: u64) -> Span {
        Span {
            level_ms: H,
            from,
            until,
        }
    }

    fn mid(from: u64, until: u64) -> Span {
        Span {
            level_ms: MID_MS,
            from,
            until,
        }
    }
    const ALL: Kept = Kept {
        fine_from: 0,
        mid_from: 0,
    };

    #[test]
    fn ragged_ends_read_fine_rows_whole_hours_read_one_row() {
        let l = Levels::default();
        let base = 1000 * H;
        // 10:34 .. 13:23 -> fine 10:34..10:40, mid 10:40..11:00, coarse
        // 11:00..13:00, mid 13:00..13:20, fine 13:20..13:23.
        let plan = l.plan(base + 34 * M + 5, base + 3 * H + 23 * M, ALL, u64::MAX);
        assert_eq!(
            plan,
            vec![
                fine(base + 34 * M, base + 40 * M),
                mid(base + 40 * M, base + H),
                coarse(base + H, base + 3 * H),
                mid(base + 3 * H, base + 3 * H + 20 * M),
                fine(base + 3 * H + 20 * M, base + 3 * H + 23 * M),
            ]
        );
        // Within ten minutes: fine rows only.
        assert_eq!(
            l.plan(base + M, base + 2 * M, ALL, u64::MAX),
            vec![fine(base + M, base + 2 * M)]
        );
        assert!(l.plan(base + 5 * M, base + 5 * M, ALL, u64::MAX).is_empty());
        // Up to now, the hour in progress is one row.
        assert_eq!(
            l.plan(base + 34 * M, base + H + 20 * M, ALL, base + H + 20 * M),
            vec![
                fine(base + 34 * M, base + 40 * M),
                mid(base + 40 * M, base + H),
                coarse(base + H, base + 2 * H)
            ]
        );
        // An hour's look-back from minute 1: 9 fine, 5 mid, 1 coarse row.
        let now = base + H + M;
        let plan = l.plan(base + M, now + 1, ALL, now);
        assert_eq!(
            plan,
            vec![
                fine(base + M, base + 10 * M),
                mid(base + 10 * M, base + H),
                coarse(base + H, base + 2 * H)
            ]
        );
    }

    #[test]
    fn mid_rows_only_from_where_they_hold_every_window() {
        let l = Levels::default();
        let base = 1000 * H;
        let kept = Kept {
            fine_from: 0,
            mid_from: base + 30 * M,
        };
        assert_eq!(
            l.plan(base + 5 * M, base + 55 * M, kept, u64::MAX),
            vec![
                fine(base + 5 * M, base + 30 * M),
                mid(base + 30 * M, base + 50 * M),
                fine(base + 50 * M, base + 55 * M)
            ]
        );
        // No mid level where the fine bucket does not divide ten minutes.
        let odd = Levels { fine_ms: 45_000 };
        assert_eq!(odd.mid_ms(), None);
        assert_eq!(
            odd.plan(base + 45 * 1000, base + 30 * M, ALL, u64::MAX),
            vec![Span {
                level_ms: 45_000,
                from: base + 45 * 1000,
                until: base + 30 * M
            }]
        );
    }

    #[test]
    fn where_fine_rows_are_gone_the_hour_row_stands_in() {
        let l = Levels::default();
        let base = 1000 * H;
        let kept = Kept {
            fine_from: base + H,
            mid_from: 0,
        };
        let plan = l.plan(base + 34 * M, base + H + 35 * M, kept, u64::MAX);
        assert_eq!(
            plan,
            vec![
                coarse(base, base + H),
                mid(base + H, base + H + 30 * M),
                fine(base + H + 30 * M, base + H + 35 * M)
            ]
        );
    }

    #[test]
    fn series_read_fine_rows_where_kept_and_hours_before() {
        let l = Levels::default();
        let base = 1000 * H;
        assert_eq!(
            l.plan_series(base + 30 * M, base + 5 * H, 5 * M, 0),
            vec![fine(base + 30 * M, base + 5 * H)]
        );
        assert_eq!(
            l.plan_series(base + 30 * M, base + 5 * H, H, 0),
            vec![coarse(base, base + 5 * H)]
        );
        assert_eq!(
            l.plan_series(base + 30 * M, base + 5 * H, 5 * M, base + 2 * H + 10 * M),
            vec![coarse(base, base + 3 * H), fine(base + 3 * H, base + 5 * H)]
        );
    }

    #[test]
    fn windows_land_in_one_bucket_of_each_level() {
        let l = Levels { fine_ms: 10_000 };
        assert_eq!(
            l.buckets_of(5 * H + 12_345).collect::<Vec<_>>(),
            [(10_000, 5 * H + 10_000), (MID_MS, 5 * H), (H, 5 * H)]
        );
        let l = Levels { fine_ms: 20 * M };
        assert_eq!(
            l.buckets_of(5 * H + 25 * M).collect::<Vec<_>>(),
            [(20 * M, 5 * H + 20 * M), (H, 5 * H)]
        );
        assert_eq!(
            (floor(59_999, M), ceil(60_001, M), ceil(60_000, M)),
            (0, 2 * M, M)
        );
    }
}
