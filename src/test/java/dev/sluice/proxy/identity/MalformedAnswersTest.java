package dev.sluice.proxy.identity;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.DatagramPacket;
import io.netty.handler.codec.dns.DatagramDnsQuery;
import io.netty.handler.codec.dns.DatagramDnsQueryEncoder;
import io.netty.handler.codec.dns.DefaultDnsQuestion;
import io.netty.handler.codec.dns.DnsQuestion;
import io.netty.handler.codec.dns.DnsRecordType;
import io.netty.handler.codec.dns.DnsResponseCode;
import io.netty.handler.codec.dns.DnsSection;
import java.net.InetSocketAddress;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Which datagrams fail a query at once, without sockets: the handler before Netty's own codec. */
class MalformedAnswersTest {
  static final InetSocketAddress SERVER = new InetSocketAddress("127.0.0.1", 53);
  static final InetSocketAddress LOCAL = new InetSocketAddress("127.0.0.1", 40000);
  static final DnsQuestion QUESTION = new DefaultDnsQuestion("7.2.0.192.in-addr.arpa", DnsRecordType.PTR);
  static final int ID = 0x1234;

  EmbeddedChannel ch;

  @BeforeEach
  void askOnce() {
    ch = new EmbeddedChannel(new MalformedAnswers(), new DatagramDnsQueryEncoder());
    ch.writeOutbound(new DatagramDnsQuery(null, SERVER, ID).addRecord(DnsSection.QUESTION, QUESTION));
    ((DatagramPacket) ch.readOutbound()).release();
  }

  @AfterEach
  void close() {
    ch.finishAndReleaseAll();
  }

  /** A response to the query: header (one question, {@code answers} answers), then the question. */
  static ByteBuf response(int id, int answers) {
    ByteBuf b = Unpooled.buffer();
    b.writeShort(id).writeShort(0x8180).writeShort(1).writeShort(answers).writeShort(0).writeShort(0);
    for (String label : QUESTION.name().split("\\.")) {
      b.writeByte(label.length()).writeBytes(label.getBytes(java.nio.charset.StandardCharsets.US_ASCII));
    }
    return b.writeByte(0).writeShort(DnsRecordType.PTR.intValue()).writeShort(1);
  }

  Object receive(ByteBuf datagram, InetSocketAddress from) {
    ch.writeInbound(new DatagramPacket(datagram, LOCAL, from));
    return ch.readInbound();
  }

  void assertFailsTheQuery(ByteBuf datagram) {
    Object in = receive(datagram, SERVER);
    assertThat(in).isInstanceOf(MalformedAnswers.Response.class);
    MalformedAnswers.Response r = (MalformedAnswers.Response) in;
    // What Netty needs to match it to the query: server, ID, question.
    assertThat(r.sender()).isEqualTo(SERVER);
    assertThat(r.id()).isEqualTo(ID);
    assertThat((DnsQuestion) r.recordAt(DnsSection.QUESTION)).isEqualTo(QUESTION);
    assertThat(r.code()).isEqualTo(DnsResponseCode.SERVFAIL);
    r.release();
  }

  @Test
  void aNameThatPointsAtItselfFailsTheQuery() {
    ByteBuf b = response(ID, 1);
    b.writeShort(0xc000 | b.writerIndex()).writeShort(12).writeShort(1).writeInt(60).writeShort(0);
    assertFailsTheQuery(b);
  }

  @Test
  void aPointerPastTheEndFailsTheQuery() {
    assertFailsTheQuery(response(ID, 1).writeShort(0xc000 | 500).writeShort(12).writeShort(1).writeInt(60).writeShort(0));
  }

  @Test
  void aDatagramCutInTheHeaderOrQuestionFailsTheQuery() {
    assertFailsTheQuery(Unpooled.buffer().writeShort(ID).writeShort(0x8180));
    askOnce(); // a failed query is forgotten: ask again for the second shape
    assertFailsTheQuery(response(ID, 0).writerIndex(20));
  }

  @Test
  void aResponseThatDecodesPassesOnUntouchedForNetty() {
    ByteBuf good = response(ID, 0);
    Object in = receive(good, SERVER);
    assertThat(in).isInstanceOf(DatagramPacket.class);
    assertThat(((DatagramPacket) in).content()).isSameAs(good);
    ((DatagramPacket) in).release();
  }

  @Test
  void garbageFromElsewhereOrWithAnotherIdIsDropped() {
    ByteBuf loop = response(ID, 1);
    loop.writeShort(0xc000 | loop.writerIndex()).writeShort(12).writeShort(1).writeInt(60).writeShort(0);
    assertThat(receive(loop.copy(), new InetSocketAddress("127.0.0.2", 53))).as("another address").isNull();
    assertThat(receive(loop.copy(), new InetSocketAddress("127.0.0.1", 5353))).as("another port").isNull();
    assertThat(receive(loop.copy().setShort(0, ID + 1), SERVER)).as("another ID").isNull();
    assertThat(receive(Unpooled.buffer().writeByte(0x12), SERVER)).as("not even an ID").isNull();
    assertFailsTheQuery(loop); // the query is still open to its server's answer
  }
}
