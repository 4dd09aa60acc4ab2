package dev.sluice.lab;

import java.time.Duration;
import java.util.List;
import java.util.Optional;

/**
 * Where the lab's backends come from: the project's embedded SMTP server (default) or throwaway
 * Postfix instances ({@code sluice lab --backend postfix}). Both give every scenario what it needs
 * through {@link LabBackend}; both listen on 127.0.0.1 only.
 */
public interface LabBackends extends AutoCloseable {

  /** The organisation's own domain: its senders pass back pressure, its recipients need no relay. */
  String LOCAL_DOMAIN = "corp.example";

  /** The {@code --backend} names, in the order help lists them. */
  List<String> NAMES = List.of("embedded", "postfix");

  /**
   * Starts {@code count} servers named {@code server1}…{@code serverN}.
   *
   * @param trustedRelaySource the one client address allowed to relay to domains other than {@link
   *     #LOCAL_DOMAIN} (the seed's relay connector), or null to let every client relay
   * @param greylisting whether every server greylists, each with its own memory: the first {@code RCPT
   *     TO} of a sender and recipient pair gets {@code 450 4.2.0 … Greylisted}, a retry after {@link
   *     #greylistDelay()} passes
   */
  List<LabBackend> start(int count, String trustedRelaySource, boolean greylisting) throws Exception;

  /**
   * How long a greylisted sender must wait before its retry passes: zero for the embedded server,
   * which lets the next attempt through; postgrey's shortest delay for Postfix.
   */
  Duration greylistDelay();

  /** A few words for the table header: {@code embedded}, {@code Postfix}. */
  String description();

  /**
   * Health-probe timeout the lab's Sluice uses against these backends; the probe interval is a
   * little longer. Fast for the in-process server, generous for Postfix, which may fork an smtpd
   * for a probe on a loaded machine.
   */
  Duration probeTimeout();

  /** Frees what the backends share (event loops). Backends still open are closed by their owner. */
  @Override
  void close();

  /** The embedded server on one event loop. */
  static LabBackends embedded() {
    return new EmbeddedBackends();
  }

  /**
   * Real Postfix, one throwaway instance per server.
   *
   * @throws IllegalStateException with {@link #postfixUnavailable()}'s reason when it cannot run
   */
  static LabBackends postfix() {
    postfixUnavailable().ifPresent(reason -> {
      throw new IllegalStateException(reason);
    });
    return new PostfixBackends();
  }

  /** By {@code --backend} name. */
  static LabBackends byName(String name) {
    return switch (name) {
      case "embedded" -> embedded();
      case "postfix" -> postfix();
      default -> throw new IllegalArgumentException("unknown backend '" + name + "'; valid: " + String.join(", ", NAMES));
    };
  }

  /** Why Postfix backends cannot run here (not installed, not root), or empty when they can. */
  static Optional<String> postfixUnavailable() {
    return PostfixInstance.unavailableReason(ExternalCommand.tool("postfix"), System.getProperty("user.name"));
  }
}
