package dev.sluice.proxy.identity;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.haproxy.HAProxyMessageEncoder;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class IdentityEncodingTest {

  @Test
  void xtextEncodesPlusEqualsSpaceAndControlCharacters() {
    assertThat(Xtext.encode("mail.example.com")).isEqualTo("mail.example.com");
    assertThat(Xtext.encode("a+b=c d\r\n")).isEqualTo("a+2Bb+3Dc+20d+0D+0A");
    assertThat(Xtext.encode("é")).isEqualTo("+C3+A9");
  }

  @Test
  void xtextOutputIsAlwaysPrintableWithoutSpaces() {
    long seed = 20261130L;
    Random rnd = new Random(seed);
    for (int i = 0; i < 2000; i++) {
      StringBuilder sb = new StringBuilder();
      for (int j = rnd.nextInt(30); j > 0; j--) {
        sb.append((char) rnd.nextInt(0x300));
      }
      String enc = Xtext.encode(sb.toString());
      assertThat(enc.chars().allMatch(c -> c > ' ' && c < 0x7f && c != '=')).as("seed %d input %s", seed, sb).isTrue();
    }
  }

  @Test
  void xclientCarriesAddressPortHeloAndProtocol() {
    ClientInfo c = new ClientInfo(new InetSocketAddress("127.0.0.77", 40000), new InetSocketAddress("127.0.0.1", 25),
        "gw.example com", true, null);
    // What Postfix 3.7 announces.
    List<String> postfix = List.of("NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "LOGIN", "DESTADDR", "DESTPORT");
    assertThat(c.xclient(postfix)).isEqualTo("XCLIENT ADDR=127.0.0.77 PORT=40000 NAME=[UNAVAILABLE] PROTO=ESMTP HELO=gw.example+20com");
    assertThat(c.xforward(postfix)).isEqualTo("XFORWARD ADDR=127.0.0.77 PORT=40000 NAME=[UNAVAILABLE] PROTO=ESMTP HELO=gw.example+20com");
    ClientInfo v6 = new ClientInfo(new InetSocketAddress("::1", 5), new InetSocketAddress("::1", 25), null, false, "bob");
    assertThat(v6.xclient(postfix)).isEqualTo("XCLIENT ADDR=IPV6:0:0:0:0:0:0:0:1 PORT=5 NAME=[UNAVAILABLE] PROTO=SMTP LOGIN=bob");
  }

  @Test
  void onlyAttributesTheServerAnnouncedAreSentAndAddrAlways() {
    ClientInfo c = new ClientInfo(new InetSocketAddress("127.0.0.77", 40000), new InetSocketAddress("127.0.0.1", 25),
        "gw.example", true, "bob");
    // A server that answers 501 to attributes it does not know (an older Postfix, another MTA).
    assertThat(c.xclient(List.of("ADDR", "NAME"))).isEqualTo("XCLIENT ADDR=127.0.0.77 NAME=[UNAVAILABLE]");
    assertThat(c.xforward(List.of("NAME", "ADDR"))).isEqualTo("XFORWARD ADDR=127.0.0.77 NAME=[UNAVAILABLE]");
    assertThat(c.xclient(List.of())).isEqualTo("XCLIENT ADDR=127.0.0.77");
  }

  @Test
  void namesFromDnsGoInNameAndReverseNameWhereOffered() {
    InetSocketAddress gw = new InetSocketAddress("192.0.2.7", 40000);
    // What Postfix 3.7 announces to an authorized client.
    List<String> postfix = List.of("NAME", "ADDR", "PROTO", "HELO", "REVERSE_NAME", "PORT", "LOGIN", "DESTADDR", "DESTPORT");
    ClientInfo verified = new ClientInfo(gw, null, "gw", true, null, ClientName.verified("mx.gw.example", 60));
    assertThat(verified.xclient(postfix))
        .isEqualTo("XCLIENT ADDR=192.0.2.7 PORT=40000 NAME=mx.gw.example REVERSE_NAME=mx.gw.example PROTO=ESMTP HELO=gw");
    ClientInfo unverified = new ClientInfo(gw, null, "gw", true, null,
        ClientName.unverified("forged.example", ClientName.UNAVAILABLE_VALUE, "does not resolve back", 60));
    assertThat(unverified.xclient(List.of("ADDR", "NAME", "REVERSE_NAME")))
        .isEqualTo("XCLIENT ADDR=192.0.2.7 NAME=[UNAVAILABLE] REVERSE_NAME=forged.example");
    // XFORWARD has no REVERSE_NAME (XFORWARD_README): the verified name or its status only.
    assertThat(unverified.xforward(List.of("ADDR", "NAME", "REVERSE_NAME"))).isEqualTo("XFORWARD ADDR=192.0.2.7 NAME=[UNAVAILABLE]");
    ClientInfo failed = new ClientInfo(gw, null, "gw", true, null, ClientName.temporarilyUnavailable("timed out"));
    assertThat(failed.xclient(List.of("ADDR", "NAME", "REVERSE_NAME")))
        .isEqualTo("XCLIENT ADDR=192.0.2.7 NAME=[TEMPUNAVAIL] REVERSE_NAME=[TEMPUNAVAIL]");
    // XFORWARD's only status value is [UNAVAILABLE]: Postfix answers NAME=[TEMPUNAVAIL] with
    // "501 5.5.4 Bad NAME syntax" (ClientNamePostfixIT.xforwardSaysUnavailableWhenTheLookupTimedOut).
    assertThat(failed.xforward(List.of("ADDR", "NAME"))).isEqualTo("XFORWARD ADDR=192.0.2.7 NAME=[UNAVAILABLE]");
  }

  @Test
  void aHeloNameTooLongForPostfixIsSentAsUnavailable() {
    List<String> all = List.of("ADDR", "HELO");
    String longest = "h".repeat(ClientInfo.MAX_VALUE);
    assertThat(new ClientInfo(new InetSocketAddress("127.0.0.77", 1), null, longest, true, null).xclient(all))
        .endsWith(" HELO=" + longest);
    assertThat(new ClientInfo(new InetSocketAddress("127.0.0.77", 1), null, longest + "h", true, null).xclient(all))
        .endsWith(" HELO=[UNAVAILABLE]");
  }

  private static ByteBuf encode(boolean v2, InetSocketAddress client, InetSocketAddress local) {
    EmbeddedChannel ch = new EmbeddedChannel(HAProxyMessageEncoder.INSTANCE);
    ch.writeOutbound(ProxyHeaders.of(v2, client, local));
    return ch.readOutbound();
  }

  @Test
  void proxyV1IsTheTextLineWithTheRealClient() {
    ByteBuf b = encode(false, new InetSocketAddress("127.0.0.79", 41000), new InetSocketAddress("127.0.0.1", 2525));
    assertThat(b.toString(StandardCharsets.US_ASCII)).isEqualTo("PROXY TCP4 127.0.0.79 127.0.0.1 41000 2525\r\n");
    b.release();
  }

  @Test
  void proxyV2IsBinaryWithSignatureAndTcp4Addresses() {
    ByteBuf b = encode(true, new InetSocketAddress("127.0.0.79", 41000), new InetSocketAddress("127.0.0.1", 2525));
    String hex = ByteBufUtil.hexDump(b);
    // signature, version 2 + PROXY command, TCP over IPv4, length 12, then src, dst, ports.
    assertThat(hex).isEqualTo("0d0a0d0a000d0a515549540a" + "21" + "11" + "000c" + "7f00004f" + "7f000001" + "a028" + "09dd");
    b.release();
  }

  @Test
  void mappedIpv4ClientOnIpv6ListenerIsSentAsTcp4() {
    ByteBuf b = encode(false, new InetSocketAddress("::ffff:127.0.0.80", 1), new InetSocketAddress("::ffff:127.0.0.1", 25));
    assertThat(b.toString(StandardCharsets.US_ASCII)).isEqualTo("PROXY TCP4 127.0.0.80 127.0.0.1 1 25\r\n");
    b.release();
  }
}
