package dev.sluice.balance;

/**
 * A fixed, seeded 64-bit hash of bytes (murmur3-style block mixing with murmur3's {@code fmix64}
 * finaliser).
 *
 * <p>Written out here rather than borrowed from {@link String#hashCode()}, {@link
 * java.util.Arrays#hashCode(byte[])} or identity hashes because its output is a cross-node contract:
 * every Sluice node with the same config must map a client to the same backend, today and after an
 * upgrade. Changing a constant re-maps every client; {@code StableHashTest} pins known values.
 *
 * <p>Stateless; thread-safe.
 */
final class StableHash {
  private static final long C1 = 0x87c37b91114253d5L;
  private static final long C2 = 0x4cf5ad432745937fL;

  private StableHash() {}

  /** The hash of {@code data} under {@code seed}; different seeds give independent hashes. */
  static long hash64(byte[] data, long seed) {
    int length = data.length;
    long h = seed ^ (length * C1);
    int i = 0;
    for (; i + Long.BYTES <= length; i += Long.BYTES) {
      h ^= mixBlock(littleEndianLong(data, i));
      h = Long.rotateLeft(h, 27) * 5 + 0x52dce729;
    }
    if (i < length) {
      long tail = 0;
      for (int j = length - 1; j >= i; j--) {
        tail = (tail << 8) | (data[j] & 0xff);
      }
      h ^= mixBlock(tail);
    }
    return fmix64(h);
  }

  /**
   * A uniform double strictly inside (0, 1) from a hash: the top 52 bits, offset by half a step so
   * neither 0 nor 1 can come out (rendezvous hashing takes its logarithm and divides by it). 52, not
   * 53: the top value plus the half step must still fit a double's mantissa, or it rounds to 1.
   */
  static double unitInterval(long hash) {
    return ((hash >>> 12) + 0.5) * 0x1.0p-52;
  }

  private static long mixBlock(long k) {
    k *= C1;
    k = Long.rotateLeft(k, 31);
    return k * C2;
  }

  private static long littleEndianLong(byte[] data, int offset) {
    long v = 0;
    for (int b = Long.BYTES - 1; b >= 0; b--) {
      v = (v << 8) | (data[offset + b] & 0xff);
    }
    return v;
  }

  /** murmur3's 64-bit finaliser: every input bit affects every output bit. */
  private static long fmix64(long k) {
    k ^= k >>> 33;
    k *= 0xff51afd7ed558ccdL;
    k ^= k >>> 33;
    k *= 0xc4ceb9fe1a85ec53L;
    k ^= k >>> 33;
    return k;
  }
}
