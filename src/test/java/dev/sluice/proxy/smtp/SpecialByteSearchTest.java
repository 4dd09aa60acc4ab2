package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The eight-bytes-at-a-time search for bytes the DATA scanner must see matches a plain loop. */
class SpecialByteSearchTest {

  static int naive(byte[] b, int from, int to) {
    for (int i = from; i < to; i++) {
      if ((b[i] & 0xFF) <= '\r') {
        return i;
      }
    }
    return to;
  }

  @Test
  void everyByteValueAtEveryPositionOfAWord() {
    for (int value = 0; value < 256; value++) {
      for (int pos = 0; pos < 20; pos++) {
        byte[] b = new byte[20];
        java.util.Arrays.fill(b, (byte) 'x');
        b[pos] = (byte) value;
        ByteBuf buf = Unpooled.wrappedBuffer(b);
        assertThat(BodyRelay.firstAtMostCr(buf, 0, b.length)).as("value %d at %d", value, pos)
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
        assertThat(BodyRelay.firstAtMostCr(buf, from, to)).as("seed %d round %d", seed, round)
            .isEqualTo(naive(b, from, to));
        assertThat(BodyRelay.firstAtMostCr(slice, from, to)).as("slice: seed %d round %d", seed, round)
            .isEqualTo(naive(b, from, to));
      } finally {
        buf.release();
        padded.release();
      }
    }
  }
}
