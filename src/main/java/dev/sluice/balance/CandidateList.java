package dev.sluice.balance;

import java.util.AbstractList;
import java.util.Objects;
import java.util.RandomAccess;

/**
 * A reusable list of some of a pool's backends, held as positions in the pool's array.
 *
 * <p>Why not an {@code ArrayList}: filling one stores a reference per candidate, and with G1 every
 * reference store into a long-lived array pays a write barrier (card marking, often a StoreLoad
 * fence); at 100 backends dropping it cut a whole selection by a third to a half (bench/RESULTS.md).
 * Storing {@code int}s costs a plain write.
 *
 * <p>Not thread-safe: each thread fills its own (see {@link PoolBalancer}). Read-only to others:
 * {@link Selector}s only read it.
 */
final class CandidateList extends AbstractList<Backend> implements RandomAccess {
  private final Backend[] pool;
  /**
   * Positions in the pool array of the candidates, in order; the owner fills it directly and then
   * calls {@link #setSize}, so its loop keeps the count in a register.
   */
  final int[] positions;
  private int size;

  CandidateList(Backend[] pool) {
    this.pool = pool;
    this.positions = new int[pool.length];
  }

  /** Makes the list the first {@code size} entries of {@link #positions}. */
  void setSize(int size) {
    this.size = size;
  }

  @Override
  public Backend get(int index) {
    Objects.checkIndex(index, size);
    return pool[positions[index]];
  }

  @Override
  public int size() {
    return size;
  }
}
