package dev.sluice.proxy.smtp.bench;

import dev.sluice.proxy.smtp.SpecialByteSearch;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.util.internal.PlatformDependent;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * The body search of smtp mode over 64 KiB of an ordinary message body in an off-heap buffer, the
 * size of one large read from a client: {@link SpecialByteSearch#firstStop} passes over all of it
 * (the body has only ordinary line breaks), so each operation is the cost of searching 64 KiB.
 *
 * <p>References, in the same run:
 * <ul>
 *   <li>{@code wordPerStep}: the previous search (fifth session), eight bytes per step and a return
 *       to the caller's loop at every line break; what the block search replaced. Its code is kept
 *       here as it was, not called from {@link SpecialByteSearch}, so the reference stays fixed
 *       when that class changes (it also looked the buffer's address up once per search, which
 *       the public entry points do once per call).
 *   <li>{@code nettyIndexOfLf}: Netty's own {@code ByteBuf.indexOf} for LF, line after line: the
 *       library's search for one byte value, which finds less than Sluice must (no CR, NUL or dot
 *       check), as a yardstick of what a well-kept library achieves.
 *   <li>{@code byteLoop}: one byte at a time through the buffer's checked accessor.
 * </ul>
 *
 * Line lengths: 78 (RFC 5322's recommended limit; what {@code smtp-source} sends), 76 (base64
 * attachments) and 998 (RFC 5321's limit).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
public class BodySearchBenchmark {
  private static final int SIZE = 64 * 1024;

  @Param({"78", "76", "998"})
  int lineLength;

  private ByteBuf body;
  private int end;

  @Setup
  public void setUp() {
    StringBuilder text = new StringBuilder(SIZE + 1000);
    for (int n = 0; text.length() < SIZE; n++) {
      for (int i = 0; i < lineLength; i++) {
        text.append((char) ('A' + (n + i) % 26));
      }
      text.append("\r\n");
    }
    byte[] bytes = text.substring(0, SIZE).getBytes(StandardCharsets.US_ASCII);
    // Ends inside a line, so the whole buffer is passed over.
    bytes[SIZE - 1] = 'x';
    bytes[SIZE - 2] = 'x';
    body = Unpooled.directBuffer(SIZE).writeBytes(bytes);
    end = body.writerIndex();
    if (SpecialByteSearch.firstStop(body, 0, end) != end || wordPerStep() != end) {
      throw new IllegalStateException("the body should have no stop");
    }
  }

  @TearDown
  public void tearDown() {
    body.release();
  }

  @Benchmark
  public int firstStop() {
    return SpecialByteSearch.firstStop(body, 0, end);
  }

  @Benchmark
  public int wordPerStep() {
    long address = body.memoryAddress();
    int i = 0;
    while (true) {
      int special = firstAtMostCrWords(address, i, end);
      if (special + 2 >= end) {
        return special;
      }
      byte cr = PlatformDependent.getByte(address + special);
      byte lf = PlatformDependent.getByte(address + special + 1);
      byte next = PlatformDependent.getByte(address + special + 2);
      if (cr != '\r' || lf != '\n' || (next & 0xFF) <= '\r' || next == '.') {
        return special;
      }
      i = special + 3;
    }
  }

  private static int firstAtMostCrWords(long address, int from, int to) {
    int i = from;
    for (; i + Long.BYTES <= to; i += Long.BYTES) {
      long x = PlatformDependent.getLong(address + i);
      long flags = (x - 14 * 0x0101010101010101L) & ~x & 0x8080808080808080L;
      if (flags != 0) {
        return i + (Long.numberOfTrailingZeros(flags) >>> 3);
      }
    }
    for (; i < to; i++) {
      if ((PlatformDependent.getByte(address + i) & 0xFF) <= '\r') {
        return i;
      }
    }
    return to;
  }

  @Benchmark
  public int nettyIndexOfLf() {
    int lines = 0;
    for (int i = 0; ; lines++) {
      int lf = body.indexOf(i, end, (byte) '\n');
      if (lf < 0) {
        return lines;
      }
      i = lf + 1;
    }
  }

  @Benchmark
  public int byteLoop() {
    int i = 0;
    while (i < end) {
      int b = body.getByte(i) & 0xFF;
      if (b > '\r') {
        i++;
      } else if (i + 2 < end && b == '\r' && body.getByte(i + 1) == '\n' && (body.getByte(i + 2) & 0xFF) > '\r'
          && body.getByte(i + 2) != '.') {
        i += 3;
      } else {
        return i;
      }
    }
    return end;
  }
}
