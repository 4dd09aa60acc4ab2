package dev.sluice.proxy;

import io.netty.channel.Channel;
import io.netty.util.AttributeKey;

/** Channel attributes the admission stage sets for the session handlers. */
public final class SessionAttributes {
  private SessionAttributes() {}

  /** The admitted session (its remote is the real client, after a trusted PROXY header). */
  public static final AttributeKey<SessionInfo> SESSION = AttributeKey.valueOf("sluice.session");

  public static SessionInfo session(Channel ch) {
    return ch.attr(SESSION).get();
  }
}
