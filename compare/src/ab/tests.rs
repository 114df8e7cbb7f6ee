//! Tests of the `ab` module.

use super::*;

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
