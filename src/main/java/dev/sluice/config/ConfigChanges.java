package dev.sluice.config;

import java.lang.reflect.RecordComponent;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
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
 * Where each thing stands in the file does not count. The admin endpoint and the protocol log are
 * read at start only; their changes are listed with that said. Listeners that are added, removed or moved
 * to another address are reported by the reload itself, which binds them; this lists what changed
 * inside the ones that stay. Pure and stateless.
 */
public final class ConfigChanges {
  /** Record components that say where, not what. */
  private static final Set<String> POSITION = Set.of("location");
  /** The audit codes accepted on purpose, each with where it is written. */
  private static final String ACKNOWLEDGE = "acknowledge";

  private ConfigChanges() {}

  /** One line per change, e.g. {@code backend hub/b: weight 1 -> 3}; empty when nothing changed. */
  public static List<String> between(SluiceConfig before, SluiceConfig after) {
    List<String> out = new ArrayList<>();
    named(out, "health profile", before.health(), after.health(), Set.of());
    named(out, "pool", before.pools(), after.pools(), Set.of("backends"));
    for (PoolConfig p : after.pools().values()) {
      PoolConfig old = before.pools().get(p.name());
      if (old != null) {
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
    for (RecordComponent c : before.getClass().getRecordComponents()) {
      if (POSITION.contains(c.getName()) || ignore.contains(c.getName())) {
        continue;
      }
      Object a = value(c, before);
      Object b = value(c, after);
      if (!same(a, b)) {
        String name = snake(c.getName());
        changed.add(simple(a) && simple(b) ? name + " " + text(a) + " -> " + text(b) : name + " changed");
      }
    }
    if (!changed.isEmpty()) {
      out.add(what + ": " + String.join(", ", changed));
    }
  }

  /** Equal; lists in any order (allow, deny, accept_proxy: the order means nothing there). */
  private static boolean same(Object a, Object b) {
    if (a instanceof List<?> la && b instanceof List<?> lb) {
      return la.size() == lb.size() && new HashSet<>(la).equals(new HashSet<>(lb));
    }
    return Objects.equals(a, b);
  }

  /** The component's value; of {@code acknowledge}, the codes only (where each is written does not count). */
  private static Object value(RecordComponent c, Record r) {
    Object v;
    try {
      v = c.getAccessor().invoke(r);
    } catch (ReflectiveOperationException e) {
      throw new IllegalStateException(e);
    }
    return ACKNOWLEDGE.equals(c.getName()) && v instanceof Map<?, ?> m ? m.keySet() : v;
  }

  private static boolean simple(Object v) {
    return v == null || v instanceof Number || v instanceof String || v instanceof Enum<?> || v instanceof Boolean
        || v instanceof Duration || v instanceof HostPort || v instanceof Path;
  }

  private static String text(Object v) {
    if (v == null) {
      return "none";
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
