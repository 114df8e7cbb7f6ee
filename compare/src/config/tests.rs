//! Tests of the `config` module.

use super::*;
use clipbench_engine::Profile;

#[test]
fn the_embedded_default_parses() {
    let config = Config::load(None).unwrap();
    let names: Vec<&str> = config.targets.iter().map(|t| t.name()).collect();
    assert_eq!(
        names,
        [
            "serial",
            "python-optimized",
            "adaptive",
            "auto",
            "auto-reuse",
            "smart",
            "original",
            "optimized"
        ]
    );
    assert!(matches!(
        config.targets[4],
        TargetConfig::Engine {
            setup: Setup {
                reuse_overlaps: true,
                ..
            },
            ..
        }
    ));
    assert_eq!(
        config.run.samples,
        ["bbb-720p-60s", "bbb-720p-10m", "bbb-720p-10m@fibre"]
    );
    assert_eq!(config.run.targets_on["bbb-720p-10m@fibre"], ["smart"]);
    assert_eq!(config.run.baseline.as_deref(), Some("python-optimized"));
    // Over a link the backends' formula downloads first, as the backends do.
    assert!(matches!(
        config.targets[1],
        TargetConfig::Engine {
            download_first: true,
            ..
        }
    ));
    assert!(matches!(
        config.targets[5],
        TargetConfig::Engine {
            setup: Setup {
                profile: Profile::Smart,
                ..
            },
            ..
        }
    ));
    assert_eq!(
        config.run.targets_on["bbb-720p-10m"],
        ["python-optimized", "auto-reuse", "smart"]
    );
    let full = Config::load(Some(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../configs/full.toml"
    ))))
    .unwrap();
    assert!(full.run.targets_on.is_empty());
    assert_eq!(full.targets.len(), config.targets.len());
}

#[test]
fn presets_look_where_their_users_run_them() {
    let preset = |p: &str| HttpDialect {
        preset: Some(p.into()),
        ..Default::default()
    };
    assert_eq!(
        preset("original").candidate_base_urls().unwrap(),
        ["http://127.0.0.1:5000", "http://127.0.0.1:5001"]
    );
    assert_eq!(
        preset("optimized").candidate_base_urls().unwrap(),
        ["http://127.0.0.1:5001", "http://127.0.0.1:5000"]
    );
    let pinned = HttpDialect {
        base_url: Some("http://127.0.0.1:9000/".into()),
        ..preset("optimized")
    };
    assert_eq!(
        pinned.candidate_base_urls().unwrap(),
        ["http://127.0.0.1:9000"]
    );
    assert!(preset("nope").candidate_base_urls().is_err());
    assert!(HttpDialect::default().candidate_base_urls().is_err());
    let spec = |s: &str| match TargetConfig::from_spec(s).unwrap() {
        Some(TargetConfig::Http { dialect, .. }) => dialect,
        other => panic!("{other:?}"),
    };
    let bare = spec("http:http://127.0.0.1:5001");
    assert_eq!(
        (bare.preset, bare.base_url.as_deref()),
        (None, Some("http://127.0.0.1:5001"))
    );
    let both = spec("http:original@http://127.0.0.1:7000");
    assert_eq!(both.preset.as_deref(), Some("original"));
    assert_eq!(both.base_url.as_deref(), Some("http://127.0.0.1:7000"));
    assert!(TargetConfig::from_spec("http:nope").is_err());
}

#[test]
fn sweeps_and_specs() {
    let targets = Config::sweep("workers=1..3", None).unwrap();
    assert_eq!(targets.len(), 3);
    assert_eq!(targets[2].sweep_workers(), Some(3));
    assert!(Config::sweep("workers=3..1", None).is_err());
    assert!(Config::sweep("threads=1..2", None).is_err());
    let t = TargetConfig::from_spec("engine:fixed:2@copy")
        .unwrap()
        .unwrap();
    assert!(matches!(
        t,
        TargetConfig::Engine {
            setup: Setup {
                strategy: Strategy::Fixed(2),
                profile: Profile::Copy,
                ..
            },
            ..
        }
    ));
    assert!(TargetConfig::from_spec("http:optimized@http://127.0.0.1:1")
        .unwrap()
        .is_some());
    assert_eq!(TargetConfig::from_spec("serial").unwrap(), None);
}

#[test]
fn bad_configurations_are_refused() {
    let twice = "[[target]]\nname='a'\nkind='engine'\n[[target]]\nname='a'\nkind='engine'\n";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, twice).unwrap();
    assert!(Config::load(Some(&path))
        .unwrap_err()
        .to_string()
        .contains("used twice"));
    std::fs::write(&path, "[[target]]\nname='a'\nkind='teleport'\n").unwrap();
    assert!(Config::load(Some(&path)).is_err());
}
