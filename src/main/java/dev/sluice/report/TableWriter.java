package dev.sluice.report;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * Renders {@link ResultTable}s as aligned text, CSV (RFC 4180) or JSON. Stateless and thread-safe.
 */
public final class TableWriter {
  /** Output style. */
  public enum Style { TEXT, CSV, JSON }

  private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private TableWriter() {}

  /** Aligned columns under a heading; numbers right-aligned. */
  public static void text(ResultTable t, PrintWriter out) {
    if (t.title() != null && !t.title().isEmpty()) {
      out.println(t.title());
    }
    int n = t.columns().size();
    int[] width = new int[n];
    boolean[] numeric = new boolean[n];
    List<String[]> cells = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      width[i] = t.columns().get(i).length();
      numeric[i] = !t.rows().isEmpty();
    }
    for (List<Object> row : t.rows()) {
      String[] c = new String[n];
      for (int i = 0; i < n; i++) {
        Object v = row.get(i);
        c[i] = v == null ? "" : v.toString();
        width[i] = Math.max(width[i], c[i].length());
        numeric[i] &= v == null || v instanceof Number;
      }
      cells.add(c);
    }
    StringBuilder rule = new StringBuilder();
    String[] header = t.columns().toArray(String[]::new);
    out.println(line(header, width, numeric));
    for (int i = 0; i < n; i++) {
      rule.append(i == 0 ? "" : "  ").append("-".repeat(width[i]));
    }
    out.println(rule);
    cells.forEach(c -> out.println(line(c, width, numeric)));
    if (t.rows().isEmpty()) {
      out.println("(none)");
    }
  }

  private static String line(String[] cells, int[] width, boolean[] numeric) {
    StringBuilder sb = new StringBuilder();
    for (int i = 0; i < cells.length; i++) {
      String pad = " ".repeat(width[i] - cells[i].length());
      sb.append(i == 0 ? "" : "  ").append(numeric[i] ? pad + cells[i] : cells[i] + (i == cells.length - 1 ? "" : pad));
    }
    return sb.toString();
  }

  /** Header row then rows; nulls are empty fields. */
  public static void csv(ResultTable t, PrintWriter out) {
    out.println(String.join(",", t.columns().stream().map(TableWriter::csvField).toList()));
    for (List<Object> row : t.rows()) {
      out.println(String.join(",", row.stream().map(v -> v == null ? "" : csvField(v.toString())).toList()));
    }
  }

  private static String csvField(String s) {
    return s.contains(",") || s.contains("\"") || s.contains("\n") || s.contains("\r")
        ? '"' + s.replace("\"", "\"\"") + '"' : s;
  }

  /** The rows of a table as a JSON array of objects keyed by column. */
  public static ArrayNode json(ResultTable t) {
    ArrayNode rows = JSON.createArrayNode();
    for (List<Object> row : t.rows()) {
      ObjectNode o = rows.addObject();
      for (int i = 0; i < t.columns().size(); i++) {
        o.set(t.columns().get(i), JSON.valueToTree(row.get(i)));
      }
    }
    return rows;
  }

  /** Writes tables in {@code style}; JSON is one object keyed by table name plus {@code extra}. */
  public static void write(List<ResultTable> tables, Style style, ObjectNode extra, PrintWriter out) {
    switch (style) {
      case TEXT -> {
        for (int i = 0; i < tables.size(); i++) {
          if (i > 0) {
            out.println();
          }
          text(tables.get(i), out);
        }
      }
      case CSV -> {
        for (int i = 0; i < tables.size(); i++) {
          if (tables.size() > 1) {
            // One CSV stream per table; a marker line separates them when there are several.
            out.println((i > 0 ? "\n" : "") + "# " + tables.get(i).name());
          }
          csv(tables.get(i), out);
        }
      }
      case JSON -> {
        ObjectNode root = extra == null ? JSON.createObjectNode() : extra;
        if (tables.size() == 1 && extra == null) {
          out.println(JSON.valueToTree(json(tables.get(0))).toPrettyString());
          return;
        }
        tables.forEach(t -> root.set(t.name(), json(t)));
        out.println(root.toPrettyString());
      }
    }
    out.flush();
  }

  /** A fresh JSON object for {@link #write}'s {@code extra}. */
  public static ObjectNode object() {
    return JSON.createObjectNode();
  }
}
