package dev.sluice.proxy.identity;

import java.nio.charset.StandardCharsets;

/**
 * xtext encoding (RFC 3461 §4): printable ASCII other than {@code +} and {@code =} stands for
 * itself; every other octet is {@code +HH}. XCLIENT and XFORWARD attribute values use it, so a
 * client's EHLO name cannot smuggle spaces or control characters into the command. Stateless.
 */
public final class Xtext {
  private static final char[] HEX = "0123456789ABCDEF".toCharArray();

  private Xtext() {}

  public static String encode(String value) {
    byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
    StringBuilder sb = new StringBuilder(bytes.length + 8);
    for (byte b : bytes) {
      int c = b & 0xFF;
      if (c >= '!' && c <= '~' && c != '+' && c != '=') {
        sb.append((char) c);
      } else {
        sb.append('+').append(HEX[c >> 4]).append(HEX[c & 0xF]);
      }
    }
    return sb.toString();
  }
}
