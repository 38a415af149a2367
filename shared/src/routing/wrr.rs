//! Weighted round robin as a fixed cycle of slots.
//!
//! The cycle for weights 3/2/1 is `a b a c b a`: a heavy member's slots are spread through the
//! cycle instead of bunched. The cursor that walks the cycle lives in D1 and is advanced
//! atomically, so concurrent routings take distinct slots and, while everyone is available, each
//! member receives exactly its share of every full cycle.

/// The slot cycle for the given weights: member indexes, `sum(weights)` long.
///
/// Built by Tijdeman's solution to the chairman assignment problem: at each slot `t`, among the
/// members whose lag behind their share (`t·w_i/W − taken_i`) is at least `δ = 1/(2M−2)`, the
/// one whose next deadline `(taken_i + 1 − δ)·W/w_i` is earliest (ties to the earlier member).
/// Any prefix of the endless sequence then gives each member its weighted share to within
/// `1 − δ` — less than one lead — and every full cycle gives exactly the weights. For 3/2/1
/// this is the smooth order `a b a c b a`. (Sainte-Laguë slot times, used before, drift more
/// than one lead behind when one heavy member shares a team with many light ones.)
///
/// Integer arithmetic throughout, in O(W·log M) for total weight W and M members: a member's
/// lag only grows until it is picked, so each member waits in one heap until the slot it
/// becomes eligible at, then in another ordered by deadline. A team's cycle is computed once,
/// when the team is read ([`super::roster::Team`]), never per decision.
pub fn cycle(weights: &[u32]) -> Vec<usize> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let m = weights.len() as u64;
    if m <= 1 {
        return vec![0; total as usize];
    }
    // δ = 1 / q with q = 2M − 2; all quantities below are scaled by q·W to stay integral.
    let q = 2 * m - 2;
    // Eligible from slot t when q·(t·w_i − taken_i·W) ≥ W, i.e. t ≥ ⌈W·(1 + q·taken_i) / (q·w_i)⌉.
    let eligible_from = |i: usize, taken: u64| -> u64 {
        let w = u64::from(weights[i]);
        (total * (1 + q * taken)).div_ceil(q * w)
    };
    let mut taken = vec![0u64; weights.len()];
    let mut waiting: BinaryHeap<Reverse<(u64, usize)>> = (0..weights.len())
        .filter(|&i| weights[i] > 0)
        .map(|i| Reverse((eligible_from(i, 0), i)))
        .collect();
    let mut ready: BinaryHeap<Reverse<Deadline>> = BinaryHeap::new();
    let mut out = Vec::with_capacity(total as usize);
    for t in 1..=total {
        while let Some(&Reverse((from, i))) = waiting.peek() {
            if from > t {
                break;
            }
            waiting.pop();
            ready.push(Reverse(Deadline::of(q, taken[i], weights[i], i)));
        }
        let i = match ready.pop() {
            Some(Reverse(d)) => d.member,
            // Tijdeman's theorem guarantees an eligible member; fall back to the largest lag.
            None => {
                let i = (0..weights.len())
                    .max_by_key(|&i| {
                        (t * u64::from(weights[i])) as i128 - (taken[i] * total) as i128
                    })
                    .unwrap_or(0);
                waiting.retain(|Reverse((_, j))| *j != i);
                i
            }
        };
        taken[i] += 1;
        out.push(i);
        waiting.push(Reverse((eligible_from(i, taken[i]), i)));
    }
    out
}

/// A member's next deadline `(q·(taken + 1) − 1) / w`, ordered exactly (cross-multiplied), ties
/// to the earlier member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Deadline {
    num: u128,
    den: u128,
    member: usize,
}

impl Deadline {
    fn of(q: u64, taken: u64, weight: u32, member: usize) -> Deadline {
        Deadline {
            num: u128::from(q * (taken + 1) - 1),
            den: u128::from(weight),
            member,
        }
    }
}

impl Ord for Deadline {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.num * other.den)
            .cmp(&(other.num * self.den))
            .then(self.member.cmp(&other.member))
    }
}

impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // The O(W·M) scan the heaps replaced, kept to check that the cycles are identical.
    /// The slot cycle for the given weights: member indexes, `sum(weights)` long.
    ///
    /// Built by Tijdeman's solution to the chairman assignment problem: at each slot `t`, among the
    /// members whose lag behind their share (`t·w_i/W − taken_i`) is at least `δ = 1/(2M−2)`, the
    /// one whose next deadline `(taken_i + 1 − δ)·W/w_i` is earliest (ties to the earlier member).
    /// Any prefix of the endless sequence then gives each member its weighted share to within
    /// `1 − δ` — less than one lead — and every full cycle gives exactly the weights. For 3/2/1
    /// this is the smooth order `a b a c b a`. (Sainte-Laguë slot times, used before, drift more
    /// than one lead behind when one heavy member shares a team with many light ones.)
    /// Integer arithmetic throughout; O(W·M) for total weight W and M members.
    fn reference_cycle(weights: &[u32]) -> Vec<usize> {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let m = weights.len() as u64;
        if m <= 1 {
            return vec![0; total as usize];
        }
        // δ = 1 / q with q = 2M − 2; all quantities below are scaled by q·W to stay integral.
        let q = 2 * m - 2;
        let mut taken = vec![0u64; weights.len()];
        let mut out = Vec::with_capacity(total as usize);
        for t in 1..=total {
            // Eligible: q·(t·w_i − taken_i·W) ≥ W.
            let eligible = |i: usize| {
                let w = u64::from(weights[i]);
                let lag = (t * w) as i128 - (taken[i] * total) as i128;
                lag * q as i128 >= total as i128
            };
            // Deadline (taken_i + 1 − 1/q)·W / w_i, compared as (q·(taken_i + 1) − 1) / w_i.
            let better = |i: usize, j: usize| {
                let (wi, wj) = (u128::from(weights[i]), u128::from(weights[j]));
                let (ni, nj) = (
                    u128::from(q * (taken[i] + 1) - 1),
                    u128::from(q * (taken[j] + 1) - 1),
                );
                ni * wj < nj * wi
            };
            let mut pick: Option<usize> = None;
            for i in (0..weights.len()).filter(|&i| weights[i] > 0 && eligible(i)) {
                if pick.is_none_or(|p| better(i, p)) {
                    pick = Some(i);
                }
            }
            // Tijdeman's theorem guarantees an eligible member; fall back to the largest lag.
            let i = pick.unwrap_or_else(|| {
                (0..weights.len())
                    .max_by_key(|&i| {
                        (t * u64::from(weights[i])) as i128 - (taken[i] * total) as i128
                    })
                    .unwrap_or(0)
            });
            taken[i] += 1;
            out.push(i);
        }
        out
    }

    #[test]
    fn one_heavy_member_among_many_light_ones_stays_within_a_lead() {
        // Sainte-Laguë slot times let member 0 run 3.2 leads ahead of its share here.
        let weights = [15, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1];
        let c = cycle(&weights);
        let total: u32 = weights.iter().sum();
        let mut counts = [0usize; 11];
        for (n, &i) in c.iter().cycle().take(2000).enumerate() {
            counts[i] += 1;
            for (j, &w) in weights.iter().enumerate() {
                let share = (n + 1) as f64 * f64::from(w) / f64::from(total);
                assert!(
                    (counts[j] as f64 - share).abs() < 1.0,
                    "slot {n}: member {j}"
                );
            }
        }
    }

    #[test]
    fn smooth_order_for_three_two_one() {
        assert_eq!(cycle(&[3, 2, 1]), vec![0, 1, 0, 2, 1, 0]);
        assert_eq!(cycle(&[1, 1, 1]), vec![0, 1, 2]);
        assert_eq!(cycle(&[5]), vec![0; 5]);
        assert!(cycle(&[]).is_empty());
    }

    proptest! {
        /// The heaps pick exactly what the full scan of every member at every slot picks.
        #[test]
        fn the_heaps_pick_what_a_full_scan_picks(weights in prop::collection::vec(0u32..=40, 0..40)) {
            prop_assert_eq!(cycle(&weights), reference_cycle(&weights));
        }

        /// Any prefix of the endless sequence gives each member its weighted share to within
        /// less than one lead, and every full cycle gives exactly the weights.
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
                prop_assert!((counts[i] as f64 - expected).abs() < 1.0,
                    "member {} got {} of {}, expected {:.2}", i, counts[i], n, expected);
                if n % c.len() == 0 {
                    prop_assert_eq!(counts[i], (n / c.len()) * w as usize);
                }
            }
        }
    }
}
