package dev.sluice.balance;

import java.util.List;

/**
 * One scheduling algorithm: picks a backend among candidates that are all eligible and all in the
 * same (best non-empty) priority tier. One implementation per algorithm of DESIGN §5.
 *
 * <p>Contract: {@code candidates} is non-empty; {@code weights[i]} is the effective weight of
 * {@code candidates.get(i)} (configured weight scaled by slow start, always &gt; 0). {@code weights}
 * may be longer than {@code candidates}: entries past {@code candidates.size()} are meaningless.
 * Both are scratch space reused by the caller, valid only during the call. Implementations are
 * thread-safe: event loops call {@link #select} concurrently. Deterministic given the injected
 * randomness.
 */
public interface Selector {
  Backend select(List<Backend> candidates, double[] weights, SelectionKey key);
}
