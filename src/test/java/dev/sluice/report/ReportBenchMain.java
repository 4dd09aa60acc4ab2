package dev.sluice.report;

import dev.sluice.cli.ReportCommand;
import picocli.CommandLine;

/**
 * Runs {@code report} as the jar will once {@code Main} registers it; used by {@code
 * bench/report-bench} until then ({@code java -cp target/sluice.jar:target/test-classes ...}).
 */
public final class ReportBenchMain {
  private ReportBenchMain() {}

  public static void main(String[] args) {
    System.exit(new CommandLine(new ReportCommand()).execute(args));
  }
}
