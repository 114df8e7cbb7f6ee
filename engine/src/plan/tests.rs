//! Tests of the `plan` module.

use super::*;
use proptest::prelude::*;

fn media(duration: f64) -> MediaInfo {
    MediaInfo {
        duration,
        ..Default::default()
    }
}

fn opts(policy: Policy) -> PlanOptions {
    PlanOptions {
        policy,
        ..Default::default()
    }
}

#[test]
fn ten_minutes_fixed_matches_the_backends() {
    let clips = plan(&media(600.0), &opts(Policy::ORIGINAL));
    assert_eq!(clips.len(), 24);
    let total: f64 = clips.iter().map(Clip::duration).sum();
    assert_eq!(total, 715.0);
    assert_eq!((clips[23].start, clips[23].end), (575.0, 600.0));
    assert_eq!(clips[0].number, 1);
    let high: Vec<u32> = clips
        .iter()
        .filter(|c| c.priority == Priority::High)
        .map(|c| c.number)
        .collect();
    assert_eq!(high, vec![1, 2, 3]);
}

#[test]
fn min_last_decides_the_tail() {
    // 70 s: clips at 0, 25 (30 s each), then 50..70 = 20 s.
    assert_eq!(plan(&media(70.0), &opts(Policy::ORIGINAL)).len(), 2);
    assert_eq!(plan(&media(70.0), &opts(Policy::OPTIMIZED)).len(), 3);
    // A video shorter than the minimum (no clip at the backends) is one clip of its length.
    let whole = plan(&media(20.0), &opts(Policy::ORIGINAL));
    assert_eq!(whole.len(), 1);
    assert_eq!((whole[0].start, whole[0].end), (0.0, 20.0));
    assert_eq!(plan(&media(10.0), &opts(Policy::OPTIMIZED)).len(), 1);
}

#[test]
fn max_clips_caps_the_plan() {
    let clips = plan(&media(100_000.0), &opts(Policy::ORIGINAL));
    assert_eq!(clips.len(), 100);
    let clips = plan(&media(100_000.0), &opts(Policy::Adaptive));
    assert_eq!(clips.len(), 100);
}

#[test]
fn adaptive_ten_minutes() {
    let clips = plan(&media(600.0), &opts(Policy::Adaptive));
    assert_eq!(clips.len(), 24);
    assert_eq!(clips.last().unwrap().end, 600.0);
    assert!((clips[0].duration() - (595.0 / 24.0 + 5.0)).abs() < 1e-9);
}

#[test]
fn policy_parses_and_prints() {
    assert_eq!("fixed".parse::<Policy>(), Ok(Policy::ORIGINAL));
    assert_eq!("fixed:15".parse::<Policy>(), Ok(Policy::OPTIMIZED));
    assert_eq!("adaptive".parse::<Policy>(), Ok(Policy::Adaptive));
    assert!("fixed:x".parse::<Policy>().is_err());
    assert!("fixedly".parse::<Policy>().is_err());
    assert!("fixed:10:5:10".parse::<Policy>().is_err());
    for p in [
        Policy::ORIGINAL,
        Policy::OPTIMIZED,
        Policy::Adaptive,
        "fixed:5:20:15".parse().unwrap(),
    ] {
        assert_eq!(p.to_string().parse::<Policy>(), Ok(p));
    }
}

proptest! {
    #[test]
    fn keyframe_snapped_plans_are_sound(
        duration in 1.0f64..3000.0,
        gop in 0.5f64..12.0,
        jitter in proptest::collection::vec(0.0f64..1.0, 0..400),
        max in 1usize..120,
    ) {
        // Regular keyframes with some missing (jitter > 0.8 drops one): gaps of any size.
        let keyframes: Vec<f64> = (0..((duration / gop) as usize + 1))
            .map(|i| i as f64 * gop)
            .filter(|t| *t < duration)
            .enumerate()
            .filter(|(i, _)| jitter.get(*i).is_none_or(|j| *j <= 0.8) || *i == 0)
            .map(|(_, t)| t)
            .collect();
        let media = MediaInfo { duration, keyframes: Some(keyframes.clone()), ..Default::default() };
        let options = PlanOptions { policy: Policy::Adaptive, max_clips: max, high_priority_clips: 3 };
        let clips = plan(&media, &options);
        prop_assert!(!clips.is_empty() && clips.len() <= max);
        prop_assert_eq!(clips[0].start, 0.0);
        for c in &clips {
            prop_assert!(c.start >= 0.0 && c.end <= duration + 1e-9 && c.start < c.end);
            if duration >= ADAPTIVE_MIN_LEN {
                prop_assert!(c.duration() >= ADAPTIVE_MIN_LEN - 1e-9 && c.duration() <= ADAPTIVE_MAX_LEN + 1e-9, "{:?}", c);
            }
        }
        for pair in clips.windows(2) {
            let overlap = pair[0].end - pair[1].start;
            prop_assert!((ADAPTIVE_OVERLAP.0 - 1e-9..=ADAPTIVE_OVERLAP.1 + 1e-9).contains(&overlap), "{:?}", pair);
            // The start is a keyframe whenever one lies in the allowed window.
            let low = pair[0].start + ADAPTIVE_MIN_LEN - ADAPTIVE_OVERLAP.1;
            let high = (pair[0].start + ADAPTIVE_MAX_LEN - ADAPTIVE_OVERLAP.0).min(duration - ADAPTIVE_MIN_LEN);
            if keyframes.iter().any(|k| (low..=high).contains(k)) {
                prop_assert!(media.is_keyframe(pair[1].start), "{:?} not on a keyframe", pair[1]);
            }
        }
        if clips.len() < max {
            prop_assert_eq!(clips.last().unwrap().end, duration, "covers to the end");
        }
    }
}

fn policies() -> impl Strategy<Value = Policy> {
    prop_oneof![
        Just(Policy::ORIGINAL),
        Just(Policy::OPTIMIZED),
        Just(Policy::Adaptive),
        (1.0f64..60.0, 0.2f64..1.0, 0.0f64..1.0).prop_map(|(len, step, min)| Policy::Fixed {
            clip_len: len,
            step: len * step,
            min_last: len * min,
        }),
    ]
}

proptest! {
    #[test]
    fn clips_are_sound(duration in 0.1f64..20_000.0, policy in policies(), max in 1usize..150) {
        let options = PlanOptions { policy, max_clips: max, high_priority_clips: 3 };
        let clips = plan(&media(duration), &options);
        prop_assert!(clips.len() <= max);
        prop_assert_eq!(&clips, &plan(&media(duration), &options), "deterministic");
        for (i, c) in clips.iter().enumerate() {
            prop_assert_eq!(c.number as usize, i + 1);
            prop_assert!(c.start >= 0.0 && c.start < c.end && c.end <= duration + 1e-9);
            prop_assert_eq!(c.priority == Priority::High, i < 3);
        }
        for pair in clips.windows(2) {
            prop_assert!(pair[1].start > pair[0].start);
            prop_assert!(pair[1].start <= pair[0].end + 1e-9, "no gap between clips");
        }
        let covered = clips.last().map_or(0.0, |c| c.end);
        let capped = clips.len() == max;
        match policy {
            Policy::Fixed { clip_len, step, min_last } => {
                for c in &clips[..clips.len().saturating_sub(1)] {
                    prop_assert!((c.duration() - clip_len).abs() < 1e-9);
                }
                if let Some(last) = clips.last() {
                    // Or the whole video, when it is shorter than the minimum.
                    let whole = clips.len() == 1 && last.duration() == duration;
                    prop_assert!(last.duration() >= min_last - 1e-9 || whole);
                }
                for pair in clips.windows(2) {
                    prop_assert!((pair[1].start - pair[0].start - step).abs() < 1e-6);
                }
                if !capped {
                    // The documented tail: shorter than the minimum last clip.
                    prop_assert!(duration - covered < min_last + 1e-6);
                }
            }
            Policy::Adaptive => {
                if duration < ADAPTIVE_MIN_LEN {
                    prop_assert_eq!(clips.len(), 1);
                } else {
                    for c in &clips {
                        prop_assert!(c.duration() >= ADAPTIVE_MIN_LEN - 1e-6);
                        prop_assert!(c.duration() <= ADAPTIVE_MAX_LEN + 1e-6);
                    }
                }
                for pair in clips.windows(2) {
                    let overlap = pair[0].end - pair[1].start;
                    prop_assert!(overlap >= ADAPTIVE_OVERLAP.0 - 1e-6);
                    prop_assert!(overlap <= ADAPTIVE_OVERLAP.1 + 1e-6);
                }
                if !capped {
                    prop_assert_eq!(covered, duration);
                }
            }
        }
    }
}
