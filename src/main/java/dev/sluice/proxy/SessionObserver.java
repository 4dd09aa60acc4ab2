package dev.sluice.proxy;

import dev.sluice.proxy.smtp.SmtpReply;
import dev.sluice.balance.Backend;
import dev.sluice.balance.DeferralTable;
import dev.sluice.proxy.identity.ClientName;
import java.time.Duration;

/**
 * What happens in client sessions, for the protocol log and the metrics. The proxy calls these on
 * the session's event loop, so implementations must be fast and must never block (hand work to
 * another thread through a bounded queue). Message bodies and AUTH payloads are never passed here.
 */
public interface SessionObserver {

  /** How a transaction (MAIL … end of data) ended, from the client's point of view. */
  enum Outcome {
    /** The backend accepted the message and the client got its 2xx. */
    ACCEPTED,
    /** The client got a 4xx (from a backend, or from Sluice when none could take it). */
    DEFERRED,
    /** The client got a 5xx. */
    REJECTED,
    /** The client or the backend went away before the end. */
    ABORTED
  }

  /** Where in the dialogue a reply was given, for replies-by-stage metrics. */
  enum Stage {
    CONNECT, HELO, MAIL, RCPT, DATA, END_OF_DATA, OTHER
  }

  /** A client connected and was admitted. */
  default void connected(SessionInfo s) {}

  /**
   * Not a session's event: a backend changed state as {@code listener} sees it (its health under
   * the listener's profile, its admin state, a passive ejection and its end), in {@code text}.
   * Called on whichever thread made the change.
   */
  default void backendStateChanged(String listener, Backend b, String text) {}

  /** A client was refused before any backend saw it ({@code reason}: acl, limit, rate, …). */
  default void rejected(SessionInfo s, String reason) {}

  /** The session ended. */
  default void disconnected(SessionInfo s) {}

  /** A command line from the client (smtp mode; AUTH arguments already masked). */
  default void received(SessionInfo s, String line) {}

  /**
   * A reply Sluice sent the client (smtp mode), with the stage it answers. The reply itself, not
   * its text: most observers need only the code, and every reply passes here.
   */
  default void sent(SessionInfo s, Stage stage, SmtpReply reply) {}

  /** Informational event: backend chosen, retry, framing violation… */
  default void info(SessionInfo s, String text) {}

  /**
   * The client's host name was looked up (a {@code resolver:} and XCLIENT, XFORWARD or a Received
   * line). By default an informational event saying what was found.
   */
  default void clientNamed(SessionInfo s, ClientName name) {
    info(s, name.describe());
  }

  /**
   * The client's AUTH was refused without asking a backend: its address has used up {@code
   * limits.auth_failures}. By default an informational event saying so.
   */
  default void authRefused(SessionInfo s) {
    info(s, "AUTH refused: too many failed logins from this address (limits.auth_failures)");
  }

  /**
   * The client's host name was looked up, but the session ended first (the client did not wait):
   * the lookup happened, for those that count lookups, but the session's events are over.
   */
  default void clientNamedAfterEnd(SessionInfo s, ClientName name) {}

  /**
   * The client's session is now protected by TLS: after its STARTTLS, or ({@code implicit}) from
   * the first byte on a port-465-style listener. By default STARTTLS is an informational event.
   */
  default void tlsStarted(SessionInfo s, boolean implicit) {
    if (!implicit) {
      info(s, "STARTTLS");
    }
  }

  /** A backend was chosen for the session (tcp) or transaction (smtp). */
  default void backendChosen(SessionInfo s, Backend b) {}

  /**
   * Backend {@code b} failed for this session or transaction; another will be tried when {@code
   * another}, else none is left (the client gets the failure).
   */
  default void retry(SessionInfo s, Backend b, String reason, boolean another) {}

  /** What a pool's deferral affinity did in a transaction (see {@link #deferralAffinity}). */
  enum Affinity {
    /** A backend deferred the sender: its retries from the client's network go back there. */
    RECORDED,
    /** The transaction goes to the backend that deferred its sender. */
    FOLLOWED,
    /** The backend that deferred the sender cannot take the transaction now: balanced afresh. */
    UNAVAILABLE,
    /**
     * The backend deferred the sender again, the third time in a row: no longer followed, since
     * greylisting would have let the retry through by now.
     */
    RELEASED
  }

  /**
   * Deferral affinity (a pool's {@code deferral_affinity}) for {@code transaction}, as its table
   * knows it ({@code <sender>}, or {@code <> to <first recipient>} for the null sender): {@code b}
   * deferred it {@code ago} before (zero for RECORDED), and {@code what} followed. By default an
   * informational event saying so.
   */
  default void deferralAffinity(SessionInfo s, Backend b, Affinity what, String transaction, Duration ago) {
    String since = ago.toSeconds() < 120 ? ago.toSeconds() + "s" : ago.toMinutes() + "m";
    info(s, "deferral affinity: " + switch (what) {
      case RECORDED -> b.name() + " deferred " + transaction + "; its retries from this network go back there";
      case FOLLOWED -> b.name() + " deferred " + transaction + " " + since + " ago; this transaction goes there";
      case UNAVAILABLE -> b.name() + " deferred " + transaction + " " + since
          + " ago but cannot take this transaction now; balanced afresh";
      case RELEASED -> b.name() + " deferred " + transaction + " again, " + DeferralTable.MAX_DEFERRALS_IN_A_ROW
          + " times in a row; its retries are balanced afresh";
    });
  }

  /** A transaction ended. {@code bytes} is the message size relayed (0 when no body was sent). */
  default void transaction(SessionInfo s, Backend b, Outcome outcome, long bytes) {}

  /**
   * A transaction ended with {@code reply}, the reply that decided it as the client got it (the
   * backend's reply after the end of data, with its queue id, or the refusal). By default {@link
   * #transaction(SessionInfo, Backend, Outcome, long)}: only the protocol log records the reply.
   */
  default void transaction(SessionInfo s, Backend b, Outcome outcome, long bytes, SmtpReply reply) {
    transaction(s, b, outcome, bytes);
  }

  /** Bytes relayed in tcp mode, per direction, reported when the session ends. */
  default void bytes(SessionInfo s, Backend b, long fromClient, long toClient) {}

  /** An observer that does nothing. */
  SessionObserver NONE = new SessionObserver() {};
}
