package dev.sluice.proxy;

import dev.sluice.proxy.smtp.SmtpReply;
import io.netty.channel.Channel;
import io.netty.util.AttributeKey;

/** Channel attributes the admission stage sets for the session handlers. */
public final class SessionAttributes {
  private SessionAttributes() {}

  /** The admitted session (its remote is the real client, after a trusted PROXY header). */
  public static final AttributeKey<SessionInfo> SESSION = AttributeKey.valueOf("sluice.session");

  /**
   * The greeting Sluice already sent, when it greeted a client before its trusted proxy's PROXY
   * header arrived ({@link ProxyHeaderReceiver}); unset otherwise. The smtp session does not greet
   * again.
   */
  public static final AttributeKey<SmtpReply> GREETED_EARLY = AttributeKey.valueOf("sluice.greetedEarly");

  public static SessionInfo session(Channel ch) {
    return ch.attr(SESSION).get();
  }
}
