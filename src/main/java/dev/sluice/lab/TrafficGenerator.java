package dev.sluice.lab;

import dev.sluice.proxy.smtp.SmtpReply;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Sends SMTP traffic like real senders: each {@link Sender} is one client address sending messages
 * at its own pace over connections that carry a given number of messages (an email-security
 * gateway keeps long connections; an application opens one per message). Counts what the senders
 * saw: accepted (2xx after data), deferred (4xx), rejected (5xx), failed (connection errors).
 *
 * <p>One platform thread per sender; counters are thread-safe.
 */
public final class TrafficGenerator implements AutoCloseable {
  private final List<Sender> senders;
  private final List<Thread> threads = new ArrayList<>();
  private final AtomicLong accepted = new AtomicLong();
  private final AtomicLong deferred = new AtomicLong();
  private final AtomicLong rejected = new AtomicLong();
  private final AtomicLong failed = new AtomicLong();
  private volatile boolean running;

  /**
   * One simulated sender.
   *
   * @param target the listener this sender connects to
   * @param messagesPerConnection messages sent before QUIT and a new connection
   * @param messagesPerSecond the sender's pace
   */
  public record Sender(String label, InetSocketAddress target, InetAddress source, String from, int messagesPerConnection,
      double messagesPerSecond) {}

  public TrafficGenerator(List<Sender> senders) {
    this.senders = List.copyOf(senders);
  }

  public void start() {
    running = true;
    for (Sender s : senders) {
      Thread t = new Thread(() -> run(s), "traffic-" + s.label());
      t.setDaemon(true);
      threads.add(t);
      t.start();
    }
  }

  private void run(Sender s) {
    long pauseMs = (long) (1000 / s.messagesPerSecond());
    long n = 0;
    while (running) {
      try (LabSmtpClient c = LabSmtpClient.connect(s.target(), s.source(), Duration.ofSeconds(30))) {
        if (!c.banner().isPositive()) {
          count(c.banner());
          pause(pauseMs * 5);
          continue;
        }
        c.command("EHLO " + s.label() + ".lab.invalid");
        for (int i = 0; i < s.messagesPerConnection() && running; i++) {
          n++;
          SmtpReply r = c.send(s.from(), "user" + (n % 50) + "@corp.example", body(s, n));
          count(r);
          pause(pauseMs);
        }
      } catch (IOException e) {
        failed.incrementAndGet();
        pause(pauseMs * 5);
      }
    }
  }

  private static String body(Sender s, long n) {
    return "From: " + s.from() + "\nTo: lab@corp.example\nSubject: lab message " + n + " from " + s.label()
        + "\nMessage-ID: <" + s.label() + "." + n + "." + System.nanoTime() + "@lab.invalid>\n\nHello from the Sluice lab.\n";
  }

  private void count(SmtpReply r) {
    if (r.isPositive()) {
      accepted.incrementAndGet();
    } else if (r.isTransient()) {
      deferred.incrementAndGet();
    } else {
      rejected.incrementAndGet();
    }
  }

  private void pause(long ms) {
    if (ms <= 0 || !running) {
      return;
    }
    try {
      Thread.sleep(ms);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      running = false;
    }
  }

  public long accepted() {
    return accepted.get();
  }

  public long deferred() {
    return deferred.get();
  }

  public long rejected() {
    return rejected.get();
  }

  public long failed() {
    return failed.get();
  }

  /** Stops every sender after its current message and waits for them. */
  @Override
  public void close() throws InterruptedException {
    running = false;
    for (Thread t : threads) {
      t.interrupt();
    }
    for (Thread t : threads) {
      t.join(35_000);
    }
  }
}
