package dev.sluice.config;

import java.io.IOException;
import java.nio.charset.MalformedInputException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;

/**
 * Reads {@code sluice.yaml} into a validated {@link SluiceConfig}: YAML is read into a located tree
 * ({@link YamlTreeReader}), then bound and checked ({@link ConfigBinder}). Every problem, from an
 * unreadable file through YAML syntax to a dangling pool reference, ends up as a {@link
 * ConfigError} with file, line and column in one {@link ConfigException}; callers never see any
 * other exception for bad input.
 *
 * <p>Relative paths in the file (token_file, protocol_dir, tls cert and key) are resolved against
 * the directory of the configuration file. Stateless; safe to call from any thread.
 */
public final class ConfigLoader {
  private ConfigLoader() {}

  /** Reads and validates the configuration file at {@code file} (UTF-8). */
  public static SluiceConfig load(Path file) throws ConfigException {
    String text;
    try {
      text = Files.readString(file);
    } catch (IOException e) {
      throw new ConfigException(List.of(readError(file, e)));
    }
    return parse(text, file);
  }

  /**
   * Validates configuration text; {@code fileName} names it in error locations and is the base for
   * relative paths.
   */
  public static SluiceConfig parse(String yamlText, String fileName) throws ConfigException {
    return parse(yamlText, Path.of(fileName));
  }

  private static SluiceConfig parse(String yamlText, Path file) throws ConfigException {
    // Editors on Windows may save a byte-order mark; it is not content.
    String text = yamlText.startsWith("\uFEFF") ? yamlText.substring(1) : yamlText;
    YamlTreeReader.Result tree = YamlTreeReader.read(text, file.toString());
    return ConfigBinder.bind(file, tree.root(), tree.errors());
  }

  private static ConfigError readError(Path file, IOException e) {
    Location at = new Location(file.toString(), 0, 0);
    if (e instanceof NoSuchFileException) {
      return new ConfigError(at, "cannot read the configuration: no such file", "check the path given with -c/--config");
    }
    if (e instanceof AccessDeniedException) {
      return new ConfigError(at, "cannot read the configuration: permission denied",
          "make the file readable by the user running sluice");
    }
    if (e instanceof MalformedInputException) {
      return new ConfigError(at, "the configuration is not valid UTF-8 text", "save the file as UTF-8");
    }
    return new ConfigError(at, "cannot read the configuration: " + e.getMessage(),
        "check that the path names a readable file, not a directory");
  }
}
