package dev.sluice.config;

import java.lang.reflect.RecordComponent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * What a reload changes, in words for the log and the reload API: health profiles, pools and
 * their settings, backends and their weight, priority or address, listeners and their settings.
 * Where each thing stands in the file does not count, at any depth (a listener's {@code tls} paths
 * carry their positions too). The admin endpoint and the protocol log are
 * read at start only; their changes are listed with that said. Listeners that are added, removed or moved
 * to another address are reported by the reload itself, which binds them; this lists what changed
 * inside the ones that stay. Pure and stateless.
 */
public final class ConfigChanges {
  private ConfigChanges() {}

  /** One line per change, e.g. {@code backend hub/b: weight 1 -> 3}; empty when nothing changed. */
  public static List<String> between(SluiceConfig before, SluiceConfig after) {
    List<String> out = new ArrayList<>();
    named(out, "health profile", before.health(), after.health(), Set.of());
    named(out, "pool", before.pools(), after.pools(), Set.of("backends"));
    for (PoolConfig p : after.pools().values()) {
      PoolConfig old = before.pools().get(p.name());
      if (old != null) {
        forgottenTables(out, old, p);
        named(out, "backend " + p.name() + "/", byName(old.backends()), byName(p.backends()), Set.of());
      }
    }
    for (ListenerConfig l : after.listeners().values()) {
      ListenerConfig old = before.listeners().get(l.name());
      if (old != null && old.listen().equals(l.listen())) {
        describe(out, "listener " + l.name(), old, l, Set.of());
      }
    }
    // New sessions look their clients up with the new settings; sessions in flight keep theirs.
    describe(out, "resolver", before.resolver(), after.resolver(), Set.of());
    // Read at start only (docs/observability.md): said, so that nobody waits for them to apply.
    describe(out, "admin (applies at the next start)", before.admin(), after.admin(), Set.of());
    describe(out, "log (applies at the next start)", before.log(), after.log(), Set.of());
    return out;
  }

  /**
   * A pool keeps what it remembers across a reload only while the table's settings stay the same
   * (PoolBalancer): said, so that nobody wonders why a client or a greylisted sender was balanced
   * afresh after the reload.
   */
  private static void forgottenTables(List<String> out, PoolConfig before, PoolConfig after) {
    List<String> forgotten = new ArrayList<>();
    if (!before.persistence().equals(after.persistence()) && after.persistence() != PoolConfig.Persistence.NONE) {
      forgotten.add("persistence");
    }
    if (!before.deferralAffinity().equals(after.deferralAffinity()) && after.deferralAffinity().enabled()) {
      forgotten.add("deferral affinity");
    }
    if (!forgotten.isEmpty()) {
      out.add("pool " + after.name() + ": " + String.join(" and ", forgotten)
          + (forgotten.size() == 1 ? " starts" : " start") + " with an empty table");
    }
  }

  private static Map<String, BackendConfig> byName(List<BackendConfig> backends) {
    Map<String, BackendConfig> m = new LinkedHashMap<>();
    backends.forEach(b -> m.put(b.name(), b));
    return m;
  }

  /** Added, removed and changed entries of two maps of named records. */
  private static <T extends Record> void named(
      List<String> out, String kind, Map<String, T> before, Map<String, T> after, Set<String> ignore) {
    String sep = kind.endsWith("/") ? "" : " ";
    after.forEach((name, v) -> {
      T old = before.get(name);
      if (old == null) {
        out.add("added " + kind + sep + name);
      } else {
        describe(out, kind + sep + name, old, v, ignore);
      }
    });
    before.keySet().stream().filter(n -> !after.containsKey(n)).forEach(n -> out.add("removed " + kind + sep + n));
  }

  /** {@code what: a 1 -> 2, b changed} for the components that differ; nothing when none does. */
  private static void describe(List<String> out, String what, Record before, Record after, Set<String> ignore) {
    List<String> changed = new ArrayList<>();
    changes(changed, "", before, after, ignore);
    if (!changed.isEmpty()) {
      out.add(what + ": " + String.join(", ", changed));
    }
  }

  /**
   * Adds a phrase per differing component to {@code changed}: {@code name old -> new} for plain
   * values, and the differing parts of a nested section named by path ({@code tls.cert a.pem ->
   * b.pem}, {@code limits.max_recipients 1000 -> 50}), so an operator reads what changed, not only
   * where.
   */
  private static void changes(List<String> changed, String prefix, Record before, Record after, Set<String> ignore) {
    for (RecordComponent c : before.getClass().getRecordComponents()) {
      if (isPosition(c) || ignore.contains(c.getName())) {
        continue;
      }
      Object a = value(c, before);
      Object b = value(c, after);
      if (same(settings(a), settings(b))) {
        continue;
      }
      String name = prefix + snake(c.getName());
      if (a instanceof Record ra && b instanceof Record rb && ra.getClass() == rb.getClass() && !simple(a)) {
        changes(changed, name + ".", ra, rb, Set.of());
      } else {
        changed.add(simple(a) && simple(b) ? name + " " + text(name, a) + " -> " + text(name, b) : name + " changed");
      }
    }
  }

  /** Equal; lists in any order (allow, deny, accept_proxy: the order means nothing there). */
  private static boolean same(Object a, Object b) {
    if (a instanceof List<?> la && b instanceof List<?> lb) {
      return la.size() == lb.size() && new HashSet<>(la).equals(new HashSet<>(lb));
    }
    return Objects.equals(a, b);
  }

  private static Object value(RecordComponent c, Record r) {
    try {
      return c.getAccessor().invoke(r);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Whether the component says where something is written ({@code location}, a listener's {@code
   * tls} paths' {@code certAt} and {@code keyAt}), not what it is. Told by type, so a position added
   * to any record later cannot turn moved lines into a reported change.
   */
  private static boolean isPosition(RecordComponent c) {
    return c.getType() == Location.class;
  }

  /**
   * {@code v} for comparison, positions left out at any depth: a nested record (a listener's {@code
   * tls}) becomes its type and its other components' settings; a map keeps its keys with their
   * values' settings, so {@code acknowledge} compares as codes, whatever line each is written on.
   */
  private static Object settings(Object v) {
    if (v instanceof Location) {
      return null;
    }
    if (v instanceof Record r) {
      List<Object> values = new ArrayList<>();
      for (RecordComponent c : r.getClass().getRecordComponents()) {
        if (!isPosition(c)) {
          values.add(settings(value(c, r)));
        }
      }
      return new Settings(r.getClass(), values);
    }
    if (v instanceof Map<?, ?> m) {
      Map<Object, Object> out = new HashMap<>();
      m.forEach((k, x) -> out.put(k, settings(x)));
      return out;
    }
    if (v instanceof List<?> l) {
      List<Object> out = new ArrayList<>();
      l.forEach(x -> out.add(settings(x)));
      return out;
    }
    if (v instanceof Set<?> set) {
      Set<Object> out = new HashSet<>();
      set.forEach(x -> out.add(settings(x)));
      return out;
    }
    return v;
  }

  /**
   * A record's settings: its type (so that a record never equals a list, which {@link #same}
   * compares in any order) and its components' settings in declaration order.
   */
  private record Settings(Class<?> type, List<Object> values) {}

  private static boolean simple(Object v) {
    return v == null || v instanceof Number || v instanceof String || v instanceof Enum<?> || v instanceof Boolean
        || v instanceof Duration || v instanceof HostPort || v instanceof Path;
  }

  private static String text(String name, Object v) {
    if (v == null) {
      // A backend without client_identity of its own takes each listener's; "none" is a value there.
      return name.equals("client_identity") ? "the listener's" : "none";
    }
    if (v instanceof Enum<?> e) {
      return e.name().toLowerCase(Locale.ROOT);
    }
    if (v instanceof Duration d) {
      return ConfigValues.formatDuration(d);
    }
    return v.toString();
  }

  /** {@code slowStart} as the config writes it: {@code slow_start}. */
  private static String snake(String camel) {
    return camel.replaceAll("([a-z0-9])([A-Z])", "$1_$2").toLowerCase(Locale.ROOT);
  }
}
