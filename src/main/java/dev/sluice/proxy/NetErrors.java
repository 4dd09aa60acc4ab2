package dev.sluice.proxy;

import io.netty.channel.ConnectTimeoutException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.UnknownHostException;

/** Short, operator-friendly descriptions of network errors for logs and transcripts. Stateless. */
public final class NetErrors {
  private NetErrors() {}

  public static String describe(Throwable t) {
    if (t instanceof ConnectTimeoutException) {
      return "connect timed out";
    }
    if (t instanceof NoRouteToHostException) {
      return "no route to host";
    }
    if (t instanceof UnknownHostException) {
      return "unknown host " + t.getMessage();
    }
    if (t instanceof ConnectException) {
      // Netty's native transport prefixes "finishConnect(..) failed with error(-111): ".
      String m = String.valueOf(t.getMessage());
      return m.contains("refused") ? "connection refused" : m.replaceFirst("^.*?: ", "");
    }
    String m = t.getMessage();
    return m == null ? t.getClass().getSimpleName() : m;
  }
}
