package dev.sluice.config;

import java.nio.file.Path;

/** The {@code log:} section: protocol-log directory and level. */
public record LogConfig(Path protocolDir, ProtocolLevel protocolLevel, Location location) {
  public static final LogConfig DEFAULT = new LogConfig(Path.of("logs"), ProtocolLevel.BASIC, Location.NONE);

  /** {@code protocol_level}: how much of each session the protocol log records. */
  public enum ProtocolLevel {
    NONE,
    BASIC,
    VERBOSE
  }
}
