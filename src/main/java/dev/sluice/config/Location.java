package dev.sluice.config;

/**
 * Where something stands in a configuration file: 1-based line and column.
 *
 * <p>Immutable; safe to share between threads.
 */
public record Location(String file, int line, int column) {

  /** A location for objects that were not read from a file (built-in defaults, tests). */
  public static final Location NONE = new Location("<built-in>", 0, 0);

  /**
   * {@code file:line:col}, the form editors and compilers use; just {@code file} for a location
   * with no line (about the whole file, e.g. one that cannot be read).
   */
  @Override
  public String toString() {
    return line == 0 ? file : file + ":" + line + ":" + column;
  }
}
