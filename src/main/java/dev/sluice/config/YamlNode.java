package dev.sluice.config;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A YAML document as a tree of maps, lists and scalars, each carrying the {@link Location} where it
 * starts, so every configuration error can name file, line and column. Built by {@link
 * YamlTreeReader}; the binder never sees Jackson types.
 *
 * <p>Nodes are immutable once built; safe to share between threads.
 */
sealed interface YamlNode permits YamlNode.MapNode, YamlNode.ListNode, YamlNode.ScalarNode {

  /** Where the node starts in the file. */
  Location location();

  /** What a user calls this kind of node, for messages such as "expected a map, found a list". */
  String kindName();

  /** One {@code key: value} pair; {@code keyLocation} is where the key is written. */
  record Entry(String key, Location keyLocation, YamlNode value) {}

  /** A YAML mapping. Keys are unique (the reader reports duplicates) and keep file order. */
  record MapNode(Map<String, Entry> entries, Location location) implements YamlNode {
    public MapNode {
      entries = Collections.unmodifiableMap(new LinkedHashMap<>(entries));
    }

    /** The entry for {@code key}, or null when absent. */
    Entry entry(String key) {
      return entries.get(key);
    }

    @Override
    public String kindName() {
      return "a map";
    }
  }

  /** A YAML sequence. */
  record ListNode(List<YamlNode> items, Location location) implements YamlNode {
    public ListNode {
      items = List.copyOf(items);
    }

    @Override
    public String kindName() {
      return "a list";
    }
  }

  /**
   * A YAML scalar. {@code text} is the text as written (without quotes); it is null only for a
   * YAML null ({@code ~}, {@code null} or nothing after the colon).
   */
  record ScalarNode(String text, Location location) implements YamlNode {
    boolean isNull() {
      return text == null;
    }

    @Override
    public String kindName() {
      return isNull() ? "nothing" : "a single value";
    }
  }
}
