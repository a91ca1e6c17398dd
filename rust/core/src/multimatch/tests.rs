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
