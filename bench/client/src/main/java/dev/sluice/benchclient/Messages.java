package dev.sluice.benchclient;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/** Test messages: headers, then 78-character lines of filler, CRLF everywhere, no line starting with '.'. */
final class Messages {
  private Messages() {}

  static final String FROM = "bench@sluice-bench.test";
  static final String TO = "sink@sluice-bench.test";
  private static final byte[] FILLER_LINE =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-sluice-bench-xxx\r\n".getBytes(StandardCharsets.US_ASCII);

  static byte[] headers(String subject) {
    return ("From: <" + FROM + ">\r\nTo: <" + TO + ">\r\nSubject: " + subject
            + "\r\nMessage-ID: <" + System.nanoTime() + "@sluice-bench.test>\r\n\r\n")
        .getBytes(StandardCharsets.US_ASCII);
  }

  /** A whole message of about {@code size} bytes (at least the headers) followed by ".\r\n". */
  static byte[] withTerminator(int size) {
    ByteArrayOutputStream b = new ByteArrayOutputStream(size + 128);
    b.writeBytes(headers("latency bench"));
    while (b.size() + FILLER_LINE.length <= size) b.writeBytes(FILLER_LINE);
    int rest = size - b.size() - 2;
    if (rest > 0) {
      b.write(FILLER_LINE, 0, Math.min(rest, FILLER_LINE.length - 2));
      b.write('\r');
      b.write('\n');
    }
    b.writeBytes(".\r\n".getBytes(StandardCharsets.US_ASCII));
    return b.toByteArray();
  }

  /** Streams a message of exactly {@code size} content bytes (headers included) and the terminator. */
  static void stream(SmtpConn c, long size) throws IOException {
    byte[] head = headers("big message bench");
    c.write(head);
    long left = size - head.length;
    byte[] chunk = new byte[FILLER_LINE.length * 840]; // ~64 KB of whole lines
    for (int i = 0; i < 840; i++) System.arraycopy(FILLER_LINE, 0, chunk, i * FILLER_LINE.length, FILLER_LINE.length);
    while (left >= chunk.length) {
      c.write(chunk);
      left -= chunk.length;
    }
    while (left >= FILLER_LINE.length) {
      c.write(FILLER_LINE);
      left -= FILLER_LINE.length;
    }
    if (left >= 3) {
      byte[] tail = new byte[(int) left];
      System.arraycopy(FILLER_LINE, 0, tail, 0, (int) left - 2);
      tail[(int) left - 2] = '\r';
      tail[(int) left - 1] = '\n';
      c.write(tail);
    }
    c.write(".\r\n".getBytes(StandardCharsets.US_ASCII));
  }
}
