package dev.sluice.proxy.smtp;

/**
 * A backend could not carry a command: it was unreachable, closed the connection, timed out, or
 * answered a setup step (banner, EHLO) negatively. {@code reply} is the backend's reply when it gave
 * one, else null.
 */
public final class BackendFailure extends Exception {
  private static final long serialVersionUID = 1L;
  private final transient SmtpReply reply;

  public BackendFailure(String message, SmtpReply reply) {
    super(message, null, false, false);
    this.reply = reply;
  }

  public SmtpReply reply() {
    return reply;
  }
}
