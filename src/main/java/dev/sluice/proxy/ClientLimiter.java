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

  /** Per-client state: open connections and the rate bucket; only touched inside the map's atomic compute functions. */
  private static final class Client extends TokenBucket {
    int open;

    Client(ListenerConfig.Rate rate, long now) {
      super(rate, now);
    }
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
      c.refill(rate, nanoClock.getAsLong());
      if (!c.hasToken()) {
        return Admission.RATE_EXCEEDED;
      }
      c.take();
    }
    c.open++;
    return Admission.ADMITTED;
  }

  private Client fresh() {
    return new Client(limits.connectionRate(), nanoClock.getAsLong());
  }

  private boolean full(Client c) {
    return c.full(limits.connectionRate());
  }

  /** A connection admitted for {@code client} has ended. */
  public void release(InetAddress client) {
    total.decrementAndGet();
    clients.computeIfPresent(client, (k, c) -> {
      c.open--;
      ListenerConfig.Rate rate = limits.connectionRate();
      if (rate != null) {
        c.refill(rate, nanoClock.getAsLong());
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
