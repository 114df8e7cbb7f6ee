//! Tests of the `ab` module.

use super::*;
use crate::gate::Verdict;
use crate::record::RunStatus;

#[test]
fn every_round_is_balanced() {
    let order = schedule(2, 3, 5, 1);
    assert_eq!(order.len(), 2 * 3 * 5 * 4);
    for block in order.chunks(4) {
        let sides: Vec<usize> = block.iter().map(|o| o.1 % 2).collect();
        assert!(sides == [0, 1, 1, 0] || sides == [1, 0, 0, 1], "{sides:?}");
        assert!(block.iter().all(|o| o.0 == block[0].0 && o.2 == block[0].2));
        assert_eq!(block[0].1 / 2, block[3].1 / 2, "one pair per block");
    }
    let abba = order.chunks(4).filter(|b| b[0].1 % 2 == 0).count();
    assert!(abba > 5 && abba < 25, "both orders occur: {abba} of 30");
    assert_eq!(order, schedule(2, 3, 5, 1), "seeded");
}

#[test]
fn engine_targets_become_commands_on_each_binary() {
    let side = Side::Build {
        label: "abc".into(),
        sha: Some("abc".into()),
        binary: "/cache/abc/clipbench-engine".into(),
    };
    let auto = TargetConfig::from_spec("engine:auto").unwrap().unwrap();
    let targets = targets_for(&side, &[auto]);
    let TargetConfig::Command { name, command, .. } = &targets[0] else {
        panic!("{targets:?}")
    };
    assert_eq!(name, "abc engine:auto");
    assert_eq!(
        command[..5],
        [
            "/cache/abc/clipbench-engine",
            "run",
            "{input}",
            "-o",
            "{outdir}"
        ]
    );
    assert!(command.contains(&"--strategy=auto".to_owned()));
}

/// The runs of `order` (one pair, one sample): A takes 5 s and 9 s of W, B `slower` times
/// that in wall time and `slower_cpu` in W, each run jittered by ±0.5 %.
fn runs_of(order: &[(usize, usize, usize)], slower: f64, slower_cpu: f64) -> Vec<RunRecord> {
    let fixture: Results =
        serde_json::from_str(include_str!("../../tests/fixtures/two-targets.json")).unwrap();
    order
        .iter()
        .enumerate()
        .map(|(position, &(_, side, _))| {
            let jitter = 1.0 + 0.005 * ((position * 7 % 5) as f64 - 2.0) / 2.0;
            let (wall, cpu) = if side % 2 == 1 {
                (slower, slower_cpu)
            } else {
                (1.0, 1.0)
            };
            RunRecord {
                target: ["A", "B"][side % 2].into(),
                sample: "s".into(),
                order: position,
                status: RunStatus::Ok,
                wall_s: 5.0 * wall * jitter,
                work_cpu_s: Some(9.0 * cpu * jitter),
                ..fixture.runs[0].clone()
            }
        })
        .collect()
}

fn pair() -> Vec<TargetConfig> {
    ["A", "B"]
        .iter()
        .map(|name| TargetConfig::Command {
            name: (*name).into(),
            command: vec!["true".into()],
            shell: false,
            timeout_s: 1.0,
        })
        .collect()
}

#[test]
fn wall_time_and_w_are_judged_and_either_regressing_is_a_regression() {
    let order = schedule(1, 1, 6, 4);
    let samples = ["s".to_owned()];
    let judged = |wall: f64, cpu: f64| {
        let runs = runs_of(&order, wall, cpu);
        judge(&runs, &samples, &order, &pair(), (0.01, 0.05)).remove(0)
    };
    let same = judged(1.0, 1.0);
    assert_eq!(same.rounds, 6);
    assert_eq!(same.verdict(), Verdict::Unchanged, "{same:?}");
    let more_work = judged(1.0, 1.10);
    assert_eq!(
        more_work.change.as_ref().unwrap().verdict,
        Verdict::Unchanged
    );
    assert_eq!(more_work.verdict(), Verdict::Regressed, "W alone regressed");
    let markdown = ci_markdown(&[more_work], "reports/x/index.html");
    assert!(markdown.contains("**1 regression(s)**"), "{markdown}");
    assert!(markdown.contains("| W | Regressed |"), "{markdown}");
    let slower = judged(1.10, 1.10);
    assert!((slower.change.as_ref().unwrap().change - 0.10).abs() < 0.01);
}

#[test]
fn resolve_stops_only_at_the_end_of_a_look_once_told() {
    let order = schedule(1, 1, 20, 5);
    let looks = gate::looks(5, 5, 20, 0.05);
    let runs = runs_of(&order, 1.10, 1.10);
    let samples = ["s".to_owned()];
    let told = |upto: usize| {
        let runs = &runs[..upto];
        can_stop(runs, &order, &looks, |alpha| {
            judge(runs, &samples, &order, &pair(), (0.01, alpha))
                .iter()
                .all(|v| gate::resolved(&v.changes(), 0.05))
        })
    };
    // 4 runs per round: the first look ends after run 20.
    assert!(!told(19), "mid-round");
    assert!(told(20), "a 10 % slowdown is told at the first look");
    assert!(!told(24), "round 6 is no look");
    let noisy: Vec<RunRecord> = runs_of(&order, 1.0, 1.0)
        .into_iter()
        .enumerate()
        .map(|(i, mut r)| {
            r.wall_s *= [1.0, 1.3, 0.8, 1.2, 0.9][i % 5];
            r.work_cpu_s = r.work_cpu_s.map(|w| w * [1.2, 0.9, 1.1, 0.8, 1.0][i % 5]);
            r
        })
        .collect();
    let noisy_told = can_stop(&noisy[..20], &order, &looks, |alpha| {
        judge(&noisy[..20], &samples, &order, &pair(), (0.01, alpha))
            .iter()
            .all(|v| gate::resolved(&v.changes(), 0.05))
    });
    assert!(!noisy_told, "±20 % noise cannot rule out 5 % in 5 rounds");
}

#[test]
fn ab_runs_enter_the_history_under_their_target_at_their_side_commit() {
    let sides = [
        Side::Build {
            label: "0123456789".into(),
            sha: Some("0123456789abcdef0123456789abcdef01234567".into()),
            binary: "/cache/0123/clipbench-engine".into(),
        },
        Side::Build {
            label: "worktree-fedcba9876-dirty".into(),
            sha: None,
            binary: "/cache/worktree/clipbench-engine".into(),
        },
    ];
    let auto = TargetConfig::from_spec("engine:auto").unwrap().unwrap();
    let mut results: Results =
        serde_json::from_str(include_str!("../../tests/fixtures/two-targets.json")).unwrap();
    let commands: Vec<TargetConfig> = sides
        .iter()
        .flat_map(|s| targets_for(s, std::slice::from_ref(&auto)))
        .collect();
    results.targets = commands
        .iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
    results.runs[0].target = commands[0].name().to_owned();
    results.runs[1].target = commands[1].name().to_owned();
    let identify = identify(&results, &sides);
    let (base, candidate) = (identify(&results.runs[0]), identify(&results.runs[1]));
    assert_eq!(base.target, "engine:auto");
    assert_eq!(candidate.target, "engine:auto");
    assert_eq!(
        (base.commit.as_deref(), base.dirty),
        (Some("0123456789"), false)
    );
    assert_eq!(
        (candidate.commit.as_deref(), candidate.dirty),
        (Some("fedcba9876"), true)
    );
    assert_eq!(
        base.config_hash, candidate.config_hash,
        "one series across builds"
    );
}
