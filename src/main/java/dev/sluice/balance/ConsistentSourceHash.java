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
    // Scores are w / L with L = -ln(u) > 0. Between equal weights the higher u wins outright, so
    // the logarithm is taken only when weights differ: never in a pool of equal weights.
    int best = 0;
    double bestWeight = weights[0];
    double bestU = draw(candidates.get(0), client);
    double bestL = Double.NaN; // -ln(bestU), computed when first needed
    for (int i = 1; i < n; i++) {
      double w = weights[i];
      double u = draw(candidates.get(i), client);
      if (w == bestWeight) {
        if (u > bestU) {
          best = i;
          bestU = u;
          bestL = Double.NaN;
        }
        continue;
      }
      if (Double.isNaN(bestL)) {
        bestL = -Math.log(bestU);
      }
      double l = -Math.log(u);
      if (w * bestL > bestWeight * l) { // w / l > bestWeight / bestL, both l positive
        best = i;
        bestWeight = w;
        bestU = u;
        bestL = l;
      }
    }
    return candidates.get(best);
  }

  /** This backend's uniform draw in (0, 1) for this client. */
  private static double draw(Backend b, byte[] client) {
    return StableHash.unitInterval(StableHash.hash64(client, b.nameHash()));
  }
}
