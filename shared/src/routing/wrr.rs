//! Weighted round robin as a fixed cycle of slots.
//!
//! The cycle for weights 3/2/1 is the "smooth" order (each step every member gains its weight,
//! the richest is chosen and pays the total), `a b a c b a`, which spreads a heavy member's slots
//! instead of bunching them. The cursor that walks the cycle lives in D1 and is advanced
//! atomically, so concurrent routings take distinct slots and, while everyone is available, each
//! member receives exactly its share of every full cycle.

/// The slot cycle for the given weights: member indexes, `sum(weights)` long.
pub fn cycle(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|&w| w as i64).sum();
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (i, &w) in weights.iter().enumerate() {
            current[i] += w as i64;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        out.push(best);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn smooth_order_for_three_two_one() {
        assert_eq!(cycle(&[3, 2, 1]), vec![0, 1, 0, 2, 1, 0]);
        assert_eq!(cycle(&[1, 1, 1]), vec![0, 1, 2]);
        assert_eq!(cycle(&[5]), vec![0; 5]);
        assert!(cycle(&[]).is_empty());
    }

    proptest! {
        /// Any prefix of the endless sequence gives each member its weighted share to within one
        /// lead, and every full cycle gives exactly the weights.
        #[test]
        fn converges_to_the_weights(weights in prop::collection::vec(1u32..=20, 1..12), n in 1usize..2000) {
            let c = cycle(&weights);
            let total: u32 = weights.iter().sum();
            prop_assert_eq!(c.len(), total as usize);
            let mut counts = vec![0usize; weights.len()];
            for i in 0..n {
                counts[c[i % c.len()]] += 1;
            }
            for (i, &w) in weights.iter().enumerate() {
                let expected = n as f64 * w as f64 / total as f64;
                prop_assert!((counts[i] as f64 - expected).abs() <= 1.0,
                    "member {} got {} of {}, expected {:.2}", i, counts[i], n, expected);
                if n % c.len() == 0 {
                    prop_assert_eq!(counts[i], (n / c.len()) * w as usize);
                }
            }
        }
    }
}
