package dev.sluice.config;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonLocation;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.fasterxml.jackson.dataformat.yaml.YAMLParser;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.yaml.snakeyaml.error.Mark;
import org.yaml.snakeyaml.error.MarkedYAMLException;
import org.yaml.snakeyaml.error.YAMLException;

/**
 * Reads YAML text into a located {@link YamlNode} tree with Jackson's streaming {@link YAMLParser}.
 *
 * <p>Duplicate keys are detected here rather than with Jackson's {@code
 * STRICT_DUPLICATE_DETECTION}, because we want to keep reading (and report the other errors in the
 * file) and to say where the first occurrence was. Anchors and aliases ({@code &x}, {@code *x}) are
 * resolved to the anchored node, so an error inside shared content points at its definition.
 *
 * <p>Not thread-safe: one instance reads one document. The shared {@link YAMLFactory} is
 * thread-safe.
 */
final class YamlTreeReader {
  /**
   * {@code EMPTY_STRING_AS_NULL}: a key with no value ({@code deny:}) reads as null, the same as
   * leaving the key out (docs/configuration.md), while a quoted {@code ""} stays an empty text.
   */
  private static final YAMLFactory FACTORY =
      YAMLFactory.builder().enable(YAMLParser.Feature.EMPTY_STRING_AS_NULL).build();

  private final String file;
  private final List<ConfigError> errors = new ArrayList<>();
  private final Map<String, YamlNode> anchors = new HashMap<>();
  private YAMLParser parser;

  /**
   * The outcome of reading: the root node (null when the file is empty or has a syntax error) and
   * the errors found while reading (syntax errors, duplicate keys, unknown aliases).
   */
  record Result(YamlNode root, List<ConfigError> errors) {}

  private YamlTreeReader(String file) {
    this.file = file;
  }

  /** Reads one YAML document; never throws for bad input, errors land in the result. */
  static Result read(String text, String file) {
    YamlTreeReader reader = new YamlTreeReader(file);
    YamlNode root = reader.readDocument(text);
    return new Result(root, List.copyOf(reader.errors));
  }

  private YamlNode readDocument(String text) {
    try (YAMLParser p = FACTORY.createParser(text)) {
      parser = p;
      JsonToken first = p.nextToken();
      if (first == null) {
        return null;
      }
      YamlNode root = readValue(first);
      if (p.nextToken() != null) {
        errors.add(
            new ConfigError(
                tokenLocation(),
                "the file holds more than one YAML document",
                "keep the whole configuration in one document: remove the '---' separator"));
      }
      return root;
    } catch (JacksonException | YAMLException e) {
      errors.add(syntaxError(e));
      return null;
    } catch (IOException e) {
      // Reading a String cannot fail with real I/O; this is a truncated token stream.
      errors.add(syntaxError(e));
      return null;
    }
  }

  private YamlNode readValue(JsonToken token) throws IOException {
    Location at = tokenLocation();
    String anchor = parser.getObjectId(); // the YAML anchor (&name), if any
    YamlNode node =
        switch (token) {
          case START_OBJECT -> readMap(at);
          case START_ARRAY -> readList(at);
          case VALUE_NULL -> new YamlNode.ScalarNode(null, at);
          default -> parser.isCurrentAlias() ? resolveAlias(at) : scalar(at);
        };
    if (anchor != null && !parser.isCurrentAlias()) {
      anchors.put(anchor, node);
    }
    return node;
  }

  private YamlNode scalar(Location at) throws IOException {
    return new YamlNode.ScalarNode(parser.getText(), at);
  }

  private YamlNode resolveAlias(Location at) throws IOException {
    String name = parser.getText();
    YamlNode target = anchors.get(name);
    if (target == null) {
      errors.add(
          new ConfigError(
              at,
              "alias '*" + name + "' refers to no anchor",
              "define '&" + name + "' on a value earlier in the file; defined anchors: "
                  + (anchors.isEmpty() ? "none" : String.join(", ", anchors.keySet()))));
      return new YamlNode.ScalarNode(null, at);
    }
    return target;
  }

  private YamlNode readMap(Location at) throws IOException {
    Map<String, YamlNode.Entry> entries = new LinkedHashMap<>();
    JsonToken t;
    while ((t = parser.nextToken()) == JsonToken.FIELD_NAME) {
      String key = parser.currentName();
      Location keyAt = tokenLocation();
      YamlNode value = readValue(parser.nextToken());
      YamlNode.Entry first = entries.get(key);
      if (first == null) {
        entries.put(key, new YamlNode.Entry(key, keyAt, value));
      } else {
        errors.add(
            new ConfigError(
                keyAt,
                "duplicate key '" + key + "'",
                "'" + key + "' is already set at line " + first.keyLocation().line() + " column "
                    + first.keyLocation().column() + "; keep only one of them"));
      }
    }
    expectEnd(t, JsonToken.END_OBJECT);
    return new YamlNode.MapNode(entries, at);
  }

  private YamlNode readList(Location at) throws IOException {
    List<YamlNode> items = new ArrayList<>();
    JsonToken t;
    while ((t = parser.nextToken()) != JsonToken.END_ARRAY && t != null) {
      items.add(readValue(t));
    }
    expectEnd(t, JsonToken.END_ARRAY);
    return new YamlNode.ListNode(items, at);
  }

  private void expectEnd(JsonToken actual, JsonToken expected) throws IOException {
    if (actual != expected) {
      // The parser reports malformed input itself; this guards against a truncated token stream.
      throw new IOException("unexpected end of YAML input");
    }
  }

  private Location tokenLocation() {
    JsonLocation l = parser.currentTokenLocation();
    return new Location(file, Math.max(l.getLineNr(), 1), Math.max(l.getColumnNr(), 1));
  }

  /** A syntax error at the place SnakeYAML found the problem, in its own words. */
  private ConfigError syntaxError(Exception e) {
    MarkedYAMLException marked = findMarked(e);
    if (marked != null && marked.getProblemMark() != null) {
      Mark m = marked.getProblemMark();
      String hint = "check indentation (spaces only, no tabs) and that every ':' and '-' is followed"
          + " by a space";
      if (marked.getContext() != null && marked.getContextMark() != null) {
        Mark c = marked.getContextMark();
        hint = marked.getContext() + " that starts at line " + (c.getLine() + 1) + " column "
            + (c.getColumn() + 1) + "; " + hint;
      }
      return new ConfigError(
          new Location(file, m.getLine() + 1, m.getColumn() + 1),
          "YAML syntax error: " + marked.getProblem(),
          hint);
    }
    Location at = new Location(file, 0, 0);
    String message = e.getMessage();
    if (e instanceof JacksonException je) {
      message = je.getOriginalMessage();
      if (je.getLocation() != null) {
        at = new Location(file, Math.max(je.getLocation().getLineNr(), 0),
            Math.max(je.getLocation().getColumnNr(), 0));
      }
    }
    return new ConfigError(at, "YAML syntax error: " + message, "check the YAML syntax near here");
  }

  private static MarkedYAMLException findMarked(Throwable e) {
    for (Throwable t = e; t != null; t = t.getCause()) {
      if (t instanceof MarkedYAMLException m) {
        return m;
      }
    }
    return null;
  }
}
