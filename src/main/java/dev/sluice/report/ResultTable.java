package dev.sluice.report;

import java.util.List;

/**
 * A named, fully materialised query result: column names and rows of plain Java values (String,
 * Long, Double, Boolean, or null; timestamps as ISO text). Immutable once built; thread-safe.
 *
 * @param name a short identifier (used as the JSON key and the CSV section marker)
 * @param title a human heading for the text output
 * @param columns column names
 * @param rows rows, each the size of {@code columns}
 */
public record ResultTable(String name, String title, List<String> columns, List<List<Object>> rows) {
  public ResultTable {
    columns = List.copyOf(columns);
    rows = List.copyOf(rows);
  }

  /** The value in {@code column} of row {@code row}. */
  public Object value(int row, String column) {
    int i = columns.indexOf(column);
    if (i < 0) {
      throw new IllegalArgumentException("no column " + column + " in " + columns);
    }
    return rows.get(row).get(i);
  }
}
