package dev.sluice.report;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * docs/report.md's "Tables (for --sql)" lists every column of every table and view, in the order a
 * query sees them, so that a column added or renamed cannot leave the reference for --sql behind.
 */
class ReportDocsTest {
  private static final Pattern BACKTICKED = Pattern.compile("`([a-z_]+)`");

  /** The "Tables (for --sql)" section of docs/report.md. */
  private static String tablesSection() throws Exception {
    String doc = Files.readString(Path.of("docs/report.md"));
    int start = doc.indexOf("## Tables (for `--sql`)");
    int end = doc.indexOf("\n## ", start + 1);
    assertThat(start).as("the Tables section of docs/report.md").isNotNegative();
    return doc.substring(start, end < 0 ? doc.length() : end);
  }

  /**
   * The columns docs/report.md gives {@code table}: a {@code `table(a, b)`} list, a {@code | column |}
   * Markdown table under its heading, or the first {@code `a, b, c`} list under its heading.
   */
  static List<String> documentedColumns(String section, String table) {
    int inline = section.indexOf("`" + table + "(");
    if (inline >= 0) {
      int open = inline + table.length() + 2;
      return split(section.substring(open, section.indexOf(")`", open)));
    }
    int heading = section.indexOf("### `" + table + "`");
    assertThat(heading).as("a heading for table %s in docs/report.md", table).isNotNegative();
    int next = section.indexOf("\n### ", heading + 1);
    String body = section.substring(heading, next < 0 ? section.length() : next);
    List<String> columns = new ArrayList<>();
    if (body.contains("\n| column |")) {
      for (String line : body.lines().toList()) {
        if (line.startsWith("| `")) {
          Matcher m = BACKTICKED.matcher(line.substring(0, line.indexOf(" |", 2)));
          while (m.find()) {
            columns.add(m.group(1));
          }
        }
      }
      return columns;
    }
    int open = body.indexOf('`', body.indexOf('\n'));
    return split(body.substring(open + 1, body.indexOf('`', open + 1)));
  }

  private static List<String> split(String list) {
    List<String> out = new ArrayList<>();
    for (String c : list.split(",")) {
      out.add(c.strip());
    }
    return out;
  }

  @ParameterizedTest
  @ValueSource(strings = {"events", "messages", "sessions", "received", "rejects", "files"})
  void docsListEveryColumnInOrder(String table) throws Exception {
    List<String> actual;
    try (ReportDatabase db = new ReportDatabase()) {
      actual = db.query(table, table, "SELECT * FROM " + table + " LIMIT 0").columns();
    }
    assertThat(documentedColumns(tablesSection(), table)).as("columns of %s in docs/report.md", table)
        .containsExactlyElementsOf(actual);
  }

  @Test
  void readsEachFormOfColumnList() {
    String section = """
        ### `a`: x

        | column | type |
        | --- | --- |
        | `p` | X |
        | `q`, `r` | Y, Z |

        ### `b` (view)

        `s, t,
        u`: text `v`

        `c(w, x)`
        """;
    assertThat(documentedColumns(section, "a")).containsExactly("p", "q", "r");
    assertThat(documentedColumns(section, "b")).containsExactly("s", "t", "u");
    assertThat(documentedColumns(section, "c")).containsExactly("w", "x");
  }
}
