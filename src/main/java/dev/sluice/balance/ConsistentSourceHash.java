package dev.sluice.balance;

import java.util.List;

/**
 * {@code source_hash}: weighted rendezvous (highest random weight) hashing of the client address.
 * Each candidate scores {@code -weight / ln(u)}, with {@code u} in (0, 1) a {@link StableHash} of
 * the (backend name, client address) pair; the highest score wins. A backend wins a client with
 * probability weight / total weight, and when a backend leaves only the clients it had move (every
 * other pair's score is unchanged), each to the runner-up for that client, so its share spreads
 * over the rest in proportion to their weights.
 *
 * <p>The choice depends only on backend names, weights and the client address, never on list order,
 * indices or the JVM, so every Sluice node with the same config agrees without talking to the others.
 *
 * <p>Thread-safe: stateless (the name hashes are precomputed in {@link Backend}).
 */
public final class ConsistentSourceHash implements Selector {

  @Override
  public Backend select(List<Backend> candidates, double[] weights, SelectionKey key) {
    byte[] client = key.clientAddress();
    int n = candidates.size();
    int best = 0;
    double bestScore = Double.NEGATIVE_INFINITY;
    for (int i = 0; i < n; i++) {
      long h = StableHash.hash64(client, candidates.get(i).nameHash());
      double score = -weights[i] / Math.log(StableHash.unitInterval(h));
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return candidates.get(best);
  }
}
