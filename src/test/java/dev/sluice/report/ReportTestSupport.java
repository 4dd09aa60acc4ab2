package dev.sluice.report;

import dev.sluice.cli.ReportCommand;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import picocli.CommandLine;

/** Shared helpers for the report tests: load into a database, run the command, read a table into a map. */
final class ReportTestSupport {
  private ReportTestSupport() {}

  static ReportDatabase load(LogFormat format, Path... paths) throws Exception {
    ReportDatabase db = new ReportDatabase();
    new LogLoader(db, format, 2).load(LogLoader.expand(List.of(paths)), n -> {});
    return db;
  }

  /** {@code SELECT key, count} rows as a sorted map. */
  static Map<String, Long> counts(ReportDatabase db, String sql) throws Exception {
    Map<String, Long> m = new TreeMap<>();
    for (List<Object> r : db.query("q", "", sql).rows()) {
      m.put(String.valueOf(r.get(0)), (Long) r.get(1));
    }
    return m;
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
