package dev.sluice.proxy.identity;

import java.net.Inet6Address;
import java.net.InetSocketAddress;

/**
 * Who the real client is, as Sluice hands it to a backend: its address and port, the address and
 * port it connected to, its EHLO/HELO name and whether it used ESMTP. Immutable.
 *
 * @param helo the client's EHLO/HELO argument, or null when not known (tcp mode)
 * @param login the authenticated user, or null
 */
public record ClientInfo(InetSocketAddress client, InetSocketAddress local, String helo, boolean esmtp, String login) {

  /**
   * The XCLIENT command (Postfix XCLIENT_README): the client's address, port, name, HELO name and
   * protocol in one line. NAME is {@code [UNAVAILABLE]}: Sluice does no reverse lookups, and a
   * made-up name would mislead the backend's access checks.
   */
  public String xclient() {
    StringBuilder sb = new StringBuilder("XCLIENT ADDR=").append(Xtext.encode(addr()))
        .append(" PORT=").append(client.getPort())
        .append(" NAME=[UNAVAILABLE]")
        .append(" PROTO=").append(esmtp ? "ESMTP" : "SMTP");
    if (helo != null) {
      sb.append(" HELO=").append(Xtext.encode(helo));
    }
    if (login != null) {
      sb.append(" LOGIN=").append(Xtext.encode(login));
    }
    return sb.toString();
  }

  /** The XFORWARD command: the same facts for logging only (Postfix XFORWARD_README). */
  public String xforward() {
    StringBuilder sb = new StringBuilder("XFORWARD ADDR=").append(Xtext.encode(addr()))
        .append(" PORT=").append(client.getPort())
        .append(" NAME=[UNAVAILABLE]")
        .append(" PROTO=").append(esmtp ? "ESMTP" : "SMTP");
    if (helo != null) {
      sb.append(" HELO=").append(Xtext.encode(helo));
    }
    return sb.toString();
  }

  /** ADDR value: IPv6 addresses carry the {@code IPV6:} prefix (RFC 5321 address literal form). */
  private String addr() {
    String host = client.getAddress().getHostAddress();
    int zone = host.indexOf('%');
    if (zone >= 0) {
      host = host.substring(0, zone);
    }
    return client.getAddress() instanceof Inet6Address ? "IPV6:" + host : host;
  }
}
