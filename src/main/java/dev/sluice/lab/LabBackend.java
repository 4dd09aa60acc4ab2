package dev.sluice.lab;

import java.net.InetSocketAddress;

/**
 * One SMTP server behind the lab's Sluice, as a scenario needs it: an address to balance to, a count
 * of the messages it accepted, and back pressure on demand ({@code 452 4.3.1} at {@code MAIL FROM}
 * to senders outside {@link LabBackends#LOCAL_DOMAIN}, also on sessions already open). Which client
 * addresses may relay to foreign domains, and whether the server greylists, is fixed when the
 * backends are started ({@link LabBackends#start}).
 *
 * <p>Implemented by the embedded server ({@link LabBackends#embedded()}) and by real Postfix
 * ({@link LabBackends#postfix()}). A scenario starts its backends once and runs all its
 * configurations against them; {@link #reset()} begins each run.
 */
public interface LabBackend extends AutoCloseable {

  /** {@code server1}, {@code server2}, …: the backend's name in the pool and in every table. */
  String name();

  /** Where it listens (a 127.x address). */
  InetSocketAddress address();

  /**
   * Starts a new run: back pressure off, greylisting (when on) remembering no sender, {@link
   * #messages()} counting from zero.
   */
  void reset();

  /** Switches back pressure on or off; in effect when this returns. */
  void setBackPressure(boolean on);

  /**
   * Waits until every message this server answered {@code 250} for is counted by {@link
   * #messages()} (a real MTA queues before it delivers).
   */
  void settle();

  /** Messages accepted (a 2xx after the data) since the last {@link #reset()}. */
  long messages();

  /** Stops the server and frees what it holds. Idempotent. */
  @Override
  void close();
}
