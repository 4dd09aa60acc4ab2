package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The several-bytes-at-a-time searches for bytes the DATA scanner must see match plain loops:
 * {@link SpecialByteSearch#firstAtMostCr} and {@link SpecialByteSearch#firstStop}, which also passes
 * over ordinary line breaks. Off-heap buffers take the fast paths (words, and blocks of four words
 * in {@code firstStop}); heap buffers take the checked ones.
 */
class SpecialByteSearchTest {

  static int naive(byte[] b, int from, int to) {
    for (int i = from; i < to; i++) {
      if ((b[i] & 0xFF) <= '\r') {
        return i;
      }
    }
    return to;
  }

  /** Plain-loop reference for {@link SpecialByteSearch#firstStop}. */
  static int naiveStop(byte[] b, int from, int to) {
    int i = from;
    while (i < to) {
      if ((b[i] & 0xFF) > '\r') {
        i++;
      } else if (i + 2 < to && b[i] == '\r' && b[i + 1] == '\n' && (b[i + 2] & 0xFF) > '\r' && b[i + 2] != '.') {
        i += 3;
      } else {
        return i;
      }
    }
    return to;
  }

  /** Every sequence of up to six bytes from an alphabet of the bytes that matter, at every range. */
  @Test
  void firstStopOnEveryShortSequence() {
    byte[] alphabet = {'\r', '\n', '.', 'x', 0, '\t', (byte) 0xC3};
    for (int len = 0; len <= 6; len++) {
      int combinations = (int) Math.pow(alphabet.length, len);
      for (int c = 0; c < combinations; c++) {
        byte[] b = new byte[len + 9]; // room for a whole word in front of the sequence
        java.util.Arrays.fill(b, (byte) 'y');
        for (int k = 0, v = c; k < len; k++, v /= alphabet.length) {
          b[9 + k] = alphabet[v % alphabet.length];
        }
        ByteBuf heap = Unpooled.wrappedBuffer(b);
        ByteBuf direct = Unpooled.directBuffer(b.length).writeBytes(b);
        try {
          for (int from = 0; from <= b.length; from++) {
            for (int to = from; to <= b.length; to++) {
              int expected = naiveStop(b, from, to);
              // Compared first, described only on a mismatch: there are millions of cases.
              if (SpecialByteSearch.firstStop(heap, from, to) != expected || SpecialByteSearch.firstStop(direct, from, to) != expected) {
                String where = java.util.Arrays.toString(b) + " [" + from + ", " + to + ")";
                assertThat(SpecialByteSearch.firstStop(heap, from, to)).as("heap %s", where).isEqualTo(expected);
                assertThat(SpecialByteSearch.firstStop(direct, from, to)).as("direct %s", where).isEqualTo(expected);
              }
            }
          }
        } finally {
          direct.release();
        }
      }
    }
  }

  /**
   * Every sequence of up to four bytes from the same alphabet, at every position of a buffer two
   * blocks long, from several starts to every end: the sequence falls in every word of a block and
   * across every word and block boundary, and the end cuts into it everywhere.
   */
  @Test
  void firstStopOnShortSequencesAtEveryPositionOfABlock() {
    byte[] alphabet = {'\r', '\n', '.', 'x', 0, '\t', (byte) 0xC3};
    int length = 72;
    ByteBuf direct = Unpooled.directBuffer(length);
    try {
      for (int len = 1; len <= 4; len++) {
        int combinations = (int) Math.pow(alphabet.length, len);
        for (int c = 0; c < combinations; c++) {
          for (int pos = 0; pos + len <= length; pos++) {
            byte[] b = new byte[length];
            java.util.Arrays.fill(b, (byte) 'y');
            for (int k = 0, v = c; k < len; k++, v /= alphabet.length) {
              b[pos + k] = alphabet[v % alphabet.length];
            }
            direct.clear().writeBytes(b);
            for (int from : new int[] {0, 1, 7, Math.max(0, pos - 1), pos}) {
              for (int to = from; to <= length; to++) {
                int expected = naiveStop(b, from, to);
                if (SpecialByteSearch.firstStop(direct, from, to) != expected) {
                  assertThat(SpecialByteSearch.firstStop(direct, from, to))
                      .as("%s [%d, %d)", java.util.Arrays.toString(b), from, to).isEqualTo(expected);
                }
              }
            }
          }
        }
      }
    } finally {
      direct.release();
    }
  }

  @Test
  void firstStopOnRandomMailLikeBuffers() {
    long seed = Long.getLong("sluice.fuzz.seed", 20261130L);
    Random rnd = new Random(seed);
    for (int round = 0; round < 10_000; round++) {
      StringBuilder text = new StringBuilder();
      while (text.length() < 300) {
        int r = rnd.nextInt(100);
        // Lines of text with CRLF, now and then a dot-started line, a bare LF or CR, a NUL or a tab;
        // some lines longer than a block of four words, some shorter than one word.
        text.append("a".repeat(rnd.nextInt(r < 50 ? 8 : 80)));
        text.append(r < 70 ? "\r\n" : r < 78 ? "\r\n." : r < 84 ? "\n" : r < 90 ? "\r" : r < 95 ? "\t" : "\u0000");
      }
      byte[] b = text.toString().getBytes(java.nio.charset.StandardCharsets.ISO_8859_1);
      int from = rnd.nextInt(b.length);
      int to = from + rnd.nextInt(b.length - from + 1);
      int pad = 1 + rnd.nextInt(7);
      ByteBuf padded = Unpooled.directBuffer(b.length + pad).writeZero(pad).writeBytes(b);
      try {
        int expected = naiveStop(b, from, to);
        assertThat(SpecialByteSearch.firstStop(padded.slice(pad, b.length), from, to)).as("seed %d round %d", seed, round)
            .isEqualTo(expected);
        assertThat(SpecialByteSearch.firstStop(Unpooled.wrappedBuffer(b), from, to)).as("heap: seed %d round %d", seed, round)
            .isEqualTo(expected);
      } finally {
        padded.release();
      }
    }
  }

  @Test
  void everyByteValueAtEveryPositionOfAWord() {
    for (int value = 0; value < 256; value++) {
      for (int pos = 0; pos < 20; pos++) {
        byte[] b = new byte[20];
        java.util.Arrays.fill(b, (byte) 'x');
        b[pos] = (byte) value;
        ByteBuf buf = Unpooled.wrappedBuffer(b);
        assertThat(SpecialByteSearch.firstAtMostCr(buf, 0, b.length)).as("value %d at %d", value, pos)
            .isEqualTo(naive(b, 0, b.length));
      }
    }
  }

  @Test
  void randomBuffersAndRanges() {
    long seed = Long.getLong("sluice.fuzz.seed", 20261130L);
    Random rnd = new Random(seed);
    for (int round = 0; round < 20_000; round++) {
      byte[] b = new byte[rnd.nextInt(64) + 1];
      for (int i = 0; i < b.length; i++) {
        // Mostly text, with high bytes (UTF-8) and the odd control byte.
        int r = rnd.nextInt(100);
        b[i] = (byte) (r < 80 ? 32 + rnd.nextInt(95) : r < 95 ? 128 + rnd.nextInt(128) : rnd.nextInt(32));
      }
      int from = rnd.nextInt(b.length);
      int to = from + rnd.nextInt(b.length - from + 1);
      // Off-heap (read through its memory address), and as a slice at an odd offset into a
      // larger off-heap buffer, like the body relay's input after earlier commands.
      ByteBuf buf = Unpooled.directBuffer(b.length).writeBytes(b);
      int pad = 1 + rnd.nextInt(7);
      ByteBuf padded = Unpooled.directBuffer(b.length + pad).writeZero(pad).writeBytes(b);
      ByteBuf slice = padded.slice(pad, b.length);
      try {
        assertThat(buf.hasMemoryAddress()).isTrue();
        assertThat(SpecialByteSearch.firstAtMostCr(buf, from, to)).as("seed %d round %d", seed, round)
            .isEqualTo(naive(b, from, to));
        assertThat(SpecialByteSearch.firstAtMostCr(slice, from, to)).as("slice: seed %d round %d", seed, round)
            .isEqualTo(naive(b, from, to));
      } finally {
        buf.release();
        padded.release();
      }
    }
  }
}
