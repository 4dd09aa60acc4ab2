package dev.sluice.proxy.smtp;

import dev.sluice.proxy.identity.ClientInfo;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Locale;

/**
 * The {@code Received:} trace field Sluice puts on top of a message when a listener has {@code
 * received_header: true} (RFC 5321 §4.4, RFC 5322 §3.6.7), in the layout Postfix writes, so that
 * header analysers and spam filters read it as they read any MTA's:
 *
 * <pre>
 * Received: from HELO (NAME [IP])
 * 	by HOSTNAME (Sluice) with PROTOCOL id ID;
 * 	DATE
 * </pre>
 *
 * NAME is the client's verified host name, or {@code unknown} when DNS gave none (or no {@code
 * resolver:} asked); IP is the real client's address (after a trusted PROXY header, the address it
 * carried), as an RFC 5321 address literal. PROTOCOL is the RFC 3848/RFC 6531 "with" keyword
 * ({@code ESMTPS} after STARTTLS, {@code ESMTPA} after AUTH, {@code UTF8SMTP…} for an SMTPUTF8
 * transaction). ID names the message in Sluice's protocol log: the session id, a dot, and the
 * message's number within the session. No {@code for} clause: it would show one recipient of a
 * message to all the others (RFC 5321 §7.2).
 *
 * <p>The client's EHLO name is the only text here a client chooses: everything outside printable
 * ASCII becomes {@code ?} and it is cut at 255 characters, so it can neither break the header
 * nor push a line past RFC 5322's 998 characters. Pure and stateless.
 */
public final class ReceivedHeader {
  /** RFC 5322 §3.3 date-time with a numeric zone, English names whatever the JVM's locale. */
  private static final DateTimeFormatter DATE = DateTimeFormatter.ofPattern("EEE, d MMM yyyy HH:mm:ss xx", Locale.ROOT);
  /** Longest EHLO name written (a DNS name is at most 255 octets, RFC 1035 §2.3.4). */
  static final int MAX_HELO = 255;

  private ReceivedHeader() {}

  /**
   * The field with its folding and final CRLF, as bytes to send before the message's first line.
   *
   * @param client the real client (its EHLO name, whether it used EHLO, its address and host name)
   * @param hostname this listener's {@code hostname}
   * @param tls the session is under TLS
   * @param authenticated the client authenticated
   * @param smtputf8 the transaction's MAIL FROM carried SMTPUTF8
   * @param id the message's id in Sluice's protocol log
   * @param at when the message was received
   */
  public static byte[] of(ClientInfo client, String hostname, boolean tls, boolean authenticated, boolean smtputf8,
      String id, ZonedDateTime at) {
    String name = client.name().isVerified() ? client.name().name() : "unknown";
    String helo = client.helo() == null ? addressLiteral(client.client().getAddress()) : printable(client.helo());
    String text = "Received: from " + helo + " (" + name + " " + addressLiteral(client.client().getAddress()) + ")\r\n"
        + "\tby " + hostname + " (Sluice) with " + protocol(client.esmtp(), tls, authenticated, smtputf8)
        + " id " + id + ";\r\n"
        + "\t" + DATE.format(at) + "\r\n";
    return text.getBytes(StandardCharsets.US_ASCII);
  }

  /** The "with" keyword: RFC 3848 (ESMTP, ESMTPS, ESMTPA, ESMTPSA) and RFC 6531 §3.7.3 (UTF8SMTP…). */
  static String protocol(boolean esmtp, boolean tls, boolean authenticated, boolean smtputf8) {
    if (!esmtp) {
      return "SMTP"; // HELO: neither STARTTLS nor AUTH nor SMTPUTF8 exist without EHLO
    }
    return (smtputf8 ? "UTF8SMTP" : "ESMTP") + (tls ? "S" : "") + (authenticated ? "A" : "");
  }

  /** RFC 5321 §4.1.3 address literal: {@code [192.0.2.1]} or {@code [IPv6:2001:db8::1]}, without a zone. */
  static String addressLiteral(InetAddress a) {
    String host = ClientInfo.hostAddress(a);
    return a instanceof Inet6Address ? "[IPv6:" + host + "]" : "[" + host + "]";
  }

  /** The client's EHLO argument made safe for a header: printable ASCII only, at most {@link #MAX_HELO}. */
  static String printable(String helo) {
    int n = Math.min(helo.length(), MAX_HELO);
    StringBuilder sb = new StringBuilder(n);
    for (int i = 0; i < n; i++) {
      char c = helo.charAt(i);
      sb.append(c > ' ' && c < 0x7f ? c : '?');
    }
    return sb.toString();
  }
}
