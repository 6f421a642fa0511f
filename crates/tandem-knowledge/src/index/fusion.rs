//! Reciprocal-rank fusion of the ranking by meaning (dense) and the ranking by terms (lexical),
//! done here rather than in Qdrant so that the embedded engine and a Qdrant server of any version
//! rank the same way.

/// RRF's k: 60 is the usual constant (Cormack et al.); ranks beyond ~60 barely count.
const RRF_K: f32 = 60.0;
/// Nearest passages by meaning that every result list holds.
const DENSE_GUARANTEE: usize = 2;

/// How many points each ranking contributes to the fusion.
pub(super) fn candidates(limit: usize) -> usize {
    (limit * 4).max(20)
}

/// The best `limit` ids of both rankings (each best first), with their fused scores, best first.
///
/// A point scores `1 / (k + rank)` in each ranking it appears in (rank from 0, as Qdrant's own
/// fusion counts). Ties keep the order of first appearance, the ranking by meaning first.
///
/// The closest passages by meaning always make the list: a question in one language whose
/// answer is written in another matches no term, and fusion alone would rank it below passages
/// that match the question's words moderately in both rankings. At most half the list is given
/// to that guarantee, so that a short list (limit 2) still starts with the fused ranking's best.
pub(super) fn fuse(by_meaning: &[(u64, f32)], by_terms: &[(u64, f32)], limit: usize) -> Vec<(u64, f32)> {
    let mut fused: Vec<(u64, f32)> = Vec::with_capacity(by_meaning.len() + by_terms.len());
    for ranking in [by_meaning, by_terms] {
        for (rank, (id, _)) in ranking.iter().enumerate() {
            let score = 1.0 / (RRF_K + rank as f32);
            match fused.iter_mut().find(|(seen, _)| seen == id) {
                Some((_, total)) => *total += score,
                None => fused.push((*id, score)),
            }
        }
    }
    // Stable: equal scores keep their order of first appearance.
    fused.sort_by(|a, b| b.1.total_cmp(&a.1));
    fused.truncate(limit);
    let kept: Vec<u64> = by_meaning.iter().take(DENSE_GUARANTEE.min(limit / 2)).map(|(id, _)| *id).collect();
    let missing: Vec<u64> = kept.iter().filter(|id| !fused.iter().any(|(seen, _)| seen == *id)).copied().collect();
    // Room is made by dropping the fused ranking's last points, never a kept one already there.
    while fused.len() + missing.len() > limit {
        let Some(at) = fused.iter().rposition(|(id, _)| !kept.contains(id)) else { break };
        fused.remove(at);
    }
    for id in missing {
        // Ranked last, with the lowest fused score of the list.
        let score = fused.last().map_or(1.0 / RRF_K, |(_, s)| *s);
        fused.push((id, score));
    }
    fused
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[(u64, f32)]) -> Vec<u64> {
        list.iter().map(|(id, _)| *id).collect()
    }

    fn ranking(ids: &[u64]) -> Vec<(u64, f32)> {
        ids.iter().enumerate().map(|(i, id)| (*id, 1.0 - i as f32 / 100.0)).collect()
    }

    #[test]
    fn a_point_in_both_rankings_beats_points_in_one() {
        let fused = fuse(&ranking(&[1, 2, 3]), &ranking(&[3, 4, 5]), 3);
        assert_eq!(fused[0].0, 3);
        assert!((fused[0].1 - (1.0 / 62.0 + 1.0 / 60.0)).abs() < 1e-6);
        // Then 1 (first by meaning); 2 and 4 are tied (second once each), and the ranking by
        // meaning goes first.
        assert_eq!(ids(&fused), vec![3, 1, 2]);
    }

    #[test]
    fn the_nearest_passages_by_meaning_are_kept() {
        // 9 and 8 lead the ranking by meaning but appear in no other; the terms' ranking shares
        // 1..=4 with the tail of the meaning's ranking, so fusion alone would drop 9 and 8.
        let meaning = ranking(&[9, 8, 1, 2, 3, 4]);
        let terms = ranking(&[1, 2, 3, 4]);
        let fused = fuse(&meaning, &terms, 5);
        assert_eq!(fused.len(), 5);
        assert!(ids(&fused).contains(&9) && ids(&fused).contains(&8), "{fused:?}");
        assert_eq!(&ids(&fused)[..3], &[1, 2, 3]);
        // The kept ones are ranked last, never above the fused ranking's scores.
        assert!(fused.windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[test]
    fn a_short_list_gives_at_most_half_to_the_guarantee() {
        let fused = fuse(&ranking(&[9, 1]), &ranking(&[1, 2]), 2);
        assert_eq!(ids(&fused), vec![1, 9]);
        let single = fuse(&ranking(&[9, 1]), &ranking(&[1, 2]), 1);
        assert_eq!(ids(&single), vec![1]);
    }

    #[test]
    fn no_lexical_ranking_is_the_dense_ranking() {
        let fused = fuse(&ranking(&[5, 6, 7]), &[], 2);
        assert_eq!(ids(&fused), vec![5, 6]);
        assert!(fuse(&[], &[], 5).is_empty());
    }
}
