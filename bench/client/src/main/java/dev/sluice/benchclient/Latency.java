package dev.sluice.benchclient;

import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;

/**
 * Times whole SMTP transactions on persistent sessions: from writing {@code MAIL FROM} until the
 * 250 after the end-of-data dot (MAIL, RCPT, DATA, body and dot in lock step, no pipelining), for
 * several paths (e.g. direct to a sink, through Sluice smtp mode, through Sluice tcp mode).
 *
 * <p>Every path opens {@code --sessions} sessions at the start and keeps them. After a warm-up,
 * {@code --rounds} rounds run; in each, every path in turn (the order rotated each round) runs
 * {@code --tx} transactions on each of its sessions concurrently (closed loop: a session starts
 * its next transaction as soon as the previous one is answered). Only one path is busy at a time.
 *
 * <p>Prints per path: {@code RESULT path=P sessions=S count=N errors=E p50_us=.. p90_us=.. p99_us=..
 * p999_us=.. max_us=.. mean_us=..}, and {@code ACCEPTED total=N} (every 250 after the dot,
 * warm-up included, to compare with the sink's count).
 */
final class Latency {
  private Latency() {}

  private static final long HIGHEST_NS = 120_000_000_000L;

  private static final class Path {
    final String name;
    final InetSocketAddress target;
    final SmtpConn[] conns;
    final Histogram histogram = new Histogram(HIGHEST_NS, 3);
    final AtomicLong errors = new AtomicLong();
    final Map<String, Integer> errorKinds = new TreeMap<>();

    Path(String name, InetSocketAddress target, int sessions) {
      this.name = name;
      this.target = target;
      this.conns = new SmtpConn[sessions];
    }

    void error(Exception e) {
      errors.incrementAndGet();
      synchronized (errorKinds) {
        errorKinds.merge(e.getClass().getSimpleName() + ": " + e.getMessage(), 1, Integer::sum);
      }
    }
  }

  static int run(Main.Args a) throws Exception {
    int sessions = a.integer("sessions", 1);
    int rounds = a.integer("rounds", 5);
    int tx = a.integer("tx", 200);
    int warmup = a.integer("warmup", 200);
    int size = a.integer("size", 1024);
    int timeoutMs = a.integer("timeout-ms", 60_000);
    String hdrDir = a.get("hdr-dir", null);
    List<Path> paths = new ArrayList<>();
    for (String p : a.all("path")) {
      int eq = p.indexOf('=');
      if (eq <= 0) throw new IllegalArgumentException("--path NAME=HOST:PORT, got '" + p + "'");
      paths.add(new Path(p.substring(0, eq), Main.hostPort(p.substring(eq + 1)), sessions));
    }
    if (paths.isEmpty()) throw new IllegalArgumentException("at least one --path");
    byte[] message = Messages.withTerminator(size);
    AtomicLong accepted = new AtomicLong();

    for (Path p : paths) {
      for (int i = 0; i < sessions; i++) p.conns[i] = SmtpConn.open(null, p.target, timeoutMs).handshake("latency.bench.test");
    }
    System.out.printf("OPENED paths=%d sessions=%d message_bytes=%d%n", paths.size(), sessions, message.length - 3);

    ExecutorService pool = Executors.newFixedThreadPool(sessions);
    try {
      if (warmup > 0) {
        for (Path p : paths) segment(pool, p, warmup, message, accepted, timeoutMs, false);
        System.out.printf("WARMUP done tx_per_session=%d%n", warmup);
      }
      long t0 = System.nanoTime();
      for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < paths.size(); j++) {
          Path p = paths.get((j + r) % paths.size());
          long s0 = System.nanoTime();
          segment(pool, p, tx, message, accepted, timeoutMs, true);
          System.out.printf("round %d %-8s %6d tx %7.2f s%n", r + 1, p.name, tx * sessions, (System.nanoTime() - s0) / 1e9);
        }
      }
      System.out.printf("RUNS done seconds=%.1f%n", (System.nanoTime() - t0) / 1e9);
    } finally {
      pool.shutdownNow();
    }
    for (Path p : paths) {
      Histogram h = p.histogram;
      System.out.printf(
          "RESULT path=%s sessions=%d count=%d errors=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f%n",
          p.name, sessions, h.getTotalCount(), p.errors.get(), us(h.getValueAtPercentile(50)), us(h.getValueAtPercentile(90)),
          us(h.getValueAtPercentile(99)), us(h.getValueAtPercentile(99.9)), us(h.getMaxValue()), h.getMean() / 1000.0);
      p.errorKinds.forEach((k, v) -> System.out.printf("ERROR path=%s count=%d %s%n", p.name, v, k));
      if (hdrDir != null) {
        try (PrintStream out = new PrintStream(new File(hdrDir, "latency-" + p.name + "-s" + sessions + ".hgrm"))) {
          h.outputPercentileDistribution(out, 1000.0); // values in microseconds
        }
      }
    }
    System.out.printf("ACCEPTED total=%d%n", accepted.get());
    for (Path p : paths) {
      for (SmtpConn c : p.conns) {
        if (c == null) continue;
        try {
          c.command("QUIT");
        } catch (IOException ignored) {
          // closing anyway
        }
        c.close();
      }
    }
    long errors = paths.stream().mapToLong(p -> p.errors.get()).sum();
    return errors == 0 ? 0 : 2;
  }

  private static double us(long ns) {
    return ns / 1000.0;
  }

  /** Runs {@code tx} transactions on every session of {@code p} at once; records into p's histogram when {@code record}. */
  private static void segment(ExecutorService pool, Path p, int tx, byte[] message, AtomicLong accepted, int timeoutMs, boolean record)
      throws Exception {
    List<Future<Histogram>> futures = new ArrayList<>();
    for (int i = 0; i < p.conns.length; i++) {
      final int slot = i;
      futures.add(pool.submit(() -> {
        Histogram h = new Histogram(HIGHEST_NS, 3);
        for (int k = 0; k < tx; k++) {
          SmtpConn c = p.conns[slot];
          try {
            long t0 = System.nanoTime();
            c.expect(c.command("MAIL FROM:<" + Messages.FROM + ">"), 250, "MAIL FROM");
            c.expect(c.command("RCPT TO:<" + Messages.TO + ">"), 250, "RCPT TO");
            c.expect(c.command("DATA"), 354, "DATA");
            c.write(message);
            c.expect(c.readReply(), 250, "end of data");
            long t1 = System.nanoTime();
            accepted.incrementAndGet();
            h.recordValue(Math.min(t1 - t0, HIGHEST_NS));
          } catch (SmtpConn.UnexpectedReply e) {
            p.error(e);
            try {
              c.command("RSET");
            } catch (IOException e2) {
              p.conns[slot] = reconnect(p, c, timeoutMs);
            }
          } catch (IOException e) {
            p.error(e);
            p.conns[slot] = reconnect(p, c, timeoutMs);
          }
        }
        return h;
      }));
    }
    for (Future<Histogram> f : futures) {
      Histogram h = f.get();
      if (record) {
        synchronized (p.histogram) {
          p.histogram.add(h);
        }
      }
    }
  }

  private static SmtpConn reconnect(Path p, SmtpConn old, int timeoutMs) throws IOException {
    old.close();
    return SmtpConn.open(null, p.target, timeoutMs).handshake("latency.bench.test");
  }
}
