package dev.sluice.proxy.identity;

import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.Collection;

/**
 * Who the real client is, as Sluice hands it to a backend: its address and port, the address and
 * port it connected to, its EHLO/HELO name and whether it used ESMTP. Immutable.
 *
 * @param helo the client's EHLO/HELO argument, or null when not known (tcp mode)
 * @param login the authenticated user, or null
 * @param name the client's host name from DNS ({@link ClientName#NOT_LOOKED_UP} when null)
 */
public record ClientInfo(
    InetSocketAddress client, InetSocketAddress local, String helo, boolean esmtp, String login, ClientName name) {

  public ClientInfo {
    if (name == null) {
      name = ClientName.NOT_LOOKED_UP;
    }
  }

  /** A client whose host name was not looked up: backends are told it is unavailable. */
  public ClientInfo(InetSocketAddress client, InetSocketAddress local, String helo, boolean esmtp, String login) {
    this(client, local, helo, esmtp, login, null);
  }

  /**
   * Longest attribute value Postfix takes in XCLIENT or XFORWARD (its {@code 501 5.5.4 attribute
   * value too long}); a longer HELO name is sent as {@code [UNAVAILABLE]} rather than failing every
   * message of a client Postfix itself would have served.
   */
  static final int MAX_VALUE = 255;

  /**
   * The XCLIENT command (Postfix XCLIENT_README): the client's address, and of its port, name,
   * reverse name, HELO name, protocol and login those the server announced in its EHLO reply
   * ({@code offered}; a server answers {@code 501} to an attribute it does not know). ADDR is always
   * sent: it is the point. NAME is the verified name and REVERSE_NAME the PTR name, each
   * {@code [UNAVAILABLE]} or {@code [TEMPUNAVAIL]} when DNS has none (never made up: it would
   * mislead the backend's access checks). REVERSE_NAME is sent on its own because a server given
   * only NAME takes it for the reverse name too, so a client whose PTR name fails the forward check
   * would also fail {@code reject_unknown_reverse_client_hostname}, which it passes directly.
   */
  public String xclient(Collection<String> offered) {
    StringBuilder sb = new StringBuilder("XCLIENT");
    attributes(sb, offered, true);
    if (login != null && offered.contains("LOGIN")) {
      sb.append(" LOGIN=").append(Xtext.encode(login));
    }
    return sb.toString();
  }

  /**
   * The XFORWARD command: the same facts for logging only (Postfix XFORWARD_README), whose only
   * status value is {@code [UNAVAILABLE]}: a name DNS could not give for now is sent as that.
   */
  public String xforward(Collection<String> offered) {
    StringBuilder sb = new StringBuilder("XFORWARD");
    attributes(sb, offered, false);
    return sb.toString();
  }

  private void attributes(StringBuilder sb, Collection<String> offered, boolean xclient) {
    sb.append(" ADDR=").append(Xtext.encode(addr()));
    if (offered.contains("PORT")) {
      sb.append(" PORT=").append(client.getPort());
    }
    if (offered.contains("NAME")) {
      // XFORWARD has one status value: Postfix answers [TEMPUNAVAIL] with "501 Bad NAME syntax".
      String n = !xclient && name.name().equals(ClientName.TEMPUNAVAIL_VALUE) ? ClientName.UNAVAILABLE_VALUE : name.name();
      sb.append(" NAME=").append(nameValue(n));
    }
    if (xclient && offered.contains("REVERSE_NAME")) {
      sb.append(" REVERSE_NAME=").append(nameValue(name.reverseName()));
    }
    if (offered.contains("PROTO")) {
      sb.append(" PROTO=").append(esmtp ? "ESMTP" : "SMTP");
    }
    if (helo != null && offered.contains("HELO")) {
      sb.append(" HELO=").append(helo.length() > MAX_VALUE ? "[UNAVAILABLE]" : Xtext.encode(helo));
    }
  }

  /** A name or a status value as it goes on the wire (names are DNS names, so xtext leaves them as they are). */
  private static String nameValue(String value) {
    return value.startsWith("[") ? value : Xtext.encode(value);
  }

  /** ADDR value: IPv6 addresses carry the {@code IPV6:} prefix (RFC 5321 address literal form). */
  private String addr() {
    String host = hostAddress(client.getAddress());
    return client.getAddress() instanceof Inet6Address ? "IPV6:" + host : host;
  }

  /**
   * {@code a} as text without its {@code %zone}: an interface name means nothing to another host,
   * and no SMTP address literal (RFC 5321 §4.1.3) has room for one.
   */
  public static String hostAddress(InetAddress a) {
    String host = a.getHostAddress();
    int zone = host.indexOf('%');
    return zone < 0 ? host : host.substring(0, zone);
  }
}
