package dev.sluice.lab;

import dev.sluice.proxy.smtp.SmtpReply;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * The greylisting scenario's traffic as a fixed script: internet mail from many senders, each
 * message from its own sender, sent by the senders' MTAs from {@value #HOSTS} addresses of one /24
 * ({@code 127.0.0.60}–{@code 62}) to the internet listener, and each message retried until a server
 * accepts it, as an MTA's queue does.
 *
 * <p>The MTAs work in queue runs. The first tries every message once, in order; each later run
 * retries what the one before had deferred, in an order shuffled from a fixed seed (senders' queues
 * retry at different times; retries in the same order would meet the same round-robin positions
 * every time). A retry leaves from the next of the senders' addresses, as large senders' retries do:
 * postgrey and deferral affinity group a client's /24, source-IP persistence sees a new client. A
 * run starts {@code retryAfter} after the last one ended (the backends' greylisting delay; zero for
 * the embedded server), so waiting never changes the order and the outcome does not depend on the
 * machine's speed. In a queue run each address keeps one connection open for {@value
 * #MESSAGES_PER_CONNECTION} transactions, then reconnects.
 *
 * <p>Counted like {@link ScriptedTraffic}, per attempt: 2xx after data accepted, 4xx (and a
 * connection that failed) deferred, 5xx rejected; only a deferred message is tried again. Not
 * thread-safe.
 */
public final class GreylistTraffic {
  static final int HOSTS = 3;
  static final int FIRST_HOST = 60;
  static final int MESSAGES_PER_CONNECTION = 10;
  /** A sender gives a message up after this many attempts; greylisting by three servers needs four at most. */
  static final int MAX_ATTEMPTS = 10;
  private static final long SEED = 20_250_501L;

  private final InetSocketAddress internet;
  private final Duration retryAfter;
  private final LabSmtpClient[] hosts = new LabSmtpClient[HOSTS];
  private final int[] sentOnConnection = new int[HOSTS];
  private final ScriptedTraffic.Tally tally = new ScriptedTraffic.Tally();

  /**
   * What retrying cost the senders.
   *
   * @param messages messages the senders had to deliver
   * @param attempts transactions tried: first attempts and retries
   * @param greylisted greylisting replies ({@code 4xx … Greylisted}) the senders got
   * @param greylistedMoreThanOnce messages greylisted twice or more: a retry met a server that had
   *     not seen them
   * @param mostAttempts the most attempts one message needed
   * @param undelivered messages given up: rejected, or still deferred after {@value #MAX_ATTEMPTS}
   *     attempts
   */
  public record Retries(int messages, long attempts, long greylisted, int greylistedMoreThanOnce, int mostAttempts,
      int undelivered) {

    /** Attempts per message, 1.0 when nothing was ever deferred. */
    public double attemptsPerMessage() {
      return messages == 0 ? 0 : (double) attempts / messages;
    }
  }

  /** What the senders were told, per attempt, and what retrying cost. */
  public record Outcome(ScriptedTraffic.Outcome client, Retries retries) {}

  /**
   * @param internet the listener the senders' MTAs deliver to
   * @param retryAfter the pause between queue runs (the backends' greylisting delay)
   */
  public GreylistTraffic(InetSocketAddress internet, Duration retryAfter) {
    this.internet = internet;
    this.retryAfter = retryAfter;
  }

  /** One line for the table's header: who sends, and how they retry. */
  static String description() {
    return String.format("each message from its own sender, by MTAs at 127.0.0.%d-%d (one /24), retried until"
        + " accepted; a retry leaves from the next address", FIRST_HOST, FIRST_HOST + HOSTS - 1);
  }

  /** Sends {@code messages} messages, each until accepted, and returns what the senders saw. */
  public Outcome send(int messages) {
    int[] attempts = new int[messages];
    int[] greylisted = new int[messages];
    int undelivered = 0;
    List<Integer> queue = new ArrayList<>(IntStream.range(0, messages).boxed().toList());
    for (int queueRun = 0; !queue.isEmpty(); queueRun++) {
      if (queueRun > 0) {
        Collections.shuffle(queue, new Random(SEED + queueRun));
        pause(retryAfter);
      }
      List<Integer> deferred = new ArrayList<>();
      try {
        for (int m : queue) {
          SmtpReply r = attempt(m, attempts[m]++);
          if (r != null && isGreylisting(r)) {
            greylisted[m]++;
          }
          if (r != null && r.isPositive()) {
            continue;
          }
          if ((r != null && !r.isTransient()) || attempts[m] == MAX_ATTEMPTS) {
            undelivered++; // a 5xx bounces; a sender's patience runs out
          } else {
            deferred.add(m);
          }
        }
      } finally {
        for (int h = 0; h < HOSTS; h++) {
          close(h); // a queue run ends
        }
      }
      queue = deferred;
    }
    long attemptsMade = 0;
    long greylistings = 0;
    int repeated = 0;
    int most = 0;
    for (int m = 0; m < messages; m++) {
      attemptsMade += attempts[m];
      greylistings += greylisted[m];
      repeated += greylisted[m] > 1 ? 1 : 0;
      most = Math.max(most, attempts[m]);
    }
    return new Outcome(tally.outcome(), new Retries(messages, attemptsMade, greylistings, repeated, most, undelivered));
  }

  /**
   * One attempt of message {@code m} from the address its attempt number gives.
   *
   * @return the reply that decided it, or null when the connection failed (counted as deferred)
   */
  private SmtpReply attempt(int m, int attempt) {
    int h = (m + attempt) % HOSTS;
    try {
      if (hosts[h] == null) {
        hosts[h] = tally.open(internet, "127.0.0." + (FIRST_HOST + h), "mta" + h + ".internet.example");
        if (hosts[h] == null) {
          return null;
        }
      }
      SmtpReply r = hosts[h].send("sender" + m + "@news" + (m % 20) + ".example", "user" + (m % 50) + "@corp.example",
          ScriptedTraffic.body(m));
      tally.count(r);
      if (++sentOnConnection[h] == MESSAGES_PER_CONNECTION) {
        close(h);
      }
      return r;
    } catch (IOException e) {
      tally.deferred();
      close(h);
      return null;
    }
  }

  private static boolean isGreylisting(SmtpReply r) {
    return r.isTransient() && r.text().toLowerCase(Locale.ROOT).contains("greylisted");
  }

  private static void pause(Duration d) {
    if (d.isZero()) {
      return;
    }
    try {
      Thread.sleep(d.toMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IllegalStateException("interrupted while waiting to retry", e);
    }
  }

  private void close(int h) {
    if (hosts[h] != null) {
      hosts[h].close();
      hosts[h] = null;
    }
    sentOnConnection[h] = 0;
  }
}
