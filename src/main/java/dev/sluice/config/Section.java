package dev.sluice.config;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;
import java.util.function.Function;
import java.util.regex.Pattern;

/**
 * A checked view of one YAML map in the configuration (the top level, a pool, a listener's {@code
 * limits}, ...): typed getters that fall back to a default when a key is absent and record a
 * {@link ConfigError} when a value is wrong, so binding carries on and reports every error.
 *
 * <p>Unknown keys are reported when the section is opened. A section whose node is not a map
 * reports that once and then behaves as an empty, "broken" map that reports no missing keys, so
 * one mistake does not cascade into several.
 *
 * <p>Not thread-safe; lives only while one file is bound.
 */
final class Section {
  private static final Pattern ACK_CODE = Pattern.compile("SL\\d{3}");

  private final YamlNode.MapNode map;
  private final Location keyLocation;
  private final String description;
  private final boolean broken;
  private final List<ConfigError> errors;
  private final Set<String> failedKeys = new HashSet<>();

  private Section(
      YamlNode.MapNode map, Location keyLocation, String description, boolean broken, List<ConfigError> errors) {
    this.map = map;
    this.keyLocation = keyLocation;
    this.description = description;
    this.broken = broken;
    this.errors = errors;
  }

  /**
   * Opens {@code node} as a section. {@code keyLocation} is where the key naming it is written
   * (missing-key errors point there); {@code description} names it in messages ("pool 'hub'").
   * A null node (absent or YAML null) is an empty section.
   */
  static Section open(
      YamlNode node, Location keyLocation, String description, Collection<String> validKeys, List<ConfigError> errors) {
    if (node == null || node instanceof YamlNode.ScalarNode s && s.isNull()) {
      return new Section(emptyMap(keyLocation), keyLocation, description, false, errors);
    }
    if (!(node instanceof YamlNode.MapNode map)) {
      errors.add(
          new ConfigError(
              node.location(),
              description + " must be a map, found " + node.kindName(),
              "write its settings as 'key: value' lines indented below it, or as { key: value, ... }; valid keys: "
                  + String.join(", ", validKeys)));
      return new Section(emptyMap(keyLocation), keyLocation, description, true, errors);
    }
    for (YamlNode.Entry e : map.entries().values()) {
      if (!validKeys.contains(e.key())) {
        errors.add(
            new ConfigError(
                e.keyLocation(),
                "unknown key '" + e.key() + "' in " + description,
                Suggestions.hint(e.key(), validKeys, "valid keys")));
      }
    }
    return new Section(map, keyLocation, description, false, errors);
  }

  private static YamlNode.MapNode emptyMap(Location at) {
    return new YamlNode.MapNode(Map.of(), at);
  }

  /** Opens the value of {@code key} as a sub-section; empty when absent. */
  Section section(String key, String subDescription, Collection<String> validKeys) {
    YamlNode.Entry e = map.entry(key);
    Section s = open(e == null ? null : e.value(), e == null ? keyLocation : e.keyLocation(), subDescription, validKeys, errors);
    if (s.broken) {
      failedKeys.add(key);
    }
    return s;
  }

  String description() {
    return description;
  }

  Location keyLocation() {
    return keyLocation;
  }

  /** Whether {@code key} is present with a non-null value. */
  boolean has(String key) {
    return node(key) != null;
  }

  /** Whether {@code key} is written at all, even with no value ({@code resolver:} alone). */
  boolean hasKey(String key) {
    return map.entry(key) != null;
  }

  /** Whether no error was recorded for {@code key} (cross-checks skip keys that are already wrong). */
  boolean ok(String key) {
    return !failedKeys.contains(key);
  }

  /** The value of {@code key}, or null when absent or YAML null. */
  YamlNode node(String key) {
    YamlNode.Entry e = map.entry(key);
    if (e == null || e.value() instanceof YamlNode.ScalarNode s && s.isNull()) {
      return null;
    }
    return e.value();
  }

  /** Where {@code key} is written, or this section's key when absent. */
  Location locationOfKey(String key) {
    YamlNode.Entry e = map.entry(key);
    return e == null ? keyLocation : e.keyLocation();
  }

  /** Where the value of {@code key} is, or the key itself when the value is null or absent. */
  Location locationOfValue(String key) {
    YamlNode n = node(key);
    return n == null ? locationOfKey(key) : n.location();
  }

  /** The map's entries in file order, for sections whose keys are names (pools, listeners). */
  Collection<YamlNode.Entry> entries() {
    return map.entries().values();
  }

  /** Records an error about {@code key}. */
  void error(String key, Location at, String message, String hint) {
    failedKeys.add(key);
    errors.add(new ConfigError(at, message, hint));
  }

  /**
   * Records an error when {@code key} is written with no value ({@code allow:} with nothing after
   * it, {@code ~} or {@code null}). For the few keys whose default would quietly loosen what the
   * writer meant (an access list that admits everyone, no TLS, no token), "no value" is not "absent".
   */
  void refuseNoValue(String key, String hint) {
    YamlNode.Entry e = map.entry(key);
    if (e != null && e.value() instanceof YamlNode.ScalarNode v && v.isNull()) {
      error(key, e.keyLocation(), "'" + key + "' in " + description + " has no value", hint);
    }
  }

  /** Reports {@code key} as missing (pointing at this section's key) unless it is present. */
  boolean require(String key, String hint) {
    if (has(key)) {
      return true;
    }
    failedKeys.add(key);
    if (!broken) {
      YamlNode.Entry e = map.entry(key);
      String message = e == null
          ? "missing required key '" + key + "' in " + description
          : "'" + key + "' in " + description + " has no value";
      errors.add(new ConfigError(e == null ? keyLocation : e.keyLocation(), message, hint));
    }
    return false;
  }

  /** The text of a scalar {@code key}, or null when absent; records an error for a map or list. */
  String text(String key, String hint) {
    YamlNode n = node(key);
    if (n == null) {
      return null;
    }
    String t = scalarText(n, "'" + key + "' in " + description, hint);
    if (t == null) {
      failedKeys.add(key);
    }
    return t;
  }

  /**
   * The text of a scalar list item or value, or null (with an error recorded) when {@code node} is
   * a map or list; {@code what} names it in the message.
   */
  String scalarText(YamlNode node, String what, String hint) {
    if (node instanceof YamlNode.ScalarNode s && !s.isNull()) {
      return s.text();
    }
    errors.add(new ConfigError(node.location(), what + " must be a single value, found " + node.kindName(), hint));
    return null;
  }

  /**
   * The value of {@code key} parsed by {@code parser}, {@code def} when absent; on a parse failure
   * (an {@link IllegalArgumentException} whose message is for the user) records an error at the
   * value and returns {@code def}.
   */
  <T> T value(String key, T def, Function<String, T> parser, String hint) {
    String t = text(key, hint);
    if (t == null) {
      return def;
    }
    try {
      return parser.apply(t);
    } catch (IllegalArgumentException e) {
      error(key, locationOfValue(key), "'" + key + "' in " + description + ": " + e.getMessage(), hint);
      return def;
    }
  }

  String string(String key, String def) {
    return value(key, def, Function.identity(), "e.g. " + key + ": " + (def == null ? "text" : def));
  }

  Duration duration(String key, Duration def) {
    return value(key, def, ConfigValues::parseDuration, ConfigValues.DURATION_HINT);
  }

  long size(String key, long def) {
    return value(key, def, ConfigValues::parseSize, ConfigValues.SIZE_HINT);
  }

  boolean bool(String key, boolean def) {
    return value(key, def, Section::parseBool, "true or false");
  }

  /** A whole number in {@code min..max}; {@code rangeHint} explains the range to the user. */
  int integer(String key, int def, int min, int max, String rangeHint) {
    String hint = rangeHint == null ? "a whole number " + range(min, max) : rangeHint;
    Integer v = value(key, def, Section::parseInt, hint);
    if (v < min || v > max) {
      error(key, locationOfValue(key), "'" + key + "' in " + description + " is " + v + "; it must be " + range(min, max), hint);
      return def;
    }
    return v;
  }

  /** An enum constant written in lower case ({@code round_robin} for {@code ROUND_ROBIN}). */
  <E extends Enum<E>> E enumValue(String key, Class<E> type, E def) {
    List<String> valid = enumNames(type);
    String t = text(key, "valid values: " + String.join(", ", valid));
    if (t == null) {
      return def;
    }
    E e = parseEnum(t, type);
    if (e == null) {
      error(key, locationOfValue(key), "'" + key + "' in " + description + " cannot be '" + t + "'",
          Suggestions.hint(t, valid, "valid values"));
      return def;
    }
    return e;
  }

  /** The items of list {@code key}, or null when absent; records an error when it is not a list. */
  List<YamlNode> list(String key, String itemHint) {
    YamlNode n = node(key);
    if (n == null) {
      return null;
    }
    if (n instanceof YamlNode.ListNode l) {
      return l.items();
    }
    error(key, n.location(), "'" + key + "' in " + description + " must be a list, found " + n.kindName(),
        "write a list as [a, b] or as '- a' lines; each item is " + itemHint);
    return null;
  }

  /** A list of scalar items each parsed by {@code parser}; {@code def} when absent. */
  <T> List<T> listOf(String key, List<T> def, Function<String, T> parser, String itemHint) {
    List<T> out = new ArrayList<>();
    return eachItem(key, parser, itemHint, (value, at) -> out.add(value)) ? out : def;
  }

  /**
   * Parses each scalar item of list {@code key} with {@code parser} and hands it to {@code sink}
   * with where the item is written; records an error for each item that is not a valid value.
   * Returns false when the key is absent (or not a list).
   */
  private <T> boolean eachItem(String key, Function<String, T> parser, String itemHint, BiConsumer<T, Location> sink) {
    List<YamlNode> items = list(key, itemHint);
    if (items == null) {
      return false;
    }
    for (YamlNode item : items) {
      String t = scalarText(item, "an item of '" + key + "' in " + description, itemHint);
      if (t == null) {
        failedKeys.add(key);
        continue;
      }
      try {
        sink.accept(parser.apply(t), item.location());
      } catch (IllegalArgumentException e) {
        error(key, item.location(), "'" + key + "' in " + description + ": " + e.getMessage(), itemHint);
      }
    }
    return true;
  }

  /**
   * {@code acknowledge: [SL001, ...]}: audit findings accepted on purpose, each code with where it is
   * written, in file order. A code written twice in one list is an error, like a key written twice:
   * the copy is often a slip for another code (SL004 for SL014), and kept silently it would hide that,
   * since only one entry per code reaches the audit and SL022 could never point at the other.
   */
  Map<String, Location> acknowledge() {
    Map<String, Location> out = new LinkedHashMap<>();
    eachItem("acknowledge", Section::parseAckCode, "an audit finding code such as SL001", (code, at) -> {
      Location first = out.putIfAbsent(code, at);
      if (first != null) {
        error("acknowledge", at, "'acknowledge' in " + description + " lists " + code + " twice",
            code + " is already listed at line " + first.line() + " column " + first.column() + "; remove one of them");
      }
    });
    return out;
  }

  /**
   * The {@code acknowledge} lists of this section and of its sub-sections {@code keys}, merged in
   * file order. Any object may carry one (DESIGN §3), but findings point at named objects (a
   * listener, a pool): an entry in a listener's {@code limits} or a pool's {@code passive} counts
   * as that listener's or pool's. A code in two of these lists is kept once, at its first place.
   * The sub-sections' keys are checked where they are bound, not here.
   */
  Map<String, Location> acknowledgeWithin(String... keys) {
    Map<String, Location> out = acknowledge();
    for (String key : keys) {
      YamlNode.Entry e = map.entry(key);
      if (e != null && e.value() instanceof YamlNode.MapNode sub && sub.entry("acknowledge") != null) {
        new Section(sub, e.keyLocation(), "'" + key + "' of " + description, false, errors).acknowledge()
            .forEach(out::putIfAbsent);
      }
    }
    return out;
  }

  private static String parseAckCode(String t) {
    String code = t.trim();
    if (!ACK_CODE.matcher(code).matches()) {
      throw new IllegalArgumentException("'" + t + "' is not an audit finding code");
    }
    return code;
  }

  private static Integer parseInt(String t) {
    try {
      return Integer.parseInt(t.trim());
    } catch (NumberFormatException e) {
      throw new IllegalArgumentException("'" + t + "' is not a whole number");
    }
  }

  private static Boolean parseBool(String t) {
    return switch (t.trim().toLowerCase(Locale.ROOT)) {
      case "true" -> true;
      case "false" -> false;
      default -> throw new IllegalArgumentException("'" + t + "' is not true or false");
    };
  }

  private static String range(int min, int max) {
    return max == Integer.MAX_VALUE ? "at least " + min : "between " + min + " and " + max;
  }

  /** The user-facing names of an enum's constants: lower case, in declaration order. */
  static <E extends Enum<E>> List<String> enumNames(Class<E> type) {
    return Arrays.stream(type.getEnumConstants()).map(c -> c.name().toLowerCase(Locale.ROOT)).toList();
  }

  /** The constant written as {@code text} (case-insensitive), or null. */
  static <E extends Enum<E>> E parseEnum(String text, Class<E> type) {
    String wanted = text.trim().toUpperCase(Locale.ROOT);
    for (E c : type.getEnumConstants()) {
      if (c.name().equals(wanted)) {
        return c;
      }
    }
    return null;
  }

  /** Keys for {@link #open}: declared once per section kind, in documentation order. */
  static Set<String> keys(String... keys) {
    return new LinkedHashSet<>(Arrays.asList(keys));
  }
}
