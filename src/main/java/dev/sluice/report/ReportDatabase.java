package dev.sluice.report;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.List;
import org.duckdb.DuckDBAppender;
import org.duckdb.DuckDBConnection;

/**
 * The in-memory DuckDB database behind {@code sluice report}: creates the schema, hands out
 * appender-backed {@link RowSink}s (one per loading thread) and runs queries into {@link
 * ResultTable}s.
 *
 * <p>Schema (documented in {@code docs/report.md}):
 *
 * <ul>
 *   <li>{@code events}: one row per protocol log line (Sluice, Exchange, Postfix {@code smtpd});
 *   <li>{@code messages}: one row per message event (Exchange tracking, Postfix);
 *   <li>{@code sessions} (view): one row per session and server, with the effective client;
 *   <li>{@code received} (view): one row per message a server accepted;
 *   <li>{@code rejects}: every malformed line with file, line number and reason;
 *   <li>{@code files}: one row per input file with its format and counts.
 * </ul>
 *
 * <p>Threading: {@link #sink} may be called from several threads, each using its own sink; queries
 * run on the calling thread. Close after use.
 */
public final class ReportDatabase implements AutoCloseable {
  static final String EVENTS_DDL = """
      CREATE TABLE events(
        ts TIMESTAMP, source_file VARCHAR, server VARCHAR, connector VARCHAR, session_id VARCHAR,
        seq INTEGER, local_ip VARCHAR, local_port INTEGER, remote_ip VARCHAR, remote_port INTEGER,
        event VARCHAR, data VARCHAR, context VARCHAR, source_line BIGINT, log_type VARCHAR)""";
  static final String MESSAGES_DDL = """
      CREATE TABLE messages(
        ts TIMESTAMP, source_file VARCHAR, server VARCHAR, connector VARCHAR, event VARCHAR,
        source VARCHAR, message_id VARCHAR, queue_id VARCHAR, session_id VARCHAR, client_ip VARCHAR,
        client_host VARCHAR, original_client_ip VARCHAR, server_ip VARCHAR, server_host VARCHAR,
        sender VARCHAR, recipients VARCHAR, recipient_count INTEGER, size BIGINT, status VARCHAR,
        dsn VARCHAR, relay VARCHAR, subject VARCHAR, directionality VARCHAR, source_line BIGINT,
        log_type VARCHAR)""";
  static final String REJECTS_DDL =
      "CREATE TABLE rejects(source_file VARCHAR, line BIGINT, reason VARCHAR, text VARCHAR)";
  static final String FILES_DDL = """
      CREATE TABLE files(source_file VARCHAR, format VARCHAR, lines BIGINT, events BIGINT,
        messages BIGINT, malformed BIGINT, ignored BIGINT, bytes BIGINT, note VARCHAR)""";
  /**
   * Sessions: Exchange and Sluice sessions are keyed by connector and session-id; the client is the
   * last remote address a session logged, which after a Postfix XCLIENT is the forwarded client.
   * A Sluice session that used several backends counts once for each; one that never got a backend
   * (refused by Sluice itself) has one row with a null server, so its client is still counted.
   * {@code client_name} is the client's verified host name where a Sluice {@code resolver:} logged
   * one ({@code client name mx.example.com}), else null.
   */
  static final String SESSIONS_VIEW = """
      CREATE VIEW sessions AS
      WITH s AS (
        SELECT log_type, connector, session_id, min(ts) AS started, max(ts) AS ended, count(*) AS lines,
               arg_max(remote_ip, seq) FILTER (WHERE remote_ip IS NOT NULL) AS client_ip,
               list(DISTINCT server) FILTER (WHERE server IS NOT NULL) AS servers,
               arg_max(substr(data, 13), seq) FILTER (WHERE context = 'info' AND starts_with(data, 'client name ')
                                                     AND NOT starts_with(data, 'client name unknown')) AS client_name
        FROM events GROUP BY log_type, connector, session_id)
      SELECT log_type, unnest(coalesce(servers, [NULL::VARCHAR])) AS server, connector, session_id, started, ended,
             lines, client_ip, client_name
      FROM s""";

  /**
   * Messages a server accepted, one row each: the {@code RECEIVE} rows of message logs (Exchange
   * tracking, Postfix) and the accepted transactions of Sluice protocol logs (a {@code *} line in
   * context {@code transaction}, on the backend that took the message).
   */
  static final String RECEIVED_VIEW = """
      CREATE VIEW received AS
      SELECT ts, server, log_type FROM messages WHERE event = 'RECEIVE'
      UNION ALL
      SELECT ts, server, log_type FROM events
      WHERE log_type = 'sluice' AND event = '*' AND context = 'transaction' AND starts_with(data, 'accepted ')""";

  /** Longest text kept per rejected line. */
  static final int REJECT_TEXT_LIMIT = 300;

  /** The in-memory catalog holding the tables (see the constructor for why not the default one). */
  private static final String CATALOG = "report";

  private final DuckDBConnection connection;

  /** Opens an empty in-memory database with the schema. */
  public ReportDatabase() throws SQLException {
    connection = (DuckDBConnection) DriverManager.getConnection("jdbc:duckdb:");
    try (Statement st = connection.createStatement()) {
      // DuckDB 2.0 compresses in-memory tables by default, which made inserting the string-heavy
      // events table cost more than parsing; an uncompressed in-memory catalog loads 2-3x faster
      // for somewhat more memory.
      st.execute("ATTACH ':memory:' AS " + CATALOG + " (COMPRESS false)");
      st.execute("USE " + CATALOG);
      for (String ddl : List.of(EVENTS_DDL, MESSAGES_DDL, REJECTS_DDL, FILES_DDL, SESSIONS_VIEW, RECEIVED_VIEW)) {
        st.execute(ddl);
      }
    }
  }

  /** The JDBC connection, for callers that need more than {@link #query}. */
  public Connection connection() {
    return connection;
  }

  /** Runs {@code sql} and materialises the result. */
  public ResultTable query(String name, String title, String sql) throws SQLException {
    try (Statement st = connection.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      ResultSetMetaData md = rs.getMetaData();
      List<String> columns = new ArrayList<>();
      for (int i = 1; i <= md.getColumnCount(); i++) {
        columns.add(md.getColumnLabel(i));
      }
      List<List<Object>> rows = new ArrayList<>();
      while (rs.next()) {
        List<Object> row = new ArrayList<>(columns.size());
        for (int i = 1; i <= columns.size(); i++) {
          row.add(plain(rs.getObject(i)));
        }
        rows.add(row);
      }
      return new ResultTable(name, title, columns, rows);
    }
  }

  /** Runs a statement without a result, such as {@code SET}. */
  void execute(String sql) throws SQLException {
    try (Statement st = connection.createStatement()) {
      st.execute(sql);
    }
  }

  /** A single number from a query such as {@code SELECT count(*) ...}. */
  public long count(String sql) throws SQLException {
    try (Statement st = connection.createStatement(); ResultSet rs = st.executeQuery(sql)) {
      rs.next();
      return rs.getLong(1);
    }
  }

  private static Object plain(Object v) {
    if (v == null || v instanceof String || v instanceof Long || v instanceof Double || v instanceof Boolean) {
      return v;
    }
    if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
      return ((Number) v).longValue();
    }
    if (v instanceof java.math.BigInteger b) {
      return b.longValue();
    }
    if (v instanceof java.math.BigDecimal d) {
      return d.scale() == 0 ? (Object) d.longValue() : (Object) d.doubleValue();
    }
    if (v instanceof Float f) {
      return f.doubleValue();
    }
    if (v instanceof Timestamp t) {
      return t.toLocalDateTime().toString();
    }
    if (v instanceof LocalDateTime t) {
      return t.toString();
    }
    return v.toString();
  }

  /**
   * A sink that appends to the tables for one input file, on its own connection so that several
   * files load in parallel. Close it to flush.
   */
  FileSink sink(String sourceFile) throws SQLException {
    return new FileSink(loadingConnection(), sourceFile);
  }

  /** A connection of its own for one loading thread, using the report catalog. Close after use. */
  DuckDBConnection loadingConnection() throws SQLException {
    DuckDBConnection c = connection.duplicate();
    try (Statement st = c.createStatement()) {
      st.execute("USE " + CATALOG);
    }
    return c;
  }

  @Override
  public void close() throws SQLException {
    connection.close();
  }

  /** Appender-backed {@link RowSink} for one file. Not thread-safe. */
  static final class FileSink implements RowSink, AutoCloseable {
    private final DuckDBConnection conn;
    private final String file;
    private final DuckDBAppender events;
    private final DuckDBAppender messages;
    private final DuckDBAppender rejects;
    long eventCount;
    long messageCount;
    long malformedCount;
    long ignoredCount;

    FileSink(DuckDBConnection conn, String file) throws SQLException {
      this.conn = conn;
      this.file = file;
      events = conn.createAppender(DuckDBConnection.DEFAULT_SCHEMA, "events");
      messages = conn.createAppender(DuckDBConnection.DEFAULT_SCHEMA, "messages");
      rejects = conn.createAppender(DuckDBConnection.DEFAULT_SCHEMA, "rejects");
    }

    @Override
    public void event(EventRow r) {
      try {
        events.beginRow().appendEpochMicros(r.tsMicros).append(file).append(r.server).append(r.connector)
            .append(r.sessionId).append(r.seq);
        events.append(r.localIp);
        appendPort(events, r.localPort);
        events.append(r.remoteIp);
        appendPort(events, r.remotePort);
        events.append(r.event).append(r.data).append(r.context).append(r.sourceLine).append(r.logType).endRow();
        eventCount++;
      } catch (SQLException e) {
        throw new IllegalStateException(e);
      }
    }

    private static void appendPort(DuckDBAppender a, int port) throws SQLException {
      if (port < 0) {
        a.appendNull();
      } else {
        a.append(port);
      }
    }

    @Override
    public void message(MessageRow r) {
      try {
        messages.beginRow().appendEpochMicros(r.tsMicros).append(file).append(r.server).append(r.connector)
            .append(r.event).append(r.source).append(r.messageId).append(r.queueId).append(r.sessionId)
            .append(r.clientIp).append(r.clientHost).append(r.originalClientIp).append(r.serverIp)
            .append(r.serverHost).append(r.sender).append(r.recipients);
        if (r.recipientCount < 0) {
          messages.appendNull();
        } else {
          messages.append(r.recipientCount);
        }
        if (r.size < 0) {
          messages.appendNull();
        } else {
          messages.append(r.size);
        }
        messages.append(r.status).append(r.dsn).append(r.relay).append(r.subject).append(r.directionality)
            .append(r.sourceLine).append(r.logType).endRow();
        messageCount++;
      } catch (SQLException e) {
        throw new IllegalStateException(e);
      }
    }

    @Override
    public void malformed(long line, String reason, String text) {
      malformedCount++;
      String kept = text.length() > REJECT_TEXT_LIMIT ? text.substring(0, REJECT_TEXT_LIMIT) + "…" : text;
      try {
        rejects.beginRow().append(file).append(line).append(reason).append(kept).endRow();
      } catch (SQLException e) {
        throw new IllegalStateException(e);
      }
    }

    @Override
    public void ignored(long line) {
      ignoredCount++;
    }

    @Override
    public void close() throws SQLException {
      try (conn; events; messages; rejects) {
        // closing the appenders flushes them; the connection goes last.
      }
    }
  }
}
