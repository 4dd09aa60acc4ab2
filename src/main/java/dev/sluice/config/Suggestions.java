package dev.sluice.config;

import java.util.Collection;
import java.util.Locale;

/**
 * "Did you mean" help for hints: the nearest valid word by edit distance. Stateless.
 */
final class Suggestions {
  private Suggestions() {}

  /**
   * The candidate nearest to {@code word}, or null when none is close enough to be a plausible
   * typo (more than a third of the word's length away, at least 2 edits allowed).
   */
  static String nearest(String word, Collection<String> candidates) {
    String lower = word.toLowerCase(Locale.ROOT);
    int limit = Math.max(2, lower.length() / 3);
    String best = null;
    int bestDistance = Integer.MAX_VALUE;
    for (String c : candidates) {
      int d = distance(lower, c.toLowerCase(Locale.ROOT));
      if (d < bestDistance) {
        best = c;
        bestDistance = d;
      }
    }
    return bestDistance <= limit ? best : null;
  }

  /**
   * A hint such as {@code did you mean 'algorithm'? valid keys: algorithm, backends}; {@code what}
   * names the list ("valid keys", "defined pools").
   */
  static String hint(String word, Collection<String> candidates, String what) {
    String list = what + ": " + (candidates.isEmpty() ? "none" : String.join(", ", candidates));
    String near = word == null ? null : nearest(word, candidates);
    return near == null ? list : "did you mean '" + near + "'? " + list;
  }

  /** Levenshtein distance with adjacent transpositions counted as one edit (a common typo). */
  static int distance(String a, String b) {
    int[][] d = new int[a.length() + 1][b.length() + 1];
    for (int i = 0; i <= a.length(); i++) {
      d[i][0] = i;
    }
    for (int j = 0; j <= b.length(); j++) {
      d[0][j] = j;
    }
    for (int i = 1; i <= a.length(); i++) {
      for (int j = 1; j <= b.length(); j++) {
        int cost = a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1;
        d[i][j] = Math.min(Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1), d[i - 1][j - 1] + cost);
        if (i > 1 && j > 1 && a.charAt(i - 1) == b.charAt(j - 2) && a.charAt(i - 2) == b.charAt(j - 1)) {
          d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
        }
      }
    }
    return d[a.length()][b.length()];
  }
}
