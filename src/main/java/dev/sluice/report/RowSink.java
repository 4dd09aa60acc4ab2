package dev.sluice.report;

/**
 * Where a parser delivers what it read from one file. One sink per file and thread; implementations
 * need not be thread-safe. Every line a parser reads ends in exactly one of: a row, {@link
 * #malformed}, or {@link #ignored} (a well-formed line that carries nothing for the tables, such as
 * a Postfix {@code removed} line), so nothing is dropped silently (a line may yield both, as a Postfix {@code client=} line does).
 */
interface RowSink {
  void event(EventRow row);

  void message(MessageRow row);

  /** A line that could not be parsed; {@code line} is 1-based. */
  void malformed(long line, String reason, String text);

  /** A well-formed line with nothing to load (header lines, uninteresting syslog lines). */
  void ignored(long line);
}
