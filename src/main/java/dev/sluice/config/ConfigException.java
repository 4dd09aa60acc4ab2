package dev.sluice.config;

import java.util.List;

/**
 * Thrown by {@link ConfigLoader} when a file has one or more user errors. Carries all of them, so
 * {@code sluice check} reports every error in one run. Never wraps a stack trace for the user.
 */
public final class ConfigException extends Exception {
  private static final long serialVersionUID = 1L;
  private final transient List<ConfigError> errors;

  public ConfigException(List<ConfigError> errors) {
    super(errors.size() + " error(s) in configuration", null, false, false);
    this.errors = List.copyOf(errors);
  }

  public List<ConfigError> errors() {
    return errors;
  }

  /** All errors, one per line (with hints), ready to print. */
  public String describe() {
    StringBuilder sb = new StringBuilder();
    for (ConfigError e : errors) {
      sb.append(e).append('\n');
    }
    return sb.toString();
  }
}
