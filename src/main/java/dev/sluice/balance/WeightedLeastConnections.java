package dev.sluice.balance;

/**
 * {@code least_connections}: the candidate with the lowest {@code (active() + 1) / weight}. The
 * {@code + 1} counts the connection being placed, so with weights 2:1 and nothing active the
 * heavier backend takes the first two (1/2, then 2/2 vs 1/1 ties) instead of the ratio being
 * ignored at low load. Ties rotate, so equal idle backends alternate.
 *
 * <p>Thread-safe; lock-free. {@link Backend#active()} is read without coordination, so concurrent
 * picks may see the same figure and choose the same backend; the next pick corrects it.
 */
public final class WeightedLeastConnections extends RotatingMinimumSelector {
  @Override
  double load(Backend b) {
    return b.active() + 1;
  }
}
