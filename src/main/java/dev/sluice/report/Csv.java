package dev.sluice.report;

import java.util.ArrayList;
import java.util.List;

/**
 * Splits one line of the Exchange-style CSV dialect: comma separated, fields optionally enclosed
 * in double quotes, a doubled quote inside quotes is a literal quote. Stateless and thread-safe.
 */
final class Csv {
  private Csv() {}

  /**
   * Splits {@code line} into {@code out} (cleared first). Returns false when a quoted field is not
   * closed (a truncated line); {@code out} then holds what was read.
   */
  static boolean split(String line, List<String> out) {
    out.clear();
    int n = line.length();
    int i = 0;
    while (true) {
      if (i < n && line.charAt(i) == '"') {
        StringBuilder sb = new StringBuilder();
        i++;
        while (true) {
          if (i >= n) {
            out.add(sb.toString());
            return false;
          }
          char c = line.charAt(i++);
          if (c == '"') {
            if (i < n && line.charAt(i) == '"') {
              sb.append('"');
              i++;
            } else {
              break;
            }
          } else {
            sb.append(c);
          }
        }
        // Anything between the closing quote and the next comma is kept, as Log Parser does.
        int comma = line.indexOf(',', i);
        if (comma > i) {
          sb.append(line, i, comma);
        }
        out.add(sb.toString());
        if (comma < 0) {
          if (i < n) {
            out.set(out.size() - 1, sb.append(line, i, n).toString());
          }
          return true;
        }
        i = comma + 1;
      } else {
        int comma = line.indexOf(',', i);
        if (comma < 0) {
          out.add(line.substring(i));
          return true;
        }
        out.add(line.substring(i, comma));
        i = comma + 1;
      }
    }
  }

  /** Convenience for headers: splits and returns a new list. */
  static List<String> split(String line) {
    List<String> out = new ArrayList<>();
    split(line, out);
    return out;
  }
}
