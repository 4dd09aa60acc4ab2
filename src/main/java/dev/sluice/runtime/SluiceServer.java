package dev.sluice.runtime;

import dev.sluice.balance.Backend;
import dev.sluice.balance.PoolBalancer;
import dev.sluice.config.BackendConfig;
import dev.sluice.config.HealthProfile;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.SluiceConfig;
import dev.sluice.health.HealthMonitor;
import dev.sluice.health.ListenerEligibility;
import dev.sluice.health.PassiveHealth;
import dev.sluice.health.ProbeKey;
import dev.sluice.health.ProbeTarget;
import dev.sluice.health.SmtpProbe;
import dev.sluice.proxy.BackendConnector;
import dev.sluice.proxy.Listener;
import dev.sluice.proxy.ListenerRoute;
import dev.sluice.proxy.SessionObserver;
import dev.sluice.proxy.smtp.BackendSession;
import dev.sluice.proxy.smtp.SmtpFrontend;
import dev.sluice.proxy.tcp.TcpSession;
import dev.sluice.admin.AdminServer;
import dev.sluice.config.LogConfig;
import dev.sluice.config.Location;
import dev.sluice.observe.CompositeObserver;
import dev.sluice.observe.Metrics;
import dev.sluice.observe.ProtocolLog;
import dev.sluice.observe.TrafficSeries;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.channel.EventLoopGroup;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A running Sluice: the pools, the health monitor and the listeners built from one {@link
 * SluiceConfig}. {@link #start()} probes every backend once before opening the listeners, so the
 * first client is balanced on real health rather than on guesses.
 *
 * <p>Threading: start and shutdown are called from one control thread; the data path runs on Netty
 * event loops.
 */
public final class SluiceServer implements AutoCloseable {
  private static final Logger log = LoggerFactory.getLogger(SluiceServer.class);
  /** Live traffic gets more patience than probes: a busy server may be slow to greet. */
  static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
  static final Duration BANNER_TIMEOUT = Duration.ofSeconds(30);

  private final SluiceConfig config;
  /** The observer set with {@link #observe}, besides Sluice's own (protocol log, metrics, series). */
  private SessionObserver extraObserver = SessionObserver.NONE;
  private SessionObserver observer = SessionObserver.NONE;
  private ProtocolLog protocolLog;
  private Metrics metrics;
  private final TrafficSeries traffic = new TrafficSeries(System::currentTimeMillis);
  private AdminServer admin;
  /** Admin states set through the API, by {@code pool/backend}; outlive reloads. */
  private final Map<String, Backend.AdminState> adminStates = new java.util.concurrent.ConcurrentHashMap<>();
  private final Transport transport = Transport.best();
  private final Map<String, PoolBalancer> pools = new LinkedHashMap<>();
  private final Map<String, PassiveHealth> passive = new LinkedHashMap<>();
  private final List<Listener> listeners = new ArrayList<>();
  private EventLoopGroup boss;
  private EventLoopGroup workers;
  private HealthMonitor health;

  public SluiceServer(SluiceConfig config) {
    this.config = config;
  }

  /**
   * Adds an observer of sessions besides the protocol log, metrics and dashboard series that the
   * server runs itself; call before {@link #start()}.
   */
  public void observe(SessionObserver observer) {
    this.extraObserver = observer;
  }

  /**
   * Builds everything, waits for the first round of probes (at most the longest probe timeout plus
   * a margin) and binds every listener.
   *
   * @throws StartupException when a listener cannot be served (address in use, unsupported mode)
   */
  public void start() throws StartupException, InterruptedException {
    for (ListenerConfig l : config.listeners().values()) {
      checkSourceAddress(l);
    }
    String adminToken = AdminServer.readToken(config.admin());
    boss = transport.newGroup(1);
    workers = transport.newGroup(0);
    SplittableRandom seed = new SplittableRandom();
    for (PoolConfig p : config.pools().values()) {
      List<Backend> backends = new ArrayList<>();
      for (BackendConfig bc : p.backends()) {
        backends.add(new Backend(p.name(), bc, backends.size()));
      }
      pools.put(p.name(), new PoolBalancer(p, backends, System::nanoTime, seed.split()));
    }
    health = new HealthMonitor(new SmtpProbe(workers, transport.clientChannel()), workers, System::nanoTime, seed.split());
    startObservers();
    Map<ListenerConfig, ProbeKey> keys = new LinkedHashMap<>();
    long longestTimeout = 0;
    for (ListenerConfig l : config.listeners().values()) {
      HealthProfile profile = config.profileFor(l);
      int proxyVersion = switch (l.clientIdentity()) {
        case PROXY_V1 -> 1;
        case PROXY_V2 -> 2;
        default -> 0;
      };
      ProbeKey key = new ProbeKey(profile.name(), l.sourceAddress(), proxyVersion);
      keys.put(l, key);
      longestTimeout = Math.max(longestTimeout, profile.timeout().toMillis() * (profile.steps().size() + 2));
      for (Backend b : pools.get(l.pool()).backends()) {
        health.register(key, b, profile);
      }
    }
    health.start();
    try {
      health.firstRound().get(longestTimeout + 1000, TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      log.warn("first health round not complete after {} ms; opening listeners anyway", longestTimeout + 1000);
    } catch (java.util.concurrent.ExecutionException e) {
      throw new IllegalStateException(e);
    }
    BackendConnector connector = new BackendConnector(transport, CONNECT_TIMEOUT);
    for (ListenerConfig l : config.listeners().values()) {
      PoolBalancer balancer = pools.get(l.pool());
      // Passive health is per listener, like probes: a 452 that only outside senders get must not
      // drain the backend from the internal listener.
      PassiveHealth listenerPassive =
          new PassiveHealth(config.pools().get(l.pool()).passive(), balancer.backends(), System::nanoTime);
      passive.put(l.name(), listenerPassive);
      ListenerEligibility eligibility =
          new ListenerEligibility(health.targets(keys.get(l), balancer.backends()), listenerPassive);
      Listener listener = new Listener(new ListenerRoute(l, balancer, eligibility, listenerPassive, observer));
      try {
        listener.bind(boss, workers, transport, (self, pipeline) -> sessionPipeline(self, pipeline, connector));
      } catch (Exception e) {
        shutdown(Duration.ZERO);
        throw new StartupException(
            l.location() + ": listener '" + l.name() + "' cannot listen on " + l.listen() + ": " + describe(e));
      }
      listeners.add(listener);
      log.info("listener {} on {} ({}) -> pool {}", l.name(), listener.boundAddress(), l.mode().name().toLowerCase(), l.pool());
    }
    if (config.admin().listen() != null) {
      admin = new AdminServer(this, adminToken);
      try {
        admin.bind(boss, transport, config.admin().listen().toSocketAddress());
      } catch (Exception e) {
        shutdown(Duration.ZERO);
        throw new StartupException(config.admin().location() + ": admin endpoint cannot listen on "
            + config.admin().listen() + ": " + describe(e));
      }
      log.info("admin endpoint (dashboard, /metrics, /api) on http://{}/", endpoint(admin.boundAddress()));
    }
  }

  /**
   * The protocol log (only when the config has a {@code log:} section, so a config without one, as
   * in tests, writes no files), the metrics and the dashboard series, plus any observer set with
   * {@link #observe}.
   */
  private void startObservers() {
    LogConfig lc = config.log();
    if (lc.location() != Location.NONE && lc.protocolLevel() != LogConfig.ProtocolLevel.NONE) {
      protocolLog = new ProtocolLog(lc.protocolDir(), lc.protocolLevel());
      log.info("protocol log ({}) in {}", lc.protocolLevel().name().toLowerCase(), lc.protocolDir());
    }
    metrics = new Metrics(new Metrics.Sources(health::all, this::backends,
        this::protocolLogDropped));
    health.onProbe(metrics::probed);
    observer = CompositeObserver.of(java.util.Arrays.asList(protocolLog, metrics, traffic, extraObserver));
  }

  /** Every backend of every pool. */
  public List<Backend> backends() {
    return pools.values().stream().flatMap(p -> p.backends().stream()).toList();
  }

  /**
   * Sets a backend's admin state (drain, enable, disable) and remembers it by (pool, name), so a
   * reload that rebuilds the backend keeps it.
   *
   * @return false when there is no such backend
   */
  public synchronized boolean setAdminState(String pool, String name, Backend.AdminState state) {
    PoolBalancer p = pools.get(pool);
    Backend b = p == null ? null : p.backends().stream().filter(x -> x.name().equals(name)).findFirst().orElse(null);
    if (b == null) {
      return false;
    }
    b.setAdminState(state);
    adminStates.put(pool + '/' + name, state);
    log.info("backend {}: admin state {}", b, state);
    return true;
  }

  /** Protocol-log events dropped so far (0 without a protocol log). */
  public long protocolLogDropped() {
    return protocolLog == null ? 0 : protocolLog.dropped();
  }

  public Metrics metrics() {
    return metrics;
  }

  public TrafficSeries traffic() {
    return traffic;
  }

  /** The admin endpoint, or null when {@code admin.listen} is not set. */
  public AdminServer admin() {
    return admin;
  }

  private static String endpoint(java.net.InetSocketAddress a) {
    return a.getAddress().getHostAddress() + ":" + a.getPort();
  }

  /** A source address must belong to this host, or every backend connection would fail at run time. */
  private static void checkSourceAddress(ListenerConfig l) throws StartupException {
    if (l.sourceAddress() == null) {
      return;
    }
    try (java.net.Socket probe = new java.net.Socket()) {
      probe.bind(new java.net.InetSocketAddress(l.sourceAddress(), 0));
    } catch (java.io.IOException e) {
      throw new StartupException(l.location() + ": listener '" + l.name() + "': source_address "
          + l.sourceAddress().getHostAddress() + " is not an address of this host (" + describe(e) + ")");
    }
  }

  /** The handlers of one client session: tcp relay, or Sluice speaking SMTP. */
  private static void sessionPipeline(Listener listener, ChannelPipeline pipeline, BackendConnector connector) {
    ListenerConfig l = listener.route().listener();
    if (l.mode() == ListenerConfig.Mode.TCP) {
      pipeline.addLast("session", new TcpSession(listener, connector, BANNER_TIMEOUT));
    } else {
      long idle = l.limits().idleTimeout().toMillis();
      if (idle > 0) {
        pipeline.addLast("idle", new IdleStateHandler(idle, 0, 0, TimeUnit.MILLISECONDS));
      }
      pipeline.addLast("session", new SmtpFrontend(listener, connector, BackendSession.Timeouts.DEFAULT));
    }
  }

  private static String describe(Throwable e) {
    return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
  }

  public SluiceConfig config() {
    return config;
  }

  public Transport transport() {
    return transport;
  }

  public List<Listener> listeners() {
    return List.copyOf(listeners);
  }

  public Listener listener(String name) {
    return listeners.stream().filter(l -> l.name().equals(name)).findFirst().orElseThrow();
  }

  public Map<String, PoolBalancer> pools() {
    return Map.copyOf(pools);
  }

  /** The passive health a listener keeps of its pool's backends. */
  public PassiveHealth passive(String listener) {
    return passive.get(listener);
  }

  public HealthMonitor health() {
    return health;
  }

  /** A human-readable table of listeners, pools and backend states, as printed at startup. */
  public String describeState() {
    StringBuilder sb = new StringBuilder();
    for (Listener l : listeners) {
      ListenerConfig c = l.route().listener();
      sb.append(String.format("listener %-12s %-22s mode %-4s pool %-10s health %s%n",
          c.name(), l.boundAddress().getHostString() + ":" + l.boundAddress().getPort(),
          c.mode().name().toLowerCase(), c.pool(), config.profileFor(c).name()));
    }
    for (ProbeTarget t : health.all()) {
      Backend b = t.backend();
      String last = t.lastResult() == null ? "" : t.lastResult().reason();
      sb.append(String.format("  %-10s %-12s %-22s weight %-3d prio %d  %-8s %s (%s)%n",
          b.pool(), b.name(), b.address(), b.weight(), b.priority(), t.state(), t.key(), last));
    }
    return sb.toString();
  }

  /**
   * Graceful stop: no new sessions; sessions in flight may finish within {@code grace}; then the
   * rest are closed and the event loops end.
   */
  public void shutdown(Duration grace) {
    if (admin != null) {
      admin.close();
    }
    listeners.forEach(Listener::stopAccepting);
    long deadline = System.nanoTime() + grace.toNanos();
    while (System.nanoTime() < deadline && listeners.stream().anyMatch(l -> l.activeSessions() > 0)) {
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    listeners.forEach(Listener::closeSessions);
    if (health != null) {
      health.close();
    }
    if (workers != null) {
      workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
    if (boss != null) {
      boss.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
    if (protocolLog != null) {
      protocolLog.close();
    }
  }

  @Override
  public void close() {
    shutdown(Duration.ZERO);
  }

  /** A listener that cannot be served; the message names the config location. */
  public static final class StartupException extends Exception {
    private static final long serialVersionUID = 1L;

    public StartupException(String message) {
      super(message, null, false, false);
    }
  }
}
