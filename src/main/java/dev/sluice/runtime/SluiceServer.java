package dev.sluice.runtime;

import static dev.sluice.proxy.NetErrors.describe;

import dev.sluice.audit.Auditor;
import dev.sluice.audit.DefaultSource;
import dev.sluice.audit.Finding;
import dev.sluice.audit.Severity;
import dev.sluice.balance.Backend;
import dev.sluice.balance.PoolBalancer;
import dev.sluice.balance.Shares;
import dev.sluice.config.BackendConfig;
import dev.sluice.config.ConfigChanges;
import dev.sluice.config.ConfigError;
import dev.sluice.config.ConfigException;
import dev.sluice.config.ConfigLoader;
import dev.sluice.config.ConfigValues;
import dev.sluice.config.HealthProfile;
import dev.sluice.config.ListenerConfig;
import dev.sluice.config.PoolConfig;
import dev.sluice.config.ResolverConfig;
import dev.sluice.config.SluiceConfig;
import dev.sluice.health.HealthMonitor;
import dev.sluice.health.HealthState;
import dev.sluice.health.ListenerEligibility;
import dev.sluice.health.PassiveHealth;
import dev.sluice.health.ProbeKey;
import dev.sluice.health.ProbeResult;
import dev.sluice.health.ProbeTarget;
import dev.sluice.health.SmtpProbe;
import dev.sluice.proxy.BackendConnector;
import dev.sluice.proxy.Listener;
import dev.sluice.proxy.ListenerRoute;
import dev.sluice.proxy.SessionObserver;
import dev.sluice.proxy.identity.ClientNames;
import dev.sluice.proxy.identity.DnsClientNames;
import dev.sluice.proxy.smtp.SmtpFrontend;
import dev.sluice.proxy.tcp.TcpSession;
import dev.sluice.proxy.tls.BackendTlsContext;
import dev.sluice.proxy.tls.PemKeyPair;
import dev.sluice.proxy.tls.ServerTls;
import dev.sluice.admin.AdminServer;
import dev.sluice.admin.AdminStateFile;
import dev.sluice.config.LogConfig;
import dev.sluice.config.Location;
import dev.sluice.observe.CompositeObserver;
import dev.sluice.observe.Metrics;
import dev.sluice.observe.ProtocolLog;
import dev.sluice.observe.TrafficSeries;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;
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

  private volatile SluiceConfig config;
  private ConfigSource configSource;
  /** The observer set with {@link #observe}, besides Sluice's own (protocol log, metrics, series). */
  private SessionObserver extraObserver = SessionObserver.NONE;
  private SessionObserver observer = SessionObserver.NONE;
  private ProtocolLog protocolLog;
  private Metrics metrics;
  private final TrafficSeries traffic = new TrafficSeries(System::currentTimeMillis);
  private AdminServer admin;
  /** Admin states set through the API, by {@code pool/backend}; outlive reloads. */
  private final Map<String, Backend.AdminState> adminStates = new ConcurrentHashMap<>();
  /** Weights set through the API by (pool/name), with the config's weight when each was set. */
  private final Map<String, AdminStateFile.Weight> apiWeights = new ConcurrentHashMap<>();
  /** Where {@link #adminStates} and {@link #apiWeights} are kept across restarts; null without one. */
  private AdminStateFile stateFile;
  /** Why the last write of {@link #stateFile} failed; null when it succeeded. */
  private volatile String stateFileError;
  private final Transport transport = Transport.best();
  private DefaultSource auditRoutes = DefaultSource.UNKNOWN;
  private boolean auditAtRun = true;
  // Immutable snapshots, replaced whole by a reload; the data path never reads them (it holds routes).
  private volatile Map<String, PoolBalancer> pools = Map.of();
  private volatile Map<String, PassiveHealth> passive = Map.of();
  private volatile List<Listener> listeners = List.of();
  /** Listeners a reload removed or moved: not accepting; their sessions finish, shutdown closes them. */
  private final List<Listener> retired = new CopyOnWriteArrayList<>();
  private final SplittableRandom seed = new SplittableRandom();
  private BackendConnector connector;
  /** Keeps the addresses of backends written as host names current, off the event loops. */
  private BackendNames backendNames;
  /** Client-name lookups of the running config's {@code resolver:}, or null without one. */
  private ClientNames clientNames;
  /** The name servers {@link #clientNames} asks (resolv.conf's may change between reloads). */
  private List<InetSocketAddress> nameServersInUse = List.of();
  /** Where the system's name servers are listed, for a {@code resolver:} without {@code servers}. */
  private Path resolvConf = Path.of("/etc/resolv.conf");
  private EventLoopGroup workers;
  private HealthMonitor health;
  private final AtomicBoolean stopped = new AtomicBoolean();

  public SluiceServer(SluiceConfig config) {
    this.config = config;
    this.configSource = () -> ConfigLoader.load(this.config.file());
  }

  /** Where {@link #reload()} reads the new configuration from; by default the file it was loaded from. */
  @FunctionalInterface
  public interface ConfigSource {
    SluiceConfig load() throws ConfigException;
  }

  /** How backend host names are resolved; the system's resolver unless a test says otherwise. */
  private BackendNames.Lookup backendLookup = java.net.InetAddress::getByName;
  private Duration backendLookupEvery = BackendNames.REFRESH;

  /**
   * Replaces the resolver of backend host names and how often it is asked again (tests: no DNS
   * traffic leaves the host). Before {@link #start}.
   */
  public void backendLookup(BackendNames.Lookup lookup, Duration every) {
    this.backendLookup = lookup;
    this.backendLookupEvery = every;
  }

  /** Replaces the source of {@link #reload()} (tests, the demo). */
  public void configSource(ConfigSource source) {
    this.configSource = source;
  }

  /** Reads the system's name servers from {@code file} instead of /etc/resolv.conf (tests); call before {@link #start()}. */
  public void resolvConf(Path file) {
    this.resolvConf = file;
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
      checkTransparent(config, l);
    }
    Map<String, ListenerTls> tls = loadTls(config);
    String adminToken = AdminServer.readToken(config.admin());
    restoreAdminState();
    List<InetSocketAddress> nameServers = nameServers(config.resolver());
    workers = transport.newSessionGroup();
    health = new HealthMonitor(new SmtpProbe(workers, transport::clientChannelFactory), workers, System::nanoTime, seed.split());
    startObservers();
    health.onStateChange((t, previous) -> {
      for (Listener l : listeners) {
        if (l.route().eligibility().probes(t)) {
          ProbeResult r = t.lastResult();
          observer.backendStateChanged(l.name(), t.backend(), "health " + lower(previous) + " -> " + lower(t.state())
              + (r == null ? "" : ": " + r.reason()));
        }
      }
      if (t.state() == HealthState.UP && previous != HealthState.UNKNOWN) {
        listeners.forEach(l -> l.route().probesSawRecovery(t));
      }
    });
    connector = new BackendConnector(transport);
    clientNames = clientNamesFor(config.resolver(), nameServers);
    backendNames = new BackendNames(backendLookup, backendLookupEvery);
    nameServersInUse = nameServers;
    Plan plan = plan(config, tls, clientNames);
    backendNames.track(backendsOf(plan.pools()));
    health.start();
    try {
      health.firstRound().get(plan.probeWaitMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      log.warn("first health round not complete after {} ms; opening listeners anyway", plan.probeWaitMillis());
    } catch (ExecutionException e) {
      throw new IllegalStateException(e);
    }
    List<Listener> bound = new ArrayList<>();
    for (ListenerConfig l : config.listeners().values()) {
      try {
        bound.add(bind(plan, l));
      } catch (StartupException e) {
        listeners = List.copyOf(bound);
        shutdown(Duration.ZERO);
        throw e;
      }
    }
    pools = plan.pools();
    passive = plan.passive();
    listeners = List.copyOf(bound);
    if (config.admin().listen() != null) {
      admin = new AdminServer(this, adminToken);
      try {
        admin.bind(workers, transport, config.admin().listen().toSocketAddress());
      } catch (Exception e) {
        shutdown(Duration.ZERO);
        throw new StartupException(config.admin().location() + ": admin endpoint cannot listen on "
            + config.admin().listen() + ": " + describe(e));
      }
      log.info("admin endpoint (dashboard, /metrics, /api) on http://{}/", endpoint(admin.boundAddress()));
    }
    reportAudit(config);
  }

  /**
   * Where {@code sluice audit}'s rules, run at start and at each reload, take a listener without
   * {@code source_address} to connect from: {@code sluice run} gives this host's routing table;
   * by default (tests, the demo) unknown.
   */
  public SluiceServer auditRoutes(DefaultSource routes) {
    this.auditRoutes = routes;
    return this;
  }

  /**
   * Whether start and reload log the audit's findings (on by default). The lab turns it off: its
   * configurations repeat the seed's mistakes on purpose, from files that exist only in memory.
   */
  public SluiceServer auditAtRun(boolean on) {
    this.auditAtRun = on;
    return this;
  }

  /**
   * Runs the audit over the configuration now in force and logs each unacknowledged error and
   * warning with its location, so a risky layout (the seed's open relay) is said where operators
   * look even when nobody ran {@code sluice audit}; the counts go to {@code sluice_audit_findings}.
   * Informational findings are only counted. Never stops Sluice: acknowledging a finding, or
   * fixing it, is the operator's call.
   */
  private void reportAudit(SluiceConfig c) {
    if (!auditAtRun) {
      return;
    }
    List<Finding> findings = Auditor.audit(c, auditRoutes);
    metrics.auditFindings(Auditor.count(findings, Severity.ERROR), Auditor.count(findings, Severity.WARNING),
        Auditor.count(findings, Severity.INFO));
    for (Finding f : findings) {
      if (!f.acknowledged() && f.severity() != Severity.INFO) {
        log.warn("audit {} {} {} {}: fix: {} (sluice audit -c {} explains it; acknowledge: [{}] accepts it)",
            f.code(), f.severity(), f.location(), f.title(), f.fix(), c.file(), f.code());
      }
    }
  }

  /**
   * Pools, probe targets and per-listener routes built from one config, not yet serving. Backends
   * of the running config that are unchanged (name, address, priority, client identity, position) are reused, so
   * their load counters, probe states and admin states carry over; {@code weightUpdates} apply a
   * changed config weight on commit only.
   */
  private record Plan(
      SluiceConfig config,
      Map<String, PoolBalancer> pools,
      Map<String, PassiveHealth> passive,
      Map<String, ListenerRoute> routes,
      java.util.Set<ProbeTarget> targets,
      List<Runnable> weightUpdates,
      long probeWaitMillis) {}

  private Plan plan(SluiceConfig next, Map<String, ListenerTls> tls, ClientNames names) {
    Map<String, PoolBalancer> newPools = new LinkedHashMap<>();
    List<Runnable> weightUpdates = new ArrayList<>();
    for (PoolConfig p : next.pools().values()) {
      List<Backend> backends = new ArrayList<>();
      for (BackendConfig bc : p.backends()) {
        backends.add(backendFor(p.name(), bc, backends.size(), weightUpdates));
      }
      // The running pool of that name, if any, hands over what it remembers (persistence, deferrals).
      newPools.put(p.name(), new PoolBalancer(p, backends, System::nanoTime, seed.split(), pools.get(p.name())));
    }
    java.util.Set<ProbeTarget> targets = new java.util.LinkedHashSet<>();
    Map<String, PassiveHealth> newPassive = new LinkedHashMap<>();
    Map<String, ListenerRoute> routes = new LinkedHashMap<>();
    long wait = 0;
    for (ListenerConfig l : next.listeners().values()) {
      HealthProfile profile = next.profileFor(l);
      ListenerTls listenerTls = tls.get(l.name());
      wait = Math.max(wait, profile.timeout().toMillis() * (profile.steps().size() + 2) + 1000);
      PoolBalancer balancer = newPools.get(l.pool());
      List<ProbeTarget> listenerTargets = new ArrayList<>();
      for (Backend b : balancer.backends()) {
        ProbeTarget t = health.register(ProbeKey.of(profile.name(), l, b.clientIdentity(), listenerTls.backend()), b, profile);
        listenerTargets.add(t);
        targets.add(t);
      }
      // Passive health is per listener, like probes: a 452 that only outside senders get must not
      // drain the backend from the internal listener. Kept across a reload when the listener's
      // backends are the same objects, so an ejection is not forgotten.
      PassiveHealth previous = passive.get(l.name());
      PoolBalancer oldBalancer = pools.get(l.pool());
      PassiveHealth listenerPassive = previous != null && oldBalancer != null
          && oldBalancer.backends().equals(balancer.backends())
          && config.pools().get(l.pool()).passive().equals(next.pools().get(l.pool()).passive())
          ? previous
          : new PassiveHealth(next.pools().get(l.pool()).passive(), balancer.backends(), System::nanoTime);
      newPassive.put(l.name(), listenerPassive);
      routes.put(l.name(), new ListenerRoute(l, balancer, new ListenerEligibility(listenerTargets, listenerPassive),
          listenerPassive, observer, listenerTls.server(), listenerTls.backend(), passesNames(next, l) ? names : null));
    }
    return new Plan(next, Map.copyOf(newPools), Map.copyOf(newPassive), routes, targets, weightUpdates, wait);
  }

  private static List<Backend> backendsOf(Map<String, PoolBalancer> pools) {
    return pools.values().stream().flatMap(p -> p.backends().stream()).toList();
  }

  /**
   * Whether {@code l}'s clients' names are passed on: smtp mode with XCLIENT or XFORWARD towards any
   * of its backends, or in the listener's own Received line ({@code received_header}), whatever its
   * client identity.
   */
  private static boolean passesNames(SluiceConfig c, ListenerConfig l) {
    java.util.Set<ListenerConfig.ClientIdentity> identities = c.clientIdentitiesOf(l);
    return l.mode() == ListenerConfig.Mode.SMTP && (identities.contains(ListenerConfig.ClientIdentity.XCLIENT)
        || identities.contains(ListenerConfig.ClientIdentity.XFORWARD) || l.receivedHeader());
  }

  /** The name servers client names are asked of; none without a {@code resolver:}. */
  private List<InetSocketAddress> nameServers(ResolverConfig resolver) throws StartupException {
    if (!resolver.enabled()) {
      return List.of();
    }
    List<InetSocketAddress> servers;
    try {
      servers = DnsClientNames.nameServers(resolver, resolvConf);
    } catch (IllegalArgumentException e) {
      throw new StartupException(resolver.location() + ": 'resolver': " + e.getMessage());
    }
    if (servers.isEmpty()) {
      throw new StartupException(resolver.location() + ": 'resolver' has no servers and " + resolvConf
          + " lists no nameserver; write the DNS servers to ask, e.g. resolver: { servers: [127.0.0.53] }");
    }
    return servers;
  }

  /** Lookups as {@code resolver} says, asking {@code servers}, or null when it is absent. */
  private ClientNames clientNamesFor(ResolverConfig resolver, List<InetSocketAddress> servers) {
    if (!resolver.enabled()) {
      return null;
    }
    log.info("client host names looked up with {} (timeout {})", servers, ConfigValues.formatDuration(resolver.timeout()));
    return new DnsClientNames(resolver, servers, transport.datagramChannelFactory(), transport.socketChannelFactory())
        .prepare(workers);
  }

  /** The running backend for {@code bc} if it is unchanged, else a new one with any remembered admin state. */
  private Backend backendFor(String pool, BackendConfig bc, int index, List<Runnable> weightUpdates) {
    PoolBalancer running = pools.get(pool);
    if (running != null) {
      for (Backend b : running.backends()) {
        // A changed client_identity rebuilds the backend: idle sessions opened with the old one
        // (a PROXY header or not, XCLIENT or not) must not carry the next transaction.
        if (b.name().equals(bc.name()) && b.address().equals(bc.address()) && b.priority() == bc.priority()
            && b.clientIdentity() == bc.clientIdentity() && b.index() == index) {
          // A weight set through the API stays until the config's own weight for it changes.
          PoolConfig old = config.pools().get(pool);
          boolean changed = old == null || old.backends().stream()
              .noneMatch(o -> o.name().equals(bc.name()) && o.weight() == bc.weight());
          if (changed) {
            weightUpdates.add(() -> b.setWeight(bc.weight()));
          }
          return b;
        }
      }
    }
    Backend b = new Backend(pool, bc, index);
    backendNames.prime(b); // an address before its first probe, which registering it starts
    Backend.AdminState remembered = adminStates.get(pool + '/' + bc.name());
    if (remembered != null) {
      b.setAdminState(remembered);
    }
    AdminStateFile.Weight w = apiWeights.get(pool + '/' + bc.name());
    if (w != null && w.configWeight() == bc.weight()) {
      b.setWeight(w.weight()); // rebuilt (moved, say), but its weight in the config is the same
    }
    return b;
  }

  /** Binds a listener for {@code l} with its route from {@code plan}. */
  private Listener bind(Plan plan, ListenerConfig l) throws StartupException, InterruptedException {
    Listener listener = new Listener(plan.routes().get(l.name()));
    try {
      listener.bind(workers, transport, (self, pipeline) -> sessionPipeline(self, pipeline, connector));
    } catch (InterruptedException e) {
      throw e;
    } catch (Exception e) {
      throw new StartupException(
          l.location() + ": listener '" + l.name() + "' cannot listen on " + l.listen() + ": " + describe(e));
    }
    log.info("listener {} on {} ({}) -> pool {}", l.name(), listener.boundAddress(), l.mode().name().toLowerCase(), l.pool());
    return listener;
  }

  /** What a reload did: whether it took effect, and either the changes or the error. */
  public record ReloadResult(boolean ok, String message, List<String> changes) {}

  /**
   * Reads the configuration again (SIGHUP, {@code POST /api/reload}) and switches to it, or keeps
   * the running one if anything is wrong: the whole new config is validated, new probe targets get
   * their first probe and new listener addresses are bound before anything changes. Then listeners
   * are added, removed or rebound, existing ones get new routes (immutable snapshots), and
   * transactions in flight finish on the route they started with; the next transaction of an open
   * smtp session takes the new one (a tcp session stays with its backend). Admin states (drain, disable) are kept by
   * (pool, backend name). The admin endpoint and the protocol log keep their start-up settings.
   *
   * <p>Serialized: one reload at a time.
   */
  public synchronized ReloadResult reload() {
    if (stopped.get()) {
      return refused("shutting down: the running configuration stays until the end");
    }
    log.info("reload: reading {}", config.file());
    try {
      return reloadNow();
    } catch (RuntimeException e) {
      // A bug, not a bad file: say so, keep serving with what runs now.
      log.error("reload failed with an internal error; the running configuration stays in effect", e);
      return new ReloadResult(false, "internal error: " + describe(e), List.of());
    }
  }

  private ReloadResult reloadNow() {
    SluiceConfig next;
    try {
      next = configSource.load();
    } catch (ConfigException e) {
      return refused(e.describe().strip());
    } catch (RuntimeException e) {
      return refused("cannot read configuration: " + describe(e));
    }
    Map<String, ListenerTls> tls;
    List<InetSocketAddress> nameServers;
    try {
      for (ListenerConfig l : next.listeners().values()) {
        checkSourceAddress(l);
        checkTransparent(next, l);
      }
      tls = loadTls(next);
      AdminServer.readToken(next.admin());
      nameServers = nameServers(next.resolver());
    } catch (StartupException e) {
      return refused(e.getMessage());
    }
    java.util.Set<ProbeTarget> running = new java.util.HashSet<>(health.all());
    // The same resolver settings keep their lookups (and what they learned); others get new ones, as
    // do the same settings when they name no servers and resolv.conf now lists others.
    boolean sameResolver = config.resolver().asksLike(next.resolver()) && nameServers.equals(nameServersInUse);
    ClientNames names = sameResolver ? clientNames : clientNamesFor(next.resolver(), nameServers);
    Plan plan = plan(next, tls, names);
    // The running backends stay tracked until the switch (new ones were resolved as they were made).
    backendNames.track(Stream.concat(backends().stream(), backendsOf(plan.pools()).stream()).distinct().toList());
    try {
      CompletableFuture.allOf(plan.targets().stream().map(health::firstProbe)
          .toArray(CompletableFuture[]::new)).get(plan.probeWaitMillis(), TimeUnit.MILLISECONDS);
    } catch (TimeoutException e) {
      log.warn("reload: new backends not probed after {} ms; switching anyway", plan.probeWaitMillis());
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      health.retainOnly(running);
      closeUnused(names);
      return refused("interrupted");
    } catch (ExecutionException e) {
      throw new IllegalStateException(e);
    }
    List<String> changes = new ArrayList<>();
    Map<String, Listener> current = new LinkedHashMap<>();
    listeners.forEach(l -> current.put(l.name(), l));
    List<Listener> added = new ArrayList<>();
    List<Listener> next2 = new ArrayList<>();
    for (ListenerConfig l : next.listeners().values()) {
      Listener old = current.get(l.name());
      if (old != null && old.route().listener().listen().equals(l.listen())) {
        next2.add(old);
        continue;
      }
      try {
        Listener fresh = bind(plan, l);
        added.add(fresh);
        next2.add(fresh);
        changes.add((old == null ? "added listener " : "rebound listener ") + l.name() + " on " + l.listen());
      } catch (StartupException | InterruptedException e) {
        added.forEach(Listener::stopAccepting);
        health.retainOnly(running);
        closeUnused(names);
        if (e instanceof InterruptedException) {
          Thread.currentThread().interrupt();
        }
        return refused(e.getMessage());
      }
    }
    // Commit: nothing below can fail.
    plan.weightUpdates().forEach(Runnable::run);
    for (Listener l : next2) {
      if (!added.contains(l)) {
        l.swap(plan.routes().get(l.name()));
      }
    }
    for (Listener old : listeners) {
      if (!next2.contains(old)) {
        old.stopAccepting();
        ListenerRoute route = plan.routes().get(old.name());
        if (route != null) {
          old.swap(route); // rebound: its sessions' next transactions follow the new config too
        }
        retired.add(old);
        if (!next.listeners().containsKey(old.name())) {
          changes.add("removed listener " + old.name());
        }
      }
    }
    if (names != clientNames) {
      retire(clientNames, config.resolver());
      clientNames = names;
      if (config.resolver().asksLike(next.resolver())) {
        changes.add("resolver: name servers " + nameServersInUse + " -> " + nameServers);
      }
    }
    backendNames.track(backendsOf(plan.pools()));
    nameServersInUse = nameServers;
    changes.addAll(ConfigChanges.between(config, next));
    pools = plan.pools();
    passive = plan.passive();
    listeners = List.copyOf(next2);
    config = next;
    health.retainOnly(plan.targets());
    // The config's own weight for a backend, once changed, replaces a weight set through the API.
    if (apiWeights.entrySet().removeIf(e -> configWeight(next, e.getKey()) != e.getValue().configWeight())) {
      saveAdminState();
    }
    retired.removeIf(l -> l.activeSessions() == 0);
    log.info("reloaded {}: {}", next.file(), changes.isEmpty() ? "no changes" : String.join("; ", changes));
    reportAudit(next);
    return new ReloadResult(true, "reloaded", List.copyOf(changes));
  }

  /** Closes lookups a refused reload made, unless they are the running ones. */
  private void closeUnused(ClientNames names) {
    if (names != null && names != clientNames) {
      names.close();
    }
  }

  /**
   * Closes the lookups a reload replaced once the ones in flight have had their time: a session
   * that started with them still awaits its client's name.
   */
  private void retire(ClientNames old, ResolverConfig settings) {
    if (old != null) {
      workers.schedule(old::close, settings.timeout().toMillis() + 1000, TimeUnit.MILLISECONDS);
    }
  }

  private ReloadResult refused(String why) {
    log.error("reload refused; the running configuration stays in effect:\n{}", why);
    return new ReloadResult(false, why, List.of());
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
        this::protocolLogDropped, this::listenerCertificateExpiries));
    health.onProbe(metrics::probed);
    observer = CompositeObserver.of(java.util.Arrays.asList(protocolLog, metrics, traffic, extraObserver));
  }

  private static String lower(Enum<?> e) {
    return e.name().toLowerCase(Locale.ROOT);
  }

  /** When each listener's own TLS certificate expires, by listener; listeners without TLS left out. */
  private Map<String, Instant> listenerCertificateExpiries() {
    Map<String, Instant> out = new LinkedHashMap<>();
    for (Listener l : listeners) {
      ServerTls tls = l.route().tls();
      if (tls != null) {
        out.put(l.name(), tls.certificateExpiry());
      }
    }
    return out;
  }

  /** Every backend of every pool. */
  public List<Backend> backends() {
    return backendsOf(pools);
  }

  /** The running backend {@code name} of {@code pool}, or null. */
  public Backend backend(String pool, String name) {
    PoolBalancer p = pools.get(pool);
    return p == null ? null : p.backends().stream().filter(x -> x.name().equals(name)).findFirst().orElse(null);
  }

  /**
   * Sets a backend's admin state (drain, enable, disable) and remembers it by (pool, name), so a
   * reload that rebuilds the backend keeps it.
   *
   * @return false when there is no such backend
   */
  public synchronized boolean setAdminState(String pool, String name, Backend.AdminState state) {
    Backend b = backend(pool, name);
    if (b == null) {
      return false;
    }
    b.setAdminState(state);
    adminStates.put(pool + '/' + name, state);
    log.info("backend {}: admin state {}", b, state);
    saveAdminState();
    operatorChanged(b, "admin state " + lower(state) + " (admin API)");
    if (state != Backend.AdminState.ENABLED) {
      listeners.forEach(Listener::backendTakenOutOfService);
    }
    return true;
  }

  /**
   * Sets a backend's weight (the admin API) and remembers it by (pool, name), so a reload that
   * rebuilds the backend keeps it while the config's weight for it stays the same.
   *
   * @return false when there is no such backend
   */
  public synchronized boolean setWeight(String pool, String name, int weight) {
    Backend b = backend(pool, name);
    if (b == null) {
      return false;
    }
    int before = b.weight();
    b.setWeight(weight);
    apiWeights.put(pool + '/' + name, new AdminStateFile.Weight(weight, configWeight(config, pool + '/' + name)));
    String shares = tierShares(pools.get(pool).backends(), b.priority());
    log.info("backend {}: weight {} -> {} (admin API); its tier now expects {}", b, before, weight, shares);
    operatorChanged(b, "weight " + before + " -> " + weight + " (admin API); its tier now expects " + shares);
    saveAdminState();
    return true;
  }

  /** Tells the observers (the protocol log's state rows) of every listener whose pool has {@code b}. */
  private void operatorChanged(Backend b, String text) {
    for (Listener l : listeners) {
      if (l.route().balancer().backends().contains(b)) {
        observer.backendStateChanged(l.name(), b, text);
      }
    }
  }

  /**
   * {@code server1 75% (3/4), server2 25% (1/4)}: the share of new traffic each backend of the
   * tier {@code priority} expects, as the audit's SL004 prints it for the file. A weight set through
   * the API outlives reloads (and restarts, with a state file), while {@code sluice audit} reads
   * only the file, so the log says what the pool now does.
   */
  static String tierShares(List<Backend> backends, int priority) {
    return Shares.of(backends.stream().filter(x -> x.priority() == priority).toList(), Backend::name, Backend::weight);
  }

  /** The weight the configuration gives {@code b}, or -1 when it has no such backend. */
  public int configWeight(Backend b) {
    return configWeight(config, b.pool() + '/' + b.name());
  }

  /**
   * Reads {@code admin.state_file} into the admin states and API weights that backends are built
   * with, keeping what still fits the configuration (a weight only while the configuration's weight
   * for its backend is the one it was set against, as on a reload), then writes the file back,
   * which also proves it can be written. A file that is not a state file is moved aside and Sluice
   * starts without it: a broken file must not keep mail from flowing.
   *
   * @throws StartupException when the file cannot be read or written (a missing directory, say)
   */
  private void restoreAdminState() throws StartupException {
    Path file = config.admin().stateFile();
    if (file == null || config.admin().listen() == null) {
      return;
    }
    stateFile = new AdminStateFile(file);
    String where = config.admin().location() + ": admin.state_file " + file;
    AdminStateFile.Contents saved;
    try {
      saved = stateFile.read();
    } catch (AdminStateFile.Unreadable e) {
      try {
        log.warn("{}; moved to {}; starting without the admin states it held", e.getMessage(), stateFile.setAside());
      } catch (IOException moveFailed) {
        throw new StartupException(where + " is not a state file (" + e.getMessage() + ") and cannot be moved aside: "
            + moveFailed);
      }
      saved = AdminStateFile.Contents.EMPTY;
    } catch (IOException e) {
      throw new StartupException(where + " cannot be read: " + e);
    }
    List<String> restored = new ArrayList<>();
    saved.states().forEach((key, state) -> {
      if (configWeight(config, key) < 0) {
        log.info("admin state of {} in {} dropped: no such backend in the configuration", key, file);
      } else {
        adminStates.put(key, state);
        restored.add(key + " " + state.name().toLowerCase(Locale.ROOT));
      }
    });
    saved.weights().forEach((key, w) -> {
      int now = configWeight(config, key);
      if (now < 0) {
        log.info("API weight of {} in {} dropped: no such backend in the configuration", key, file);
      } else if (now != w.configWeight()) {
        log.info("API weight {} of {} in {} dropped: the configuration's weight changed ({} -> {}) since it was set",
            w.weight(), key, file, w.configWeight(), now);
      } else {
        apiWeights.put(key, w);
        restored.add(key + " weight " + w.weight());
      }
    });
    if (!restored.isEmpty()) {
      log.info("restored from {}: {}", file, String.join(", ", restored));
    }
    try {
      stateFile.write(adminStateNow(), Instant.now());
    } catch (IOException e) {
      throw new StartupException(where + " cannot be written: " + e);
    }
  }

  private AdminStateFile.Contents adminStateNow() {
    return new AdminStateFile.Contents(adminStates, apiWeights);
  }

  /**
   * Writes the admin states and API weights to {@code admin.state_file}, if there is one. A failed
   * write is logged and kept for the API to report ({@link #stateFileError()}); what was set stays
   * in force until the next restart.
   */
  private synchronized void saveAdminState() {
    if (stateFile == null) {
      return;
    }
    try {
      stateFile.write(adminStateNow(), Instant.now());
      stateFileError = null;
    } catch (IOException e) {
      stateFileError = "admin.state_file " + stateFile.path() + " cannot be written: " + e
          + "; the change holds until Sluice restarts";
      log.warn("{}", stateFileError);
    }
  }

  /** Why the last write of {@code admin.state_file} failed, or null when it did not (or there is none). */
  public String stateFileError() {
    return stateFileError;
  }

  /** The weight {@code config} gives backend "pool/name", or -1 when it has no such backend. */
  private static int configWeight(SluiceConfig config, String poolAndName) {
    int slash = poolAndName.indexOf('/');
    PoolConfig p = config.pools().get(poolAndName.substring(0, slash));
    String name = poolAndName.substring(slash + 1);
    return p == null ? -1 : p.backends().stream().filter(bc -> bc.name().equals(name))
        .mapToInt(BackendConfig::weight).findFirst().orElse(-1);
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

  private void checkTransparent(SluiceConfig c, ListenerConfig l) throws StartupException {
    String problem = transparentProblem(c, l, transport);
    if (problem != null) {
      throw new StartupException(problem);
    }
  }

  /**
   * Why {@code l} cannot be served over {@code transport}, or null: a transparent listener, or one
   * with a transparent backend, needs IP_TRANSPARENT, or every connection to such a backend would
   * fail at run time.
   */
  static String transparentProblem(SluiceConfig c, ListenerConfig l, Transport transport) {
    if (!c.clientIdentitiesOf(l).contains(ListenerConfig.ClientIdentity.TRANSPARENT)) {
      return null;
    }
    String why = transport.transparentUnavailable();
    return why == null ? null : l.location() + ": listener '" + l.name() + "': client_identity transparent"
        + (l.clientIdentity() == ListenerConfig.ClientIdentity.TRANSPARENT ? "" : " (of a backend of pool '" + l.pool() + "')")
        + ": " + why;
  }

  /** A listener's TLS contexts: towards clients (null without {@code tls:}) and towards backends (null with none). */
  private record ListenerTls(ServerTls server, BackendTlsContext backend) {}

  /** Loads every listener's certificates and CAs, so a bad file stops a start or a reload before anything changes. */
  private static Map<String, ListenerTls> loadTls(SluiceConfig c) throws StartupException {
    Map<String, ListenerTls> out = new LinkedHashMap<>();
    for (ListenerConfig l : c.listeners().values()) {
      out.put(l.name(), loadTls(l));
    }
    return out;
  }

  private static ListenerTls loadTls(ListenerConfig l) throws StartupException {
    ServerTls server = null;
    if (l.tls() != null) {
      try {
        server = ServerTls.load(l.tls());
      } catch (PemKeyPair.BadFileException e) {
        Location at = e.part() == PemKeyPair.Part.CERT ? l.tls().certAt() : l.tls().keyAt();
        String key = e.part() == PemKeyPair.Part.CERT ? "tls.cert" : "tls.key";
        throw new StartupException(
            new ConfigError(at, "listener '" + l.name() + "': " + key + " " + e.getMessage(), e.hint()).toString());
      } catch (java.io.IOException e) {
        throw new StartupException(l.tls().certAt() + ": listener '" + l.name() + "': " + e.getMessage());
      }
    }
    try {
      return new ListenerTls(server, BackendTlsContext.of(l));
    } catch (java.io.IOException e) {
      throw new StartupException(l.location() + ": listener '" + l.name() + "': " + e.getMessage());
    }
  }

  /**
   * Reads the files a configuration names, as {@code run} would at start: every listener's TLS
   * certificate and key, its backends' CA, and the admin token. For {@code sluice check}.
   *
   * @return one message per problem ({@code file:line:col: ...}), empty when all can be used
   */
  public static List<String> checkFiles(SluiceConfig c) {
    List<String> problems = new ArrayList<>();
    for (ListenerConfig l : c.listeners().values()) {
      try {
        loadTls(l);
      } catch (StartupException e) {
        problems.add(e.getMessage());
      }
    }
    try {
      AdminServer.readToken(c.admin());
    } catch (StartupException e) {
      problems.add(e.getMessage());
    }
    if (c.admin().stateFile() != null && c.admin().listen() != null) {
      String problem = new AdminStateFile(c.admin().stateFile()).problem();
      if (problem != null) {
        problems.add(c.admin().location() + ": admin.state_file " + c.admin().stateFile() + " " + problem);
      }
    }
    return problems;
  }

  /** The handlers of one client session: tcp relay, or Sluice speaking SMTP. */
  private static void sessionPipeline(Listener listener, ChannelPipeline pipeline, BackendConnector connector) {
    ListenerConfig l = listener.route().listener();
    if (l.mode() == ListenerConfig.Mode.TCP) {
      pipeline.addLast("session", new TcpSession(listener, connector));
    } else {
      ServerTls tls = listener.route().tls();
      if (tls != null && tls.implicit()) {
        pipeline.addLast("tls", tls.newHandler(pipeline.channel().alloc()));
      }
      pipeline.addLast("session", new SmtpFrontend(listener, connector));
    }
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
    return pools;
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
      String admin = b.adminState() == Backend.AdminState.ENABLED ? "" : " " + b.adminState().name().toLowerCase(Locale.ROOT);
      sb.append(String.format("  %-10s %-12s %-22s weight %-3d prio %d  %-8s %s (%s)%s%n",
          b.pool(), b.name(), b.address(), b.weight(), b.priority(), t.state(), t.key(), last, admin));
    }
    return sb.toString();
  }

  /**
   * Graceful stop: no new sessions; sessions in flight may finish within {@code grace}; then the
   * rest are closed and the event loops end. The admin endpoint stays up while sessions drain, so
   * the drain can be watched ({@code /api/state}, {@code /metrics}); reloads are refused.
   */
  public void shutdown(Duration grace) {
    // Once only: a failed start shuts down what it had started, and its caller closes the server
    // too; a second pass would close listening sockets on event loops that have ended.
    if (!stopped.compareAndSet(false, true)) {
      return;
    }
    listeners.forEach(Listener::drain);
    long deadline = System.nanoTime() + grace.toNanos();
    while (System.nanoTime() < deadline && Stream.concat(listeners.stream(), retired.stream())
        .anyMatch(l -> l.activeSessions() > 0)) {
      try {
        Thread.sleep(50);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
        break;
      }
    }
    if (admin != null) {
      admin.close();
    }
    listeners.forEach(Listener::closeSessions);
    retired.forEach(Listener::closeSessions);
    if (health != null) {
      health.close();
    }
    if (clientNames != null) {
      clientNames.close();
    }
    if (backendNames != null) {
      backendNames.close();
    }
    if (workers != null) {
      workers.shutdownGracefully(0, 2, TimeUnit.SECONDS).syncUninterruptibly();
    }
    if (protocolLog != null) {
      protocolLog.close();
    }
  }

  /** Whether {@link #shutdown} has begun. */
  public boolean stopping() {
    return stopped.get();
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
