package dev.sluice.runtime;

import dev.sluice.balance.Backend;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Resolves backends written as host names, off the event loops: once when a backend first appears
 * (start, reload) and again every {@code refresh} on a thread of its own, through the system's
 * resolver ({@code /etc/hosts}, then DNS, as every other program on the host). Event loops only
 * read the last answer ({@link Backend#socketAddress()}), so a slow or failing DNS never stalls
 * the sessions of a loop, and while DNS fails a backend keeps the address it had: mail goes on to
 * servers whose addresses did not change, rather than stop with the name servers.
 *
 * <p>Thread-safe: {@link #track} is called by the control thread, the refresh runs on its own.
 */
public final class BackendNames implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(BackendNames.class);

  /** A blocking name lookup (the system's resolver in production). */
  @FunctionalInterface
  public interface Lookup {
    InetAddress resolve(String host) throws UnknownHostException;
  }

  /** How often names are looked up again: Java's own cache keeps an answer 30 s. */
  public static final Duration REFRESH = Duration.ofSeconds(30);

  private final Lookup lookup;
  private final ScheduledExecutorService thread;
  private volatile List<Backend> tracked = List.of();
  /** Names whose last lookup failed, so a failure is logged once and its end once. */
  private final Set<String> failing = ConcurrentHashMap.newKeySet();

  public BackendNames(Lookup lookup, Duration refresh) {
    this.lookup = lookup;
    this.thread = Executors.newSingleThreadScheduledExecutor(r -> {
      Thread t = new Thread(r, "sluice-backend-names");
      t.setDaemon(true);
      return t;
    });
    long every = refresh.toMillis();
    thread.scheduleWithFixedDelay(this::refresh, every, every, TimeUnit.MILLISECONDS);
  }

  /**
   * From now on keeps the addresses of {@code backends} current; those never resolved are looked
   * up now, on the caller's thread (the first probes and sessions need them).
   */
  public void track(Collection<Backend> backends) {
    List<Backend> named = backends.stream().filter(Backend::hasHostName).toList();
    tracked = named;
    resolve(named.stream().filter(b -> b.socketAddress().isUnresolved()).toList());
  }

  /**
   * Resolves {@code b} now if it is written as a host name and was never resolved: a backend new
   * to the configuration, before its first probe (which would otherwise find no address and judge
   * it DOWN). On the caller's thread.
   */
  public void prime(Backend b) {
    if (b.hasHostName() && b.socketAddress().isUnresolved()) {
      resolve(List.of(b));
    }
  }

  private void refresh() {
    try {
      resolve(tracked);
    } catch (RuntimeException e) {
      log.error("looking up backend names failed", e); // keep the schedule alive
    }
  }

  /** Looks each distinct name up once and hands the answer to every backend written with it. */
  private void resolve(List<Backend> backends) {
    Map<String, List<Backend>> byHost = new LinkedHashMap<>();
    for (Backend b : backends) {
      byHost.computeIfAbsent(b.address().host(), h -> new java.util.ArrayList<>()).add(b);
    }
    byHost.forEach((host, users) -> {
      try {
        InetAddress a = lookup.resolve(host);
        users.forEach(b -> b.resolvedTo(a));
        if (failing.remove(host)) {
          log.info("backend name {} resolves again, to {}", host, a.getHostAddress());
        }
      } catch (UnknownHostException e) {
        if (failing.add(host)) {
          boolean known = !users.get(0).socketAddress().isUnresolved();
          log.warn("backend name {} does not resolve ({}); {}", host, e.getMessage(),
              known ? "connecting to " + users.get(0).socketAddress().getAddress().getHostAddress() + " as before"
                  : "its backends cannot be reached until it does");
        }
      }
    });
  }

  @Override
  public void close() {
    thread.shutdownNow();
  }
}
