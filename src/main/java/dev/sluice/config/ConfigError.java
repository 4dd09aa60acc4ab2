package dev.sluice.config;

/**
 * One user error in a configuration file: where it is, what is wrong, and a hint saying what would
 * be valid. Printed as {@code file:line:col: message (hint)}.
 */
public record ConfigError(Location location, String message, String hint) {
  @Override
  public String toString() {
    return location + ": " + message + (hint == null || hint.isEmpty() ? "" : "\n    hint: " + hint);
  }
}
