//! `ab --ci`: the verdict as Markdown for a pull request (pure).

use super::PairVerdict;
use crate::gate::Verdict;

/// The verdict of an `ab` as Markdown for a pull request (`ab --ci`): a headline saying
/// whether anything regressed, then one row per pair and sample (pure).
pub fn ci_markdown(verdicts: &[PairVerdict], report: &str) -> String {
    use std::fmt::Write;
    let regressed = verdicts
        .iter()
        .filter(|v| {
            v.change
                .as_ref()
                .is_some_and(|c| c.verdict == Verdict::Regressed)
        })
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
    out.push_str("| candidate | base | sample | rounds | verdict | change [95% CI] | p | band | detectable |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    for v in verdicts {
        let figures = match &v.change {
            Some(c) => format!(
                "{:?} | {:+.1}% [{:+.1}%, {:+.1}%] | {:.3} | ±{:.1}% | {:.1}%",
                c.verdict,
                100.0 * c.change,
                100.0 * c.ci.0,
                100.0 * c.ci.1,
                c.p_value,
                100.0 * c.band,
                100.0 * c.detectable
            ),
            None => "not judged (fewer than two rounds with every run valid) | | | |".into(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {figures} |",
            v.candidate, v.base, v.sample, v.rounds
        );
    }
    let _ = writeln!(out, "\nReport: `{report}`");
    out
}
