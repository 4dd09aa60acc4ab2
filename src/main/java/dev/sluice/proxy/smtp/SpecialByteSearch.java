package dev.sluice.proxy.smtp;

import io.netty.buffer.ByteBuf;
import io.netty.util.internal.PlatformDependent;

/**
 * Finds, in a message body, the next byte the DATA framing state machine ({@link DataScanner})
 * must see; every byte before it can be passed over in bulk. Runs over every byte of every message
 * in smtp mode, so it is written for speed: several bytes per step, no allocation, no per-byte
 * bounds or reference-count checks on off-heap buffers.
 *
 * <p>Two searches:
 * <ul>
 *   <li>{@link #firstAtMostCr}: the first byte whose value is at most CR (13), i.e. NUL, LF, CR and
 *       the other control bytes. Every byte above CR is ordinary inside a line.
 *   <li>{@link #firstStop}: the same, but also passing over every CR LF followed by a byte above CR
 *       that is not a '.', the break between two ordinary lines. Valid only for a scanner inside a
 *       line with no CR held ({@link DataScanner#ordinaryLineBreakPossible()}), for which those
 *       three bytes change nothing but the count.
 * </ul>
 *
 * <p>Both read only bytes in {@code [from, to)}. Stateless; safe from any thread for buffers the
 * caller owns.
 */
public final class SpecialByteSearch {
  private static final long ONES = 0x0101010101010101L;
  private static final long HIGH_BITS = 0x8080808080808080L;
  /** CR then LF, read as a little-endian short. */
  private static final short CRLF_LE = 0x0A0D;
  /** Bytes per step of {@link #firstStop}'s fast path: most runs this long in a body are in a line. */
  private static final int BLOCK = 4 * Long.BYTES;
  /**
   * Whether off-heap memory may be read directly rather than through ByteBuf's accessors, which
   * re-check the bounds and the reference count on every call. Needs a little-endian machine and
   * {@code sun.misc.Unsafe}: on Java 24 and later Netty can give a buffer a memory address (from a
   * {@code MemorySegment}) while Unsafe is not usable, and then only the accessors work.
   */
  private static final boolean UNSAFE_READS = PlatformDependent.hasUnsafe() && !PlatformDependent.BIG_ENDIAN_NATIVE_ORDER;

  private SpecialByteSearch() {}

  /**
   * The index of the first byte in {@code [from, to)} whose value is at most CR; {@code to} when
   * there is none.
   */
  public static int firstAtMostCr(ByteBuf in, int from, int to) {
    return direct(in) ? firstAtMostCr(in.memoryAddress(), from, to) : firstAtMostCrHeap(in, from, to);
  }

  /**
   * The index of the first byte in {@code [from, to)} that the scanner must see when ordinary line
   * breaks need not be seen: bytes above CR are passed over, and so is every CR LF followed by a
   * byte above CR that is not a '.'. {@code to} when there is none; a break whose third byte is at
   * or beyond {@code to} is a stop (that byte has not arrived yet).
   */
  public static int firstStop(ByteBuf in, int from, int to) {
    return direct(in) ? firstStop(in.memoryAddress(), from, to) : firstStopHeap(in, from, to);
  }

  /** Off-heap with Unsafe usable: memory is read directly (see {@link #UNSAFE_READS}). */
  private static boolean direct(ByteBuf in) {
    return UNSAFE_READS && in.hasMemoryAddress();
  }

  /**
   * High bit set in every byte of {@code x} that is at most CR, and possibly in bytes above such a
   * byte, never below one: the "has a byte less than n" trick, {@code (x - 14 * ONES) & ~x}, where a
   * borrow from a true match can flag the next byte up. So the lowest flag is exact, and a word
   * without flags has no byte at most CR.
   */
  private static long atMostCrFlags(long x) {
    return (x - 14 * ONES) & ~x & HIGH_BITS;
  }

  private static int firstAtMostCr(long address, int from, int to) {
    int i = from;
    for (; i + Long.BYTES <= to; i += Long.BYTES) {
      long flags = atMostCrFlags(PlatformDependent.getLong(address + i));
      if (flags != 0) {
        return i + lowestFlaggedByte(flags);
      }
    }
    for (; i < to; i++) {
      if ((PlatformDependent.getByte(address + i) & 0xFF) <= '\r') {
        return i;
      }
    }
    return to;
  }

  private static int firstStop(long address, int from, int to) {
    int i = from;
    while (true) {
      int special = -1;
      // Four words per step with one branch: inside a line, most are free of special bytes, and
      // the branch that leaves this loop once per line is the costliest part of the search.
      for (; i + BLOCK <= to; i += BLOCK) {
        long a = atMostCrFlags(PlatformDependent.getLong(address + i));
        long b = atMostCrFlags(PlatformDependent.getLong(address + i + 8));
        long c = atMostCrFlags(PlatformDependent.getLong(address + i + 16));
        long d = atMostCrFlags(PlatformDependent.getLong(address + i + 24));
        if ((a | b | c | d) != 0) {
          special = a != 0 ? i + lowestFlaggedByte(a)
              : b != 0 ? i + 8 + lowestFlaggedByte(b)
              : c != 0 ? i + 16 + lowestFlaggedByte(c)
              : i + 24 + lowestFlaggedByte(d);
          break;
        }
      }
      if (special < 0) {
        special = firstAtMostCr(address, i, to); // fewer than BLOCK bytes left
      }
      if (special + 2 >= to) {
        return special; // at the end, or a break whose next byte has not arrived yet
      }
      short crlf = PlatformDependent.getShort(address + special);
      byte next = PlatformDependent.getByte(address + special + 2);
      if (crlf != CRLF_LE || !ordinaryLineStart(next)) {
        return special;
      }
      i = special + 3;
    }
  }

  private static int lowestFlaggedByte(long flags) {
    return Long.numberOfTrailingZeros(flags) >>> 3;
  }

  /** A byte that starts a line the scanner need not see: above CR, and not a '.' (RFC 5321 §4.5.2). */
  private static boolean ordinaryLineStart(byte b) {
    return (b & 0xFF) > '\r' && b != '.';
  }

  /** On-heap buffers, a big-endian machine, or no Unsafe: through the buffer's checked accessors. */
  private static int firstAtMostCrHeap(ByteBuf in, int from, int to) {
    int i = from;
    for (; i + Long.BYTES <= to; i += Long.BYTES) {
      long flags = atMostCrFlags(in.getLongLE(i));
      if (flags != 0) {
        return i + lowestFlaggedByte(flags);
      }
    }
    for (; i < to; i++) {
      if ((in.getByte(i) & 0xFF) <= '\r') {
        return i;
      }
    }
    return to;
  }

  private static int firstStopHeap(ByteBuf in, int from, int to) {
    int i = from;
    while (true) {
      int special = firstAtMostCrHeap(in, i, to);
      if (special + 2 >= to || in.getByte(special) != '\r' || in.getByte(special + 1) != '\n'
          || !ordinaryLineStart(in.getByte(special + 2))) {
        return special;
      }
      i = special + 3;
    }
  }
}
