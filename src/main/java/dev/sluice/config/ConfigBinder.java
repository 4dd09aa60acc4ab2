package dev.sluice.config;

import dev.sluice.config.HealthProfile.Step;
import dev.sluice.config.ListenerConfig.Auth;
import dev.sluice.config.ListenerConfig.BackendTls;
import dev.sluice.config.ListenerConfig.Balance;
import dev.sluice.config.ListenerConfig.BareNewline;
import dev.sluice.config.ListenerConfig.ClientIdentity;
import dev.sluice.config.ListenerConfig.Limits;
import dev.sluice.config.ListenerConfig.Mode;
import dev.sluice.config.ListenerConfig.Tls;
import dev.sluice.config.ListenerConfig.Trust;
import dev.sluice.config.PoolConfig.Algorithm;
import dev.sluice.config.PoolConfig.DeferralAffinity;
import dev.sluice.config.PoolConfig.Passive;
import dev.sluice.config.PoolConfig.Persistence;
import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.BiFunction;
import java.util.regex.Pattern;

/**
 * Binds a located YAML tree to the configuration records, applying defaults and checking every
 * rule of DESIGN §3, including references between sections (a listener's pool and health profile)
 * and uniqueness (listen addresses, backend names). All errors are collected; none stops binding.
 *
 * <p>Not thread-safe: one instance binds one file.
 */
final class ConfigBinder {
  private static final Set<String> TOP_KEYS = Section.keys("admin", "log", "resolver", "health", "pools", "listeners");
  private static final Set<String> ADMIN_KEYS = Section.keys("listen", "token_file", "state_file", "acknowledge");
  private static final Set<String> LOG_KEYS = Section.keys("protocol_dir", "protocol_level", "acknowledge");
  private static final Set<String> RESOLVER_KEYS = Section.keys("servers", "timeout", "acknowledge");
  private static final Set<String> HEALTH_KEYS =
      Section.keys("steps", "helo", "mail_from", "rcpt_to", "interval", "timeout", "rise", "fall",
          "cert_warn_days", "acknowledge");
  private static final Set<String> POOL_KEYS =
      Section.keys("algorithm", "persistence", "deferral_affinity", "slow_start", "passive", "backends", "acknowledge");
  private static final Set<String> PERSISTENCE_KEYS = Section.keys("mode", "ttl", "max_entries", "acknowledge");
  private static final Set<String> DEFERRAL_AFFINITY_KEYS = Section.keys("ttl", "max_entries", "acknowledge");
  private static final Set<String> PASSIVE_KEYS =
      Section.keys("consecutive_failures", "eject_for", "max_eject_for", "acknowledge");
  private static final Set<String> BACKEND_KEYS = Section.keys("name", "address", "weight", "priority", "client_identity", "acknowledge");
  private static final Set<String> LISTENER_KEYS =
      Section.keys("listen", "mode", "balance", "pool", "health", "trust", "source_address",
          "client_identity", "accept_proxy", "allow", "deny", "hostname", "retries", "bare_newline",
          "auth", "backend_tls", "backend_tls_ca", "backend_tls_verify", "tls", "implicit_tls", "capabilities", "received_header",
          "limits", "timeouts", "acknowledge");
  /** Listener keys that configure the SMTP conversation, meaningless when relaying bytes. */
  private static final List<String> SMTP_ONLY_KEYS =
      List.of("balance", "hostname", "retries", "bare_newline", "auth", "backend_tls", "backend_tls_ca",
          "backend_tls_verify", "capabilities", "received_header", "tls");
  private static final Set<String> TLS_KEYS = Section.keys("cert", "key", "implicit", "required", "acknowledge");
  private static final Set<String> TIMEOUT_KEYS = Section.keys("connect", "banner", "command", "end_of_data", "acknowledge");
  private static final Set<String> LIMITS_KEYS =
      Section.keys("max_connections", "max_connections_per_client", "connection_rate",
          "max_message_size", "max_recipients", "idle_timeout", "auth_failures", "acknowledge");

  private static final Duration DEFAULT_PERSISTENCE_TTL = Duration.ofMinutes(30);
  private static final int DEFAULT_PERSISTENCE_ENTRIES = 100_000;
  /**
   * Long enough for a sender's first retry after greylisting (Postfix retries after 5 minutes, then
   * 10, 20, 40; Exchange every few minutes), short enough that a backend deferring everything does
   * not hold a sender's retries for long: it runs from the deferral and is not renewed by another.
   */
  static final DeferralAffinity DEFAULT_DEFERRAL_AFFINITY = new DeferralAffinity(Duration.ofHours(1), 100_000);
  private static final List<Cidr> ALLOW_ALL = List.of(Cidr.parse("0.0.0.0/0"), Cidr.parse("::/0"));
  private static final String PATH_HINT = "a file path; a relative path is relative to the configuration file's directory";
  private static final String STEPS_HINT =
      "steps run in this order, each at most once: " + String.join(", ", Section.enumNames(Step.class))
          + "; the first must be connect";
  private static final Pattern DOMAIN =
      Pattern.compile("[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*");
  private static final String IP_HINT = "an IP address, e.g. 192.0.2.21 or 2001:db8::21 (no host names)";

  private final Path file;
  private final String fileName;
  private final Path baseDir;
  private final List<ConfigError> errors = new ArrayList<>();
  /** Where each listener's {@code listen} value is written, for the duplicate-address check. */
  private final Map<String, Location> listenLocations = new LinkedHashMap<>();

  private ConfigBinder(Path file) {
    this.file = file;
    this.fileName = file.toString();
    Path parent = file.toAbsolutePath().normalize().getParent();
    this.baseDir = parent == null ? Path.of("").toAbsolutePath() : parent;
  }

  /**
   * Binds {@code root} (null for an empty file); {@code earlier} are the errors found while reading
   * the YAML, reported together with the binding errors, sorted by position.
   */
  static SluiceConfig bind(Path file, YamlNode root, List<ConfigError> earlier) throws ConfigException {
    ConfigBinder b = new ConfigBinder(file);
    b.errors.addAll(earlier);
    SluiceConfig config = b.bindRoot(root);
    if (!b.errors.isEmpty()) {
      List<ConfigError> sorted = new ArrayList<>(b.errors);
      sorted.sort(Comparator.comparingInt((ConfigError e) -> e.location().line())
          .thenComparingInt(e -> e.location().column()));
      throw new ConfigException(sorted);
    }
    return config;
  }

  private SluiceConfig bindRoot(YamlNode root) {
    if (root == null) {
      if (errors.isEmpty()) {
        errors.add(new ConfigError(new Location(fileName, 1, 1), "the configuration file is empty",
            "a configuration needs at least 'pools' and 'listeners'; see docs/configuration.md"));
      }
      return null;
    }
    Location rootAt = new Location(fileName, 1, 1);
    Section top = Section.open(root, rootAt, "the top level", TOP_KEYS, errors);
    AdminConfig admin = bindAdmin(top);
    LogConfig log = bindLog(top);
    ResolverConfig resolver = bindResolver(top);
    Map<String, HealthProfile> health = named(top, "health", "health profile", HEALTH_KEYS, false, this::bindHealth);
    Map<String, PoolConfig> pools = named(top, "pools", "pool", POOL_KEYS, true, this::bindPool);
    Map<String, ListenerConfig> listeners =
        named(top, "listeners", "listener", LISTENER_KEYS, true, (name, s) -> bindListener(name, s, pools, health));
    checkUniqueListen(listeners);
    return new SluiceConfig(file, admin, log, resolver, health, pools, listeners);
  }

  /** A map of named sections (pools, listeners, health profiles), each bound by {@code binder}. */
  private <T> Map<String, T> named(
      Section top, String key, String kind, Set<String> validKeys, boolean required,
      BiFunction<String, Section, T> binder) {
    Map<String, T> out = new LinkedHashMap<>();
    String example = "e.g. " + key + ": { my_" + kind.replace(' ', '_') + ": { ... } }";
    YamlNode node = top.node(key);
    if (node == null) {
      if (required) {
        top.require(key, "define at least one " + kind + " under '" + key + ":'; " + example);
      }
      return out;
    }
    if (!(node instanceof YamlNode.MapNode map)) {
      top.error(key, node.location(), "'" + key + "' must be a map of " + kind + "s by name, found " + node.kindName(),
          example);
      return out;
    }
    if (required && map.entries().isEmpty()) {
      top.error(key, node.location(), "'" + key + "' defines no " + kind, "define at least one; " + example);
    }
    for (YamlNode.Entry e : map.entries().values()) {
      Section s = Section.open(e.value(), e.keyLocation(), kind + " '" + e.key() + "'", validKeys, errors);
      out.put(e.key(), binder.apply(e.key(), s));
    }
    return out;
  }

  private AdminConfig bindAdmin(Section top) {
    if (!top.has("admin")) {
      return AdminConfig.NONE; // also for an explicit "admin:" with nothing below it (read as null)
    }
    Section s = top.section("admin", "'admin'", ADMIN_KEYS);
    s.require("listen", "the admin endpoint's address, " + ConfigValues.IP_ADDRESS_HINT);
    HostPort listen = listenAddress(s, "listen");
    s.refuseNoValue("token_file", "write the path of a file holding the bearer token, or leave the key out"
        + " (then admin.listen must be a loopback address)");
    Path token = path(s, "token_file", null);
    s.refuseNoValue("state_file", "write the path of the file that keeps drains and API weights across restarts,"
        + " e.g. state_file: /var/lib/sluice/state.json, or leave the key out");
    Path state = path(s, "state_file", null);
    return new AdminConfig(listen, token, state, s.acknowledge(), s.keyLocation());
  }

  private LogConfig bindLog(Section top) {
    Section s = top.section("log", "'log'", LOG_KEYS);
    Path dir = path(s, "protocol_dir", baseDir.resolve("logs"));
    LogConfig.ProtocolLevel level = s.enumValue("protocol_level", LogConfig.ProtocolLevel.class, LogConfig.ProtocolLevel.BASIC);
    return new LogConfig(dir, level, s.acknowledge(), top.has("log") ? s.keyLocation() : Location.NONE);
  }

  /**
   * {@code resolver:}; present (even empty, {@code resolver: {}}) means client names are looked up
   * with the system's name servers unless {@code servers} names others.
   */
  private ResolverConfig bindResolver(Section top) {
    if (!top.hasKey("resolver")) {
      return ResolverConfig.NONE;
    }
    Section s = top.section("resolver", "'resolver'", RESOLVER_KEYS);
    s.refuseNoValue("servers", "list DNS servers, e.g. servers: [127.0.0.53], or leave the key out to use"
        + " the name servers in /etc/resolv.conf");
    List<HostPort> servers = s.listOf("servers", List.of(), ConfigValues::parseNameServer, ConfigValues.NAME_SERVER_HINT);
    Duration timeout = positive(s, "timeout", ResolverConfig.DEFAULT_TIMEOUT);
    if (timeout.compareTo(ResolverConfig.MAX_TIMEOUT) > 0) {
      // The first transaction waits for the name: past a minute senders are left waiting on their
      // RCPT for a name that DNS is plainly not going to give.
      s.error("timeout", s.locationOfValue("timeout"), "'timeout' in 'resolver' is "
          + ConfigValues.formatDuration(timeout) + "; at most " + ConfigValues.formatDuration(ResolverConfig.MAX_TIMEOUT),
          "the first transaction of a session waits for the lookup; a few seconds is what resolvers take (default 5s)");
      timeout = ResolverConfig.DEFAULT_TIMEOUT;
    }
    return new ResolverConfig(true, servers, timeout, s.acknowledge(), top.locationOfKey("resolver"));
  }

  private HealthProfile bindHealth(String name, Section s) {
    HealthProfile d = HealthProfile.DEFAULT;
    List<Step> steps = s.listOf("steps", d.steps(), ConfigBinder::parseStep, STEPS_HINT);
    String helo = s.string("helo", d.helo());
    s.refuseNoValue("mail_from", "write mail_from: \"\" for the null sender <>, or leave the key out for "
        + d.mailFrom());
    String mailFrom = s.string("mail_from", d.mailFrom());
    String rcptTo = s.string("rcpt_to", null);
    Duration interval = s.duration("interval", d.interval());
    Duration timeout = s.duration("timeout", d.timeout());
    int rise = s.integer("rise", d.rise(), 1, 1000, null);
    int fall = s.integer("fall", d.fall(), 1, 1000, null);
    int certWarnDays = s.integer("cert_warn_days", d.certWarnDays(), 0, 3650, null);
    if (s.ok("steps")) {
      checkSteps(s, steps, rcptTo != null);
    }
    if (s.ok("interval") && interval.isZero()) {
      s.error("interval", s.locationOfValue("interval"), "'interval' in " + s.description() + " must be more than 0",
          ConfigValues.DURATION_HINT);
    } else if (s.ok("interval") && s.ok("timeout") && timeout.compareTo(interval) >= 0) {
      s.error("timeout", s.locationOfValue("timeout"),
          "'timeout' in " + s.description() + " (" + ConfigValues.formatDuration(timeout) + ") must be shorter than 'interval' (" + ConfigValues.formatDuration(interval) + ")",
          "a probe must finish before the next one starts, e.g. interval: 5s with timeout: 3s");
    }
    return new HealthProfile(name, steps, helo, mailFrom, rcptTo, interval, timeout, rise, fall, certWarnDays,
        s.acknowledge(), s.keyLocation());
  }

  private static Step parseStep(String text) {
    Step step = Section.parseEnum(text, Step.class);
    if (step == null) {
      String near = Suggestions.nearest(text, Section.enumNames(Step.class));
      throw new IllegalArgumentException("'" + text + "' is not a probe step" + (near == null ? "" : "; did you mean '" + near + "'?"));
    }
    return step;
  }

  private void checkSteps(Section s, List<Step> steps, boolean hasRcptTo) {
    Location at = s.locationOfValue("steps");
    String where = "'steps' in " + s.description();
    if (steps.isEmpty() || steps.get(0) != Step.CONNECT) {
      s.error("steps", at, where + " must start with connect", STEPS_HINT);
      return;
    }
    for (int i = 1; i < steps.size(); i++) {
      if (steps.get(i).ordinal() <= steps.get(i - 1).ordinal()) {
        s.error("steps", at, where + ": '" + lower(steps.get(i)) + "' cannot come after '" + lower(steps.get(i - 1)) + "'",
            STEPS_HINT);
        return;
      }
    }
    if (steps.contains(Step.TLS) && steps.contains(Step.STARTTLS)) {
      s.error("steps", at, where + " has both tls and starttls; after tls the session is encrypted already",
          "tls is for servers that speak TLS from the first byte (port 465), starttls for the others; keep one");
    }
    if (steps.contains(Step.RCPT_TO) && !steps.contains(Step.MAIL_FROM)) {
      s.error("steps", at, where + ": a rcpt_to step needs a mail_from step before it",
          "e.g. steps: [connect, banner, ehlo, mail_from, rcpt_to, quit]");
    }
    if (steps.contains(Step.RCPT_TO) && !hasRcptTo) {
      s.error("rcpt_to", s.keyLocation(), s.description() + " has a rcpt_to step but no 'rcpt_to' address",
          "add e.g. rcpt_to: postmaster@corp.example (a recipient every backend accepts), or remove the rcpt_to step");
    }
  }

  private PoolConfig bindPool(String name, Section s) {
    refuseUnaddressableName(s, "pools", s.keyLocation(), "pool name '" + name + "'", name);
    Algorithm algorithm = s.enumValue("algorithm", Algorithm.class, Algorithm.ROUND_ROBIN);
    Persistence persistence = bindPersistence(s);
    DeferralAffinity deferralAffinity = bindDeferralAffinity(s);
    Duration slowStart = s.duration("slow_start", Duration.ZERO);
    Passive passive = bindPassive(s);
    List<BackendConfig> backends = bindBackends(s);
    return new PoolConfig(name, algorithm, persistence, deferralAffinity, slowStart, passive, backends,
        s.acknowledgeWithin("persistence", "deferral_affinity", "passive"), s.keyLocation());
  }

  private Persistence bindPersistence(Section pool) {
    YamlNode node = pool.node("persistence");
    if (node == null) {
      return Persistence.NONE;
    }
    if (node instanceof YamlNode.ListNode) {
      pool.error("persistence", node.location(),
          "'persistence' in " + pool.description() + " must be none, source_ip or a map, found a list",
          "e.g. persistence: none, or persistence: { mode: source_ip, ttl: 30m, max_entries: 100000 }");
      return Persistence.NONE;
    }
    if (node instanceof YamlNode.ScalarNode) {
      // The short form: "persistence: none" (or "source_ip" with the default ttl and table size).
      Persistence.Mode mode = pool.enumValue("persistence", Persistence.Mode.class, Persistence.Mode.NONE);
      return persistence(mode, DEFAULT_PERSISTENCE_TTL, DEFAULT_PERSISTENCE_ENTRIES);
    }
    Section s = pool.section("persistence", "'persistence' of " + pool.description(), PERSISTENCE_KEYS);
    s.require("mode", "valid modes: none, source_ip");
    Persistence.Mode mode = s.enumValue("mode", Persistence.Mode.class, Persistence.Mode.NONE);
    Duration ttl = positive(s, "ttl", DEFAULT_PERSISTENCE_TTL);
    int maxEntries = s.integer("max_entries", DEFAULT_PERSISTENCE_ENTRIES, 1, Integer.MAX_VALUE, null);
    return persistence(mode, ttl, maxEntries);
  }

  /** Mode none is always {@link Persistence#NONE}, so consumers can compare against it. */
  private static Persistence persistence(Persistence.Mode mode, Duration ttl, int maxEntries) {
    return mode == Persistence.Mode.NONE ? Persistence.NONE : new Persistence(mode, ttl, maxEntries);
  }

  private DeferralAffinity bindDeferralAffinity(Section pool) {
    YamlNode node = pool.node("deferral_affinity");
    if (node == null) {
      return DEFAULT_DEFERRAL_AFFINITY;
    }
    if (node instanceof YamlNode.ScalarNode scalar) {
      if (!"none".equals(scalar.text())) {
        pool.error("deferral_affinity", node.location(),
            "'deferral_affinity' in " + pool.description() + " must be none or a map, found '" + scalar.text() + "'",
            "e.g. deferral_affinity: none, or deferral_affinity: { ttl: 1h, max_entries: 100000 }");
      }
      return DeferralAffinity.OFF;
    }
    Section s = pool.section("deferral_affinity", "'deferral_affinity' of " + pool.description(), DEFERRAL_AFFINITY_KEYS);
    Duration ttl = positive(s, "ttl", DEFAULT_DEFERRAL_AFFINITY.ttl());
    int maxEntries = s.integer("max_entries", DEFAULT_DEFERRAL_AFFINITY.maxEntries(), 1, Integer.MAX_VALUE, null);
    return new DeferralAffinity(ttl, maxEntries);
  }

  private Passive bindPassive(Section pool) {
    Section s = pool.section("passive", "'passive' of " + pool.description(), PASSIVE_KEYS);
    Passive d = Passive.DEFAULT;
    int failures = s.integer("consecutive_failures", d.consecutiveFailures(), 1, 1000, null);
    Duration ejectFor = positive(s, "eject_for", d.ejectFor());
    Duration maxEjectFor = positive(s, "max_eject_for", d.maxEjectFor());
    if (s.ok("eject_for") && s.ok("max_eject_for") && maxEjectFor.compareTo(ejectFor) < 0) {
      s.error("max_eject_for", s.locationOfValue("max_eject_for"),
          "'max_eject_for' (" + ConfigValues.formatDuration(maxEjectFor) + ") is shorter than 'eject_for' (" + ConfigValues.formatDuration(ejectFor) + ")",
          "ejection doubles from eject_for up to max_eject_for, e.g. eject_for: 30s, max_eject_for: 5m");
    }
    return new Passive(failures, ejectFor, maxEjectFor);
  }

  private List<BackendConfig> bindBackends(Section pool) {
    String example = "e.g. backends: [ { name: server1, address: 192.0.2.10:25 }, 192.0.2.11:25 ]";
    List<BackendConfig> out = new ArrayList<>();
    if (!pool.require("backends", "a pool needs at least one backend; " + example)) {
      return out;
    }
    List<YamlNode> items = pool.list("backends", "host:port or { name: ..., address: host:port, weight: 1 }");
    if (items == null) {
      return out;
    }
    if (items.isEmpty()) {
      pool.error("backends", pool.locationOfValue("backends"), pool.description() + " has no backends",
          "a pool needs at least one backend; " + example);
    }
    Map<String, BackendConfig> byName = new LinkedHashMap<>();
    for (YamlNode item : items) {
      BackendConfig b = bindBackend(pool, item);
      if (b == null) {
        continue;
      }
      BackendConfig first = byName.putIfAbsent(b.name(), b);
      if (first != null) {
        pool.error("backends", b.location(), "duplicate backend name '" + b.name() + "' in " + pool.description(),
            "'" + b.name() + "' is already defined at line " + first.location().line()
                + "; give each backend its own name");
      }
      out.add(b);
    }
    return out;
  }

  /** One backend: a scalar {@code host:port} or a map; null when it cannot be bound at all. */
  private BackendConfig bindBackend(Section pool, YamlNode item) {
    if (item instanceof YamlNode.ScalarNode scalar && !scalar.isNull()) {
      try {
        HostPort address = ConfigValues.parseHostPort(scalar.text(), false, false);
        return new BackendConfig(scalar.text().trim(), address, 1, 1, Map.of(), item.location());
      } catch (IllegalArgumentException e) {
        pool.error("backends", item.location(), "backend in " + pool.description() + ": " + e.getMessage(),
            ConfigValues.ADDRESS_HINT);
        return null;
      }
    }
    Section s = Section.open(item, item.location(), "a backend of " + pool.description(), BACKEND_KEYS, errors);
    s.require("address", ConfigValues.ADDRESS_HINT);
    HostPort address = s.value("address", null, t -> ConfigValues.parseHostPort(t, false, false), ConfigValues.ADDRESS_HINT);
    String name = s.string("name", address == null ? null : address.toString());
    int weight = s.integer("weight", 1, 1, 1_000_000,
        "weight is a share and must be at least 1; to take a server out of service, drain it instead");
    int priority = s.integer("priority", 1, 1, 1000, "priority is a tier: 1 = first, 2 = used only when tier 1 has no eligible backend");
    // null: whatever each listener sending to this backend sets (ListenerConfig.clientIdentityTowards).
    ClientIdentity identity = s.enumValue("client_identity", ClientIdentity.class, null);
    if (address == null) {
      return null;
    }
    Location at = s.has("name") ? s.locationOfValue("name") : item.location();
    if (name != null) {
      refuseUnaddressableName(pool, "backends", at, "backend name '" + name + "' in " + pool.description(), name);
    }
    return new BackendConfig(name, address, weight, priority, identity, s.acknowledge(), at);
  }

  /**
   * Pool and backend names are path segments of the admin API ({@code /api/pools/POOL/backends/NAME/drain})
   * and halves of the {@code pool/name} keys that drains and API weights are remembered by across
   * reloads and restarts: a '/' would make a backend unreachable through the API and its key
   * ambiguous. Whitespace and control characters would split the protocol log's backend entries,
   * which {@code sluice report} reads back.
   */
  private static void refuseUnaddressableName(Section s, String key, Location at, String what, String name) {
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (c == '/' || Character.isWhitespace(c) || Character.isISOControl(c)) {
        s.error(key, at, what + " contains " + (c == '/' ? "'/'" : "a space or control character"),
            "names are used in the admin API's paths (/api/pools/POOL/backends/NAME/drain), in metrics labels and"
                + " in the protocol log; use letters, digits and . - _ :, e.g. mx1 or edge-pool");
        return;
      }
    }
  }

  private ListenerConfig bindListener(
      String name, Section s, Map<String, PoolConfig> pools, Map<String, HealthProfile> profiles) {
    s.require("listen", "the address this listener accepts connections on, " + ConfigValues.IP_ADDRESS_HINT);
    HostPort listen = listenAddress(s, "listen");
    listenLocations.put(name, s.locationOfValue("listen"));
    Mode mode = s.enumValue("mode", Mode.class, Mode.SMTP);
    if (mode == Mode.TCP) {
      for (String key : SMTP_ONLY_KEYS) {
        if (s.has(key)) {
          s.error(key, s.locationOfKey(key), "'" + key + "' does not apply to " + s.description() + ", which has mode: tcp",
              "'" + key + "' is only valid with mode: smtp; remove it or set mode: smtp"
                  + (key.equals("tls") ? " (to pass TLS through to servers on port 465, write implicit_tls: true)" : ""));
        }
      }
    }
    Balance balance = s.enumValue("balance", Balance.class, Balance.TRANSACTION);
    s.require("pool", "the pool this listener sends traffic to; " + Suggestions.hint(null, pools.keySet(), "defined pools"));
    String pool = reference(s, "pool", "pool", pools.keySet());
    String health = reference(s, "health", "health profile", profiles.keySet());
    Trust trust = s.enumValue("trust", Trust.class, Trust.EXTERNAL);
    InetAddress source = s.value("source_address", null, ConfigBinder::ipAddress, IP_HINT);
    ClientIdentity identity = s.enumValue("client_identity", ClientIdentity.class, ClientIdentity.NONE);
    if (mode == Mode.TCP && (identity == ClientIdentity.XCLIENT || identity == ClientIdentity.XFORWARD)) {
      s.error("client_identity", s.locationOfValue("client_identity"),
          "client_identity " + lower(identity) + " is an SMTP command and needs mode: smtp",
          "with mode: tcp use none, proxy_v1, proxy_v2 or transparent; or set mode: smtp");
    }
    if (mode == Mode.TCP && pool != null && pools.get(pool) != null) { // null: a pool that failed to bind
      refuseSmtpIdentityOfBackends(s, pools.get(pool));
    }
    List<Cidr> acceptProxy = s.listOf("accept_proxy", List.of(), Cidr::parse, ConfigValues.CIDR_HINT);
    s.refuseNoValue("allow", "write the client ranges to admit, e.g. allow: [10.0.0.0/8], or leave the key out"
        + " to admit every client");
    List<Cidr> allow = s.listOf("allow", ALLOW_ALL, Cidr::parse, ConfigValues.CIDR_HINT);
    List<Cidr> deny = s.listOf("deny", List.of(), Cidr::parse, ConfigValues.CIDR_HINT);
    String hostname = s.value("hostname", LocalHost.NAME, ConfigBinder::domainName,
        "a domain name, e.g. mx.example.com, or an address literal such as [192.0.2.25]");
    int retries = s.integer("retries", 2, 0, 10, "how many other backends to try before a 4xx reaches the client, 0..10");
    BareNewline bareNewline = s.enumValue("bare_newline", BareNewline.class, BareNewline.REJECT);
    Auth auth = s.enumValue("auth", Auth.class, Auth.NONE);
    BackendTls backendTls = s.enumValue("backend_tls", BackendTls.class, BackendTls.NONE);
    Path backendTlsCa = path(s, "backend_tls_ca", null);
    boolean backendTlsVerify = s.bool("backend_tls_verify", true);
    Tls tls = bindTls(s);
    boolean implicitTls = bindImplicitTls(s, mode, health == null ? HealthProfile.DEFAULT : profiles.get(health));
    Set<String> capabilities = new java.util.LinkedHashSet<>(s.listOf("capabilities", List.of(), t -> {
      String c = t.trim().toUpperCase(java.util.Locale.ROOT);
      if (!ListenerConfig.OPTIONAL_CAPABILITIES.contains(c)) {
        throw new IllegalArgumentException("'" + t + "' is not an extension Sluice can offer");
      }
      return c;
    }, "valid: SMTPUTF8, DSN (offer them only when every backend of the pool does)"));
    boolean receivedHeader = s.bool("received_header", false);
    Limits limits = bindLimits(s);
    ListenerConfig.Timeouts timeouts = bindTimeouts(s);
    return new ListenerConfig(name, listen, mode, balance, pool, health, trust, source, identity, acceptProxy, allow,
        deny, hostname, retries, bareNewline, auth, backendTls, backendTlsCa, backendTlsVerify, tls, implicitTls, capabilities,
        receivedHeader, limits, timeouts, s.acknowledgeWithin("tls", "limits", "timeouts"), s.keyLocation());
  }

  /**
   * A tcp listener relays bytes, so it cannot send XCLIENT or XFORWARD to a backend whose own
   * {@code client_identity} asks for one: reported at the listener's {@code pool}, since the
   * backend is right for the smtp listeners that share the pool.
   */
  private static void refuseSmtpIdentityOfBackends(Section s, PoolConfig pool) {
    for (BackendConfig b : pool.backends()) {
      ClientIdentity own = b.clientIdentity();
      if (own == ClientIdentity.XCLIENT || own == ClientIdentity.XFORWARD) {
        s.error("pool", s.locationOfValue("pool"),
            s.description() + " has mode: tcp, but backend '" + b.name() + "' of pool '" + pool.name() + "' (line "
                + b.location().line() + ") has client_identity: " + lower(own) + ", an SMTP command",
            "give this listener mode: smtp, or a pool whose backends take none, proxy_v1, proxy_v2 or transparent");
        return;
      }
    }
  }

  /**
   * {@code implicit_tls} of a tcp listener: its clients and servers speak TLS from the first byte
   * (port 465), which passes through. Its probes must shake hands first (a {@code tls} step), or
   * they wait for a banner these servers send only inside TLS; and only such a listener may use a
   * profile with a {@code tls} step, since an smtp listener and a plain tcp one expect a banner in
   * plain text. {@code profile} is null when the listener names an unknown one (reported already).
   */
  private static boolean bindImplicitTls(Section s, Mode mode, HealthProfile profile) {
    boolean implicitTls = s.bool("implicit_tls", false);
    if (s.has("implicit_tls") && mode == Mode.SMTP && s.ok("implicit_tls")) {
      s.error("implicit_tls", s.locationOfKey("implicit_tls"), "'implicit_tls' applies to mode: tcp, where TLS passes"
          + " through to the servers; " + s.description() + " has mode: smtp",
          "an smtp listener ends TLS itself: tls: { cert: ..., key: ..., implicit: true }; or set mode: tcp");
      return false;
    }
    if (profile == null) {
      return implicitTls;
    }
    boolean shakesHands = profile.steps().contains(Step.TLS);
    String which = "health profile '" + profile.name() + "'";
    if (implicitTls && !shakesHands) {
      s.error("implicit_tls", s.locationOfValue("implicit_tls"), s.description() + " has implicit_tls: true but its "
          + which + " does not start with tls; its probes would wait for a banner that these servers send only"
          + " inside TLS", s.has("health")
              ? "add tls after connect in that profile: steps: [connect, tls, banner, ehlo, mail_from, quit]"
              : "name a health profile whose steps are [connect, tls, banner, ehlo, mail_from, quit]");
    } else if (!implicitTls && shakesHands) {
      s.error("health", s.locationOfValue("health"), s.description() + " uses " + which + ", whose tls step is for"
          + " servers that speak TLS from the first byte (port 465), but the listener expects a banner in plain text",
          mode == Mode.TCP ? "set implicit_tls: true if the servers are on port 465, or use a profile without tls"
              : "use a profile without the tls step (starttls probes a server's STARTTLS)");
    }
    return implicitTls;
  }

  /** A reference to a named section; an unknown name is an error listing the defined ones. */
  private static String reference(Section s, String key, String kind, Set<String> defined) {
    String ref = s.string(key, null);
    if (ref != null && !defined.contains(ref)) {
      s.error(key, s.locationOfValue(key), s.description() + " refers to unknown " + kind + " '" + ref + "'",
          Suggestions.hint(ref, defined, "defined " + kind + "s"));
    }
    return ref;
  }

  private Tls bindTls(Section listener) {
    listener.refuseNoValue("tls", "write tls: { cert: tls/cert.pem, key: tls/key.pem }, or leave the key out for no TLS");
    if (!listener.has("tls")) {
      return null;
    }
    Section s = listener.section("tls", "'tls' of " + listener.description(), TLS_KEYS);
    s.require("cert", "the certificate chain (PEM), e.g. cert: tls/cert.pem");
    s.require("key", "the private key (PEM), e.g. key: tls/key.pem");
    Path cert = path(s, "cert", null);
    Path key = path(s, "key", null);
    boolean implicit = s.bool("implicit", false);
    boolean required = s.bool("required", false); // (implicit TLS is always there: nothing to require)
    return new Tls(cert, key, implicit, required, s.locationOfValue("cert"), s.locationOfValue("key"));
  }

  private Limits bindLimits(Section listener) {
    Section s = listener.section("limits", "'limits' of " + listener.description(), LIMITS_KEYS);
    Limits d = Limits.DEFAULT;
    String zero = "a whole number, 0 for no limit";
    int maxConnections = s.integer("max_connections", d.maxConnections(), 0, Integer.MAX_VALUE, zero);
    int perClient = s.integer("max_connections_per_client", d.maxConnectionsPerClient(), 0, Integer.MAX_VALUE, zero);
    ListenerConfig.Rate rate = s.value("connection_rate", d.connectionRate(), ConfigValues::parseRate, ConfigValues.RATE_HINT);
    long maxSize = s.size("max_message_size", d.maxMessageSize());
    int maxRecipients = s.integer("max_recipients", d.maxRecipients(), 0, Integer.MAX_VALUE, zero);
    Duration idle = positive(s, "idle_timeout", d.idleTimeout());
    ListenerConfig.Rate authFailures = s.value("auth_failures", d.authFailures(), ConfigValues::parseRate,
        "failed logins allowed per client address, " + ConfigValues.RATE_HINT);
    return new Limits(maxConnections, perClient, rate, maxSize, maxRecipients, idle, authFailures);
  }

  private ListenerConfig.Timeouts bindTimeouts(Section listener) {
    Section s = listener.section("timeouts", "'timeouts' of " + listener.description(), TIMEOUT_KEYS);
    ListenerConfig.Timeouts d = ListenerConfig.Timeouts.DEFAULT;
    return new ListenerConfig.Timeouts(positive(s, "connect", d.connect()), positive(s, "banner", d.banner()),
        positive(s, "command", d.command()), positive(s, "end_of_data", d.endOfData()));
  }

  /** Two listeners cannot bind the same address and port (nor one the wildcard of the other's family). */
  private void checkUniqueListen(Map<String, ListenerConfig> listeners) {
    List<ListenerConfig> seen = new ArrayList<>();
    for (ListenerConfig l : listeners.values()) {
      if (l.listen() == null || l.listen().port() == 0) {
        continue;
      }
      for (ListenerConfig other : seen) {
        if (conflict(l.listen(), other.listen())) {
          errors.add(new ConfigError(listenLocations.get(l.name()),
              "listener '" + l.name() + "' listens on " + l.listen() + ", which listener '" + other.name()
                  + "' (line " + other.location().line() + ") already uses",
              "give each listener its own address:port"));
          break;
        }
      }
      seen.add(l);
    }
  }

  private static boolean conflict(HostPort a, HostPort b) {
    if (a.port() != b.port()) {
      return false;
    }
    byte[] x = IpLiteral.parse(a.host());
    byte[] y = IpLiteral.parse(b.host());
    if (x == null || y == null || x.length != y.length) {
      return false;
    }
    return Arrays.equals(x, y) || isWildcard(x) || isWildcard(y);
  }

  private static boolean isWildcard(byte[] address) {
    for (byte b : address) {
      if (b != 0) {
        return false;
      }
    }
    return true;
  }

  /** A listening address: an IP literal and port (port 0 picks a free port). */
  private HostPort listenAddress(Section s, String key) {
    return s.value(key, null, t -> ConfigValues.parseHostPort(t, true, true), ConfigValues.IP_ADDRESS_HINT);
  }

  private Path path(Section s, String key, Path def) {
    return s.value(key, def, this::resolve, PATH_HINT);
  }

  private Path resolve(String text) {
    if (text.isBlank()) {
      throw new IllegalArgumentException("the path is empty");
    }
    try {
      return baseDir.resolve(text.trim()).normalize();
    } catch (InvalidPathException e) {
      throw new IllegalArgumentException("'" + text + "' is not a valid path: " + e.getReason());
    }
  }

  /** A duration that must be more than zero. */
  private static Duration positive(Section s, String key, Duration def) {
    Duration d = s.duration(key, def);
    if (d.isZero() && s.ok(key)) {
      s.error(key, s.locationOfValue(key), "'" + key + "' in " + s.description() + " must be more than 0",
          ConfigValues.DURATION_HINT);
      return def;
    }
    return d;
  }

  /**
   * A name for Sluice's banner and EHLO reply, which clients may check and log: a domain (RFC 5321
   * §4.1.2: letters, digits and hyphens in dot-separated labels) or an address literal
   * ({@code [192.0.2.1]}, {@code [IPv6:2001:db8::1]}, §4.1.3), as the greeting allows.
   */
  private static String domainName(String text) {
    boolean literal = text.startsWith("[") && text.endsWith("]") && addressLiteral(text.substring(1, text.length() - 1));
    if (!literal && (text.length() > 253 || !DOMAIN.matcher(text).matches())) {
      throw new IllegalArgumentException("'" + text + "' is not a domain name or an address literal");
    }
    return text;
  }

  /** {@code 192.0.2.1} or {@code IPv6:2001:db8::1}: what goes between the brackets (RFC 5321 §4.1.3). */
  private static boolean addressLiteral(String inner) {
    boolean v6 = inner.regionMatches(true, 0, "IPv6:", 0, 5);
    InetAddress a = IpLiteral.toAddress(v6 ? inner.substring(5) : inner);
    return a != null && (a instanceof Inet6Address) == v6;
  }

  private static InetAddress ipAddress(String text) {
    InetAddress a = IpLiteral.toAddress(text.trim());
    if (a == null) {
      throw new IllegalArgumentException("'" + text + "' is not an IP address");
    }
    return a;
  }

  private static String lower(Enum<?> e) {
    return e.name().toLowerCase(Locale.ROOT);
  }

  /**
   * The default {@code hostname}: this host's name, looked up once and only when a listener needs
   * it (the lookup may consult DNS).
   */
  private static final class LocalHost {
    static final String NAME = lookup();

    private static String lookup() {
      try {
        String name = InetAddress.getLocalHost().getHostName();
        return name == null || name.isBlank() || IpLiteral.parse(name) != null ? "localhost" : name;
      } catch (IOException | SecurityException e) {
        return "localhost";
      }
    }
  }
}
