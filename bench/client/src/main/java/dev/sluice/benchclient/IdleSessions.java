package dev.sluice.benchclient;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * Opens N SMTP sessions spread over several source addresses; each reads the banner, sends EHLO
 * and then stays idle. Prints {@code OPENED ok=N failed=M seconds=S}, then obeys stdin: {@code
 * check} → NOOP on every open session, prints {@code ALIVE ok=N dead=M}; EOF or {@code quit} →
 * QUIT and close all, prints {@code CLOSED}.
 */
final class IdleSessions {
  private IdleSessions() {}

  static int run(Main.Args a) throws Exception {
    InetSocketAddress target = Main.hostPort(a.required("target"));
    int n = a.integer("sessions", 10_000);
    List<InetAddress> sources = Main.addressRange(a.get("sources", "127.0.1.1-127.0.1.20"));
    int threads = a.integer("threads", 8);
    String ehlo = a.get("ehlo", "idle.bench.test");
    int timeoutMs = a.integer("timeout-ms", 30_000);

    AtomicReferenceArray<SmtpConn> conns = new AtomicReferenceArray<>(n);
    AtomicInteger next = new AtomicInteger();
    AtomicInteger ok = new AtomicInteger();
    Map<String, Integer> failures = new TreeMap<>();
    long t0 = System.nanoTime();
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    for (int t = 0; t < threads; t++) {
      pool.execute(() -> {
        int i;
        while ((i = next.getAndIncrement()) < n) {
          InetAddress src = sources.get(i % sources.size());
          SmtpConn c = null;
          try {
            c = SmtpConn.open(src, target, timeoutMs).handshake(ehlo);
            conns.set(i, c);
            int k = ok.incrementAndGet();
            if (k % 1000 == 0) {
              System.out.printf("progress %d sessions open (%.1f s)%n", k, (System.nanoTime() - t0) / 1e9);
            }
          } catch (IOException e) {
            if (c != null) c.close();
            String key = e.getClass().getSimpleName() + ": " + e.getMessage();
            synchronized (failures) {
              failures.merge(key.length() > 160 ? key.substring(0, 160) : key, 1, Integer::sum);
            }
          }
        }
      });
    }
    pool.shutdown();
    pool.awaitTermination(1, TimeUnit.HOURS);
    int failed = n - ok.get();
    System.out.printf("OPENED ok=%d failed=%d seconds=%.1f sources=%d%n", ok.get(), failed, (System.nanoTime() - t0) / 1e9, sources.size());
    failures.forEach((k, v) -> System.out.printf("FAILURE count=%d %s%n", v, k));
    System.out.flush();

    BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in));
    String cmd;
    while ((cmd = stdin.readLine()) != null && !cmd.trim().equals("quit")) {
      if (cmd.trim().equals("check")) check(conns, threads);
    }
    long c0 = System.nanoTime();
    ExecutorService closer = Executors.newFixedThreadPool(threads);
    for (int i = 0; i < n; i++) {
      SmtpConn c = conns.get(i);
      if (c == null) continue;
      closer.execute(() -> {
        try {
          c.send("QUIT");
        } catch (IOException ignored) {
          // closing anyway
        }
        c.close();
      });
    }
    closer.shutdown();
    closer.awaitTermination(10, TimeUnit.MINUTES);
    System.out.printf("CLOSED seconds=%.1f%n", (System.nanoTime() - c0) / 1e9);
    return failed == 0 ? 0 : 2;
  }

  /** NOOP on every session still open; a session that does not answer 250 is closed and counted dead. */
  private static void check(AtomicReferenceArray<SmtpConn> conns, int threads) throws InterruptedException {
    AtomicInteger alive = new AtomicInteger();
    AtomicInteger dead = new AtomicInteger();
    Map<String, Integer> why = new TreeMap<>();
    AtomicInteger next = new AtomicInteger();
    ExecutorService pool = Executors.newFixedThreadPool(threads);
    for (int t = 0; t < threads; t++) {
      pool.execute(() -> {
        int i;
        while ((i = next.getAndIncrement()) < conns.length()) {
          SmtpConn c = conns.get(i);
          if (c == null) continue;
          try {
            c.expect(c.command("NOOP"), 250, "NOOP");
            alive.incrementAndGet();
          } catch (IOException e) {
            dead.incrementAndGet();
            c.close();
            conns.set(i, null);
            synchronized (why) {
              why.merge(e.getClass().getSimpleName() + ": " + e.getMessage(), 1, Integer::sum);
            }
          }
        }
      });
    }
    pool.shutdown();
    pool.awaitTermination(1, TimeUnit.HOURS);
    System.out.printf("ALIVE ok=%d dead=%d%n", alive.get(), dead.get());
    why.forEach((k, v) -> System.out.printf("DEAD count=%d %s%n", v, k));
    System.out.flush();
  }
}
