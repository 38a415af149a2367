//! Weighted round robin as a fixed cycle of slots.
//!
//! The cycle for weights 3/2/1 is `a b a c b a`: a heavy member's slots are spread through the
//! cycle instead of bunched. The cursor that walks the cycle lives in D1 and is advanced
//! atomically, so concurrent routings take distinct slots and, while everyone is available, each
//! member receives exactly its share of every full cycle.

/// The slot cycle for the given weights: member indexes, `sum(weights)` long.
///
/// Member `i`'s `k`-th slot sits at virtual time `(2k + 1) / (2 w_i)` (the Sainte-Laguë
/// divisors); the cycle is every slot in time order, ties to the earlier member. For 3/2/1 this
/// is the smooth order `a b a c b a`; it costs O(W log W) for total weight W, and any prefix
/// gives each member its weighted share to within one slot.
pub fn cycle(weights: &[u32]) -> Vec<usize> {
    let mut slots: Vec<(u64, u64, usize)> = weights
        .iter()
        .enumerate()
        .flat_map(|(i, &w)| (0..w as u64).map(move |k| (2 * k + 1, 2 * w as u64, i)))
        .collect();
    // (n1 / d1) < (n2 / d2)  ⇔  n1·d2 < n2·d1
    slots.sort_by(|a, b| (a.0 * b.1).cmp(&(b.0 * a.1)).then(a.2.cmp(&b.2)));
    slots.into_iter().map(|(_, _, i)| i).collect()
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
