package dev.sluice.config;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** Immutable copies that keep the order of the file (which {@link Map#copyOf} does not). Stateless. */
final class Ordered {
  private Ordered() {}

  /** An unmodifiable copy of {@code map} in its iteration order. */
  static <K, V> Map<K, V> copyOf(Map<K, V> map) {
    return Collections.unmodifiableMap(new LinkedHashMap<>(map));
  }
}
