package dev.sluice.proxy;

import dev.sluice.config.ListenerConfig;
import java.net.InetAddress;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.LongSupplier;

/**
 * Admission control for one listener, on the real client address: {@code max_connections} in
 * total, {@code max_connections_per_client}, and {@code connection_rate} per client (a token bucket
 * refilled continuously, so {@code 60/m} allows a burst of 60 and then one a second).
 *
 * <p>Pure apart from the injected clock. Thread-safe: event loops admit and release concurrently.
 * Per-client state is dropped when a client has no connection open and a full bucket, so the maps
 * stay bounded by the number of clients active recently.
 */
public final class ClientLimiter {

  /** Why a connection was refused, or {@link #ADMITTED}. */
  public enum Admission {
    ADMITTED,
    TOO_MANY_CONNECTIONS,
    TOO_MANY_FROM_CLIENT,
    RATE_EXCEEDED
  }

  private final ListenerConfig.Limits limits;
  private final LongSupplier nanoClock;
  private final AtomicInteger total = new AtomicInteger();
  private final ConcurrentHashMap<InetAddress, Client> clients = new ConcurrentHashMap<>();

  /** Per-client state; only touched inside the map's atomic compute functions. */
  private static final class Client {
    int open;
    double tokens;
    long refilledAt;
  }

  public ClientLimiter(ListenerConfig.Limits limits, LongSupplier nanoClock) {
    this.limits = limits;
    this.nanoClock = nanoClock;
  }

  /** Tries to admit a new connection from {@code client}; every ADMITTED must be paired with {@link #release}. */
  public Admission admit(InetAddress client) {
    int max = limits.maxConnections();
    if (total.incrementAndGet() > max && max > 0) {
      total.decrementAndGet();
      return Admission.TOO_MANY_CONNECTIONS;
    }
    Admission[] verdict = new Admission[1];
    // compute() runs atomically per key: no lock, no race with release() dropping the entry.
    clients.compute(client, (k, c) -> {
      Client st = c == null ? fresh() : c;
      verdict[0] = admit(st);
      return st.open == 0 && full(st) ? null : st;
    });
    if (verdict[0] != Admission.ADMITTED) {
      total.decrementAndGet();
    }
    return verdict[0];
  }

  private Admission admit(Client c) {
    int perClient = limits.maxConnectionsPerClient();
    if (perClient > 0 && c.open >= perClient) {
      return Admission.TOO_MANY_FROM_CLIENT;
    }
    ListenerConfig.Rate rate = limits.connectionRate();
    if (rate != null) {
      refill(c, rate);
      if (c.tokens < 1) {
        return Admission.RATE_EXCEEDED;
      }
      c.tokens -= 1;
    }
    c.open++;
    return Admission.ADMITTED;
  }

  private Client fresh() {
    Client c = new Client();
    ListenerConfig.Rate rate = limits.connectionRate();
    c.tokens = rate == null ? 0 : rate.count();
    c.refilledAt = nanoClock.getAsLong();
    return c;
  }

  private boolean full(Client c) {
    ListenerConfig.Rate rate = limits.connectionRate();
    return rate == null || c.tokens >= rate.count();
  }

  private void refill(Client c, ListenerConfig.Rate rate) {
    long now = nanoClock.getAsLong();
    double perNano = rate.count() / (double) rate.per().toNanos();
    c.tokens = Math.min(rate.count(), c.tokens + (now - c.refilledAt) * perNano);
    c.refilledAt = now;
  }

  /** A connection admitted for {@code client} has ended. */
  public void release(InetAddress client) {
    total.decrementAndGet();
    clients.computeIfPresent(client, (k, c) -> {
      c.open--;
      ListenerConfig.Rate rate = limits.connectionRate();
      if (rate != null) {
        refill(c, rate);
      }
      return c.open <= 0 && full(c) ? null : c;
    });
  }

  /** Connections open now. */
  public int open() {
    return total.get();
  }

  /** Clients with state kept (open connections or a bucket still refilling). */
  public int trackedClients() {
    return clients.size();
  }
}
