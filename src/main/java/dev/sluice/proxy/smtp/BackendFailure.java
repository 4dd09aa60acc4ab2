package dev.sluice.proxy.smtp;

/**
 * A backend could not carry a command: it was unreachable, closed the connection, timed out, or
 * answered a setup step (banner, EHLO) negatively. {@code reply} is the backend's reply when it gave
 * one, else null. {@link #refusesClient()} marks a permanent refusal of the client itself (its EHLO
 * name, sent as the client's own): a verdict on the client, not on the backend.
 */
public final class BackendFailure extends Exception {
  private static final long serialVersionUID = 1L;
  private final transient SmtpReply reply;
  private final boolean refusesClient;

  public BackendFailure(String message, SmtpReply reply) {
    this(message, reply, false);
  }

  public BackendFailure(String message, SmtpReply reply, boolean refusesClient) {
    super(message, null, false, false);
    this.reply = reply;
    this.refusesClient = refusesClient;
  }

  public SmtpReply reply() {
    return reply;
  }

  /** Whether the backend refused the client permanently (5xx to the client's own EHLO name). */
  public boolean refusesClient() {
    return refusesClient;
  }
}
