package dev.sluice.proxy.smtp;

import static org.assertj.core.api.Assertions.assertThat;

import dev.sluice.proxy.identity.ClientInfo;
import dev.sluice.proxy.identity.ClientName;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.time.ZonedDateTime;
import java.time.ZoneOffset;
import org.junit.jupiter.api.Test;

class ReceivedHeaderTest {
  static final ZonedDateTime AT = ZonedDateTime.of(2026, 12, 2, 4, 52, 10, 0, ZoneOffset.ofHours(1));
  static final InetSocketAddress LOCAL = new InetSocketAddress("127.0.0.1", 25);

  static String header(String clientIp, String helo, boolean esmtp, ClientName name, boolean tls, boolean auth,
      boolean utf8) {
    ClientInfo c = new ClientInfo(new InetSocketAddress(clientIp, 40000), LOCAL, helo, esmtp, null, name);
    return new String(ReceivedHeader.of(c, "mx.corp.example", tls, auth, utf8, "18C1F2A3B4C50001.3", AT),
        StandardCharsets.US_ASCII);
  }

  @Test
  void aClientWithoutAVerifiedNameIsUnknownAsPostfixWritesIt() {
    assertThat(header("192.0.2.7", "gw.example.net", true, null, false, false, false)).isEqualTo(
        "Received: from gw.example.net (unknown [192.0.2.7])\r\n"
            + "\tby mx.corp.example (Sluice) with ESMTP id 18C1F2A3B4C50001.3;\r\n"
            + "\tWed, 2 Dec 2026 04:52:10 +0100\r\n");
  }

  @Test
  void aVerifiedNameIsWrittenAndAnUnverifiedOneIsNot() {
    ClientName verified = new ClientName("mail.example.net", "mail.example.net", null, 60);
    assertThat(header("192.0.2.7", "gw", true, verified, false, false, false))
        .startsWith("Received: from gw (mail.example.net [192.0.2.7])\r\n");
    ClientName forged = new ClientName(ClientName.UNAVAILABLE_VALUE, "forged.example", "does not resolve back", 60);
    assertThat(header("192.0.2.7", "gw", true, forged, false, false, false))
        .startsWith("Received: from gw (unknown [192.0.2.7])\r\n");
  }

  @Test
  void ipv6ClientsAreRfc5321AddressLiteralsWithoutTheirZone() {
    assertThat(header("2001:db8::25", "gw", true, null, false, false, false))
        .startsWith("Received: from gw (unknown [IPv6:2001:db8:0:0:0:0:0:25])\r\n");
    assertThat(header("fe80::1%1", "gw", true, null, false, false, false)).contains("[IPv6:fe80:0:0:0:0:0:0:1])");
  }

  @Test
  void theProtocolKeywordFollowsRfc3848AndRfc6531() {
    assertThat(ReceivedHeader.protocol(false, false, false, false)).isEqualTo("SMTP");
    assertThat(ReceivedHeader.protocol(true, false, false, false)).isEqualTo("ESMTP");
    assertThat(ReceivedHeader.protocol(true, true, false, false)).isEqualTo("ESMTPS");
    assertThat(ReceivedHeader.protocol(true, false, true, false)).isEqualTo("ESMTPA");
    assertThat(ReceivedHeader.protocol(true, true, true, false)).isEqualTo("ESMTPSA");
    assertThat(ReceivedHeader.protocol(true, true, true, true)).isEqualTo("UTF8SMTPSA");
    assertThat(ReceivedHeader.protocol(true, false, false, true)).isEqualTo("UTF8SMTP");
    assertThat(header("192.0.2.7", "gw", true, null, true, true, false)).contains(" with ESMTPSA id ");
  }

  @Test
  void aHostileHeloCannotBreakTheHeaderOrItsLineLength() {
    String h = header("192.0.2.7", "evil\u0000\tname\u00e9(x)", true, null, false, false, false);
    assertThat(h).startsWith("Received: from evil??name?(x) (unknown [192.0.2.7])\r\n");
    String longHelo = "a".repeat(5000);
    String folded = header("192.0.2.7", longHelo, true, null, false, false, false);
    assertThat(folded.split("\r\n")).allSatisfy(line -> assertThat(line.length()).isLessThanOrEqualTo(998));
    assertThat(folded).contains("from " + "a".repeat(ReceivedHeader.MAX_HELO) + " (unknown");
    // Only CRLF line ends, each followed by a TAB (a folded line) except the last.
    assertThat(folded.replace("\r\n\t", "")).endsWith("\r\n").doesNotContain("\r\n\r\n");
    assertThat(folded.indexOf("\r\n")).isLessThan(folded.length() - 2);
  }

  @Test
  void withoutAHeloTheAddressStandsInForIt() {
    assertThat(header("192.0.2.7", null, true, null, false, false, false))
        .startsWith("Received: from [192.0.2.7] (unknown [192.0.2.7])\r\n");
  }
}
