//! `ab --ci`: the verdict as Markdown for a pull request (pure).

use super::PairVerdict;
use crate::gate::Verdict;

/// The verdict of an `ab` as Markdown for a pull request (`ab --ci`): a headline saying
/// whether anything regressed (wall time or W), then a row per pair, sample and measure (pure).
pub fn ci_markdown(verdicts: &[PairVerdict], report: &str) -> String {
    use std::fmt::Write;
    let regressed = verdicts
        .iter()
        .filter(|v| v.verdict() == Verdict::Regressed)
        .count();
    let mut out = String::from("## clipbench ab\n\n");
    let _ = writeln!(
        out,
        "{}\n",
        match regressed {
            0 => "No regression found.".to_owned(),
            n => format!("**{n} regression(s)**: the candidate is slower beyond the band."),
        }
    );
    out.push_str("| candidate | base | sample | rounds | measure | verdict | change [interval] | p | band | detectable |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|---|\n");
    for v in verdicts {
        let measures = [("wall", &v.change), ("W", &v.cpu_change)];
        for (measure, change) in measures {
            let figures = match change {
                Some(c) => format!(
                    "{:?} | {:+.1}% [{:+.1}%, {:+.1}%] at {:.1}% | {:.3} | ±{:.1}% | {:.1}%",
                    c.verdict,
                    100.0 * c.change,
                    100.0 * c.ci.0,
                    100.0 * c.ci.1,
                    100.0 * c.confidence,
                    c.p_value,
                    100.0 * c.band,
                    100.0 * c.detectable
                ),
                None if measure == "W" => continue,
                None => "not judged (fewer than two rounds with every run valid) | | | |".into(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {measure} | {figures} |",
                v.candidate, v.base, v.sample, v.rounds
            );
        }
    }
    let _ = writeln!(out, "\nReport: `{report}`");
    out
}
