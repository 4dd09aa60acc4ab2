package dev.sluice.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.sluice.report.Finding;
import dev.sluice.report.LogFormat;
import dev.sluice.report.LogLoader;
import dev.sluice.report.ReportDatabase;
import dev.sluice.report.ResultTable;
import dev.sluice.report.TableWriter;
import dev.sluice.report.Thresholds;
import dev.sluice.report.TrafficChart;
import dev.sluice.report.TrafficReport;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code sluice report PATH...}: loads Sluice, Exchange and Postfix logs into an embedded DuckDB and
 * prints the traffic report with findings (exit 1 when one fires, 0 when clean, 2 on bad usage), or
 * runs {@code --sql} over the loaded tables (DESIGN §9, docs/report.md).
 *
 * <p>Writes through picocli's out/err writers so tests can capture them. One instance per
 * invocation; not thread-safe.
 */
@Command(
    name = "report",
    mixinStandardHelpOptions = true,
    description = "Log analytics over Sluice, Exchange and Postfix logs: traffic per server, top clients, "
        + "connectors, balance and findings; exit 1 when a finding fires.")
public final class ReportCommand implements Callable<Integer> {
  /** Exit status when a finding fired. */
  public static final int EXIT_FINDINGS = 1;
  /** Exit status for bad usage: unreadable paths, a bad query, a bad chart name. */
  public static final int EXIT_USAGE = 2;
  /** Inputs at least this large get a progress bar on a terminal. */
  private static final long PROGRESS_BYTES = 64L << 20;
  private static final int MALFORMED_SAMPLES = 10;

  @Spec private CommandSpec spec;

  @Parameters(arity = "1..*", paramLabel = "PATH", description = "log files or directories (walked; .gz read)")
  private List<Path> paths;

  @Option(names = "--format", paramLabel = "F", converter = FormatConverter.class, defaultValue = "auto",
      description = "sluice, exchange-protocol, exchange-tracking, postfix or auto (per file; default)")
  private LogFormat format;

  @Option(names = "--chart", paramLabel = "FILE", description = "write per-server traffic over time (.png, .svg, .html)")
  private Path chart;

  @Option(names = "--sql", paramLabel = "Q", description = "run a query over the tables instead of the report")
  private String sql;

  @ArgGroup(exclusive = true)
  private Style style;

  static final class Style {
    @Option(names = "--json", description = "JSON output") boolean json;
    @Option(names = "--csv", description = "CSV output") boolean csv;
  }

  @Option(names = "--imbalance-threshold", paramLabel = "N", defaultValue = "1.5",
      description = "max/mean session share at which 'imbalance' fires (default ${DEFAULT-VALUE})")
  private double imbalanceThreshold;

  @Option(names = "--nat-threshold", paramLabel = "SHARE", defaultValue = "0.9",
      description = "share of a server's sessions from one address at which 'source-nat' fires (default ${DEFAULT-VALUE})")
  private double natThreshold;

  @Option(names = "--nat-min-sessions", paramLabel = "N", defaultValue = "20",
      description = "fewest sessions a server needs before 'source-nat' is judged (default ${DEFAULT-VALUE})")
  private long natMinSessions;

  @Option(names = "--connector", paramLabel = "NAME",
      description = "a connector (SERVER\\Name) or listener that should receive traffic; repeatable")
  private List<String> connectors = new ArrayList<>();

  @Option(names = "--threads", paramLabel = "N", description = "files parsed in parallel (default: CPU count)")
  private int threads = Runtime.getRuntime().availableProcessors();

  /** picocli converter from {@code --format} names. */
  static final class FormatConverter implements picocli.CommandLine.ITypeConverter<LogFormat> {
    @Override
    public LogFormat convert(String value) {
      try {
        return LogFormat.fromCliName(value);
      } catch (IllegalArgumentException e) {
        throw new picocli.CommandLine.TypeConversionException(e.getMessage());
      }
    }
  }

  @Override
  public Integer call() throws Exception {
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    if (chart != null && !chart.getFileName().toString().toLowerCase(java.util.Locale.ROOT).matches(".*\\.(png|svg|html?)$")) {
      err.println("report: --chart FILE must end in .png, .svg or .html: " + chart);
      return EXIT_USAGE;
    }
    if (natThreshold <= 0 || natThreshold > 1 || imbalanceThreshold < 1) {
      err.println("report: --nat-threshold must be in (0, 1] and --imbalance-threshold at least 1");
      return EXIT_USAGE;
    }
    List<Path> files;
    try {
      files = LogLoader.expand(paths);
    } catch (IOException e) {
      err.println("report: cannot read " + e.getMessage());
      return EXIT_USAGE;
    }
    TableWriter.Style st = style == null ? TableWriter.Style.TEXT
        : style.json ? TableWriter.Style.JSON : TableWriter.Style.CSV;
    try (ReportDatabase db = new ReportDatabase()) {
      long total = 0;
      for (Path f : files) {
        total += Files.size(f);
      }
      List<LogLoader.FileResult> loaded = load(db, files, total, err);
      ResultTable malformed = db.query("malformed", "Malformed lines (" + db.count("SELECT count(*) FROM rejects")
          + " in all; first " + MALFORMED_SAMPLES + ")", """
          SELECT source_file || ':' || line AS location, reason, text FROM rejects
          ORDER BY source_file, line LIMIT %d""".formatted(MALFORMED_SAMPLES));
      if (chart != null) {
        TrafficChart.from(db).write(chart);
      }
      if (sql != null) {
        return runQuery(db, st, malformed, loaded, out, err);
      }
      TrafficReport report = TrafficReport.build(db, new Thresholds(natThreshold, natMinSessions, imbalanceThreshold,
          connectors));
      List<ResultTable> tables = new ArrayList<>(report.sections());
      tables.add(1, malformed);
      ObjectNode extra = st == TableWriter.Style.JSON ? TableWriter.object() : null;
      if (extra != null) {
        extra.put("exit", report.findings().isEmpty() ? 0 : EXIT_FINDINGS);
      }
      TableWriter.write(tables, st, extra, out);
      if (chart != null && st == TableWriter.Style.TEXT) {
        out.println();
        out.println("chart: " + chart);
      }
      out.flush();
      for (Finding f : report.findings()) {
        err.println("finding " + f.code() + ": " + f.message());
      }
      err.flush();
      return report.findings().isEmpty() ? 0 : EXIT_FINDINGS;
    }
  }

  private List<LogLoader.FileResult> load(ReportDatabase db, List<Path> files, long total, PrintWriter err)
      throws SQLException, InterruptedException {
    var bar = new dev.sluice.report.ProgressBar(err, total, System.console() != null && total >= PROGRESS_BYTES);
    try {
      return new LogLoader(db, format, threads).load(files, bar::update);
    } finally {
      bar.done();
    }
  }

  private Integer runQuery(ReportDatabase db, TableWriter.Style st, ResultTable malformed,
      List<LogLoader.FileResult> loaded, PrintWriter out, PrintWriter err) {
    ResultTable result;
    try {
      result = db.query("result", "", sql);
    } catch (SQLException e) {
      err.println("report: query failed: " + e.getMessage());
      err.flush();
      return EXIT_USAGE;
    }
    TableWriter.write(List.of(result), st, null, out);
    // Data problems go to stderr so the query output stays machine-readable.
    for (LogLoader.FileResult f : loaded) {
      if (f.error() != null) {
        err.println("report: " + f.file() + ": " + f.error());
      }
    }
    if (!malformed.rows().isEmpty()) {
      TableWriter.text(malformed, err);
    }
    err.flush();
    return 0;
  }
}
