package dev.sluice.report;

import dev.sluice.cli.ReportCommand;
import dev.sluice.lab.PostfixInstance;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine;

/** Shared helpers for the report tests: load into a database, run the command, read a table into a map. */
final class ReportTestSupport {
  private ReportTestSupport() {}

  static ReportDatabase load(LogFormat format, Path... paths) throws Exception {
    ReportDatabase db = new ReportDatabase();
    new LogLoader(db, format, 2).load(LogLoader.expand(List.of(paths)), n -> {});
    return db;
  }

  /**
   * Writes {@code lines} to {@code name} under {@code dir} with a June 2025 modification time (the
   * year of the Postfix test lines, which have none).
   */
  static void maillog(Path dir, String name, String... lines) throws Exception {
    Path log = dir.resolve(name);
    Files.writeString(log, String.join("\n", lines) + "\n");
    Files.setLastModifiedTime(log, FileTime.from(LocalDateTime.of(2025, 6, 30, 0, 0).toInstant(ZoneOffset.UTC)));
  }

  /** A sink that keeps a copy of every message row and fails on a malformed line. */
  static final class MessageRows implements RowSink {
    final List<MessageRow> rows = new ArrayList<>();

    @Override
    public void event(EventRow row) {}

    @Override
    public void message(MessageRow row) {
      rows.add(row.copy());
    }

    @Override
    public void malformed(long line, String reason, String text) {
      throw new AssertionError(line + " " + reason + ": " + text);
    }

    @Override
    public void ignored(long line) {}
  }

  /** {@code SELECT key, count} rows as a sorted map. */
  static Map<String, Long> counts(ReportDatabase db, String sql) throws Exception {
    Map<String, Long> m = new TreeMap<>();
    for (List<Object> r : db.query("q", "", sql).rows()) {
      m.put(String.valueOf(r.get(0)), (Long) r.get(1));
    }
    return m;
  }

  /** The rows of {@code sql}, each as {@code [a, b, …]}. */
  static List<String> rows(ReportDatabase db, String sql) throws Exception {
    return db.query("q", "", sql).rows().stream().map(Object::toString).toList();
  }

  /**
   * A Postfix for the postsuper tests: header checks from {@code header_checks} in its config
   * directory (written before it starts), and mail that is not held waits in the deferred queue (an
   * hour's backoff) until a flush or a requeue, so no file moves between queues while postsuper
   * walks them.
   */
  static PostfixInstance.Builder deferringPostfix(String name) {
    return PostfixInstance.builder(name)
        .mainCf("header_checks", "regexp:$config_directory/header_checks")
        .mainCf("defer_transports", "virtual")
        .mainCf("minimal_backoff_time", "3600s")
        .mainCf("maximal_backoff_time", "3600s");
  }

  /** The queue ids smtpd gave the messages of {@code client} ({@code unknown[client]}), in the maillog's order. */
  static List<String> queueIds(PostfixInstance pf, String client) {
    Pattern p = Pattern.compile("postfix/smtpd\\[\\d+\\]: ([0-9A-F]+): client=unknown\\[" + Pattern.quote(client) + "\\]");
    return pf.maillog().stream().map(p::matcher).filter(Matcher::find).map(m -> m.group(1)).toList();
  }

  record Run(int exit, String out, String err) {}

  static Run run(String... args) {
    StringWriter out = new StringWriter();
    StringWriter err = new StringWriter();
    CommandLine cl = new CommandLine(new ReportCommand());
    cl.setOut(new PrintWriter(out));
    cl.setErr(new PrintWriter(err));
    int exit = cl.execute(args);
    return new Run(exit, out.toString(), err.toString());
  }
}
