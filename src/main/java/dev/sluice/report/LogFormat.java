package dev.sluice.report;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The log formats {@code sluice report} reads, and per-file detection for {@code --format auto}.
 *
 * <p>Detection looks only at the first lines of a file: the Exchange-style header block
 * ({@code #Software}, {@code #Log-type}, {@code #Fields}) decides between the three headered
 * formats; a syslog line from a {@code postfix/...} program decides Postfix. Immutable and
 * thread-safe.
 */
public enum LogFormat {
  /** Sluice protocol log (DESIGN §8): Exchange-style header, {@code listener} and {@code backend} columns. */
  SLUICE("sluice"),
  /** Exchange SMTP Receive or Send protocol log (2010/2013/2016/2019 layouts). */
  EXCHANGE_PROTOCOL("exchange-protocol"),
  /** Exchange message tracking log ({@code MSGTRK*}). */
  EXCHANGE_TRACKING("exchange-tracking"),
  /** Postfix maillog (syslog lines from {@code postfix/smtpd}, {@code qmgr}, delivery agents). */
  POSTFIX("postfix"),
  /** Detect per file. */
  AUTO("auto");

  /** How many leading lines detection may read. */
  static final int DETECT_LINES = 32;

  private static final Pattern POSTFIX_LINE =
      Pattern.compile("^(\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d|\\d{4}-\\d\\d-\\d\\dT\\S+) \\S+ postfix[^/\\s]*/\\S+\\[\\d+\\]: .*");

  private final String cliName;

  LogFormat(String cliName) {
    this.cliName = cliName;
  }

  /** The name used on the command line and in output. */
  public String cliName() {
    return cliName;
  }

  /** Parses a command-line name such as {@code exchange-protocol}. */
  public static LogFormat fromCliName(String name) {
    String n = name.toLowerCase(Locale.ROOT);
    return Arrays.stream(values())
        .filter(f -> f.cliName.equals(n))
        .findFirst()
        .orElseThrow(() -> new IllegalArgumentException("unknown format '" + name + "' (expected one of "
            + String.join(", ", Arrays.stream(values()).map(LogFormat::cliName).toList()) + ")"));
  }

  @Override
  public String toString() {
    return cliName;
  }

  /**
   * Detects the format from a file's first lines (BOM already stripped); empty when none matches.
   */
  public static Optional<LogFormat> detect(List<String> firstLines) {
    String software = "";
    String logType = "";
    String fields = "";
    for (String line : firstLines) {
      if (line.startsWith("#Software:")) {
        software = line;
      } else if (line.startsWith("#Log-type:")) {
        logType = line;
      } else if (line.startsWith("#Fields:")) {
        fields = line;
        break;
      } else if (!line.startsWith("#") && POSTFIX_LINE.matcher(line).matches()) {
        return Optional.of(POSTFIX);
      }
    }
    if (software.contains("Sluice") || fields.contains(",backend,")) {
      return Optional.of(SLUICE);
    }
    if (logType.contains("Message Tracking") || fields.contains("event-id")) {
      return Optional.of(EXCHANGE_TRACKING);
    }
    if (logType.contains("Protocol Log") || fields.contains("connector-id,session-id")) {
      return Optional.of(EXCHANGE_PROTOCOL);
    }
    return Optional.empty();
  }
}
