package dev.sluice.proxy;

import dev.sluice.config.ListenerConfig;
import java.net.InetAddress;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;

/**
 * {@code limits.auth_failures} of one listener: how many failed logins (a backend's {@code 535})
 * each real client address may have per period, across all its sessions. A password guesser that
 * reconnects for every few guesses, which the per-session error limit never stops, finds AUTH
 * refused at the edge once its budget is spent; other clients, and this client's mail, are not
 * affected. A token bucket per client, refilled continuously ({@code 10/h}: ten at once, then one
 * every six minutes), so a user who mistypes a password a few times is never locked out.
 *
 * <p>Pure apart from the injected clock. Thread-safe: event loops record and check concurrently.
 * Only clients with failures are kept, each until its bucket is full again; the table never holds
 * more than {@link #MAX_CLIENTS} (beyond that the fullest buckets go first, down to 90% of it: a
 * flood of addresses that fail once each is the least dangerous to forget).
 */
public final class AuthFailureLimiter {

  /** Clients remembered at most. */
  static final int MAX_CLIENTS = 100_000;

  private final ListenerConfig.Rate rate;
  private final LongSupplier nanoClock;
  private final ConcurrentHashMap<InetAddress, TokenBucket> clients = new ConcurrentHashMap<>();
  private final AtomicLong failures = new AtomicLong();


  /** @param rate the allowance; null means no limit */
  public AuthFailureLimiter(ListenerConfig.Rate rate, LongSupplier nanoClock) {
    this.rate = rate;
    this.nanoClock = nanoClock;
  }

  /** Whether {@code client} has used up its failed logins for now: its next AUTH is refused here. */
  public boolean exhausted(InetAddress client) {
    if (rate == null) {
      return false;
    }
    boolean[] out = new boolean[1];
    clients.computeIfPresent(client, (k, b) -> {
      b.refill(rate, nanoClock.getAsLong());
      out[0] = !b.hasToken();
      return b.full(rate) ? null : b;
    });
    return out[0];
  }

  /** Counts a failed login of {@code client}. */
  public void failed(InetAddress client) {
    if (rate == null) {
      return;
    }
    clients.compute(client, (k, b) -> {
      long now = nanoClock.getAsLong();
      TokenBucket bucket = b != null ? b : new TokenBucket(rate, now);
      bucket.refill(rate, now);
      bucket.take();
      return bucket;
    });
    if (failures.incrementAndGet() % 1024 == 0 || clients.size() > MAX_CLIENTS) {
      prune();
    }
  }

  /** Clients currently remembered (tests, metrics). */
  public int remembered() {
    return clients.size();
  }

  /** Drops full buckets (they are the same as none), then, above the cap, the fullest. */
  private void prune() {
    for (InetAddress client : clients.keySet()) {
      clients.computeIfPresent(client, (k, b) -> {
        b.refill(rate, nanoClock.getAsLong());
        return b.full(rate) ? null : b;
      });
    }
    if (clients.size() > MAX_CLIENTS) {
      // Down to 90%, so that a flood does not sort the table again for every new address.
      clients.entrySet().stream()
          .sorted((x, y) -> Double.compare(y.getValue().tokens(), x.getValue().tokens()))
          .limit(clients.size() - MAX_CLIENTS * 9L / 10)
          .map(Map.Entry::getKey)
          .toList()
          .forEach(clients::remove);
    }
  }
}
