//! The benchmark report: figures with their baselines, ratios and goals,
//! rendered as a text table for people and written as JSON for tools.

use std::fmt::Write as _;

use serde::Serialize;

/// The version of the JSON layout below; bumped when a field changes
/// meaning or disappears (adding fields does not bump it).
///
/// 2: a goal bounds the ratio or the value, from above or below
/// (`goal.on`, `goal.max`, `goal.min`), instead of only the ratio from above
/// (`goal.max_ratio`).
pub const REPORT_FORMAT: u32 = 2;

/// What a figure counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Seconds of wall time.
    Seconds,
    /// Rows written per second.
    RowsPerSecond,
    /// Bytes.
    Bytes,
    /// Bytes per op.
    BytesPerOp,
    /// Bytes processed per second.
    BytesPerSecond,
    /// A plain count.
    Count,
}

/// How a figure's ratio to its baseline reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RatioStyle {
    /// "1.85x": the figure is the same kind of thing as the baseline.
    Times,
    /// "9.8%": the figure is a part of the baseline.
    Percent,
}

/// The figure a ratio is taken against.
#[derive(Debug, Clone, Serialize)]
pub struct Baseline {
    /// The baseline figure's id, or a description of it.
    pub id: String,
    /// Its value, in the same unit.
    pub value: f64,
}

/// What a goal bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GoalOn {
    /// The figure's ratio to its baseline.
    Ratio,
    /// The figure's value itself, in its unit.
    Value,
}

/// A bound on a figure's ratio or value.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    /// What is bounded.
    pub on: GoalOn,
    /// The largest acceptable ratio or value, if bounded from above.
    pub max: Option<f64>,
    /// The smallest acceptable ratio or value, if bounded from below.
    pub min: Option<f64>,
    /// The goal in words, with where it comes from.
    pub text: String,
}

impl Goal {
    fn met(&self, x: f64) -> bool {
        self.max.is_none_or(|m| x <= m) && self.min.is_none_or(|m| x >= m)
    }
}

/// One measured number.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// A stable identifier, `what.variant`.
    pub id: String,
    /// What it is, for people.
    pub label: String,
    /// Its unit.
    pub unit: Unit,
    /// The value.
    pub value: f64,
    /// What it is compared with, if anything.
    pub baseline: Option<Baseline>,
    /// `value / baseline.value`.
    pub ratio: Option<f64>,
    /// How to show the ratio.
    pub ratio_style: RatioStyle,
    /// The goal, if the figure has one.
    pub goal: Option<Goal>,
    /// Whether the goal is met.
    pub met: Option<bool>,
}

impl Figure {
    /// A figure without baseline.
    pub fn new(id: impl Into<String>, label: impl Into<String>, unit: Unit, value: f64) -> Figure {
        Figure {
            id: id.into(),
            label: label.into(),
            unit,
            value,
            baseline: None,
            ratio: None,
            ratio_style: RatioStyle::Times,
            goal: None,
            met: None,
        }
    }

    /// Compares the figure with `baseline`.
    pub fn against(mut self, id: impl Into<String>, value: f64, style: RatioStyle) -> Figure {
        self.ratio = (value != 0.0).then(|| self.value / value);
        self.baseline = Some(Baseline {
            id: id.into(),
            value,
        });
        self.ratio_style = style;
        self
    }

    /// Sets a goal: the ratio is at most `max_ratio`.
    pub fn goal(self, max_ratio: f64, text: impl Into<String>) -> Figure {
        self.with_goal(GoalOn::Ratio, Some(max_ratio), None, text)
    }

    /// Sets a goal: the ratio is at least `min_ratio` (for throughputs).
    pub fn goal_at_least(self, min_ratio: f64, text: impl Into<String>) -> Figure {
        self.with_goal(GoalOn::Ratio, None, Some(min_ratio), text)
    }

    /// Sets a goal on the value itself: at most `max`, in the figure's unit.
    pub fn value_at_most(self, max: f64, text: impl Into<String>) -> Figure {
        self.with_goal(GoalOn::Value, Some(max), None, text)
    }

    fn with_goal(
        mut self,
        on: GoalOn,
        max: Option<f64>,
        min: Option<f64>,
        text: impl Into<String>,
    ) -> Figure {
        let goal = Goal {
            on,
            max,
            min,
            text: text.into(),
        };
        self.met = match on {
            GoalOn::Ratio => self.ratio.map(|r| goal.met(r)),
            GoalOn::Value => Some(goal.met(self.value)),
        };
        self.goal = Some(goal);
        self
    }
}

/// The result of one benchmark group.
#[derive(Debug, Clone, Serialize)]
pub struct GroupReport {
    /// The group's name (`--only NAME`).
    pub name: String,
    /// What it measures.
    pub title: String,
    /// The figures, in display order.
    pub figures: Vec<Figure>,
    /// Everything else measured (all runs, per-table bytes, ...).
    pub details: serde_json::Value,
    /// How the figures were obtained.
    pub notes: Vec<String>,
}

/// The machine the benchmark ran on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// `std::thread::available_parallelism`.
    pub cores: usize,
    /// From `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
    /// `rustc --version`, if rustc could be run.
    pub rustc: Option<String>,
    /// The bundled SQLite's version.
    pub sqlite: String,
    /// Operating system and architecture.
    pub os: String,
    /// The kernel release, from `/proc/sys/kernel/osrelease`.
    pub kernel: Option<String>,
    /// `release` or `debug`.
    pub profile: String,
    /// The commit of the work tree, with `-dirty` if it had changes.
    pub git: Option<String>,
    /// Where the benchmark databases were written.
    pub temp_dir: String,
    /// The filesystem type of `temp_dir`, from `/proc/mounts`.
    pub temp_fs: Option<String>,
    /// `/proc/loadavg` when the benchmark started and when it ended: other
    /// work on the machine (a build, another benchmark) makes wall times
    /// noisy, and the disk is shared too.
    pub load_average: [Option<String>; 2],
}

/// A whole run of the benchmark binary.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`REPORT_FORMAT`].
    pub format: u32,
    /// When it ran (UTC, RFC 3339).
    pub date: String,
    /// The machine.
    pub machine: Machine,
    /// `smoke`, `medium` or `large`.
    pub scale: String,
    /// Timed runs per variant (the best counts).
    pub runs: usize,
    /// The workload seed.
    pub seed: u64,
    /// The workload's shape and counts.
    pub workload: serde_json::Value,
    /// One report per group run.
    pub groups: Vec<GroupReport>,
}

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A value in its unit, for the text table.
pub fn show(unit: Unit, v: f64) -> String {
    match unit {
        Unit::Seconds => format!("{v:.3} s"),
        Unit::RowsPerSecond => format!("{} rows/s", thousands(v.round() as u64)),
        Unit::Bytes if v.abs() >= 1024.0 * 1024.0 => format!("{:.2} MiB", v / 1024.0 / 1024.0),
        Unit::Bytes if v.abs() >= 1024.0 => format!("{:.1} KiB", v / 1024.0),
        Unit::Bytes => format!("{v:.0} B"),
        Unit::BytesPerOp => format!("{v:.1} B/op"),
        Unit::BytesPerSecond => format!("{:.0} MiB/s", v / 1024.0 / 1024.0),
        Unit::Count => thousands(v.round() as u64),
    }
}

fn show_ratio(style: RatioStyle, r: f64) -> String {
    match style {
        RatioStyle::Times => format!("{r:.2}x"),
        RatioStyle::Percent => format!("{:.1}%", r * 100.0),
    }
}

impl Report {
    /// The report as text: a header, then per group a table and its notes.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "bae-bench: scale {} (seed {}), best of {} run{}",
            self.scale,
            self.seed,
            self.runs,
            if self.runs == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            out,
            "machine: {} ({} cores), {}, {}, SQLite {}, {} build, git {}",
            m.cpu_model.as_deref().unwrap_or("unknown CPU"),
            m.cores,
            m.os,
            m.rustc.as_deref().unwrap_or("rustc ?"),
            m.sqlite,
            m.profile,
            m.git.as_deref().unwrap_or("?")
        );
        let _ = writeln!(
            out,
            "databases in {} ({}), {}",
            m.temp_dir,
            m.temp_fs.as_deref().unwrap_or("filesystem unknown"),
            self.date
        );
        let load = |l: &Option<String>| l.clone().unwrap_or_else(|| "?".to_owned());
        let _ = writeln!(
            out,
            "load average (1/5/15 min) at start {}, at end {}",
            load(&m.load_average[0]),
            load(&m.load_average[1])
        );
        for g in &self.groups {
            let _ = writeln!(out, "\n== {}: {} ==", g.name, g.title);
            let rows: Vec<[String; 5]> = g
                .figures
                .iter()
                .map(|f| {
                    [
                        f.label.clone(),
                        show(f.unit, f.value),
                        f.baseline
                            .as_ref()
                            .map_or_else(String::new, |b| show(f.unit, b.value)),
                        f.ratio
                            .map_or_else(String::new, |r| show_ratio(f.ratio_style, r)),
                        f.goal.as_ref().map_or_else(String::new, |goal| {
                            let verdict = match f.met {
                                Some(true) => "met",
                                Some(false) => "NOT MET",
                                None => "?",
                            };
                            let bound = |b: f64| match goal.on {
                                GoalOn::Ratio => show_ratio(f.ratio_style, b),
                                GoalOn::Value => show(f.unit, b),
                            };
                            let range = match (goal.min, goal.max) {
                                (Some(lo), Some(hi)) => format!("{}..{}", bound(lo), bound(hi)),
                                (Some(lo), None) => format!(">= {}", bound(lo)),
                                (None, Some(hi)) => format!("<= {}", bound(hi)),
                                (None, None) => String::new(),
                            };
                            format!("{range} {verdict}")
                        }),
                    ]
                })
                .collect();
            let header = ["figure", "value", "baseline", "ratio", "goal"];
            let width: Vec<usize> = (0..5)
                .map(|i| {
                    rows.iter()
                        .map(|r| r[i].chars().count())
                        .chain([header[i].len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let line = |cells: [&str; 5]| {
                let mut l = String::new();
                for (i, c) in cells.iter().enumerate() {
                    let pad = width[i] - c.chars().count();
                    if i == 0 || i == 4 {
                        l.push_str(c);
                        l.push_str(&" ".repeat(pad));
                    } else {
                        l.push_str(&" ".repeat(pad));
                        l.push_str(c);
                    }
                    l.push_str("  ");
                }
                l.trim_end().to_owned()
            };
            let _ = writeln!(out, "{}", line(header));
            let _ = writeln!(
                out,
                "{}",
                width
                    .iter()
                    .map(|w| "-".repeat(*w))
                    .collect::<Vec<_>>()
                    .join("  ")
            );
            for r in &rows {
                let _ = writeln!(out, "{}", line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
            }
            if !g.notes.is_empty() {
                let _ = writeln!(out, "\nnotes:");
                for n in &g.notes {
                    let _ = writeln!(out, "  - {n}");
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_goals_and_units_render() {
        let f = Figure::new("t.recorded", "recorded", Unit::Seconds, 3.0)
            .against("t.plain", 2.0, RatioStyle::Times)
            .goal(2.0, "at most 2x");
        assert_eq!(f.ratio, Some(1.5));
        assert_eq!(f.met, Some(true));
        let g = Figure::new("m", "meta", Unit::Bytes, 30.0)
            .against("data", 100.0, RatioStyle::Percent)
            .goal(0.15, "at most 15%");
        assert_eq!(g.met, Some(false));
        let h = Figure::new("r", "rows/s", Unit::RowsPerSecond, 40.0)
            .against("raw", 100.0, RatioStyle::Times)
            .goal_at_least(0.5, "at least half");
        assert_eq!(h.met, Some(false));
        let v = Figure::new("t", "boot", Unit::Seconds, 0.4).value_at_most(1.0, "under 1 s");
        assert_eq!((v.ratio, v.met), (None, Some(true)));
        assert_eq!(show(Unit::BytesPerSecond, 3.0 * 1024.0 * 1024.0), "3 MiB/s");
        assert_eq!(show(Unit::Count, 1_234_567.0), "1,234,567");
        assert_eq!(show(Unit::Bytes, 3.0 * 1024.0 * 1024.0), "3.00 MiB");
        assert_eq!(show_ratio(RatioStyle::Percent, 0.098), "9.8%");
    }
}
