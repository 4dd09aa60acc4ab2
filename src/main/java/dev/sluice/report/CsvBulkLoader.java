package dev.sluice.report;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.StringJoiner;
import java.util.zip.GZIPInputStream;

/**
 * The fast path for plain Exchange and Sluice protocol logs: DuckDB's own CSV reader loads the file
 * into a staging table and one {@code INSERT ... SELECT} fills {@code events}.
 *
 * <p>Why: appending row by row through the JDBC appender cost about 8 µs of CPU per line, most of
 * it in the flush (a commit) the appender does every 2048 rows, not in parsing; DuckDB's reader
 * and a set-based transform do the same work in C++.
 *
 * <p>{@link HeaderedLogParser} stays the definition of what a line means. This path only takes a
 * file when a byte-level pre-scan shows nothing that parser treats specially: one header block at
 * the top (so no header change mid-file), no blank lines, no BOM, no bare CR, RFC 4180 quoting
 * (the parser keeps text after a closing quote, DuckDB would not) and the header's field count on
 * every line; and that the values the SQL below converts are unquoted and in shapes it maps exactly
 * as the parser does (timestamp without offset, non-empty session-id and event, short integer
 * sequence number, {@code ip:port} or {@code [v6]:port} endpoints). If DuckDB's reader or a cast
 * fails anyway (an impossible date such as Feb 30, invalid UTF-8), nothing is kept and the caller
 * parses the file in Java, which records malformed lines with file:line as always.
 * Stateless; one call per file on the loading thread's own connection.
 */
final class CsvBulkLoader {
  private CsvBulkLoader() {}

  /** What the pre-scan learned about a file the fast path can take. */
  /** {@code outside}: Sluice rows outside any session, left out of the events (known after the load). */
  record Plan(int headerLines, long lines, int width, Map<String, Integer> columns, String logType, long outside) {
    int col(String name) {
      return columns.getOrDefault(name, -1);
    }
  }

  /**
   * Loads {@code file} with DuckDB's CSV reader; returns the plan (line and header counts) when it
   * did, or empty when the file must be parsed in Java (nothing was loaded then).
   */
  static Optional<Plan> load(Connection conn, Path file, String sourceFile, LogFormat format) throws SQLException {
    if (format != LogFormat.EXCHANGE_PROTOCOL && format != LogFormat.SLUICE) {
      return Optional.empty(); // tracking logs and maillogs keep the Java parser
    }
    String path = file.toAbsolutePath().toString();
    // read_csv would expand these as a glob or a home directory.
    if (path.matches(".*[*?\\[\\]{}~].*")) {
      return Optional.empty();
    }
    Plan plan;
    try (InputStream raw = Files.newInputStream(file);
        InputStream in = gzip(file) ? new GZIPInputStream(raw, 1 << 16) : raw) {
      plan = new Scanner(format).scan(in);
    } catch (IOException e) {
      return Optional.empty(); // the Java path reports the read error
    }
    if (plan == null) {
      return Optional.empty();
    }
    long outside = stageAndInsert(conn, path, sourceFile, gzip(file), plan);
    return outside < 0 ? Optional.empty() : Optional.of(new Plan(plan.headerLines(), plan.lines(), plan.width(),
        plan.columns(), plan.logType(), outside));
  }

  static boolean gzip(Path file) {
    return file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".gz");
  }

  /**
   * One pass over the bytes, line by line (UTF-8 multi-byte sequences never contain the ASCII bytes
   * looked at). Not thread-safe; one per file.
   */
  static final class Scanner {
    private final LogFormat format;
    private final List<String> header = new ArrayList<>();
    private byte[] line = new byte[4096]; // a line carried over between reads
    private int len;
    private byte[] cur; // the array holding the line being checked
    private long lines;
    private Plan plan;
    // Roles of the columns whose values this path checks, by column index; see check().
    private byte[] roles;

    private static final byte ANY = 0;
    private static final byte TIME = 1;
    private static final byte REQUIRED = 2;
    private static final byte SEQ = 3;
    private static final byte ENDPOINT = 4;

    Scanner(LogFormat format) {
      this.format = format;
    }

    /** The plan, or null when the Java parser must read the file. */
    Plan scan(InputStream in) throws IOException {
      byte[] buf = new byte[1 << 16];
      int n;
      // Lines are checked where they lie in the read buffer; only one that straddles two reads is
      // copied into `line` first.
      while ((n = in.read(buf)) > 0) {
        int start = 0;
        for (int i = 0; i < n; i++) {
          if (buf[i] == '\n') {
            boolean ok;
            if (len > 0) {
              append(buf, start, i);
              ok = endLine(line, 0, len);
              len = 0;
            } else {
              ok = endLine(buf, start, i);
            }
            if (!ok) {
              return null;
            }
            start = i + 1;
          }
        }
        append(buf, start, n);
      }
      if (len > 0 && (line[len - 1] == '\r' || !endLine(line, 0, len))) {
        return null; // a CR at the very end: keep that oddity with the parser
      }
      return plan == null ? null : new Plan(plan.headerLines(), lines, plan.width(), plan.columns(), plan.logType(), 0);
    }

    private void append(byte[] from, int start, int end) {
      int n = end - start;
      if (len + n > line.length) {
        line = java.util.Arrays.copyOf(line, Math.max(line.length * 2, len + n));
      }
      System.arraycopy(from, start, line, len, n);
      len += n;
    }

    /** One line without its LF, in {@code l[from, to)}. */
    private boolean endLine(byte[] l, int from, int to) {
      lines++;
      if (to > from && l[to - 1] == '\r') {
        to--; // CRLF
      }
      if (to == from) {
        return false; // an empty line is malformed for the parser
      }
      cur = l;
      if (lines == 1 && to - from >= 3 && l[from] == (byte) 0xEF && l[from + 1] == (byte) 0xBB
          && l[from + 2] == (byte) 0xBF) {
        return false; // a BOM, which the parser strips
      }
      if (l[from] == '#') {
        if (plan != null) {
          return false; // a header after data: it may change the columns mid-file
        }
        for (int i = from; i < to; i++) {
          if (l[i] == '"' || l[i] == '\r' || l[i] == 0) {
            return false; // read_csv's skip counts CSV records; keep quotes out of skipped lines
          }
        }
        header.add(new String(l, from, to - from, StandardCharsets.UTF_8));
        return true;
      }
      if (plan == null && (plan = plan(lines - 1)) == null) {
        return false;
      }
      return dataLine(from, to);
    }

    /**
     * RFC 4180 fields, the header's count of them, and the checked columns unquoted and in the
     * shapes the SQL maps exactly as the parser does.
     */
    private boolean dataLine(int from, int n) {
      byte[] line = cur;
      int field = 0;
      int i = from;
      while (true) {
        if (field >= roles.length) {
          return false; // more fields than the header
        }
        if (i < n && line[i] == '"') {
          if (roles[field] != ANY) {
            return false;
          }
          i++;
          while (true) {
            if (i >= n) {
              return false; // unterminated quote
            }
            byte b = line[i++];
            if (b == '\r' || b == 0) {
              return false; // a bare CR ends a line for BufferedReader, not for DuckDB; NUL: kept by the parser
            }
            if (b == '"') {
              if (i < n && line[i] == '"') {
                i++;
              } else {
                break;
              }
            }
          }
          if (i < n && line[i] != ',') {
            return false; // text after a closing quote: the parser keeps it, DuckDB would not
          }
        } else {
          int start = i;
          while (i < n && line[i] != ',') {
            byte b = line[i];
            if (b == '"' || b == '\r' || b == 0) {
              return false; // a quote inside an unquoted field, a bare CR, a NUL
            }
            i++;
          }
          if (!check(roles[field], start, i)) {
            return false;
          }
        }
        field++;
        if (i >= n) {
          return field == roles.length;
        }
        i++; // the comma
      }
    }

    private boolean check(byte role, int from, int to) {
      int n = to - from;
      switch (role) {
        case TIME -> {
          return time(from, to);
        }
        case REQUIRED -> {
          return n > 0;
        }
        case SEQ -> {
          int s = n > 0 && cur[from] == '-' ? from + 1 : from;
          return n == 0 || (to - s >= 1 && to - s <= 9 && digits(s, to));
        }
        case ENDPOINT -> {
          return n == 0 || endpoint(from, to);
        }
        default -> {
          return true;
        }
      }
    }

    /** {@code yyyy-MM-ddTHH:mm:ss[.f{1,6}][Z]} with a 1-9 leading year digit and in-range times. */
    private boolean time(int from, int to) {
      byte[] l = cur;
      int n = to - from;
      if (n < 19 || l[from] == '0' || !digits(from, from + 4) || l[from + 4] != '-' || !digits(from + 5, from + 7)
          || l[from + 7] != '-' || !digits(from + 8, from + 10) || (l[from + 10] != 'T' && l[from + 10] != ' ')
          || !digits(from + 11, from + 13) || l[from + 13] != ':' || !digits(from + 14, from + 16)
          || l[from + 16] != ':' || !digits(from + 17, from + 19)) {
        return false;
      }
      // DuckDB rolls 24:00 into the next day and rejects :60; the parser rejects the first, accepts the second.
      if (l[from + 11] > '2' || (l[from + 11] == '2' && l[from + 12] > '3') || l[from + 14] > '5' || l[from + 17] > '5') {
        return false;
      }
      int i = from + 19;
      if (i < to && l[i] == '.') {
        int s = ++i;
        while (i < to && l[i] >= '0' && l[i] <= '9') {
          i++;
        }
        if (i == s || i - s > 6) {
          return false;
        }
      }
      if (i < to && l[i] == 'Z') {
        i++;
      }
      return i == to; // offsets go to the parser
    }

    /** {@code host:port} with a single colon, or {@code [v6]:port}; ports of 1 to 5 digits. */
    private boolean endpoint(int from, int to) {
      int colon = -1;
      for (int i = to - 1; i >= from; i--) {
        if (cur[i] == ':') {
          colon = i;
          break;
        }
      }
      if (colon < 0 || to - colon - 1 < 1 || to - colon - 1 > 5 || !digits(colon + 1, to)) {
        return false;
      }
      if (cur[from] == '[') {
        if (colon - from < 3 || cur[colon - 1] != ']') {
          return false;
        }
        for (int i = from + 1; i < colon - 1; i++) {
          if (cur[i] == '[' || cur[i] == ']') {
            return false;
          }
        }
        return true;
      }
      if (colon == from) {
        return false;
      }
      for (int i = from; i < colon; i++) {
        if (cur[i] == ':' || cur[i] == '[' || cur[i] == ']') {
          return false;
        }
      }
      return true;
    }

    private boolean digits(int from, int to) {
      for (int i = from; i < to; i++) {
        if (cur[i] < '0' || cur[i] > '9') {
          return false;
        }
      }
      return true;
    }

    /** At the first data line: reads the header block as {@link HeaderedLogParser} does. */
    private Plan plan(long headerLines) {
      String logType = format == LogFormat.SLUICE ? "sluice" : "receive";
      Map<String, Integer> columns = null;
      int width = 0;
      for (String h : header) {
        if (h.startsWith("#Log-type:")) {
          if (format == LogFormat.EXCHANGE_PROTOCOL) {
            logType = h.contains("Send") ? "send" : "receive";
          }
        } else if (h.startsWith("#Fields:")) {
          List<String> names = Csv.split(h.substring("#Fields:".length()).trim());
          columns = new HashMap<>();
          for (int i = 0; i < names.size(); i++) {
            columns.put(names.get(i).trim().toLowerCase(Locale.ROOT), i);
          }
          width = names.size();
        }
      }
      // Without these every line is malformed for the parser; let it say so.
      if (columns == null || !columns.containsKey("date-time") || !columns.containsKey("session-id")
          || !columns.containsKey("event")) {
        return null;
      }
      roles = new byte[width];
      roles[columns.get("date-time")] = TIME;
      // Sluice's own rows outside any session (a backend's state change, a note of dropped events)
      // have no session-id; the load below leaves them out, as the parser does.
      roles[columns.get("session-id")] = format == LogFormat.SLUICE ? ANY : REQUIRED;
      roles[columns.get("event")] = REQUIRED;
      columns.computeIfPresent("sequence-number", (k, i) -> {
        roles[i] = SEQ;
        return i;
      });
      for (String e : List.of("local-endpoint", "remote-endpoint")) {
        columns.computeIfPresent(e, (k, i) -> {
          roles[i] = ENDPOINT;
          return i;
        });
      }
      return new Plan((int) headerLines, 0, width, columns, logType, 0);
    }
  }

  /**
   * Stages and transforms; returns how many rows were left out as outside any session, or -1 (and
   * nothing loaded) when the Java parser must do it.
   */
  private static long stageAndInsert(Connection conn, String path, String sourceFile, boolean gzip, Plan plan)
      throws SQLException {
    StringJoiner types = new StringJoiner(", ", "{", "}");
    for (int i = 0; i < plan.width(); i++) {
      types.add("'c" + i + "': 'VARCHAR'");
    }
    String stage = "csv_stage";
    try (Statement st = conn.createStatement()) {
      try {
        // All VARCHAR: conversions happen in SQL below, where failures are visible per row.
        st.execute("CREATE OR REPLACE TEMP TABLE " + stage + " AS SELECT * FROM read_csv(" + literal(path)
            + ", skip = " + plan.headerLines() + ", header = false, auto_detect = false, delim = ',', quote = '\"',"
            + " escape = '\"', strict_mode = true, null_padding = false, compression = '"
            + (gzip ? "gzip" : "none") + "', columns = " + types + ")");
        // The staging table keeps file order (preserve_insertion_order), so rowid + header lines + 1
        // is the line number.
        String ts = c(plan, "date-time");
        String seq = c(plan, "sequence-number");
        String local = c(plan, "local-endpoint");
        String remote = c(plan, "remote-endpoint");
        try (ResultSet rs = st.executeQuery("SELECT count(*) FROM " + stage)) {
          rs.next();
          if (rs.getLong(1) != plan.lines() - plan.headerLines()) {
            return -1; // DuckDB read the lines differently from the pre-scan
          }
        }
        boolean sluice = "sluice".equals(plan.logType());
        String sid = c(plan, "session-id");
        long outside = 0;
        if (sluice) {
          // Only information rows may lack a session; any other such line is malformed, and the
          // parser says so.
          try (ResultSet rs = st.executeQuery("SELECT count(*) FILTER (WHERE " + c(plan, "event") + " <> '*'),"
              + " count(*) FROM " + stage + " WHERE " + sid + " IS NULL")) {
            rs.next();
            if (rs.getLong(1) > 0) {
              return -1;
            }
            outside = rs.getLong(2);
          }
        }
        String connector = c(plan, sluice ? "listener" : "connector-id");
        String server = sluice ? c(plan, "backend")
            : "CASE WHEN strpos(" + connector + ", '\\') > 0 THEN substr(" + connector + ", 1, strpos(" + connector
                + ", '\\') - 1) END";
        st.execute("INSERT INTO events SELECT CAST(" + ts + " AS TIMESTAMP), " + literal(sourceFile) + ", " + server
            + ", " + connector + ", " + c(plan, "session-id") + ", CASE WHEN " + seq + " IS NULL THEN -1 ELSE CAST("
            + seq + " AS INTEGER) END, " + ip(local) + ", " + port(local) + ", " + ip(remote) + ", " + port(remote)
            + ", " + c(plan, "event") + ", " + c(plan, "data") + ", " + c(plan, "context") + ", rowid + "
            + (plan.headerLines() + 1) + ", " + literal(plan.logType()) + " FROM " + stage + " WHERE " + sid
            + " IS NOT NULL");
        return outside;
      } catch (SQLException e) {
        return -1; // a line DuckDB's reader or a cast rejects: the Java parser reports it
      }
    } finally {
      // A statement that failed is closed by the driver, so the cleanup gets its own.
      try (Statement st = conn.createStatement()) {
        st.execute("DROP TABLE IF EXISTS " + stage);
      }
    }
  }

  /** The staging column for a field name, or NULL when the header lacks it. */
  private static String c(Plan plan, String name) {
    int i = plan.col(name);
    return i < 0 ? "NULL::VARCHAR" : "c" + i;
  }

  private static String ip(String e) {
    return "CASE WHEN starts_with(" + e + ", '[') THEN substr(" + e + ", 2, strpos(" + e + ", ']') - 2) ELSE split_part("
        + e + ", ':', 1) END";
  }

  private static String port(String e) {
    return "CAST(CASE WHEN starts_with(" + e + ", '[') THEN substr(" + e + ", strpos(" + e + ", ']') + 2) ELSE split_part("
        + e + ", ':', 2) END AS INTEGER)";
  }

  static String literal(String s) {
    return "'" + s.replace("'", "''") + "'";
  }
}
