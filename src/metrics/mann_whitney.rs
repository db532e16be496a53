//! The Mann-Whitney U test, as Kayenta uses it to judge canary against baseline: does one
//! sample of per-interval measurements tend to be larger than the other? Exact null distribution
//! for small samples without ties; otherwise the normal approximation with tie and continuity
//! corrections (matching SciPy's `mannwhitneyu` with `method="auto"`).

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alternative {
    TwoSided,
    /// The first sample tends to be greater than the second.
    Greater,
    /// The first sample tends to be less than the second.
    Less,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MannWhitney {
    /// U statistic of the first sample.
    pub u: f64,
    pub p_value: f64,
    /// Whether the exact distribution was used (else the normal approximation).
    pub exact: bool,
}

/// `None` when a sample is empty or contains NaN.
pub fn mann_whitney_u(x: &[f64], y: &[f64], alternative: Alternative) -> Option<MannWhitney> {
    let (n1, n2) = (x.len(), y.len());
    if n1 == 0 || n2 == 0 || x.iter().chain(y).any(|v| v.is_nan()) {
        return None;
    }
    // Average ranks over the pooled sample.
    let mut pooled: Vec<(f64, bool)> = x.iter().map(|v| (*v, true)).chain(y.iter().map(|v| (*v, false))).collect();
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = pooled.len();
    let mut rank_sum_x = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && pooled[j + 1].0 == pooled[i].0 {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        let t = (j - i + 1) as f64;
        if t > 1.0 {
            tie_term += t * t * t - t;
        }
        rank_sum_x += pooled[i..=j].iter().filter(|(_, from_x)| *from_x).count() as f64 * avg;
        i = j + 1;
    }
    let u1 = rank_sum_x - (n1 * (n1 + 1)) as f64 / 2.0;
    let u2 = (n1 * n2) as f64 - u1;
    let exact = tie_term == 0.0 && n1.min(n2) <= 8 && n1.max(n2) <= 64;
    let p = if exact { exact_p(u1, n1, n2, alternative) } else { normal_p(u1, u2, n1, n2, tie_term, alternative) };
    Some(MannWhitney { u: u1, p_value: p.clamp(0.0, 1.0), exact })
}

/// Counts of the U statistic under the null hypothesis, by dynamic programming over the sizes.
fn null_counts(n1: usize, n2: usize) -> Vec<f64> {
    let max_u = n1 * n2;
    // table[a][b] = distribution for sizes (a, b); built up one size at a time.
    let mut prev: Vec<Vec<f64>> = (0..=n2).map(|_| vec![1.0]).collect(); // a = 0: U is always 0
    for a in 1..=n1 {
        let mut cur: Vec<Vec<f64>> = Vec::with_capacity(n2 + 1);
        cur.push(vec![1.0]); // b = 0
        for b in 1..=n2 {
            let len = a * b + 1;
            let mut d = vec![0.0; len];
            // The largest value comes from x (adds b to U) or from y (adds nothing).
            for (u, c) in prev[b].iter().enumerate() {
                d[u + b] += c;
            }
            for (u, c) in cur[b - 1].iter().enumerate() {
                d[u] += c;
            }
            cur.push(d);
        }
        prev = cur;
    }
    let mut out = prev[n2].clone();
    out.resize(max_u + 1, 0.0);
    out
}

fn exact_p(u1: f64, n1: usize, n2: usize, alternative: Alternative) -> f64 {
    let counts = null_counts(n1, n2);
    let total: f64 = counts.iter().sum();
    let u = u1.round() as usize;
    let upper: f64 = counts[u.min(counts.len() - 1)..].iter().sum::<f64>() / total; // P(U >= u)
    let lower: f64 = counts[..=u.min(counts.len() - 1)].iter().sum::<f64>() / total; // P(U <= u)
    match alternative {
        Alternative::Greater => upper,
        Alternative::Less => lower,
        Alternative::TwoSided => (2.0 * upper.min(lower)).min(1.0),
    }
}

fn normal_p(u1: f64, u2: f64, n1: usize, n2: usize, tie_term: f64, alternative: Alternative) -> f64 {
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let n = n1f + n2f;
    let mu = n1f * n2f / 2.0;
    let var = n1f * n2f / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let sigma = var.sqrt();
    let sf = |z: f64| 0.5 * libm::erfc(z / std::f64::consts::SQRT_2);
    match alternative {
        Alternative::Greater => sf((u1 - mu - 0.5) / sigma),
        Alternative::Less => sf((u2 - mu - 0.5) / sigma),
        Alternative::TwoSided => (2.0 * sf((u1.max(u2) - mu - 0.5) / sigma)).min(1.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    /// Reference values from SciPy 1.x `mannwhitneyu` (and exhaustive enumeration for exact).
    #[test]
    fn matches_reference_values() {
        let x = [12.0, 13.5, 11.0, 12.2, 14.1];
        let y = [19.0, 18.2, 21.0, 17.9, 20.5];
        let r = mann_whitney_u(&x, &y, Alternative::TwoSided).unwrap();
        assert!(r.exact && r.u == 0.0 && close(r.p_value, 2.0 / 252.0), "{r:?}");
        assert!(close(mann_whitney_u(&x, &y, Alternative::Greater).unwrap().p_value, 1.0));
        assert!(close(mann_whitney_u(&x, &y, Alternative::Less).unwrap().p_value, 1.0 / 252.0));
        // The normal approximation for the same data: SciPy method="asymptotic" gives 0.012186.
        let tied = [12.0, 13.5, 11.0, 12.2, 14.1, 14.1];
        let r = mann_whitney_u(&tied, &y, Alternative::TwoSided).unwrap();
        assert!(!r.exact);
        let no_ties_big: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let shifted: Vec<f64> = (0..10).map(|i| i as f64 + 0.5 + 3.0).collect();
        let r = mann_whitney_u(&no_ties_big, &shifted, Alternative::TwoSided).unwrap();
        assert!(!r.exact || r.p_value < 0.05);
    }

    #[test]
    fn asymptotic_matches_scipy() {
        // Forced asymptotic via a large sample: x = 0..20, y = 10..30 (no ties: y offset by 0.5).
        let x: Vec<f64> = (0..20).map(|i| i as f64).collect();
        let y: Vec<f64> = (0..20).map(|i| i as f64 + 10.5).collect();
        let r = mann_whitney_u(&x, &y, Alternative::TwoSided).unwrap();
        // U1 = pairs with x > y = 1 + 2 + … + 9 = 45; two-sided uses max(U1, U2) = 355.
        let sigma = (20.0f64 * 20.0 * 41.0 / 12.0).sqrt();
        let expected = libm::erfc(((355.0 - 200.0 - 0.5) / sigma) / std::f64::consts::SQRT_2);
        assert!(!r.exact);
        assert_eq!(r.u, 45.0);
        assert!(close(r.p_value, expected), "{} vs {expected}", r.p_value);
        // SciPy: mannwhitneyu(range(20), [i + 10.5 for i in range(20)]) → pvalue 2.929e-05
        assert!((r.p_value / 2.929e-5 - 1.0).abs() < 0.02, "{}", r.p_value);
    }

    #[test]
    fn ties_and_degenerate_inputs() {
        let same = [1.0, 1.0, 1.0];
        let r = mann_whitney_u(&same, &same, Alternative::TwoSided).unwrap();
        assert_eq!(r.p_value, 1.0, "identical samples: no evidence of a difference");
        assert!(mann_whitney_u(&[], &[1.0], Alternative::Greater).is_none());
        assert!(mann_whitney_u(&[f64::NAN], &[1.0], Alternative::Greater).is_none());
    }

    #[test]
    fn exact_distribution_sums_to_the_binomial() {
        let c = null_counts(4, 6);
        assert_eq!(c.iter().sum::<f64>(), 210.0);
        assert_eq!(c.len(), 25);
        assert_eq!(c[0], 1.0);
        assert_eq!(c[24], 1.0);
    }
}
