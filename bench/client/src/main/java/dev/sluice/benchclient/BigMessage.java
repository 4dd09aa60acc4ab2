package dev.sluice.benchclient;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;

/** Sends one message of --size bytes; prints {@code BIG size=N reply=CODE seconds=S text=...}; exit 0 on 250. */
final class BigMessage {
  private BigMessage() {}

  static int run(Main.Args a) throws Exception {
    InetSocketAddress target = Main.hostPort(a.required("target"));
    long size = a.number("size", 100L * 1024 * 1024);
    String src = a.get("source", null);
    InetAddress source = src == null ? null : InetAddress.getByName(src);
    long t0 = System.nanoTime();
    try (SmtpConn c = SmtpConn.open(source, target, a.integer("timeout-ms", 600_000)).handshake("big.bench.test")) {
      c.expect(c.command("MAIL FROM:<" + Messages.FROM + "> SIZE=" + size), 250, "MAIL FROM");
      c.expect(c.command("RCPT TO:<" + Messages.TO + ">"), 250, "RCPT TO");
      c.expect(c.command("DATA"), 354, "DATA");
      Messages.stream(c, size);
      int code = c.readReply();
      double secs = (System.nanoTime() - t0) / 1e9;
      System.out.printf("BIG size=%d reply=%d seconds=%.2f text=%s%n", size, code, secs, c.lastReply);
      try {
        c.command("QUIT");
      } catch (IOException ignored) {
        // the message is what counts
      }
      return code == 250 ? 0 : 2;
    } catch (IOException e) {
      System.out.printf("BIG size=%d reply=none seconds=%.2f text=%s: %s%n", size, (System.nanoTime() - t0) / 1e9,
          e.getClass().getSimpleName(), e.getMessage());
      return 2;
    }
  }
}
