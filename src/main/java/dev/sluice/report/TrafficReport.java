package dev.sluice.report;

import java.sql.SQLException;
import java.time.LocalDateTime;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The default report over a loaded {@link ReportDatabase}: traffic tables and findings (DESIGN §9).
 *
 * <p>Sessions are inbound sessions ({@code log_type <> 'send'}); messages are the {@code
 * received} view (message logs' {@code RECEIVE} rows, Sluice's accepted transactions). Back
 * pressure is a reply {@code 4xx 4.3.x} in an inbound session from a server; in Postfix logs a
 * {@code REJECT} row with such a status, smtpd's or a Milter's (whose status cleanup logs as
 * {@code 4.3.x …}, without the code). In Sluice logs that is a retry whose reason carries such a
 * reply, at the backend named in its data (Sluice writes it in the backend column too, but
 * earlier builds wrote the session's previous backend there), and at verbose level a reply
 * passed on from the backend holding the transaction; the answer after retries repeats the last
 * refusal or is Sluice's own (e.g. {@code 451 4.3.0} when no server is available), neither
 * counted again. Stateless apart from its inputs; one call at a time per database.
 *
 * @param sections the tables, in print order
 * @param findings what fired; empty when the logs look healthy
 */
public record TrafficReport(List<ResultTable> sections, List<Finding> findings) {
  /**
   * Pattern of a back-pressure reply (RFC 3463 class 4, subject 3: mail system status). Only the
   * last line of a reply matches: protocol logs write a multi-line reply a line each ({@code
   * 452-4.3.1 …} … {@code 452 4.3.1 …}), and it is one reply.
   */
  static final String BACK_PRESSURE = "^4[0-9][0-9] 4\\.3\\.[0-9]+";

  /**
   * A Sluice retry line ({@code *}, context {@code retry}, data {@code BACKEND: REASON}) whose reason
   * carries a back-pressure reply: {@code b: MAIL FROM answered 452 4.3.1 …}, {@code b: session
   * setup: banner 421 4.3.2 …}, tcp mode's {@code b: banner 421 4.3.2 …}. A retry line is one
   * refusal whichever line of the reply its reason quotes, so a continuation line counts here.
   */
  static final String RETRY_BACK_PRESSURE = ": (.*[ :])?4[0-9][0-9][ -]4\\.3\\.[0-9]+";

  /**
   * The status of a Postfix {@code REJECT} row that is back pressure: smtpd's reply ({@code 452
   * 4.3.1 …}) or, for a Milter's refusal at the end of the message, cleanup's status without the
   * SMTP code ({@code 4.3.2 …}).
   */
  static final String POSTFIX_BACK_PRESSURE = "^(4[0-9][0-9] )?4\\.3\\.[0-9]+";

  private static final String INBOUND = "log_type <> 'send'";
  /**
   * Inbound sessions that reached a server. A session no server took (refused by Sluice before a
   * backend was chosen) is still its client's traffic, in the top clients, but no server's.
   */
  private static final String SERVED = INBOUND + " AND server IS NOT NULL";

  public TrafficReport {
    sections = List.copyOf(sections);
    findings = List.copyOf(findings);
  }

  /** Runs every section query and evaluates the findings. */
  public static TrafficReport build(ReportDatabase db, Thresholds t) throws SQLException {
    List<ResultTable> s = new ArrayList<>();
    s.add(db.query("inputs", "Inputs", """
        SELECT source_file AS file, format, lines, events, messages, malformed, ignored, note FROM files ORDER BY file"""));
    ResultTable perServer = db.query("servers", "Traffic per server", """
        WITH se AS (SELECT server, count(*) AS sessions FROM sessions WHERE %s GROUP BY server),
             me AS (SELECT server, count(*) AS messages FROM received GROUP BY server)
        SELECT coalesce(se.server, me.server) AS server, coalesce(sessions, 0) AS sessions,
               round(100.0 * coalesce(sessions, 0) / nullif(sum(coalesce(sessions, 0)) OVER (), 0), 1) AS session_pct,
               coalesce(messages, 0) AS messages
        FROM se FULL OUTER JOIN me ON se.server = me.server ORDER BY server""".formatted(SERVED));
    s.add(perServer);
    s.add(db.query("hourly", "Traffic per server and hour", """
        WITH se AS (SELECT date_trunc('hour', started) AS hour, server, count(*) AS sessions FROM sessions
                    WHERE %s GROUP BY ALL),
             me AS (SELECT date_trunc('hour', ts) AS hour, server, count(*) AS messages FROM received
                    GROUP BY ALL)
        SELECT strftime(coalesce(se.hour, me.hour), '%%Y-%%m-%%d %%H:00') AS hour, coalesce(se.server, me.server) AS server,
               coalesce(sessions, 0) AS sessions, coalesce(messages, 0) AS messages
        FROM se FULL OUTER JOIN me ON se.hour = me.hour AND se.server = me.server ORDER BY 1, 2""".formatted(SERVED)));
    // sessions has a row per session and server: a Sluice session that used three backends is
    // one session of its client, not three.
    // The name: a verified one Sluice logged, else the name a Postfix or Exchange message log gives.
    s.add(db.query("top_clients", "Top client IPs", """
        WITH c AS (SELECT client_ip, count(DISTINCT (log_type, connector, session_id)) AS sessions,
                          count(DISTINCT server) AS servers, max(client_name) AS name
                   FROM sessions WHERE %s AND client_ip IS NOT NULL GROUP BY client_ip),
             m AS (SELECT client_ip, max(client_host) AS name FROM messages
                   WHERE client_ip IS NOT NULL AND client_host IS NOT NULL AND client_host NOT IN ('', 'unknown')
                   GROUP BY client_ip)
        SELECT c.client_ip, sessions, servers, round(100.0 * sessions / sum(sessions) OVER (), 1) AS session_pct,
               coalesce(c.name, m.name) AS client_name
        FROM c LEFT JOIN m ON m.client_ip = c.client_ip ORDER BY sessions DESC, c.client_ip LIMIT 10""".formatted(INBOUND)));
    ResultTable connectors = db.query("connectors", "Hits per connector/listener", """
        SELECT connector, count(*) AS hits, count(DISTINCT session_id) AS sessions
        FROM events WHERE connector IS NOT NULL GROUP BY connector ORDER BY hits DESC, connector""");
    s.add(connectors);
    // Mail is what a balancer spreads: balance over the messages servers accepted when the logs
    // have them (one session of a gateway can feed every server in smtp mode), else sessions.
    boolean byMessages = db.count("SELECT count(*) FROM received") > 0;
    String unit = byMessages ? "messages" : "sessions";
    ResultTable balance = db.query("balance", "Balance index (" + unit + " per server)", """
        WITH c AS (%s)
        SELECT count(*) AS servers, sum(n) AS %s, round(max(n) / avg(n), 3) AS max_over_mean,
               round(coalesce(stddev_pop(n) / nullif(avg(n), 0), 0), 3) AS coefficient_of_variation
        FROM c""".formatted(byMessages
            ? "SELECT server, count(*) AS n FROM received GROUP BY server"
            : "SELECT server, count(*) AS n FROM sessions WHERE " + SERVED + " GROUP BY server", unit));
    s.add(balance);
    ResultTable pressure = db.query("back_pressure", "Back-pressure replies (4.3.x) by server and hour", """
        WITH sluice AS (
          SELECT ts, server, event, context, data,
                 last_value(CASE WHEN context IN ('backend', 'retry') THEN context WHEN event = '<' THEN 'mail' END
                            IGNORE NULLS) OVER (PARTITION BY connector, session_id ORDER BY seq
                                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS after
          FROM events
          WHERE log_type = 'sluice' AND (context IN ('backend', 'retry')
            OR (event = '<' AND starts_with(upper(data), 'MAIL ')) OR (event = '>' AND regexp_matches(data, '%2$s'))))
        SELECT strftime(date_trunc('hour', ts), '%%Y-%%m-%%d %%H:00') AS hour, server, count(*) AS replies
        FROM (
          SELECT ts, server FROM events
          WHERE %1$s AND log_type NOT IN ('sluice', 'postfix') AND event IN ('>', '<') AND regexp_matches(data, '%2$s')
          UNION ALL
          SELECT ts, server FROM messages
          WHERE log_type = 'postfix' AND event = 'REJECT' AND regexp_matches(status, '%4$s')
          UNION ALL
          SELECT ts, regexp_extract(data, '^(.*?): ', 1) FROM sluice
          WHERE context = 'retry' AND regexp_matches(data, '%3$s')
          UNION ALL
          SELECT ts, server FROM sluice WHERE event = '>' AND after = 'backend' AND server IS NOT NULL)
        GROUP BY ALL ORDER BY server, hour""".formatted(INBOUND, BACK_PRESSURE, RETRY_BACK_PRESSURE, POSTFIX_BACK_PRESSURE));
    s.add(pressure);

    List<Finding> f = new ArrayList<>();
    sourceNat(db, t, f);
    idleConnectors(connectors, t, f);
    imbalance(balance, t, f);
    backPressureEpisodes(pressure, f);
    s.add(new ResultTable("findings", "Findings", List.of("code", "subject", "message"),
        f.stream().map(x -> List.<Object>of(x.code(), x.subject(), x.message())).toList()));
    return new TrafficReport(s, f);
  }

  /** Finds the table named {@code name}. */
  public ResultTable section(String name) {
    return sections.stream().filter(r -> r.name().equals(name)).findFirst()
        .orElseThrow(() -> new IllegalArgumentException("no section " + name));
  }

  private static void sourceNat(ReportDatabase db, Thresholds t, List<Finding> out) throws SQLException {
    ResultTable top = db.query("nat", "", """
        WITH c AS (SELECT server, client_ip, count(*) AS n FROM sessions WHERE %s AND client_ip IS NOT NULL GROUP BY ALL),
             r AS (SELECT server, client_ip, n, sum(n) OVER (PARTITION BY server) AS total,
                          row_number() OVER (PARTITION BY server ORDER BY n DESC, client_ip) AS rk FROM c)
        SELECT server, client_ip, n, total FROM r WHERE rk = 1 ORDER BY server""".formatted(SERVED));
    for (List<Object> row : top.rows()) {
      long n = (Long) row.get(2);
      long total = (Long) row.get(3);
      double share = (double) n / total;
      if (total >= t.natMinSessions() && share >= t.natShare()) {
        out.add(new Finding("source-nat", (String) row.get(0), String.format(Locale.ROOT,
            "%s: %s is behind %.1f%% of %d sessions: the balancer in front is source-NATing, so client"
                + " addresses and per-client policy are lost", row.get(0), row.get(1), 100 * share, total)));
      }
    }
  }

  /**
   * Connectors that receive nothing: those named with {@code --connector}, and, for Exchange, a
   * connector that exists on one server but not on another (the server's own name in a connector
   * name, as in {@code Default EX1}, is generalised first).
   */
  private static void idleConnectors(ResultTable connectors, Thresholds t, List<Finding> out) {
    Map<String, Long> sessionsByConnector = new LinkedHashMap<>();
    for (List<Object> row : connectors.rows()) {
      sessionsByConnector.put((String) row.get(0), (Long) row.get(2));
    }
    Set<String> expected = new LinkedHashSet<>(t.expectedConnectors());
    Set<String> servers = new LinkedHashSet<>();
    Set<String> generic = new LinkedHashSet<>();
    for (String c : sessionsByConnector.keySet()) {
      int slash = c.indexOf('\\');
      if (slash > 0) {
        String server = c.substring(0, slash);
        servers.add(server);
        generic.add(c.substring(slash + 1).replace(server, "{server}"));
      }
    }
    for (String server : servers) {
      for (String g : generic) {
        expected.add(server + "\\" + g.replace("{server}", server));
      }
    }
    for (String c : expected) {
      if (sessionsByConnector.getOrDefault(c, 0L) == 0) {
        out.add(new Finding("idle-connector", c, c + " received no sessions: traffic meant for it arrives"
            + " elsewhere (check the balancer's source address against the connectors' remote IP ranges)"));
      }
    }
  }

  private static void imbalance(ResultTable balance, Thresholds t, List<Finding> out) {
    List<Object> row = balance.rows().get(0);
    long servers = (Long) row.get(0);
    Object ratio = row.get(2);
    if (servers >= 2 && ratio instanceof Double r && r >= t.imbalance()) {
      out.add(new Finding("imbalance", "servers", String.format(Locale.ROOT,
          "busiest server takes %.2f× the mean share of %s across %d servers (threshold %.2f; CV %s)",
          r, balance.columns().get(1), servers, t.imbalance(), row.get(3))));
    }
  }

  /** An episode is a run of consecutive hours in which a server sent back-pressure replies. */
  private static void backPressureEpisodes(ResultTable pressure, List<Finding> out) {
    String server = null;
    LocalDateTime start = null;
    LocalDateTime last = null;
    long replies = 0;
    for (List<Object> row : pressure.rows()) {
      LocalDateTime hour = LocalDateTime.parse(((String) row.get(0)).replace(' ', 'T'));
      String s = String.valueOf(row.get(1));
      if (s.equals(server) && hour.equals(last.plusHours(1))) {
        last = hour;
        replies += (Long) row.get(2);
        continue;
      }
      if (server != null) {
        out.add(episode(server, start, last, replies));
      }
      server = s;
      start = hour;
      last = hour;
      replies = (Long) row.get(2);
    }
    if (server != null) {
      out.add(episode(server, start, last, replies));
    }
  }

  private static Finding episode(String server, LocalDateTime start, LocalDateTime last, long replies) {
    return new Finding("back-pressure", server, String.format(Locale.ROOT,
        "%s answered %d times with 4.3.x back pressure from %s to %s", server, replies,
        start.toString().replace('T', ' '), last.plusHours(1).toString().replace('T', ' ')));
  }
}
