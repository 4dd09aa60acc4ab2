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
 * its next transaction as soon as the previous one is answered; with {@code --rate R}, paced: each
 * session starts one every sessions/R seconds, so the path carries R transactions per second in
 * all). Only one path is busy at a time.
 *
 * <p>Prints per path: {@code RESULT path=P sessions=S count=N errors=E p50_us=.. p90_us=.. p99_us=..
 * p999_us=.. max_us=.. mean_us=.. [cpu_us_per_tx=..]} (CPU time of the process {@code --cpu-pid}
 * while the path ran, per transaction); per path other than {@code --baseline} (default direct):
 * {@code ADDED path=P ... p50_median_us=.. p99_median_us=.. p99_min_us=.. p99_max_us=..}, the
 * per-round differences to the baseline (robust against a disturbance in a single round); and
 * {@code ACCEPTED total=N} (every 250 after the dot, warm-up included, to compare with the sink's
 * count).
 */
final class Latency {
  private Latency() {}

  private static final long HIGHEST_NS = 120_000_000_000L;

  private static final class Path {
    final String name;
    final InetSocketAddress target;
    final SmtpConn[] conns;
    final Histogram histogram = new Histogram(HIGHEST_NS, 3);
    /** One histogram per round, for the per-round comparison with the baseline. */
    final List<Histogram> rounds = new ArrayList<>();
    /** CPU time (clock ticks) the watched process used while this path ran. */
    long cpuTicks;
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
    String baseline = a.get("baseline", "direct");
    String cpuPid = a.get("cpu-pid", null);
    int clkTck = a.integer("clk-tck", 100);
    double rate = Double.parseDouble(a.get("rate", "0"));
    // Paced: each session starts a transaction every sessions/rate seconds (no burst to catch up).
    long intervalNs = rate > 0 ? (long) (sessions * 1e9 / rate) : 0;
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
        for (Path p : paths) segment(pool, p, warmup, message, accepted, timeoutMs, intervalNs, false);
        System.out.printf("WARMUP done tx_per_session=%d%n", warmup);
      }
      long t0 = System.nanoTime();
      for (int r = 0; r < rounds; r++) {
        for (int j = 0; j < paths.size(); j++) {
          Path p = paths.get((j + r) % paths.size());
          long s0 = System.nanoTime();
          long c0 = cpuTicks(cpuPid);
          p.rounds.add(segment(pool, p, tx, message, accepted, timeoutMs, intervalNs, true));
          p.cpuTicks += cpuTicks(cpuPid) - c0;
          System.out.printf("round %d %-8s %6d tx %7.2f s%n", r + 1, p.name, tx * sessions, (System.nanoTime() - s0) / 1e9);
        }
      }
      System.out.printf("RUNS done seconds=%.1f%n", (System.nanoTime() - t0) / 1e9);
    } finally {
      pool.shutdownNow();
    }
    for (Path p : paths) {
      Histogram h = p.histogram;
      String cpu = cpuPid == null || h.getTotalCount() == 0 ? "" : String.format(" cpu_us_per_tx=%.1f", p.cpuTicks * 1e6 / clkTck / h.getTotalCount());
      System.out.printf(
          "RESULT path=%s sessions=%d rate=%s count=%d errors=%d p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f mean_us=%.1f%s%n",
          p.name, sessions, rate > 0 ? Long.toString(Math.round(rate)) : "closed", h.getTotalCount(), p.errors.get(), us(h.getValueAtPercentile(50)), us(h.getValueAtPercentile(90)),
          us(h.getValueAtPercentile(99)), us(h.getValueAtPercentile(99.9)), us(h.getMaxValue()), h.getMean() / 1000.0, cpu);
      p.errorKinds.forEach((k, v) -> System.out.printf("ERROR path=%s count=%d %s%n", p.name, v, k));
      if (hdrDir != null) {
        try (PrintStream out = new PrintStream(new File(hdrDir, "latency-" + p.name + "-s" + sessions + ".hgrm"))) {
          h.outputPercentileDistribution(out, 1000.0); // values in microseconds
        }
      }
    }
    Path base = paths.stream().filter(p -> p.name.equals(baseline)).findFirst().orElse(null);
    if (base != null) {
      for (Path p : paths) {
        if (p == base) continue;
        double[] d50 = new double[rounds];
        double[] d99 = new double[rounds];
        for (int r = 0; r < rounds; r++) {
          d50[r] = us(p.rounds.get(r).getValueAtPercentile(50) - base.rounds.get(r).getValueAtPercentile(50));
          d99[r] = us(p.rounds.get(r).getValueAtPercentile(99) - base.rounds.get(r).getValueAtPercentile(99));
        }
        java.util.Arrays.sort(d50);
        java.util.Arrays.sort(d99);
        System.out.printf("ADDED path=%s sessions=%d rate=%s rounds=%d p50_median_us=%.1f p99_median_us=%.1f p99_min_us=%.1f p99_max_us=%.1f%n",
            p.name, sessions, rate > 0 ? Long.toString(Math.round(rate)) : "closed", rounds, median(d50), median(d99), d99[0], d99[rounds - 1]);
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

  private static double median(double[] sorted) {
    int n = sorted.length;
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  }

  /** utime + stime of a process in clock ticks (0 without a pid). */
  private static long cpuTicks(String pid) throws IOException {
    if (pid == null) return 0;
    String stat = java.nio.file.Files.readString(java.nio.file.Path.of("/proc", pid, "stat"));
    String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
    return Long.parseLong(f[11]) + Long.parseLong(f[12]); // fields 14 and 15 of proc(5)
  }

  private static double us(long ns) {
    return ns / 1000.0;
  }

  /** Runs {@code tx} transactions on every session of {@code p} at once; returns their histogram, also added to p's when {@code record}. */
  private static Histogram segment(
      ExecutorService pool, Path p, int tx, byte[] message, AtomicLong accepted, int timeoutMs, long intervalNs, boolean record)
      throws Exception {
    List<Future<Histogram>> futures = new ArrayList<>();
    for (int i = 0; i < p.conns.length; i++) {
      final int slot = i;
      futures.add(pool.submit(() -> {
        Histogram h = new Histogram(HIGHEST_NS, 3);
        // Sessions start staggered over one interval when paced.
        long next = System.nanoTime() + (intervalNs > 0 ? intervalNs * slot / p.conns.length : 0);
        for (int k = 0; k < tx; k++) {
          if (intervalNs > 0) {
            long wait;
            while ((wait = next - System.nanoTime()) > 0) java.util.concurrent.locks.LockSupport.parkNanos(wait);
            next = Math.max(next + intervalNs, System.nanoTime());
          }
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
    Histogram all = new Histogram(HIGHEST_NS, 3);
    for (Future<Histogram> f : futures) all.add(f.get());
    if (record) p.histogram.add(all);
    return all;
  }

  private static SmtpConn reconnect(Path p, SmtpConn old, int timeoutMs) throws IOException {
    old.close();
    return SmtpConn.open(null, p.target, timeoutMs).handshake("latency.bench.test");
  }
}
