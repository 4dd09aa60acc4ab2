package dev.sluice.balance;

import java.util.List;
import java.util.Locale;
import java.util.function.Function;
import java.util.function.ToIntFunction;
import java.util.stream.Collectors;

/**
 * How the weights of one priority tier split its new traffic, as operators read it: {@code
 * server1 75% (3/4), server2 25% (1/4)}. Used by the audit (SL004, for the file) and by the admin
 * API's weight changes (for the running pool). Pure; thread-safe.
 */
public final class Shares {
  private Shares() {}

  /** Each member of {@code tier} with its share of the tier's summed weight. */
  public static <T> String of(List<T> tier, Function<T, String> name, ToIntFunction<T> weight) {
    int sum = tier.stream().mapToInt(weight).sum();
    return tier.stream()
        .map(b -> name.apply(b) + " " + percent(weight.applyAsInt(b), sum) + " (" + weight.applyAsInt(b) + "/" + sum + ")")
        .collect(Collectors.joining(", "));
  }

  /** {@code 75%} or {@code 33.3%}: one decimal only where it says something; {@code 0%} of nothing. */
  static String percent(int part, int whole) {
    if (whole == 0) {
      return "0%";
    }
    String s = String.format(Locale.ROOT, "%.1f", 100.0 * part / whole);
    return (s.endsWith(".0") ? s.substring(0, s.length() - 2) : s) + "%";
  }
}
