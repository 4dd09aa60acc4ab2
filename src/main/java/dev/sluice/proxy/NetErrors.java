package dev.sluice.proxy;

import io.netty.channel.ConnectTimeoutException;
import io.netty.handler.codec.DecoderException;
import java.io.IOException;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.UnknownHostException;
import org.slf4j.Logger;

/**
 * Short, operator-friendly descriptions of network errors for logs and transcripts, and the line
 * between a peer's or the network's error and a fault in Sluice. Stateless.
 */
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
    // Netty's native transports name the system call: "bind(..) failed with error(-98): Address already in use".
    return m == null ? t.getClass().getSimpleName() : m.replaceFirst("^\\w+\\(\\.\\.\\) failed( with error\\(-?\\d+\\))?: ", "");
  }

  /**
   * Whether {@code t} is how a peer or the network ends or breaks a connection: an I/O error (a
   * reset, a broken pipe, a TLS alert) or bytes a decoder refused (a bad PROXY header, a non-TLS
   * record). Anything else, e.g. a NullPointerException thrown while handling a read, is a fault in
   * Sluice: the session still closes, but it must not pass unnoticed.
   */
  public static boolean fromPeerOrNetwork(Throwable t) {
    for (Throwable c = t; c != null; c = c.getCause() == c ? null : c.getCause()) {
      if (c instanceof IOException) {
        return true;
      }
      // Netty wraps whatever a decoder throws in a DecoderException: without a cause it is the
      // decoder's own refusal of the input; with one, the cause decides.
      if (c instanceof DecoderException && c.getCause() == null) {
        return true;
      }
    }
    return false;
  }

  /**
   * Logs the error a connection is closed for: at debug when it came from the peer or the network
   * (those are routine), otherwise as a warning with the stack trace.
   */
  public static void logClosing(Logger log, String connection, Throwable cause) {
    if (fromPeerOrNetwork(cause)) {
      log.debug("{} closed: {}", connection, cause.toString());
    } else {
      log.warn("{} closed by an unexpected error (a fault in Sluice; please report it)", connection, cause);
    }
  }
}
