//! End-to-end tests of the MultiMatch pipeline (parity with the reference is tested in Python).

use super::*;

struct Lcg(u64);
impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn random_scanpath(rng: &mut Lcg, n: usize, grid: Option<f64>) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let coord = |rng: &mut Lcg, max: f64| match grid {
        Some(g) => (rng.unit() * g).floor(),
        None => rng.unit() * max,
    };
    let x = (0..n).map(|_| coord(rng, 1280.0)).collect();
    let y = (0..n).map(|_| coord(rng, 720.0)).collect();
    let d = (0..n).map(|_| 0.05 + rng.unit() * 0.5).collect();
    (x, y, d)
}

fn sp(c: &(Vec<f64>, Vec<f64>, Vec<f64>)) -> Scanpath<'_> {
    Scanpath::new(&c.0, &c.1, &c.2).unwrap()
}

const SCREEN: (f64, f64) = (1280.0, 720.0);

#[test]
fn identical_scanpaths_score_one() {
    let mut rng = Lcg(1);
    for grouping in [false, true] {
        let p = MultiMatchParams { screen: SCREEN, grouping, tdir: 45.0, tdur: 0.3, tamp: 146.8 };
        for n in [3, 10, 50] {
            let c = random_scanpath(&mut rng, n, None);
            assert_eq!(multimatch(&sp(&c), &sp(&c), &p), [1.0; 5], "n={n} grouping={grouping}");
        }
    }
}

#[test]
fn short_scanpaths_give_nan() {
    let mut rng = Lcg(2);
    let long = random_scanpath(&mut rng, 10, None);
    let p = MultiMatchParams::new(SCREEN);
    for n in 0..3 {
        let short = random_scanpath(&mut rng, n, None);
        assert!(multimatch(&sp(&short), &sp(&long), &p).iter().all(|v| v.is_nan()));
        assert!(multimatch(&sp(&long), &sp(&short), &p).iter().all(|v| v.is_nan()));
    }
}

#[test]
fn non_finite_input_gives_nan_not_panic() {
    let mut rng = Lcg(3);
    let a = random_scanpath(&mut rng, 10, None);
    let mut b = random_scanpath(&mut rng, 10, None);
    b.0[4] = f64::NAN;
    let p = MultiMatchParams::new(SCREEN);
    assert!(multimatch(&sp(&a), &sp(&b), &p).iter().all(|v| v.is_nan()));
    b.0[4] = 1.0;
    b.2[2] = f64::INFINITY;
    assert!(multimatch(&sp(&a), &sp(&b), &p).iter().all(|v| v.is_nan()));
}

#[test]
fn single_short_saccade_after_grouping_does_not_crash() {
    // Three fixations along a line, short saccades and short fixations: direction grouping merges
    // both saccades into one, which is then shorter than TAmp (multimatch-gaze: IndexError).
    let a = (vec![0.0, 10.0, 20.0], vec![0.0; 3], vec![0.01; 3]);
    let b = (vec![0.0, 100.0, 100.0, 300.0], vec![0.0, 0.0, 100.0, 50.0], vec![0.2; 4]);
    let p = MultiMatchParams { screen: SCREEN, grouping: true, tdir: 45.0, tdur: 0.3, tamp: 146.8 };
    let pa = prepare(&sp(&a), &p);
    assert_eq!(pa.saccades.len(), 1);
    let r = multimatch(&sp(&a), &sp(&b), &p);
    assert!(r.iter().all(|v| v.is_finite()), "{r:?}");
}

#[test]
fn collinear_saccades_do_not_crash() {
    // Found by search: the two saccades are collinear and numpy's rounded cosine is 1 + 2^-52,
    // where math.acos raises ValueError.
    let a = (vec![100.0, 100.1, 100.29999999999998, 300.0], vec![200.0, 200.5, 201.5, 300.0], vec![0.2, 0.01, 0.2, 0.2]);
    let pa = prepare(&sp(&a), &MultiMatchParams { screen: SCREEN, grouping: true, tdir: 10.0, tdur: 0.05, tamp: 0.0 });
    // The clamped angle is 0 < TDir, and the middle fixation is short: the two saccades merge.
    assert_eq!(pa.saccades.len(), 2);
}

#[test]
fn symmetric_on_float_data_and_bounded() {
    let mut rng = Lcg(4);
    let p = MultiMatchParams::new(SCREEN);
    for _ in 0..50 {
        let (na, nb) = (5 + (rng.unit() * 40.0) as usize, 5 + (rng.unit() * 40.0) as usize);
        let a = random_scanpath(&mut rng, na, None);
        let b = random_scanpath(&mut rng, nb, None);
        let ab = multimatch(&sp(&a), &sp(&b), &p);
        assert_eq!(ab, multimatch(&sp(&b), &sp(&a), &p));
        assert!(ab.iter().all(|v| (0.0..=1.0).contains(v)), "{ab:?}");
    }
}

fn packed(paths: &[(Vec<f64>, Vec<f64>, Vec<f64>)]) -> (Vec<i64>, Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut off = vec![0i64];
    let (mut x, mut y, mut d) = (vec![], vec![], vec![]);
    for c in paths {
        x.extend(&c.0);
        y.extend(&c.1);
        d.extend(&c.2);
        off.push(x.len() as i64);
    }
    (off, x, y, d)
}

#[test]
fn all_pairs_agree_and_do_not_depend_on_threads() {
    let mut rng = Lcg(5);
    let paths: Vec<_> =
        (0..70).map(|k| random_scanpath(&mut rng, 2 + k % 30, if k % 3 == 0 { Some(4.0) } else { None })).collect();
    let (off, x, y, d) = packed(&paths);
    let arch = PackedScanpaths::new(&off, &x, &y, &d).unwrap();
    let p = MultiMatchParams { screen: SCREEN, grouping: true, tdir: 30.0, tdur: 0.05, tamp: 100.0 };
    let n = paths.len();
    let m1 = crate::parallel::with_threads(Some(1), || matrix(&arch, &p)).unwrap().unwrap();
    let m2 = crate::parallel::with_threads(Some(2), || matrix(&arch, &p)).unwrap().unwrap();
    assert_eq!(m1.len(), n * n * 5);
    // Bitwise equality, NaN included.
    assert!(m1.iter().zip(&m2).all(|(a, b)| a.to_bits() == b.to_bits()));
    let idx: Vec<i64> = (0..n as i64).flat_map(|i| (0..n as i64).map(move |j| [i.min(j), i.max(j)])).flatten().collect();
    let pr = pairs(&arch, &idx, &p).unwrap();
    assert!(m1.iter().zip(&pr).all(|(a, b)| a.to_bits() == b.to_bits()));
    let row = one_vs_many(&arch, 7, &p).unwrap();
    for j in 0..n {
        let direct = multimatch(&sp(&paths[7]), &sp(&paths[j]), &p);
        assert!(row[j * 5..j * 5 + 5].iter().zip(&direct).all(|(a, b)| a.to_bits() == b.to_bits()));
    }
}

#[test]
fn bad_inputs_are_errors() {
    let mut rng = Lcg(6);
    let paths: Vec<_> = (0..3).map(|_| random_scanpath(&mut rng, 5, None)).collect();
    let (off, x, y, d) = packed(&paths);
    let arch = PackedScanpaths::new(&off, &x, &y, &d).unwrap();
    let p = MultiMatchParams::new(SCREEN);
    assert!(pairs(&arch, &[0, 3], &p).unwrap_err().to_string().contains("out of range"));
    assert!(pairs(&arch, &[0, 1, 2], &p).unwrap_err().to_string().contains("even"));
    assert!(one_vs_many(&arch, -1, &p).is_err());
    let bad = MultiMatchParams::new((0.0, 720.0));
    assert!(matrix(&arch, &bad).unwrap_err().to_string().contains("screen"));
    let nan = MultiMatchParams { tdir: f64::NAN, ..p };
    assert!(pairs(&arch, &[0, 1], &nan).unwrap_err().to_string().contains("tdir"));
}

#[test]
fn matrix_refuses_large_archives() {
    let n = MATRIX_MAX_N + 1;
    let off: Vec<i64> = (0..=n as i64).map(|k| k * 3).collect();
    let z = vec![1.0; n * 3];
    let arch = PackedScanpaths::new(&off, &z, &z, &z).unwrap();
    let err = matrix(&arch, &MultiMatchParams::new(SCREEN)).unwrap_err().to_string();
    assert!(err.contains("mining") && err.contains(&MATRIX_MAX_N.to_string()), "{err}");
}

/// Where a pair's time goes (run: cargo test -p mcgip-core --release profile_pair -- --ignored --nocapture).
/// Pairs are all different, so that branch predictors cannot learn one pair by heart.
#[test]
#[ignore]
fn profile_pair() {
    use std::time::Instant;
    let mut rng = Lcg(9);
    for n in [30usize, 50, 100] {
        let p = MultiMatchParams::new(SCREEN);
        let prepared: Vec<Prepared> = (0..512)
            .map(|_| {
                let len = n - 3 + (rng.unit() * 7.0) as usize;
                prepare(&sp(&random_scanpath(&mut rng, len, None)), &p)
            })
            .collect();
        let mut ws = Workspace::new();
        let reps = 20;
        let pairs = prepared.len() / 2 * reps;
        let mut best = [f64::INFINITY; 3];
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..reps {
                for ab in prepared.chunks_exact(2) {
                    align::fill_costs_for_profile(&mut ws, &ab[0].saccades, &ab[1].saccades);
                }
            }
            best[0] = best[0].min(t.elapsed().as_secs_f64() / pairs as f64);
            let t = Instant::now();
            for _ in 0..reps {
                for ab in prepared.chunks_exact(2) {
                    align::align(&mut ws, &ab[0].saccades, &ab[1].saccades);
                }
            }
            best[1] = best[1].min(t.elapsed().as_secs_f64() / pairs as f64);
            let t = Instant::now();
            for _ in 0..reps {
                for ab in prepared.chunks_exact(2) {
                    std::hint::black_box(multimatch_prepared_in(&mut ws, &ab[0], &ab[1], &p));
                }
            }
            best[2] = best[2].min(t.elapsed().as_secs_f64() / pairs as f64);
        }
        let cells = ((n - 1) * (n - 1)) as f64;
        println!(
            "n~{n}: costs {:.2} us ({:.2} ns/cell), align {:.2} us, whole pair {:.2} us",
            best[0] * 1e6,
            best[0] * 1e9 / cells,
            best[1] * 1e6,
            best[2] * 1e6
        );
    }
}

/// How often the exact Dijkstra replay runs (run: cargo test -p mcgip-core --release replay_rate -- --ignored --nocapture).
#[test]
#[ignore]
fn replay_rate() {
    let mut rng = Lcg(10);
    for (label, grid) in [("float coordinates", None), ("integer grid 0..8", Some(8.0)), ("integer grid 0..3", Some(3.0))] {
        let paths: Vec<_> = (0..200).map(|_| random_scanpath(&mut rng, 30, grid)).collect();
        let p = MultiMatchParams::new(SCREEN);
        let prepared: Vec<_> = paths.iter().map(|c| prepare(&sp(c), &p)).collect();
        let mut ws = Workspace::new();
        for i in 0..prepared.len() {
            for j in i + 1..prepared.len() {
                multimatch_prepared_in(&mut ws, &prepared[i], &prepared[j], &p);
            }
        }
        println!(
            "{label}: {} of {} pairs ({:.2}%) needed the exact replay",
            ws.exact_replays,
            ws.alignments,
            100.0 * ws.exact_replays as f64 / ws.alignments as f64
        );
    }
}

/// Per-pair time against the number of distinct pairs cycled through (cache and branch effects).
#[test]
#[ignore]
fn profile_distinct_pairs() {
    use std::time::Instant;
    let mut rng = Lcg(12);
    let p = MultiMatchParams::new(SCREEN);
    for distinct in [64usize, 256, 2000] {
        let prepared: Vec<Prepared> =
            (0..2 * distinct).map(|_| prepare(&sp(&random_scanpath(&mut rng, 50, None)), &p)).collect();
        let mut ws = Workspace::new();
        let reps = (20_000 / distinct).max(1);
        let mut best = f64::INFINITY;
        for _ in 0..5 {
            let t = Instant::now();
            for _ in 0..reps {
                for ab in prepared.chunks_exact(2) {
                    std::hint::black_box(multimatch_prepared_in(&mut ws, &ab[0], &ab[1], &p));
                }
            }
            best = best.min(t.elapsed().as_secs_f64() / (reps * distinct) as f64);
        }
        println!("{distinct} distinct pairs of 50 fixations: {:.2} us per pair", best * 1e6);
    }
}

/// Time to vectorise one scanpath (run: cargo test -p mcgip-core --release profile_prepare -- --ignored --nocapture).
#[test]
#[ignore]
fn profile_prepare() {
    use std::time::Instant;
    let mut rng = Lcg(13);
    let paths: Vec<_> = (0..1000).map(|_| random_scanpath(&mut rng, 50, None)).collect();
    let p = MultiMatchParams::new(SCREEN);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for c in &paths {
            std::hint::black_box(prepare(&sp(c), &p));
        }
        best = best.min(t.elapsed().as_secs_f64() / paths.len() as f64);
    }
    let mut best_atan = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let mut acc = 0.0;
        for c in &paths {
            for k in 1..c.0.len() {
                acc += (c.1[k] - c.1[k - 1]).atan2(c.0[k] - c.0[k - 1]);
            }
        }
        std::hint::black_box(acc);
        best_atan = best_atan.min(t.elapsed().as_secs_f64() / paths.len() as f64);
    }
    println!("prepare, 50 fixations: {:.2} us; of which 49 atan2: {:.2} us", best * 1e6, best_atan * 1e6);
}
