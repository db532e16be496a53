//! Series squeezed to a width: averaged buckets for charts, and a one-line block sparkline for
//! tables, where a chart widget has no room.

/// Averages consecutive points so that at most `width` remain (time of each bucket's first point).
pub fn downsample(points: &[(f64, f64)], width: usize) -> Vec<(f64, f64)> {
    let width = width.max(2);
    if points.len() <= width {
        return points.to_vec();
    }
    let per = points.len().div_ceil(width);
    points.chunks(per).map(|c| (c[0].0, c.iter().map(|p| p.1).sum::<f64>() / c.len() as f64)).collect()
}

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last `width` buckets of `values` as block characters, scaled from zero to the largest value
/// (a flat zero line stays at the bottom rather than filling the cell).
pub fn line(values: &[f64], width: usize) -> String {
    let pts: Vec<(f64, f64)> = values.iter().enumerate().map(|(i, v)| (i as f64, *v)).collect();
    let buckets = downsample(&pts, width);
    let max = buckets.iter().map(|p| p.1).fold(0.0_f64, f64::max);
    buckets
        .iter()
        .map(
            |&(_, v)| {
                if !v.is_finite() || max <= 0.0 { BARS[0] } else { BARS[((v.max(0.0) / max) * (BARS.len() - 1) as f64).round() as usize] }
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rising_values_rise_and_zeros_stay_low() {
        assert_eq!(line(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], 8), "▁▂▃▄▅▆▇█");
        assert_eq!(line(&[0.0; 5], 8), "▁▁▁▁▁");
        assert_eq!(line(&[], 8), "");
    }

    #[test]
    fn long_series_are_averaged_to_the_width() {
        let v: Vec<f64> = (0..100).map(|i| i as f64).collect();
        assert_eq!(line(&v, 10).chars().count(), 10);
        assert_eq!(downsample(&[(0.0, 1.0), (1.0, 3.0), (2.0, 5.0), (3.0, 7.0)], 2), vec![(0.0, 2.0), (2.0, 6.0)]);
    }
}
